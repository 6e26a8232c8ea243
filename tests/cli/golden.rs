//! `inferx run` on the real nudenet YOLOv8n detector matches the reference script's goldens.

use crate::support::*;

/// PNG decoding is lossless and the letterbox is bit-exact with OpenCV, so scores match the
/// reference to float precision; JPEG decoders differ slightly (a few levels on <1% of pixels).
fn tolerances(image: &str) -> (f64, f64) {
    if image.ends_with(".png") {
        (1e-3, 1.0)
    } else {
        (1e-2, 2.0)
    }
}

fn check_size(size: u32) {
    let golden = golden(&format!("detection_nudenet-320n_{size}.json"));
    let records =
        run_json(inferx().arg("run").arg(detector()).arg(images()).args(["--size", &size.to_string(), "--json"]));
    let records = records.as_array().expect("a JSON array");
    let expected_images = golden["images"].as_object().unwrap();
    assert_eq!(records.len(), expected_images.len(), "every sample photo gets a record");
    for record in records {
        let image =
            std::path::Path::new(record["image"].as_str().unwrap()).file_name().unwrap().to_string_lossy().into_owned();
        let (score_tolerance, pixel_tolerance) = tolerances(&image);
        assert_same_detections(
            &image,
            &detections_of(record),
            &golden_detections(&golden, &image),
            score_tolerance,
            pixel_tolerance,
        );
        assert_eq!(record["task"], "detection");
    }
}

#[test]
fn detections_at_320_match_the_reference() {
    check_size(320);
}

#[test]
fn detections_at_640_match_the_reference() {
    check_size(640);
}

#[test]
fn labels_come_from_the_model_metadata() {
    let records = run_json(inferx().arg("run").arg(detector()).arg(images().join("astronaut.png")).args(["--json"]));
    assert_eq!(records[0]["detections"][0]["label"], "FACE_FEMALE");
}

#[test]
fn save_writes_annotated_images_that_differ_from_the_input() {
    let out = temp_dir();
    inferx()
        .arg("run")
        .arg(detector())
        .arg(images().join("astronaut.png"))
        .arg("--save")
        .arg(out.path())
        .assert()
        .success();
    let annotated = image::open(out.path().join("astronaut.png")).expect("annotated image").to_rgb8();
    let original = image::open(images().join("astronaut.png")).unwrap().to_rgb8();
    assert_eq!(annotated.dimensions(), original.dimensions());
    let changed = annotated.pixels().zip(original.pixels()).filter(|(a, b)| a != b).count();
    assert!(changed > 500, "a box and a label are drawn ({changed} pixels changed)");
}
