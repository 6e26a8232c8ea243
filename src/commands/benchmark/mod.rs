//! `inferx benchmark`: measure a model (or a project's model) per device, batch and size.

use std::{process::ExitCode, time::SystemTime};

use anyhow::Context;
use inferx_runtime::ProjectConfig;

mod measure;

use measure::{BenchPlan, BenchReport};

use crate::{cli::BenchmarkArgs, output::Printer};

pub(crate) fn run(args: BenchmarkArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let (model, task, project_input) = if args.target.is_dir() {
        let config_path = args.target.join(inferx_runtime::config::CONFIG_FILE);
        let config = ProjectConfig::load(&config_path)
            .with_context(|| format!("`{}` is a folder but not a project", args.target.display()))?;
        let model = config.model_path(&args.target)?;
        // The project's model checks (sha256, signature) hold here too.
        let options = config.pipeline_options(&args.target)?;
        inferx_runtime::pipeline::verify_model_file(&model, &options)?;
        (model, Some(config.task), Some(config.input))
    } else {
        (args.target.clone(), args.task, None)
    };
    anyhow::ensure!(model.is_file(), "model `{}` not found", model.display());
    // By default, the size `predict` and `serve` run at: the project's, else the model's own.
    let sizes = if args.size.is_empty() {
        vec![match &project_input {
            Some(input) => input.width,
            None => default_size(&model, task)?,
        }]
    } else {
        args.size.clone()
    };
    anyhow::ensure!(args.iterations > 0, "--iterations must be at least 1");
    anyhow::ensure!(args.batch.iter().all(|&batch| batch > 0), "--batch sizes must be at least 1");
    let baseline: Option<BenchReport> = match &args.compare {
        Some(path) => Some(
            serde_json::from_str(
                &std::fs::read_to_string(path).with_context(|| format!("could not read `{}`", path.display()))?,
            )
            .with_context(|| format!("`{}` is not a report of `inferx benchmark --json`", path.display()))?,
        ),
        None => None,
    };
    let plan = BenchPlan {
        model: model.clone(),
        task,
        devices: args.devices.clone(),
        batches: args.batch.clone(),
        sizes,
        project_input,
        threads: args.threads,
        iterations: args.iterations,
        warmup: args.warmup,
        e2e_image: args.e2e.clone(),
    };
    let mut report = measure_plan(&plan, args.iterations, printer);
    // An int8 model made by `inferx quantize` is shown beside the float model it came from.
    if let Some(float_model) = float_sibling(&model) {
        let float_plan = BenchPlan { model: float_model, ..plan.clone() };
        report.float = Some(Box::new(measure_plan(&float_plan, args.iterations, printer)));
    }
    let text = if args.json {
        serde_json::to_string_pretty(&report)?
    } else if args.csv {
        measure::to_csv(&report)
    } else if args.markdown {
        measure::to_markdown(&report)
    } else {
        measure::to_table(&report)
    };
    printer.out(text.trim_end())?;
    if let (Some(float), false) = (&report.float, args.json) {
        let text = if args.csv {
            measure::to_csv(float)
        } else if args.markdown {
            measure::to_markdown(float)
        } else {
            measure::to_table(float)
        };
        printer.out(format!("\nthe FP32 model it was quantized from, `{}`:\n{}", float.model, text.trim_end()))?;
        for line in measure::speedups(float, &report) {
            printer.out(line)?;
        }
    }
    if !args.json {
        printer.status(measure::cache_note(&report));
    }
    if let Some(path) = &args.plot {
        std::fs::write(path, measure::to_svg(&report))
            .with_context(|| format!("could not write `{}`", path.display()))?;
        printer.status(format!("chart written to `{}`", path.display()));
    }
    if !args.no_history {
        let history = measure::history_file();
        match measure::append_history(&history, &report) {
            Ok(()) => printer.status(format!("appended to `{}`", history.display())),
            Err(error) => tracing::warn!("could not append to `{}`: {error}", history.display()),
        }
    }
    if let Some(baseline) = baseline {
        let regressions = measure::regressions(&baseline, &report, args.max_regression);
        if !regressions.is_empty() {
            for regression in &regressions {
                eprintln!("regression: {regression}");
            }
            eprintln!(
                "error: {} configuration(s) slower than the baseline by more than {:.0}%",
                regressions.len(),
                args.max_regression * 100.0
            );
            return Ok(ExitCode::FAILURE);
        }
        printer.status(format!("no regression beyond {:.0}% against the baseline", args.max_regression * 100.0));
    }
    Ok(ExitCode::SUCCESS)
}

/// Runs every configuration of the plan, with a progress bar.
fn measure_plan(plan: &BenchPlan, iterations: usize, printer: &Printer) -> BenchReport {
    let configs = plan.configs();
    let bar = printer.progress((configs.len() * iterations) as u64, "benchmarking");
    let mut results = Vec::with_capacity(configs.len());
    for (config, device) in &configs {
        bar.set_message(format!("{} batch {} size {}", config.device, config.batch, config.size));
        let result = measure::measure(plan, config, *device, &mut || bar.inc(1));
        if let Some(reason) = &result.reason {
            bar.inc(iterations as u64);
            tracing::warn!("skipped {} batch {} size {}: {reason}", config.device, config.batch, config.size);
        }
        results.push(result);
    }
    bar.finish_and_clear();
    BenchReport {
        model: plan.model.display().to_string(),
        timestamp: SystemTime::now().duration_since(SystemTime::UNIX_EPOCH).map_or(0, |time| time.as_secs()),
        machine: measure::machine(),
        iterations,
        results,
        float: None,
    }
}

/// The float model an int8 model was quantized from (its metadata names it), when it lies
/// beside it.
fn float_sibling(model: &std::path::Path) -> Option<std::path::PathBuf> {
    let info = inferx_runtime::onnx_proto::read_model_info(model).ok()?;
    let float = model.with_file_name(info.quantized_from()?);
    (float.is_file() && float != model).then_some(float)
}

/// A model's own input size: its fixed input, its `imgsz` metadata, else its task's default.
fn default_size(model: &std::path::Path, task: Option<inferx_runtime::TaskKind>) -> anyhow::Result<u32> {
    let info = inferx_runtime::onnx_proto::read_model_info(model)
        .with_context(|| format!("could not read the model `{}`", model.display()))?;
    let task = task.unwrap_or_else(|| info.guess_task());
    Ok(info.input_size().map_or(task.defaults().input_size, |(_, width)| width))
}
