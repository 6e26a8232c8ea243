//! The generated binary's loader (`info`, `predict`, `serve`) refuses the files a project
//! names when they lead out of the project or are no regular file (#26), run as users run it:
//! from the project folder, with a config file named bare, whose folder is the current one.

use std::{
    path::Path,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use inferx_runtime::ProjectConfig;

use super::{
    build::shared_target,
    quickstart::{quickstart, PROJECT_NAME},
};
use crate::support::*;

/// Runs the project's binary in `project` with `args`, killing it after `limit`; whether it
/// succeeded, its stderr, and how long it ran.
fn run_bounded(project: &Path, args: &[&str], limit: Duration) -> (bool, String, Duration) {
    let started = Instant::now();
    let mut child = Command::new(shared_target().join(format!("debug/{PROJECT_NAME}")))
        .current_dir(project)
        .args(args)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("`{}` still running after {limit:?} (blocked, or reading without end)", args.join(" "));
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
    (status.success(), stderr, started.elapsed())
}

#[test]
#[cfg(unix)]
fn the_binary_refuses_project_files_through_links_fifos_and_devices_promptly() {
    let project = quickstart().project.as_path();
    // Files of their own, beside those the other tests use: the project is shared.
    let files = project.join("links-26");
    let _ = std::fs::remove_dir_all(&files);
    std::fs::create_dir_all(&files).unwrap();
    let elsewhere = temp_dir();
    std::fs::copy(detector(), elsewhere.path().join("detector.onnx")).unwrap();
    // 18 lines: the detector's class count, so a labels file read from outside would load.
    let lines: String = (0..18).map(|class| format!("outside_{class}\n")).collect();
    write(&elsewhere.path().join("labels.txt"), lines);
    std::os::unix::fs::symlink(elsewhere.path().join("detector.onnx"), files.join("model.onnx")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path(), files.join("shared")).unwrap();
    std::os::unix::fs::symlink("/dev/zero", files.join("zero.txt")).unwrap();
    assert!(Command::new("mkfifo").arg(files.join("fifo.txt")).status().unwrap().success());
    std::fs::create_dir(files.join("folder.onnx")).unwrap();

    let base = ProjectConfig::load(&project.join("inferx.yaml")).unwrap();
    // (case, model.path, labels_file, words of the error)
    let cases = [
        (
            "model through a symlink out of the project",
            "links-26/model.onnx",
            None,
            "model.path `links-26/model.onnx` leads outside the project",
        ),
        (
            "labels through a symlinked folder",
            base.model.path.as_str(),
            Some("links-26/shared/labels.txt"),
            "labels_file `links-26/shared/labels.txt` leads outside the project",
        ),
        (
            "labels linked to /dev/zero",
            base.model.path.as_str(),
            Some("links-26/zero.txt"),
            "labels_file `links-26/zero.txt` leads outside the project, to `/dev/zero`",
        ),
        (
            "labels that are a FIFO",
            base.model.path.as_str(),
            Some("links-26/fifo.txt"),
            "labels_file `links-26/fifo.txt` is not a regular file (a FIFO, socket or device)",
        ),
        (
            "model that is a folder",
            "links-26/folder.onnx",
            None,
            "model.path `links-26/folder.onnx` is a folder, not a file",
        ),
    ];
    let photo = images().join("astronaut.png");
    let photo = photo.to_str().unwrap();
    for (index, (case, model, labels_file, words)) in cases.into_iter().enumerate() {
        let mut config = base.clone();
        config.model.path = model.to_string();
        if let Some(file) = labels_file {
            config.labels.clear();
            config.labels_file = Some(file.to_string());
        }
        let file = format!("inferx.links-26-{index}.yaml");
        std::fs::write(project.join(&file), config.to_yaml().unwrap()).unwrap();
        for command in [vec!["info"], vec!["predict", photo], vec!["serve", "--port", "0"]] {
            let args: Vec<&str> = ["--config", file.as_str()].into_iter().chain(command.iter().copied()).collect();
            let (success, stderr, took) = run_bounded(project, &args, Duration::from_secs(30));
            assert!(!success, "{case} ({}): refused", command[0]);
            assert!(took < Duration::from_secs(30), "{case} ({}): refused promptly", command[0]);
            assert!(stderr.contains(words), "{case} ({}): `{words}` in {stderr}", command[0]);
            assert!(
                !stderr.contains("outside_") && !stderr.contains("18 labels"),
                "{case} ({}): nothing read from outside: {stderr}",
                command[0]
            );
        }
        std::fs::remove_file(project.join(&file)).unwrap();
    }
    std::fs::remove_dir_all(&files).unwrap();
}
