//! Hostile and unusual inputs (`tests/fixtures/hostile/`, written by
//! `scripts/make_hostile_inputs.py`): every one gives either a prediction or a clear error
//! naming the file and the problem, with exit code 1: never a crash (101, a signal) or a hang.

use std::{path::PathBuf, time::Duration};

use crate::support::*;

fn hostile(name: &str) -> PathBuf {
    repo().join("tests/fixtures/hostile").join(name)
}

/// Runs `inferx run MODEL IMAGE --json [extra]` with a time limit: (exit code, stdout, stderr).
fn run(model: &PathBuf, image: &PathBuf, extra: &[&str]) -> (i32, String, String) {
    let output = inferx()
        .arg("run")
        .arg(model)
        .arg(image)
        .arg("--json")
        .args(extra)
        .timeout(Duration::from_secs(60))
        .output()
        .expect("inferx runs");
    let code =
        output.status.code().unwrap_or_else(|| panic!("{}: killed by a signal or the time limit", image.display()));
    (code, String::from_utf8_lossy(&output.stdout).into_owned(), String::from_utf8_lossy(&output.stderr).into_owned())
}

/// Expects a refusal: exit 1, the file named, and every fragment in the message.
fn assert_refused(model: &PathBuf, image: &PathBuf, fragments: &[&str]) {
    let (code, _, stderr) = run(model, image, &[]);
    assert_eq!(code, 1, "{}: {stderr}", image.display());
    assert!(!stderr.contains("panicked"), "{stderr}");
    let name = image.file_name().unwrap().to_string_lossy();
    assert!(stderr.contains(name.as_ref()), "the message names `{name}`: {stderr}");
    for fragment in fragments {
        assert!(stderr.contains(fragment), "`{name}`: expected `{fragment}` in: {stderr}");
    }
}

/// Expects a prediction and returns its record.
fn predicted(model: &PathBuf, image: &PathBuf) -> serde_json::Value {
    let (code, stdout, stderr) = run(model, image, &[]);
    assert_eq!(code, 0, "{}: {stderr}", image.display());
    let records: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    records[0].clone()
}

#[test]
fn decompression_bombs_are_refused_from_their_header() {
    let model = detector();
    assert_refused(&model, &hostile("bomb_dimensions.png"), &["could not read image", "16384 px per side"]);
    assert_refused(&model, &hostile("bomb_pixels.png"), &["its header says 16000x16000", "limits.max_alloc_bytes"]);
}

#[test]
fn truncated_corrupt_and_non_images_are_refused() {
    let model = detector();
    for (file, fragment) in [
        ("truncated.png", "could not read image"),
        ("truncated.jpg", "the JPEG is truncated"),
        ("corrupt_data.png", "could not read image"),
        ("header_only.jpg", "could not read image"),
        ("empty.png", "not a supported image format"),
        ("text.png", "not a supported image format"),
        ("random.jpg", "not a supported image format"),
        ("ragged_palette.png", "the PNG's palette (PLTE chunk) is 49 bytes"),
    ] {
        assert_refused(&model, &hostile(file), &[fragment]);
    }
}

#[test]
fn a_file_over_the_size_limit_is_refused_before_it_is_read() {
    let dir = temp_dir();
    let project = generate_yolo(dir.path(), "limited", &[]);
    let config = project.join("inferx.yaml");
    let mut settings = inferx_runtime::ProjectConfig::load(&config).unwrap();
    settings.limits.max_file_bytes = 1000;
    write(&config, settings.to_yaml().unwrap());
    let output = inferx()
        .arg("run")
        .arg(project.join("models/nudenet-320n.onnx"))
        .arg(hostile("rgb.png"))
        .arg("--config")
        .arg(&config)
        .timeout(Duration::from_secs(60))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("the file is 16526 bytes, over the 1000 byte limit"), "{stderr}");
}

#[test]
fn every_image_layout_is_read_and_exif_orientation_applied() {
    let model = detector();
    let reference = predicted(&model, &hostile("rgb.png"));
    assert_eq!((reference["width"].as_u64(), reference["height"].as_u64()), (Some(96), Some(64)));
    // Lossless encodings of the same pixels predict exactly the same.
    for file in ["rgb.bmp", "rgb.tiff", "rgb.webp", "rgba.png"] {
        let record = predicted(&model, &hostile(file));
        assert_eq!(record["detections"], reference["detections"], "{file}");
    }
    for file in [
        "gray.png",
        "gray_alpha.png",
        "palette.png",
        "gray16.png",
        "rgb16.png",
        "rgb.gif",
        "rgb.jpg",
        "cmyk.jpg",
        "gray.jpg",
        "progressive.jpg",
    ] {
        let record = predicted(&model, &hostile(file));
        assert_eq!((record["width"].as_u64(), record["height"].as_u64()), (Some(96), Some(64)), "{file}");
    }
    // Stored on its side (64 wide, 96 high) with EXIF orientation 6: upright it is 96x64.
    let rotated = predicted(&model, &hostile("exif_rotated.jpg"));
    assert_eq!((rotated["width"].as_u64(), rotated["height"].as_u64()), (Some(96), Some(64)));
    let tiny = predicted(&model, &hostile("one_pixel.png"));
    assert_eq!((tiny["width"].as_u64(), tiny["height"].as_u64()), (Some(1), Some(1)));
    let thin = predicted(&model, &hostile("extreme_aspect.png"));
    assert_eq!((thin["width"].as_u64(), thin["height"].as_u64()), (Some(4000), Some(2)));
}

#[test]
fn malformed_models_give_an_error_never_a_crash() {
    let image = hostile("rgb.png");
    for (model, extra, fragments) in [
        ("random_bytes.onnx", &[][..], &["random_bytes.onnx"][..]),
        ("empty.onnx", &[], &["empty.onnx"]),
        ("truncated_detector.onnx", &[], &["truncated_detector.onnx"]),
        ("future_opset.onnx", &["--task", "detection"], &["future_opset.onnx"]),
        ("detector_too_few_channels.onnx", &["--task", "detection"], &["does not fit the `detection` task"]),
        ("classifier_4d_output.onnx", &["--task", "classification"], &["does not fit the `classification` task"]),
        ("anomaly_feature_map.onnx", &["--task", "anomaly"], &["does not fit the `anomaly` task"]),
    ] {
        let (code, _, stderr) = run(&hostile(model), &image, extra);
        assert_eq!(code, 1, "{model}: {stderr}");
        assert!(!stderr.contains("panicked"), "{model}: {stderr}");
        for fragment in fragments {
            assert!(stderr.contains(fragment), "{model}: expected `{fragment}` in: {stderr}");
        }
    }
    // The same small graph with a sane opset runs: the refusal above is the opset's.
    let (code, _, stderr) = run(&hostile("tiny_detector.onnx"), &image, &["--task", "detection"]);
    assert_eq!(code, 0, "{stderr}");
}
