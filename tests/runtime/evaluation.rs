//! The detection metrics equal pycocotools' COCOeval on synthetic sets with every rule it has
//! (crowd boxes, ties, over 100 detections per image, areas of every range, a category without
//! ground truth): `tests/goldens/val_coco_cases.json`, from `scripts/reference_val.py goldens`.

use inferx_runtime::evaluation::detection::{evaluate, DetectedBox, GroundTruthBox};
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
