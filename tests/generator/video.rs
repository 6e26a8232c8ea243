//! `inferx template yolo --video`: a project whose `predict` reads a video as `inferx run`
//! does (the same JSON Lines, with and without `--track`; an annotated MP4 with `--save`; an
//! RTSP stream with `lag_ms` and the password hidden);
//! `inferx api`, `inferx upgrade` and `inferx docker` keep the choice, and its Dockerfile
//! installs FFmpeg in the builder, carries its libraries and passes the linters.

use std::path::Path;

use crate::{docker::check_deploy, support::*};

fn read(project: &Path, path: &str) -> String {
    std::fs::read_to_string(project.join(path)).unwrap()
}

#[test]
fn api_upgrade_and_docker_keep_video_and_its_dockerfile_carries_ffmpeg_and_passes_the_linters() {
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), "clip-api", &["--video"]);
    assert!(read(&project, "Cargo.toml").contains(r#"features = ["logging", "video"]"#));
    assert!(read(&project, "src/main.rs").contains("fn predict_video("));
    assert!(read(&project, "README.md").contains("## Video files"));

    // An upgrade re-renders the project from its own facts: with video, nothing to change.
    let before = file_tree(&project);
    inferx().arg("upgrade").arg(&project).assert().success();
    let after = file_tree(&project);
    let changed: Vec<&String> = after.keys().filter(|path| before.get(*path) != after.get(*path)).collect();
    assert!(changed.is_empty() && after.len() == before.len(), "the upgrade changed {changed:?}");

    // The server added later: main.rs keeps reading videos, and so it does after an upgrade.
    inferx().arg("api").arg(&project).assert().success();
    let main = read(&project, "src/main.rs");
    assert!(main.contains("fn predict_video(") && main.contains("mod server;"), "{main}");
    assert!(read(&project, "Cargo.toml").contains(r#"features = ["logging", "video", "server"]"#));
    inferx().arg("upgrade").arg(&project).assert().success();
    assert_eq!(read(&project, "src/main.rs"), main);
    assert!(read(&project, "Cargo.toml").contains(r#"features = ["logging", "video", "server"]"#));

    inferx().args(["docker", "--skip-runtime"]).arg(&project).assert().success();
    let dockerfile = read(&project, "Dockerfile");
    insta::with_settings!({
        snapshot_path => repo().join("snapshots"),
        prepend_module_to_snapshot => false,
        filters => vec![(r"(?i)(inferx) \d+\.\d+\.\d+", "$1 [VERSION]")],
    }, {
        insta::assert_snapshot!("docker_video", dockerfile);
    });
    check_deploy(&project, false);
    // The CUDA image (Ubuntu) takes the same libraries, built on Debian 12 as the binary is.
    inferx().args(["docker", "--gpu", "--skip-runtime"]).arg(&project).assert().success();
    assert!(read(&project, "Dockerfile").contains("COPY --from=builder --chmod=0555 /out/lib/ /usr/lib/"));
    check_deploy(&project, true);

    // `inferx api --name` generates the same project in one step.
    inferx()
        .args(["api", "--name", "clip-api", "--video", "--no-git", "--dir"])
        .arg(dir.path().join("again"))
        .arg("--model")
        .arg(detector())
        .assert()
        .success();
    assert_eq!(read(&dir.path().join("again/clip-api"), "src/main.rs"), main);

    // Without video, the image stays as it was: no FFmpeg.
    let plain = crate::docker::api_project(dir.path(), "plain-api");
    inferx().args(["docker", "--skip-runtime"]).arg(&plain).assert().success();
    let plain = read(&plain, "Dockerfile");
    assert!(!plain.contains("libavcodec") && !plain.contains("/out/lib/"), "{plain}");
}

#[test]
fn video_is_refused_for_templates_that_do_not_detect() {
    let dir = temp_dir();
    let output = inferx()
        .args(["template", "classification", "--name", "orientation", "--video", "--dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("--video needs a detection template (yolo, yolo_openvino)"), "{stderr}");
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0, "nothing written");
}

/// The generated project compiled with the runtime's `video` feature (FFmpeg's libraries) and
/// its `predict` compared with `inferx run` (built with `--features video`) on the same clip.
#[cfg(feature = "video")]
#[test]
fn a_generated_video_project_predicts_a_clip_as_inferx_run_does() {
    use crate::build::{build_project_with, cargo, shared_target, Runtime};
    let model = detector();
    let (_guard, project) = build_project_with("yolo", "clip-app", &model, &["--video"], Runtime::Shared, |_| {});
    cargo(&project, &["fmt", "--check"]);
    let binary = shared_target().join("debug/clip-app");
    let clip = clips().join("faces.mp4");
    let predict = |flags: &[&str]| {
        let output = std::process::Command::new(&binary)
            .current_dir(&project)
            .arg("predict")
            .arg(&clip)
            .args(flags)
            .output()
            .unwrap();
        (json_lines(&output), String::from_utf8_lossy(&output.stderr).into_owned())
    };
    let run = |flags: &[&str]| {
        json_lines(&inferx().arg("run").arg(&model).arg(&clip).args(["--size", "320"]).args(flags).output().unwrap())
    };
    for flags in [&["--json"][..], &["--json", "--track"], &["--json", "--vid-stride", "3"]] {
        let (records, stderr) = predict(flags);
        let reference = run(flags);
        assert_eq!(records.len(), reference.len(), "{flags:?}");
        assert_eq!(records.len(), if flags.contains(&"--vid-stride") { 6 } else { 16 }, "{flags:?}");
        assert!(stderr.contains(&format!("{} frames in ", records.len())), "{stderr}");
        let found: usize = records.iter().map(|record| detections_of(record).len()).sum();
        assert!(found >= records.len(), "the face is found ({found} detections in {} frames)", records.len());
        for (record, cli_record) in records.iter().zip(&reference) {
            assert_eq!((&record["frame"], &record["pts_ms"]), (&cli_record["frame"], &cli_record["pts_ms"]));
            let ids = |record: &serde_json::Value| -> Vec<serde_json::Value> {
                record["detections"].as_array().unwrap().iter().map(|d| d["track_id"].clone()).collect()
            };
            assert_eq!(ids(record), ids(cli_record), "{record}\n{cli_record}");
            assert_same_detections("a frame", &detections_of(record), &detections_of(cli_record), 1e-5, 1e-2);
        }
    }
    // --save: an annotated H.264 MP4 of every frame, that ffprobe reads.
    let out = temp_dir();
    let (records, stderr) = predict(&["--json", "--track", "--save", out.path().to_str().unwrap()]);
    assert_eq!(records.len(), 16);
    assert!(stderr.contains("annotated video written to"), "{stderr}");
    let saved = ffprobe_frames(&out.path().join("faces.mp4"));
    assert_eq!(saved.len(), 16);
    assert!(saved.iter().all(|&(_, width, height)| (width, height) == (480, 360)), "{saved:?}");
    // A video with other inputs, and --save --track on images, are refused as by inferx run.
    let mixed = std::process::Command::new(&binary)
        .current_dir(&project)
        .arg("predict")
        .arg(&clip)
        .arg(images().join("astronaut.png"))
        .output()
        .unwrap();
    assert!(!mixed.status.success());
    assert!(String::from_utf8_lossy(&mixed.stderr).contains("run one video or live source at a time"));
    // A live source, as `inferx run` takes it: records with `lag_ms`, stopped by --duration.
    let server = RtspServer::start(free_port(), "320x240", 30, &face_picture(out.path()));
    let url = server.url.replace("rtsp://", "rtsp://viewer:s3cret@");
    let live = std::process::Command::new(&binary)
        .current_dir(&project)
        .args(["predict", &url, "--json", "--track", "--duration", "2"])
        .output()
        .unwrap();
    let records = json_lines(&live);
    let stderr = String::from_utf8_lossy(&live.stderr);
    assert!(records.len() >= 3 && records.iter().all(|record| record["lag_ms"].is_number()), "{stderr}");
    assert!(
        stderr.contains("reconnects") && stderr.contains("rtsp://***@127.0.0.1") && !stderr.contains("s3cret"),
        "{stderr}"
    );
}
