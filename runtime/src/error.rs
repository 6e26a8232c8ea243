use std::path::{Path, PathBuf};

/// Everything that can go wrong in the runtime. Each message says what happened and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Error {
    /// No ONNX Runtime shared library was found in any of the searched places.
    #[error(
        "ONNX Runtime not found (looked in: {searched}). Run `inferx runtime install`, or set `ORT_DYLIB_PATH` to the path of libonnxruntime"
    )]
    RuntimeNotFound {
        /// The places searched, in order, joined for display.
        searched: String,
    },
    /// The ONNX Runtime library exists but could not be loaded.
    #[error("could not load ONNX Runtime from `{path}`: {reason}. Reinstall it with `inferx runtime install --force`")]
    RuntimeLoad {
        /// The library path.
        path: PathBuf,
        /// Why loading failed.
        reason: String,
    },
    /// The model file does not exist.
    #[error("model file `{0}` not found. Check the path, or set `model.path` in inferx.yaml")]
    ModelNotFound(PathBuf),
    /// ONNX Runtime refused the model (corrupt file, unsupported opset, ...).
    #[error(
        "could not load model `{path}`: {reason}. Is it a valid ONNX file? `inferx inspect` shows what it contains"
    )]
    ModelLoad {
        /// The model path.
        path: PathBuf,
        /// ONNX Runtime's message.
        reason: String,
    },
    /// The model file is not the one the project recorded (`model.sha256`).
    #[error(
        "the model `{path}` has changed: its sha256 is {actual}, but inferx.yaml expects {expected}; restore the original, or if you replaced it on purpose, update model.sha256"
    )]
    ModelChanged {
        /// The model path.
        path: PathBuf,
        /// The file's sha256.
        actual: String,
        /// The recorded sha256.
        expected: String,
    },
    /// The model's detached signature is missing or does not verify with `model.public_key`.
    #[error("the model `{path}` failed its signature check: {reason}")]
    ModelSignature {
        /// The model path.
        path: PathBuf,
        /// What failed and how to fix it.
        reason: String,
    },
    /// The model does not match what the task expects.
    #[error("the model does not fit the `{task}` task: {reason}")]
    TaskMismatch {
        /// The task asked for.
        task: String,
        /// What does not match.
        reason: String,
    },
    /// The requested device could not be used and strict device mode is on.
    #[error("device `{device}` is not usable: {reason}. Drop `--strict-device` to fall back to the next provider, or run `inferx devices`")]
    DeviceUnavailable {
        /// The device requested.
        device: String,
        /// Why it cannot be used.
        reason: String,
    },
    /// A device string could not be parsed.
    #[error("unknown device `{0}`. Use one of: auto, cpu, cuda[:N], tensorrt[:N], openvino, coreml, directml[:N], rocm[:N], webgpu")]
    UnknownDevice(String),
    /// A task name could not be parsed.
    #[error("unknown task `{0}`. Use one of: detection, classification, segmentation, anomaly, custom")]
    UnknownTask(String),
    /// An input image could not be read or decoded.
    #[error("could not read image `{path}`: {reason}")]
    Image {
        /// The image path (or `<memory>`).
        path: String,
        /// Why.
        reason: String,
        /// The class of problem (an HTTP server maps it to a status).
        problem: ImageProblem,
    },
    /// A video file could not be opened or decoded (the `video` feature).
    #[error("could not read video `{}`: {reason}", .path.display())]
    Video {
        /// The video file.
        path: PathBuf,
        /// What is wrong, and the fix where there is one.
        reason: String,
    },
    /// A clip held in memory (an upload to a server) was refused or could not be decoded (the
    /// `video` feature). The reason never names a path: there is none.
    #[error("could not read the clip: {reason}")]
    Clip {
        /// What is wrong, and the fix where there is one.
        reason: String,
        /// The class of problem (a server maps it to a status).
        problem: ClipProblem,
    },
    /// A live source (camera, RTSP or HTTP stream) could not be opened, or stopped sending and
    /// did not come back (the `video` feature). `source` has its credentials redacted.
    #[error("could not read live source `{source_name}`: {reason}")]
    Live {
        /// The URL with any user name and password replaced by `***`, or the device path.
        source_name: String,
        /// What is wrong, and the fix where there is one.
        reason: String,
    },
    /// The configuration is invalid.
    #[error("invalid configuration{}: {reason}", .path.as_ref().map(|p| format!(" in `{}`", p.display())).unwrap_or_default())]
    Config {
        /// The config file, if any.
        path: Option<PathBuf>,
        /// What is wrong and how to fix it.
        reason: String,
    },
    /// ONNX Runtime failed while running the model.
    #[error("inference failed: {0}")]
    Inference(String),
    /// Installing ONNX Runtime failed.
    #[error("ONNX Runtime install failed: {0}")]
    Install(String),
    /// Labelled data that cannot be evaluated as a whole (the message names the file and the
    /// fix); problems of single images are [`Problem`](crate::labelled_data::sets::Problem)s.
    #[error("{0}")]
    LabelledData(String),
    /// Val cannot measure the model on the data (the message says why and the fix).
    #[error("{0}")]
    Val(String),
    /// Val measured the model below the floor it was given (the accuracy gate of CI).
    #[error("{metric} {measured:.4} is below {flag} {floor}: the model lost accuracy on this data")]
    BelowFloor {
        /// The metric's name in val's report ("mAP50-95", "top-1", "mIoU", "image AUROC").
        metric: &'static str,
        /// The flag that set the floor.
        flag: &'static str,
        /// What val measured.
        measured: f64,
        /// The floor.
        floor: f64,
    },
    /// An I/O error on a named path.
    #[error("{action} `{path}`: {source}")]
    Io {
        /// What we were doing ("could not read", ...).
        action: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The underlying error.
        source: std::io::Error,
    },
    /// JSON (de)serialisation failed.
    #[error(transparent)]
    Json(#[from] serde_json::Error),
    /// A file the project names (model, labels, keys, signature) was refused: see
    /// [`project_files`](crate::project_files).
    #[error("{reason}")]
    ProjectFile {
        /// What is wrong with it.
        problem: FileProblem,
        /// The file and the config key that names it, what is wrong and how to fix it.
        reason: String,
    },
}

/// The `path` of an [`Error::Image`] about an image held in memory.
pub(crate) const IMAGE_IN_MEMORY: &str = "<memory>";

/// What kind of problem an image has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageProblem {
    /// The file or folder could not be read.
    Unreadable,
    /// Not an image, or a format the runtime does not decode.
    Unsupported,
    /// Over a size, dimension or allocation limit: refused before decoding it all.
    TooLarge,
    /// A known format, but truncated or corrupt.
    Corrupt,
}

/// What kind of problem a clip in memory has ([`Error::Clip`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClipProblem {
    /// Not a container that is read from memory, or a codec without a decoder.
    Unsupported,
    /// Longer than allowed, by its header or by its frames' times.
    TooLong,
    /// Its frames are larger than the image limits allow.
    TooLarge,
    /// A known container, but truncated, damaged, or without a video stream.
    Undecodable,
}

/// Why a file a project names was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileProblem {
    /// It is not there.
    Missing,
    /// A symlink (of the file or a folder above it) leads out of the project.
    Outside,
    /// A folder, FIFO, socket or device rather than a regular file.
    NotAFile,
    /// Over the size such a file may have.
    TooLarge,
    /// It, or the project folder, could not be resolved, opened or read.
    Unreadable,
}

/// The runtime's result type.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn io(action: &'static str, path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Error::Io { action, path: path.into(), source }
    }

    pub(crate) fn config(reason: impl Into<String>) -> Self {
        Error::Config { path: None, reason: reason.into() }
    }

    /// A problem with an image held in memory (no file to name yet).
    pub(crate) fn image_in_memory(reason: String, problem: ImageProblem) -> Self {
        Error::Image { path: IMAGE_IN_MEMORY.to_string(), reason, problem }
    }

    /// A problem with an image in memory ([`IMAGE_IN_MEMORY`]), renamed to the file it came
    /// from; any other error as it is.
    pub(crate) fn for_image_file(self, file: &Path) -> Self {
        match self {
            Error::Image { path, reason, problem } if path == IMAGE_IN_MEMORY => {
                Error::Image { path: file.display().to_string(), reason, problem }
            }
            other => other,
        }
    }

    /// The message without the file it concerns, for callers that name the file themselves
    /// (a config error's reason; any other error whole).
    pub fn reason(&self) -> String {
        match self {
            Error::Config { reason, .. } => reason.clone(),
            other => other.to_string(),
        }
    }
}
