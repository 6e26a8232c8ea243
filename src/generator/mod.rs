//! The project generator: a typed, validated [`ProjectSpec`] rendered through the embedded
//! tera templates, plus the vendored runtime crate, written atomically.
//!
//! Templates live in `templates/<name>/` with a `template.toml` manifest; files shared by all
//! templates live in `templates/_shared/` and are overridden by a template's file of the same
//! path. Files ending in `.tera` are rendered (suffix stripped); others are copied byte for
//! byte. A leading `dot-` in a file name becomes `.` (so `dot-gitignore` is `.gitignore`).

pub mod add_server;
pub mod changes;
pub mod deploy;
mod error;
pub mod git;
mod lock;
mod migrate;
mod project;
mod record;
mod registry;
mod sources;
mod spec;
mod templates;
pub mod upgrade;
mod write;

pub use error::GenerateError;
pub use registry::{default_template, template_for_task, Registry, TemplateId};
pub use spec::{check_name, ProjectSpec, SERVER_DEPENDENCIES, SERVER_RUNTIME_FEATURE};
pub use templates::{render_project, SERVER_FILES};
pub use write::{check_destination, move_into_place, temp_file_for, write_project, WriteOptions};

use std::path::{Path, PathBuf};

/// A generated file, in memory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GeneratedFile {
    /// Path relative to the project root, `/`-separated.
    pub path: String,
    /// Contents.
    pub contents: Vec<u8>,
}

/// Everything needed to generate a project.
#[derive(Debug, Clone)]
pub struct GenerateRequest {
    /// The template.
    pub template: TemplateId,
    /// Project name.
    pub name: String,
    /// Model to copy and inspect.
    pub model: Option<PathBuf>,
    /// Parent folder.
    pub dir: PathBuf,
    /// Device override.
    pub device: Option<inferx_runtime::Device>,
    /// Replace an existing non-empty folder.
    pub force: bool,
    /// Add the HTTP server (`serve`).
    pub api: bool,
    /// `predict` reads video files too (the runtime's `video` feature).
    pub video: bool,
    /// Score threshold (default: the task's).
    pub confidence: Option<f64>,
    /// NMS IoU threshold (default: the task's).
    pub iou: Option<f64>,
}

/// Generates a project on disk and returns its folder.
pub fn generate(request: &GenerateRequest) -> Result<PathBuf, GenerateError> {
    let template = registry::find(request.template.as_str())?;
    let model = request.model.as_deref().map(spec::ModelSource::read).transpose()?;
    let spec = ProjectSpec::new(&request.name, &template, model.as_ref(), request.device)?
        .with_api(request.api)
        .with_video(request.video)?
        .with_thresholds(request.confidence, request.iou)?;
    let mut files = upgrade::with_record(render_project(&spec)?)?;
    if let Some(model) = &model {
        files.push(GeneratedFile { path: format!("models/{}", spec.model_file), contents: model.bytes.clone() });
    }
    let target = request.dir.join(&spec.project_name);
    write_project(&target, &files, &WriteOptions { force: request.force })?;
    Ok(target)
}

/// The folder of a project with the sample inputs `inferx test` predicts.
pub const SAMPLES_DIR: &str = "samples";

/// The folder of a project that holds its copy of the runtime.
pub const VENDORED_RUNTIME: &str = "runtime";

/// The vendored runtime: every file of `runtime/` as it goes into a project.
pub fn runtime_files() -> Vec<GeneratedFile> {
    let mut files = Vec::new();
    collect_runtime(&sources::RUNTIME, &mut files);
    files.sort_by(|a, b| a.path.cmp(&b.path));
    files
}

fn collect_runtime(dir: &include_dir::Dir<'_>, files: &mut Vec<GeneratedFile>) {
    for file in dir.files() {
        let path = Path::new(VENDORED_RUNTIME).join(file.path());
        files.push(GeneratedFile {
            path: path.to_string_lossy().replace('\\', "/"),
            contents: file.contents().to_vec(),
        });
    }
    for sub in dir.dirs() {
        collect_runtime(sub, files);
    }
}
