//! A pipeline fixes the symbolic height and width of its model's input to the size its
//! preprocessing always produces (ONNX Runtime then plans memory for concrete shapes and
//! creates the session several times faster), keeps the batch free, and leaves the dimensions
//! free where sizes vary.

use image::DynamicImage;
use inferx_runtime::{
    preprocess::{PreprocessConfig, ResizeMode},
    GraphCache, Pipeline, PipelineOptions, SessionOptions, TaskKind,
};

use crate::support::*;

fn detector_at(size: u32, session: SessionOptions) -> Pipeline {
    let options = PipelineOptions { input_size: Some(size), session, ..PipelineOptions::for_task(TaskKind::Detection) };
    Pipeline::load(detector(), options).expect("the detector loads")
}

fn input_shape(pipeline: &Pipeline) -> Vec<i64> {
    pipeline.engine().info().inputs[0].shape.clone()
}

#[test]
fn the_detectors_height_and_width_are_fixed_and_results_do_not_change() {
    let fixed = detector_at(320, SessionOptions::default());
    assert_eq!(input_shape(&fixed), [-1, 3, 320, 320], "height and width fixed, the batch free");
    let free = detector_at(320, SessionOptions { dimension_overrides: Some(Vec::new()), ..SessionOptions::default() });
    assert_eq!(input_shape(&free), [-1, 3, -1, -1], "an explicit empty list keeps the model's dimensions");

    for image in ["astronaut.png", "grace_hopper.jpg", "camera.png"] {
        let expected = prediction_detections(&free.predict_path(images().join(image)).unwrap());
        assert!(!expected.is_empty(), "{image}: the detector finds something");
        let actual = prediction_detections(&fixed.predict_path(images().join(image)).unwrap());
        assert_same_detections(image, &actual, &expected, 1e-5, 1e-3);
    }

    // The batch is still free: two photos in one run.
    let photos: Vec<DynamicImage> =
        ["astronaut.png", "camera.png"].iter().map(|name| image::open(images().join(name)).unwrap()).collect();
    let batch = fixed.predict_batch(&photos).unwrap();
    assert_eq!(batch.len(), 2);
    for (prediction, photo) in batch.iter().zip(&photos) {
        let alone = fixed.predict(photo).unwrap();
        assert_eq!(prediction_detections(prediction), prediction_detections(&alone));
    }

    // A tensor of another size is refused by ONNX Runtime, naming the size it expects.
    let error = fixed.engine().run(&[1, 3, 640, 640], &vec![0.0; 3 * 640 * 640]).unwrap_err().to_string();
    assert!(error.contains("Expected: 320"), "{error}");
}

#[test]
fn each_size_keeps_its_own_cached_graph() {
    let dir = temp_dir();
    let cached = || SessionOptions { optimized_cache: Some(dir.path().to_path_buf()), ..SessionOptions::default() };
    assert_eq!(detector_at(320, cached()).engine().graph_cache(), GraphCache::Saved);
    assert_eq!(detector_at(640, cached()).engine().graph_cache(), GraphCache::Saved, "not the 320 graph");
    let again = detector_at(320, cached());
    assert_eq!(again.engine().graph_cache(), GraphCache::Loaded);
    assert_eq!(input_shape(&again), [-1, 3, 320, 320]);
    let mut names: Vec<String> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    assert_eq!(names.len(), 2, "{names:?}");
    assert!(names[0].contains("-320x320-") && names[1].contains("-640x640-"), "{names:?}");
}

#[test]
fn varying_sizes_and_raw_tensors_keep_the_dimensions_free() {
    // rapidocr's preprocessing gives each photo its own size.
    let input =
        PreprocessConfig { resize: ResizeMode::FitMultiple, limit_side: 736, multiple: 32, ..Default::default() };
    let options = PipelineOptions { input: Some(input), ..PipelineOptions::for_task(TaskKind::Segmentation) };
    let text = Pipeline::load(fixture("models/ch_PP-OCRv4_det_infer.onnx"), options).unwrap();
    assert_eq!(input_shape(&text), [-1, 3, -1, -1]);

    // At a fixed size the same model has its height and width fixed.
    let options = PipelineOptions { input_size: Some(640), ..PipelineOptions::for_task(TaskKind::Segmentation) };
    let text = Pipeline::load(fixture("models/ch_PP-OCRv4_det_infer.onnx"), options).unwrap();
    assert_eq!(input_shape(&text), [-1, 3, 640, 640]);

    // The custom task feeds tensors of any shape.
    let custom = Pipeline::load(detector(), PipelineOptions::for_task(TaskKind::Custom)).unwrap();
    assert_eq!(input_shape(&custom), [-1, 3, -1, -1]);
}
