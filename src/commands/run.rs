//! `inferx run`: predictions on images and folders, as a table or JSON, with annotated copies.

use std::{
    collections::{BTreeMap, HashSet},
    path::{Path, PathBuf},
    process::ExitCode,
    time::{Duration, Instant},
};

use crate::{
    cli::RunArgs,
    output::{table, Printer},
};
use anyhow::{bail, Context};
use inferx_runtime::{
    annotate, inputs, labels, results::ImagePrediction, PipelineOptions, PipelinePool, Prediction, PredictionOutput,
    ProjectConfig, UserConfig,
};

pub(crate) fn run(args: RunArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    for (name, value) in [("--conf", args.conf), ("--iou", args.iou)] {
        if let Some(value) = value.filter(|value| !(0.0..=1.0).contains(value)) {
            bail!("{name} {value} is out of range: use a value between 0 and 1");
        }
    }
    // With --config the model may be left out: then every path is an image.
    let (model, input_paths) = match &args.config {
        Some(_) if !names_a_model(&args.model) => (None, [vec![args.model.clone()], args.inputs.clone()].concat()),
        _ => (Some(args.model.clone()), args.inputs.clone()),
    };
    let video = super::video::video_input(&input_paths, &args)?;
    let images = if video.is_some() { Vec::new() } else { inputs::collect_images(&input_paths)? };
    let labels = args.labels.as_deref().map(labels::read_labels_file).transpose().context("reading --labels")?;
    let (model, mut options) = resolve_model(model, args.config.as_deref(), &args.device)?;
    options.task = args.task.or(options.task);
    if args.size.is_some() {
        options.input = None;
        options.input_size = args.size;
    }
    options.confidence = args.conf.or(options.confidence);
    options.iou = args.iou.or(options.iou);
    options.top_k = args.top_k.or(options.top_k);
    options.max_detections = args.max_det.or(options.max_detections);
    options.labels = labels.or(options.labels);
    let tracking = if args.track { Some(super::track::prepare(&args, &mut options)?) } else { None };
    if let Some(video) = video {
        return super::video::run(&args, &model, options, tracking, &video, printer);
    }
    // TensorRT builds its engines while the session is created: minutes on a first start,
    // which must not look like a hang.
    let building = matches!(options.session.device, inferx_runtime::Device::TensorRt(_)).then(|| {
        let cache = options.session.tensorrt_cache.as_ref().map_or_else(
            || "no engine cache: every start builds them".to_string(),
            |dir| format!("cached in {}", dir.display()),
        );
        printer
            .spinner("tensorrt", &format!("loading on TensorRT; a first start builds its engines (minutes), {cache}"))
    });
    // A folder runs on several sessions side by side when that is faster here (PipelinePool).
    let pool = PipelinePool::load(&model, options, images.len());
    if let Some(spinner) = building {
        spinner.finish_and_clear();
    }
    let pool = pool.with_context(|| format!("could not load `{}`", model.display()))?;
    printer.status(loaded_line(&model, &pool));
    if let Some(tracking) = tracking {
        return super::track::run(&args, &pool, images, tracking, printer);
    }
    if let Some(dir) = &args.save {
        std::fs::create_dir_all(dir).with_context(|| format!("could not create `{}`", dir.display()))?;
    }
    let bar = printer.progress(images.len() as u64, "predicting");
    let started = Instant::now();
    let mut results = Vec::new();
    let mut failures = Vec::new();
    let mut saved_names = HashSet::new();
    // Files are decoded while the model runs; results come in the order of `images`.
    pool.predict_files(&images, |index, result| {
        let path = &images[index];
        let saved = result.map_err(anyhow::Error::from).and_then(|(image, prediction)| {
            if let Some(dir) = &args.save {
                save_annotated(&image, &prediction, path, dir, &mut saved_names)?;
            }
            Ok(prediction)
        });
        match saved {
            Ok(prediction) => results.push((path.clone(), prediction)),
            Err(error) => failures.push(failure_line(path, &error)),
        }
        bar.inc(1);
    });
    bar.finish_and_clear();
    let summary = (images.len() > 1).then(|| summary_line(&results, failures.len(), started.elapsed()));
    if args.json {
        let rows: Vec<ImagePrediction> = results
            .into_iter()
            .map(|(path, prediction)| ImagePrediction { image: path.display().to_string(), prediction })
            .collect();
        printer.out(serde_json::to_string_pretty(&rows)?)?;
    } else if !results.is_empty() {
        printer.out(render_table(&results))?;
    }
    if let Some(summary) = summary {
        printer.status(summary);
    }
    if let Some(dir) = &args.save {
        printer.status(format!("annotated images written to `{}`", dir.display()));
    }
    for failure in &failures {
        eprintln!("error: {failure}");
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// The model and its pipeline options, precedence lowest first: defaults, the user config,
/// the project's `inferx.yaml` (`config`), INFERX_* variables, the device flags. `model`
/// `None` takes the project's `model.path`; a model given with a project keeps the project's
/// settings and finds its signature beside it.
pub(super) fn resolve_model(
    model: Option<PathBuf>,
    config: Option<&Path>,
    device: &crate::cli::DeviceArgs,
) -> anyhow::Result<(PathBuf, PipelineOptions)> {
    let user = UserConfig::discover().context("reading the user config")?;
    let (model, mut options) = match config {
        Some(path) => {
            let config =
                ProjectConfig::load_with(path, &user).with_context(|| format!("reading `{}`", path.display()))?;
            let project_dir = inferx_runtime::project_files::project_dir(path);
            let mut options = config.pipeline_options(project_dir)?;
            let model = match model {
                Some(model) => {
                    // The model on the command line: its signature is beside it, unless the
                    // project names the signature file.
                    if let (Some(check), None) = (&mut options.signature, &config.model.signature) {
                        check.signature = inferx_runtime::model::signature::default_signature_path(&model);
                    }
                    model
                }
                None => config.model_path(project_dir).with_context(|| format!("reading `{}`", path.display()))?,
            };
            (model, options)
        }
        None => {
            let mut options = PipelineOptions::default();
            // The project config sets it in pipeline_options; here, the same default.
            options.session.optimized_cache = inferx_runtime::library::graph_cache_dir();
            user.apply_without_project(&mut options, |name| std::env::var(name).ok())
                .context("reading the user config and INFERX_* variables")?;
            let model = model.context("no model given: name an ONNX model or a project's `inferx.yaml`")?;
            (model, options)
        }
    };
    // `--device` (or INFERX_DEVICE, which clap reads for it) only when set: `auto` is its default.
    if device.device != inferx_runtime::Device::Auto {
        options.session.device = device.device;
    }
    options.session.strict_device |= device.strict_device;
    if device.threads > 0 {
        options.session.intra_threads = device.threads;
    }
    Ok((model, options))
}

/// `model.onnx · detection · cpu (320x320) · loaded in 80 ms · 2 sessions`.
pub(super) fn loaded_line(model: &Path, pool: &PipelinePool) -> String {
    let pipeline = pool.primary();
    let engine = pipeline.engine();
    let sessions = if pool.sessions() > 1 { format!(" · {} sessions", pool.sessions()) } else { String::new() };
    format!(
        "{} · {} · {} ({}x{}) · loaded in {:.0} ms{sessions}",
        model.display(),
        pipeline.task(),
        engine.device(),
        pipeline.preprocess_config().width,
        pipeline.preprocess_config().height,
        engine.load_time().as_secs_f64() * 1e3
    )
}

fn save_annotated(
    image: &inferx_runtime::image::DynamicImage,
    prediction: &Prediction,
    path: &Path,
    dir: &Path,
    saved_names: &mut HashSet<String>,
) -> anyhow::Result<()> {
    let canvas = annotate::draw_prediction(image, prediction);
    let target = dir.join(inputs::annotated_file_name(path, saved_names));
    canvas.save(&target).with_context(|| format!("could not write `{}`", target.display()))
}

/// Whether a path given before the images is the model (with `--config` it may be left out).
fn names_a_model(path: &Path) -> bool {
    path.extension()
        .is_some_and(|extension| extension.eq_ignore_ascii_case("onnx") || extension.eq_ignore_ascii_case("ort"))
}

/// `path: what went wrong`, the path said once (most errors already name it).
fn failure_line(path: &Path, error: &anyhow::Error) -> String {
    let message = format!("{error:#}");
    if message.contains(&format!("`{}`", path.display())) {
        message
    } else {
        format!("{}: {message}", path.display())
    }
}

/// `2 images in 0.4 s (5.0 images/s) · FACE_FEMALE 3, BELLY_EXPOSED 1`: what a run of many
/// images did, with what it found by label (detections, top classes or anomaly verdicts).
fn summary_line(results: &[(PathBuf, Prediction)], failed: usize, elapsed: Duration) -> String {
    let mut found: BTreeMap<String, usize> = BTreeMap::new();
    for (_, prediction) in results {
        let labels: Vec<String> = match &prediction.output {
            PredictionOutput::Classification { top } => {
                top.first().map(|class| class.label.clone()).into_iter().collect()
            }
            PredictionOutput::Anomaly(anomaly) => vec![anomaly.verdict().to_string()],
            _ => prediction.detections().iter().map(|detection| detection.label.clone()).collect(),
        };
        for label in labels {
            *found.entry(label).or_default() += 1;
        }
    }
    let mut counts: Vec<(String, usize)> = found.into_iter().collect();
    counts.sort_by(|(a_label, a), (b_label, b)| b.cmp(a).then(a_label.cmp(b_label)));
    let seconds = elapsed.as_secs_f64();
    let mut line = format!(
        "{} image{} in {seconds:.1} s ({:.1} images/s)",
        results.len(),
        if results.len() == 1 { "" } else { "s" },
        results.len() as f64 / seconds.max(1e-9)
    );
    if failed > 0 {
        line.push_str(&format!(", {failed} failed"));
    }
    let what = match results.first().map(|(_, prediction)| &prediction.output) {
        Some(PredictionOutput::Classification { .. }) => "top classes",
        Some(PredictionOutput::Anomaly(_)) => "verdicts",
        _ => "detections",
    };
    let listed: Vec<String> = counts.iter().map(|(label, count)| format!("{label} {count}")).collect();
    line.push_str(&format!(" · {what}: {}", if listed.is_empty() { "none".to_string() } else { listed.join(", ") }));
    line
}

fn file_name(path: &Path) -> String {
    path.file_name().map_or_else(|| path.display().to_string(), |name| name.to_string_lossy().into_owned())
}

fn render_table(results: &[(PathBuf, Prediction)]) -> String {
    let mut rows = Vec::new();
    let mut headers = vec!["image", "size", "ms"];
    for (path, prediction) in results {
        let timings = prediction.timings;
        let total = timings.decode_ms + timings.preprocess_ms + timings.inference_ms + timings.postprocess_ms;
        let lead = vec![file_name(path), format!("{}x{}", prediction.width, prediction.height), format!("{total:.1}")];
        let (columns, found) = prediction.output.table();
        headers = [&["image", "size", "ms"][..], columns].concat();
        rows.extend(found.into_iter().map(|row| [lead.clone(), row].concat()));
    }
    table(&headers, &rows)
}
