//! Facts about a model file, read without ONNX Runtime: its sha256 ([`mod@file`]), its detached
//! signature ([`signature`]), and its inputs, outputs and metadata ([`info`], parsed by
//! [`onnx_proto`]).

pub mod file;
pub mod info;
pub mod onnx_proto;
pub mod signature;
