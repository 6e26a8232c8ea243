//! Anomaly, semantic and YOLO-seg decoding on models built by `scripts/make_models.py`, whose
//! correct outputs are known by construction and recorded by the reference script.

use inferx_runtime::{
    preprocess::{PreprocessConfig, ResizeMode},
    results::PredictionOutput,
    Pipeline, PipelineOptions, TaskKind,
};

use crate::support::*;

fn counts(value: &serde_json::Value) -> Vec<u32> {
    value.as_array().unwrap().iter().map(|count| count.as_u64().unwrap() as u32).collect()
}

fn input(name: &str) -> std::path::PathBuf {
    repo().join("tests/goldens/inputs").join(name)
}

#[test]
fn the_anomaly_model_scores_the_defect_above_the_threshold_and_finds_it() {
    let golden = golden("anomaly_patchstats.json");
    let options = PipelineOptions {
        input: Some(PreprocessConfig::imagenet(256, ResizeMode::Stretch)),
        ..PipelineOptions::for_task(TaskKind::Anomaly)
    };
    let pipeline = Pipeline::load(fixture("models/anomaly_patchstats.onnx"), options).unwrap();
    let [x1, y1, x2, y2]: [f32; 4] = std::array::from_fn(|index| golden["defect_rect"][index].as_f64().unwrap() as f32);
    for (image, expected) in golden["images"].as_object().unwrap() {
        let prediction = pipeline.predict_path(input(image)).unwrap();
        let PredictionOutput::Anomaly(anomaly) = &prediction.output else { panic!("{image}: not an anomaly result") };
        assert!(
            (anomaly.score as f64 - expected["pred_score"].as_f64().unwrap()).abs() < 1e-4,
            "{image}: {}",
            anomaly.score
        );
        assert_eq!(anomaly.is_anomalous, expected["is_anomalous"].as_bool().unwrap(), "{image}");
        let region = anomaly.region.as_ref().expect("a map gives a region");
        assert_eq!(region.counts, counts(&expected["region_rle"]), "{image}: pixels above the threshold");
        let (peak_x, peak_y) = anomaly.peak;
        let golden_peak = &expected["peak"];
        assert_eq!(
            (peak_x - 0.5, peak_y - 0.5),
            (golden_peak[0].as_f64().unwrap() as f32, golden_peak[1].as_f64().unwrap() as f32)
        );
        let inside = peak_x >= x1 && peak_x < x2 && peak_y >= y1 && peak_y < y2;
        assert_eq!(inside, expected["peak_in_defect"].as_bool().unwrap(), "{image}: peak {:?}", anomaly.peak);
    }
}

#[test]
fn semantic_segmentation_gives_the_constructed_class_masks() {
    let golden = golden("semantic_rgb.json");
    let options = PipelineOptions {
        input: Some(PreprocessConfig {
            width: 64,
            height: 64,
            resize: ResizeMode::Stretch,
            ..PreprocessConfig::default()
        }),
        ..PipelineOptions::for_task(TaskKind::Segmentation)
    };
    let pipeline = Pipeline::load(fixture("models/semantic_rgb.onnx"), options).unwrap();
    assert_eq!(pipeline.labels(), ["background", "red", "green", "blue"], "labels from the model's metadata");
    let expected = &golden["images"]["semantic_shapes.png"];
    let prediction = pipeline.predict_path(input("semantic_shapes.png")).unwrap();
    let PredictionOutput::Segmentation(segmentation) = &prediction.output else { panic!("not a segmentation") };
    assert_eq!(segmentation.classes.len(), 3, "three foreground classes");
    for class in &segmentation.classes {
        let golden_class = &expected["classes"][class.class_id.to_string()];
        assert_eq!(class.label, golden_class["label"].as_str().unwrap());
        assert_eq!(class.area, golden_class["area"].as_u64().unwrap(), "{}", class.label);
        assert_eq!(class.mask.counts, counts(&golden_class["rle"]), "{} mask", class.label);
    }
    let regions: Vec<(usize, [f32; 4])> = segmentation
        .regions
        .iter()
        .map(|region| (region.class_id, [region.bbox.x1, region.bbox.y1, region.bbox.x2, region.bbox.y2]))
        .collect();
    let mut expected_regions: Vec<(usize, [f32; 4])> = expected["regions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|region| {
            let bbox: Vec<f32> =
                region["bbox"].as_array().unwrap().iter().map(|value| value.as_f64().unwrap() as f32).collect();
            (region["class_id"].as_u64().unwrap() as usize, [bbox[0], bbox[1], bbox[2], bbox[3]])
        })
        .collect();
    let mut sorted = regions.clone();
    sorted.sort_by(|a, b| a.1[1].total_cmp(&b.1[1]).then(a.1[0].total_cmp(&b.1[0])));
    expected_regions.sort_by(|a, b| a.1[1].total_cmp(&b.1[1]).then(a.1[0].total_cmp(&b.1[0])));
    assert_eq!(sorted, expected_regions, "connected regions and their boxes");
}

#[test]
fn yolo_seg_instances_have_the_constructed_boxes_and_masks() {
    let golden = golden("yoloseg_fixed.json");
    let pipeline = Pipeline::load(fixture("models/yoloseg_fixed.onnx"), PipelineOptions::default()).unwrap();
    assert_eq!(pipeline.task(), TaskKind::Segmentation, "guessed from the two outputs and the `task` metadata");
    let prediction = pipeline.predict_path(input("semantic_shapes.png")).unwrap();
    let PredictionOutput::Segmentation(segmentation) = &prediction.output else { panic!("not a segmentation") };
    let expected = golden["instances"].as_array().unwrap();
    assert_eq!(segmentation.instances.len(), expected.len(), "the duplicate is suppressed, the weak one dropped");
    for (instance, golden_instance) in segmentation.instances.iter().zip(expected) {
        assert_eq!(instance.class_id as u64, golden_instance["class_id"].as_u64().unwrap());
        assert_eq!(instance.label, golden_instance["label"].as_str().unwrap());
        assert!((instance.score as f64 - golden_instance["score"].as_f64().unwrap()).abs() < 1e-6);
        let bbox = [instance.bbox.x1, instance.bbox.y1, instance.bbox.x2, instance.bbox.y2];
        let golden_box: Vec<f32> =
            golden_instance["box"].as_array().unwrap().iter().map(|value| value.as_f64().unwrap() as f32).collect();
        assert_eq!(bbox.to_vec(), golden_box);
        let mask = instance.mask.as_ref().expect("instance mask");
        assert_eq!(mask.area(), golden_instance["mask_area"].as_u64().unwrap(), "{} mask area", instance.label);
        assert_eq!(mask.counts, counts(&golden_instance["mask_rle"]), "{} mask", instance.label);
    }
}
