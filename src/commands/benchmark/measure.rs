//! `inferx benchmark`: cold start, latency percentiles, throughput and peak memory per
//! configuration (device × batch × input size), as tables, JSON, CSV, Markdown or an SVG
//! chart; a local history; and a regression check against a baseline for CI.

use std::{
    path::{Path, PathBuf},
    time::Instant,
};

use inferx_runtime::{
    image::DynamicImage, library, preprocess::PreprocessConfig, session::providers::TensorRtOptions, Device,
    Error as RuntimeError, GraphCache, Pipeline, PipelineOptions, SessionOptions, TaskKind,
};
use serde::{Deserialize, Serialize};

use crate::chart::{self, escape, round_step};

/// One configuration to measure.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BenchConfig {
    /// Device asked for.
    pub device: String,
    /// Images per run.
    pub batch: usize,
    /// Square input size.
    pub size: u32,
    /// End to end (decode → preprocess → model → decode outputs) rather than model only.
    pub e2e: bool,
}

/// Latency statistics, milliseconds per run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Latency {
    /// Fastest run.
    pub min: f64,
    /// Mean.
    pub mean: f64,
    /// Median.
    pub p50: f64,
    /// 95th percentile.
    pub p95: f64,
    /// 99th percentile.
    pub p99: f64,
}

/// Where end-to-end time goes, milliseconds per image (means).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Split {
    /// Image decoding.
    pub decode: f64,
    /// Resize and normalisation.
    pub preprocess: f64,
    /// The model.
    pub inference: f64,
    /// Output decoding (NMS, masks...).
    pub postprocess: f64,
}

/// Session creation and the first run, milliseconds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ColdStart {
    /// Loading ONNX Runtime (0 after the first configuration: it loads once per process).
    pub library_ms: f64,
    /// Creating the session with nothing cached: the cold start of a first deployment.
    pub session_ms: f64,
    /// The first run.
    pub first_run_ms: f64,
    /// Which compiled-model cache the provider keeps between starts: `optimized graph` (the
    /// CPU), `tensorrt engines`; none for providers without one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cache: Option<String>,
    /// Creating the session again from the cache the first creation filled: the cold start of
    /// every later start (a restart, a new replica on the same volume).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub warm_session_ms: Option<f64>,
}

/// The result of one configuration.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchResult {
    /// What was measured.
    #[serde(flatten)]
    pub config: BenchConfig,
    /// `measured` or `skipped`.
    pub status: String,
    /// Why it was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// Device actually used.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_used: Option<String>,
    /// Cold start.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cold_start: Option<ColdStart>,
    /// Latency per run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<Latency>,
    /// Images per second.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throughput: Option<f64>,
    /// Peak resident memory of the process so far, MiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peak_rss_mib: Option<f64>,
    /// End-to-end split.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub split_ms: Option<Split>,
}

/// The machine and versions a report was made on.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Logical cores.
    pub cores: usize,
    /// Operating system and architecture.
    pub os: String,
    /// ONNX Runtime version.
    pub onnxruntime: String,
    /// inferx version.
    pub inferx: String,
}

/// A whole run: what `--json` prints and `--compare` reads.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BenchReport {
    /// Model file.
    pub model: String,
    /// Seconds since the Unix epoch.
    pub timestamp: u64,
    /// Where it ran.
    pub machine: Machine,
    /// Iterations per configuration.
    pub iterations: usize,
    /// One entry per configuration, in order.
    pub results: Vec<BenchResult>,
    /// For an int8 model made by `inferx quantize`: the same run of the float model it was
    /// quantized from.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub float: Option<Box<BenchReport>>,
}

/// What to measure.
#[derive(Debug, Clone)]
pub struct BenchPlan {
    /// The model.
    pub model: PathBuf,
    /// Task (guessed when `None`).
    pub task: Option<TaskKind>,
    /// Devices.
    pub devices: Vec<Device>,
    /// Batch sizes.
    pub batches: Vec<usize>,
    /// Input sizes (for models with a dynamic input; a fixed input wins).
    pub sizes: Vec<u32>,
    /// A project's preprocessing, used as it is for the size it has (so `--e2e` times the
    /// pipeline `predict` and `serve` run).
    pub project_input: Option<PreprocessConfig>,
    /// Intra-op threads (0 = default).
    pub threads: usize,
    /// Timed runs per configuration.
    pub iterations: usize,
    /// Untimed runs first.
    pub warmup: usize,
    /// Measure end to end on this image.
    pub e2e_image: Option<PathBuf>,
}

impl BenchPlan {
    /// Every configuration with its device, in the order measured.
    pub fn configs(&self) -> Vec<(BenchConfig, Device)> {
        let mut configs = Vec::new();
        for device in &self.devices {
            for &size in &self.sizes {
                for &batch in &self.batches {
                    let config = BenchConfig { device: device.to_string(), batch, size, e2e: self.e2e_image.is_some() };
                    configs.push((config, *device));
                }
            }
        }
        configs
    }
}

/// Percentile by nearest rank of sorted `values`.
fn percentile(sorted: &[f64], fraction: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let rank = ((fraction * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

/// Statistics of run times.
pub fn latency(mut samples: Vec<f64>) -> Latency {
    samples.sort_by(f64::total_cmp);
    let mean = samples.iter().sum::<f64>() / samples.len().max(1) as f64;
    Latency {
        min: samples.first().copied().unwrap_or(0.0),
        mean,
        p50: percentile(&samples, 0.50),
        p95: percentile(&samples, 0.95),
        p99: percentile(&samples, 0.99),
    }
}

/// Peak resident memory of this process, MiB (Linux; `None` elsewhere).
pub fn peak_rss_mib() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|line| line.starts_with("VmHWM:"))?;
    let kib: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024.0)
}

/// Measures one configuration; `on_run` is called after each timed run (progress).
pub fn measure(plan: &BenchPlan, config: &BenchConfig, device: Device, on_run: &mut dyn FnMut()) -> BenchResult {
    let skipped = |reason: String| BenchResult {
        config: config.clone(),
        status: "skipped".to_string(),
        reason: Some(reason),
        device_used: None,
        cold_start: None,
        latency_ms: None,
        throughput: None,
        peak_rss_mib: None,
        split_ms: None,
    };
    let library_started = Instant::now();
    let first_load = library::loaded().is_none();
    if let Err(error) = library::ensure_initialized(None) {
        return skipped(error.to_string());
    }
    let library_ms = if first_load { library_started.elapsed().as_secs_f64() * 1e3 } else { 0.0 };
    let input = plan.project_input.clone().filter(|input| input.width == config.size);
    // A cache of this run's own: the first session starts cold, the second from what it saved.
    let cache = match tempfile::Builder::new().prefix("inferx-benchmark-").tempdir() {
        Ok(cache) => cache,
        Err(error) => return skipped(format!("no temporary folder for the cold-start cache: {error}")),
    };
    let options = PipelineOptions {
        task: plan.task,
        input_size: if input.is_some() { None } else { Some(config.size) },
        input,
        session: SessionOptions {
            device,
            // A device that is not there is reported as skipped, never measured as CPU.
            strict_device: device != Device::Auto && device != Device::Cpu,
            intra_threads: plan.threads,
            optimized_cache: Some(cache.path().join("graphs")),
            tensorrt_cache: Some(cache.path().join("trt-cache")),
            tensorrt: TensorRtOptions {
                max_batch: TensorRtOptions::default().max_batch.max(config.batch as u32),
                ..TensorRtOptions::default()
            },
            ..SessionOptions::default()
        },
        ..PipelineOptions::default()
    };
    let session_started = Instant::now();
    let pipeline = match Pipeline::load(&plan.model, options.clone()) {
        Ok(pipeline) => pipeline,
        Err(RuntimeError::DeviceUnavailable { device, reason }) => {
            return skipped(format!("{device} is not usable here: {reason}"))
        }
        Err(error) => return skipped(error.to_string()),
    };
    let session_ms = session_started.elapsed().as_secs_f64() * 1e3;
    if config.batch > 1 && !pipeline.batches_dynamically() {
        return skipped(format!("the model's batch axis is fixed ({:?})", pipeline.engine().input().shape));
    }
    let input = pipeline.preprocess_config();
    let image = match &plan.e2e_image {
        Some(path) => match inferx_runtime::preprocess::load_image(path, pipeline.limits()) {
            Ok(image) => image,
            Err(error) => return skipped(error.to_string()),
        },
        None => DynamicImage::new_rgb8(input.width, input.height),
    };
    let images = vec![image; config.batch];
    // Model-only runs reuse one preprocessed tensor: what any pipeline pays at least.
    let tensor = match pipeline.image_tensor(&images[0]) {
        Ok((_, shape, values)) => {
            let mut shape = shape;
            shape[0] = config.batch;
            (shape, values.repeat(config.batch))
        }
        Err(error) => return skipped(error.to_string()),
    };
    let mut split = Split { decode: 0.0, preprocess: 0.0, inference: 0.0, postprocess: 0.0 };
    let run_once = |split: &mut Option<&mut Split>| -> Result<(), RuntimeError> {
        match &plan.e2e_image {
            Some(path) => {
                let decode_started = Instant::now();
                let decoded: Vec<DynamicImage> = (0..config.batch)
                    .map(|_| inferx_runtime::preprocess::load_image(path, pipeline.limits()))
                    .collect::<Result<_, _>>()?;
                let decode_ms = decode_started.elapsed().as_secs_f64() * 1e3 / config.batch as f64;
                let predictions = pipeline.predict_batch(&decoded)?;
                if let Some(split) = split {
                    let timings = &predictions[0].timings;
                    split.decode += decode_ms;
                    split.preprocess += timings.preprocess_ms;
                    split.inference += timings.inference_ms;
                    split.postprocess += timings.postprocess_ms;
                }
                Ok(())
            }
            None => pipeline.engine().run_with(&tensor.0, &tensor.1, |_| Ok(())),
        }
    };
    let first_started = Instant::now();
    if let Err(error) = run_once(&mut None) {
        return skipped(error.to_string());
    }
    let first_run_ms = first_started.elapsed().as_secs_f64() * 1e3;
    for _ in 0..plan.warmup {
        if let Err(error) = run_once(&mut None) {
            return skipped(error.to_string());
        }
    }
    let mut samples = Vec::with_capacity(plan.iterations);
    for _ in 0..plan.iterations {
        let started = Instant::now();
        if let Err(error) = run_once(&mut Some(&mut split)) {
            return skipped(error.to_string());
        }
        samples.push(started.elapsed().as_secs_f64() * 1e3);
        on_run();
    }
    let latency = latency(samples);
    let runs = plan.iterations.max(1) as f64;
    let device_used = pipeline.engine().device();
    let peak_rss_mib = peak_rss_mib();
    let cache_kind = match (pipeline.engine().graph_cache(), device_used) {
        (GraphCache::Off, _) => None,
        (_, Device::TensorRt(_)) => Some("tensorrt engines".to_string()),
        _ => Some("optimized graph".to_string()),
    };
    // The same creation again, now from the cache the first one filled.
    drop(pipeline);
    let warm_session_ms = cache_kind.as_ref().and_then(|_| {
        let started = Instant::now();
        let warm = Pipeline::load(&plan.model, options).ok()?;
        let took = started.elapsed().as_secs_f64() * 1e3;
        (warm.engine().graph_cache() == GraphCache::Loaded).then_some(took)
    });
    BenchResult {
        config: config.clone(),
        status: "measured".to_string(),
        reason: None,
        device_used: Some(device_used.to_string()),
        cold_start: Some(ColdStart { library_ms, session_ms, first_run_ms, cache: cache_kind, warm_session_ms }),
        throughput: Some(config.batch as f64 * 1e3 / latency.mean.max(1e-9)),
        latency_ms: Some(latency),
        peak_rss_mib,
        split_ms: plan.e2e_image.as_ref().map(|_| Split {
            decode: split.decode / runs,
            preprocess: split.preprocess / runs,
            inference: split.inference / runs,
            postprocess: split.postprocess / runs,
        }),
    }
}

/// The machine description for reports.
pub fn machine() -> Machine {
    let cpu = inferx_runtime::device::CpuInfo::detect();
    Machine {
        cpu: cpu.model.clone(),
        cores: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        os: format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
        onnxruntime: library::loaded().map(|runtime| runtime.version.clone()).unwrap_or_default(),
        inferx: env!("CARGO_PKG_VERSION").to_string(),
    }
}

/// Rows for the text and Markdown tables.
fn rows(report: &BenchReport) -> Vec<Vec<String>> {
    let fixed = |value: Option<f64>| value.map_or_else(|| "-".to_string(), |value| format!("{value:.2}"));
    report
        .results
        .iter()
        .map(|result| {
            let latency = result.latency_ms.as_ref();
            vec![
                result.config.device.clone(),
                result.config.batch.to_string(),
                result.config.size.to_string(),
                if result.config.e2e { "e2e" } else { "model" }.to_string(),
                fixed(result.cold_start.as_ref().map(|cold| cold.session_ms + cold.first_run_ms)),
                fixed(result.cold_start.as_ref().and_then(|cold| Some(cold.warm_session_ms? + cold.first_run_ms))),
                fixed(latency.map(|latency| latency.p50)),
                fixed(latency.map(|latency| latency.p95)),
                fixed(latency.map(|latency| latency.p99)),
                fixed(result.throughput),
                fixed(result.peak_rss_mib),
                result.reason.clone().unwrap_or_else(|| result.status.clone()),
            ]
        })
        .collect()
}

const HEADERS: [&str; 12] = [
    "device", "batch", "size", "mode", "cold ms", "warm ms", "p50 ms", "p95 ms", "p99 ms", "img/s", "peak MiB",
    "status",
];

/// What the report says of the compiled-model caches behind "cold ms" (nothing cached) and
/// "warm ms" (the cache the first start filled): the optimised graph on the CPU, TensorRT's
/// engines, and TensorRT as not applicable where no configuration ran on it.
pub fn cache_note(report: &BenchReport) -> String {
    let mut kinds: Vec<&str> =
        report.results.iter().filter_map(|result| result.cold_start.as_ref()?.cache.as_deref()).collect();
    kinds.sort_unstable();
    kinds.dedup();
    let mut note = format!(
        "cold ms: session creation with nothing cached, plus the first run; warm ms: the same from the cache the first start filled ({})",
        if kinds.is_empty() { "none here".to_string() } else { kinds.join(", ") }
    );
    if !kinds.contains(&"tensorrt engines") {
        note.push_str(
            "; TensorRT's engine cache: not applicable (nothing ran on TensorRT; `--device tensorrt` on an NVIDIA GPU)",
        );
    }
    note
}

/// A plain-text table.
pub fn to_table(report: &BenchReport) -> String {
    crate::output::table(&HEADERS, &rows(report))
}

/// One line per configuration measured on both: how much faster the int8 model's p50 is.
pub fn speedups(float: &BenchReport, int8: &BenchReport) -> Vec<String> {
    float
        .results
        .iter()
        .zip(&int8.results)
        .filter_map(|(float, int8)| {
            let (float_ms, int8_ms) = (float.latency_ms.as_ref()?.p50, int8.latency_ms.as_ref()?.p50);
            Some(format!(
                "int8 vs FP32 ({} batch {} size {}): p50 {float_ms:.2} -> {int8_ms:.2} ms, {:.2}x",
                int8.config.device,
                int8.config.batch,
                int8.config.size,
                float_ms / int8_ms.max(f64::MIN_POSITIVE)
            ))
        })
        .collect()
}

/// A Markdown table.
pub fn to_markdown(report: &BenchReport) -> String {
    let mut text = format!("| {} |\n|{}\n", HEADERS.join(" | "), "---|".repeat(HEADERS.len()));
    for row in rows(report) {
        text.push_str(&format!("| {} |\n", row.join(" | ")));
    }
    text
}

/// CSV with a header line.
pub fn to_csv(report: &BenchReport) -> String {
    let mut text = HEADERS.join(",") + "\n";
    for row in rows(report) {
        let quoted: Vec<String> =
            row.iter()
                .map(|cell| {
                    if cell.contains([',', '"']) {
                        format!("\"{}\"", cell.replace('"', "\"\""))
                    } else {
                        cell.clone()
                    }
                })
                .collect();
        text.push_str(&(quoted.join(",") + "\n"));
    }
    text
}

/// An SVG bar chart of p50 latency (bars) and p99 (ticks) per measured configuration: a
/// title naming the model, a legend, a y axis in milliseconds with round ticks, and one label
/// per bar (device, batch, size). At least 560 px wide, so every text fits at 12 px.
pub fn to_svg(report: &BenchReport) -> String {
    let measured: Vec<(&BenchResult, &Latency)> = report
        .results
        .iter()
        .filter_map(|result| result.latency_ms.as_ref().map(|latency| (result, latency)))
        .collect();
    let slowest = measured.iter().map(|(_, latency)| latency.p99).fold(0.0, f64::max);
    let step = round_step(slowest / 4.0);
    let axis_max = (slowest / step).ceil().max(1.0) * step;
    let (bar, gap, left, right, top, height) = (48.0, 36.0, 78.0, 24.0, 84.0, 260.0);
    let plot_width = (measured.len() as f64 * (bar + gap) + gap).max(458.0);
    let width = left + plot_width + right;
    let base = top + height;
    let y = |ms: f64| base - height * ms / axis_max;
    // The model's name, cut to what the width holds.
    let model = std::path::Path::new(&report.model)
        .file_name()
        .map_or(report.model.clone(), |name| name.to_string_lossy().into_owned());
    let mut svg = chart::open(width, base + 56.0, "Latency per run", &model);
    // The legend, under the title.
    svg.push_str(
        "<rect x=\"16\" y=\"58\" width=\"14\" height=\"10\" fill=\"#4c78a8\"/><text x=\"36\" y=\"68\">p50 (bar)</text>\n<line x1=\"120\" y1=\"63\" x2=\"134\" y2=\"63\" stroke=\"#e45756\" stroke-width=\"2\"/><text x=\"140\" y=\"68\">p99 (tick)</text>\n");
    // The y axis: round ticks with their values, and the unit.
    svg.push_str(&format!(
        "<line x1=\"{left}\" y1=\"{top}\" x2=\"{left}\" y2=\"{base}\" stroke=\"#888\"/>\n<line x1=\"{left}\" y1=\"{base}\" x2=\"{:.0}\" y2=\"{base}\" stroke=\"#888\"/>\n<text transform=\"translate(22 {:.0}) rotate(-90)\" text-anchor=\"middle\">latency (ms)</text>\n",
        width - right,
        top + height / 2.0,
    ));
    let ticks = (axis_max / step).round() as usize;
    for tick in 0..=ticks {
        let value = tick as f64 * step;
        let decimals = if step >= 1.0 { 0 } else { 1 + (-step.log10()).floor() as usize };
        svg.push_str(&format!(
            "<line x1=\"{:.0}\" y1=\"{:.1}\" x2=\"{:.0}\" y2=\"{:.1}\" stroke=\"#ddd\"/><text x=\"{:.0}\" y=\"{:.1}\" text-anchor=\"end\">{value:.decimals$}</text>\n",
            left + 1.0,
            y(value),
            width - right,
            y(value),
            left - 6.0,
            y(value) + 4.0,
        ));
    }
    for (index, (result, latency)) in measured.iter().enumerate() {
        let x = left + gap + index as f64 * (bar + gap);
        svg.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar}\" height=\"{:.1}\" fill=\"#4c78a8\"><title>p50 {:.2} ms</title></rect>\n<line x1=\"{:.1}\" y1=\"{:.1}\" x2=\"{:.1}\" y2=\"{:.1}\" stroke=\"#e45756\" stroke-width=\"2\"><title>p99 {:.2} ms</title></line>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{:.1}</text>\n<text x=\"{:.1}\" y=\"{:.1}\" text-anchor=\"middle\">{} b{} {}</text>\n",
            y(latency.p50),
            base - y(latency.p50),
            latency.p50,
            x - 4.0,
            y(latency.p99),
            x + bar + 4.0,
            y(latency.p99),
            latency.p99,
            x + bar / 2.0,
            y(latency.p99).min(y(latency.p50)) - 5.0,
            latency.p50,
            x + bar / 2.0,
            base + 18.0,
            escape(&result.config.device),
            result.config.batch,
            result.config.size,
        ));
    }
    if measured.is_empty() {
        svg.push_str(&format!(
            "<text x=\"{:.0}\" y=\"{:.0}\" text-anchor=\"middle\" fill=\"#444\">nothing was measured</text>\n",
            left + plot_width / 2.0,
            top + height / 2.0
        ));
    }
    svg.push_str("</svg>\n");
    svg
}

/// A configuration that got slower than the baseline allows.
#[derive(Debug, Clone, PartialEq)]
pub struct Regression {
    /// The configuration.
    pub config: BenchConfig,
    /// Baseline p50, ms.
    pub baseline_p50: f64,
    /// Current p50, ms.
    pub current_p50: f64,
}

impl std::fmt::Display for Regression {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let config = &self.config;
        write!(
            formatter,
            "{} batch {} size {} {}: p50 {:.2} ms vs {:.2} ms in the baseline (+{:.0}%)",
            config.device,
            config.batch,
            config.size,
            if config.e2e { "e2e" } else { "model" },
            self.current_p50,
            self.baseline_p50,
            (self.current_p50 / self.baseline_p50 - 1.0) * 100.0
        )
    }
}

/// Configurations whose p50 grew by more than `max_regression` (0.1 = 10%) over the
/// baseline's; configurations missing from either side are not compared.
pub fn regressions(baseline: &BenchReport, current: &BenchReport, max_regression: f64) -> Vec<Regression> {
    current
        .results
        .iter()
        .filter_map(|result| {
            let current_p50 = result.latency_ms.as_ref()?.p50;
            let before = baseline.results.iter().find(|before| before.config == result.config)?;
            let baseline_p50 = before.latency_ms.as_ref()?.p50;
            (current_p50 > baseline_p50 * (1.0 + max_regression)).then(|| Regression {
                config: result.config.clone(),
                baseline_p50,
                current_p50,
            })
        })
        .collect()
}

/// The local history file: one JSON report per line.
pub fn history_file() -> PathBuf {
    library::cache_dir().join("bench.jsonl")
}

/// Appends a report to the history.
pub fn append_history(path: &Path, report: &BenchReport) -> std::io::Result<()> {
    use std::io::Write;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new().create(true).append(true).open(path)?;
    let line = serde_json::to_string(report).map_err(std::io::Error::other)?;
    writeln!(file, "{line}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_configuration_still_gives_a_readable_chart() {
        let latency = Latency { min: 9.0, mean: 10.0, p50: 10.0, p95: 12.0, p99: 13.0 };
        let machine =
            Machine { cpu: "x".into(), cores: 1, os: "linux".into(), onnxruntime: "1".into(), inferx: "0".into() };
        let result = BenchResult {
            config: BenchConfig { device: "cpu".into(), batch: 1, size: 320, e2e: false },
            status: "measured".into(),
            reason: None,
            device_used: Some("cpu".into()),
            cold_start: None,
            latency_ms: Some(latency),
            throughput: Some(100.0),
            peak_rss_mib: None,
            split_ms: None,
        };
        let report = BenchReport {
            model: format!("/a/very/long/path/{}.onnx", "model".repeat(40)),
            timestamp: 0,
            machine,
            iterations: 1,
            results: vec![result],
            float: None,
        };
        let svg = to_svg(&report);
        assert!(svg.starts_with("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"560\""), "{svg}");
        assert!(svg.contains("latency (ms)") && svg.contains("p50 (bar)") && svg.contains("p99 (tick)"), "{svg}");
        assert!(svg.contains(">15</text>"), "the axis ends on a round value above p99: {svg}");
        assert!(svg.contains("…</text>") && !svg.contains("/a/very/long"), "the model's name is cut to fit: {svg}");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let stats = latency((1..=100).map(f64::from).collect());
        assert_eq!((stats.min, stats.p50, stats.p95, stats.p99), (1.0, 50.0, 95.0, 99.0));
        assert_eq!(stats.mean, 50.5);
        assert_eq!(latency(vec![3.0]).p99, 3.0);
    }
}
