//! What is specific to each task, one module per task: its default preprocessing, the outputs
//! it decodes, the memory it keeps per source pixel, and the decoding of its outputs into
//! results. Decoders are pure functions of output tensors, so they are tested without ONNX
//! Runtime. The task's names and thresholds, which the generator needs too, are in
//! [`crate::task`]; its results and their summaries in [`crate::results`].

pub mod anomaly;
pub mod classification;
pub mod custom;
pub mod detection;
pub mod segmentation;

use serde::{Deserialize, Serialize};

use crate::{
    preprocess::{PreprocessConfig, Transform},
    results::PredictionOutput,
    tensor::OutputView,
    Error, Result, TaskKind,
};

/// The preprocessing `task` uses by default, at `width`×`height`.
pub fn default_preprocess(task: TaskKind, width: u32, height: u32) -> PreprocessConfig {
    match task {
        TaskKind::Detection => detection::default_preprocess(width, height),
        TaskKind::Classification => classification::default_preprocess(width, height),
        TaskKind::Segmentation => segmentation::default_preprocess(width, height),
        TaskKind::Anomaly => anomaly::default_preprocess(width, height),
        TaskKind::Custom => custom::default_preprocess(width, height),
    }
}

/// Whether outputs of these ranks (in the model's order) are ones `task` decodes.
pub(crate) fn outputs_fit(task: TaskKind, ranks: &[usize]) -> bool {
    match task {
        TaskKind::Detection => detection::outputs_fit(ranks),
        TaskKind::Classification => classification::outputs_fit(ranks),
        TaskKind::Segmentation => segmentation::outputs_fit(ranks),
        TaskKind::Anomaly => anomaly::outputs_fit(ranks),
        TaskKind::Custom => custom::outputs_fit(ranks),
    }
}

/// Bytes `task` keeps per pixel of the source image while predicting (its RGB copy, or maps
/// mapped back onto it): what an image's size is checked against besides the tensor.
pub(crate) fn bytes_per_source_pixel(task: TaskKind) -> u64 {
    match task {
        TaskKind::Detection => detection::BYTES_PER_SOURCE_PIXEL,
        TaskKind::Classification => classification::BYTES_PER_SOURCE_PIXEL,
        TaskKind::Segmentation => segmentation::BYTES_PER_SOURCE_PIXEL,
        TaskKind::Anomaly => anomaly::BYTES_PER_SOURCE_PIXEL,
        TaskKind::Custom => custom::BYTES_PER_SOURCE_PIXEL,
    }
}

/// How to read a YOLO detection output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum DetectionLayout {
    /// Judge from the output shape (and the label count when known).
    #[default]
    Auto,
    /// `[N, anchors, 5 + classes]` with an objectness column (YOLOv5/v7).
    Yolov5,
    /// `[N, 4 + classes, anchors]` (YOLOv8/v9/v11).
    Yolov8,
    /// `[N, k, 6]` rows of `x1, y1, x2, y2, score, class` (YOLOv10, NMS-free exports).
    End2end,
}

/// Whether a classifier outputs logits or probabilities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum ScoreKind {
    /// Probabilities when every row is in 0–1 and sums to 1, else logits.
    #[default]
    Auto,
    /// Raw scores: softmax is applied.
    Logits,
    /// Already probabilities.
    Probabilities,
}

/// Everything the decoders need besides the tensors.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DecodeOptions {
    /// The task.
    pub task: TaskKind,
    /// Score threshold: detections must score strictly above it; for segmentation and anomaly
    /// it is the mask / anomaly threshold. Classification ignores it and reports `top_k`.
    pub confidence: f32,
    /// IoU above which a weaker box of the same class is suppressed.
    pub iou: f32,
    /// At most this many detections per image.
    pub max_detections: usize,
    /// Classes reported by classification.
    pub top_k: usize,
    /// Suppress overlapping boxes across classes too.
    pub agnostic_nms: bool,
    /// Detection output layout.
    pub layout: DetectionLayout,
    /// Classifier output kind.
    pub scores: ScoreKind,
    /// Class names.
    pub labels: Vec<String>,
    /// Keep the anomaly map in results.
    pub keep_anomaly_map: bool,
}

impl DecodeOptions {
    /// Defaults for a task.
    pub fn for_task(task: TaskKind) -> DecodeOptions {
        let defaults = task.defaults();
        DecodeOptions {
            task,
            confidence: defaults.confidence,
            iou: defaults.iou,
            max_detections: defaults.max_detections,
            top_k: defaults.top_k,
            agnostic_nms: false,
            layout: DetectionLayout::Auto,
            scores: ScoreKind::Auto,
            labels: Vec::new(),
            keep_anomaly_map: false,
        }
    }
}

/// One batch item of an output: its shape without the batch dimension and its values.
#[derive(Debug, Clone, Copy)]
pub struct ItemView<'a> {
    /// Output name.
    pub name: &'a str,
    /// Shape without the leading batch dimension.
    pub shape: &'a [usize],
    /// Values of this item.
    pub data: &'a [f32],
}

/// Splits every output into the slice of batch item `index`.
pub fn batch_item<'a>(outputs: &'a [OutputView<'a>], index: usize) -> Result<Vec<ItemView<'a>>> {
    outputs
        .iter()
        .map(|output| {
            let batch = output.shape.first().copied().unwrap_or(1).max(1);
            if output.shape.is_empty() {
                return Ok(ItemView { name: output.name, shape: &[], data: output.data });
            }
            let item_len = output.data.len() / batch;
            if index >= batch {
                return Err(Error::Inference(format!(
                    "output `{}` has batch {batch}, item {index} asked",
                    output.name
                )));
            }
            Ok(ItemView {
                name: output.name,
                shape: &output.shape[1..],
                data: &output.data[index * item_len..(index + 1) * item_len],
            })
        })
        .collect()
}

/// Decodes one image's outputs.
///
/// `input_size` is the model input `(width, height)`; `transform` maps input pixels back to
/// the source image.
pub fn decode(
    items: &[ItemView<'_>],
    transform: &Transform,
    input_size: (u32, u32),
    options: &DecodeOptions,
) -> Result<PredictionOutput> {
    match options.task {
        TaskKind::Detection => {
            detection::decode(items, transform, options).map(|detections| PredictionOutput::Detection { detections })
        }
        TaskKind::Classification => {
            classification::decode(items, options).map(|top| PredictionOutput::Classification { top })
        }
        TaskKind::Segmentation => {
            segmentation::decode(items, transform, input_size, options).map(PredictionOutput::Segmentation)
        }
        TaskKind::Anomaly => anomaly::decode(items, transform, input_size, options).map(PredictionOutput::Anomaly),
        TaskKind::Custom => Ok(PredictionOutput::Custom { outputs: custom::decode(items) }),
    }
}

pub(crate) fn mismatch(task: TaskKind, reason: impl Into<String>) -> Error {
    Error::TaskMismatch { task: task.to_string(), reason: reason.into() }
}

/// Samples a `width`×`height` row-major map bilinearly at continuous coordinates where pixel
/// centres sit at integers, clamping at the edges.
pub(crate) fn sample_bilinear(map: &[f32], width: usize, height: usize, x: f64, y: f64) -> f32 {
    let x = x.clamp(0.0, (width - 1) as f64);
    let y = y.clamp(0.0, (height - 1) as f64);
    let (x0, y0) = (x.floor() as usize, y.floor() as usize);
    let (x1, y1) = ((x0 + 1).min(width - 1), (y0 + 1).min(height - 1));
    let (fx, fy) = ((x - x0 as f64) as f32, (y - y0 as f64) as f32);
    let top = map[y0 * width + x0] * (1.0 - fx) + map[y0 * width + x1] * fx;
    let bottom = map[y1 * width + x0] * (1.0 - fx) + map[y1 * width + x1] * fx;
    top * (1.0 - fy) + bottom * fy
}

/// Maps the centre of source pixel `(x, y)` to continuous coordinates of a map of
/// `map_width`×`map_height` covering the model input of `input_size`.
pub(crate) fn source_to_map(
    transform: &Transform,
    input_size: (u32, u32),
    map_size: (usize, usize),
    x: u32,
    y: u32,
) -> (f64, f64) {
    let input_x = (x as f64 + 0.5) * transform.scale_x + transform.pad_x;
    let input_y = (y as f64 + 0.5) * transform.scale_y + transform.pad_y;
    (input_x * map_size.0 as f64 / input_size.0 as f64 - 0.5, input_y * map_size.1 as f64 / input_size.1 as f64 - 0.5)
}

/// Samples a `width`×`height` map covering the model input at the centre of every source
/// pixel, row-major at source resolution.
pub(crate) fn resample_to_source(
    map: &[f32],
    (width, height): (usize, usize),
    transform: &Transform,
    input_size: (u32, u32),
) -> Vec<f32> {
    let (source_width, source_height) = (transform.source_width, transform.source_height);
    (0..source_height)
        .flat_map(|y| (0..source_width).map(move |x| (x, y)))
        .map(|(x, y)| {
            let (map_x, map_y) = source_to_map(transform, input_size, (width, height), x, y);
            sample_bilinear(map, width, height, map_x, map_y)
        })
        .collect()
}
