//! `inferx upgrade`: the project's vendored runtime and unedited files brought to this inferx;
//! edited files get the new version beside them.

use std::time::Instant;

use crate::{
    cli::UpgradeArgs,
    generator::{
        add_server,
        changes::{self, ChangeKind},
        deploy,
        upgrade::{self, NEW_SUFFIX},
    },
    output::Printer,
};

pub(crate) fn run(args: UpgradeArgs, printer: &Printer) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = super::folder_or_current(args.project)?;
    let project = add_server::read_project(&dir)?;
    let plan = upgrade::plan(&project, args.force)?;
    if !plan.had_record {
        tracing::warn!(
            "`{}` has no {} (it was made before inferx kept one): every file that differs counts as edited",
            project.dir.display(),
            upgrade::RECORD
        );
    }
    let write = super::api::review(&plan.changes, "inferx upgrade", args.force, args.dry_run, printer)?;
    if write {
        changes::apply(&project.dir, &plan.changes)?;
    }
    let to = env!("CARGO_PKG_VERSION");
    let is = if args.dry_run { "would be" } else { "is" };
    for path in &plan.beside {
        printer.status(format!(
            "you edited `{path}`: the new version {is} in `{path}{NEW_SUFFIX}`; merge it, then delete the .new file"
        ));
    }
    for path in &plan.kept {
        printer.status(format!("`{path}` is no longer generated; kept because you edited it"));
    }
    if project.dir.join(deploy::RECORD).is_file() {
        printer.status("deployment files: run `inferx docker` (with the flags you used) to refresh them too");
    }
    if args.dry_run {
        return Ok(());
    }
    if plan.changes.iter().all(|change| change.kind == ChangeKind::Unchanged) {
        printer.status(format!("`{}` is up to date with inferx {to}; nothing changed", project.dir.display()));
    } else {
        printer.status(format!(
            "upgraded `{}` from inferx {} to {to} in {:.0} ms\nnext:\n  inferx test {}",
            project.dir.display(),
            plan.from_version,
            started.elapsed().as_secs_f64() * 1e3,
            project.dir.display()
        ));
    }
    Ok(())
}
