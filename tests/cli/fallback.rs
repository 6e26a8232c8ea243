//! Asking for a GPU provider on the CPU-only ONNX Runtime falls back to the CPU with a warning
//! and still gives correct detections; `--strict-device` fails instead.

use crate::support::*;

#[test]
fn cuda_on_a_cpu_only_runtime_falls_back_with_a_warning_and_correct_results() {
    let output = inferx()
        .arg("run")
        .arg(detector())
        .arg(images().join("astronaut.png"))
        .args(["--size", "320", "--json", "--device", "cuda"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("execution provider `cuda` is not usable, falling back"), "{stderr}");
    assert!(
        stderr.contains("no NVIDIA GPU found") || stderr.contains("not in this ONNX Runtime build"),
        "the probe's reason is given: {stderr}"
    );
    assert!(stderr.contains("cpu"), "{stderr}");
    let records: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_astronaut_at_320(&records[0]);
}

#[test]
fn tensorrt_falls_back_through_cuda_to_cpu() {
    let output = inferx()
        .arg("run")
        .arg(detector())
        .arg(images().join("astronaut.png"))
        .args(["--device", "tensorrt", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`tensorrt` is not usable") && stderr.contains("`cuda` is not usable"), "{stderr}");
}

#[test]
fn strict_device_fails_instead_of_falling_back() {
    let output = inferx()
        .arg("run")
        .arg(detector())
        .arg(images().join("astronaut.png"))
        .args(["--device", "cuda", "--strict-device"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("device `cuda` is not usable"), "{stderr}");
    assert!(stderr.contains("Drop `--strict-device`"), "{stderr}");
    assert!(output.stdout.is_empty());
}

#[test]
fn the_device_environment_variable_is_honoured() {
    let output = inferx()
        .arg("run")
        .arg(detector())
        .arg(images().join("astronaut.png"))
        .env("INFERX_DEVICE", "openvino")
        .output()
        .unwrap();
    assert!(output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("`openvino` is not usable"));
}

#[test]
fn devices_reports_the_runtime_and_the_cpu_as_usable() {
    let report = run_json(inferx().args(["devices", "--json"]));
    assert!(report["onnxruntime"]["version"].as_str().unwrap().starts_with("1."), "{report}");
    assert!(report["cpu"]["logical_cores"].as_u64().unwrap() >= 1);
    let providers = report["providers"].as_array().unwrap();
    let cpu = providers.iter().find(|status| status["provider"] == "cpu").unwrap();
    assert_eq!(cpu["usable"], true);
    let cuda = providers.iter().find(|status| status["provider"] == "cuda").unwrap();
    assert_eq!(cuda["in_runtime"], false, "the CPU wheel has no CUDA provider");
    // The advice fits the machine: the GPU build where there is an NVIDIA GPU, else the reason
    // is that there is none.
    let has_nvidia = report["gpus"].as_array().unwrap().iter().any(|gpu| gpu["vendor"] == "nvidia");
    let expected = if has_nvidia { "inferx runtime install --gpu" } else { "no NVIDIA GPU found" };
    assert!(cuda["reason"].as_str().unwrap().contains(expected), "{cuda}");
    assert_eq!(report["auto_chain"], "cpu");
}
