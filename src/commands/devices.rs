//! `inferx devices`: what this machine and its ONNX Runtime can run on.

use inferx_runtime::{
    device::{provider_status, CpuInfo, GpuInfo, HardwareProbe, ProviderChain, ProviderStatus},
    library::{self, LibraryLocation, SystemProbe},
    Device, Provider,
};
use serde::Serialize;

use crate::{
    cli::DevicesArgs,
    output::{table, Printer},
};

#[derive(Serialize)]
struct RuntimeReport {
    #[serde(flatten)]
    location: Option<LibraryLocation>,
    version: Option<String>,
    error: Option<String>,
}

#[derive(Serialize)]
struct DevicesReport {
    onnxruntime: RuntimeReport,
    cpu: CpuInfo,
    gpus: Vec<GpuInfo>,
    providers: Vec<ProviderStatus>,
    auto_chain: String,
}

pub(crate) fn run(args: DevicesArgs, printer: &Printer) -> anyhow::Result<()> {
    let runtime = match library::ensure_initialized(None) {
        Ok(loaded) => RuntimeReport {
            location: Some(loaded.location.clone()),
            version: Some(loaded.version.clone()),
            error: None,
        },
        Err(error) => RuntimeReport { location: None, version: None, error: Some(error.to_string()) },
    };
    let probe = SystemProbe::detect();
    let providers: Vec<ProviderStatus> =
        Provider::ALL.iter().map(|provider| provider_status(*provider, &probe)).collect();
    let report = DevicesReport {
        onnxruntime: runtime,
        cpu: CpuInfo::detect(),
        gpus: probe.gpus(),
        providers,
        auto_chain: ProviderChain::plan(Device::Auto, &probe).describe(),
    };
    if args.json {
        printer.out(serde_json::to_string_pretty(&report)?)?;
        return Ok(());
    }
    let mut lines = Vec::new();
    match (&report.onnxruntime.location, &report.onnxruntime.error) {
        (Some(location), _) => lines.push(format!(
            "ONNX Runtime {} from {} ({})",
            report.onnxruntime.version.as_deref().unwrap_or("?"),
            location.path.display(),
            location.source
        )),
        (None, Some(error)) => lines.push(format!("ONNX Runtime: not loaded: {error}")),
        (None, None) => {}
    }
    let cpu = &report.cpu;
    lines.push(format!(
        "CPU: {} ({} logical cores, {}; SIMD: {})",
        cpu.model,
        cpu.logical_cores,
        cpu.arch,
        cpu.simd.join(" ")
    ));
    if report.gpus.is_empty() {
        lines.push("GPUs: none found".to_string());
    }
    for gpu in &report.gpus {
        lines.push(format!("GPU: {} ({:?}, via {})", gpu.name, gpu.vendor, gpu.backend));
    }
    lines.push(String::new());
    let rows: Vec<Vec<String>> = report
        .providers
        .iter()
        .map(|status| {
            vec![
                status.provider.to_string(),
                yes_no(status.in_runtime),
                yes_no(status.usable),
                if status.reason.is_empty() { "-".to_string() } else { status.reason.clone() },
            ]
        })
        .collect();
    lines.push(table(&["device", "in runtime", "usable", "why not"], &rows));
    lines.push(String::new());
    lines.push(format!("--device auto runs on: {}", report.auto_chain));
    printer.out(lines.join("\n"))?;
    Ok(())
}

fn yes_no(value: bool) -> String {
    if value { "yes" } else { "no" }.to_string()
}
