//! End-to-end latency per image against model-only `session.run`.
//!
//! ```text
//! cargo bench --bench pipeline
//! ```
//!
//! For every (image, input size) configuration the same loop alternates two measurements
//! after warm-up, so machine noise hits both equally:
//!
//! * **e2e**: `Pipeline::predict_path` — read + decode the file, letterbox + normalise,
//!   `session.run`, decode the outputs (YOLO candidates, NMS, boxes back to source pixels);
//! * **model**: `Engine::run_with` on a tensor prepared once from the same image, with a
//!   no-op consumer — the floor any pipeline pays.
//!
//! The order within a pair flips every iteration. Results: a markdown table on stdout and
//! JSON in `<target>/bench/pipeline.json`. See `bench/README.md` for the knobs
//! (`INFERX_BENCH_*` environment variables) and how to read the numbers.

mod support;

use std::{
    hint::black_box,
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use inferx_runtime::{
    preprocess::{Preprocessor, Scratch},
    Pipeline, PipelineOptions, PredictionOutput, SessionOptions, TaskKind,
};
use serde::Serialize;

const MODEL: &str = "models/nudenet-320n.onnx";
const DEFAULT_IMAGES: &str = "astronaut.png,rocket.jpg";
const DEFAULT_SIZES: &str = "320,640";
const DEFAULT_WARMUP: usize = 10;
/// Without `INFERX_BENCH_ITERATIONS`, each configuration gets about this much time.
const DEFAULT_SECONDS_PER_CONFIG: f64 = 15.0;
const MIN_ITERATIONS: usize = 30;
const MAX_ITERATIONS: usize = 2_000;

#[derive(Debug, Clone, Serialize)]
struct Summary {
    median_ms: f64,
    p95_ms: f64,
    mean_ms: f64,
    min_ms: f64,
    max_ms: f64,
}

impl Summary {
    fn of(samples: &[f64]) -> Summary {
        let mut sorted = samples.to_vec();
        sorted.sort_by(f64::total_cmp);
        Summary {
            median_ms: percentile(&sorted, 50.0),
            p95_ms: percentile(&sorted, 95.0),
            mean_ms: sorted.iter().sum::<f64>() / sorted.len() as f64,
            min_ms: sorted[0],
            max_ms: sorted[sorted.len() - 1],
        }
    }
}

/// Percentile of sorted samples, linear interpolation between closest ranks.
fn percentile(sorted: &[f64], percent: f64) -> f64 {
    let rank = percent / 100.0 * (sorted.len() - 1) as f64;
    let (low, high) = (rank.floor() as usize, rank.ceil() as usize);
    sorted[low] + (sorted[high] - sorted[low]) * (rank - low as f64)
}

fn median(samples: &[f64]) -> f64 {
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    percentile(&sorted, 50.0)
}

/// Medians of the per-stage timings the pipeline reports for its e2e runs.
#[derive(Debug, Clone, Serialize)]
struct Stages {
    decode_ms: f64,
    preprocess_ms: f64,
    inference_ms: f64,
    postprocess_ms: f64,
    /// Wall time of `predict_path` not covered by the four stages (locks, allocation, result
    /// building); median of the per-iteration differences.
    unaccounted_ms: f64,
}

#[derive(Debug, Clone, Serialize)]
struct ConfigResult {
    image: String,
    image_width: u32,
    image_height: u32,
    input_size: u32,
    iterations: usize,
    warmup: usize,
    detections: usize,
    e2e: Summary,
    model: Summary,
    /// Per-iteration e2e wall time minus its own decode time.
    e2e_without_decode: Summary,
    stages: Stages,
    /// median(e2e) / median(model).
    ratio: f64,
    /// median(e2e - decode) / median(model).
    ratio_without_decode: f64,
    /// Median over iterations of e2e / model within the same pair: the two runs are adjacent
    /// in time, so this is the figure least moved by other load on the machine.
    paired_ratio: f64,
    /// median(e2e) - median(model), milliseconds.
    overhead_ms: f64,
}

#[derive(Debug, Serialize)]
struct Report {
    model: String,
    device: String,
    onnxruntime: String,
    intra_threads: usize,
    available_parallelism: usize,
    /// `/proc/loadavg` before and after (Linux): other work on the machine skews both sides.
    load_before: Option<String>,
    load_after: Option<String>,
    results: Vec<ConfigResult>,
}

fn load_average() -> Option<String> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .map(|text| text.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
}

fn env_usize(name: &str) -> Result<Option<usize>, String> {
    match std::env::var(name) {
        Ok(value) if !value.trim().is_empty() => {
            value.trim().parse().map(Some).map_err(|_| format!("{name}={value:?} is not a non-negative integer"))
        }
        _ => Ok(None),
    }
}

fn env_list(name: &str, default: &str) -> Vec<String> {
    std::env::var(name)
        .ok()
        .filter(|value| !value.trim().is_empty())
        .unwrap_or_else(|| default.to_string())
        .split(',')
        .map(|item| item.trim().to_string())
        .filter(|item| !item.is_empty())
        .collect()
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e3
}

fn main() -> ExitCode {
    support::exit(run())
}

fn run() -> Result<(), String> {
    // `cargo bench` passes `--bench`; an optional free argument filters configurations by
    // substring ("astronaut", "640", "rocket.jpg@320").
    let filter = std::env::args().skip(1).find(|argument| !argument.starts_with('-'));
    let fixtures = support::fixtures();
    let model = fixtures.join(MODEL);
    let images: Vec<PathBuf> =
        env_list("INFERX_BENCH_IMAGES", DEFAULT_IMAGES).iter().map(|name| fixtures.join("images").join(name)).collect();
    let missing: Vec<String> = std::iter::once(&model)
        .chain(&images)
        .filter(|path| !path.is_file())
        .map(|path| path.display().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "benchmark fixtures are missing: {}\n       run `python3 scripts/fixtures.py` first",
            missing.join(", ")
        ));
    }
    let sizes: Vec<u32> = env_list("INFERX_BENCH_SIZES", DEFAULT_SIZES)
        .iter()
        .map(|size| size.parse().map_err(|_| format!("INFERX_BENCH_SIZES: `{size}` is not a size")))
        .collect::<Result<_, _>>()?;
    // `cargo test --all-targets` runs this binary without `--bench`: a quick smoke run then.
    let smoke = !std::env::args().any(|argument| argument == "--bench");
    let iterations = env_usize("INFERX_BENCH_ITERATIONS")?.or(smoke.then_some(3));
    let warmup = env_usize("INFERX_BENCH_WARMUP")?.unwrap_or(if smoke { 1 } else { DEFAULT_WARMUP });
    let intra_threads = env_usize("INFERX_BENCH_THREADS")?.unwrap_or(0);
    if iterations == Some(0) {
        return Err("INFERX_BENCH_ITERATIONS must be at least 1".to_string());
    }

    let load_before = load_average();
    let mut results = Vec::new();
    let mut device = String::new();
    let mut onnxruntime = String::new();
    for &size in &sizes {
        let options = PipelineOptions {
            input_size: Some(size),
            session: SessionOptions { intra_threads, ..SessionOptions::default() },
            ..PipelineOptions::for_task(TaskKind::Detection)
        };
        let pipeline =
            Pipeline::load(&model, options).map_err(|error| format!("loading {}: {error}", model.display()))?;
        let info = pipeline.info();
        device = info.device.clone();
        onnxruntime = info.onnxruntime.clone();
        let config = pipeline.preprocess_config();
        if (config.width, config.height) != (size, size) {
            return Err(format!("asked for {size}x{size}, the pipeline uses {}x{}", config.width, config.height));
        }
        pipeline.warm_up().map_err(|error| error.to_string())?;
        for image in &images {
            let name = image.file_name().map(|name| name.to_string_lossy().to_string()).unwrap_or_default();
            if filter.as_ref().is_some_and(|filter| !format!("{name}@{size}").contains(filter.as_str())) {
                continue;
            }
            let result = bench_config(&pipeline, image, &name, size, iterations, warmup)?;
            eprintln!(
                "{name}@{size}: e2e {:.2} ms, model {:.2} ms, ratio {:.3} ({} iterations)",
                result.e2e.median_ms, result.model.median_ms, result.ratio, result.iterations
            );
            results.push(result);
        }
    }
    if results.is_empty() {
        return Err(format!("no configuration matches the filter {filter:?}"));
    }
    let report = Report {
        model: MODEL.to_string(),
        device,
        onnxruntime,
        intra_threads,
        available_parallelism: std::thread::available_parallelism().map_or(0, std::num::NonZero::get),
        load_before,
        load_after: load_average(),
        results,
    };
    print_markdown(&report);
    if smoke {
        println!("\n(smoke run under `cargo test`: figures are not meaningful, no JSON written)");
        return Ok(());
    }
    println!("\nJSON: {}", support::write_json("pipeline", &report)?.display());
    Ok(())
}

fn bench_config(
    pipeline: &Pipeline,
    image_path: &Path,
    name: &str,
    size: u32,
    iterations: Option<usize>,
    warmup: usize,
) -> Result<ConfigResult, String> {
    let failed = |error: inferx_runtime::Error| format!("{name}@{size}: {error}");
    // The model-only input: the same image, preprocessed once by the pipeline's own config.
    let decoded = inferx_runtime::preprocess::load_image(image_path, pipeline.limits()).map_err(failed)?;
    let preprocessor = Preprocessor::new(pipeline.preprocess_config().clone());
    let mut tensor = vec![0.0f32; preprocessor.tensor_len()];
    preprocessor.fill(&decoded, &mut Scratch::default(), &mut tensor).map_err(failed)?;
    let shape = [1, 3, size as usize, size as usize];
    let engine = pipeline.engine();

    let e2e_once = || -> Result<(f64, inferx_runtime::Prediction), String> {
        let started = Instant::now();
        let prediction = pipeline.predict_path(image_path).map_err(failed)?;
        Ok((ms(started.elapsed()), black_box(prediction)))
    };
    let model_once = || -> Result<f64, String> {
        let started = Instant::now();
        engine.run_with(&shape, black_box(&tensor), |outputs| Ok(black_box(outputs.len()))).map_err(failed)?;
        Ok(ms(started.elapsed()))
    };

    let warm_started = Instant::now();
    for _ in 0..warmup.max(1) {
        e2e_once()?;
        model_once()?;
    }
    let per_pair = warm_started.elapsed().as_secs_f64() / warmup.max(1) as f64;
    let iterations = iterations
        .unwrap_or_else(|| ((DEFAULT_SECONDS_PER_CONFIG / per_pair) as usize).clamp(MIN_ITERATIONS, MAX_ITERATIONS));

    let mut e2e = Vec::with_capacity(iterations);
    let mut model = Vec::with_capacity(iterations);
    let mut without_decode = Vec::with_capacity(iterations);
    let mut paired = Vec::with_capacity(iterations);
    let mut stages: [Vec<f64>; 5] = Default::default();
    let mut detections = 0;
    for iteration in 0..iterations {
        // Flip the order every iteration so neither side always runs right after the other.
        let model_first = iteration % 2 == 1;
        if model_first {
            model.push(model_once()?);
        }
        let (wall, prediction) = e2e_once()?;
        if !model_first {
            model.push(model_once()?);
        }
        let timings = prediction.timings;
        paired.push(wall / model[model.len() - 1]);
        e2e.push(wall);
        without_decode.push(wall - timings.decode_ms);
        stages[0].push(timings.decode_ms);
        stages[1].push(timings.preprocess_ms);
        stages[2].push(timings.inference_ms);
        stages[3].push(timings.postprocess_ms);
        stages[4]
            .push(wall - timings.decode_ms - timings.preprocess_ms - timings.inference_ms - timings.postprocess_ms);
        if let PredictionOutput::Detection { detections: found } = &prediction.output {
            detections = found.len();
        }
    }
    let (e2e, model, without_decode) = (Summary::of(&e2e), Summary::of(&model), Summary::of(&without_decode));
    Ok(ConfigResult {
        image: name.to_string(),
        image_width: decoded.width(),
        image_height: decoded.height(),
        input_size: size,
        iterations,
        warmup: warmup.max(1),
        detections,
        ratio: e2e.median_ms / model.median_ms,
        ratio_without_decode: without_decode.median_ms / model.median_ms,
        paired_ratio: median(&paired),
        overhead_ms: e2e.median_ms - model.median_ms,
        stages: Stages {
            decode_ms: median(&stages[0]),
            preprocess_ms: median(&stages[1]),
            inference_ms: median(&stages[2]),
            postprocess_ms: median(&stages[3]),
            unaccounted_ms: median(&stages[4]),
        },
        e2e,
        model,
        e2e_without_decode: without_decode,
    })
}

fn print_markdown(report: &Report) {
    println!(
        "\n## Pipeline latency: {} on {} (ONNX Runtime {}, intra threads {}, {} CPUs visible)\n",
        report.model,
        report.device,
        report.onnxruntime,
        if report.intra_threads == 0 { "default".to_string() } else { report.intra_threads.to_string() },
        report.available_parallelism
    );
    if let (Some(before), Some(after)) = (&report.load_before, &report.load_after) {
        println!("Load average before / after: {before} / {after}\n");
    }
    println!(
        "| image | input | iters | e2e median | e2e p95 | e2e mean | model median | model p95 | model mean | ratio | paired ratio | ratio w/o decode |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|");
    for result in &report.results {
        println!(
            "| {} ({}x{}) | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | **{:.3}** | {:.3} | {:.3} |",
            result.image,
            result.image_width,
            result.image_height,
            result.input_size,
            result.iterations,
            result.e2e.median_ms,
            result.e2e.p95_ms,
            result.e2e.mean_ms,
            result.model.median_ms,
            result.model.p95_ms,
            result.model.mean_ms,
            result.ratio,
            result.paired_ratio,
            result.ratio_without_decode,
        );
    }
    println!("\nPer-stage medians of the e2e runs (ms; `other` = wall time outside the four stages):\n");
    println!(
        "| image | input | decode | preprocess | inference | postprocess | other | overhead vs model | detections |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for result in &report.results {
        let stages = &result.stages;
        println!(
            "| {} | {} | {:.2} | {:.2} | {:.2} | {:.3} | {:.3} | {:+.2} | {} |",
            result.image,
            result.input_size,
            stages.decode_ms,
            stages.preprocess_ms,
            stages.inference_ms,
            stages.postprocess_ms,
            stages.unaccounted_ms,
            result.overhead_ms,
            result.detections,
        );
    }
}
