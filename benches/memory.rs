//! Resident memory over many predictions in one process: it must stay flat.
//!
//! ```text
//! cargo bench --bench memory
//! ```
//!
//! Loads the real YOLOv8n detector at 320 and predicts the sample photos in turn (PNG and
//! JPEG, 512×512 to 1,024×1,024: read, decode, letterbox, `session.run`, NMS), 10,000 times
//! by default (`INFERX_BENCH_PREDICTIONS`). The process's resident set (`VmRSS`) is read
//! after loading, after warm-up and every tenth of the run. After the first tenth, by which
//! point every buffer and allocator arena has been sized for the largest photo, the resident
//! set may not grow by more than `INFERX_BENCH_MAX_GROWTH_MIB` (default 8): the bench exits
//! non-zero if it does. Markdown on stdout, JSON in `target/bench/memory.json`.

mod support;

use std::{path::PathBuf, process::ExitCode, time::Instant};

use inferx_runtime::{Pipeline, PipelineOptions, TaskKind};
use serde::Serialize;

const MODEL: &str = "models/nudenet-320n.onnx";
const DEFAULT_PREDICTIONS: usize = 10_000;
const DEFAULT_MAX_GROWTH_MIB: f64 = 8.0;
const WARMUP: usize = 50;
const CHECKPOINTS: usize = 10;

#[derive(Debug, Serialize)]
struct Sample {
    /// Predictions made when the sample was taken.
    predictions: usize,
    rss_mib: f64,
    seconds: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    images: Vec<String>,
    samples: Vec<Sample>,
    /// Largest resident set after the first tenth, minus the resident set at the first tenth.
    growth_mib: f64,
    max_growth_mib: f64,
}

/// The resident set of this process, from `/proc/self/status`.
fn rss_mib() -> Result<f64, String> {
    let status = std::fs::read_to_string("/proc/self/status")
        .map_err(|error| format!("reading /proc/self/status (this bench needs Linux): {error}"))?;
    let kib: f64 = status
        .lines()
        .find_map(|line| line.strip_prefix("VmRSS:"))
        .and_then(|rest| rest.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or("no VmRSS line in /proc/self/status")?;
    Ok(kib / 1024.0)
}

fn main() -> ExitCode {
    support::exit(run())
}

fn run() -> Result<(), String> {
    let fixtures = support::fixtures();
    let model = fixtures.join(MODEL);
    let mut images: Vec<PathBuf> = std::fs::read_dir(fixtures.join("images"))
        .map_err(|error| format!("{error}: run `python3 scripts/fixtures.py` first"))?
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.extension().is_some_and(|extension| extension == "png" || extension == "jpg"))
        .collect();
    images.sort();
    if !model.is_file() || images.is_empty() {
        return Err("benchmark fixtures are missing: run `python3 scripts/fixtures.py` first".to_string());
    }
    let predictions: usize = support::env_number("INFERX_BENCH_PREDICTIONS", DEFAULT_PREDICTIONS)?;
    let max_growth_mib: f64 = support::env_number("INFERX_BENCH_MAX_GROWTH_MIB", DEFAULT_MAX_GROWTH_MIB)?;
    if predictions < CHECKPOINTS {
        return Err(format!("INFERX_BENCH_PREDICTIONS must be at least {CHECKPOINTS}"));
    }

    let started = Instant::now();
    let mut samples = Vec::new();
    let mut sample = |predictions: usize| -> Result<(), String> {
        let sample = Sample { predictions, rss_mib: rss_mib()?, seconds: started.elapsed().as_secs_f64() };
        eprintln!("{:>6} predictions: {:7.1} MiB ({:.0} s)", sample.predictions, sample.rss_mib, sample.seconds);
        samples.push(sample);
        Ok(())
    };
    sample(0)?;
    let options = PipelineOptions { input_size: Some(320), ..PipelineOptions::for_task(TaskKind::Detection) };
    let pipeline = Pipeline::load(&model, options).map_err(|error| format!("loading {}: {error}", model.display()))?;
    pipeline.warm_up().map_err(|error| error.to_string())?;
    sample(0)?;
    let predict = |index: usize| -> Result<(), String> {
        let image = &images[index % images.len()];
        pipeline.predict_path(image).map(drop).map_err(|error| format!("{}: {error}", image.display()))
    };
    for index in 0..WARMUP {
        predict(index)?;
    }
    sample(WARMUP)?;
    let step = predictions / CHECKPOINTS;
    for index in 0..predictions {
        predict(index)?;
        if (index + 1) % step == 0 {
            sample(WARMUP + index + 1)?;
        }
    }

    // Samples: loaded, warmed, after warm-up, then the checkpoints; the first is the baseline.
    let baseline = samples[3].rss_mib;
    let peak = samples[3..].iter().map(|sample| sample.rss_mib).fold(f64::MIN, f64::max);
    let report = Report {
        model: MODEL.to_string(),
        images: images
            .iter()
            .map(|image| image.file_name().unwrap_or_default().to_string_lossy().into_owned())
            .collect(),
        growth_mib: peak - baseline,
        max_growth_mib,
        samples,
    };
    println!("| predictions | RSS (MiB) | elapsed (s) |\n|---:|---:|---:|");
    for (index, sample) in report.samples.iter().enumerate() {
        let label = match index {
            0 => "start".to_string(),
            1 => "model loaded, warmed".to_string(),
            _ => sample.predictions.to_string(),
        };
        println!("| {label} | {:.1} | {:.1} |", sample.rss_mib, sample.seconds);
    }
    println!(
        "\n{} photos in turn; growth after the first tenth: {:+.1} MiB (limit {max_growth_mib} MiB)",
        report.images.len(),
        report.growth_mib
    );
    println!("JSON: {}", support::write_json("memory", &report)?.display());
    if report.growth_mib > max_growth_mib {
        return Err(format!(
            "the resident set grew by {:.1} MiB after the first tenth of the run (limit {max_growth_mib} MiB)",
            report.growth_mib
        ));
    }
    Ok(())
}
