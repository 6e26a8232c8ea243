//! Command-line arguments: one `Command` enum, one args struct per subcommand.

use std::path::PathBuf;

use clap::{
    builder::{PossibleValue, TypedValueParser},
    error::ErrorKind,
    Args, Parser, Subcommand,
};
use inferx_runtime::{Device, TaskKind};

use crate::generator::{Registry, TemplateId};

/// Turn an ONNX vision model into a standalone, production-grade Rust inference project.
#[derive(Debug, Parser)]
#[command(name = "inferx", version, about)]
pub struct Cli {
    /// More logging (-v info, -vv debug). `INFERX_LOG` takes a tracing filter.
    #[arg(short, long, action = clap::ArgAction::Count, global = true)]
    pub verbose: u8,
    /// Only results and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// The subcommand.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a model on images or folders and print (or save) the predictions.
    Run(RunArgs),
    /// Show a model's inputs, outputs, opset, metadata and guessed task.
    Inspect(InspectArgs),
    /// Show ONNX Runtime, its providers, the CPU and GPUs, and which devices are usable.
    Devices(DevicesArgs),
    /// Manage the ONNX Runtime shared library.
    #[command(subcommand)]
    Runtime(RuntimeCommand),
    /// Sign models and check their signatures (minisign format, ed25519).
    #[command(subcommand)]
    Model(ModelCommand),
    /// Generate a standalone inference project from a template.
    Template(TemplateArgs),
    /// Create a project by answering a few questions (or, with --yes, from flags alone).
    Init(InitArgs),
    /// Add the HTTP server to a project (or, with --name, generate a project that has it).
    Api(ApiArgs),
    /// Add a Dockerfile, compose file, Kubernetes manifests and a Helm chart to a project.
    Docker(DockerArgs),
    /// Bring a project to this inferx: the vendored runtime and every file you have not edited
    /// (edited files get the new version beside them as `<file>.new`).
    Upgrade(UpgradeArgs),
    /// Measure cold start, latency, throughput and memory per device, batch and input size.
    Benchmark(BenchmarkArgs),
    /// Check a project: config, model, labels, vendored runtime and deployment files.
    Validate(ValidateArgs),
    /// Validate, build and test a project, then predict its sample images with it.
    Test(TestArgs),
    /// Measure accuracy on labelled data through this pipeline: COCO mAP (as pycocotools
    /// computes it) for detectors, top-1/top-5 for classifiers.
    Val(ValArgs),
    /// Quantize a model (or a project's model) to int8, calibrated through the project's own
    /// preprocessing, with an accuracy gate; compares the two models.
    Quantize(QuantizeArgs),
}

/// Device selection, shared by commands that load a model.
#[derive(Debug, Clone, Args)]
pub struct DeviceArgs {
    /// Device: auto, cpu, cuda[:N], tensorrt[:N], openvino, coreml, directml[:N], rocm[:N], webgpu.
    #[arg(long, env = "INFERX_DEVICE", default_value = "auto")]
    pub device: Device,
    /// Fail instead of falling back when the device cannot be used.
    #[arg(long)]
    pub strict_device: bool,
    /// Threads inside one operator (0 = ONNX Runtime's default).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
}

/// `inferx run`.
#[derive(Debug, Args)]
pub struct RunArgs {
    /// The ONNX model; with `--config`, leave it out to use the project's `model.path`.
    pub model: PathBuf,
    /// Images or folders of images, or one video file (mp4, mkv, webm, avi, mov: one JSON
    /// line per frame with `--json`), or one live source: `rtsp://`, `http(s)://` (MJPEG,
    /// HLS) or a camera `/dev/videoN` (the freshest frame each time, reconnecting; Ctrl-C ends
    /// with the summary). Videos and live sources need a build with the `video` feature.
    #[arg(required_unless_present = "config")]
    pub inputs: Vec<PathBuf>,
    /// Task; guessed from the model when omitted.
    #[arg(long)]
    pub task: Option<TaskKind>,
    /// Take the model, task, preprocessing, thresholds and labels from a project's
    /// `inferx.yaml` (flags, and a model given first, still win).
    #[arg(long, value_name = "INFERX_YAML")]
    pub config: Option<PathBuf>,
    /// Device options.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write annotated images into this folder (for a video: one annotated H.264 MP4).
    #[arg(long, value_name = "OUT_DIR")]
    pub save: Option<PathBuf>,
    /// Score threshold (detections must score above it; mask/anomaly threshold otherwise).
    #[arg(long, value_name = "0..1")]
    pub conf: Option<f32>,
    /// NMS IoU threshold.
    #[arg(long, value_name = "0..1")]
    pub iou: Option<f32>,
    /// Classes shown for classification.
    #[arg(long)]
    pub top_k: Option<usize>,
    /// Most detections per image.
    #[arg(long)]
    pub max_det: Option<usize>,
    /// Square input size for models with a dynamic input.
    #[arg(long)]
    pub size: Option<u32>,
    /// A labels file (one per line, or a JSON/YAML list) instead of the model's names.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// Follow objects across the inputs, taken as one sequence of frames in order (a folder's
    /// numbered frames by number): one line per frame, with a `track_id` on each detection and
    /// line and zone events (JSON Lines with `--json`). Detectors only; ByteTrack, lines and
    /// zones from `tracking:` in `--config`. Lowers `--conf` to `tracking.track_low_thresh`
    /// (0.1) unless given.
    #[arg(long)]
    pub track: bool,
    /// Of a video, keep every Nth frame (1: all); frames keep their numbers and times.
    #[arg(long, value_name = "N", default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..))]
    pub vid_stride: u64,
    /// Frames per second of a `--track` image sequence, for `pts_ms` and times in zones (a
    /// video's times come from the file).
    #[arg(long, value_name = "FPS", default_value_t = 30.0, requires = "track")]
    pub fps: f64,
    /// Of a live source or a video, stop after this many seconds (with the summary).
    #[arg(long, value_name = "SECONDS", value_parser = positive_seconds)]
    pub duration: Option<f64>,
    /// Of a live source, run the model on at most this many frames a second (the others are
    /// skipped on arrival and counted).
    #[arg(long, value_name = "FPS", value_parser = positive_seconds)]
    pub max_fps: Option<f64>,
    /// Of an `rtsp://` source, receive RTP over UDP instead of TCP.
    #[arg(long)]
    pub rtsp_udp: bool,
}

/// A positive, finite number (seconds, frames a second).
fn positive_seconds(text: &str) -> Result<f64, String> {
    match text.parse::<f64>() {
        Ok(value) if value.is_finite() && value > 0.0 => Ok(value),
        _ => Err(format!("`{text}` is not a positive number")),
    }
}

/// `inferx val`.
#[derive(Debug, Args)]
pub struct ValArgs {
    /// The ONNX model, or a project (its folder or its `inferx.yaml`: then its preprocessing,
    /// labels and device are used).
    pub model: PathBuf,
    /// The labelled data: an Ultralytics data.yaml, a folder with images/ and labels/, a COCO
    /// json, a folder of images per class (ImageNet layout), a folder with images/ and masks/
    /// (label maps for segmentation), or an MVTec AD category (test/, ground_truth/).
    #[arg(long, value_name = "PATH")]
    pub data: PathBuf,
    /// The image folder of a COCO json (default: beside it, or images/).
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// Task; guessed from the model when omitted.
    #[arg(long)]
    pub task: Option<TaskKind>,
    /// Device options.
    #[command(flatten)]
    pub device: DeviceArgs,
    /// Square input size for models with a dynamic input.
    #[arg(long)]
    pub size: Option<u32>,
    /// Score threshold: for detectors 0.001 unless given (Ultralytics' val: keep nearly
    /// everything); segmentation and anomaly models keep the project's unless given.
    #[arg(long, value_name = "0..1")]
    pub conf: Option<f32>,
    /// NMS IoU threshold.
    #[arg(long, value_name = "0..1", default_value_t = 0.7)]
    pub iou: f32,
    /// Most detections per image.
    #[arg(long, default_value_t = VAL_MAX_DETECTIONS)]
    pub max_det: usize,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Write the detections in COCO's results format (pycocotools' `loadRes`).
    #[arg(long, value_name = "FILE")]
    pub save_json: Option<PathBuf>,
    /// Write precision-recall curves and the confusion matrix (PNG and SVG) into this folder.
    #[arg(long, value_name = "DIR")]
    pub plots: Option<PathBuf>,
    /// Leave out images with bad labels or that do not decode, instead of stopping.
    #[arg(long)]
    pub skip_bad: bool,
    /// Anomaly models: store the F1-optimal threshold as `thresholds.confidence` in the
    /// project's inferx.yaml (comments and other keys kept).
    #[arg(long)]
    pub write_threshold: bool,
    /// Detection: fail (exit 1, both figures printed) when box mAP50-95 is below this.
    #[arg(long, value_name = "0..1")]
    pub min_map: Option<f64>,
    /// Classification: fail when top-1 accuracy is below this.
    #[arg(long, value_name = "0..1")]
    pub min_top1: Option<f64>,
    /// Segmentation: fail when mIoU is below this.
    #[arg(long, value_name = "0..1")]
    pub min_miou: Option<f64>,
    /// Anomaly: fail when image AUROC is below this.
    #[arg(long, value_name = "0..1")]
    pub min_auroc: Option<f64>,
}

/// `inferx val`'s score threshold (Ultralytics' val default: keep nearly everything).
pub const VAL_CONFIDENCE: f32 = inferx_runtime::val::DETECTION_CONF;
/// `inferx val`'s NMS IoU threshold (Ultralytics' val default).
pub const VAL_IOU: f32 = 0.7;
/// `inferx val`'s most detections per image (Ultralytics' val default).
pub const VAL_MAX_DETECTIONS: usize = 300;

/// Calibration methods of ONNX Runtime's `quantize_static`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum CalibrationMethod {
    /// The smallest and largest value of each tensor (fast, the usual choice for CNNs).
    Minmax,
    /// The range that keeps the most information (KL divergence of histograms).
    Entropy,
    /// The 99.999th percentile of absolute values (ignores rare outliers).
    Percentile,
}

/// `inferx quantize`.
#[derive(Debug, Args)]
pub struct QuantizeArgs {
    /// The FP32 ONNX model, or a project (its folder or its `inferx.yaml`: its preprocessing
    /// and labels are used, and it is switched to the int8 model).
    pub target: PathBuf,
    /// Calibration images: a folder of photos like those the model will see (100 to 500 is
    /// usual), preprocessed exactly as `predict` does.
    #[arg(long, value_name = "DIR")]
    pub calibrate: PathBuf,
    /// Use at most this many calibration images (evenly spread over the sorted folder).
    #[arg(long, value_name = "N", default_value_t = 200)]
    pub calibration_images: usize,
    /// Square input size for a bare model with a dynamic input (a project runs at its own).
    #[arg(long)]
    pub size: Option<u32>,
    /// The int8 model to write (default: `<model>-int8.onnx` beside the model).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Replace `--out` when it exists.
    #[arg(long)]
    pub force: bool,
    /// Calibration method.
    #[arg(long, value_enum, default_value = "minmax")]
    pub method: CalibrationMethod,
    /// One scale per output channel of each weight (the default: it keeps most accuracy).
    #[arg(long, conflicts_with = "per_tensor")]
    pub per_channel: bool,
    /// One scale per weight tensor instead of per channel.
    #[arg(long)]
    pub per_tensor: bool,
    /// Leave these nodes in float (names as Netron shows them; comma-separated or repeated),
    /// besides the detection head's decode.
    #[arg(long, value_name = "NODE", value_delimiter = ',')]
    pub exclude: Vec<String>,
    /// Leave in float the readers of the K activations quantization disturbs most (ranked by
    /// signal-to-noise ratio on a few calibration images, with ONNX Runtime's qdq_loss_debug).
    /// When the --max-drop gate refuses, quantize tries again with 10, then 25.
    #[arg(long, value_name = "K", default_value_t = 0)]
    pub float_noisiest: usize,
    /// Quantize a YOLO head's decode too (its scores collapse: onnxruntime#14233); for
    /// experiments and to see the gate refuse.
    #[arg(long)]
    pub keep_head: bool,
    /// Labelled data (as `inferx val --data`): measure both models on it, mAP50-95 for a
    /// detector, top-1 for a classifier.
    #[arg(long, value_name = "PATH", requires = "max_drop")]
    pub data: Option<PathBuf>,
    /// With --data: refuse the int8 model when its mAP50-95 (or top-1) is this many points
    /// (0-100 scale) below the FP32 model's.
    #[arg(long, value_name = "POINTS", requires = "data")]
    pub max_drop: Option<f64>,
    /// Timed model-only runs per model for the comparison.
    #[arg(long, default_value_t = 30)]
    pub iterations: usize,
    /// Threads inside one operator for the comparison and the gate (0 = ONNX Runtime's
    /// default; 1 measures steadily on a machine other work keeps busy).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Task; guessed from the model when omitted.
    #[arg(long)]
    pub task: Option<TaskKind>,
    /// Print the report as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `inferx inspect`.
#[derive(Debug, Args)]
pub struct InspectArgs {
    /// The ONNX model.
    pub model: PathBuf,
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `inferx devices`.
#[derive(Debug, Args)]
pub struct DevicesArgs {
    /// Print JSON.
    #[arg(long)]
    pub json: bool,
}

/// `inferx runtime ...`.
#[derive(Debug, Subcommand)]
pub enum RuntimeCommand {
    /// Download ONNX Runtime from its PyPI wheel (sha256-checked) into the cache or a folder.
    Install(InstallArgs),
    /// Print the path of the ONNX Runtime library that would be used.
    Path,
}

/// `inferx model`: detached signatures in minisign's format, so `minisign` and `rsign` read
/// and make the same files.
#[derive(Debug, Subcommand)]
pub enum ModelCommand {
    /// Create a signing key pair: PATH.key (secret; password-protected unless --no-password)
    /// and PATH.pub (public: its key goes into inferx.yaml as model.public_key).
    Keygen(KeygenArgs),
    /// Sign a model: writes MODEL.minisig beside it.
    Sign(SignArgs),
    /// Check a model's signature with a public key.
    Verify(VerifyArgs),
}

/// `inferx model keygen`.
#[derive(Debug, Args)]
pub struct KeygenArgs {
    /// The key pair's path without extension: PATH.key and PATH.pub are written.
    #[arg(default_value = "inferx")]
    pub path: PathBuf,
    /// Leave the secret key unencrypted (for a CI signer that keeps it in a secret store).
    #[arg(long)]
    pub no_password: bool,
    /// Replace an existing key pair.
    #[arg(long)]
    pub force: bool,
}

/// `inferx model sign`.
#[derive(Debug, Args)]
pub struct SignArgs {
    /// The model file.
    pub model: PathBuf,
    /// The secret key (`inferx model keygen`'s .key, or a minisign secret key). Its password
    /// comes from INFERX_SIGNING_PASSWORD, else it is asked for.
    #[arg(long, value_name = "KEY")]
    pub secret_key: PathBuf,
    /// Where to write the signature (default: MODEL.minisig).
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
    /// The signature's trusted comment (signed too; default: the model's file name).
    #[arg(long)]
    pub comment: Option<String>,
}

/// `inferx model verify`.
#[derive(Debug, Args)]
pub struct VerifyArgs {
    /// The model file.
    pub model: PathBuf,
    /// The public key: a .pub file, or the key itself (`RW…`).
    #[arg(long, value_name = "KEY")]
    pub public_key: String,
    /// The signature (default: MODEL.minisig).
    #[arg(long, value_name = "FILE")]
    pub signature: Option<PathBuf>,
}

/// `inferx runtime install`.
#[derive(Debug, Args)]
pub struct InstallArgs {
    /// The version (default: ONNX Runtime's that this inferx uses; with --webgpu, the plugin's).
    #[arg(long)]
    pub version: Option<String>,
    /// The CUDA/TensorRT build (`onnxruntime-gpu`).
    #[arg(long, conflicts_with_all = ["openvino", "webgpu"])]
    pub gpu: bool,
    /// The OpenVINO build (`onnxruntime-openvino`).
    #[arg(long, conflicts_with = "webgpu")]
    pub openvino: bool,
    /// ONNX Runtime's WebGPU plugin (`onnxruntime-ep-webgpu`), for `--device webgpu` on any
    /// Vulkan, Metal or D3D12 GPU; installed beside the runtime, which stays as it is.
    #[arg(long)]
    pub webgpu: bool,
    /// ONNX Runtime's Python quantization tool for `inferx quantize` (onnxruntime, onnx, numpy,
    /// pinned and hash-checked), into a virtualenv in the user cache; needs Python 3.11-3.13.
    #[arg(long, conflicts_with_all = ["version", "gpu", "openvino", "webgpu", "dest", "from_wheel", "force"])]
    pub quantization_tool: bool,
    /// Install into this folder instead of the user cache (e.g. a project's `.inferx/lib`).
    #[arg(long)]
    pub dest: Option<PathBuf>,
    /// Install from a wheel file already downloaded (offline).
    #[arg(long, value_name = "WHEEL")]
    pub from_wheel: Option<PathBuf>,
    /// Reinstall even when already present.
    #[arg(long)]
    pub force: bool,
}

/// `inferx template`.
#[derive(Debug, Args)]
pub struct TemplateArgs {
    /// The template (a folder of templates/; INFERX_TEMPLATES_DIR names a folder of your own).
    #[arg(value_parser = TemplateParser)]
    pub template: TemplateId,
    /// Project name (letters, digits, `-`, `_`; starts with a letter).
    #[arg(long)]
    pub name: String,
    /// An ONNX model to copy into `models/`; its input size, labels and task fill the config.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Parent folder of the project (default: the current folder).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Device the project prefers (default: the template's).
    #[arg(long)]
    pub device: Option<Device>,
    /// Replace a non-empty folder of the same name.
    #[arg(long)]
    pub force: bool,
    /// Include the HTTP server (`serve`, `src/server.rs`).
    #[arg(long)]
    pub api: bool,
    /// `predict` reads video files too (mp4, mkv, webm, avi, mov: JSON Lines per frame, an
    /// annotated MP4 with --save); detection templates only. The project then builds with
    /// FFmpeg's development libraries and libclang, and its image carries FFmpeg's libraries.
    #[arg(long)]
    pub video: bool,
    /// Score threshold written to inferx.yaml (default: the task's).
    #[arg(long)]
    pub confidence: Option<f64>,
    /// NMS IoU threshold written to inferx.yaml (default: the task's).
    #[arg(long)]
    pub iou: Option<f64>,
    /// Do not create a git repository with a first commit (also: INFERX_NO_GIT=1).
    #[arg(long, env = "INFERX_NO_GIT", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_git: bool,
}

/// `inferx init`: every question has a flag; with `--yes` the flags are the whole answer.
#[derive(Debug, Args)]
pub struct InitArgs {
    /// Ask nothing: take the answers from the flags (for scripts and CI).
    #[arg(long, short = 'y')]
    pub yes: bool,
    /// Project name.
    #[arg(long)]
    pub name: Option<String>,
    /// An ONNX model; its task, input size and labels become the defaults.
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Template (default: the one for the model's task, else yolo).
    #[arg(long, value_parser = TemplateParser)]
    pub template: Option<TemplateId>,
    /// Parent folder of the project (default: the current folder).
    #[arg(long)]
    pub dir: Option<PathBuf>,
    /// Device the project prefers (default: the template's).
    #[arg(long)]
    pub device: Option<Device>,
    /// Score threshold (default: the task's).
    #[arg(long)]
    pub confidence: Option<f64>,
    /// NMS IoU threshold (default: the task's).
    #[arg(long)]
    pub iou: Option<f64>,
    /// Include the HTTP server.
    #[arg(long)]
    pub api: bool,
    /// `predict` reads video files too (detection templates; needs FFmpeg's libraries to build).
    #[arg(long)]
    pub video: bool,
    /// Include the Dockerfile, compose file, Kubernetes manifests and Helm chart (and the server).
    #[arg(long)]
    pub docker: bool,
    /// With --docker: do not put ONNX Runtime into the project's .inferx/lib/.
    #[arg(long)]
    pub skip_runtime: bool,
    /// Do not create a git repository with a first commit (also: INFERX_NO_GIT=1).
    #[arg(long, env = "INFERX_NO_GIT", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_git: bool,
    /// Replace a non-empty folder of the same name.
    #[arg(long)]
    pub force: bool,
}

/// `inferx api`.
#[derive(Debug, Args)]
pub struct ApiArgs {
    /// The project to add the server to (default: the current folder).
    #[arg(conflicts_with_all = ["name", "model", "template", "dir", "device"])]
    pub project: Option<PathBuf>,
    /// Generate a new project with the server, named this.
    #[arg(long)]
    pub name: Option<String>,
    /// With --name: the ONNX model (its task picks the template unless --template is given).
    #[arg(long, requires = "name")]
    pub model: Option<PathBuf>,
    /// With --name: the template (default: from the model's task, else yolo).
    #[arg(long, requires = "name", value_parser = TemplateParser)]
    pub template: Option<TemplateId>,
    /// With --name: the parent folder (default: the current folder).
    #[arg(long, requires = "name")]
    pub dir: Option<PathBuf>,
    /// With --name: the device the project prefers.
    #[arg(long, requires = "name")]
    pub device: Option<Device>,
    /// With --name: `predict` reads video files too (detection templates; FFmpeg's libraries
    /// to build). A project keeps the choice it was generated with.
    #[arg(long, requires = "name")]
    pub video: bool,
    /// Replace files you edited (a new project: replace a non-empty folder).
    #[arg(long)]
    pub force: bool,
    /// Show what would change, with diffs, and write nothing.
    #[arg(long, conflicts_with = "name")]
    pub dry_run: bool,
    /// With --name: do not create a git repository with a first commit (also: INFERX_NO_GIT=1).
    #[arg(long, env = "INFERX_NO_GIT", value_parser = clap::builder::FalseyValueParser::new())]
    pub no_git: bool,
}

/// `inferx docker`.
#[derive(Debug, Args)]
pub struct DockerArgs {
    /// The project (default: the current folder); it needs the HTTP server (`inferx api`).
    pub project: Option<PathBuf>,
    /// A CUDA image with the GPU build of ONNX Runtime.
    #[arg(long)]
    pub gpu: bool,
    /// Image registry prefix, e.g. ghcr.io/acme.
    #[arg(long)]
    pub registry: Option<String>,
    /// Image tag (default: the project's version).
    #[arg(long)]
    pub tag: Option<String>,
    /// Replace files you edited.
    #[arg(long)]
    pub force: bool,
    /// Show what would change, with diffs, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Do not put ONNX Runtime into the project's .inferx/lib/ (the image copies it from there).
    #[arg(long)]
    pub skip_runtime: bool,
}

/// `inferx upgrade`.
#[derive(Debug, Args)]
pub struct UpgradeArgs {
    /// The project (default: the current folder).
    pub project: Option<PathBuf>,
    /// Replace files you edited instead of writing `<file>.new` beside them.
    #[arg(long)]
    pub force: bool,
    /// Show what would change, with diffs, and write nothing.
    #[arg(long)]
    pub dry_run: bool,
}

/// `inferx validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The project (default: the current folder).
    pub project: Option<PathBuf>,
    /// Print the findings as JSON.
    #[arg(long)]
    pub json: bool,
    /// Do not load the model in ONNX Runtime (files only).
    #[arg(long)]
    pub no_load: bool,
}

/// `inferx test`.
#[derive(Debug, Args)]
pub struct TestArgs {
    /// The project (default: the current folder).
    pub project: Option<PathBuf>,
    /// Images or folders to predict (default: the project's samples/ folder, when it has one).
    #[arg(long, num_args = 1..)]
    pub images: Vec<PathBuf>,
    /// Build and test in release mode.
    #[arg(long)]
    pub release: bool,
    /// Print the stages (and the predictions) as JSON.
    #[arg(long)]
    pub json: bool,
}

/// `inferx benchmark`.
#[derive(Debug, Args)]
pub struct BenchmarkArgs {
    /// An ONNX model, or a project folder (its inferx.yaml names the model and task).
    pub target: PathBuf,
    /// Devices, comma-separated (absent ones are reported as skipped, with the reason).
    #[arg(long, value_delimiter = ',', default_value = "cpu")]
    pub devices: Vec<Device>,
    /// Batch sizes, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1")]
    pub batch: Vec<usize>,
    /// Input sizes for models with a dynamic input, comma-separated (default: the project's
    /// size, else the model's own, as `predict` and `serve` run it).
    #[arg(long, value_delimiter = ',')]
    pub size: Vec<u32>,
    /// Threads inside one operator (0 = ONNX Runtime's default).
    #[arg(long, default_value_t = 0)]
    pub threads: usize,
    /// Timed runs per configuration.
    #[arg(long, default_value_t = 50)]
    pub iterations: usize,
    /// Untimed runs first.
    #[arg(long, default_value_t = 5)]
    pub warmup: usize,
    /// Task; guessed from the model when omitted.
    #[arg(long)]
    pub task: Option<TaskKind>,
    /// Measure end to end (decode, preprocess, model, outputs) on this image instead of the model alone.
    #[arg(long, value_name = "IMAGE")]
    pub e2e: Option<PathBuf>,
    /// Print JSON (the format --compare reads).
    #[arg(long, conflicts_with_all = ["csv", "markdown"])]
    pub json: bool,
    /// Print CSV.
    #[arg(long, conflicts_with = "markdown")]
    pub csv: bool,
    /// Print a Markdown table.
    #[arg(long)]
    pub markdown: bool,
    /// Write an SVG chart of the latencies.
    #[arg(long, value_name = "FILE.svg")]
    pub plot: Option<PathBuf>,
    /// Compare with an earlier `--json` report and fail on a regression.
    #[arg(long, value_name = "BASELINE.json")]
    pub compare: Option<PathBuf>,
    /// Largest p50 increase --compare accepts.
    #[arg(long, default_value = "10%", value_parser = parse_fraction)]
    pub max_regression: f64,
    /// Do not append the report to the local history.
    #[arg(long)]
    pub no_history: bool,
}

/// Template names, from the template registry: clap lists them (with their descriptions in
/// `--help`) and refuses any other.
#[derive(Debug, Clone, Copy)]
pub struct TemplateParser;

impl TypedValueParser for TemplateParser {
    type Value = TemplateId;

    fn parse_ref(
        &self,
        command: &clap::Command,
        _argument: Option<&clap::Arg>,
        value: &std::ffi::OsStr,
    ) -> Result<TemplateId, clap::Error> {
        let name = value.to_string_lossy();
        Registry::global()
            .and_then(|registry| registry.find(&name).map(|template| template.id.clone()))
            .map_err(|error| clap::Error::raw(ErrorKind::InvalidValue, format!("{error}\n")).with_cmd(command))
    }

    fn possible_values(&self) -> Option<Box<dyn Iterator<Item = PossibleValue> + '_>> {
        let registry = Registry::global().ok()?;
        Some(Box::new(
            registry
                .templates()
                .iter()
                .map(|template| PossibleValue::new(template.id.as_str()).help(template.manifest.description.as_str())),
        ))
    }
}

/// Parses `10%` or `0.1` as a fraction.
pub fn parse_fraction(text: &str) -> Result<f64, String> {
    let text = text.trim();
    let value = match text.strip_suffix('%') {
        Some(percent) => percent.trim().parse::<f64>().map(|value| value / 100.0),
        None => text.parse::<f64>(),
    }
    .map_err(|_| format!("`{text}` is not a percentage (e.g. 10%)"))?;
    if value.is_finite() && value >= 0.0 {
        Ok(value)
    } else {
        Err(format!("`{text}` must be a percentage of 0 or more"))
    }
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    use super::parse_fraction;

    #[test]
    fn the_command_line_definition_is_consistent() {
        super::Cli::command().debug_assert();
    }

    #[test]
    fn fractions_parse_as_people_write_them() {
        assert_eq!(parse_fraction("10%"), Ok(0.1));
        assert_eq!(parse_fraction("0.25"), Ok(0.25));
        assert!(parse_fraction("ten").is_err());
        assert!(parse_fraction("-5%").is_err());
    }
}
