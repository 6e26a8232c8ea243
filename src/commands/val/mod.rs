//! `inferx val`: accuracy of a model (or a project) on labelled data, through the pipeline
//! `run` and `serve` use (the same preprocessing, NMS and thresholds), on the folder pipeline
//! (decoding overlapped with inference). Detection metrics are pycocotools' (computed by
//! [`inferx_runtime::evaluation`]); classifiers get top-1, top-5 and a confusion matrix.

mod dataset;
mod plots;
mod report;

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
    },
    PipelinePool, PredictionOutput, TaskKind,
};

use self::dataset::{ClassificationData, Data, DetectionData, Format, ImageId, Problem};
use crate::{cli::ValArgs, output::Printer};

pub(crate) fn run(args: ValArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    for (name, value) in [("--conf", args.conf), ("--iou", args.iou)] {
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
    options.confidence = Some(args.conf);
    options.iou = Some(args.iou);
    options.max_detections = Some(args.max_det);
    options.top_k = Some(options.top_k.unwrap_or(TOP5).max(TOP5));
    let files = match &data {
        Data::Detection(set) => set.images.len(),
        Data::Classification(set) => set.images.len(),
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
            let predicted = predict(&pool, set.images.iter().map(|image| image.path.clone()).collect(), printer);
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
            if args.save_json.is_some() {
                bail!("--save-json writes detections in COCO's format: leave it out for a classifier");
            }
            let labels = pool.primary().labels().to_vec();
            let predicted = predict(&pool, set.images.iter().map(|(path, _)| path.clone()).collect(), printer);
            skipped.extend(predicted.failed(args.skip_bad, printer)?);
            evaluate_classification(&args, &set, &labels, predicted, skipped.len(), printer)
        }
    }
}

/// Labelled data checked against a model's classes, ready to measure its accuracy
/// ([`LabelledData::accuracy`]): `inferx quantize --data` reads it before it quantizes, so bad
/// data fails early. Boxes give a detector's mAP50-95, class folders a classifier's top-1.
pub(crate) struct LabelledData {
    data: Data,
    labels: Vec<String>,
}

impl LabelledData {
    /// Reads the data as `inferx val --data` does; any problem in it, or a class the model
    /// (`labels`, its `task`) does not have, is an error.
    pub(crate) fn read(
        data: &Path,
        task: TaskKind,
        labels: &[String],
        printer: &Printer,
    ) -> anyhow::Result<LabelledData> {
        let (read, problems) = dataset::read(data, None)?;
        let mut skipped = report_problems(&problems, false, printer)?;
        let read = match read {
            Data::Detection(set) => {
                if !matches!(task, TaskKind::Detection | TaskKind::Segmentation) {
                    bail!(
                        "`{}` holds boxes, and the model is a {task} model: give labelled data of its task",
                        data.display()
                    );
                }
                Data::Detection(check_classes(set, labels, false, &mut skipped, printer)?)
            }
            Data::Classification(set) => {
                if task != TaskKind::Classification {
                    bail!(
                        "`{}` is a folder per class, and the model is a {task} model: give labelled data of its task",
                        data.display()
                    );
                }
                Data::Classification(set)
            }
        };
        let labelled = LabelledData { data: read, labels: labels.to_vec() };
        anyhow::ensure!(labelled.len() > 0, "`{}` has no labelled images", data.display());
        Ok(labelled)
    }

    /// How many images.
    pub(crate) fn len(&self) -> usize {
        match &self.data {
            Data::Detection(set) => set.images.len(),
            Data::Classification(set) => set.images.len(),
        }
    }

    /// The images, in the data's order.
    pub(crate) fn image_paths(&self) -> Vec<PathBuf> {
        match &self.data {
            Data::Detection(set) => set.images.iter().map(|image| image.path.clone()).collect(),
            Data::Classification(set) => set.images.iter().map(|(path, _)| path.clone()).collect(),
        }
    }

    /// What [`LabelledData::accuracy`] measures.
    pub(crate) fn metric(&self) -> &'static str {
        match &self.data {
            Data::Detection(_) => "mAP50-95",
            Data::Classification(_) => "top-1",
        }
    }

    /// The model's mAP50-95 (boxes) or top-1 (classes), 0-1, as `inferx val` measures it (its
    /// pipeline should use [`use_val_thresholds`]); an image that cannot be read is an error.
    pub(crate) fn accuracy(&self, pool: &PipelinePool, printer: &Printer) -> anyhow::Result<f64> {
        let predicted = predict(pool, self.image_paths(), printer);
        predicted.failed(false, printer)?;
        Ok(match &self.data {
            Data::Detection(set) => {
                let Matched { categories, truths, found, images, .. } = match_detections(set, &self.labels, &predicted);
                let category_ids: Vec<u64> = categories.iter().map(|(id, _)| *id).collect();
                detection::evaluate(images, &category_ids, &truths, &found).stats.map50_95
            }
            Data::Classification(set) => tally_classification(set, &self.labels, &predicted).0.top1(),
        })
    }
}

/// `inferx val`'s default thresholds (Ultralytics' val settings; top-5 needs five classes), for
/// a pipeline whose accuracy is measured with [`LabelledData::accuracy`].
pub(crate) fn use_val_thresholds(options: &mut inferx_runtime::PipelineOptions) {
    options.confidence = Some(crate::cli::VAL_CONFIDENCE);
    options.iou = Some(crate::cli::VAL_IOU);
    options.max_detections = Some(crate::cli::VAL_MAX_DETECTIONS);
    options.top_k = Some(options.top_k.unwrap_or(TOP5).max(TOP5));
}

/// `MODEL` is a model file, or a project: its folder or its `inferx.yaml`.
pub(crate) fn model_or_project(given: &Path) -> (Option<PathBuf>, Option<PathBuf>) {
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
fn predict(pool: &PipelinePool, paths: Vec<PathBuf>, printer: &Printer) -> Predictions {
    let bar = printer.progress_rate(paths.len() as u64, "validating");
    let started = Instant::now();
    let mut images: Vec<Option<Predicted>> = Vec::with_capacity(paths.len());
    let mut failures = Vec::new();
    let mut speed = report::Speed::default();
    pool.predict_files(&paths, |index, result| {
        match result {
            Ok((_, prediction)) => {
                speed.add(&prediction.timings);
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
                images.push(Some(Predicted { width: prediction.width, height: prediction.height, boxes, ranked }));
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
}

/// The ground truth and the detections of the images that were predicted, in pycocotools'
/// terms: images numbered in the order of their ids, classes mapped to categories.
struct Matched<'a> {
    categories: Vec<(u64, String)>,
    truths: Vec<GroundTruthBox>,
    found: Vec<DetectedBox>,
    /// The detections as COCO results rows (`--save-json`).
    rows: Vec<CocoResult<'a>>,
    images: usize,
}

fn match_detections<'a>(set: &'a DetectionData, labels: &[String], predictions: &Predictions) -> Matched<'a> {
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
        }
        for &(class, score, [x1, y1, x2, y2]) in &predicted.boxes {
            let Some(category) = category_of_class.get(class).copied().flatten() else { continue };
            let (x1, y1, x2, y2) = (f64::from(x1), f64::from(y1), f64::from(x2), f64::from(y2));
            let bbox = [x1, y1, x2 - x1, y2 - y1];
            let score = f64::from(score);
            found.push(DetectedBox { image: number[index], category, bbox, score });
            rows.push(CocoResult { image_id: &image.id, category_id: category, bbox, score });
        }
    }
    Matched { categories, truths, found, rows, images: kept.len() }
}

fn evaluate_detection(
    args: &ValArgs,
    set: &DetectionData,
    labels: &[String],
    predictions: Predictions,
    skipped: usize,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let Matched { categories, truths, found, rows, images } = match_detections(set, labels, &predictions);
    if let Some(path) = &args.save_json {
        let text = serde_json::to_string(&rows)?;
        std::fs::write(path, text).with_context(|| format!("could not write `{}`", path.display()))?;
        printer.status(format!("{} detections written to `{}` (COCO results format)", rows.len(), path.display()));
    }
    let category_ids: Vec<u64> = categories.iter().map(|(id, _)| *id).collect();
    let evaluation = detection::evaluate(images, &category_ids, &truths, &found);
    let summary = report::DetectionReport::new(&evaluation, &categories, &truths, images, skipped, predictions.speed);
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
    summary.print(args.json, printer)?;
    Ok(ExitCode::SUCCESS)
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

/// Each image's true class against the model's ranking: folders matched to the model's
/// classes by name when every folder names one of its labels, else by sorted position. The
/// classes in the tally's order.
fn tally_classification(
    set: &ClassificationData,
    labels: &[String],
    predictions: &Predictions,
) -> (ClassificationTally, Vec<String>) {
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
    (tally, classes)
}

fn evaluate_classification(
    args: &ValArgs,
    set: &ClassificationData,
    labels: &[String],
    predictions: Predictions,
    skipped: usize,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    let (tally, classes) = tally_classification(set, labels, &predictions);
    let summary = report::ClassificationReport::new(&tally, &classes, skipped, predictions.speed);
    if let Some(dir) = &args.plots {
        plots::write_classification(dir, &summary)?;
        printer.status(format!("plots written to `{}`", dir.display()));
    }
    summary.print(args.json, printer)?;
    Ok(ExitCode::SUCCESS)
}
