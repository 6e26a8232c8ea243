//! Integration tests of the `inferx-runtime` library API on real models.

#[path = "../support/mod.rs"]
mod support;

mod classification;
mod files;
mod fixed_dimensions;
mod fuzz_corpus;
mod graph_cache;
mod letterbox;
mod overlapped;
mod quantized;
mod segmentation;
mod sessions;
mod tasks;
