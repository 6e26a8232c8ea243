//! Typed prediction results. Coordinates are in original image pixels unless stated.

use serde::{Deserialize, Serialize};

use crate::tensor::OutputTensor;

/// An axis-aligned box: `x1, y1, x2, y2` in original image pixels, clipped to the image.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundingBox {
    /// Left edge.
    pub x1: f32,
    /// Top edge.
    pub y1: f32,
    /// Right edge.
    pub x2: f32,
    /// Bottom edge.
    pub y2: f32,
}

impl BoundingBox {
    /// Box area (zero for degenerate boxes).
    pub fn area(&self) -> f32 {
        (self.x2 - self.x1).max(0.0) * (self.y2 - self.y1).max(0.0)
    }

    /// Intersection over union with another box.
    ///
    /// ```
    /// use inferx_runtime::results::BoundingBox;
    ///
    /// let a = BoundingBox { x1: 0.0, y1: 0.0, x2: 10.0, y2: 10.0 };
    /// let b = BoundingBox { x1: 5.0, y1: 0.0, x2: 15.0, y2: 10.0 };
    /// assert_eq!(a.area(), 100.0);
    /// assert_eq!(a.iou(&b), 50.0 / 150.0); // 50 px shared, 150 px covered
    /// assert_eq!(a.iou(&BoundingBox { x1: 20.0, y1: 20.0, x2: 30.0, y2: 30.0 }), 0.0);
    /// ```
    pub fn iou(&self, other: &BoundingBox) -> f32 {
        let width = (self.x2.min(other.x2) - self.x1.max(other.x1)).max(0.0);
        let height = (self.y2.min(other.y2) - self.y1.max(other.y1)).max(0.0);
        let intersection = width * height;
        let union = self.area() + other.area() - intersection;
        if union <= 0.0 {
            0.0
        } else {
            intersection / union
        }
    }
}

/// One detected object.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Detection {
    /// Class index.
    pub class_id: usize,
    /// Class label (`class_<id>` when the model has no names).
    pub label: String,
    /// Confidence in 0–1.
    pub score: f32,
    /// The box, in original image pixels.
    #[serde(rename = "box")]
    pub bbox: BoundingBox,
    /// Instance mask for YOLO-seg models, at original image size.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub mask: Option<Mask>,
    /// Outline of a segmentation region: its convex hull, in original pixels.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub polygon: Option<Vec<[f32; 2]>>,
}

/// A class with its probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClassScore {
    /// Class index.
    pub class_id: usize,
    /// Class label.
    pub label: String,
    /// Probability in 0–1.
    pub score: f32,
}

/// A binary mask, run-length encoded row-major: counts alternate starting with `false` pixels.
///
/// ```
/// use inferx_runtime::results::Mask;
///
/// // 3×2 pixels: row 0 = [1, 1, 0], row 1 = [1, 0, 0].
/// let pixels = [true, true, false, true, false, false];
/// let mask = Mask::encode(3, 2, pixels);
/// assert_eq!(mask.counts, [0, 2, 1, 1, 2]); // 0 unset, 2 set, 1 unset, 1 set, 2 unset
/// assert_eq!(mask.area(), 3);
/// assert_eq!(mask.decode(), pixels);
/// let (x, y) = (0, 1);
/// assert!(mask.decode()[y * mask.width as usize + x]);
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mask {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Run lengths, starting with a run of unset pixels (possibly 0).
    pub counts: Vec<u32>,
}

impl Mask {
    /// Encodes a row-major boolean mask.
    pub fn encode(width: u32, height: u32, pixels: impl IntoIterator<Item = bool>) -> Mask {
        let mut runs = MaskRuns::default();
        for pixel in pixels {
            runs.push(pixel, 1);
        }
        runs.finish(width, height)
    }

    /// Decodes into a row-major boolean vector.
    pub fn decode(&self) -> Vec<bool> {
        let mut pixels = Vec::with_capacity(self.width as usize * self.height as usize);
        for (index, &count) in self.counts.iter().enumerate() {
            pixels.extend(std::iter::repeat_n(index % 2 == 1, count as usize));
        }
        pixels
    }

    /// Number of set pixels.
    pub fn area(&self) -> u64 {
        self.counts.iter().skip(1).step_by(2).map(|&count| count as u64).sum()
    }
}

/// Builds a [`Mask`] from runs of equal pixels in row-major order, so that long stretches known
/// to be empty cost one step instead of one per pixel.
#[derive(Debug, Default)]
pub(crate) struct MaskRuns {
    counts: Vec<u32>,
    current: bool,
    run: u32,
}

impl MaskRuns {
    /// Appends `count` pixels of `value`.
    pub(crate) fn push(&mut self, value: bool, count: u32) {
        if count == 0 {
            return;
        }
        if value != self.current {
            self.counts.push(self.run);
            self.run = 0;
            self.current = value;
        }
        self.run += count;
    }

    /// The mask of `width`×`height` pixels pushed so far.
    pub(crate) fn finish(mut self, width: u32, height: u32) -> Mask {
        self.counts.push(self.run);
        Mask { width, height, counts: self.counts }
    }
}

/// One class region of a segmentation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SegmentClass {
    /// Class index.
    pub class_id: usize,
    /// Class label.
    pub label: String,
    /// Pixels of this class in the original image.
    pub area: u64,
    /// The class's mask at original image size.
    pub mask: Mask,
}

/// A segmentation result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segmentation {
    /// Per-class masks at original image size; background (class 0 of a semantic or binary
    /// map) is never included.
    pub classes: Vec<SegmentClass>,
    /// Bounding boxes of the connected regions of each foreground class (binary and semantic
    /// models), in original pixels.
    pub regions: Vec<Detection>,
    /// Instances of a YOLO-seg model (empty for semantic/binary models).
    pub instances: Vec<Detection>,
}

/// An anomaly result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Anomaly {
    /// The model's anomaly score.
    pub score: f32,
    /// Whether `score` is above the configured threshold.
    pub is_anomalous: bool,
    /// The threshold used.
    pub threshold: f32,
    /// The anomaly map at model resolution, row-major (omitted from JSON by default).
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub map: Vec<f32>,
    /// Width of `map`.
    pub map_width: u32,
    /// Height of `map`.
    pub map_height: u32,
    /// Where the map peaks, in original image pixels.
    pub peak: (f32, f32),
    /// Pixels above the threshold in the original image, when a map is present.
    pub region: Option<Mask>,
    /// The map resampled to the original image, row-major (for heat-map overlays; not in JSON).
    #[serde(skip)]
    pub heat: Vec<f32>,
}

/// The task-specific part of a prediction.
///
/// In JSON the variant is the `task` field, next to the fields of [`Prediction`]:
///
/// ```
/// use inferx_runtime::{Prediction, PredictionOutput};
///
/// let json = r#"{
///     "width": 640, "height": 480, "task": "classification",
///     "top": [{"class_id": 281, "label": "tabby", "score": 0.83}],
///     "timings": {"decode_ms": 1.0, "preprocess_ms": 0.4, "inference_ms": 3.2, "postprocess_ms": 0.1}
/// }"#;
/// let prediction: Prediction = serde_json::from_str(json)?;
/// let PredictionOutput::Classification { top } = &prediction.output else { panic!("not a classification") };
/// assert_eq!(top[0].label, "tabby");
/// assert_eq!(serde_json::to_value(&prediction)?["task"], "classification");
/// # Ok::<(), serde_json::Error>(())
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "task", rename_all = "lowercase")]
pub enum PredictionOutput {
    /// Detected objects, best first.
    Detection {
        /// The detections.
        detections: Vec<Detection>,
    },
    /// Top classes, best first.
    Classification {
        /// The top-k classes.
        top: Vec<ClassScore>,
    },
    /// Masks.
    Segmentation(Segmentation),
    /// Anomaly score and map.
    Anomaly(Anomaly),
    /// Raw output tensors.
    Custom {
        /// Every output.
        outputs: Vec<OutputTensor>,
    },
}

/// Time spent in each stage, in milliseconds.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Image decoding (0 when given a decoded image).
    pub decode_ms: f64,
    /// Resize and normalisation.
    pub preprocess_ms: f64,
    /// `session.run`.
    pub inference_ms: f64,
    /// Output decoding.
    pub postprocess_ms: f64,
}

/// One image's prediction.
///
/// Match on [`output`](Prediction::output) to read each task's result, or use
/// [`detections`](Prediction::detections) for boxes:
///
/// ```
/// use inferx_runtime::results::{Anomaly, BoundingBox, Detection, Timings};
/// use inferx_runtime::{Prediction, PredictionOutput};
///
/// fn summary(prediction: &Prediction) -> String {
///     match &prediction.output {
///         PredictionOutput::Detection { detections } => {
///             let best = detections.first().map_or("nothing", |detection| detection.label.as_str());
///             format!("{} found, best: {best}", detections.len())
///         }
///         PredictionOutput::Classification { top } => {
///             top.iter().map(|class| format!("{} {:.2}", class.label, class.score)).collect::<Vec<_>>().join(", ")
///         }
///         PredictionOutput::Segmentation(segmentation) => segmentation
///             .classes
///             .iter()
///             .map(|class| format!("{}: {} px", class.label, class.mask.area()))
///             .collect::<Vec<_>>()
///             .join(", "),
///         PredictionOutput::Anomaly(anomaly) => {
///             let verdict = if anomaly.is_anomalous { "anomalous" } else { "normal" };
///             format!("{verdict}: score {:.2}, threshold {}", anomaly.score, anomaly.threshold)
///         }
///         PredictionOutput::Custom { outputs } => format!("{} raw outputs", outputs.len()),
///     }
/// }
///
/// let person = Detection {
///     class_id: 0,
///     label: "person".into(),
///     score: 0.91,
///     bbox: BoundingBox { x1: 48.0, y1: 120.0, x2: 210.0, y2: 470.0 },
///     mask: None,
///     polygon: None,
/// };
/// let prediction = Prediction {
///     width: 640,
///     height: 480,
///     output: PredictionOutput::Detection { detections: vec![person] },
///     timings: Timings::default(),
/// };
/// assert_eq!(summary(&prediction), "1 found, best: person");
/// assert_eq!(prediction.detections()[0].bbox.x2, 210.0);
///
/// let anomaly = Anomaly {
///     score: 0.72,
///     is_anomalous: true,
///     threshold: 0.5,
///     map: Vec::new(),
///     map_width: 0,
///     map_height: 0,
///     peak: (0.0, 0.0),
///     region: None,
///     heat: Vec::new(),
/// };
/// let prediction = Prediction { output: PredictionOutput::Anomaly(anomaly), ..prediction };
/// assert_eq!(summary(&prediction), "anomalous: score 0.72, threshold 0.5");
/// assert!(prediction.detections().is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Prediction {
    /// Original image width.
    pub width: u32,
    /// Original image height.
    pub height: u32,
    /// The result.
    #[serde(flatten)]
    pub output: PredictionOutput,
    /// Stage timings.
    pub timings: Timings,
}

/// A prediction with the image it is for: the JSON record of `inferx run --json` and of
/// generated projects' `predict --json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImagePrediction {
    /// The image path as given.
    pub image: String,
    /// The prediction.
    #[serde(flatten)]
    pub prediction: Prediction,
}

impl Prediction {
    /// The detections, for detection results (and YOLO-seg instances).
    pub fn detections(&self) -> &[Detection] {
        match &self.output {
            PredictionOutput::Detection { detections } => detections,
            PredictionOutput::Segmentation(segmentation) => &segmentation.instances,
            _ => &[],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iou_of_overlapping_and_disjoint_boxes() {
        let a = BoundingBox { x1: 0.0, y1: 0.0, x2: 10.0, y2: 10.0 };
        let b = BoundingBox { x1: 5.0, y1: 0.0, x2: 15.0, y2: 10.0 };
        assert!((a.iou(&b) - 50.0 / 150.0).abs() < 1e-6);
        let far = BoundingBox { x1: 20.0, y1: 20.0, x2: 30.0, y2: 30.0 };
        assert_eq!(a.iou(&far), 0.0);
    }

    #[test]
    fn masks_round_trip_through_run_lengths() {
        let pixels = [true, true, false, true, false, false];
        let mask = Mask::encode(3, 2, pixels);
        assert_eq!(mask.counts, [0, 2, 1, 1, 2]);
        assert_eq!(mask.decode(), pixels);
        assert_eq!(mask.area(), 3);
    }
}
