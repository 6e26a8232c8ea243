//! `inferx-runtime`: the hardware-dispatched inference core of InferX projects.
//!
//! The crate runs ONNX vision models end to end:
//!
//! 1. **ONNX Runtime is loaded at run time** ([`library`]), not linked: `ORT_DYLIB_PATH`, the
//!    executable's folder, the project's `.inferx/lib/`, the user cache filled by
//!    `inferx runtime install`, or an `onnxruntime` Python package, first hit wins.
//! 2. **A device is picked with an explicit fallback chain** ([`device`], [`session`]): a
//!    [`Device`] such as `auto`, `cuda:1` or `tensorrt` becomes a
//!    [`ProviderChain`](device::ProviderChain) (`tensorrt → cuda → cpu`); [`Engine`] creates
//!    the session on the first provider that works and records the ones it skipped.
//! 3. **A task pipeline runs each image** ([`Pipeline`]): decoding with size limits and
//!    preprocessing ([`preprocess`]: letterbox, resize, normalisation) → the ONNX Runtime
//!    session ([`Engine`]) → task decoding ([`tasks`]: NMS, softmax, masks, anomaly maps) into
//!    a typed [`Prediction`] ([`results`]) for one of the [`TaskKind`]s.
//!
//! Projects describe all of this in an `inferx.yaml` ([`ProjectConfig`]), with `INFERX_*`
//! environment overrides.
//!
//! # Example
//!
//! Load a detector on the best device available and print what it finds:
//!
//! ```no_run
//! use inferx_runtime::{Device, Pipeline, PipelineOptions, PredictionOutput, TaskKind};
//!
//! # fn main() -> inferx_runtime::Result<()> {
//! let options = PipelineOptions {
//!     confidence: Some(0.4),
//!     ..PipelineOptions::for_task(TaskKind::Detection).with_device(Device::Auto)
//! };
//! let pipeline = Pipeline::load("models/yolov8n.onnx", options)?;
//! println!("running on {} (planned: {})", pipeline.engine().device(), pipeline.info().chain);
//!
//! let prediction = pipeline.predict_path("bus.jpg")?;
//! if let PredictionOutput::Detection { detections } = &prediction.output {
//!     for detection in detections {
//!         let b = detection.bbox;
//!         println!("{} {:.2} at ({}, {}) to ({}, {})", detection.label, detection.score, b.x1, b.y1, b.x2, b.y2);
//!     }
//! }
//! println!("{}", serde_json::to_string_pretty(&prediction)?);
//! # Ok(())
//! # }
//! ```
//!
//! A generated project loads everything from its `inferx.yaml` instead, with
//! [`Pipeline::from_config_file`].
//!
//! # Features
//!
//! - `gpu-detect` (default): enumerates GPU adapters with `wgpu` for the device report and
//!   for planning the provider chain; without it, the Linux PCI device list is read instead.
//! - `install`: the [`install`](install/index.html) module, which downloads ONNX Runtime
//!   wheels from PyPI (`inferx runtime install`).
//! - `logging`: the [`logging`](logging/index.html) module, the log output of the CLI and
//!   generated projects (`INFERX_LOG`, `INFERX_LOG_FORMAT=json`, `NO_COLOR`).
//! - `video`: the [`video`](video/index.html) module: video files decoded with FFmpeg's
//!   libraries (mp4, mkv, webm, avi, mov; H.264, H.265, VP9, AV1, MPEG-4 as the FFmpeg build
//!   has them) and annotated H.264 MP4s written. Needs the FFmpeg development libraries,
//!   `pkg-config` and `libclang` to build (`scripts/video-env.sh` installs them on Debian).
//! - `server`: the [`server`](server/index.html) module, the HTTP server of generated
//!   projects (axum routes, API keys, rate limits, metrics, dynamic batching, Open Inference
//!   Protocol v2).
#![deny(missing_docs)]

// The layers, lowest first: a module uses what stands in its own layer or below it, never
// above (`tests/runtime/layers.rs` checks every `crate::` path against this list).
//
// 1. Leaves: plain types and facts, no ONNX Runtime session.
mod error;
pub mod inputs;
pub mod labelled_data;
pub mod labels;
#[cfg(feature = "logging")]
pub mod logging;
pub mod model;
pub mod project_files;
pub mod task;
pub mod tensor;
pub mod yaml_edit;
// 2. Hardware and the ONNX Runtime library.
pub mod device;
#[cfg(feature = "install")]
pub mod install;
pub mod library;
// 3. The session.
pub mod session;
// 4. Images in, results out: preprocessing and each task's own logic.
pub mod annotate;
// Metrics on predictions (instance masks are results' masks).
pub mod evaluation;
pub mod preprocess;
pub mod results;
pub mod tasks;
// Following objects across frames, and counting them (boxes in, tracks out).
pub mod tracking;
// 5. One entry point for every caller.
pub mod pipeline;
// 6. Many inputs at once; inferx.yaml.
pub mod config;
pub mod pool;
pub mod sequence;
// The `server.streams:` section (allowed sources, the cap, the streams started with a server).
pub mod streams_config;
// Accuracy on labelled data (the loop of `inferx val` and a project's `val`).
pub mod val;
// Video files and live sources, and the frame loop every stream runs through (it detects
// with a pipeline and tracks like a sequence).
#[cfg(feature = "video")]
pub mod video;
// 7. The HTTP face.
#[cfg(feature = "server")]
pub mod server;

pub use config::{ProjectConfig, UserConfig};
pub use device::{Device, Provider};
pub use error::{ClipProblem, Error, FileProblem, ImageProblem, Result};
pub use model::info::ModelInfo;
pub use pipeline::{Pipeline, PipelineOptions};
pub use pool::PipelinePool;
pub use results::{Prediction, PredictionOutput};
pub use session::{Engine, GraphCache, SessionOptions};
pub use task::TaskKind;

// Paths of projects generated by inferx 0.x, whose modules now live in the layers above.
pub use model::{info as model_info, onnx_proto, signature};
pub use preprocess::resize;

/// The `image` crate, re-exported so projects decode and draw with the same version.
pub use image;
#[doc(hidden)]
pub use preprocess::tensor_while_decoding;

/// The version of this crate, recorded in generated projects.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// The ONNX Runtime release this crate is built and tested against (`ort`'s `api-31`).
pub const ORT_VERSION: &str = "1.31.1";
