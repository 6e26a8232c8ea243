//! `inferx template`: generate a project.

use std::time::Instant;

use crate::{
    cli::TemplateArgs,
    generator::{self, GenerateRequest},
    output::Printer,
};

pub(crate) fn run(args: TemplateArgs, printer: &Printer) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = super::folder_or_current(args.dir)?;
    let request = GenerateRequest {
        template: args.template,
        name: args.name,
        model: args.model,
        dir,
        device: args.device,
        force: args.force,
        api: args.api,
        confidence: args.confidence,
        iou: args.iou,
    };
    generate(&request, started, printer)
}

/// Generates a project and says what to do next (shared with `inferx api --name`).
pub(crate) fn generate(request: &GenerateRequest, started: Instant, printer: &Printer) -> anyhow::Result<()> {
    let target = generator::generate(request)?;
    printer.status(format!(
        "created `{}` from template `{}` in {:.0} ms",
        target.display(),
        request.template,
        started.elapsed().as_secs_f64() * 1e3
    ));
    // Only the steps still to do: the model when none was given, ONNX Runtime when it is not
    // found on this machine.
    let model_hint = if request.model.is_some() { "" } else { "\n  cp /path/to/model.onnx models/model.onnx" };
    let runtime_hint = if inferx_runtime::library::locate().is_ok() { "" } else { "\n  inferx runtime install" };
    let command = if request.api { "serve" } else { "predict image.jpg" };
    printer.status(format!(
        "next:\n  cd {}{model_hint}{runtime_hint}\n  cargo run --release -- {command}",
        target.display()
    ));
    Ok(())
}
