//! The book's quick start, run as written: every ```sh block of `book/src/quickstart.md`, in
//! order, in one bash session, in a folder holding the two files it asks for (`yolov8n.onnx`:
//! the real YOLOv8n detector; `photo.jpg`: a sample photo). Blocks tagged ```sh,docker need a
//! Docker engine and run only where `docker info` succeeds.
//!
//! The project it generates and builds is the one the server tests run against
//! ([`quickstart`] runs once per test binary), so the documented path is the tested one and
//! the suite compiles one project with the server, not two.

use std::{
    path::PathBuf,
    process::Command,
    sync::OnceLock,
    time::{Duration, Instant},
};

use super::build::shared_target;
use crate::support::*;

/// The fenced blocks of a Markdown text as (info string, body).
fn fenced_blocks(markdown: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String)> = None;
    for line in markdown.lines() {
        match (&mut open, line.strip_prefix("```")) {
            (None, Some(info)) => open = Some((info.trim().to_string(), String::new())),
            (Some(_), Some("")) => blocks.extend(open.take()),
            (Some((_, body)), _) => {
                body.push_str(line);
                body.push('\n');
            }
            (None, None) => {}
        }
    }
    blocks
}

/// The project the quick start generates (`inferx api --name people ...`).
pub(crate) const PROJECT_NAME: &str = "people";

/// A finished quick start: its folder, its project and what it printed.
pub(crate) struct Quickstart {
    /// The working folder.
    pub folder: PathBuf,
    /// The generated, built project.
    pub project: PathBuf,
    /// What the commands printed on stdout.
    pub stdout: String,
}

/// Runs the quick start once (the first caller waits for it), failing on any failed command.
pub(crate) fn quickstart() -> &'static Quickstart {
    static RUN: OnceLock<Quickstart> = OnceLock::new();
    RUN.get_or_init(run_quickstart)
}

fn run_quickstart() -> Quickstart {
    let markdown = std::fs::read_to_string(repo().join("book/src/quickstart.md")).unwrap();
    let blocks = fenced_blocks(&markdown);
    let docker = Command::new("docker").arg("info").output().is_ok_and(|output| output.status.success());
    let mut script = String::from("set -euo pipefail\n");
    let mut commands = 0;
    for (info, body) in &blocks {
        let runs = match info.as_str() {
            "sh" => true,
            "sh,docker" => docker,
            _ => false,
        };
        if !runs {
            if info.starts_with("sh") {
                eprintln!("quickstart: skipped a ```{info} block (no Docker engine here):\n{body}");
            }
            continue;
        }
        commands += body.lines().filter(|line| !line.trim().is_empty()).count();
        // A generated project has its Cargo.lock: the versions inferx is tested with.
        script.push_str(body);
    }
    assert!(commands >= 5, "the quick start has its commands in ```sh blocks: {blocks:?}");

    // A fixed folder under target/ rather than a temporary one: the run is kept in a static,
    // which is never dropped, so a temporary folder would be left behind in /tmp on every run.
    let folder = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("quickstart");
    if folder.exists() {
        std::fs::remove_dir_all(&folder).unwrap();
    }
    std::fs::create_dir_all(&folder).unwrap();
    std::fs::copy(detector(), folder.join("yolov8n.onnx")).unwrap();
    std::fs::copy(images().join("grace_hopper.jpg"), folder.join("photo.jpg")).unwrap();
    let bin = std::path::Path::new(env!("CARGO_BIN_EXE_inferx")).parent().unwrap().to_path_buf();
    let path = std::env::join_paths(
        std::iter::once(bin).chain(std::env::split_paths(&std::env::var_os("PATH").unwrap_or_default())),
    )
    .unwrap();
    let started = Instant::now();
    let output = Command::new("timeout")
        .args(["--kill-after=10", "1200", "bash", "-c", &script])
        .current_dir(&folder)
        .env("PATH", path)
        .env("CARGO_TARGET_DIR", shared_target())
        .env("INFERX_USER_CONFIG", "/nonexistent/inferx-test-user-config.yaml")
        .env_remove("RUSTFLAGS")
        .env_remove("INFERX_LOG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the quick start failed after {:?}:\n{script}\n{stdout}\n{stderr}",
        started.elapsed()
    );
    Quickstart { project: folder.join(PROJECT_NAME), folder, stdout }
}

#[test]
fn every_quickstart_command_runs() {
    let run = quickstart();
    // 1: the annotated copy; 2: the project; 3 and 4: its predictions, from the binary and
    // over HTTP; 5: the deployment files.
    assert!(run.folder.join("annotated").read_dir().unwrap().next().is_some(), "annotated/ holds the drawn photo");
    let project = &run.project;
    assert!(project.join("src/server.rs").is_file() && project.join("models/yolov8n.onnx").is_file());
    let reply = run
        .stdout
        .lines()
        .find_map(|line| {
            serde_json::from_str::<serde_json::Value>(line).ok().filter(|value| value.get("detections").is_some())
        })
        .unwrap_or_else(|| panic!("no /predict reply in:\n{}", run.stdout));
    assert!(!reply["detections"].as_array().unwrap().is_empty(), "{reply}");
    for file in ["Dockerfile", "docker-compose.yml", &format!("deploy/helm/{PROJECT_NAME}/Chart.yaml")] {
        assert!(project.join(file).is_file(), "{file}");
    }
    // `kill %1` stopped the server: nothing listens on its port any more.
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect("127.0.0.1:8080").is_ok() {
        assert!(Instant::now() < deadline, "the server still runs after the quick start");
        std::thread::sleep(Duration::from_millis(100));
    }
}
