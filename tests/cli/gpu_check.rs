//! `scripts/gpu-check.sh` in its fallback mode: this machine has no GPU, so the script packs
//! its bundle (under 40 MB), then runs every step through the fallback path: the CPU's
//! detections, each GPU device reported as not usable here with its reason (never measured as
//! the CPU), and the benchmarks with cold and warm starts, as JSON and Markdown.

use crate::support::*;

#[test]
fn the_gpu_check_packs_under_40_mb_and_runs_through_the_fallback_path() {
    let out = temp_dir();
    let output = std::process::Command::new("bash")
        .arg(repo().join("scripts/gpu-check.sh"))
        .arg("selftest")
        .arg(out.path())
        .env("INFERX_BIN", env!("CARGO_BIN_EXE_inferx"))
        .env("GPU_CHECK_ITERATIONS", "2")
        .env_remove("INFERX_GPU_RUNTIME")
        .output()
        .unwrap();
    let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(output.status.success(), "{said}");
    // "gpu-check: bundle PATH: N kB (limit 40000 kB)"
    let kilobytes: u64 = said
        .lines()
        .find_map(|line| line.strip_prefix("gpu-check: bundle ")?.split(": ").nth(1)?.split(' ').next()?.parse().ok())
        .unwrap_or_else(|| panic!("the bundle's size is printed: {said}"));
    assert!(kilobytes < 40_000, "the bundle is {kilobytes} kB");

    let report_dir = out.path().join("gpu-check");
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(report_dir.join("report.json")).unwrap()).unwrap();
    assert_eq!(report["passed"], true, "{report}");
    let devices = &report["devices"];
    assert_eq!(devices["cpu"]["status"], "ran", "{report}");
    assert_eq!(devices["cpu"]["verdict"], "matches cpu");
    assert!(devices["cpu"]["detections"].as_u64().unwrap() > 0, "the photos have faces: {report}");
    assert_eq!(devices["webgpu"]["status"], "not usable", "no adapter here: {report}");
    assert!(devices["webgpu"]["reason"].as_str().unwrap().contains("no GPU adapter"), "{report}");
    for variant in ["cuda", "tensorrt", "tensorrt-fp16", "tensorrt-warm"] {
        assert_ne!(devices[variant]["status"], "ran", "{variant} cannot run here: {report}");
    }
    let benchmarks = report["benchmarks"].as_array().unwrap();
    for batch in [1, 8] {
        let cpu = benchmarks.iter().find(|b| b["device"] == "cpu" && b["batch"] == batch).unwrap();
        assert_eq!(cpu["status"], "measured", "{cpu}");
        assert!(cpu["warm_session_ms"].as_f64().is_some(), "cold and warm starts: {cpu}");
    }
    let webgpu = benchmarks.iter().find(|b| b["device"] == "webgpu").unwrap();
    assert_eq!(webgpu["status"], "skipped", "never measured as the CPU: {webgpu}");
    let markdown = std::fs::read_to_string(report_dir.join("report.md")).unwrap();
    assert!(markdown.contains("| webgpu | not usable |") && markdown.contains("**PASSED**"), "{markdown}");
    assert!(report_dir.join("devices.json").is_file() && report_dir.join("cpu.json").is_file());
}
