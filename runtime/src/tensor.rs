//! Tensors as plain data: what a session takes and gives back, free of ONNX Runtime types, so
//! task decoders, results and the server share them without depending on the session.

use serde::{Deserialize, Serialize};

/// A borrowed output tensor of one run.
#[derive(Debug)]
pub struct OutputView<'a> {
    /// Output name.
    pub name: &'a str,
    /// Concrete shape of this run's output.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: &'a [f32],
}

/// An owned copy of an output tensor.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutputTensor {
    /// Output name.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// A named f32 input for raw runs ([`Engine::run_tensors`](crate::session::Engine::run_tensors)); the JSON shape of an Open
/// Inference Protocol tensor (`datatype` optional, `FP32` only).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InputTensor {
    /// Input name, as `inferx inspect` lists it.
    pub name: String,
    /// Concrete shape.
    pub shape: Vec<usize>,
    /// Element type; only `FP32` is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<String>,
    /// Row-major values.
    pub data: Vec<f32>,
}
