//! `inferx benchmark`: the shape of its reports and the regression gate (not timings).

use crate::support::*;

fn report(extra: &[&str]) -> serde_json::Value {
    let mut command = inferx();
    command
        .arg("benchmark")
        .arg(detector())
        .args(["--size", "320", "--batch", "1,2", "--iterations", "3", "--warmup", "1", "--json", "--no-history"])
        .args(extra);
    run_json(&mut command)
}

#[test]
fn a_report_has_every_configuration_with_latency_throughput_and_memory() {
    let report = report(&["--devices", "cpu,cuda"]);
    let results = report["results"].as_array().unwrap();
    assert_eq!(results.len(), 4, "2 devices × 2 batches");
    assert_eq!(report["iterations"], 3);
    assert!(report["machine"]["cores"].as_u64().unwrap() >= 1);
    assert_eq!(report["machine"]["onnxruntime"], inferx_runtime::ORT_VERSION);
    for result in results.iter().filter(|result| result["device"] == "cpu") {
        assert_eq!(result["status"], "measured", "{result}");
        let latency = &result["latency_ms"];
        for key in ["min", "mean", "p50", "p95", "p99"] {
            assert!(latency[key].as_f64().unwrap() > 0.0, "{key}: {result}");
        }
        assert!(
            latency["min"].as_f64() <= latency["p50"].as_f64() && latency["p50"].as_f64() <= latency["p99"].as_f64()
        );
        assert!(result["throughput"].as_f64().unwrap() > 0.0);
        assert!(result["peak_rss_mib"].as_f64().unwrap() > 10.0);
        let cold = &result["cold_start"];
        assert!(cold["session_ms"].as_f64().unwrap() > 0.0);
        // On the CPU the cache is ONNX Runtime's optimised graph: a second start loads it.
        assert_eq!(cold["cache"], "optimized graph", "{result}");
        assert!(cold["warm_session_ms"].as_f64().unwrap() > 0.0, "{result}");
    }
    // CUDA on the CPU build of ONNX Runtime is reported as skipped with the reason, never measured as CPU.
    for result in results.iter().filter(|result| result["device"] == "cuda") {
        assert_eq!(result["status"], "skipped");
        assert!(result["reason"].as_str().unwrap().contains("cuda"), "{result}");
        assert!(result.get("latency_ms").is_none());
    }
}

#[test]
fn end_to_end_reports_split_the_time_and_formats_render() {
    let image = images().join("astronaut.png");
    let report = report(&["--e2e", image.to_str().unwrap()]);
    let split = &report["results"][0]["split_ms"];
    for key in ["decode", "preprocess", "inference", "postprocess"] {
        assert!(split[key].as_f64().unwrap() > 0.0, "{key}: {split}");
    }
    let dir = temp_dir();
    let plot = dir.path().join("chart.svg");
    let markdown = inferx()
        .arg("benchmark")
        .arg(detector())
        .args(["--size", "320", "--iterations", "2", "--warmup", "0", "--markdown", "--no-history", "--plot"])
        .arg(&plot)
        .assert()
        .success()
        .get_output()
        .clone();
    // Cold start with and without the cache the first start fills; TensorRT's part is named
    // as not applicable on a machine where nothing runs on it.
    let note = String::from_utf8_lossy(&markdown.stderr).into_owned();
    assert!(note.contains("warm ms: the same from the cache the first start filled (optimized graph)"), "{note}");
    assert!(note.contains("TensorRT's engine cache: not applicable"), "{note}");
    let markdown = String::from_utf8(markdown.stdout).unwrap();
    assert!(markdown.starts_with("| device | batch | size | mode | cold ms | warm ms |"), "{markdown}");
    assert_eq!(markdown.lines().count(), 3);
    let svg = std::fs::read_to_string(&plot).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("<rect"), "{svg}");
}

#[test]
fn compare_fails_on_an_injected_regression_and_passes_otherwise() {
    let dir = temp_dir();
    let mut baseline = report(&[]);
    let scale = |report: &mut serde_json::Value, factor: f64| {
        for result in report["results"].as_array_mut().unwrap() {
            let p50 = result["latency_ms"]["p50"].as_f64().unwrap();
            result["latency_ms"]["p50"] = serde_json::json!(p50 * factor);
        }
    };
    // A baseline 100× faster than reality: today's run is a regression.
    scale(&mut baseline, 0.01);
    let fast = dir.path().join("fast.json");
    write(&fast, baseline.to_string());
    inferx()
        .arg("benchmark")
        .arg(detector())
        .args(["--size", "320", "--batch", "1,2", "--iterations", "3", "--warmup", "1", "--no-history", "--compare"])
        .arg(&fast)
        .assert()
        .failure()
        .stderr(predicates::str::contains("regression: cpu batch 1 size 320 model"))
        .stderr(predicates::str::contains("slower than the baseline by more than 10%"));
    // A baseline 100× slower: no regression.
    scale(&mut baseline, 10_000.0);
    let slow = dir.path().join("slow.json");
    write(&slow, baseline.to_string());
    inferx()
        .arg("benchmark")
        .arg(detector())
        .args(["--size", "320", "--batch", "1,2", "--iterations", "3", "--warmup", "1", "--no-history", "--compare"])
        .arg(&slow)
        .assert()
        .success();
}

#[test]
fn a_project_whose_model_changed_is_not_benchmarked() {
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), "changed", &[]);
    let sha256 = inferx_runtime::model::file::file_sha256(&detector()).unwrap();
    edit_config(&project, &sha256, &"0".repeat(64));
    let output = inferx().arg("benchmark").arg(&project).args(["--iterations", "1"]).output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("has changed: its sha256 is"), "{stderr}");
}
