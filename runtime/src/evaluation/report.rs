//! What `val` reports (`inferx val` and a generated project's `val`): per task, a JSON
//! document (`--json`), or a plain-text table per class and notes (the speed, what was left
//! out), built from the metrics of the sibling modules.

use std::{collections::HashSet, time::Duration};

use crate::{
    evaluation::{
        anomaly::F1Threshold,
        classification::ClassificationTally,
        detection::{recall_points, CocoEvaluation, CocoStats, GroundTruthBox},
        segmentation::SegmentationTally,
    },
    results::Timings,
};
use serde::Serialize;

use crate::results::text_table as table;

/// A report `val` prints: JSON, or its tables and notes.
pub trait ValReport: Serialize {
    /// The tables, as plain text.
    fn text(&self) -> String;
    /// The lines under the tables: the speed, what `--skip-bad` left out, and the like.
    fn notes(&self) -> Vec<String>;
}

/// Mean stage times per image and the rate of the whole run.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Speed {
    /// Mean decoding time per image, in milliseconds.
    pub decode: f64,
    /// Mean preprocessing time per image, in milliseconds.
    pub preprocess: f64,
    /// Mean inference time per image, in milliseconds.
    pub inference: f64,
    /// Mean postprocessing time per image, in milliseconds.
    pub postprocess: f64,
    #[serde(skip)]
    images: usize,
    /// Images over the wall time of the whole run.
    #[serde(skip)]
    pub images_per_second: f64,
    #[serde(skip)]
    seconds: f64,
}

impl Speed {
    /// Adds one image's stage times.
    pub fn add(&mut self, timings: &Timings) {
        self.decode += timings.decode_ms;
        self.preprocess += timings.preprocess_ms;
        self.inference += timings.inference_ms;
        self.postprocess += timings.postprocess_ms;
        self.images += 1;
    }

    /// Sums become means; the rate is images over the wall time of the run.
    pub fn finish(&mut self, elapsed: Duration) {
        let count = self.images.max(1) as f64;
        for value in [&mut self.decode, &mut self.preprocess, &mut self.inference, &mut self.postprocess] {
            *value /= count;
        }
        self.seconds = elapsed.as_secs_f64();
        self.images_per_second = self.images as f64 / self.seconds.max(1e-9);
    }

    fn line(&self) -> String {
        format!(
            "{} in {:.1} s ({:.1} images/s) · per image: decode {:.1} ms, preprocess {:.1} ms, inference {:.1} ms, postprocess {:.1} ms",
            images(self.images),
            self.seconds,
            self.images_per_second,
            self.decode,
            self.preprocess,
            self.inference,
            self.postprocess
        )
    }
}

/// `1 image`, `2 images`.
pub fn images(count: usize) -> String {
    format!("{count} image{}", if count == 1 { "" } else { "s" })
}

/// The lines under a report's table: the speed, and what `--skip-bad` left out.
fn footer(speed: &Speed, skipped: usize) -> Vec<String> {
    let mut lines = vec![speed.line()];
    if skipped > 0 {
        lines.push(format!("{} left out (--skip-bad)", images(skipped)));
    }
    lines
}

/// One class of a detection report.
#[derive(Debug, Clone, Serialize)]
pub struct DetectionClass {
    /// The class index (YOLO data) or category id (COCO data).
    pub class_id: u64,
    /// The class name.
    pub label: String,
    /// Images with at least one box of the class.
    pub images: usize,
    /// Boxes of the class (crowd boxes left out).
    pub instances: usize,
    /// Precision at the confidence of the best F1 (IoU 0.50).
    pub precision: f64,
    /// Recall at that confidence.
    pub recall: f64,
    /// The best F1.
    pub f1: f64,
    /// The confidence of the best F1, where precision and recall are read.
    pub confidence: f64,
    /// AP at IoU 0.50.
    pub map50: f64,
    /// AP over IoU 0.50:0.05:0.95.
    pub map50_95: f64,
    /// Interpolated precision at IoU 0.50 at each of COCO's 101 recall points (`--plots`).
    #[serde(skip)]
    pub precision_curve: Vec<f64>,
}

/// The headline figures of a detector.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct DetectionMetrics {
    /// AP over IoU 0.50:0.05:0.95.
    pub map50_95: f64,
    /// AP at IoU 0.50.
    pub map50: f64,
    /// Precision at the confidence of the best F1 (IoU 0.50).
    pub precision: f64,
    /// Recall at that confidence.
    pub recall: f64,
}

/// `inferx val --json` for a detector.
#[derive(Debug, Clone, Serialize)]
pub struct DetectionReport {
    /// The task measured (`detection`, `classification`, `segmentation`, `anomaly`).
    pub task: &'static str,
    /// Images evaluated.
    pub images: usize,
    /// Images left out by `--skip-bad`.
    pub skipped: usize,
    /// The headline figures.
    pub metrics: DetectionMetrics,
    /// pycocotools' twelve summary numbers.
    pub coco: CocoStats,
    /// Per class.
    pub per_class: Vec<DetectionClass>,
    /// Instance masks of a YOLO-seg model against polygon labels (pycocotools' `segm`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub masks: Option<MaskReport>,
    /// Mean stage times per image.
    pub speed_ms: Speed,
    /// Images over the wall time of the whole run.
    pub images_per_second: f64,
}

/// Mask mAP of an instance segmentation model, per class as for boxes.
#[derive(Debug, Clone, Serialize)]
pub struct MaskReport {
    /// AP over IoU 0.50:0.05:0.95.
    pub map50_95: f64,
    /// AP at IoU 0.50.
    pub map50: f64,
    /// pycocotools' twelve summary numbers for `segm`.
    pub coco: CocoStats,
    /// Per class.
    pub per_class: Vec<MaskClass>,
}

/// Mask AP of one class.
#[derive(Debug, Clone, Serialize)]
pub struct MaskClass {
    /// The class index (the category id for COCO data).
    pub class_id: u64,
    /// AP at IoU 0.50.
    pub map50: f64,
    /// AP over IoU 0.50:0.05:0.95.
    pub map50_95: f64,
}

impl MaskReport {
    /// The report of these results.
    pub fn new(evaluation: &CocoEvaluation) -> MaskReport {
        MaskReport {
            map50_95: evaluation.stats.map50_95.max(0.0),
            map50: evaluation.stats.map50.max(0.0),
            coco: evaluation.stats,
            per_class: evaluation
                .categories
                .iter()
                .filter(|class| class.ground_truth > 0)
                .map(|class| MaskClass {
                    class_id: class.category,
                    map50: class.ap50.unwrap_or(0.0),
                    map50_95: class.ap50_95.unwrap_or(0.0),
                })
                .collect(),
        }
    }
}

impl DetectionReport {
    /// The report of these results.
    pub fn new(
        evaluation: &CocoEvaluation,
        categories: &[(u64, String)],
        truths: &[GroundTruthBox],
        images: usize,
        skipped: usize,
        speed: Speed,
    ) -> DetectionReport {
        let (precision, recall) = evaluation.mean_precision_recall();
        let per_class = evaluation
            .categories
            .iter()
            .filter(|class| class.ground_truth > 0)
            .map(|class| {
                let label = categories
                    .iter()
                    .find(|(id, _)| *id == class.category)
                    .map_or_else(String::new, |(_, name)| name.clone());
                let images: HashSet<usize> = truths
                    .iter()
                    .filter(|truth| truth.category == class.category && !truth.crowd)
                    .map(|truth| truth.image)
                    .collect();
                DetectionClass {
                    class_id: class.category,
                    label,
                    images: images.len(),
                    instances: class.ground_truth,
                    precision: class.precision,
                    recall: class.recall,
                    f1: class.f1,
                    confidence: class.confidence,
                    map50: class.ap50.unwrap_or(0.0),
                    map50_95: class.ap50_95.unwrap_or(0.0),
                    precision_curve: class.precision_curve.clone(),
                }
            })
            .collect();
        // Without any ground truth pycocotools reports -1; 0 reads better and means the same.
        let measured = |value: f64| value.max(0.0);
        DetectionReport {
            task: "detection",
            images,
            skipped,
            metrics: DetectionMetrics {
                map50_95: measured(evaluation.stats.map50_95),
                map50: measured(evaluation.stats.map50),
                precision,
                recall,
            },
            coco: evaluation.stats,
            per_class,
            masks: None,
            speed_ms: speed,
            images_per_second: speed.images_per_second,
        }
    }

    /// COCO's recall points, the x axis of the precision curves.
    pub fn recall_points() -> Vec<f64> {
        recall_points()
    }
}

impl ValReport for DetectionReport {
    fn text(&self) -> String {
        let mut text = String::new();
        let number = |value: f64| format!("{value:.3}");
        let instances: usize = self.per_class.iter().map(|class| class.instances).sum();
        let mut rows = vec![vec![
            "all".to_string(),
            self.images.to_string(),
            instances.to_string(),
            number(self.metrics.precision),
            number(self.metrics.recall),
            number(self.metrics.map50),
            number(self.metrics.map50_95),
        ]];
        rows.extend(self.per_class.iter().map(|class| {
            vec![
                class.label.clone(),
                class.images.to_string(),
                class.instances.to_string(),
                number(class.precision),
                number(class.recall),
                number(class.map50),
                number(class.map50_95),
            ]
        }));
        text.push_str(&table(&["class", "images", "instances", "P", "R", "mAP50", "mAP50-95"], &rows));
        if let Some(masks) = &self.masks {
            let mut rows = vec![vec!["all".to_string(), number(masks.map50), number(masks.map50_95)]];
            rows.extend(masks.per_class.iter().map(|class| {
                let label = self.per_class.iter().find(|boxes| boxes.class_id == class.class_id);
                vec![
                    label.map_or_else(|| class.class_id.to_string(), |boxes| boxes.label.clone()),
                    number(class.map50),
                    number(class.map50_95),
                ]
            }));
            text.push_str(&format!("\n\nmasks\n{}", table(&["class", "mask mAP50", "mask mAP50-95"], &rows)));
        }
        text
    }

    fn notes(&self) -> Vec<String> {
        footer(&self.speed_ms, self.skipped)
    }
}

/// One class of a classification report.
#[derive(Debug, Clone, Serialize)]
pub struct ClassificationClass {
    /// The class index (the category id for COCO data).
    pub class_id: usize,
    /// The class name.
    pub label: String,
    /// Images of the class.
    pub images: u64,
    /// Share of the class's images whose best class is it.
    pub accuracy: f64,
}

/// The headline figures of a classifier.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct ClassificationMetrics {
    /// Share of images whose best class is right.
    pub top1: f64,
    /// Share of images whose class is among the five best.
    pub top5: f64,
}

/// `inferx val --json` for a classifier.
#[derive(Debug, Clone, Serialize)]
pub struct ClassificationReport {
    /// The task measured (`detection`, `classification`, `segmentation`, `anomaly`).
    pub task: &'static str,
    /// Images evaluated.
    pub images: u64,
    /// Images left out by `--skip-bad`.
    pub skipped: usize,
    /// The headline figures.
    pub metrics: ClassificationMetrics,
    /// Per class.
    pub per_class: Vec<ClassificationClass>,
    /// `[true class][predicted class]` counts, in `per_class` order.
    pub confusion: Vec<Vec<u64>>,
    /// Mean stage times per image.
    pub speed_ms: Speed,
    /// Images over the wall time of the whole run.
    pub images_per_second: f64,
}

impl ClassificationReport {
    /// The report of these results.
    pub fn new(tally: &ClassificationTally, classes: &[String], skipped: usize, speed: Speed) -> ClassificationReport {
        let per_class = tally
            .per_class()
            .into_iter()
            .zip(classes)
            .enumerate()
            .map(|(class_id, ((images, accuracy), label))| ClassificationClass {
                class_id,
                label: label.clone(),
                images,
                accuracy,
            })
            .collect();
        ClassificationReport {
            task: "classification",
            images: tally.images(),
            skipped,
            metrics: ClassificationMetrics { top1: tally.top1(), top5: tally.top5() },
            per_class,
            confusion: tally.confusion().to_vec(),
            speed_ms: speed,
            images_per_second: speed.images_per_second,
        }
    }
}

impl ValReport for ClassificationReport {
    fn text(&self) -> String {
        let mut text = String::new();
        let mut rows = vec![vec![
            "all".to_string(),
            self.images.to_string(),
            format!("{:.3}", self.metrics.top1),
            format!("{:.3}", self.metrics.top5),
        ]];
        rows.extend(self.per_class.iter().map(|class| {
            vec![class.label.clone(), class.images.to_string(), format!("{:.3}", class.accuracy), String::new()]
        }));
        text.push_str(&table(&["class", "images", "top-1", "top-5"], &rows));
        text
    }

    fn notes(&self) -> Vec<String> {
        footer(&self.speed_ms, self.skipped)
    }
}

/// One class of a segmentation report.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentationClass {
    /// The class index (the category id for COCO data).
    pub class_id: usize,
    /// The class name.
    pub label: String,
    /// Labelled pixels of the class.
    pub pixels: u64,
    /// `None` when the class is neither labelled nor predicted anywhere.
    pub iou: Option<f64>,
    /// The share of its labelled pixels predicted as it; `None` without labelled pixels.
    pub accuracy: Option<f64>,
}

/// The headline figures of a segmentation model.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct SegmentationMetrics {
    /// Mean IoU over the classes labelled or predicted somewhere.
    pub miou: f64,
    /// Correct pixels over labelled pixels.
    pub pixel_accuracy: f64,
    /// Mean of the per-class accuracies.
    pub mean_class_accuracy: f64,
}

/// `inferx val --json` for a semantic or binary segmentation model.
#[derive(Debug, Clone, Serialize)]
pub struct SegmentationReport {
    /// The task measured (`detection`, `classification`, `segmentation`, `anomaly`).
    pub task: &'static str,
    /// Images evaluated.
    pub images: usize,
    /// Images left out by `--skip-bad`.
    pub skipped: usize,
    /// Labelled pixels counted (those marked 255 count nowhere).
    pub pixels: u64,
    /// The headline figures.
    pub metrics: SegmentationMetrics,
    /// Per class.
    pub per_class: Vec<SegmentationClass>,
    /// `[true class][predicted class]` pixel counts.
    pub confusion: Vec<Vec<u64>>,
    /// Mean stage times per image.
    pub speed_ms: Speed,
    /// Images over the wall time of the whole run.
    pub images_per_second: f64,
}

impl SegmentationReport {
    /// The report of these results.
    pub fn new(
        tally: &SegmentationTally,
        labels: &[String],
        images: usize,
        skipped: usize,
        speed: Speed,
    ) -> SegmentationReport {
        let result = tally.result();
        let per_class = labels
            .iter()
            .enumerate()
            .map(|(class_id, label)| SegmentationClass {
                class_id,
                label: label.clone(),
                pixels: result.class_pixels[class_id],
                iou: result.iou[class_id],
                accuracy: result.class_accuracy[class_id],
            })
            .collect();
        SegmentationReport {
            task: "segmentation",
            images,
            skipped,
            pixels: result.pixels,
            metrics: SegmentationMetrics {
                miou: result.mean_iou,
                pixel_accuracy: result.pixel_accuracy,
                mean_class_accuracy: result.mean_class_accuracy,
            },
            per_class,
            confusion: tally.confusion().to_vec(),
            speed_ms: speed,
            images_per_second: speed.images_per_second,
        }
    }
}

impl ValReport for SegmentationReport {
    fn text(&self) -> String {
        let mut text = String::new();
        let share = |value: Option<f64>| value.map_or_else(|| "-".to_string(), |value| format!("{value:.3}"));
        let mut rows = vec![vec![
            "all".to_string(),
            self.pixels.to_string(),
            format!("{:.3}", self.metrics.miou),
            format!("{:.3}", self.metrics.mean_class_accuracy),
            format!("{:.3}", self.metrics.pixel_accuracy),
        ]];
        rows.extend(self.per_class.iter().map(|class| {
            vec![class.label.clone(), class.pixels.to_string(), share(class.iou), share(class.accuracy), String::new()]
        }));
        text.push_str(&table(&["class", "pixels", "IoU", "accuracy", "pixel acc."], &rows));
        text
    }

    fn notes(&self) -> Vec<String> {
        footer(&self.speed_ms, self.skipped)
    }
}

/// The headline figures of an anomaly model.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct AnomalyMetrics {
    /// AUROC of `pred_score` over good (0) and defect (1) images.
    pub image_auroc: f64,
    /// AUROC of the anomaly map over every pixel of every test image; `None` without a map.
    pub pixel_auroc: Option<f64>,
}

/// One kind of test image (good, or a defect type).
#[derive(Debug, Clone, Serialize)]
pub struct AnomalyKind {
    /// `good`, or the defect type.
    pub kind: String,
    /// Images of this kind.
    pub images: usize,
    /// Images whose score is above the F1-optimal threshold.
    pub flagged: usize,
}

/// `inferx val --json` for an anomaly model.
#[derive(Debug, Clone, Serialize)]
pub struct AnomalyReport {
    /// The task measured (`detection`, `classification`, `segmentation`, `anomaly`).
    pub task: &'static str,
    /// Images evaluated.
    pub images: usize,
    /// Images left out by `--skip-bad`.
    pub skipped: usize,
    /// The headline figures.
    pub metrics: AnomalyMetrics,
    /// anomalib's F1-optimal threshold on the image scores, with its precision and recall.
    pub threshold: F1Threshold,
    /// The project's threshold when the model ran.
    pub configured_threshold: f32,
    /// Per kind of test image: good, then each defect type.
    pub per_kind: Vec<AnomalyKind>,
    /// Mean stage times per image.
    pub speed_ms: Speed,
    /// Images over the wall time of the whole run.
    pub images_per_second: f64,
}

impl AnomalyReport {}

impl ValReport for AnomalyReport {
    fn text(&self) -> String {
        let mut text = String::new();
        let mut rows = vec![vec![
            "all".to_string(),
            self.images.to_string(),
            format!("{:.3}", self.metrics.image_auroc),
            self.metrics.pixel_auroc.map_or_else(|| "-".to_string(), |value| format!("{value:.3}")),
            String::new(),
        ]];
        rows.extend(self.per_kind.iter().map(|kind| {
            vec![kind.kind.clone(), kind.images.to_string(), String::new(), String::new(), kind.flagged.to_string()]
        }));
        text.push_str(&table(&["images", "count", "image AUROC", "pixel AUROC", "flagged"], &rows));
        text
    }

    fn notes(&self) -> Vec<String> {
        let mut notes = vec![format!(
            "F1-optimal threshold {} (F1 {:.3}, precision {:.3}, recall {:.3}); the project uses {}",
            self.threshold.threshold,
            self.threshold.f1,
            self.threshold.precision,
            self.threshold.recall,
            self.configured_threshold
        )];
        notes.extend(footer(&self.speed_ms, self.skipped));
        notes
    }
}
