//! Integration tests of the `inferx-runtime` library API on real models, and of its shape
//! (`layers`: imports run down the layers lib.rs lists).

#![expect(clippy::unwrap_used, reason = "a test helper that unwraps fails its test with the value it got")]

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod classification;
mod evaluation;
mod files;
mod fixed_dimensions;
mod fuzz_corpus;
mod graph_cache;
mod layers;
mod letterbox;
mod lints;
#[cfg(feature = "video")]
mod live;
mod overlapped;
mod quantized;
mod segmentation;
mod sessions;
mod tasks;
mod tracking;
#[cfg(feature = "video")]
mod video;
