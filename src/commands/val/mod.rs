//! `inferx val`: accuracy of a model (or a project) on labelled data. The loop (predicting,
//! measuring, `--skip-bad`, the accuracy floors) is [`inferx_runtime::val`], which generated
//! projects share; here the model is resolved as `run` resolves it, progress is a bar, and
//! `--plots` draws the curves and confusion matrices.

mod plots;

use std::{
    path::{Path, PathBuf},
    process::ExitCode,
};

use anyhow::{bail, Context};
use inferx_runtime::{
    evaluation::classification::TOP5,
    val::{Evaluated, Floors, Plan, Progress, ValOutput, ValSettings},
    PipelinePool, TaskKind,
};

use crate::{cli::ValArgs, output::Printer};

pub(crate) fn run(args: ValArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let (model, config) = model_or_project(&args.model);
    let write_threshold = match (&config, args.write_threshold) {
        (Some(config), true) => Some(config.clone()),
        (None, true) => bail!(
            "--write-threshold stores the threshold in a project's inferx.yaml: give the project (its folder or inferx.yaml), not `{}`",
            args.model.display()
        ),
        (_, false) => None,
    };
    let settings = ValSettings {
        conf: args.conf,
        iou: args.iou,
        max_det: args.max_det,
        json: args.json,
        skip_bad: args.skip_bad,
        save_json: args.save_json.clone(),
        confusion_matrix: args.plots.is_some(),
        write_threshold,
        floors: Floors { map: args.min_map, top1: args.min_top1, miou: args.min_miou, auroc: args.min_auroc },
    };
    let output = BarOutput { printer };
    let plan = Plan::read(&args.data, args.images.as_deref(), &settings, &output)?;
    let (model, mut options) = super::run::resolve_model(model, config.as_deref(), &args.device)?;
    options.task = args.task.or(options.task);
    if args.size.is_some() {
        options.input = None;
        options.input_size = args.size;
    }
    plan.adjust(&mut options, &settings);
    let pool = PipelinePool::load(&model, options, plan.images())
        .with_context(|| format!("could not load `{}`", model.display()))?;
    printer.status(super::run::loaded_line(&model, &pool));
    if args.plots.is_some() && pool.primary().task() == TaskKind::Anomaly {
        bail!("--plots draws curves and confusion matrices of detectors, classifiers and segmentation models: leave it out for an anomaly model");
    }
    let evaluated = plan.run(&pool, &model, &args.data, &settings, &output)?;
    if let Some(dir) = &args.plots {
        write_plots(dir, &evaluated)?;
        printer.status(format!("plots written to `{}`", dir.display()));
    }
    evaluated.finish(&settings, &output)?;
    Ok(ExitCode::SUCCESS)
}

/// `--plots DIR`: the charts of the report.
fn write_plots(dir: &Path, evaluated: &Evaluated) -> anyhow::Result<()> {
    match evaluated {
        Evaluated::Detection { report, confusion } => {
            let confusion = confusion
                .as_ref()
                .context("the confusion matrix was not counted: this is a bug in inferx, please report it")?;
            let confusion = plots::Confusion {
                title: "Confusion matrix (confidence > 0.25, IoU > 0.45)".to_string(),
                labels: confusion.labels.clone(),
                counts: confusion.counts.clone(),
            };
            plots::write_detection(dir, report, &confusion)
        }
        Evaluated::Classification(report) => plots::write_classification(dir, report),
        Evaluated::Segmentation(report) => plots::write_confusion(
            dir,
            &plots::Confusion {
                title: format!("Pixel confusion matrix · mIoU {:.3}", report.metrics.miou),
                labels: report.per_class.iter().map(|class| class.label.clone()).collect(),
                counts: report.confusion.clone(),
            },
        ),
        Evaluated::Anomaly(_) => Ok(()),
    }
}

/// Val's output in the CLI: status lines through the printer (silenced by `--quiet`), a
/// progress bar on a terminal.
struct BarOutput<'a> {
    printer: &'a Printer,
}

impl ValOutput for BarOutput<'_> {
    fn status(&self, line: &str) {
        self.printer.status(line);
    }

    fn progress(&self, images: u64) -> Box<dyn Progress + '_> {
        Box::new(Bar(self.printer.progress_rate(images, "validating")))
    }

    fn report(&self, text: &str) -> std::io::Result<()> {
        self.printer.out(text)
    }
}

struct Bar(indicatif::ProgressBar);

impl Progress for Bar {
    fn advance(&self) {
        self.0.inc(1);
    }

    fn finish(&self) {
        self.0.finish_and_clear();
    }
}

/// Labelled data checked against a model's task, ready to measure its accuracy
/// ([`LabelledData::accuracy`]) with the runtime's val: `inferx quantize --data` reads it
/// before it quantizes, so bad data fails early. Boxes give a detector's mAP50-95, class
/// folders a classifier's top-1.
pub(crate) struct LabelledData {
    plan: Plan,
    path: PathBuf,
}

impl LabelledData {
    /// Reads the data as `inferx val --data` does; any problem in it, or data of another task
    /// than the model's, is an error.
    pub(crate) fn read(
        data: &Path,
        task: TaskKind,
        labels: &[String],
        printer: &Printer,
    ) -> anyhow::Result<LabelledData> {
        let output = BarOutput { printer };
        let mut plan = Plan::read(data, None, &quantize_settings(), &output)?;
        let fits = match plan.task() {
            TaskKind::Detection => matches!(task, TaskKind::Detection | TaskKind::Segmentation),
            TaskKind::Classification => task == TaskKind::Classification,
            _ => false,
        };
        if !fits {
            bail!(
                "`{}` is labelled for {}, and the model is a {task} model: give boxes for a detector or a folder per class for a classifier",
                data.display(),
                plan.task()
            );
        }
        plan.check_classes(labels, false, &output)?;
        let labelled = LabelledData { plan, path: data.to_path_buf() };
        anyhow::ensure!(labelled.len() > 0, "`{}` has no labelled images", data.display());
        Ok(labelled)
    }

    /// How many images.
    pub(crate) fn len(&self) -> usize {
        self.plan.images()
    }

    /// The images, in the data's order.
    pub(crate) fn image_paths(&self) -> Vec<PathBuf> {
        self.plan.image_paths()
    }

    /// What [`LabelledData::accuracy`] measures.
    pub(crate) fn metric(&self) -> &'static str {
        match self.plan.task() {
            TaskKind::Classification => "top-1",
            _ => "mAP50-95",
        }
    }

    /// The model's mAP50-95 (boxes) or top-1 (classes), 0-1, as `inferx val` measures it (its
    /// pipeline should use [`use_val_thresholds`]); an image that cannot be read is an error.
    pub(crate) fn accuracy(&self, pool: &PipelinePool, printer: &Printer) -> anyhow::Result<f64> {
        let model = Path::new("the model");
        let evaluated = self.plan.clone().run(pool, model, &self.path, &quantize_settings(), &BarOutput { printer })?;
        Ok(evaluated.headline().1)
    }
}

/// Val's settings for `inferx quantize --data`: the defaults, no bad data allowed.
fn quantize_settings() -> ValSettings {
    ValSettings { conf: Some(crate::cli::VAL_CONFIDENCE), ..ValSettings::default() }
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
