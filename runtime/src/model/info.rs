//! What a model contains: inputs, outputs, metadata, opset, and the task it looks like.

use std::{collections::BTreeMap, path::Path};

use ort::session::Session;
use serde::Serialize;

use crate::{labels, TaskKind};

/// One input or output tensor. Dynamic dimensions are `-1`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TensorInfo {
    /// Tensor name.
    pub name: String,
    /// Element type (`f32`, `i64`, `u8`...).
    pub dtype: String,
    /// Shape, `-1` for dynamic dimensions.
    pub shape: Vec<i64>,
    /// Symbolic names of dimensions where the model gives them (`batch`, `height`...).
    pub dimension_names: Vec<String>,
}

impl TensorInfo {
    /// The dimension at `index`, when known and positive.
    pub fn fixed_dim(&self, index: usize) -> Option<usize> {
        self.shape.get(index).copied().filter(|&dim| dim > 0).map(|dim| dim as usize)
    }
}

/// Model facts read from the session.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ModelInfo {
    /// Model file name.
    pub file: String,
    /// Inputs in order.
    pub inputs: Vec<TensorInfo>,
    /// Outputs in order.
    pub outputs: Vec<TensorInfo>,
    /// ONNX opset of the default domain, when ONNX Runtime reports it.
    pub opset: Option<u32>,
    /// The tool that produced the model.
    pub producer: Option<String>,
    /// Custom metadata (Ultralytics stores `names`, `imgsz`, `task`, `stride` here).
    pub metadata: BTreeMap<String, String>,
}

/// The metadata key `inferx quantize` records the float model's file name under.
pub const QUANTIZED_FROM_KEY: &str = "inferx_quantized_from";

impl ModelInfo {
    pub(crate) fn from_session(session: &Session, path: &Path) -> ModelInfo {
        let describe = |outlet: &ort::value::Outlet| {
            let dtype = outlet.dtype();
            let (element, shape, names) = match dtype {
                ort::value::ValueType::Tensor { ty, shape, dimension_symbols } => (
                    ty.to_string(),
                    shape.iter().copied().collect::<Vec<i64>>(),
                    dimension_symbols.iter().cloned().collect(),
                ),
                other => (other.to_string(), Vec::new(), Vec::new()),
            };
            TensorInfo { name: outlet.name().to_string(), dtype: element, shape, dimension_names: names }
        };
        let mut metadata = BTreeMap::new();
        let mut producer = None;
        if let Ok(model_metadata) = session.metadata() {
            producer = model_metadata.producer().filter(|text| !text.is_empty());
            for key in model_metadata.custom_keys().unwrap_or_default() {
                if let Some(value) = model_metadata.custom(&key) {
                    metadata.insert(key, value);
                }
            }
        }
        ModelInfo {
            file: path.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default(),
            inputs: session.inputs().iter().map(describe).collect(),
            outputs: session.outputs().iter().map(describe).collect(),
            opset: session.opset_for_domain("").filter(|&opset| opset > 0),
            producer,
            metadata,
        }
    }

    /// The file name of the float model this one was quantized from by `inferx quantize`
    /// (metadata [`QUANTIZED_FROM_KEY`]; it lies beside this file), if any.
    pub fn quantized_from(&self) -> Option<&str> {
        self.metadata.get(QUANTIZED_FROM_KEY).map(String::as_str).filter(|name| !name.is_empty())
    }

    /// Class names from the metadata: Ultralytics `names`, a JSON list under `labels` or
    /// `classes`, or one name per line under `character` (PaddleOCR-style exports).
    pub fn labels(&self) -> Option<Vec<String>> {
        ["names", "labels", "classes", "character"].iter().find_map(|key| {
            let text = self.metadata.get(*key)?;
            labels::parse_metadata_labels(text).or_else(|| {
                let lines: Vec<String> =
                    text.lines().map(str::trim).filter(|line| !line.is_empty()).map(str::to_string).collect();
                (lines.len() > 1).then_some(lines)
            })
        })
    }

    /// Input size `(height, width)` from the first input's shape, else Ultralytics' `imgsz`.
    pub fn input_size(&self) -> Option<(u32, u32)> {
        let input = self.inputs.first()?;
        if let (Some(height), Some(width)) = (input.fixed_dim(2), input.fixed_dim(3)) {
            return Some((height as u32, width as u32));
        }
        let numbers: Vec<u32> = self
            .metadata
            .get("imgsz")?
            .split(|c: char| !c.is_ascii_digit())
            .filter_map(|part| part.parse().ok())
            .collect();
        match numbers.as_slice() {
            [size] => Some((*size, *size)),
            [height, width, ..] => Some((*height, *width)),
            _ => None,
        }
    }

    /// Classes the model scores for `task`, read from fixed output dimensions: YOLOv8
    /// `[N, 4 + C (+ mask coefficients), anchors]`, YOLOv5 `[N, anchors, 5 + C]`, and
    /// classifier `[N, C]` or `[N, C, 1, 1]`. `None` when the shapes don't say.
    pub fn class_count(&self, task: TaskKind) -> Option<usize> {
        let output = self.outputs.first()?;
        match task {
            TaskKind::Detection | TaskKind::Segmentation if output.shape.len() == 3 => {
                let mask_channels = match self.outputs.get(1) {
                    Some(protos) if protos.shape.len() == 4 => protos.fixed_dim(1)?,
                    _ => 0,
                };
                let (rows, columns) = (output.fixed_dim(1)?, output.fixed_dim(2));
                match columns {
                    // Anchors outnumber channels: YOLOv8's channels-first layout.
                    Some(columns) if columns <= rows => columns.checked_sub(5 + mask_channels),
                    _ => rows.checked_sub(4 + mask_channels),
                }
            }
            TaskKind::Classification => output.fixed_dim(1),
            _ => None,
        }
        .filter(|count| *count > 0)
    }

    /// The task the model most likely performs, judged from metadata and output shapes.
    pub fn guess_task(&self) -> TaskKind {
        if let Some(task) = self.metadata.get("task") {
            match task.trim() {
                "detect" | "obb" => return TaskKind::Detection,
                "classify" => return TaskKind::Classification,
                "segment" => return TaskKind::Segmentation,
                _ => {}
            }
        }
        let names: Vec<&str> = self.outputs.iter().map(|output| output.name.as_str()).collect();
        if names.iter().any(|name| *name == "pred_score" || *name == "anomaly_map") {
            return TaskKind::Anomaly;
        }
        let ranks: Vec<usize> = self.outputs.iter().map(|output| output.shape.len()).collect();
        match ranks.as_slice() {
            [3, 4] => TaskKind::Segmentation,
            [3] => TaskKind::Detection,
            [2] => TaskKind::Classification,
            [4] => {
                let output = &self.outputs[0];
                match (output.fixed_dim(2), output.fixed_dim(3)) {
                    (Some(1), Some(1)) => TaskKind::Classification,
                    _ => TaskKind::Segmentation,
                }
            }
            _ => TaskKind::Custom,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tensor(name: &str, shape: &[i64]) -> TensorInfo {
        TensorInfo { name: name.into(), dtype: "f32".into(), shape: shape.to_vec(), dimension_names: vec![] }
    }

    fn info(outputs: Vec<TensorInfo>) -> ModelInfo {
        ModelInfo {
            file: "m.onnx".into(),
            inputs: vec![tensor("images", &[-1, 3, -1, -1])],
            outputs,
            opset: Some(17),
            producer: None,
            metadata: BTreeMap::new(),
        }
    }

    #[test]
    fn tasks_are_guessed_from_output_shapes() {
        assert_eq!(info(vec![tensor("output0", &[1, 84, 8400])]).guess_task(), TaskKind::Detection);
        assert_eq!(
            info(vec![tensor("output0", &[1, 116, 8400]), tensor("output1", &[1, 32, 160, 160])]).guess_task(),
            TaskKind::Segmentation
        );
        assert_eq!(info(vec![tensor("logits", &[-1, 1000])]).guess_task(), TaskKind::Classification);
        assert_eq!(info(vec![tensor("maps", &[-1, 1, -1, -1])]).guess_task(), TaskKind::Segmentation);
        assert_eq!(
            info(vec![tensor("pred_score", &[1]), tensor("anomaly_map", &[1, 1, 256, 256])]).guess_task(),
            TaskKind::Anomaly
        );
        assert_eq!(info(vec![tensor("a", &[1]), tensor("b", &[2]), tensor("c", &[3])]).guess_task(), TaskKind::Custom);
    }

    #[test]
    fn class_counts_come_from_fixed_output_dimensions() {
        let detection = TaskKind::Detection;
        assert_eq!(info(vec![tensor("output0", &[1, 84, 8400])]).class_count(detection), Some(80));
        assert_eq!(info(vec![tensor("output0", &[-1, 22, -1])]).class_count(detection), Some(18));
        assert_eq!(info(vec![tensor("output0", &[1, 25200, 85])]).class_count(detection), Some(80));
        let seg = info(vec![tensor("output0", &[1, 116, 8400]), tensor("output1", &[1, 32, 160, 160])]);
        assert_eq!(seg.class_count(TaskKind::Segmentation), Some(80));
        assert_eq!(info(vec![tensor("logits", &[-1, 1000])]).class_count(TaskKind::Classification), Some(1000));
        assert_eq!(info(vec![tensor("logits", &[-1, -1])]).class_count(TaskKind::Classification), None);
        assert_eq!(info(vec![tensor("maps", &[-1, 1, -1, -1])]).class_count(TaskKind::Segmentation), None);
    }

    #[test]
    fn input_size_comes_from_the_shape_or_imgsz_metadata() {
        let mut model = info(vec![]);
        assert_eq!(model.input_size(), None);
        model.metadata.insert("imgsz".into(), "[320, 320]".into());
        assert_eq!(model.input_size(), Some((320, 320)));
        model.inputs[0] = tensor("images", &[1, 3, 480, 640]);
        assert_eq!(model.input_size(), Some((480, 640)));
    }
}
