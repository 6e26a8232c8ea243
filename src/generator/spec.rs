//! The typed template context, validated before anything is rendered.

use std::path::Path;

use inferx_runtime::{
    config::{input_keys_used_by, Thresholds},
    model::{info::ModelInfo, onnx_proto},
    preprocess::PreprocessConfig,
    tasks::default_preprocess,
    Device, TaskKind,
};
use serde::Serialize;
use sha2::{Digest, Sha256};
use validator::{Validate, ValidationError};

use super::{
    error::SpecError,
    registry::{Template, TemplateId},
};

/// A crate a generated project depends on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Dependency {
    /// Crate name.
    pub name: &'static str,
    /// Version requirement.
    pub version: &'static str,
    /// Features enabled.
    pub features: &'static [&'static str],
}

const fn dependency(name: &'static str, version: &'static str, features: &'static [&'static str]) -> Dependency {
    Dependency { name, version, features }
}

/// Versions of the crates generated projects depend on: their one home.
pub const DEPENDENCIES: &[Dependency] = &[
    dependency("anyhow", "1", &[]),
    dependency("clap", "4.6", &["derive", "env"]),
    dependency("serde_json", "1", &[]),
    dependency("tracing-subscriber", "0.3", &["env-filter", "fmt"]),
];

/// What the HTTP server adds (`--api`, `inferx api`).
pub const SERVER_DEPENDENCIES: &[Dependency] =
    &[dependency("axum", "0.8", &[]), dependency("tokio", "1", &["rt-multi-thread"])];

/// The runtime feature the server needs.
pub const SERVER_RUNTIME_FEATURE: &str = "server";

/// The runtime feature that reads video files (`predict clip.mp4`: FFmpeg's libraries).
pub const VIDEO_RUNTIME_FEATURE: &str = "video";

/// The dependencies of a project, with or without the server, sorted by name.
pub fn dependencies(api: bool) -> Vec<Dependency> {
    let mut all = DEPENDENCIES.to_vec();
    if api {
        all.extend_from_slice(SERVER_DEPENDENCIES);
    }
    all.sort_by_key(|dependency| dependency.name);
    all
}

/// A model read for generation.
#[derive(Debug, Clone)]
pub struct ModelSource {
    /// File name.
    pub file_name: String,
    /// Contents.
    pub bytes: Vec<u8>,
    /// Signature and metadata.
    pub info: ModelInfo,
}

impl ModelSource {
    /// Reads and parses a model file.
    pub fn read(path: &Path) -> Result<ModelSource, SpecError> {
        let info = onnx_proto::read_model_info(path)?;
        let bytes = std::fs::read(path).map_err(|error| inferx_runtime::Error::ModelLoad {
            path: path.to_path_buf(),
            reason: error.to_string(),
        })?;
        let file_name = sanitize_file_name(&info.file);
        Ok(ModelSource { file_name, bytes, info })
    }
}

fn sanitize_file_name(name: &str) -> String {
    let cleaned: String =
        name.chars().map(|c| if c.is_ascii_alphanumeric() || "._-".contains(c) { c } else { '_' }).collect();
    if cleaned.trim_matches('.').is_empty() {
        "model.onnx".to_string()
    } else {
        cleaned
    }
}

/// Words a package or crate cannot be named: Rust keywords, and names that clash with the
/// standard library or the project's own dependencies.
const RESERVED: &[&str] = &[
    "as",
    "async",
    "await",
    "break",
    "const",
    "continue",
    "crate",
    "dyn",
    "else",
    "enum",
    "extern",
    "false",
    "fn",
    "for",
    "if",
    "impl",
    "in",
    "let",
    "loop",
    "match",
    "mod",
    "move",
    "mut",
    "pub",
    "ref",
    "return",
    "self",
    "static",
    "struct",
    "super",
    "trait",
    "true",
    "type",
    "unsafe",
    "use",
    "where",
    "while",
    "abstract",
    "become",
    "box",
    "do",
    "final",
    "gen",
    "macro",
    "override",
    "priv",
    "try",
    "typeof",
    "unsized",
    "virtual",
    "yield",
    "std",
    "core",
    "alloc",
    "proc_macro",
    "test",
    "build",
    "inferx_runtime",
    "runtime",
    "anyhow",
    "clap",
    "serde_json",
    "tracing_subscriber",
];

/// Refuses a name that cannot be a project's package and folder name, saying why.
pub fn check_name(name: &str) -> Result<(), SpecError> {
    check_project_name(name).map_err(|error| SpecError::Name {
        name: name.to_string(),
        reason: error.message.map(|message| message.to_string()).unwrap_or_default(),
    })
}

fn check_project_name(name: &str) -> Result<(), ValidationError> {
    let refuse = |reason: &str| Err(ValidationError::new("project_name").with_message(reason.to_string().into()));
    if name.is_empty() {
        return refuse("the name is empty; pick a name like `people-counter`");
    }
    if name.len() > 64 {
        return refuse("the name is longer than 64 characters");
    }
    if !name.starts_with(|c: char| c.is_ascii_alphabetic()) {
        return refuse("it must start with a letter (e.g. `app1` rather than `1app`)");
    }
    if !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return refuse("use only ASCII letters, digits, `-` and `_` (no paths, spaces or dots)");
    }
    if RESERVED.contains(&name.replace('-', "_").to_ascii_lowercase().as_str()) {
        return refuse("it is a Rust keyword or clashes with a crate the project uses; add a prefix or suffix");
    }
    Ok(())
}

/// The template context: every value a template may read, already validated.
#[derive(Debug, Clone, Serialize, Validate)]
pub struct ProjectSpec {
    /// Package and folder name.
    #[validate(custom(function = "check_project_name"))]
    pub project_name: String,
    /// Rust crate name (`-` → `_`).
    pub crate_name: String,
    /// Template name.
    pub template: TemplateId,
    /// One-line description of the template.
    pub description: String,
    /// Task name.
    pub task: TaskKind,
    /// One-line description of the task.
    pub task_description: String,
    /// Model file name inside `models/`.
    pub model_file: String,
    /// Whether a real model was copied in.
    pub has_model: bool,
    /// sha256 of the model, when one was copied in.
    pub model_sha256: Option<String>,
    /// Model inputs, for the README's model contract.
    pub model_inputs: Vec<String>,
    /// Model outputs, for the README's model contract.
    pub model_outputs: Vec<String>,
    /// Preprocessing.
    pub input: PreprocessConfig,
    /// `input.scale` as written in YAML (`1/255` as `0.00392156862745098`).
    pub input_scale: String,
    /// `input.mean` as written in YAML.
    pub input_mean: String,
    /// `input.std` as written in YAML.
    pub input_std: String,
    /// Class names.
    pub labels: Vec<String>,
    /// Score threshold.
    #[validate(range(min = 0.0, max = 1.0))]
    pub confidence: f64,
    /// NMS IoU threshold.
    #[validate(range(min = 0.0, max = 1.0))]
    pub iou: f64,
    /// Detections kept per image.
    pub max_detections: usize,
    /// Classes reported.
    pub top_k: usize,
    /// The `input` keys that only some resize modes read, the ones this project's mode reads.
    pub input_keys: &'static [&'static str],
    /// The `thresholds` keys the task reads (the others do nothing for it).
    pub threshold_keys: &'static [&'static str],
    /// Preferred device.
    pub device: String,
    /// `inferx runtime install` flags matching the device (`--openvino`).
    pub runtime_install_flags: String,
    /// inferx version.
    pub inferx_version: String,
    /// Vendored runtime version.
    pub runtime_version: String,
    /// ONNX Runtime version the runtime is built for.
    pub ort_version: String,
    /// Dependencies of the generated crate.
    pub dependencies: Vec<Dependency>,
    /// Whether the project has the HTTP server (`serve`, `src/server.rs`).
    pub api: bool,
    /// Whether `predict` reads video files (the runtime's `video` feature: FFmpeg's libraries
    /// to build, and in the image).
    pub video: bool,
}

impl ProjectSpec {
    /// Builds and validates the context for a template, from a model when given.
    pub fn new(
        name: &str,
        template: &Template,
        model: Option<&ModelSource>,
        device: Option<Device>,
    ) -> Result<ProjectSpec, SpecError> {
        check_name(name)?;
        let manifest = &template.manifest;
        let task = manifest.task;
        if let Some(model) = model {
            let guessed = model.info.guess_task();
            if task != TaskKind::Custom && guessed != task && guessed != TaskKind::Custom {
                return Err(SpecError::TaskMismatch {
                    model: model.file_name.clone(),
                    guessed,
                    template: template.id.to_string(),
                    task,
                    suggestion: super::registry::template_for_task(guessed)
                        .map_or_else(|_| "custom".to_string(), |id| id.to_string()),
                });
            }
        }
        let defaults = task.defaults();
        let (height, width) =
            model.and_then(|model| model.info.input_size()).unwrap_or((defaults.input_size, defaults.input_size));
        let device = device.unwrap_or(manifest.device);
        let input = default_preprocess(task, width, height);
        let input_keys = input_keys_used_by(input.resize);
        let describe = |tensors: &[inferx_runtime::model::info::TensorInfo]| {
            tensors
                .iter()
                .map(|tensor| format!("`{}` {} {:?}", tensor.name, tensor.dtype, tensor.shape))
                .collect::<Vec<_>>()
        };
        let spec = ProjectSpec {
            project_name: name.to_string(),
            crate_name: name.replace('-', "_"),
            template: template.id.clone(),
            description: manifest.description.clone(),
            task,
            task_description: task.description().to_string(),
            model_file: model.map_or_else(|| "model.onnx".to_string(), |model| model.file_name.clone()),
            has_model: model.is_some(),
            model_sha256: model.map(|model| format!("{:x}", Sha256::digest(&model.bytes))),
            model_inputs: model.map(|model| describe(&model.info.inputs)).unwrap_or_default(),
            model_outputs: model.map(|model| describe(&model.info.outputs)).unwrap_or_default(),
            input_scale: yaml_number(input.scale),
            input_mean: input.mean.map(yaml_number).join(", "),
            input_std: input.std.map(yaml_number).join(", "),
            input,
            labels: model.and_then(|model| model.info.labels()).unwrap_or_default(),
            confidence: shortest(defaults.confidence),
            iou: shortest(defaults.iou),
            max_detections: defaults.max_detections,
            top_k: defaults.top_k,
            input_keys,
            threshold_keys: Thresholds::keys_used_by(task),
            runtime_install_flags: match device {
                Device::OpenVino => " --openvino".to_string(),
                Device::Cuda(_) | Device::TensorRt(_) => " --gpu".to_string(),
                _ => String::new(),
            },
            device: device.to_string(),
            inferx_version: env!("CARGO_PKG_VERSION").to_string(),
            runtime_version: inferx_runtime::VERSION.to_string(),
            ort_version: inferx_runtime::ORT_VERSION.to_string(),
            dependencies: dependencies(false),
            api: false,
            video: false,
        };
        spec.validate().map_err(|errors| SpecError::Invalid(errors.to_string()))?;
        Ok(spec)
    }

    /// The same project with the score and NMS thresholds given (`None` keeps the task's
    /// defaults); values outside 0..=1 are refused.
    pub fn with_thresholds(mut self, confidence: Option<f64>, iou: Option<f64>) -> Result<ProjectSpec, SpecError> {
        for (flag, value) in [("confidence", confidence), ("iou", iou)] {
            if let Some(value) = value.filter(|value| !(0.0..=1.0).contains(value)) {
                return Err(SpecError::Invalid(format!("{flag} {value} is out of range; use a value from 0 to 1")));
            }
        }
        self.confidence = confidence.unwrap_or(self.confidence);
        self.iou = iou.unwrap_or(self.iou);
        Ok(self)
    }

    /// The same project with or without the HTTP server.
    pub fn with_api(mut self, api: bool) -> ProjectSpec {
        self.api = api;
        self.dependencies = dependencies(api);
        self
    }

    /// The same project with or without video files in `predict`; video frames go through
    /// the detector, so only detection templates take it.
    pub fn with_video(mut self, video: bool) -> Result<ProjectSpec, SpecError> {
        if video && self.task != TaskKind::Detection {
            return Err(SpecError::Invalid(format!(
                "--video needs a detection template (yolo, yolo_openvino): a video's frames go through the detector, and template `{}` is for {}",
                self.template, self.task
            )));
        }
        self.video = video;
        Ok(self)
    }
}

/// An `f32` as the shortest decimal that reads back to it (`0.7`, not `0.699999988`).
pub(super) fn shortest(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(value as f64)
}

/// An `f32` for YAML: `1/255` in full double precision (the runtime divides exactly when the
/// scale is the reciprocal of an integer), anything else in its shortest form.
fn yaml_number(value: f32) -> String {
    let reciprocal = 1.0 / value as f64;
    if value != 0.0 && value != 1.0 && (reciprocal - reciprocal.round()).abs() < 1e-3 {
        return (1.0 / reciprocal.round()).to_string();
    }
    value.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_names_are_refused_with_a_reason() {
        for (name, fragment) in [
            ("", "empty"),
            ("../x", "start with a letter"),
            ("a/../x", "only ASCII letters"),
            ("1abc", "start with a letter"),
            ("fn", "Rust keyword"),
            ("my app", "only ASCII letters"),
            ("inferx-runtime", "clashes"),
        ] {
            let error = check_project_name(name).unwrap_err();
            let message = error.message.unwrap().to_string();
            assert!(message.contains(fragment), "{name:?}: {message}");
        }
        for name in ["people-counter", "yolo_app", "A1"] {
            assert!(check_project_name(name).is_ok(), "{name}");
        }
    }

    #[test]
    fn numbers_are_written_as_people_write_them() {
        assert_eq!(shortest(0.7), 0.7);
        assert_eq!(yaml_number(1.0 / 255.0), "0.00392156862745098");
        assert_eq!(yaml_number(0.485), "0.485");
        assert_eq!(yaml_number(0.5), "0.5");
        assert_eq!(yaml_number(1.0), "1");
    }
}
