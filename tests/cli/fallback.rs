//! Asking for a GPU provider on the CPU-only ONNX Runtime falls back to the CPU with a warning
//! and still gives correct detections; `--strict-device` fails instead. The same with a
//! project's TensorRT and CUDA options, and with the WebGPU plugin installed (this machine has
//! no GPU adapter: the plugin registers and lists no device).

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

#[test]
fn a_project_with_tensorrt_and_cuda_options_falls_back_through_cuda_to_correct_cpu_results() {
    let dir = temp_dir();
    let project = dir.path();
    std::fs::create_dir_all(project.join("models")).unwrap();
    std::fs::copy(detector(), project.join("models/model.onnx")).unwrap();
    let config = "inferx: {version: 0.1.0, template: yolo}\nmodel: {path: models/model.onnx}\ntask: detection\ninput: {width: 320, height: 320}\ndevice:\n  use: tensorrt\n  tensorrt: {fp16: true, workspace_mb: 1024, builder_optimization_level: 4, max_batch: 4}\n  cuda: {memory_limit_mb: 2048, arena_strategy: same_as_requested, cudnn_conv_algo_search: heuristic}\n";
    write(&project.join("inferx.yaml"), config);
    let output = inferx()
        .args(["run", "--json", "--config"])
        .arg(project.join("inferx.yaml"))
        .arg(images().join("astronaut.png"))
        .env("INFERX_TRT_FP16", "0")
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("`tensorrt` is not usable, falling back to `cuda`"), "{stderr}");
    assert!(stderr.contains("`cuda` is not usable, falling back to `cpu`"), "{stderr}");
    let records: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_astronaut_at_320(&records[0]);
    // TensorRT is not in this build: no engine was built, so no cache folder was made.
    assert!(!project.join(".inferx/trt-cache").exists(), "nothing to cache");

    // An option that cannot work is refused before anything loads, naming its key.
    write(&project.join("inferx.yaml"), config.replace("max_batch: 4", "max_batch: 4, opt_batch: 6"));
    let output = inferx()
        .args(["run", "--config"])
        .arg(project.join("inferx.yaml"))
        .arg(images().join("astronaut.png"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("device.tensorrt.min_batch (1) <= opt_batch (6) <= max_batch (4)"), "{stderr}");
}

/// The WebGPU plugin's wheel, as `scripts/setup.sh` fetched it (`inferx runtime install
/// --webgpu`, sha256-checked against the index) into the wheel cache.
fn cached_webgpu_wheel() -> std::path::PathBuf {
    let wheels = inferx_runtime::library::cache_dir().join("wheels");
    std::fs::read_dir(&wheels)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("onnxruntime_ep_webgpu-")))
        .unwrap_or_else(|| {
            panic!("no WebGPU plugin wheel in `{}`: run `bash scripts/setup.sh --quick`", wheels.display())
        })
}

#[test]
fn the_webgpu_plugin_installs_registers_and_without_an_adapter_falls_back_to_correct_results() {
    let dir = temp_dir();
    let dest = dir.path().join("webgpu");
    let installed = inferx()
        .args(["runtime", "install", "--webgpu", "--from-wheel"])
        .arg(cached_webgpu_wheel())
        .arg("--dest")
        .arg(&dest)
        .output()
        .unwrap();
    assert!(installed.status.success(), "{}", String::from_utf8_lossy(&installed.stderr));
    let plugin = std::path::PathBuf::from(String::from_utf8_lossy(&installed.stdout).trim());
    assert_eq!(plugin, dest.join(inferx_runtime::library::webgpu_plugin_file_name()));
    assert!(String::from_utf8_lossy(&installed.stderr).contains("installed the WebGPU plugin"));

    let run = |extra: &[&str]| {
        inferx()
            .arg("run")
            .arg(detector())
            .arg(images().join("astronaut.png"))
            .args(["--size", "320", "--json", "--device", "webgpu", "-v"])
            .args(extra)
            .env("INFERX_WEBGPU_PLUGIN", &plugin)
            .output()
            .unwrap()
    };
    let output = run(&[]);
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    // ONNX Runtime registered the plugin, which found no adapter: the usual warning, then CPU.
    assert!(stderr.contains("found no GPU adapter it can use"), "registration was reached: {stderr}");
    assert!(!stderr.contains("could not register"), "{stderr}");
    assert!(stderr.contains("execution provider `webgpu` is not usable, falling back to `cpu`"), "{stderr}");
    let records: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_astronaut_at_320(&records[0]);

    // A plugin that is not there is named, with the command that installs it.
    let missing = inferx()
        .arg("run")
        .arg(detector())
        .arg(images().join("astronaut.png"))
        .args(["--device", "webgpu", "--strict-device", "-v"])
        .env("INFERX_WEBGPU_PLUGIN", dir.path().join("nowhere.so"))
        .output()
        .unwrap();
    assert!(!missing.status.success());
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(stderr.contains("`inferx runtime install --webgpu`"), "{stderr}");
}
