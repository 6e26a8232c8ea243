#![no_main]
//! `cargo +nightly fuzz run clip`: see fuzz/harness.rs.

#[path = "../harness.rs"]
mod harness;

libfuzzer_sys::fuzz_target!(|data: &[u8]| harness::clip(data));
