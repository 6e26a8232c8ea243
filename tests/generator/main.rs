//! Integration tests of `inferx template`: snapshots of generated files, refusals that leave
//! nothing behind, and a generated project compiled and run on the real detector.

#[path = "../support/mod.rs"]
mod support;

mod build;
mod errors;
mod snapshots;
mod tasks;
