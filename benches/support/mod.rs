//! What the benches share: fixture and output paths, numeric knobs, the exit status.

// Each bench uses a different subset.
#![allow(dead_code, reason = "shared by several targets, each using a part")]

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).to_path_buf()
}

/// `.fixtures/`, filled by `python3 scripts/fixtures.py`.
pub fn fixtures() -> PathBuf {
    repo_root().join(".fixtures")
}

/// A numeric knob from the environment, or its default.
pub fn env_number<T: std::str::FromStr>(name: &str, default: T) -> Result<T, String> {
    match std::env::var(name) {
        Ok(text) => text.trim().parse().map_err(|_| format!("{name}: `{text}` is not a number")),
        Err(_) => Ok(default),
    }
}

/// Writes `value` as `<target>/bench/<name>.json` and returns the path.
pub fn write_json(name: &str, value: &impl serde::Serialize) -> Result<PathBuf, String> {
    let target = std::env::var_os("CARGO_TARGET_DIR").map(PathBuf::from).unwrap_or_else(|| repo_root().join("target"));
    let output = target.join("bench").join(format!("{name}.json"));
    std::fs::create_dir_all(target.join("bench")).map_err(|error| error.to_string())?;
    let json = serde_json::to_string_pretty(value).map_err(|error| error.to_string())?;
    std::fs::write(&output, json + "\n").map_err(|error| format!("writing {}: {error}", output.display()))?;
    Ok(output)
}

/// The exit status of a bench: an error is printed and fails it.
pub fn exit(result: Result<(), String>) -> ExitCode {
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("error: {message}");
            ExitCode::FAILURE
        }
    }
}
