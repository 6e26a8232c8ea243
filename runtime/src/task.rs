//! The tasks InferX knows, with their defaults: the one home of these facts for the
//! runtime, the generator, the templates and the tests.

use std::{fmt, str::FromStr};

use serde::{Deserialize, Serialize};

use crate::Error;

/// A vision task: how a model's outputs are decoded.
///
/// ```
/// use inferx_runtime::TaskKind;
///
/// let task: TaskKind = "classify".parse()?; // aliases: detect, yolo, cls, seg, raw...
/// assert_eq!(task, TaskKind::Classification);
/// assert_eq!(task.to_string(), "classification");
/// assert_eq!(task.defaults().input_size, 224);
/// assert_eq!(TaskKind::Detection.defaults().iou, 0.7);
/// assert!("pose".parse::<TaskKind>().is_err());
/// # Ok::<(), inferx_runtime::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Object detection (YOLO v5/v8/v11/end-to-end layouts): boxes, classes, scores.
    Detection,
    /// Image classification: top-k classes with probabilities.
    Classification,
    /// Semantic, binary or YOLO instance segmentation: masks.
    Segmentation,
    /// Anomaly detection (anomalib-style): a score and a heat map.
    Anomaly,
    /// Any model: raw tensors in and out.
    Custom,
}

/// Per-task defaults.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TaskDefaults {
    /// Square input size used when the model does not fix one.
    pub input_size: u32,
    /// Confidence / probability threshold.
    pub confidence: f32,
    /// IoU threshold for non-maximum suppression (detection).
    pub iou: f32,
    /// Maximum number of detections kept per image.
    pub max_detections: usize,
    /// Number of classes reported (classification).
    pub top_k: usize,
}

impl TaskKind {
    /// Every task, in the order shown to users.
    pub const ALL: [TaskKind; 5] =
        [TaskKind::Detection, TaskKind::Classification, TaskKind::Segmentation, TaskKind::Anomaly, TaskKind::Custom];

    /// The name used in config files and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            TaskKind::Detection => "detection",
            TaskKind::Classification => "classification",
            TaskKind::Segmentation => "segmentation",
            TaskKind::Anomaly => "anomaly",
            TaskKind::Custom => "custom",
        }
    }

    /// A one-line description for help texts and the wizard.
    pub fn description(self) -> &'static str {
        match self {
            TaskKind::Detection => "object detection: boxes, labels and scores (YOLOv5/v8/v11/v10-style outputs)",
            TaskKind::Classification => "image classification: top-k labels with probabilities",
            TaskKind::Segmentation => "segmentation: per-pixel class or probability masks, YOLO-seg instances",
            TaskKind::Anomaly => "anomaly detection: an anomaly score and a heat map (anomalib-style)",
            TaskKind::Custom => "any ONNX model: raw tensors in and out, with your own pre/postprocessing",
        }
    }

    /// Defaults for this task. Detection follows Ultralytics' `predict` defaults.
    pub fn defaults(self) -> TaskDefaults {
        let base = TaskDefaults { input_size: 640, confidence: 0.25, iou: 0.7, max_detections: 300, top_k: 5 };
        match self {
            TaskKind::Detection | TaskKind::Custom => base,
            TaskKind::Classification => TaskDefaults { input_size: 224, ..base },
            TaskKind::Segmentation => TaskDefaults { confidence: 0.5, ..base },
            TaskKind::Anomaly => TaskDefaults { input_size: 256, confidence: 0.5, ..base },
        }
    }
}

impl fmt::Display for TaskKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for TaskKind {
    type Err = Error;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text.trim().to_ascii_lowercase().as_str() {
            "detection" | "detect" | "yolo" => Ok(TaskKind::Detection),
            "classification" | "classify" | "cls" => Ok(TaskKind::Classification),
            "segmentation" | "segment" | "seg" => Ok(TaskKind::Segmentation),
            "anomaly" | "anomaly_detection" => Ok(TaskKind::Anomaly),
            "custom" | "raw" => Ok(TaskKind::Custom),
            _ => Err(Error::UnknownTask(text.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_names_round_trip() {
        for task in TaskKind::ALL {
            assert_eq!(task.name().parse::<TaskKind>().unwrap(), task);
        }
        assert!(matches!("pose".parse::<TaskKind>(), Err(Error::UnknownTask(_))));
    }
}
