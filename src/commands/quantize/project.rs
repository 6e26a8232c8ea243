//! A project switched to its int8 model: `model.path` and `model.sha256` in `inferx.yaml`
//! edited in place (comments and the rest of the file kept), the float model left where it is.
//! A project that requires a signature (`model.public_key`) is not switched: it is told how to
//! sign the new model and which lines to change then.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use inferx_runtime::ProjectConfig;

use crate::output::Printer;

pub(super) fn switch(
    config_path: &Path,
    project: &ProjectConfig,
    float: &Path,
    int8: &Path,
    printer: &Printer,
) -> anyhow::Result<()> {
    let project_dir = inferx_runtime::project_files::project_dir(config_path);
    let Some(path) = path_in_project(project_dir, int8) else {
        printer.status(format!(
            "`{}` is outside the project, so the project still runs `{}` (`model.path` stays inside it): move the int8 model into the project's models/ and set `model.path` and `model.sha256`, or leave --out out",
            int8.display(),
            float.display()
        ));
        return Ok(());
    };
    let sha256 = super::sha256(int8)?;
    if project.model.public_key.is_some() {
        let signature = inferx_runtime::signature::default_signature_path(int8);
        printer.status(format!(
            "the project requires a signed model (`model.public_key`), so it still runs `{}`. Sign the int8 model with the project's key (`inferx model sign {} --secret-key YOUR.key` writes `{}`), then set in `{}`:\n  model:\n    path: {path}\n    sha256: {sha256}",
            float.display(),
            int8.display(),
            signature.display(),
            config_path.display()
        ));
        return Ok(());
    }
    let text =
        std::fs::read_to_string(config_path).with_context(|| format!("could not read `{}`", config_path.display()))?;
    let edited = set_model_file(&text, &path, &sha256)
        .with_context(|| format!("`{}` was not switched to `{}`", config_path.display(), int8.display()))?;
    let folder = config_path.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let staged = tempfile::Builder::new()
        .prefix(".inferx-yaml-")
        .tempfile_in(folder)
        .with_context(|| format!("could not write in `{}`", folder.display()))?;
    std::fs::write(staged.path(), &edited).with_context(|| format!("could not write in `{}`", folder.display()))?;
    // The edited file must still be a valid project naming the new model.
    let reloaded = ProjectConfig::load(staged.path()).with_context(|| {
        format!("the edited `{}` does not load (this is a bug in inferx, please report it)", config_path.display())
    })?;
    if reloaded.model.path != path || reloaded.model.sha256.as_deref() != Some(sha256.as_str()) {
        bail!(
            "the edited `{}` does not name the int8 model (this is a bug in inferx, please report it)",
            config_path.display()
        );
    }
    if let Ok(metadata) = std::fs::metadata(config_path) {
        // Keep the file's permissions (tempfile creates 0600).
        let _ = std::fs::set_permissions(staged.path(), metadata.permissions());
    }
    staged.persist(config_path).with_context(|| format!("could not write `{}`", config_path.display()))?;
    printer.status(format!(
        "`{}` now runs `{path}` (sha256 {}…); the FP32 model stays in `{}`",
        config_path.display(),
        &sha256[..12],
        float.display()
    ));
    Ok(())
}

/// The model's path as `model.path` writes it (relative to the project); None outside it.
fn path_in_project(project_dir: &Path, model: &Path) -> Option<String> {
    let absolute = |path: &Path| path.canonicalize().unwrap_or_else(|_| path.to_path_buf());
    let (dir, model) = (absolute(project_dir), absolute(model));
    let relative: PathBuf = model.strip_prefix(&dir).ok()?.to_path_buf();
    Some(relative.to_string_lossy().replace('\\', "/"))
}

/// `text` with the block `model:` section's `path` and `sha256` set (`sha256` added after
/// `path` when absent), in place; every other line as it was.
fn set_model_file(text: &str, path: &str, sha256: &str) -> anyhow::Result<String> {
    use inferx_runtime::yaml_edit::{set_block_key, yaml_scalar, NewKey};
    let by_hand = || format!("set `model.path: {path}` and `model.sha256: {sha256}` by hand");
    let edited = set_block_key(text, "model", "path", &yaml_scalar(path), NewKey::First)
        .and_then(|text| set_block_key(&text, "model", "sha256", sha256, NewKey::After("path")))
        .with_context(by_hand)?;
    Ok(edited)
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = "# My project\ntask: detection\nmodel:\n  # Relative to this file.\n  path: models/yolo.onnx\n  # Checked at load.\n  sha256: abc\n\ninput:\n  width: 640\n";

    #[test]
    fn path_and_sha256_are_replaced_and_comments_kept() {
        let edited = set_model_file(YAML, "models/yolo-int8.onnx", "def").unwrap();
        assert_eq!(
            edited,
            "# My project\ntask: detection\nmodel:\n  # Relative to this file.\n  path: models/yolo-int8.onnx\n  # Checked at load.\n  sha256: def\n\ninput:\n  width: 640\n"
        );
    }

    #[test]
    fn a_missing_sha256_is_added_after_the_path() {
        let edited = set_model_file("model:\n    path: a.onnx\ninput:\n  width: 1\n", "b c.onnx", "f00").unwrap();
        assert_eq!(edited, "model:\n    path: \"b c.onnx\"\n    sha256: f00\ninput:\n  width: 1\n");
    }

    #[test]
    fn a_model_outside_the_project_has_no_model_path() {
        let project = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir(project.path().join("models")).unwrap();
        let inside = project.path().join("models/a-int8.onnx");
        std::fs::write(&inside, b"").unwrap();
        std::fs::write(outside.path().join("b.onnx"), b"").unwrap();
        assert_eq!(path_in_project(project.path(), &inside).as_deref(), Some("models/a-int8.onnx"));
        assert_eq!(path_in_project(project.path(), &outside.path().join("b.onnx")), None);
    }

    #[test]
    fn a_flow_style_model_section_is_left_to_the_user() {
        let error = set_model_file("model: {path: a.onnx}\n", "b.onnx", "f00").unwrap_err();
        assert!(error.to_string().contains("by hand"), "{error}");
    }
}
