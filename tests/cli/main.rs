//! Integration tests of the `inferx` binary on real models: goldens, device fallback, errors.

#![expect(clippy::unwrap_used, reason = "a test helper that unwraps fails its test with the value it got")]

#[macro_use]
#[path = "../support/mod.rs"]
mod support;

mod benchmark;
mod config;
mod errors;
mod examples;
mod fallback;
mod first_hour;
mod golden;
mod gpu_check;
mod hostile;
mod init;
mod inspect;
mod install;
#[cfg(feature = "video")]
mod live;
mod modes;
mod privacy;
mod quantize;
mod readme;
mod signing;
mod tasks;
mod tracking;
mod val;
mod validate;
#[cfg(feature = "video")]
mod video;
