//! The float and int8 models side by side, in one process with the same ONNX Runtime: file
//! size, model-only latency (runs alternated, so a busy machine slows both alike), end-to-end
//! throughput, how often their detections (or top-1 classes) agree, and, with `--data`, the
//! mAP50-95 of both as `inferx val` measures it.

use std::{path::Path, time::Instant};

use inferx_runtime::{Pipeline, PipelineOptions, Prediction, PredictionOutput};

use super::{pool, val, LabelledData};
use crate::output::Printer;

/// Two detections agree when they have the same class and overlap this much.
const AGREEMENT_IOU: f32 = 0.5;

/// One model's figures.
#[derive(Debug, serde::Serialize)]
pub(super) struct ModelFigures {
    pub(super) bytes: u64,
    /// Median model-only latency (preprocessed tensor in, outputs out), ms.
    pub(super) latency_ms: f64,
    /// The fastest model-only run, ms: the least disturbed by other processes.
    pub(super) fastest_ms: f64,
    /// Images per second, decode to results, on the `--data` images, else the calibration ones.
    pub(super) images_per_second: f64,
}

/// mAP50-95 (detectors) or top-1 (classifiers), 0-1, of both models on the `--data` set.
#[derive(Debug, Clone, Copy, serde::Serialize)]
pub(super) struct Accuracy {
    pub(super) metric: &'static str,
    pub(super) float: f64,
    pub(super) int8: f64,
    pub(super) images: usize,
}

/// How the int8 model's predictions match the float model's on the same images.
#[derive(Debug, serde::Serialize)]
pub(super) struct Agreement {
    /// Detections of the float model / of the int8 model (for classifiers: images).
    pub(super) float: usize,
    pub(super) int8: usize,
    /// Pairs with the same class and IoU >= 0.5 (classifiers: the same top-1).
    pub(super) matched: usize,
    /// `2 * matched / (float + int8)`: 1 when every prediction has its twin.
    pub(super) rate: f64,
    /// Boxes compared (a detector), else top-1 classes (a classifier).
    pub(super) boxes: bool,
}

#[derive(Debug, serde::Serialize)]
pub(super) struct Report {
    pub(super) float_model: String,
    /// Where the int8 model is written (`written` false: the gate refused it).
    pub(super) int8_model: String,
    pub(super) written: bool,
    pub(super) float: ModelFigures,
    pub(super) int8: ModelFigures,
    pub(super) size_ratio: f64,
    pub(super) speedup: f64,
    /// Detectors and classifiers only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) agreement: Option<Agreement>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(super) accuracy: Option<Accuracy>,
    pub(super) onnxruntime: String,
}

impl Report {
    pub(super) fn print(&self, json: bool, printer: &Printer) -> anyhow::Result<()> {
        if json {
            printer.out(serde_json::to_string_pretty(self)?)?;
            return Ok(());
        }
        let mib = |bytes: u64| bytes as f64 / (1024.0 * 1024.0);
        let mut lines = vec![
            format!(
                "{:<28} {:>12} {:>12} {:>9}",
                format!("ONNX Runtime {}, CPU", self.onnxruntime),
                "FP32",
                "int8",
                "ratio"
            ),
            format!(
                "{:<28} {:>12} {:>12} {:>8.2}x",
                "size (MiB)",
                format!("{:.2}", mib(self.float.bytes)),
                format!("{:.2}", mib(self.int8.bytes)),
                self.size_ratio
            ),
            format!(
                "{:<28} {:>12} {:>12} {:>8.2}x",
                "model-only latency (ms, p50)",
                format!("{:.2}", self.float.latency_ms),
                format!("{:.2}", self.int8.latency_ms),
                self.speedup
            ),
            format!(
                "{:<28} {:>12} {:>12} {:>8.2}x",
                "end to end (images/s)",
                format!("{:.1}", self.float.images_per_second),
                format!("{:.1}", self.int8.images_per_second),
                self.int8.images_per_second / self.float.images_per_second.max(f64::MIN_POSITIVE)
            ),
        ];
        if let Some(accuracy) = &self.accuracy {
            lines.push(format!(
                "{:<28} {:>12} {:>12} {:>+8.2} points",
                format!("{} ({} images)", accuracy.metric, accuracy.images),
                format!("{:.4}", accuracy.float),
                format!("{:.4}", accuracy.int8),
                (accuracy.int8 - accuracy.float) * 100.0
            ));
        }
        if let Some(agreement) = &self.agreement {
            lines.push(format!(
                "agreement: {:.1}% ({} of {} FP32 and {} int8 {} matched)",
                agreement.rate * 100.0,
                agreement.matched,
                agreement.float,
                agreement.int8,
                if agreement.boxes { "detections (same class, IoU >= 0.5)" } else { "top-1 classes" }
            ));
        }
        printer.out(lines.join("\n"))?;
        if self.speedup < 1.0 {
            printer.status(
                "the int8 model is not faster on this CPU: few of its operators have int8 kernels here (int8 pays off on convolution-heavy models, on CPUs with VNNI or dot-product instructions)",
            );
        }
        Ok(())
    }
}

/// Compares the models on `images` (the `--data` images, else the calibration ones): latency over `iterations`
/// alternated runs of one preprocessed tensor, then each model's throughput over the images,
/// and their predictions' agreement.
pub(super) fn compare(
    (float_model, float_options): (&Path, &PipelineOptions),
    (int8_model, int8_options): (&Path, &PipelineOptions),
    images: &[std::path::PathBuf],
    iterations: usize,
    interrupt: &super::Interrupt,
    printer: &Printer,
) -> anyhow::Result<Report> {
    let float_pipeline = load(float_model, float_options)?;
    let int8_pipeline = load(int8_model, int8_options)?;
    let first = inferx_runtime::preprocess::load_image(&images[0], float_pipeline.limits())?;
    let (_, shape, tensor) = float_pipeline.image_tensor(&first)?;
    let bar = printer.progress(2 * (iterations as u64 + 3), "timing FP32 and int8");
    // Warm-up, then runs alternated: a busy machine slows both models alike.
    let mut times = (Vec::with_capacity(iterations), Vec::with_capacity(iterations));
    for round in 0..iterations + 3 {
        interrupt.check()?;
        for (pipeline, samples) in [(&float_pipeline, &mut times.0), (&int8_pipeline, &mut times.1)] {
            let started = Instant::now();
            pipeline.engine().run_with(&shape, &tensor, |_| Ok(()))?;
            if round >= 3 {
                samples.push(started.elapsed().as_secs_f64() * 1e3);
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    drop((float_pipeline, int8_pipeline));
    let (float_predictions, float_rate) = predict_all(float_model, float_options, images, printer)?;
    let (int8_predictions, int8_rate) = predict_all(int8_model, int8_options, images, printer)?;
    let figures = |model: &Path, samples: Vec<f64>, images_per_second: f64| -> anyhow::Result<ModelFigures> {
        let fastest_ms = samples.iter().copied().fold(f64::INFINITY, f64::min);
        Ok(ModelFigures { bytes: file_size(model)?, latency_ms: median(samples), fastest_ms, images_per_second })
    };
    let float = figures(float_model, times.0, float_rate)?;
    let int8 = figures(int8_model, times.1, int8_rate)?;
    Ok(Report {
        float_model: float_model.display().to_string(),
        int8_model: int8_model.display().to_string(),
        written: false,
        size_ratio: int8.bytes as f64 / float.bytes.max(1) as f64,
        speedup: float.latency_ms / int8.latency_ms.max(f64::MIN_POSITIVE),
        float,
        int8,
        agreement: agreement(&float_predictions, &int8_predictions),
        accuracy: None,
        onnxruntime: inferx_runtime::library::loaded().map(|runtime| runtime.version.clone()).unwrap_or_default(),
    })
}

/// The accuracy of both models on the labelled data, with `inferx val`'s thresholds.
pub(super) fn accuracy(
    (float_model, float_options): (&Path, &PipelineOptions),
    (int8_model, int8_options): (&Path, &PipelineOptions),
    data: &LabelledData,
    printer: &Printer,
) -> anyhow::Result<Accuracy> {
    let measure = |model: &Path, options: &PipelineOptions| -> anyhow::Result<f64> {
        let mut options = options.clone();
        val::use_val_thresholds(&mut options);
        let pool = pool(model, &options, data.len())?;
        data.accuracy(&pool, printer)
    };
    Ok(Accuracy {
        metric: data.metric(),
        float: measure(float_model, float_options)?,
        int8: measure(int8_model, int8_options)?,
        images: data.len(),
    })
}

fn load(model: &Path, options: &PipelineOptions) -> anyhow::Result<Pipeline> {
    use anyhow::Context;
    Pipeline::load(model, options.clone()).with_context(|| format!("could not load `{}`", model.display()))
}

fn file_size(path: &Path) -> anyhow::Result<u64> {
    use anyhow::Context;
    Ok(std::fs::metadata(path).with_context(|| format!("could not read `{}`", path.display()))?.len())
}

fn median(mut samples: Vec<f64>) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    samples.sort_by(f64::total_cmp);
    samples[samples.len() / 2]
}

/// Every image's prediction (None where it failed) and the images per second.
fn predict_all(
    model: &Path,
    options: &PipelineOptions,
    images: &[std::path::PathBuf],
    printer: &Printer,
) -> anyhow::Result<(Vec<Option<Prediction>>, f64)> {
    let pool = pool(model, options, images.len())?;
    let name = model.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let bar = printer.progress_rate(images.len() as u64, &format!("predicting with {name}"));
    let started = Instant::now();
    let mut predictions = Vec::with_capacity(images.len());
    pool.predict_files(images, |_, result| {
        predictions.push(result.ok().map(|(_, prediction)| prediction));
        bar.inc(1);
    });
    bar.finish_and_clear();
    let seconds = started.elapsed().as_secs_f64();
    Ok((predictions, images.len() as f64 / seconds.max(f64::MIN_POSITIVE)))
}

/// Detections matched greedily, best score first, to the unmatched twin of the same class with
/// the highest IoU (at least [`AGREEMENT_IOU`]); classifiers compare their top-1.
fn agreement(float: &[Option<Prediction>], int8: &[Option<Prediction>]) -> Option<Agreement> {
    let (mut float_count, mut int8_count, mut matched) = (0, 0, 0);
    let mut boxes = None;
    for (float, int8) in float.iter().zip(int8) {
        let (Some(float), Some(int8)) = (float, int8) else { continue };
        match &float.output {
            PredictionOutput::Classification { .. } => boxes = Some(false),
            PredictionOutput::Detection { .. } | PredictionOutput::Segmentation(_) => boxes = Some(true),
            _ => return None,
        }
        if let (PredictionOutput::Classification { top: a }, PredictionOutput::Classification { top: b }) =
            (&float.output, &int8.output)
        {
            float_count += 1;
            int8_count += 1;
            matched += usize::from(a.first().map(|class| class.class_id) == b.first().map(|class| class.class_id));
            continue;
        }
        let (a, b) = (float.detections(), int8.detections());
        float_count += a.len();
        int8_count += b.len();
        let mut order: Vec<usize> = (0..a.len()).collect();
        order.sort_by(|&i, &j| a[j].score.total_cmp(&a[i].score));
        let mut taken = vec![false; b.len()];
        for i in order {
            let best = (0..b.len())
                .filter(|&j| !taken[j] && b[j].class_id == a[i].class_id)
                .map(|j| (j, a[i].bbox.iou(&b[j].bbox)))
                .filter(|&(_, iou)| iou >= AGREEMENT_IOU)
                .max_by(|x, y| x.1.total_cmp(&y.1));
            if let Some((j, _)) = best {
                taken[j] = true;
                matched += 1;
            }
        }
    }
    let total = float_count + int8_count;
    Some(Agreement {
        float: float_count,
        int8: int8_count,
        matched,
        rate: if total == 0 { 1.0 } else { 2.0 * matched as f64 / total as f64 },
        boxes: boxes?,
    })
}
