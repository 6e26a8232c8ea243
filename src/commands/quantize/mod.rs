//! `inferx quantize`: a static int8 (QDQ) model made by ONNX Runtime's own quantization tool,
//! calibrated on tensors made by InferX's preprocessing (exactly what `predict` feeds the
//! model, at the project's size), with a YOLO head's decode left in float, an optional
//! accuracy gate (`--data`, `--max-drop`, measured as `inferx val` measures; when it refuses,
//! more tries with the noisiest activations left in float), a side-by-side
//! comparison of both models, and a project switched to the result.

mod compare;
mod interrupt;
mod project;
mod python;

use std::{
    path::{Path, PathBuf},
    process::{Command, ExitCode},
};

use anyhow::{bail, Context};
use inferx_runtime::{
    inputs, model_info::QUANTIZED_FROM_KEY, onnx_proto, pipeline::file_sha256, Device, Pipeline, PipelineOptions,
    PipelinePool, ProjectConfig,
};

use self::interrupt::Interrupt;
use super::val::{self, LabelledData};
use crate::{
    cli::{CalibrationMethod, DeviceArgs, QuantizeArgs},
    output::Printer,
};

/// Operators only a quantized model has.
const QUANTIZED_OPERATORS: [&str; 7] = [
    "QuantizeLinear",
    "DequantizeLinear",
    "QLinearConv",
    "QLinearMatMul",
    "ConvInteger",
    "MatMulInteger",
    "DynamicQuantizeLinear",
];

/// How many of the noisiest activations the gate's second and third tries leave in float.
const WIN_BACK_NOISIEST: [usize; 2] = [10, 25];

/// Exit status of `quantize.py` when ONNX Runtime's tool refuses the model, and the prefix of
/// the stderr line that says why.
const REFUSED: i32 = 2;
const REFUSAL: &str = "inferx-refusal: ";

pub(crate) fn run(args: QuantizeArgs, printer: &Printer) -> anyhow::Result<ExitCode> {
    let (given_model, config_path) = val::model_or_project(&args.target);
    let project = match &config_path {
        Some(path) => {
            Some(ProjectConfig::load(path).with_context(|| format!("reading the project's `{}`", path.display()))?)
        }
        None => None,
    };
    // Quantized for, and measured on, the CPU: int8 kernels are what the CPU provider runs.
    let device = DeviceArgs { device: Device::Cpu, strict_device: false, threads: args.threads };
    let (model, mut options) = super::run::resolve_model(given_model, config_path.as_deref(), &device)?;
    anyhow::ensure!(model.is_file(), "model `{}` not found", model.display());
    options.task = args.task.or(options.task);
    apply_size(&args, project.as_ref(), &model, &mut options)?;
    refuse_quantized(&model)?;
    let out = output_path(&args, &model)?;
    let images = calibration_images(&args.calibrate, args.calibration_images)?;

    // The float model through the pipeline `predict` uses: its labels must fit its classes.
    let float =
        Pipeline::load(&model, options.clone()).with_context(|| format!("could not load `{}`", model.display()))?;
    let gate_data = match &args.data {
        Some(data) => Some(LabelledData::read(data, float.task(), float.labels(), printer)?),
        None => None,
    };
    let interrupt = Interrupt::watch()?;
    let scratch = tempfile::Builder::new().prefix("inferx-quantize-").tempdir().context("no temporary folder")?;
    let calibration = scratch.path().join("calibration");
    let written = write_calibration(&float, &images, &calibration, &interrupt, printer)?;
    drop(float);

    let environment = python::ensure(printer)?;
    let parent = out.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    // The int8 model runs with the same preprocessing and thresholds; it has its own sha256.
    let mut int8_options = options.clone();
    int8_options.expected_sha256 = None;
    int8_options.signature = None;
    // Speed and agreement on the labelled images when given (like the deployed ones), else on
    // the calibration images.
    let compared = gate_data.as_ref().map_or_else(|| images.clone(), LabelledData::image_paths);
    // When the gate refuses, up to two more tries with more of the noisiest activations' readers
    // in float: accuracy won back for a little size and speed.
    let mut tries = std::iter::once(args.float_noisiest)
        .chain(WIN_BACK_NOISIEST.into_iter().filter(|&count| count > args.float_noisiest && !args.keep_head));
    let mut noisiest = tries.next().unwrap_or_default();
    let (staged, mut report) = loop {
        let staged = tempfile::Builder::new()
            .prefix(".inferx-int8-")
            .suffix(".onnx")
            .tempfile_in(parent)
            .with_context(|| format!("could not write in `{}`", parent.display()))?;
        let setup = Setup {
            environment: &environment,
            calibration: &calibration,
            scratch: scratch.path(),
            noisiest,
            interrupt: &interrupt,
        };
        let summary = quantize(&args, &setup, &model, staged.path(), printer)?;
        printer.status(summary.describe(&model, written));
        let mut report =
            compare::compare((&model, &options), (staged.path(), &int8_options), &compared, args.iterations, &interrupt, printer)
                .context("the int8 model ONNX Runtime's tool wrote does not run, so nothing is written; try --per-tensor, or --exclude the node ONNX Runtime names")?;
        report.int8_model = out.display().to_string();
        let (Some(data), Some(max_drop)) = (&gate_data, args.max_drop) else { break (staged, report) };
        let accuracy = compare::accuracy((&model, &options), (staged.path(), &int8_options), data, printer)?;
        interrupt.check()?;
        let drop = (accuracy.float - accuracy.int8) * 100.0;
        report.accuracy = Some(accuracy);
        if drop <= max_drop {
            break (staged, report);
        }
        if let Some(next) = tries.next() {
            if !args.json {
                report.print(false, printer)?;
            }
            printer.status(format!(
                "the int8 model loses {drop:.2} points of {} (FP32 {:.4}, int8 {:.4}), more than --max-drop {max_drop}: quantizing again with the readers of the {next} activations quantization disturbs most left in float",
                accuracy.metric, accuracy.float, accuracy.int8
            ));
            noisiest = next;
            continue;
        }
        report.print(args.json, printer)?;
        bail!(
            "the int8 model loses {drop:.2} points of {} on `{}` (FP32 {:.4}, int8 {:.4}), more than --max-drop {max_drop}: nothing written. Leave more nodes in float (--exclude NODE,NODE, --float-noisiest K), calibrate on more images like the deployed ones, or try --method entropy or percentile",
            accuracy.metric,
            args.data.as_deref().unwrap_or(Path::new("")).display(),
            accuracy.float,
            accuracy.int8,
        );
    };
    interrupt.check()?;
    staged.persist(&out).with_context(|| format!("could not write `{}`", out.display()))?;
    report.written = true;
    report.print(args.json, printer)?;
    printer.status(format!("wrote `{}`", out.display()));
    if let (Some(config_path), Some(project)) = (&config_path, &project) {
        project::switch(config_path, project, &model, &out, printer)?;
    }
    Ok(ExitCode::SUCCESS)
}

/// `inferx runtime install --quantization-tool`: the environment `quantize` runs ONNX Runtime's
/// tool in, made now (for an offline machine or an image); its interpreter.
pub(crate) fn install_tool(printer: &Printer) -> anyhow::Result<PathBuf> {
    let environment = python::ensure(printer)?;
    printer.status(format!(
        "ONNX Runtime's quantization tool (onnxruntime {}) is ready in `{}`",
        inferx_runtime::ORT_VERSION,
        environment.python.display()
    ));
    Ok(environment.python)
}

/// A project runs at its own input size, so calibrating at another is refused; a bare model
/// takes `--size` (with a warning when the model says it runs at another).
fn apply_size(
    args: &QuantizeArgs,
    project: Option<&ProjectConfig>,
    model: &Path,
    options: &mut PipelineOptions,
) -> anyhow::Result<()> {
    let Some(size) = args.size else { return Ok(()) };
    if let Some(project) = project {
        if project.input.width != size || project.input.height != size {
            bail!(
                "the project runs its model at {}x{} (`input:` in inferx.yaml), so it is calibrated at that size: leave --size out, or change the project's input size first",
                project.input.width,
                project.input.height
            );
        }
        return Ok(());
    }
    let info = onnx_proto::read_model_info(model).with_context(|| format!("could not read `{}`", model.display()))?;
    if let Some((height, width)) = info.input_size().filter(|&(height, width)| (height, width) != (size, size)) {
        tracing::warn!(
            "`{}` says it runs at {height}x{width}; it is calibrated at {size}x{size}: run the int8 model at {size} (`--size {size}`), or accuracy suffers",
            model.display()
        );
    }
    options.input = None;
    options.input_size = Some(size);
    Ok(())
}

fn refuse_quantized(model: &Path) -> anyhow::Result<()> {
    let counts =
        onnx_proto::read_operator_counts(model).with_context(|| format!("could not read `{}`", model.display()))?;
    let found: Vec<&str> = QUANTIZED_OPERATORS.iter().copied().filter(|name| counts.contains_key(*name)).collect();
    if !found.is_empty() {
        bail!(
            "`{}` is already quantized (it has {}): quantize the float (FP32) model it was made from",
            model.display(),
            found.join(", ")
        );
    }
    Ok(())
}

/// `--out`, or `<model>-int8.onnx` beside the model; an existing file only with `--force`.
fn output_path(args: &QuantizeArgs, model: &Path) -> anyhow::Result<PathBuf> {
    let out = match &args.out {
        Some(out) => out.clone(),
        None => {
            let stem = model.file_stem().map(|stem| stem.to_string_lossy().into_owned()).unwrap_or_default();
            model.with_file_name(format!("{stem}-int8.onnx"))
        }
    };
    if same_file(&out, model) {
        bail!("--out `{}` is the model itself: write the int8 model to another file", out.display());
    }
    if out.exists() && !args.force {
        bail!("`{}` exists: pass --force to replace it, or --out to write elsewhere", out.display());
    }
    Ok(out)
}

fn same_file(a: &Path, b: &Path) -> bool {
    match (a.canonicalize(), b.canonicalize()) {
        (Ok(a), Ok(b)) => a == b,
        _ => a == b,
    }
}

/// The folder's images, sorted by name; at most `limit`, evenly spread.
fn calibration_images(folder: &Path, limit: usize) -> anyhow::Result<Vec<PathBuf>> {
    anyhow::ensure!(limit > 0, "--calibration-images must be at least 1");
    let entries = std::fs::read_dir(folder).with_context(|| {
        format!(
            "could not read the calibration folder `{}`: give a folder of images like those the model will see",
            folder.display()
        )
    })?;
    let mut images: Vec<PathBuf> = entries
        .filter_map(|entry| entry.ok().map(|entry| entry.path()))
        .filter(|path| path.is_file() && inputs::is_image_path(path))
        .collect();
    if images.is_empty() {
        bail!(
            "the calibration folder `{}` has no images ({}): put a few hundred photos like those the model will see in it",
            folder.display(),
            inputs::IMAGE_EXTENSIONS.join(", ")
        );
    }
    images.sort();
    if images.len() > limit {
        let step = images.len() as f64 / limit as f64;
        images = (0..limit).map(|index| images[(index as f64 * step) as usize].clone()).collect();
    }
    Ok(images)
}

#[derive(serde::Serialize)]
struct Manifest {
    input: String,
    tensors: Vec<ManifestEntry>,
}

#[derive(serde::Serialize)]
struct ManifestEntry {
    file: String,
    shape: Vec<usize>,
}

/// Each image through the float pipeline's preprocessing (what `predict` feeds the model), as
/// raw little-endian f32 files and `calibration.json`. An image that does not decode is
/// skipped with a warning. Returns how many were written.
fn write_calibration(
    pipeline: &Pipeline,
    images: &[PathBuf],
    folder: &Path,
    interrupt: &Interrupt,
    printer: &Printer,
) -> anyhow::Result<usize> {
    std::fs::create_dir_all(folder).with_context(|| format!("could not create `{}`", folder.display()))?;
    let bar = printer.progress(images.len() as u64, "preprocessing");
    let mut manifest = Manifest { input: String::new(), tensors: Vec::new() };
    for path in images {
        interrupt.check()?;
        bar.inc(1);
        let tensor = inferx_runtime::preprocess::load_image(path, pipeline.limits())
            .and_then(|image| pipeline.image_tensor(&image));
        let (input, shape, values) = match tensor {
            Ok(tensor) => tensor,
            Err(error) => {
                tracing::warn!("calibration image `{}` skipped: {error}", path.display());
                continue;
            }
        };
        let file = format!("{:05}.f32", manifest.tensors.len());
        let bytes: Vec<u8> = values.iter().flat_map(|value| value.to_le_bytes()).collect();
        std::fs::write(folder.join(&file), bytes)
            .with_context(|| format!("could not write in `{}`", folder.display()))?;
        manifest.input = input;
        manifest.tensors.push(ManifestEntry { file, shape });
    }
    bar.finish_and_clear();
    if manifest.tensors.is_empty() {
        bail!("none of the {} calibration images could be read (see the warnings above)", images.len());
    }
    std::fs::write(folder.join("calibration.json"), serde_json::to_string(&manifest)?)
        .with_context(|| format!("could not write in `{}`", folder.display()))?;
    Ok(manifest.tensors.len())
}

/// What `quantize.py` reports.
#[derive(serde::Deserialize)]
struct ScriptSummary {
    excluded: Vec<String>,
    automatic_exclusions: usize,
    noisiest_exclusions: usize,
    quantize_linear: usize,
}

impl ScriptSummary {
    fn describe(&self, model: &Path, images: usize) -> String {
        let plural = |count: usize| if count == 1 { "" } else { "s" };
        let mut why = Vec::new();
        if self.automatic_exclusions > 0 {
            why.push(format!("{} the detection head's decode", self.automatic_exclusions));
        }
        if self.noisiest_exclusions > 0 {
            why.push(format!("{} readers of the noisiest activations", self.noisiest_exclusions));
        }
        format!(
            "quantized `{}` on {images} calibration image{} ({} QuantizeLinear; {} node{} left in float{})",
            model.display(),
            plural(images),
            self.quantize_linear,
            self.excluded.len(),
            plural(self.excluded.len()),
            if why.is_empty() { String::new() } else { format!(": {}", why.join(", ")) }
        )
    }
}

/// Where `quantize.py` runs, on what, and how many noisy activations it leaves in float.
struct Setup<'a> {
    environment: &'a python::QuantizeEnvironment,
    /// The folder of tensors [`write_calibration`] made.
    calibration: &'a Path,
    scratch: &'a Path,
    noisiest: usize,
    /// Ctrl-C or SIGTERM: the Python tool is killed.
    interrupt: &'a Interrupt,
}

/// Runs `quantize.py` in the environment: the settings that suit this CPU (uint8 activations,
/// int8 per-channel weights; 7-bit weights where x86 has no VNNI, as ONNX Runtime advises).
fn quantize(
    args: &QuantizeArgs,
    setup: &Setup<'_>,
    model: &Path,
    staged: &Path,
    printer: &Printer,
) -> anyhow::Result<ScriptSummary> {
    let Setup { environment, calibration, scratch, noisiest, interrupt } = *setup;
    let script = scratch.join("quantize.py");
    std::fs::write(&script, python::SCRIPT).with_context(|| format!("could not write `{}`", script.display()))?;
    let method = match args.method {
        CalibrationMethod::Minmax => "minmax",
        CalibrationMethod::Entropy => "entropy",
        CalibrationMethod::Percentile => "percentile",
    };
    let float_name = model.file_name().map(|name| name.to_string_lossy().into_owned()).unwrap_or_default();
    let mut command = Command::new(&environment.python);
    command
        .arg(&script)
        .arg("--model")
        .arg(model)
        .arg("--out")
        .arg(staged)
        .arg("--calibration")
        .arg(calibration)
        .args(["--method", method])
        .arg("--metadata")
        .arg(format!("{QUANTIZED_FROM_KEY}={float_name}"));
    if args.per_tensor {
        command.arg("--per-tensor");
    }
    if reduce_range() {
        command.arg("--reduce-range");
    }
    if args.keep_head {
        command.arg("--keep-head");
    }
    if noisiest > 0 {
        command.arg("--float-noisiest").arg(noisiest.to_string());
    }
    if !args.exclude.is_empty() {
        command.arg("--exclude").args(&args.exclude);
    }
    let spinner = printer.spinner("quantize", "calibrating and quantizing (ONNX Runtime's quantize_static)");
    let output = interrupt.output(&mut command);
    spinner.finish_and_clear();
    interrupt.check()?;
    let output = output.with_context(|| format!("could not run `{}`", environment.python.display()));
    let output = output?;
    let stderr = String::from_utf8_lossy(&output.stderr);
    if output.status.code() == Some(REFUSED) {
        let reason = stderr.lines().find_map(|line| line.strip_prefix(REFUSAL)).unwrap_or(stderr.trim());
        bail!("{reason}: nothing written");
    }
    if !output.status.success() {
        bail!(
            "ONNX Runtime's quantization tool failed on `{}` (this may be a bug in inferx, please report it):\n{}",
            model.display(),
            stderr.trim()
        );
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let last = stdout.lines().last().unwrap_or_default();
    serde_json::from_str(last).with_context(|| {
        format!("quantize.py printed no summary (this is a bug in inferx, please report it): {stdout}")
    })
}

/// ONNX Runtime's advice: 7-bit weights (`reduce_range`) on x86 CPUs without VNNI, where
/// u8 x s8 products can saturate; full range with VNNI and on ARM.
fn reduce_range() -> bool {
    #[cfg(target_arch = "x86_64")]
    {
        !(std::arch::is_x86_feature_detected!("avx512vnni") || std::arch::is_x86_feature_detected!("avxvnni"))
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        false
    }
}

/// A file's sha256 (hex), for the project switch.
fn sha256(path: &Path) -> anyhow::Result<String> {
    file_sha256(path).with_context(|| format!("could not read `{}`", path.display()))
}

/// The pool `val` and the comparison run a model with.
fn pool(model: &Path, options: &PipelineOptions, files: usize) -> anyhow::Result<PipelinePool> {
    PipelinePool::load(model, options.clone(), files).with_context(|| format!("could not load `{}`", model.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn calibration_images_are_the_folders_images_evenly_spread_up_to_the_limit() {
        let dir = tempfile::tempdir().unwrap();
        for index in 0..10 {
            std::fs::write(dir.path().join(format!("{index:02}.JPG")), b"").unwrap();
        }
        std::fs::write(dir.path().join("labels.txt"), b"").unwrap();
        let names = |paths: Vec<PathBuf>| -> Vec<String> {
            paths.iter().map(|path| path.file_name().unwrap().to_string_lossy().into_owned()).collect()
        };
        assert_eq!(names(calibration_images(dir.path(), 100).unwrap()).len(), 10);
        assert_eq!(names(calibration_images(dir.path(), 4).unwrap()), ["00.JPG", "02.JPG", "05.JPG", "07.JPG"]);
        let empty = tempfile::tempdir().unwrap();
        let error = calibration_images(empty.path(), 10).unwrap_err().to_string();
        assert!(error.contains("has no images"), "{error}");
    }
}
