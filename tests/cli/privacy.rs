//! ONNX Runtime 1.31's official Linux build keeps a device id and a telemetry event store under
//! the user's cache; `inferx` turns that off unless the user asked for it.

use std::path::{Path, PathBuf};

use crate::support::*;

/// Variables whose presence makes ONNX Runtime 1.31 switch its telemetry off by itself, as read
/// from the library's strings (`CI`, `GITHUB_ACTIONS`, `JENKINS_URL` and `ORT_RUNNING_UNIT_TESTS`
/// were each tried and each stopped the store): CI machines set some of them (`CI=true` above
/// all), which would hide the store this test looks for.
const CI_MARKERS: [&str; 13] = [
    "CI",
    "TF_BUILD",
    "GITHUB_ACTIONS",
    "GITLAB_CI",
    "CIRCLECI",
    "TRAVIS",
    "JENKINS_URL",
    "CODEBUILD_BUILD_ID",
    "BUILDKITE",
    "TEAMCITY_VERSION",
    "APPVEYOR",
    "BITBUCKET_BUILD_NUMBER",
    "ORT_RUNNING_UNIT_TESTS",
];

/// The library the other tests use, found the way `inferx` finds it.
fn onnxruntime_library() -> PathBuf {
    let devices = run_json(inferx().args(["devices", "--json"]));
    PathBuf::from(devices["onnxruntime"]["path"].as_str().expect("an ONNX Runtime library is installed"))
}

/// Runs one prediction with `home` as the home and cache folders; returns what the run left
/// under `home`, ONNX Runtime's `Microsoft/` folder included when it made one.
fn files_left_by_a_run(home: &Path, telemetry_variable: Option<&str>) -> Vec<String> {
    let mut command = inferx();
    command
        .arg("run")
        .arg(detector())
        .arg(images().join("astronaut.png"))
        .args(["--size", "320", "--json"])
        .env("HOME", home)
        .env("XDG_CACHE_HOME", home.join(".cache"))
        .env("INFERX_CACHE_DIR", home.join("inferx-cache"))
        .env("ORT_DYLIB_PATH", onnxruntime_library())
        .env_remove("ORT_DISABLE_TELEMETRY");
    // Run as on a user's machine, where ONNX Runtime would keep its store.
    for marker in CI_MARKERS {
        command.env_remove(marker);
    }
    if let Some(value) = telemetry_variable {
        command.env("ORT_DISABLE_TELEMETRY", value);
    }
    let records = run_json(&mut command);
    assert_eq!(records[0]["detections"][0]["label"], "FACE_FEMALE", "the run predicted: {records}");
    file_tree(home).into_keys().collect()
}

#[test]
fn onnxruntime_keeps_no_device_id_or_telemetry_store_unless_the_user_turns_it_back_on() {
    let home = temp_dir();
    let files = files_left_by_a_run(home.path(), None);
    assert!(
        files.iter().all(|file| !file.contains("Microsoft")),
        "nothing of ONNX Runtime's telemetry is written by default: {files:?}"
    );
    assert!(files.iter().any(|file| file.starts_with("inferx-cache/")), "the run wrote its graph cache: {files:?}");

    // The user's own setting stands, which also shows this test would see the store.
    let home = temp_dir();
    let files = files_left_by_a_run(home.path(), Some("0"));
    assert!(
        files.iter().any(|file| file.contains("Microsoft/DeveloperTools/.onnxruntime/")),
        "with ORT_DISABLE_TELEMETRY=0, ONNX Runtime keeps its store as it would without inferx: {files:?}"
    );
}
