//! `inferx runtime install` from a wheel on disk (offline): only the shared libraries are
//! extracted, the result loads, and a second run is a no-op.

use crate::support::*;

/// The CPU wheel `scripts/setup.sh` downloaded into the cache.
fn cached_wheel() -> std::path::PathBuf {
    let wheels = inferx_runtime::library::cache_dir().join("wheels");
    std::fs::read_dir(&wheels)
        .unwrap_or_else(|_| panic!("no wheel cache at `{}`: run `inferx runtime install` first", wheels.display()))
        .flatten()
        .map(|entry| entry.path())
        .find(|path| path.file_name().is_some_and(|name| name.to_string_lossy().starts_with("onnxruntime-")))
        .expect("an onnxruntime wheel in the cache")
}

#[test]
fn installing_from_a_wheel_extracts_the_libraries_and_is_idempotent() {
    let wheel = cached_wheel();
    let dest = temp_dir();
    let target = dest.path().join("lib");
    let first =
        inferx().args(["runtime", "install", "--from-wheel"]).arg(&wheel).arg("--dest").arg(&target).output().unwrap();
    assert!(first.status.success(), "{}", String::from_utf8_lossy(&first.stderr));
    let library = String::from_utf8_lossy(&first.stdout).trim().to_string();
    assert!(library.contains("libonnxruntime"), "{library}");
    let mut names: Vec<String> = std::fs::read_dir(&target)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert!(
        names.iter().all(|name| name.contains(".so") || name == ".inferx-install.json"),
        "only shared libraries: {names:?}"
    );
    assert!(!names.iter().any(|name| name.contains("pybind11")), "no Python extension: {names:?}");

    let second =
        inferx().args(["runtime", "install", "--from-wheel"]).arg(&wheel).arg("--dest").arg(&target).output().unwrap();
    assert!(second.status.success());
    assert!(String::from_utf8_lossy(&second.stderr).contains("already installed"));

    // The installed library is what a project's `.inferx/lib` would hold: it loads and runs.
    let records = run_json(
        inferx()
            .arg("run")
            .arg(detector())
            .arg(images().join("astronaut.png"))
            .arg("--json")
            .env("ORT_DYLIB_PATH", &library),
    );
    assert_eq!(records[0]["detections"][0]["label"], "FACE_FEMALE");
}

#[test]
fn a_file_that_is_not_a_wheel_is_refused() {
    let dir = temp_dir();
    let fake = dir.path().join("onnxruntime.zip");
    write(&fake, "zip? no");
    let output = inferx()
        .args(["runtime", "install", "--from-wheel"])
        .arg(&fake)
        .arg("--dest")
        .arg(dir.path().join("lib"))
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not a wheel"));
    assert!(!dir.path().join("lib").exists(), "nothing installed");
}
