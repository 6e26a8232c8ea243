//! `inferx template`: generate a project.

use std::time::Instant;

use anyhow::Context;

use crate::{
    cli::TemplateArgs,
    generator::{self, GenerateRequest},
    output::Printer,
};

pub(crate) fn run(args: TemplateArgs, printer: &Printer) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = match args.dir {
        Some(dir) => dir,
        None => std::env::current_dir().context("could not read the current folder")?,
    };
    let request = GenerateRequest {
        template: args.template,
        name: args.name,
        model: args.model,
        dir,
        device: args.device,
        force: args.force,
    };
    let target = generator::generate(&request)?;
    printer.status(format!(
        "created `{}` from template `{}` in {:.0} ms",
        target.display(),
        request.template,
        started.elapsed().as_secs_f64() * 1e3
    ));
    let model_hint = if request.model.is_some() { "" } else { "\n  cp /path/to/model.onnx models/model.onnx" };
    printer.status(format!(
        "next:\n  cd {}{model_hint}\n  inferx runtime install\n  cargo run --release -- predict image.jpg",
        target.display()
    ));
    Ok(())
}
