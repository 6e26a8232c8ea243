//! Typed prediction results. Coordinates are in original image pixels unless stated.

use std::fmt;

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

/// Time spent in each stage, in milliseconds. In JSON each is rounded to the microsecond.
#[derive(Debug, Clone, Copy, PartialEq, Default, Serialize, Deserialize)]
pub struct Timings {
    /// Image decoding (0 when given a decoded image).
    #[serde(serialize_with = "milliseconds")]
    pub decode_ms: f64,
    /// Resize and normalisation.
    #[serde(serialize_with = "milliseconds")]
    pub preprocess_ms: f64,
    /// `session.run`.
    #[serde(serialize_with = "milliseconds")]
    pub inference_ms: f64,
    /// Output decoding.
    #[serde(serialize_with = "milliseconds")]
    pub postprocess_ms: f64,
}

/// Milliseconds rounded to the microsecond, finer than a stage's timing means anything: the
/// nearest `f64` to a number of three decimals is written as those decimals (`2.197`, not
/// `2.1971529999999997`).
fn milliseconds<S: serde::Serializer>(value: &f64, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_f64((value * 1e3).round() / 1e3)
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
///
/// # JSON
///
/// One shape for `/predict`, each entry of `/predict/batch`, and `--json` (where `image` comes
/// first): `width`, `height`, `task`, the task's fields, `timings`, in that order; scores as
/// the `f32` they are, in their shortest form (`0.83`, never `0.8299999833106995`); timings in
/// milliseconds, rounded to the microsecond. Serialise it with `serde_json` directly (not
/// through `serde_json::Value`, which widens `f32`s and sorts keys).
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

impl Prediction {
    /// One readable line of what was found, `-` when nothing was: what a generated project's
    /// `predict` prints for an image.
    ///
    /// ```
    /// use inferx_runtime::results::{ClassScore, Timings};
    /// use inferx_runtime::{Prediction, PredictionOutput};
    ///
    /// let top = vec![ClassScore { class_id: 281, label: "tabby".into(), score: 0.8312 }];
    /// let output = PredictionOutput::Classification { top };
    /// let prediction = Prediction { width: 640, height: 480, output, timings: Timings::default() };
    /// assert_eq!(prediction.summary(), "tabby 0.831");
    /// ```
    pub fn summary(&self) -> String {
        self.output.summary()
    }
}

impl PredictionOutput {
    /// One readable line of what was found, `-` when nothing was (see [`Prediction::summary`]).
    pub fn summary(&self) -> String {
        let found = match self {
            PredictionOutput::Detection { detections } => join(detections.iter().map(Detection::summary), "; "),
            PredictionOutput::Classification { top } => join(top.iter().map(ClassScore::summary), ", "),
            PredictionOutput::Segmentation(segmentation) => segmentation.summary(),
            PredictionOutput::Anomaly(anomaly) => anomaly.summary(),
            PredictionOutput::Custom { outputs } => {
                join(outputs.iter().map(|output| format!("{} {:?}", output.name, output.shape)), ", ")
            }
        };
        if found.is_empty() {
            "-".to_string()
        } else {
            found
        }
    }

    /// The result as `inferx run` tabulates it: the task's column names, and a row per object
    /// found (detection and segmentation say `-` in a row of their own when nothing was).
    pub fn table(&self) -> (&'static [&'static str], Vec<Vec<String>>) {
        match self {
            PredictionOutput::Detection { detections } => {
                let mut rows: Vec<Vec<String>> = detections.iter().map(Detection::table_row).collect();
                if rows.is_empty() {
                    rows.push(vec!["-".into(), String::new(), String::new()]);
                }
                (&["label", "score", "box (x1, y1, x2, y2)"], rows)
            }
            PredictionOutput::Classification { top } => {
                let classes = join(top.iter().map(ClassScore::summary), ", ");
                (&["top classes"], vec![vec![classes]])
            }
            PredictionOutput::Segmentation(segmentation) => {
                (&["class", "pixels", "regions"], segmentation.table_rows())
            }
            PredictionOutput::Anomaly(anomaly) => (&["score", "verdict", "peak (x, y)"], vec![anomaly.table_row()]),
            PredictionOutput::Custom { outputs } => {
                let rows = outputs
                    .iter()
                    .map(|output| {
                        let first = join(output.data.iter().take(4).map(|value| format!("{value:.4}")), ", ");
                        vec![output.name.clone(), format!("{:?}", output.shape), first]
                    })
                    .collect();
                (&["output", "shape", "first values"], rows)
            }
        }
    }
}

impl Detection {
    /// `label 0.91 [48, 120, 210, 470]`: the score to two places, the box in whole pixels.
    pub fn summary(&self) -> String {
        let b = self.bbox;
        format!("{} {:.2} [{:.0}, {:.0}, {:.0}, {:.0}]", self.label, self.score, b.x1, b.y1, b.x2, b.y2)
    }

    fn table_row(&self) -> Vec<String> {
        let b = self.bbox;
        vec![
            self.label.clone(),
            format!("{:.3}", self.score),
            format!("{:.1}, {:.1}, {:.1}, {:.1}", b.x1, b.y1, b.x2, b.y2),
        ]
    }
}

impl ClassScore {
    /// `label 0.831`.
    pub fn summary(&self) -> String {
        format!("{} {:.3}", self.label, self.score)
    }
}

impl Segmentation {
    /// `label: 1234 px` per class, then `label 0.87` per instance.
    pub fn summary(&self) -> String {
        let classes = self.classes.iter().map(|class| format!("{}: {} px", class.label, class.area));
        let instances = self.instances.iter().map(|instance| format!("{} {:.2}", instance.label, instance.score));
        join(classes.chain(instances), ", ")
    }

    fn table_rows(&self) -> Vec<Vec<String>> {
        if self.classes.is_empty() && self.instances.is_empty() {
            return vec![vec!["-".into(), "0".into(), "0".into()]];
        }
        let classes = self.classes.iter().map(|class| {
            let regions = self.regions.iter().filter(|region| region.class_id == class.class_id).count();
            vec![class.label.clone(), class.area.to_string(), regions.to_string()]
        });
        let instances = self.instances.iter().map(|instance| {
            let area = instance.mask.as_ref().map_or(0, Mask::area);
            vec![format!("{} {:.3}", instance.label, instance.score), area.to_string(), "1".into()]
        });
        classes.chain(instances).collect()
    }
}

impl Anomaly {
    /// `score 0.7213 (anomalous)`.
    pub fn summary(&self) -> String {
        format!("score {:.4} ({})", self.score, self.verdict())
    }

    /// `anomalous` or `normal`.
    pub fn verdict(&self) -> &'static str {
        if self.is_anomalous {
            "anomalous"
        } else {
            "normal"
        }
    }

    fn table_row(&self) -> Vec<String> {
        vec![format!("{:.4}", self.score), self.verdict().into(), format!("{:.0}, {:.0}", self.peak.0, self.peak.1)]
    }
}

impl fmt::Display for ImagePrediction {
    /// `image: summary`, one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.image, self.prediction.summary())
    }
}

fn join(parts: impl Iterator<Item = String>, separator: &str) -> String {
    parts.collect::<Vec<_>>().join(separator)
}

/// Formats rows as an aligned plain-text table: each column as wide as its widest cell, a
/// dashed line under the headers.
pub fn text_table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|header| header.chars().count()).collect();
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        cells
            .iter()
            .zip(&widths)
            .map(|(cell, width)| format!("{cell:<width$}"))
            .collect::<Vec<_>>()
            .join("  ")
            .trim_end()
            .to_string()
    };
    let mut lines = vec![line(headers.to_vec())];
    lines.push(line(
        widths.iter().map(|width| "-".repeat(*width)).collect::<Vec<_>>().iter().map(String::as_str).collect(),
    ));
    for row in rows {
        lines.push(line(row.iter().map(String::as_str).collect()));
    }
    lines.join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_prediction_is_written_in_its_documented_key_order_with_f32_scores_and_rounded_timings() {
        let top = vec![ClassScore { class_id: 281, label: "tabby".into(), score: 0.83 }];
        let timings = Timings { decode_ms: 2.197_153_4, preprocess_ms: 0.4, inference_ms: 3.2, postprocess_ms: 0.0004 };
        let prediction =
            Prediction { width: 640, height: 480, output: PredictionOutput::Classification { top }, timings };
        let expected = r#"{"width":640,"height":480,"task":"classification","top":[{"class_id":281,"label":"tabby","score":0.83}],"timings":{"decode_ms":2.197,"preprocess_ms":0.4,"inference_ms":3.2,"postprocess_ms":0.0}}"#;
        assert_eq!(serde_json::to_string(&prediction).unwrap(), expected);
        let record = ImagePrediction { image: "cat.jpg".into(), prediction };
        let written = serde_json::to_string(&record).unwrap();
        assert_eq!(written, format!(r#"{{"image":"cat.jpg",{}"#, &expected[1..]), "--json: the image, then the same");
    }

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

    fn prediction(output: PredictionOutput) -> Prediction {
        Prediction { width: 100, height: 80, output, timings: Timings::default() }
    }

    fn detection(label: &str, score: f32, bbox: [f32; 4]) -> Detection {
        let [x1, y1, x2, y2] = bbox;
        Detection {
            class_id: 0,
            label: label.into(),
            score,
            bbox: BoundingBox { x1, y1, x2, y2 },
            mask: None,
            polygon: None,
        }
    }

    #[test]
    fn each_task_has_a_one_line_summary_and_nothing_found_is_a_dash() {
        let detections =
            vec![detection("person", 0.914, [48.4, 120.0, 210.6, 470.0]), detection("dog", 0.5, [0.0, 1.0, 2.0, 3.0])];
        let found = prediction(PredictionOutput::Detection { detections });
        assert_eq!(found.summary(), "person 0.91 [48, 120, 211, 470]; dog 0.50 [0, 1, 2, 3]");
        assert_eq!(prediction(PredictionOutput::Detection { detections: vec![] }).summary(), "-");

        let mask = Mask::encode(2, 1, [true, false]);
        let segmentation = Segmentation {
            classes: vec![SegmentClass { class_id: 1, label: "text".into(), area: 1234, mask: mask.clone() }],
            regions: vec![],
            instances: vec![Detection { mask: Some(mask), ..detection("cat", 0.871, [0.0, 0.0, 2.0, 1.0]) }],
        };
        let output = PredictionOutput::Segmentation(segmentation);
        assert_eq!(prediction(output.clone()).summary(), "text: 1234 px, cat 0.87");
        assert_eq!(
            output.table(),
            (
                &["class", "pixels", "regions"][..],
                vec![
                    vec!["text".to_string(), "1234".into(), "0".into()],
                    vec!["cat 0.871".into(), "1".into(), "1".into()]
                ]
            )
        );

        let anomaly = Anomaly {
            score: 0.72134,
            is_anomalous: true,
            threshold: 0.5,
            map: vec![],
            map_width: 0,
            map_height: 0,
            peak: (10.4, 20.6),
            region: None,
            heat: vec![],
        };
        let output = PredictionOutput::Anomaly(anomaly);
        assert_eq!(output.summary(), "score 0.7213 (anomalous)");
        assert_eq!(output.table().1, [["0.7213", "anomalous", "10, 21"]]);

        let outputs =
            vec![OutputTensor { name: "logits".into(), shape: vec![1, 5], data: vec![0.5, 1.0, 2.0, 3.0, 4.0] }];
        let output = PredictionOutput::Custom { outputs };
        assert_eq!(output.summary(), "logits [1, 5]");
        assert_eq!(output.table().1, [["logits", "[1, 5]", "0.5000, 1.0000, 2.0000, 3.0000"]]);

        let record = ImagePrediction { image: "photos/a.jpg".into(), prediction: found };
        assert_eq!(record.to_string(), "photos/a.jpg: person 0.91 [48, 120, 211, 470]; dog 0.50 [0, 1, 2, 3]");
    }

    #[test]
    fn a_table_has_a_row_per_object_and_says_when_there_is_none() {
        let (columns, rows) =
            PredictionOutput::Detection { detections: vec![detection("person", 0.9144, [1.0, 2.26, 3.0, 4.0])] }
                .table();
        assert_eq!(columns, ["label", "score", "box (x1, y1, x2, y2)"]);
        assert_eq!(rows, [["person", "0.914", "1.0, 2.3, 3.0, 4.0"]]);
        assert_eq!(PredictionOutput::Detection { detections: vec![] }.table().1, [["-", "", ""]]);
        let empty = Segmentation { classes: vec![], regions: vec![], instances: vec![] };
        assert_eq!(PredictionOutput::Segmentation(empty).table().1, [["-", "0", "0"]]);
        let top = vec![
            ClassScore { class_id: 0, label: "0".into(), score: 0.75 },
            ClassScore { class_id: 1, label: "180".into(), score: 0.25 },
        ];
        assert_eq!(
            PredictionOutput::Classification { top }.table(),
            (&["top classes"][..], vec![vec!["0 0.750, 180 0.250".to_string()]])
        );
    }
}
