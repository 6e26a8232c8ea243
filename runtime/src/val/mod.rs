//! Val: the accuracy of a model on labelled data, measured through the pipeline `run` and
//! `serve` use (the same preprocessing, NMS and thresholds), on the folder pipeline (decoding
//! overlapped with inference). The loop behind `inferx val` and a generated project's `val`:
//! one home, so both print the same figures.
//!
//! Detection metrics are pycocotools' ([`crate::evaluation::detection`], masks
//! [`crate::evaluation::masks`]); classifiers get top-1, top-5 and a confusion matrix;
//! segmentation models mIoU ([`crate::evaluation::segmentation`]); anomaly models AUROC
//! ([`crate::evaluation::anomaly`]).
//!
//! The steps, so that the caller loads the model its own way (a model file, a project):
//! [`Plan::read`] reads the data and reports its problems, [`Plan::adjust`] sets the pipeline
//! options val needs, [`Plan::run`] predicts and measures, and [`Evaluated::finish`] prints
//! the report, stores an anomaly threshold and checks the accuracy floors ([`Floors`]).
//! [`run_project`] does all four for a project. Output goes through [`ValOutput`]
//! ([`PlainOutput`] writes to stdout and stderr).

mod anomaly;
mod segmentation;

use std::{
    collections::HashSet,
    io::Write,
    path::{Path, PathBuf},
    time::Instant,
};

use crate::{
    evaluation::{
        classification::{ClassificationTally, TOP5},
        detection::{self, DetectedBox, GroundTruthBox},
        masks::{self, CocoRle, DetectedMask, GroundTruthMask},
        report::{self, ValReport},
    },
    labelled_data::sets::{self as dataset, ClassificationData, Data, DetectionData, Format, ImageId, Problem},
    Error, PipelineOptions, PipelinePool, Prediction, PredictionOutput, Result, TaskKind,
};

/// Ultralytics' val confidence: keep nearly every box, so the curves reach full recall.
pub const DETECTION_CONF: f32 = 0.001;

/// Returns early with an [`Error::Val`] of the formatted message.
macro_rules! bail {
    ($($message:tt)*) => {
        return Err(crate::Error::Val(format!($($message)*)))
    };
}
use bail;

/// How val measures: the flags of `inferx val` and a project's `val`.
#[derive(Debug, Clone)]
pub struct ValSettings {
    /// Score threshold; detectors and classifiers default to [`DETECTION_CONF`],
    /// segmentation and anomaly models keep the project's.
    pub conf: Option<f32>,
    /// NMS IoU threshold.
    pub iou: f32,
    /// Most detections per image.
    pub max_det: usize,
    /// Print the report as JSON instead of tables.
    pub json: bool,
    /// Leave out images with problems instead of stopping.
    pub skip_bad: bool,
    /// Write the detections in COCO's results format here.
    pub save_json: Option<PathBuf>,
    /// Count a detector's confusion matrix (for plots).
    pub confusion_matrix: bool,
    /// Anomaly models: store the F1-optimal threshold in this `inferx.yaml`.
    pub write_threshold: Option<PathBuf>,
    /// The accuracy the model must reach.
    pub floors: Floors,
}

impl Default for ValSettings {
    fn default() -> ValSettings {
        ValSettings {
            conf: None,
            iou: 0.7,
            max_det: 300,
            json: false,
            skip_bad: false,
            save_json: None,
            confusion_matrix: false,
            write_threshold: None,
            floors: Floors::default(),
        }
    }
}

/// Accuracy floors (the CI gate): val fails, naming the measured figure and the floor, when
/// the model's metric is below the one for its task.
#[derive(Debug, Clone, Copy, Default)]
pub struct Floors {
    /// Detection: the least box mAP50-95 (`--min-map`).
    pub map: Option<f64>,
    /// Classification: the least top-1 accuracy (`--min-top1`).
    pub top1: Option<f64>,
    /// Segmentation: the least mIoU (`--min-miou`).
    pub miou: Option<f64>,
    /// Anomaly: the least image AUROC (`--min-auroc`).
    pub auroc: Option<f64>,
}

impl Floors {
    /// Each floor with its flag and the task it is for.
    fn by_task(&self) -> [(&'static str, Option<f64>, TaskKind); 4] {
        [
            ("--min-map", self.map, TaskKind::Detection),
            ("--min-top1", self.top1, TaskKind::Classification),
            ("--min-miou", self.miou, TaskKind::Segmentation),
            ("--min-auroc", self.auroc, TaskKind::Anomaly),
        ]
    }

    /// The flag and floor of `task` (the task of the labelled data: a YOLO-seg model's boxes
    /// are a detection set).
    fn of(&self, task: TaskKind) -> (&'static str, Option<f64>) {
        self.by_task().into_iter().find(|(_, _, of)| *of == task).map_or(("", None), |(flag, floor, _)| (flag, floor))
    }

    /// Refuses a floor for a task other than `task`, so a gate never passes by checking nothing.
    pub fn refuse_other_tasks(&self, task: TaskKind) -> Result<()> {
        let (own, _) = self.of(task);
        for (flag, floor, other) in self.by_task() {
            if floor.is_some() && other != task {
                bail!("{flag} is the floor of {other} models, and this data is labelled for {task}: use {own}");
            }
        }
        Ok(())
    }
}

/// Where val writes: problems in the data, status lines, progress and the report.
pub trait ValOutput {
    /// A problem with one file, already prefixed `error:` or `warning:`.
    fn problem(&self, line: &str) {
        eprintln!("{line}");
    }
    /// A status line (what was loaded, what was left out, where files were written).
    fn status(&self, line: &str);
    /// Progress over `images` images; advanced once per image.
    fn progress(&self, images: u64) -> Box<dyn Progress + '_>;
    /// The report (tables or JSON).
    fn report(&self, text: &str) -> std::io::Result<()>;
}

/// Progress of one val run.
pub trait Progress {
    /// One more image done.
    fn advance(&self);
    /// All done: clear what was drawn.
    fn finish(&self);
}

/// A [`ValOutput`] writing the report to stdout and status lines to stderr (none when
/// `quiet`), without a progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct PlainOutput {
    /// Silence status lines (problems and the report are still written).
    pub quiet: bool,
}

impl ValOutput for PlainOutput {
    fn status(&self, line: &str) {
        if !self.quiet {
            eprintln!("{line}");
        }
    }

    fn progress(&self, _images: u64) -> Box<dyn Progress + '_> {
        Box::new(NoProgress)
    }

    fn report(&self, text: &str) -> std::io::Result<()> {
        writeln!(std::io::stdout().lock(), "{text}")
    }
}

struct NoProgress;

impl Progress for NoProgress {
    fn advance(&self) {}
    fn finish(&self) {}
}

/// The data read, and the images its problems leave out.
#[derive(Debug, Clone)]
pub struct Plan {
    data: Data,
    skipped: HashSet<PathBuf>,
}

impl Plan {
    /// Reads the data (`images`: the image folder of a COCO json) and reports its problems;
    /// without `skip_bad`, any problem is an error.
    pub fn read(data: &Path, images: Option<&Path>, settings: &ValSettings, output: &dyn ValOutput) -> Result<Plan> {
        for (name, value) in [("--conf", settings.conf.unwrap_or(DETECTION_CONF)), ("--iou", settings.iou)] {
            if !(0.0..=1.0).contains(&value) {
                bail!("{name} {value} is out of range: use a value between 0 and 1");
            }
        }
        let (data, problems) = dataset::read(data, images)?;
        let plan = Plan { data, skipped: Default::default() };
        // Before any image is predicted: a floor the run would never check is an error now.
        settings.floors.refuse_other_tasks(plan.task())?;
        let skipped = report_problems(&problems, settings.skip_bad, output)?;
        Ok(Plan { skipped, ..plan })
    }

    /// The task the data labels: boxes (detection), class folders (classification), label
    /// maps (segmentation), an MVTec AD category (anomaly).
    pub fn task(&self) -> TaskKind {
        match &self.data {
            Data::Detection(_) => TaskKind::Detection,
            Data::Classification(_) => TaskKind::Classification,
            Data::Segmentation(_) => TaskKind::Segmentation,
            Data::Anomaly(_) => TaskKind::Anomaly,
        }
    }

    /// The images to predict, in the data's order.
    pub fn image_paths(&self) -> Vec<PathBuf> {
        let paths: Vec<PathBuf> = match &self.data {
            Data::Detection(set) => set.images.iter().map(|image| image.path.clone()).collect(),
            Data::Classification(set) => set.images.iter().map(|(path, _)| path.clone()).collect(),
            Data::Segmentation(set) => set.images.iter().map(|(path, _)| path.clone()).collect(),
            Data::Anomaly(set) => set.samples.iter().map(|sample| sample.image.clone()).collect(),
        };
        paths.into_iter().filter(|path| !self.skipped.contains(path)).collect()
    }

    /// Checks boxes against the model's classes (`labels`) before any prediction: a class the
    /// model does not have is a problem of its line (an error without `skip_bad`, else its
    /// image is left out). Other data is matched to the model's classes when measured.
    pub fn check_classes(&mut self, labels: &[String], skip_bad: bool, output: &dyn ValOutput) -> Result<()> {
        if let Data::Detection(set) = &mut self.data {
            let taken =
                std::mem::replace(set, DetectionData { images: Vec::new(), categories: None, format: set.format });
            *set = check_classes(without_images(taken, &self.skipped), labels, skip_bad, &mut self.skipped, output)?;
        }
        Ok(())
    }

    /// How many images will be predicted (to size the pool of sessions).
    pub fn images(&self) -> usize {
        match &self.data {
            Data::Detection(set) => set.images.len(),
            Data::Classification(set) => set.images.len(),
            Data::Segmentation(set) => set.images.len(),
            Data::Anomaly(set) => set.samples.len(),
        }
    }

    /// Val's pipeline options: Ultralytics' val settings unless given; top-5 needs five
    /// classes. Segmentation and anomaly models keep the project's threshold (a binary map's
    /// probability cut, the anomaly score's) unless `conf` is given.
    pub fn adjust(&self, options: &mut PipelineOptions, settings: &ValSettings) {
        match &self.data {
            Data::Detection(_) | Data::Classification(_) => {
                options.confidence = Some(settings.conf.unwrap_or(DETECTION_CONF));
            }
            Data::Segmentation(_) | Data::Anomaly(_) => options.confidence = settings.conf.or(options.confidence),
        }
        options.keep_anomaly_map = matches!(self.data, Data::Anomaly(_));
        options.iou = Some(settings.iou);
        options.max_detections = Some(settings.max_det);
        options.top_k = Some(options.top_k.unwrap_or(TOP5).max(TOP5));
    }

    /// Predicts every image with `pool` (loaded from `model`, named in errors, with the
    /// options [`Plan::adjust`] set) and measures.
    pub fn run(
        self,
        pool: &PipelinePool,
        model: &Path,
        data: &Path,
        settings: &ValSettings,
        output: &dyn ValOutput,
    ) -> Result<Evaluated> {
        let Plan { data: set, mut skipped } = self;
        let task = pool.primary().task();
        let refuse_save_json = || -> Result<()> {
            if settings.save_json.is_some() {
                bail!("--save-json writes detections in COCO's format: leave it out for models that are not detectors");
            }
            Ok(())
        };
        let wrong_task = |holds: &str, give: &str| {
            Error::Val(format!(
                "`{}` is a {task} model but `{}` {holds}: give {give} (or pass --task if the guess is wrong)",
                model.display(),
                data.display()
            ))
        };
        match set {
            Data::Detection(set) => {
                // A YOLO-seg model's instances have boxes too: their box mAP is measured.
                if !matches!(task, TaskKind::Detection | TaskKind::Segmentation) {
                    return Err(wrong_task("holds boxes", "a detector"));
                }
                let set = without_images(set, &skipped);
                let labels = pool.primary().labels().to_vec();
                let set = check_classes(set, &labels, settings.skip_bad, &mut skipped, output)?;
                let paths = set.images.iter().map(|image| image.path.clone()).collect();
                let predicted = predict(pool, paths, output, |_, _| Ok(()));
                skipped.extend(predicted.failed(settings.skip_bad, output)?);
                evaluate_detection(settings, &set, &labels, predicted, skipped.len(), output)
            }
            Data::Classification(set) => {
                if task != TaskKind::Classification {
                    return Err(wrong_task("is a folder per class", "a classifier"));
                }
                refuse_save_json()?;
                let labels = pool.primary().labels().to_vec();
                let paths = set.images.iter().map(|(path, _)| path.clone()).collect();
                let predicted = predict(pool, paths, output, |_, _| Ok(()));
                skipped.extend(predicted.failed(settings.skip_bad, output)?);
                Ok(evaluate_classification(&set, &labels, predicted, skipped.len()))
            }
            Data::Segmentation(set) => {
                if task != TaskKind::Segmentation {
                    return Err(wrong_task("holds label maps (masks/)", "a segmentation model"));
                }
                refuse_save_json()?;
                let labels = segmentation_labels(pool.primary().labels());
                segmentation::evaluate(settings, pool, set, &labels, skipped, output)
            }
            Data::Anomaly(set) => {
                if task != TaskKind::Anomaly {
                    return Err(wrong_task("is an MVTec AD category", "an anomaly model"));
                }
                refuse_save_json()?;
                let configured = pool.primary().decode_options().confidence;
                anomaly::evaluate(settings, pool, set, configured, skipped, output)
            }
        }
    }
}

/// Val of a project (its `inferx.yaml` at `config`: model, preprocessing, labels, device) on
/// `data`: reads the data, loads the model with val's options, measures, prints the report
/// and checks the floors. A generated project's `val`.
pub fn run_project(
    config: &Path,
    data: &Path,
    images: Option<&Path>,
    settings: &ValSettings,
    output: &dyn ValOutput,
) -> Result<Evaluated> {
    let plan = Plan::read(data, images, settings, output)?;
    let project = crate::ProjectConfig::load(config)?;
    let project_dir = crate::project_files::project_dir(config);
    let model = project.model_path(project_dir)?;
    let mut options = project.pipeline_options(project_dir)?;
    plan.adjust(&mut options, settings);
    let pool = PipelinePool::load(&model, options, plan.images())?;
    let evaluated = plan.run(&pool, &model, data, settings, output)?;
    evaluated.finish(settings, output)?;
    Ok(evaluated)
}

/// What val measured, one report per task.
#[derive(Debug)]
pub enum Evaluated {
    /// A detector (and a YOLO-seg model's masks).
    Detection {
        /// The metrics.
        report: Box<report::DetectionReport>,
        /// Ultralytics' confusion matrix (confidence 0.25, IoU 0.45), when
        /// [`ValSettings::confusion_matrix`] asked for it.
        confusion: Option<ConfusionMatrix>,
    },
    /// A classifier.
    Classification(report::ClassificationReport),
    /// A semantic or binary segmentation model.
    Segmentation(report::SegmentationReport),
    /// An anomaly model.
    Anomaly(report::AnomalyReport),
}

/// `[true][predicted]` counts with their labels (a detector's last one is "background").
#[derive(Debug, Clone)]
pub struct ConfusionMatrix {
    /// The class of each row and column.
    pub labels: Vec<String>,
    /// `counts[true][predicted]`.
    pub counts: Vec<Vec<u64>>,
}

impl Evaluated {
    /// Prints the report (JSON or tables, notes as status lines), stores an anomaly model's
    /// threshold when asked, then checks the floors: a metric below its floor is an
    /// [`Error::BelowFloor`] naming both figures.
    pub fn finish(&self, settings: &ValSettings, output: &dyn ValOutput) -> Result<()> {
        match self {
            Evaluated::Detection { report, .. } => print_report(report.as_ref(), settings.json, output)?,
            Evaluated::Classification(report) => print_report(report, settings.json, output)?,
            Evaluated::Segmentation(report) => print_report(report, settings.json, output)?,
            Evaluated::Anomaly(report) => {
                print_report(report, settings.json, output)?;
                if let Some(config) = &settings.write_threshold {
                    anomaly::write_threshold(config, report.threshold.threshold, output)?;
                }
            }
        }
        self.check(&settings.floors)
    }

    /// The task the labelled data was for (a YOLO-seg model's boxes: detection).
    fn task(&self) -> TaskKind {
        match self {
            Evaluated::Detection { .. } => TaskKind::Detection,
            Evaluated::Classification(_) => TaskKind::Classification,
            Evaluated::Segmentation(_) => TaskKind::Segmentation,
            Evaluated::Anomaly(_) => TaskKind::Anomaly,
        }
    }

    /// The metric a floor applies to, by name, and its value: box mAP50-95, top-1, mIoU or
    /// image AUROC.
    pub fn headline(&self) -> (&'static str, f64) {
        match self {
            Evaluated::Detection { report, .. } => ("mAP50-95", report.metrics.map50_95),
            Evaluated::Classification(report) => ("top-1", report.metrics.top1),
            Evaluated::Segmentation(report) => ("mIoU", report.metrics.miou),
            Evaluated::Anomaly(report) => ("image AUROC", report.metrics.image_auroc),
        }
    }

    /// Checks the floor of this task; a floor for another task is an error, so a gate never
    /// passes by checking nothing.
    pub fn check(&self, floors: &Floors) -> Result<()> {
        let task = self.task();
        floors.refuse_other_tasks(task)?;
        let (metric, measured) = self.headline();
        let (flag, floor) = floors.of(task);
        match floor {
            Some(floor) if measured.is_nan() || measured < floor => {
                Err(Error::BelowFloor { metric, flag, measured, floor })
            }
            _ => Ok(()),
        }
    }
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

/// The report as JSON on stdout, or its tables, with its notes as status lines.
fn print_report(report: &impl ValReport, json: bool, output: &dyn ValOutput) -> Result<()> {
    let written = if json {
        output.report(&serde_json::to_string_pretty(report)?)
    } else {
        let written = output.report(&report.text());
        for note in report.notes() {
            output.status(&note);
        }
        written
    };
    written.map_err(|source| Error::Io { action: "could not write the report to", path: "stdout".into(), source })
}

/// Prints the problems found in the data; without `skip_bad` any is an error. Returns the
/// images to leave out.
fn report_problems(problems: &[Problem], skip_bad: bool, output: &dyn ValOutput) -> Result<HashSet<PathBuf>> {
    if problems.is_empty() {
        return Ok(HashSet::new());
    }
    let word = if skip_bad { "warning" } else { "error" };
    for problem in problems {
        output.problem(&format!("{word}: {problem}"));
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
    output.status(&format!("--skip-bad: evaluating without {concerned}"));
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
    output: &dyn ValOutput,
) -> Result<DetectionData> {
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
    let more = report_problems(&problems, skip_bad, output)?;
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
    /// The images that failed, to leave out; an error without `skip_bad`.
    fn failed(&self, skip_bad: bool, output: &dyn ValOutput) -> Result<HashSet<PathBuf>> {
        report_problems(&self.failures, skip_bad, output)
    }
}

/// Runs the images through the folder pipeline (decoding overlapped with inference, several
/// sessions where that is faster), with progress.
/// `each` sees every prediction as it comes (label maps are compared then, not kept); a
/// problem it returns leaves the image out like one that does not decode.
fn predict(
    pool: &PipelinePool,
    paths: Vec<PathBuf>,
    output: &dyn ValOutput,
    mut each: impl FnMut(usize, &Prediction) -> std::result::Result<(), Problem>,
) -> Predictions {
    let progress = output.progress(paths.len() as u64);
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
                    progress.advance();
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
        progress.advance();
    });
    progress.finish();
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
    settings: &ValSettings,
    set: &DetectionData,
    labels: &[String],
    predictions: Predictions,
    skipped: usize,
    output: &dyn ValOutput,
) -> Result<Evaluated> {
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
    if let Some(path) = &settings.save_json {
        let text = serde_json::to_string(&rows)?;
        std::fs::write(path, text).map_err(|source| Error::Io {
            action: "could not write",
            path: path.clone(),
            source,
        })?;
        output.status(&format!("{} detections written to `{}` (COCO results format)", rows.len(), path.display()));
    }
    let category_ids: Vec<u64> = categories.iter().map(|(id, _)| *id).collect();
    let evaluation = detection::evaluate(kept.len(), &category_ids, &truths, &found);
    let mut report =
        report::DetectionReport::new(&evaluation, &categories, &truths, kept.len(), skipped, predictions.speed);
    if measure_masks {
        let evaluation = masks::evaluate(kept.len(), &category_ids, &truth_masks, &found_masks);
        report.masks = Some(report::MaskReport::new(&evaluation));
    }
    // Ultralytics' settings for its matrix: confidence 0.25, IoU 0.45.
    let confusion = settings.confusion_matrix.then(|| ConfusionMatrix {
        labels: categories.iter().map(|(_, name)| name.clone()).chain(["background".to_string()]).collect(),
        counts: detection::confusion_matrix(&category_ids, &truths, &found, 0.25, 0.45),
    });
    Ok(Evaluated::Detection { report: Box::new(report), confusion })
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
    set: &ClassificationData,
    labels: &[String],
    predictions: Predictions,
    skipped: usize,
) -> Evaluated {
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
    Evaluated::Classification(report::ClassificationReport::new(&tally, &classes, skipped, predictions.speed))
}
