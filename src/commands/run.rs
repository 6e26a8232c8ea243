//! `inferx run`: predictions on images and folders, as a table or JSON, with annotated copies.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
    process::ExitCode,
};

use crate::{
    cli::RunArgs,
    output::{table, Printer},
};
use anyhow::{bail, Context};
use inferx_runtime::{
    annotate, inputs, labels, results::ImagePrediction, PipelineOptions, PipelinePool, Prediction, ProjectConfig,
    UserConfig,
};

pub(crate) fn run(args: RunArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    for (name, value) in [("--conf", args.conf), ("--iou", args.iou)] {
        if let Some(value) = value.filter(|value| !(0.0..=1.0).contains(value)) {
            bail!("{name} {value} is out of range: use a value between 0 and 1");
        }
    }
    let images = inputs::collect_images(&args.inputs)?;
    let labels = args.labels.as_deref().map(labels::read_labels_file).transpose().context("reading --labels")?;
    // Precedence, lowest first: defaults, the user config, the project's inferx.yaml, INFERX_*
    // variables, flags.
    let user = UserConfig::discover().context("reading the user config")?;
    let mut options = match &args.config {
        Some(path) => {
            let config =
                ProjectConfig::load_with(path, &user).with_context(|| format!("reading `{}`", path.display()))?;
            let mut options = config.pipeline_options(inferx_runtime::project_files::project_dir(path))?;
            // The model is the one on the command line: its signature is beside it, unless the
            // project names the signature file.
            if let (Some(check), None) = (&mut options.signature, &config.model.signature) {
                check.signature = inferx_runtime::model::signature::default_signature_path(&args.model);
            }
            options
        }
        None => {
            let mut options = PipelineOptions::default();
            // The project config sets it in pipeline_options; here, the same default.
            options.session.optimized_cache = inferx_runtime::library::graph_cache_dir();
            user.apply_without_project(&mut options, |name| std::env::var(name).ok())
                .context("reading the user config and INFERX_* variables")?;
            options
        }
    };
    options.task = args.task.or(options.task);
    // `--device` (or INFERX_DEVICE, which clap reads for it) only when set: `auto` is its default.
    if args.device.device != inferx_runtime::Device::Auto {
        options.session.device = args.device.device;
    }
    options.session.strict_device |= args.device.strict_device;
    if args.device.threads > 0 {
        options.session.intra_threads = args.device.threads;
    }
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
    // A folder runs on several sessions side by side when that is faster here (PipelinePool).
    let pool = PipelinePool::load(&args.model, options, images.len())
        .with_context(|| format!("could not load `{}`", args.model.display()))?;
    let pipeline = pool.primary();
    let engine = pipeline.engine();
    let sessions = if pool.sessions() > 1 { format!(" · {} sessions", pool.sessions()) } else { String::new() };
    printer.status(format!(
        "{} · {} · {} ({}x{}) · loaded in {:.0} ms{sessions}",
        args.model.display(),
        pipeline.task(),
        engine.device(),
        pipeline.preprocess_config().width,
        pipeline.preprocess_config().height,
        engine.load_time().as_secs_f64() * 1e3
    ));
    if let Some(tracking) = tracking {
        return super::track::run(&args, &pool, images, tracking, printer);
    }
    if let Some(dir) = &args.save {
        std::fs::create_dir_all(dir).with_context(|| format!("could not create `{}`", dir.display()))?;
    }
    let bar = printer.progress(images.len() as u64, "predicting");
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
            Err(error) => failures.push(format!("{}: {error:#}", path.display())),
        }
        bar.inc(1);
    });
    bar.finish_and_clear();
    if args.json {
        let rows: Vec<ImagePrediction> = results
            .into_iter()
            .map(|(path, prediction)| ImagePrediction { image: path.display().to_string(), prediction })
            .collect();
        printer.out(serde_json::to_string_pretty(&rows)?)?;
    } else {
        printer.out(render_table(&results))?;
    }
    if let Some(dir) = &args.save {
        printer.status(format!("annotated images written to `{}`", dir.display()));
    }
    for failure in &failures {
        eprintln!("error: {failure}");
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
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
