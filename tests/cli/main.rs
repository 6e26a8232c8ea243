//! Integration tests of the `inferx` binary on real models: goldens, device fallback, errors.

#[path = "../support/mod.rs"]
mod support;

mod benchmark;
mod config;
mod errors;
mod examples;
mod fallback;
mod golden;
mod hostile;
mod init;
mod inspect;
mod install;
mod modes;
mod privacy;
mod signing;
mod tasks;
mod tracking;
mod validate;
