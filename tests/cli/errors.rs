//! Bad input gets one clear message naming the problem and the fix, and a non-zero exit.

use std::time::{Duration, Instant};

use crate::support::*;

fn failure(command: &mut assert_cmd::Command) -> String {
    let output = command.output().unwrap();
    assert!(!output.status.success(), "expected a failure, got: {}", String::from_utf8_lossy(&output.stdout));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "no panics: {stderr}");
    stderr
}

#[test]
fn a_missing_model_is_named() {
    let stderr = failure(inferx().args(["run", "no/such/model.onnx"]).arg(images()));
    assert!(stderr.contains("model file `no/such/model.onnx` not found"), "{stderr}");
}

#[test]
fn a_corrupt_model_is_refused_with_a_hint() {
    let dir = temp_dir();
    let model = dir.path().join("broken.onnx");
    let bytes = std::fs::read(detector()).unwrap();
    write(&model, &bytes[..bytes.len() / 3]);
    let stderr = failure(inferx().arg("run").arg(&model).arg(images().join("astronaut.png")));
    assert!(stderr.contains("could not load model"), "{stderr}");
    assert!(stderr.contains("inferx inspect"), "{stderr}");
    let stderr = failure(inferx().arg("inspect").arg(&model));
    assert!(stderr.contains("truncated") || stderr.contains("not an ONNX model"), "{stderr}");
}

#[test]
fn a_file_that_is_not_an_image_fails_alone() {
    let dir = temp_dir();
    let text = dir.path().join("notes.jpg");
    write(&text, "this is not a jpeg");
    let output = inferx()
        .arg("run")
        .arg(detector())
        .arg(&text)
        .arg(images().join("astronaut.png"))
        .arg("--json")
        .output()
        .unwrap();
    assert!(!output.status.success(), "one bad image makes the exit code non-zero");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("notes.jpg") && stderr.contains("not a supported image format"), "{stderr}");
    let records: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(records.as_array().unwrap().len(), 1, "the good image is still predicted");
}

#[test]
fn the_wrong_task_is_explained() {
    let stderr = failure(
        inferx().arg("run").arg(detector()).arg(images().join("astronaut.png")).args(["--task", "classification"]),
    );
    assert!(stderr.contains("does not fit the `classification` task"), "{stderr}");
    assert!(stderr.contains("looks like a `detection` model"), "{stderr}");
}

#[test]
fn out_of_range_thresholds_and_unknown_devices_are_refused() {
    let stderr = failure(inferx().arg("run").arg(detector()).arg(images()).args(["--conf", "1.5"]));
    assert!(stderr.contains("--conf 1.5 is out of range"), "{stderr}");
    let stderr = failure(inferx().arg("run").arg(detector()).arg(images()).args(["--device", "tpu"]));
    assert!(stderr.contains("unknown device `tpu`"), "{stderr}");
}

#[test]
fn a_missing_runtime_fails_promptly_with_the_install_command() {
    let started = Instant::now();
    let stderr = failure(
        inferx()
            .arg("run")
            .arg(detector())
            .arg(images().join("astronaut.png"))
            .env("ORT_DYLIB_PATH", "/nonexistent/libonnxruntime.so"),
    );
    assert!(started.elapsed() < Duration::from_secs(20), "no hang");
    assert!(stderr.contains("ORT_DYLIB_PATH points to no ONNX Runtime library"), "{stderr}");
    assert!(stderr.contains("inferx runtime install"), "{stderr}");
}

#[test]
fn no_runtime_anywhere_lists_the_places_searched() {
    let empty = temp_dir();
    let stderr = failure(
        inferx()
            .arg("run")
            .arg(detector())
            .arg(images().join("astronaut.png"))
            .env_remove("ORT_DYLIB_PATH")
            .env_remove("VIRTUAL_ENV")
            .env_remove("CONDA_PREFIX")
            .env("INFERX_CACHE_DIR", empty.path())
            .current_dir(empty.path()),
    );
    assert!(stderr.contains("ONNX Runtime not found (looked in:"), "{stderr}");
    assert!(stderr.contains(".inferx/lib"), "{stderr}");
    assert!(stderr.contains("Run `inferx runtime install`"), "{stderr}");
}
