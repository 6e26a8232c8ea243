//! `inferx docker`: deployment files for a project with the HTTP server, and ONNX Runtime in
//! its `.inferx/lib/` for the image to copy.

use std::time::Instant;

use anyhow::Context;
use inferx_runtime::install::{Flavor, InstallRequest};

use crate::{
    cli::DockerArgs,
    generator::{
        add_server,
        changes::{self, ChangeKind},
        deploy::{self, DeployOptions},
    },
    output::Printer,
};

/// Where the image takes ONNX Runtime from, relative to the project.
const RUNTIME_DIR: &str = ".inferx/lib";

pub(crate) fn run(args: DockerArgs, printer: &Printer) -> anyhow::Result<()> {
    let started = Instant::now();
    let dir = super::folder_or_current(args.project)?;
    let project = add_server::read_project(&dir)?;
    let options = DeployOptions { gpu: args.gpu, registry: args.registry, tag: args.tag };
    let changes = deploy::plan(&project, &options)?;
    let write = super::api::review(&changes, "inferx docker", args.force, args.dry_run, printer)?;
    if args.dry_run {
        return Ok(());
    }
    if write {
        changes::apply(&project.dir, &changes)?;
    } else if changes.iter().all(|change| change.kind == ChangeKind::Unchanged) {
        printer.status("the deployment files are up to date; nothing changed");
    }
    if !args.skip_runtime {
        install_runtime(&project.dir, args.gpu, printer)?;
    }
    if write {
        let (name, tag) = options.image(&project);
        let image = format!("{name}:{tag}");
        printer.status(format!(
            "deployment files ready in {:.0} ms\nnext:\n  docker build -t {image} {}\n  docker compose up    # or: helm install {} deploy/helm/{}",
            started.elapsed().as_secs_f64() * 1e3,
            project.dir.display(),
            project.name,
            project.name
        ));
    }
    Ok(())
}

/// Puts ONNX Runtime (the GPU build with `gpu`) into the project's `.inferx/lib/`, where the
/// Dockerfile copies it from.
pub(crate) fn install_runtime(project_dir: &std::path::Path, gpu: bool, printer: &Printer) -> anyhow::Result<()> {
    if !cfg!(target_os = "linux") {
        anyhow::bail!(
            "the image needs the Linux build of ONNX Runtime in {RUNTIME_DIR}/: on this OS, download the manylinux wheel and run `inferx runtime install --dest {RUNTIME_DIR} --from-wheel WHEEL`, then `inferx docker --skip-runtime`"
        );
    }
    let request = InstallRequest {
        flavor: if gpu { Flavor::Gpu } else { Flavor::Cpu },
        dest: Some(project_dir.join(RUNTIME_DIR)),
        ..InstallRequest::default()
    };
    let outcome = super::runtime::install_with_progress(&request, printer)
        .context("putting ONNX Runtime into the project for the image")?;
    if !outcome.already_installed {
        printer.status(format!("ONNX Runtime {} ({}) → {RUNTIME_DIR}/", outcome.record.version, request.flavor.name()));
    }
    Ok(())
}
