//! `inferx-runtime`: the hardware-dispatched inference core of InferX projects.
//!
//! It loads ONNX Runtime dynamically ([`library`]), picks an execution provider with an
//! explicit fallback chain ([`device`], [`session`]), and runs vision tasks end to end:
//! image decoding and letterboxing ([`preprocess`]), the model ([`Engine`]) and the
//! task-specific decoding ([`tasks`]) into typed results ([`results`]).
//!
//! ```no_run
//! use inferx_runtime::{Pipeline, PipelineOptions, TaskKind};
//!
//! # fn main() -> inferx_runtime::Result<()> {
//! let pipeline = Pipeline::load("models/yolov8n.onnx", PipelineOptions::for_task(TaskKind::Detection))?;
//! let prediction = pipeline.predict_path("bus.jpg")?;
//! println!("{}", serde_json::to_string_pretty(&prediction)?);
//! # Ok(())
//! # }
//! ```
#![deny(missing_docs)]

pub mod annotate;
pub mod config;
pub mod device;
mod error;
pub mod inputs;
#[cfg(feature = "install")]
pub mod install;
pub mod labels;
pub mod library;
pub mod model_info;
pub mod onnx_proto;
pub mod pipeline;
pub mod preprocess;
pub mod resize;
pub mod results;
#[cfg(feature = "server")]
pub mod server;
pub mod session;
pub mod task;
pub mod tasks;

pub use config::{ProjectConfig, UserConfig};
pub use device::{Device, Provider};
pub use error::{Error, ImageProblem, Result};
pub use model_info::ModelInfo;
pub use pipeline::{Pipeline, PipelineOptions};
pub use results::{Prediction, PredictionOutput};
pub use session::{Engine, SessionOptions};
pub use task::TaskKind;

/// The `image` crate, re-exported so projects decode and draw with the same version.
pub use image;

/// The version of this crate, recorded in generated projects.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The ONNX Runtime release this crate is built and tested against (`ort`'s `api-31`).
pub const ORT_VERSION: &str = "1.31.1";
