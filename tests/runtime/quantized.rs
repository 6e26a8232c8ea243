//! A QDQ int8 model runs through the same pipeline as its float original and computes nearly
//! the same thing: `scripts/make_int8.py` quantizes the real detector with ONNX Runtime's own
//! `quantize_static` (QuantizeLinear/DequantizeLinear around each operator, int8 per-channel
//! weights, calibrated on the sample photos), as a user shipping a smaller model would.

use inferx_runtime::{
    preprocess::{load_image, Preprocessor, Scratch},
    Pipeline, PipelineOptions, TaskKind,
};

use crate::support::*;

fn int8_model() -> std::path::PathBuf {
    fixture("models/nudenet-320n-int8-qdq.onnx")
}

#[test]
fn an_int8_qdq_detector_computes_what_its_float_original_computes() {
    let options = PipelineOptions::for_task(TaskKind::Detection);
    let float = Pipeline::load(detector(), options.clone()).unwrap();
    let int8 = Pipeline::load(int8_model(), options).unwrap();
    // The same contract: outputs and class names (read from the model's metadata).
    assert_eq!(int8.labels(), float.labels());
    assert_eq!(int8.engine().info().outputs[0].shape, float.engine().info().outputs[0].shape);
    let size = |path: std::path::PathBuf| std::fs::metadata(path).unwrap().len();
    assert!(size(int8_model()) * 3 < size(detector()), "int8 weights: under a third of the float file");

    // Both models on the same preprocessed tensor, output [1, 4 + 18 classes, anchors].
    let preprocessor = Preprocessor::new(float.preprocess_config().clone());
    let config = float.preprocess_config();
    let shape = [1, 3, config.height as usize, config.width as usize];
    let (mut compared, mut worst_score, mut worst_box, mut score_error_sum, mut values) = (0, 0f32, 0f32, 0f64, 0);
    for entry in std::fs::read_dir(images()).unwrap() {
        let image = entry.unwrap().path();
        let mut tensor = vec![0.0f32; preprocessor.tensor_len()];
        preprocessor.fill(&load_image(&image, float.limits()).unwrap(), &mut Scratch::default(), &mut tensor).unwrap();
        let reference = float.engine().run(&shape, &tensor).unwrap().remove(0);
        let quantized = int8.engine().run(&shape, &tensor).unwrap().remove(0);
        assert_eq!(reference.shape, quantized.shape);
        let anchors = reference.shape[2];
        let at = |output: &[f32], row: usize, anchor: usize| output[row * anchors + anchor];
        for anchor in 0..anchors {
            for row in 4..reference.shape[1] {
                let error = (at(&reference.data, row, anchor) - at(&quantized.data, row, anchor)).abs();
                score_error_sum += error as f64;
                values += 1;
                // Where the float model is confident, the int8 one agrees on score and box.
                if at(&reference.data, row, anchor) >= 0.25 {
                    compared += 1;
                    worst_score = worst_score.max(error);
                    for coordinate in 0..4 {
                        let moved =
                            (at(&reference.data, coordinate, anchor) - at(&quantized.data, coordinate, anchor)).abs();
                        worst_box = worst_box.max(moved);
                    }
                }
            }
        }
    }
    let mean_score_error = score_error_sum / values as f64;
    eprintln!("{compared} confident anchor scores; worst score error {worst_score:.4}, worst box error {worst_box:.2} px, mean score error {mean_score_error:.5}");
    assert!(compared >= 20, "the photos give the float model confident anchors ({compared})");
    assert!(worst_score < 0.15, "worst score error {worst_score}");
    assert!(worst_box < 8.0, "worst box coordinate error {worst_box} px at 320");
    assert!(mean_score_error < 0.01, "mean score error {mean_score_error}");

    // And end to end, the same detections on the photos.
    for entry in std::fs::read_dir(images()).unwrap() {
        let image = entry.unwrap().path();
        let (reference, quantized) = (float.predict_path(&image).unwrap(), int8.predict_path(&image).unwrap());
        for wanted in reference.detections().iter().filter(|detection| detection.score >= 0.4) {
            assert!(
                quantized
                    .detections()
                    .iter()
                    .any(|found| found.class_id == wanted.class_id && found.bbox.iou(&wanted.bbox) >= 0.7),
                "{}: the int8 model misses {} {:.2} {:?}",
                image.display(),
                wanted.label,
                wanted.score,
                wanted.bbox
            );
        }
    }
}
