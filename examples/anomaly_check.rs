//! Check parts for defects with an anomaly model (anomalib-style outputs `pred_score` and
//! `anomaly_map`) and a threshold: exits 1 when any image is anomalous, so a script or a line
//! controller can act on it.
//!
//! ```text
//! cargo run --example anomaly_check -- model.onnx part1.png part2.png [--threshold 0.5]
//! ```

use std::{path::PathBuf, process::ExitCode};

use anyhow::{bail, Context};
use inferx_runtime::{Pipeline, PipelineOptions, PredictionOutput, TaskKind};

fn main() -> anyhow::Result<ExitCode> {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    let mut options = PipelineOptions::for_task(TaskKind::Anomaly);
    if let Some(at) = args.iter().position(|arg| arg == "--threshold") {
        let value = args.get(at + 1).context("--threshold takes a number")?;
        // For anomaly models the score threshold is `confidence`, as `thresholds.confidence`
        // is in inferx.yaml.
        options.confidence = Some(value.parse().context("--threshold takes a number")?);
        args.drain(at..at + 2);
    }
    let Some((model, images)) = args.split_first().filter(|(_, images)| !images.is_empty()) else {
        bail!("usage: anomaly_check MODEL.onnx IMAGE... [--threshold 0.5]");
    };
    let pipeline = Pipeline::load(model, options).with_context(|| format!("could not load `{model}`"))?;
    let mut anomalous = 0;
    for image in images.iter().map(PathBuf::from) {
        let prediction = pipeline.predict_path(&image)?;
        let PredictionOutput::Anomaly(anomaly) = &prediction.output else {
            bail!("`{model}` did not give an anomaly score");
        };
        let verdict = if anomaly.is_anomalous { "ANOMALY" } else { "ok" };
        println!("{}: score {:.6} (threshold {}) {verdict}", image.display(), anomaly.score, anomaly.threshold);
        anomalous += usize::from(anomaly.is_anomalous);
    }
    println!("{anomalous} of {} anomalous", images.len());
    Ok(if anomalous > 0 { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}
