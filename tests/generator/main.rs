//! Integration tests of `inferx template`, `inferx api` and `inferx upgrade`: snapshots of generated files,
//! refusals that leave nothing behind, and generated projects (and their HTTP server) compiled
//! and run on the real detector.

#![expect(clippy::unwrap_used, reason = "a test helper that unwraps fails its test with the value it got")]

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod api;
mod build;
mod ci_files;
mod docker;
mod errors;
mod files;
mod git;
mod lock;
mod quickstart;
mod server;
mod snapshots;
mod tasks;
mod templates;
mod upgrade;
mod video;
