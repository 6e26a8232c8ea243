//! `inferx val`: accuracy of a model (or a project) on labelled data, through the pipeline
//! `run` and `serve` use (the same preprocessing, NMS and thresholds), on the folder pipeline
//! (decoding overlapped with inference). Detection metrics are pycocotools' (computed by
//! [`inferx_runtime::evaluation`]); classifiers get top-1, top-5 and a confusion matrix.

mod anomaly;
mod plots;
mod segmentation;

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    process::ExitCode,
    time::Instant,
};

use anyhow::{bail, Context};
use inferx_runtime::{
    evaluation::{
        classification::{ClassificationTally, TOP5},
        detection::{self, DetectedBox, GroundTruthBox},
        masks::{self, CocoRle, DetectedMask, GroundTruthMask},
        report::{self, ValReport},
    },
    PipelinePool, Prediction, PredictionOutput, TaskKind,
};

use crate::{cli::ValArgs, output::Printer};
use inferx_runtime::labelled_data::sets::{
    self as dataset, ClassificationData, Data, DetectionData, Format, ImageId, Problem,
};

/// Ultralytics' val confidence: keep nearly every box, so the curves reach full recall.
const DETECTION_CONF: f32 = 0.001;

pub(crate) fn run(args: ValArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    for (name, value) in [("--conf", args.conf.unwrap_or(DETECTION_CONF)), ("--iou", args.iou)] {
        if !(0.0..=1.0).contains(&value) {
            bail!("{name} {value} is out of range: use a value between 0 and 1");
        }
    }
    let (data, problems) = dataset::read(&args.data, args.images.as_deref())?;
    let mut skipped = report_problems(&problems, args.skip_bad, printer)?;

    let (model, config) = model_or_project(&args.model);
    let (model, mut options) = super::run::resolve_model(model, config.as_deref(), &args.device)?;
    options.task = args.task.or(options.task);
    if args.size.is_some() {
        options.input = None;
        options.input_size = args.size;
    }
    // Ultralytics' val settings unless given; top-5 needs five classes.
    // Segmentation and anomaly models keep the project's threshold (a binary map's
    // probability cut, the anomaly score's) unless --conf is given.
    match &data {
        Data::Detection(_) | Data::Classification(_) => options.confidence = Some(args.conf.unwrap_or(DETECTION_CONF)),
        Data::Segmentation(_) | Data::Anomaly(_) => options.confidence = args.conf.or(options.confidence),
    }
    options.keep_anomaly_map = matches!(data, Data::Anomaly(_));
    options.iou = Some(args.iou);
    options.max_detections = Some(args.max_det);
    options.top_k = Some(options.top_k.unwrap_or(TOP5).max(TOP5));
    let files = match &data {
        Data::Detection(set) => set.images.len(),
        Data::Classification(set) => set.images.len(),
        Data::Segmentation(set) => set.images.len(),
        Data::Anomaly(set) => set.samples.len(),
    };
    let pool =
        PipelinePool::load(&model, options, files).with_context(|| format!("could not load `{}`", model.display()))?;
    printer.status(super::run::loaded_line(&model, &pool));
    let task = pool.primary().task();
    match data {
        Data::Detection(set) => {
            // A YOLO-seg model's instances have boxes too: their box mAP is measured.
            if !matches!(task, TaskKind::Detection | TaskKind::Segmentation) {
                bail!(
                    "`{}` is a {task} model but `{}` holds boxes: give a detector (or pass --task if the guess is wrong)",
                    model.display(),
                    args.data.display()
                );
            }
            let set = without_images(set, &skipped);
            let labels = pool.primary().labels().to_vec();
            let set = check_classes(set, &labels, args.skip_bad, &mut skipped, printer)?;
            let predicted =
                predict(&pool, set.images.iter().map(|image| image.path.clone()).collect(), printer, |_, _| Ok(()));
            skipped.extend(predicted.failed(args.skip_bad, printer)?);
            evaluate_detection(&args, &set, &labels, predicted, skipped.len(), printer)
        }
        Data::Classification(set) => {
            if task != TaskKind::Classification {
                bail!(
                    "`{}` is a {task} model but `{}` is a folder per class: give a classifier (or pass --task if the guess is wrong)",
                    model.display(),
                    args.data.display()
                );
            }
            refuse_save_json(&args)?;
            let labels = pool.primary().labels().to_vec();
            let predicted =
                predict(&pool, set.images.iter().map(|(path, _)| path.clone()).collect(), printer, |_, _| Ok(()));
            skipped.extend(predicted.failed(args.skip_bad, printer)?);
            evaluate_classification(&args, &set, &labels, predicted, skipped.len(), printer)
        }
        Data::Segmentation(set) => {
            if task != TaskKind::Segmentation {
                bail!(
                    "`{}` is a {task} model but `{}` holds label maps (masks/): give a segmentation model (or pass --task if the guess is wrong)",
                    model.display(),
                    args.data.display()
                );
            }
            refuse_save_json(&args)?;
            let labels = segmentation_labels(pool.primary().labels());
            segmentation::evaluate(&args, &pool, set, &labels, skipped, printer)
        }
        Data::Anomaly(set) => {
            if task != TaskKind::Anomaly {
                bail!(
                    "`{}` is a {task} model but `{}` is an MVTec AD category: give an anomaly model (or pass --task if the guess is wrong)",
                    model.display(),
                    args.data.display()
                );
            }
            refuse_save_json(&args)?;
            if args.plots.is_some() {
                bail!("--plots draws curves and confusion matrices of detectors, classifiers and segmentation models: leave it out for an anomaly model");
            }
            let configured = pool.primary().decode_options().confidence;
            anomaly::evaluate(&args, &pool, set, configured, skipped, printer)
        }
    }
}

fn refuse_save_json(args: &ValArgs) -> anyhow::Result<()> {
    if args.save_json.is_some() {
        bail!("--save-json writes detections in COCO's format: leave it out for models that are not detectors");
    }
    Ok(())
}

/// The class names of a segmentation model: its labels, at least background and foreground
/// (a binary map has two classes).
fn segmentation_labels(labels: &[String]) -> Vec<String> {
    let mut named: Vec<String> = labels.to_vec();
    let defaults = ["background", "foreground"];
    while named.len() < 2 {
        named.push(defaults[named.len()].to_string());
    }
    named
}

/// The report as JSON (`--json`) on stdout, or its tables on stdout and its notes on stderr.
fn print_report(report: &impl ValReport, json: bool, printer: &Printer) -> anyhow::Result<()> {
    if json {
        printer.out(serde_json::to_string_pretty(report)?)?;
    } else {
        printer.out(report.text())?;
        for note in report.notes() {
            printer.status(note);
        }
    }
    Ok(())
}

/// `MODEL` is a model file, or a project: its folder or its `inferx.yaml`.
fn model_or_project(given: &Path) -> (Option<PathBuf>, Option<PathBuf>) {
    let is_yaml = given.extension().is_some_and(|extension| extension == "yaml" || extension == "yml");
    if given.is_dir() {
        (None, Some(given.join("inferx.yaml")))
    } else if is_yaml {
        (None, Some(given.to_path_buf()))
    } else {
        (Some(given.to_path_buf()), None)
    }
}

/// Prints the problems found in the data; without `--skip-bad` any is an error. Returns the
/// images to leave out.
fn report_problems(problems: &[Problem], skip_bad: bool, printer: &Printer) -> anyhow::Result<HashSet<PathBuf>> {
    if problems.is_empty() {
        return Ok(HashSet::new());
    }
    let word = if skip_bad { "warning" } else { "error" };
    for problem in problems {
        eprintln!("{word}: {problem}");
    }
    let images: HashSet<PathBuf> = problems.iter().filter_map(|problem| problem.image.clone()).collect();
    let concerned = report::images(images.len());
    if !skip_bad {
        bail!(
            "{} problem{} in the data (listed above): fix them, or pass --skip-bad to evaluate without the {concerned} they concern",
            problems.len(),
            if problems.len() == 1 { "" } else { "s" },
        );
    }
    printer.status(format!("--skip-bad: evaluating without {concerned}"));
    Ok(images)
}

fn without_images(mut set: DetectionData, skipped: &HashSet<PathBuf>) -> DetectionData {
    set.images.retain(|image| !skipped.contains(&image.path));
    set
}

/// A folder of YOLO labels has no names: its classes are the model's, so a class the model
/// does not have is a problem of its line.
fn check_classes(
    set: DetectionData,
    labels: &[String],
    skip_bad: bool,
    skipped: &mut HashSet<PathBuf>,
    printer: &Printer,
) -> anyhow::Result<DetectionData> {
    if set.categories.is_some() {
        return Ok(set);
    }
    let problems: Vec<Problem> = set
        .images
        .iter()
        .flat_map(|image| {
            image.boxes.iter().filter(|labelled| labelled.category >= labels.len() as u64).map(|labelled| Problem {
                file: dataset::label_path(&image.path),
                line: labelled.line,
                message: format!(
                    "class {} is out of range: the model has {} classes (0 to {})",
                    labelled.category,
                    labels.len(),
                    labels.len().saturating_sub(1)
                ),
                image: Some(image.path.clone()),
            })
        })
        .collect();
    let more = report_problems(&problems, skip_bad, printer)?;
    skipped.extend(more.iter().cloned());
    Ok(without_images(set, &more))
}

/// What one image gave: its size (EXIF orientation applied), its boxes or its ranked classes.
struct Predicted {
    width: u32,
    height: u32,
    /// (class, score, x1, y1, x2, y2) in pixels.
    boxes: Vec<(usize, f32, [f32; 4])>,
    /// Each box's instance mask (YOLO-seg models), in COCO's column-major runs.
    masks: Vec<Option<CocoRle>>,
    /// Class indices, best first.
    ranked: Vec<usize>,
}

/// Every image's prediction (in the order given), the images that failed, and the time taken.
struct Predictions {
    images: Vec<Option<Predicted>>,
    failures: Vec<Problem>,
    speed: report::Speed,
}

impl Predictions {
    /// The images that failed, to leave out; an error without `--skip-bad`.
    fn failed(&self, skip_bad: bool, printer: &Printer) -> anyhow::Result<HashSet<PathBuf>> {
        report_problems(&self.failures, skip_bad, printer)
    }
}

/// Runs the images through the folder pipeline (decoding overlapped with inference, several
/// sessions where that is faster), with a progress bar.
/// `each` sees every prediction as it comes (label maps are compared then, not kept); a
/// problem it returns leaves the image out like one that does not decode.
fn predict(
    pool: &PipelinePool,
    paths: Vec<PathBuf>,
    printer: &Printer,
    mut each: impl FnMut(usize, &Prediction) -> Result<(), Problem>,
) -> Predictions {
    let bar = printer.progress_rate(paths.len() as u64, "validating");
    let started = Instant::now();
    let mut images: Vec<Option<Predicted>> = Vec::with_capacity(paths.len());
    let mut failures = Vec::new();
    let mut speed = report::Speed::default();
    pool.predict_files(&paths, |index, result| {
        match result {
            Ok((_, prediction)) => {
                speed.add(&prediction.timings);
                if let Err(problem) = each(index, &prediction) {
                    images.push(None);
                    failures.push(problem);
                    bar.inc(1);
                    return;
                }
                let boxes = prediction
                    .detections()
                    .iter()
                    .map(|found| {
                        (found.class_id, found.score, [found.bbox.x1, found.bbox.y1, found.bbox.x2, found.bbox.y2])
                    })
                    .collect();
                let ranked = match &prediction.output {
                    PredictionOutput::Classification { top } => top.iter().map(|class| class.class_id).collect(),
                    _ => Vec::new(),
                };
                let masks =
                    prediction.detections().iter().map(|found| found.mask.as_ref().map(CocoRle::from_mask)).collect();
                let (width, height) = (prediction.width, prediction.height);
                images.push(Some(Predicted { width, height, boxes, masks, ranked }));
            }
            Err(error) => {
                images.push(None);
                failures.push(Problem {
                    file: paths[index].clone(),
                    line: None,
                    message: format!("the image could not be read: {error}"),
                    image: Some(paths[index].clone()),
                });
            }
        }
        bar.inc(1);
    });
    bar.finish_and_clear();
    speed.finish(started.elapsed());
    Predictions { images, failures, speed }
}

/// A COCO results row (`--save-json`).
#[derive(serde::Serialize)]
struct CocoResult<'a> {
    image_id: &'a ImageId,
    category_id: u64,
    bbox: [f64; 4],
    score: f64,
    /// A YOLO-seg instance's mask, as pycocotools' `encode` writes it.
    #[serde(skip_serializing_if = "Option::is_none")]
    segmentation: Option<CocoSegmentation>,
}

#[derive(serde::Serialize)]
struct CocoSegmentation {
    /// `[height, width]`.
    size: [u32; 2],
    counts: String,
}

fn evaluate_detection(
    args: &ValArgs,
    set: &DetectionData,
    labels: &[String],
    predictions: Predictions,
    skipped: usize,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let categories: Vec<(u64, String)> = set
        .categories
        .clone()
        .unwrap_or_else(|| labels.iter().enumerate().map(|(index, label)| (index as u64, label.clone())).collect());
    if set.format == Format::Yolo && categories.len() != labels.len() {
        tracing::warn!(
            "the data names {} classes and the model has {}: classes are matched by index",
            categories.len(),
            labels.len()
        );
    }
    let category_of_class = class_categories(set.format, &categories, labels);
    // Images numbered in the order pycocotools sorts their ids.
    let kept: Vec<usize> = (0..set.images.len()).filter(|&index| predictions.images[index].is_some()).collect();
    let mut by_id = kept.clone();
    by_id.sort_by(|&a, &b| set.images[a].id.cmp(&set.images[b].id));
    if let Some(pair) = by_id.windows(2).find(|pair| set.images[pair[0]].id == set.images[pair[1]].id) {
        tracing::warn!(
            "`{}` and `{}` have the same image id: the results of --save-json cannot tell them apart (the metrics can)",
            set.images[pair[0]].path.display(),
            set.images[pair[1]].path.display()
        );
    }
    let mut number = vec![0; set.images.len()];
    for (rank, &index) in by_id.iter().enumerate() {
        number[index] = rank;
    }
    let mut truths = Vec::new();
    let mut found = Vec::new();
    let mut rows = Vec::new();
    // Masks are measured when every label is a polygon and the model gives instance masks.
    let labels_are_polygons = kept.iter().all(|&index| set.images[index].boxes.iter().all(|b| b.polygon.is_some()));
    let model_gives_masks = kept
        .iter()
        .any(|&index| predictions.images[index].as_ref().is_some_and(|image| image.masks.iter().any(Option::is_some)));
    let measure_masks =
        labels_are_polygons && model_gives_masks && kept.iter().any(|&i| !set.images[i].boxes.is_empty());
    if model_gives_masks && !labels_are_polygons {
        tracing::warn!(
            "some labels are boxes, not polygons: mask mAP needs an outline on every label; boxes only are measured"
        );
    }
    let (mut truth_masks, mut found_masks) = (Vec::new(), Vec::new());
    for &index in &kept {
        let (image, Some(predicted)) = (&set.images[index], &predictions.images[index]) else { continue };
        for labelled in &image.boxes {
            let bbox = labelled.geometry.pixels(predicted.width, predicted.height);
            truths.push(GroundTruthBox {
                image: number[index],
                category: labelled.category,
                bbox,
                area: labelled.area.unwrap_or(bbox[2] * bbox[3]),
                crowd: labelled.crowd,
                id: labelled.id,
            });
            if let (true, Some(polygon)) = (measure_masks, &labelled.polygon) {
                let mask = polygon_mask(polygon, predicted.width, predicted.height);
                let area = mask.area() as f64;
                let (image, category, crowd, id) = (number[index], labelled.category, labelled.crowd, labelled.id);
                truth_masks.push(GroundTruthMask { image, category, mask, area, crowd, id });
            }
        }
        for (&(class, score, [x1, y1, x2, y2]), mask) in predicted.boxes.iter().zip(&predicted.masks) {
            let Some(category) = category_of_class.get(class).copied().flatten() else { continue };
            let (x1, y1, x2, y2) = (f64::from(x1), f64::from(y1), f64::from(x2), f64::from(y2));
            let bbox = [x1, y1, x2 - x1, y2 - y1];
            let score = f64::from(score);
            found.push(DetectedBox { image: number[index], category, bbox, score });
            let segmentation = mask
                .as_ref()
                .map(|mask| CocoSegmentation { size: [mask.height, mask.width], counts: mask.to_compressed() });
            if let (true, Some(mask)) = (measure_masks, mask) {
                found_masks.push(DetectedMask { image: number[index], category, mask: mask.clone(), score });
            }
            rows.push(CocoResult { image_id: &image.id, category_id: category, bbox, score, segmentation });
        }
    }
    if let Some(path) = &args.save_json {
        let text = serde_json::to_string(&rows)?;
        std::fs::write(path, text).with_context(|| format!("could not write `{}`", path.display()))?;
        printer.status(format!("{} detections written to `{}` (COCO results format)", rows.len(), path.display()));
    }
    let category_ids: Vec<u64> = categories.iter().map(|(id, _)| *id).collect();
    let evaluation = detection::evaluate(kept.len(), &category_ids, &truths, &found);
    let mut summary =
        report::DetectionReport::new(&evaluation, &categories, &truths, kept.len(), skipped, predictions.speed);
    if measure_masks {
        let evaluation = masks::evaluate(kept.len(), &category_ids, &truth_masks, &found_masks);
        summary.masks = Some(report::MaskReport::new(&evaluation));
    }
    if let Some(dir) = &args.plots {
        // Ultralytics' settings for its matrix: confidence 0.25, IoU 0.45.
        let confusion = plots::Confusion {
            title: "Confusion matrix (confidence > 0.25, IoU > 0.45)".to_string(),
            labels: categories.iter().map(|(_, name)| name.clone()).chain(["background".to_string()]).collect(),
            counts: detection::confusion_matrix(&category_ids, &truths, &found, 0.25, 0.45),
        };
        plots::write_detection(dir, &summary, &confusion)?;
        printer.status(format!("plots written to `{}`", dir.display()));
    }
    print_report(&summary, args.json, printer)?;
    Ok(ExitCode::SUCCESS)
}

/// A YOLO-seg label's outline (normalised `x y` pairs) as the mask pycocotools draws from it
/// in an image `width`×`height`.
fn polygon_mask(normalised: &[f64], width: u32, height: u32) -> CocoRle {
    let pixels: Vec<f64> = normalised
        .chunks_exact(2)
        .flat_map(|point| [point[0] * f64::from(width), point[1] * f64::from(height)])
        .collect();
    CocoRle::from_polygon(&pixels, width, height)
}

/// The category of each model class: for COCO data, the category of the same name when the
/// names match the model's labels, else the categories in id order; for YOLO data, the class
/// index itself.
fn class_categories(format: Format, categories: &[(u64, String)], labels: &[String]) -> Vec<Option<u64>> {
    match format {
        Format::Yolo => (0..labels.len().max(categories.len())).map(|class| Some(class as u64)).collect(),
        Format::Coco => {
            let by_name = labels.iter().any(|label| categories.iter().any(|(_, name)| name == label));
            if by_name {
                labels
                    .iter()
                    .map(|label| categories.iter().find(|(_, name)| name == label).map(|(id, _)| *id))
                    .collect()
            } else {
                categories.iter().map(|(id, _)| Some(*id)).collect()
            }
        }
    }
}

fn evaluate_classification(
    args: &ValArgs,
    set: &ClassificationData,
    labels: &[String],
    predictions: Predictions,
    skipped: usize,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    // The class of each folder among the model's: by name when every folder names one of the
    // model's labels, else by sorted position.
    let by_name = set.classes.iter().all(|class| labels.contains(class));
    let model_class: Vec<usize> = set
        .classes
        .iter()
        .enumerate()
        .map(
            |(index, class)| {
                if by_name {
                    labels.iter().position(|label| label == class).unwrap_or(index)
                } else {
                    index
                }
            },
        )
        .collect();
    if !by_name && set.classes.len() != labels.len() {
        tracing::warn!(
            "the data has {} class folders and the model {} classes: folders are matched to classes in sorted order",
            set.classes.len(),
            labels.len()
        );
    }
    // Classes in the model's order (folders matched by name) or in sorted folder order.
    let mut order: Vec<usize> = (0..set.classes.len()).collect();
    order.sort_by_key(|&index| model_class[index]);
    let classes: Vec<String> = order.iter().map(|&index| set.classes[index].clone()).collect();
    let position_of = |folder: usize| order.iter().position(|&index| index == folder).unwrap_or(usize::MAX);
    let mut tally = ClassificationTally::new(classes.len());
    for ((_, truth), predicted) in set.images.iter().zip(&predictions.images) {
        let Some(predicted) = predicted else { continue };
        let ranked: Vec<usize> = predicted
            .ranked
            .iter()
            .map(|class| model_class.iter().position(|model| model == class).map_or(usize::MAX, position_of))
            .collect();
        tally.add(position_of(*truth), &ranked);
    }
    let summary = report::ClassificationReport::new(&tally, &classes, skipped, predictions.speed);
    if let Some(dir) = &args.plots {
        plots::write_classification(dir, &summary)?;
        printer.status(format!("plots written to `{}`", dir.display()));
    }
    print_report(&summary, args.json, printer)?;
    Ok(ExitCode::SUCCESS)
}
