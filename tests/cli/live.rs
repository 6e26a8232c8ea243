//! `inferx run MODEL rtsp://...` end to end (the `video` feature), against
//! `tests/live/rtsp_server.py` on 127.0.0.1: JSON Lines with `lag_ms`, the summary with drops
//! and reconnects, `--duration`, Ctrl-C ending cleanly with the summary, and the password in
//! the URL shown nowhere.

use std::{
    io::{BufRead, BufReader},
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use serde_json::Value;

use crate::support::*;

#[test]
fn ctrl_c_ends_a_tracked_rtsp_run_cleanly_with_the_summary_and_no_password_anywhere() {
    let dir = temp_dir();
    let port = free_port();
    let _server = RtspServer::start(port, "480x360", 30, &face_picture(dir.path()));
    let url = format!("rtsp://admin:s3cret@127.0.0.1:{port}/live");
    let out = temp_dir();
    let mut child = inferx_process()
        .args(["run"])
        .arg(detector())
        .arg(&url)
        .args(["--size", "320", "--json", "--track", "--save"])
        .arg(out.path())
        .env("INFERX_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let mut records = Vec::new();
    for line in lines.by_ref().take(5) {
        records.push(serde_json::from_str::<Value>(&line.unwrap()).unwrap());
    }
    assert_eq!(records.len(), 5, "five frames before Ctrl-C");
    let interrupted = Instant::now();
    let status = Command::new("kill").args(["-INT", &child.id().to_string()]).status().unwrap();
    assert!(status.success());
    records.extend(lines.map(|line| serde_json::from_str::<Value>(&line.unwrap()).unwrap()));
    let output = child.wait_with_output().unwrap();
    assert!(interrupted.elapsed() < Duration::from_secs(5), "Ctrl-C took {:?}", interrupted.elapsed());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    assert!(records.iter().all(|record| record["lag_ms"].as_f64().is_some() && record["detections"].is_array()));
    assert!(stderr.contains(&format!("{} frames in ", records.len())), "{stderr}");
    assert!(stderr.contains("dropped · 0 reconnects") && stderr.contains("lag "), "{stderr}");
    assert!(stderr.contains(&format!("rtsp://***@127.0.0.1:{port}/live · live, frames at 480x360")), "{stderr}");
    // The annotated video is finished (the MP4 is playable), named after the host and path.
    let saved = out.path().join("127.0.0.1-live.mp4");
    assert!(stderr.contains(&format!("annotated video written to `{}`", saved.display())), "{stderr}");
    assert_eq!(ffprobe_frames(&saved).len(), records.len());
    assert!(!stderr.contains("s3cret"), "{stderr}");
}

#[test]
fn duration_ends_an_rtsp_run_and_an_unreachable_one_fails_at_once() {
    let dir = temp_dir();
    let server = RtspServer::start(free_port(), "320x240", 30, &face_picture(dir.path()));
    let started = Instant::now();
    let output = inferx_process()
        .args(["run"])
        .arg(detector())
        .arg(&server.url)
        .args(["--size", "320", "--json", "--duration", "2"])
        .output()
        .unwrap();
    let records = json_lines(&output);
    assert!(started.elapsed() < Duration::from_secs(15));
    assert!(records.len() >= 3, "{} frames in 2 s", records.len());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("detections: FACE_FEMALE"), "{stderr}");
    // Nothing listens on this port: refused at once, with the fix, and exit 1.
    let started = Instant::now();
    let url = format!("rtsp://viewer:s3cret@127.0.0.1:{}/live", free_port());
    let output = inferx_process().args(["run"]).arg(detector()).arg(&url).output().unwrap();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("could not read live source `rtsp://***@127.0.0.1:"), "{stderr}");
    assert!(stderr.contains("the connection was refused") && !stderr.contains("s3cret"), "{stderr}");
    // A missing camera, the same.
    let output = inferx_process().args(["run"]).arg(detector()).arg("/dev/video97").output().unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("no such camera device"));
}
