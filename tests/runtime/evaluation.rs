//! The detection metrics equal pycocotools' COCOeval on synthetic sets with every rule it has
//! (crowd boxes, ties, over 100 detections per image, areas of every range, a category without
//! ground truth): `tests/goldens/val_coco_cases.json`, from `scripts/reference_val.py goldens`;
//! mask metrics equal COCOeval (segm) and polygons rasterise to pycocotools' pixels
//! (`val_mask_cases.json`, `mask-goldens`); mIoU equals NumPy's, AUROC scikit-learn's and the
//! F1-optimal threshold anomalib's (`val_map_cases.json`, `map-goldens`).

use std::collections::HashMap;

use inferx_runtime::evaluation::{
    anomaly::{auroc, f1_optimal_threshold},
    detection::{evaluate, DetectedBox, GroundTruthBox},
    masks::{self, CocoRle, DetectedMask, GroundTruthMask},
    segmentation::SegmentationTally,
};
use serde_json::Value;

use crate::support::*;

/// A COCO image id as pycocotools sorts it (all numbers or all strings in one file).
fn id_key(id: &Value) -> (i64, String) {
    (id.as_i64().unwrap_or(0), id.as_str().unwrap_or_default().to_string())
}

fn bbox(value: &Value) -> [f64; 4] {
    let numbers: Vec<f64> = value.as_array().unwrap().iter().map(|v| v.as_f64().unwrap()).collect();
    [numbers[0], numbers[1], numbers[2], numbers[3]]
}

#[test]
fn detection_metrics_equal_pycocotools_on_synthetic_sets() {
    let golden = golden("val_coco_cases.json");
    for case in golden["cases"].as_array().unwrap() {
        let truth = &case["ground_truth"];
        let mut ids: Vec<(i64, String)> =
            truth["images"].as_array().unwrap().iter().map(|image| id_key(&image["id"])).collect();
        ids.sort();
        let image_of = |id: &Value| ids.binary_search(&id_key(id)).unwrap();
        let categories: Vec<u64> =
            truth["categories"].as_array().unwrap().iter().map(|category| category["id"].as_u64().unwrap()).collect();
        let ground_truth: Vec<GroundTruthBox> = truth["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|annotation| GroundTruthBox {
                image: image_of(&annotation["image_id"]),
                category: annotation["category_id"].as_u64().unwrap(),
                bbox: bbox(&annotation["bbox"]),
                area: annotation["area"].as_f64().unwrap(),
                crowd: annotation["iscrowd"].as_u64() == Some(1),
                id: annotation["id"].as_u64().unwrap(),
            })
            .collect();
        let detections: Vec<DetectedBox> = case["detections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|detection| DetectedBox {
                image: image_of(&detection["image_id"]),
                category: detection["category_id"].as_u64().unwrap(),
                bbox: bbox(&detection["bbox"]),
                score: detection["score"].as_f64().unwrap(),
            })
            .collect();
        let ours = evaluate(ids.len(), &categories, &ground_truth, &detections);
        let theirs = &case["pycocotools"];
        let seed = &case["seed"];
        for (index, (mine, reference)) in
            ours.stats.to_array().iter().zip(theirs["stats"].as_array().unwrap()).enumerate()
        {
            let reference = reference.as_f64().unwrap();
            assert!((mine - reference).abs() < 1e-12, "case {seed}: stats[{index}] {mine} != pycocotools {reference}");
        }
        for class in &ours.categories {
            let reference = &theirs["per_category"][class.category.to_string()];
            for (name, mine) in [("ap50_95", class.ap50_95), ("ap50", class.ap50)] {
                match (mine, reference[name].as_f64()) {
                    (Some(mine), Some(reference)) => {
                        assert!(
                            (mine - reference).abs() < 1e-12,
                            "case {seed}: class {} {name} {mine} != {reference}",
                            class.category
                        );
                    }
                    (None, None) => {}
                    other => panic!("case {seed}: class {} {name}: ours and pycocotools' {other:?}", class.category),
                }
            }
        }
    }
}

/// An image id as pycocotools sorts it, and an image's (width, height).
type SortedIds = Vec<(i64, String)>;
type ImageSizes = HashMap<(i64, String), (u32, u32)>;

/// The images of a COCO file numbered as pycocotools sorts their ids, with their sizes.
fn numbered_images(truth: &Value) -> (SortedIds, ImageSizes) {
    let mut ids: Vec<(i64, String)> =
        truth["images"].as_array().unwrap().iter().map(|image| id_key(&image["id"])).collect();
    ids.sort();
    let sizes = truth["images"]
        .as_array()
        .unwrap()
        .iter()
        .map(|image| {
            (id_key(&image["id"]), (image["width"].as_u64().unwrap() as u32, image["height"].as_u64().unwrap() as u32))
        })
        .collect();
    (ids, sizes)
}

fn polygons(value: &Value) -> Vec<Vec<f64>> {
    value.as_array().unwrap().iter().map(floats).collect()
}

fn floats(value: &Value) -> Vec<f64> {
    value.as_array().unwrap().iter().map(|number| number.as_f64().unwrap()).collect()
}

#[test]
fn polygons_rasterise_to_the_pixels_pycocotools_gives() {
    let golden = golden("val_mask_cases.json");
    let mut checked = 0;
    for case in golden["cases"].as_array().unwrap() {
        let truth = &case["ground_truth"];
        let (_, sizes) = numbered_images(truth);
        for annotation in truth["annotations"].as_array().unwrap() {
            let (width, height) = sizes[&id_key(&annotation["image_id"])];
            let ours = CocoRle::from_polygons(&polygons(&annotation["segmentation"]), width, height);
            let theirs = case["rasterised"][annotation["id"].to_string()].as_str().unwrap();
            assert_eq!(ours.to_compressed(), theirs, "annotation {} of case {}", annotation["id"], case["seed"]);
            assert_eq!(ours.area() as f64, annotation["area"].as_f64().unwrap());
            assert_eq!(ours.bbox().to_vec(), floats(&annotation["bbox"]));
            checked += 1;
        }
    }
    assert!(checked > 50, "{checked} polygons");
}

#[test]
fn mask_metrics_equal_pycocotools_segm_on_synthetic_sets() {
    let golden = golden("val_mask_cases.json");
    for case in golden["cases"].as_array().unwrap() {
        let truth = &case["ground_truth"];
        let (ids, sizes) = numbered_images(truth);
        let image_of = |id: &Value| ids.binary_search(&id_key(id)).unwrap();
        let categories: Vec<u64> =
            truth["categories"].as_array().unwrap().iter().map(|category| category["id"].as_u64().unwrap()).collect();
        let ground_truth: Vec<GroundTruthMask> = truth["annotations"]
            .as_array()
            .unwrap()
            .iter()
            .map(|annotation| {
                let (width, height) = sizes[&id_key(&annotation["image_id"])];
                GroundTruthMask {
                    image: image_of(&annotation["image_id"]),
                    category: annotation["category_id"].as_u64().unwrap(),
                    mask: CocoRle::from_polygons(&polygons(&annotation["segmentation"]), width, height),
                    area: annotation["area"].as_f64().unwrap(),
                    crowd: annotation["iscrowd"].as_u64() == Some(1),
                    id: annotation["id"].as_u64().unwrap(),
                }
            })
            .collect();
        let detections: Vec<DetectedMask> = case["detections"]
            .as_array()
            .unwrap()
            .iter()
            .map(|detection| {
                let (width, height) = sizes[&id_key(&detection["image_id"])];
                let counts = detection["segmentation"]["counts"].as_str().unwrap();
                DetectedMask {
                    image: image_of(&detection["image_id"]),
                    category: detection["category_id"].as_u64().unwrap(),
                    mask: CocoRle::from_compressed(counts, width, height).unwrap(),
                    score: detection["score"].as_f64().unwrap(),
                }
            })
            .collect();
        let ours = masks::evaluate(ids.len(), &categories, &ground_truth, &detections);
        let theirs = &case["pycocotools"];
        let seed = &case["seed"];
        for (index, (mine, reference)) in
            ours.stats.to_array().iter().zip(theirs["stats"].as_array().unwrap()).enumerate()
        {
            let reference = reference.as_f64().unwrap();
            assert!(
                (mine - reference).abs() < 1e-9,
                "case {seed}: segm stats[{index}] {mine} != pycocotools {reference}"
            );
        }
        for class in &ours.categories {
            let reference = theirs["per_category"][class.category.to_string()]["ap50_95"].as_f64();
            match (class.ap50_95, reference) {
                (Some(mine), Some(reference)) => {
                    assert!((mine - reference).abs() < 1e-9, "case {seed}: {mine} {reference}");
                }
                (None, None) => {}
                other => panic!("case {seed}: class {}: ours and pycocotools' {other:?}", class.category),
            }
        }
    }
}

#[test]
fn segmentation_metrics_equal_a_numpy_reference() {
    let golden = golden("val_map_cases.json");
    let mut absent_classes = 0;
    for case in golden["cases"].as_array().unwrap() {
        let set = &case["segmentation"];
        let map = |value: &Value| -> Vec<u16> {
            value
                .as_array()
                .unwrap()
                .iter()
                .flat_map(|row| row.as_array().unwrap())
                .map(|v| v.as_u64().unwrap() as u16)
                .collect()
        };
        let mut tally = SegmentationTally::new(set["classes"].as_u64().unwrap() as usize);
        for (truth, predicted) in set["truths"].as_array().unwrap().iter().zip(set["predictions"].as_array().unwrap()) {
            tally.add(&map(truth), &map(predicted));
        }
        let ours = tally.result();
        let numpy = &set["numpy"];
        let seed = &case["seed"];
        let close = |mine: f64, name: &str| {
            let reference = numpy[name].as_f64().unwrap();
            assert!((mine - reference).abs() < 1e-12, "case {seed}: {name} {mine} != NumPy {reference}");
        };
        close(ours.mean_iou, "mean_iou");
        close(ours.mean_class_accuracy, "mean_class_accuracy");
        close(ours.pixel_accuracy, "pixel_accuracy");
        for (name, mine) in [("iou", &ours.iou), ("class_accuracy", &ours.class_accuracy)] {
            let reference: Vec<Option<f64>> = numpy[name].as_array().unwrap().iter().map(Value::as_f64).collect();
            assert_eq!(mine.len(), reference.len());
            for (mine, reference) in mine.iter().zip(&reference) {
                match (mine, reference) {
                    (Some(mine), Some(reference)) => assert!((mine - reference).abs() < 1e-12, "case {seed}: {name}"),
                    (None, None) => {}
                    other => panic!("case {seed}: {name}: ours and NumPy's {other:?}"),
                }
            }
        }
        absent_classes += ours.iou.iter().filter(|iou| iou.is_none()).count();
    }
    assert!(absent_classes > 0, "the cases have a class neither labelled nor predicted");
}

#[test]
fn auroc_equals_scikit_learn_with_ties_and_the_f1_threshold_equals_anomalib() {
    let golden = golden("val_map_cases.json");
    for case in golden["cases"].as_array().unwrap() {
        let set = &case["anomaly"];
        let seed = &case["seed"];
        let scores = |name: &str| -> Vec<f32> { floats(&set[name]).iter().map(|&v| v as f32).collect() };
        let labels = |name: &str| -> Vec<bool> { set[name].as_array().unwrap().iter().map(|v| v == 1).collect() };
        let image = auroc(&scores("scores"), &labels("labels")).unwrap();
        let pixel = auroc(&scores("pixel_scores"), &labels("pixel_labels")).unwrap();
        for (name, mine) in [("image_auroc", image), ("pixel_auroc", pixel)] {
            let reference = set[name].as_f64().unwrap();
            assert!((mine - reference).abs() < 1e-6, "case {seed}: {name} {mine} != scikit-learn {reference}");
        }
        let best = f1_optimal_threshold(&scores("scores"), &labels("labels")).unwrap();
        let reference = &set["f1_threshold"];
        assert_eq!(f64::from(best.threshold), reference["threshold"].as_f64().unwrap(), "case {seed}");
        for (name, mine) in [("f1", best.f1), ("precision", best.precision), ("recall", best.recall)] {
            let reference = reference[name].as_f64().unwrap();
            assert!((mine - reference).abs() < 1e-12, "case {seed}: {name} {mine} != {reference}");
        }
    }
}
