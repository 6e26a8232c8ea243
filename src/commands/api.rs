//! `inferx api`: add the HTTP server to a project, or generate a project that has it.

use std::time::Instant;

use inferx_runtime::model::onnx_proto;

use crate::{
    cli::ApiArgs,
    generator::{
        add_server::{self, Change, ChangeKind},
        GenerateError, GenerateRequest,
    },
    output::Printer,
};

pub(crate) fn run(args: ApiArgs, printer: &Printer) -> anyhow::Result<()> {
    let started = Instant::now();
    if let Some(name) = args.name {
        let template = match (&args.template, &args.model) {
            (Some(template), _) => template.clone(),
            (None, Some(model)) => {
                crate::generator::template_for_task(onnx_proto::read_model_info(model)?.guess_task())?
            }
            (None, None) => crate::generator::default_template()?,
        };
        let dir = super::folder_or_current(args.dir)?;
        let request = GenerateRequest {
            template,
            name,
            model: args.model,
            dir,
            device: args.device,
            force: args.force,
            api: true,
            video: args.video,
            confidence: None,
            iou: None,
        };
        return super::template::generate(&request, !args.no_git, started, printer);
    }
    let dir = super::folder_or_current(args.project)?;
    let project = add_server::read_project(&dir)?;
    let changes = add_server::plan(&project)?;
    if !review(&changes, "inferx api", args.force, args.dry_run, printer)? {
        if !changes.iter().any(|change| change.kind != ChangeKind::Unchanged) {
            printer.status(format!("`{}` already has the HTTP server; nothing changed", project.dir.display()));
        }
        return Ok(());
    }
    add_server::apply(&project.dir, &changes)?;
    printer.status(format!(
        "added the HTTP server to `{}` in {:.0} ms\nnext:\n  cargo run --release -- serve",
        project.dir.display(),
        started.elapsed().as_secs_f64() * 1e3
    ));
    Ok(())
}

/// Shows the plan (diffs for conflicts, or for everything with `--dry-run`) and says whether
/// to write it: `Err` on conflicts without `--force`, `Ok(false)` when there is nothing to do
/// or on a dry run.
pub(crate) fn review(
    changes: &[Change],
    command: &'static str,
    force: bool,
    dry_run: bool,
    printer: &Printer,
) -> anyhow::Result<bool> {
    for change in changes.iter().filter(|change| !change.diff.is_empty()) {
        if dry_run || change.kind == ChangeKind::Conflict {
            eprint!("{}", change.diff);
        }
    }
    let conflicts: Vec<String> =
        changes.iter().filter(|change| change.kind == ChangeKind::Conflict).map(|change| change.path.clone()).collect();
    if !conflicts.is_empty() && !force && !dry_run {
        return Err(GenerateError::Conflicts { command, paths: conflicts }.into());
    }
    let pending: Vec<&Change> = changes.iter().filter(|change| change.kind != ChangeKind::Unchanged).collect();
    for change in &pending {
        let verb = match change.kind {
            ChangeKind::Create => "create",
            ChangeKind::Conflict => "replace",
            ChangeKind::Remove => "remove",
            _ => "update",
        };
        printer.status(format!("{}{verb:>8} {}: {}", if dry_run { "would " } else { "" }, change.path, change.summary));
    }
    Ok(!pending.is_empty() && !dry_run)
}
