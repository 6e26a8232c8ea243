//! Why generating or changing a project failed.

use std::path::PathBuf;

use inferx_runtime::TaskKind;

/// Why generation failed.
#[derive(Debug, thiserror::Error)]
pub enum GenerateError {
    /// No such template.
    #[error("unknown template `{name}`. Available: {available}")]
    UnknownTemplate {
        /// The name asked for.
        name: String,
        /// The names available.
        available: String,
    },
    /// The settings are invalid.
    #[error(transparent)]
    Spec(#[from] SpecError),
    /// The target exists and holds files.
    #[error("`{0}` already exists and is not empty. Pick another --name or --dir, or pass --force to replace it")]
    TargetExists(PathBuf),
    /// The target exists and is not a folder.
    #[error("`{0}` exists and is not a folder")]
    TargetNotDir(PathBuf),
    /// A file system operation failed.
    #[error("{action} `{path}`: {source}")]
    Io {
        /// What was being done.
        action: &'static str,
        /// The path.
        path: PathBuf,
        /// The error.
        source: std::io::Error,
    },
    /// The folder is not a project InferX generated.
    #[error("`{dir}` is not an InferX project: {reason}. Generate one with `inferx api --name NAME --model MODEL.onnx`, or run this inside a project")]
    NotAProject {
        /// The folder.
        dir: PathBuf,
        /// What is missing.
        reason: String,
    },
    /// Files the user edited would be replaced.
    #[error("{} would replace your edits in {}; the diffs are above. Re-run with --force to replace them (commit first), or merge the changes by hand", .command, .paths.join(", "))]
    Conflicts {
        /// The command.
        command: &'static str,
        /// The files.
        paths: Vec<String>,
    },
    /// The templates cannot be read or rendered: a manifest, a file or a folder named by
    /// `INFERX_TEMPLATES_DIR` is broken.
    #[error("{0}")]
    Templates(String),
    /// A template or manifest is broken: never the user's fault.
    #[error("{0}. This is a bug in inferx, please report it")]
    Bug(String),
}

impl From<inferx_runtime::Error> for GenerateError {
    fn from(error: inferx_runtime::Error) -> Self {
        GenerateError::Spec(SpecError::Model(error))
    }
}

/// Why a spec was refused.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    /// The project name is unusable.
    #[error("invalid project name `{name}`: {reason}")]
    Name {
        /// The name given.
        name: String,
        /// Why it is refused and what would work.
        reason: String,
    },
    /// The model could not be read.
    #[error(transparent)]
    Model(#[from] inferx_runtime::Error),
    /// The model does not fit the template.
    #[error("the model `{model}` looks like a `{guessed}` model, but template `{template}` is for `{task}`. Use `inferx template {suggestion} ...`, or check the model with `inferx inspect`")]
    TaskMismatch {
        /// Model file.
        model: String,
        /// What the model looks like.
        guessed: TaskKind,
        /// Template name.
        template: String,
        /// The template's task.
        task: TaskKind,
        /// A template for the guessed task.
        suggestion: String,
    },
    /// Some other field is out of range.
    #[error("invalid project settings: {0}")]
    Invalid(String),
}
