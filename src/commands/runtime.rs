//! `inferx runtime install` and `inferx runtime path`.

use anyhow::Context;
use inferx_runtime::{
    install::{self, Flavor, InstallRequest, Progress},
    library,
};

use crate::{
    cli::{InstallArgs, RuntimeCommand},
    output::Printer,
};

pub(crate) fn run(command: RuntimeCommand, printer: &Printer) -> anyhow::Result<()> {
    match command {
        RuntimeCommand::Install(args) => install(args, printer),
        RuntimeCommand::Path => {
            let location = library::locate()?;
            printer.out(location.path.display().to_string())?;
            Ok(())
        }
    }
}

fn install(args: InstallArgs, printer: &Printer) -> anyhow::Result<()> {
    if args.quantization_tool {
        let environment = super::quantize::install_tool(printer)?;
        printer.out(environment.display().to_string())?;
        return Ok(());
    }
    let flavor = match (args.gpu, args.openvino, args.webgpu) {
        (true, _, _) => Flavor::Gpu,
        (_, true, _) => Flavor::OpenVino,
        (_, _, true) => Flavor::WebGpu,
        _ => Flavor::Cpu,
    };
    let version = args.version.clone().unwrap_or_else(|| flavor.default_version().to_string());
    let request = InstallRequest {
        version: Some(version.clone()),
        flavor,
        dest: args.dest,
        from_wheel: args.from_wheel,
        force: args.force,
    };
    let outcome = install_with_progress(&request, printer)
        .with_context(|| format!("installing {} {version}", flavor.package()))?;
    let what = match flavor {
        Flavor::WebGpu => format!("the WebGPU plugin {}", outcome.record.version),
        _ => format!("ONNX Runtime {} ({})", outcome.record.version, flavor.name()),
    };
    if outcome.already_installed {
        printer.status(format!("{what} is already installed in `{}`", outcome.dir.display()));
    } else {
        printer.status(format!(
            "installed {what} from {} (sha256 {}…) into `{}`",
            outcome.record.wheel,
            &outcome.record.sha256[..12.min(outcome.record.sha256.len())],
            outcome.dir.display()
        ));
    }
    if flavor == Flavor::WebGpu {
        printer.status(
            "`--device webgpu` registers it; it needs ONNX Runtime 1.24.4 or later and a Vulkan, Metal or D3D12 GPU (`inferx devices` lists the adapters)",
        );
    }
    printer.out(outcome.library.display().to_string())?;
    Ok(())
}

/// Installs ONNX Runtime with a download progress bar (shared with `inferx docker`).
pub(crate) fn install_with_progress(
    request: &InstallRequest,
    printer: &Printer,
) -> inferx_runtime::Result<install::InstallOutcome> {
    // A spinner while the wheel is found and after it is downloaded (extracting), a download
    // bar with the time left in between: no silent minute.
    let bar = std::cell::RefCell::new(printer.spinner("runtime", &format!("finding {}", request.flavor.package())));
    let replace = |next: indicatif::ProgressBar| bar.replace(next).finish_and_clear();
    let mut on_progress = |event: Progress| match event {
        Progress::Start { file, total } => {
            replace(printer.download(total.unwrap_or(0), &format!("downloading {file}")));
        }
        Progress::Advance(bytes) => bar.borrow().set_position(bytes),
        Progress::Finish => replace(printer.spinner("runtime", "extracting the libraries")),
    };
    let outcome = install::install(request, &mut on_progress);
    bar.borrow().finish_and_clear();
    outcome
}
