//! What a generated project says about itself: its package and the template it came from.

use std::path::{Path, PathBuf};

use super::error::GenerateError;

/// A generated project, as its Cargo.toml describes it.
#[derive(Debug, Clone)]
pub struct ProjectFacts {
    /// Its folder.
    pub dir: PathBuf,
    /// Package name.
    pub name: String,
    /// Package version.
    pub version: String,
    /// Package description.
    pub description: Option<String>,
    /// The template it was generated from.
    pub template: String,
    /// The inferx version that generated it.
    pub generated_by: String,
    /// Whether its `predict` reads video files: the runtime's `video` feature is on in its
    /// Cargo.toml (`inferx template --video`). Upgrades and `inferx docker` keep to it.
    pub video: bool,
}

/// Reads a generated project's facts with `cargo metadata` (`[package.metadata.inferx]`).
pub fn read_project(dir: &Path) -> Result<ProjectFacts, GenerateError> {
    let manifest = dir.join("Cargo.toml");
    let not_a_project = |reason: String| GenerateError::NotAProject { dir: dir.to_path_buf(), reason };
    if !manifest.is_file() {
        return Err(not_a_project("there is no Cargo.toml".to_string()));
    }
    if !dir.join(inferx_runtime::config::CONFIG_FILE).is_file() {
        return Err(not_a_project("there is no inferx.yaml".to_string()));
    }
    let metadata = cargo_metadata::MetadataCommand::new()
        .manifest_path(&manifest)
        .no_deps()
        .exec()
        .map_err(|error| not_a_project(format!("`cargo metadata` failed: {error}")))?;
    let manifest = std::fs::canonicalize(&manifest).unwrap_or(manifest);
    let package = metadata
        .packages
        .iter()
        .find(|package| std::fs::canonicalize(&package.manifest_path).is_ok_and(|path| path == manifest))
        .ok_or_else(|| not_a_project("Cargo.toml has no [package]".to_string()))?;
    let stamp = &package.metadata["inferx"];
    let template = stamp["template"]
        .as_str()
        .ok_or_else(|| not_a_project("Cargo.toml has no [package.metadata.inferx] template".to_string()))?;
    Ok(ProjectFacts {
        dir: dir.to_path_buf(),
        name: package.name.to_string(),
        version: package.version.to_string(),
        description: package.description.clone(),
        template: template.to_string(),
        generated_by: stamp["version"].as_str().unwrap_or("unknown").to_string(),
        video: package.dependencies.iter().any(|dependency| {
            dependency.name == "inferx-runtime"
                && dependency.features.iter().any(|feature| feature == super::spec::VIDEO_RUNTIME_FEATURE)
        }),
    })
}
