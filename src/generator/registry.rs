//! The templates there are: each a folder of `templates/` with a `template.toml` manifest.

use inferx_runtime::{Device, TaskKind};
use serde::Deserialize;

use super::{error::GenerateError, sources::TEMPLATES};

/// The manifest every template folder has.
pub(super) const MANIFEST: &str = "template.toml";

/// A template's `template.toml`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TemplateManifest {
    /// One-line description.
    pub description: String,
    /// The task it serves.
    pub task: TaskKind,
    /// The device it prefers.
    #[serde(default)]
    pub device: Device,
}

/// Names of the available templates, sorted.
pub fn template_names() -> Vec<String> {
    let mut names: Vec<String> = TEMPLATES
        .dirs()
        .filter(|dir| dir.get_file(dir.path().join(MANIFEST)).is_some())
        .filter_map(|dir| dir.path().file_name().map(|name| name.to_string_lossy().into_owned()))
        .collect();
    names.sort();
    names
}

/// Reads a template's manifest.
pub fn manifest(name: &str) -> Result<TemplateManifest, GenerateError> {
    let unknown = || GenerateError::UnknownTemplate { name: name.to_string(), available: template_names().join(", ") };
    if name.starts_with('_') || name.contains(['/', '\\', '.']) {
        return Err(unknown());
    }
    let file = TEMPLATES.get_file(format!("{name}/{MANIFEST}")).ok_or_else(unknown)?;
    let text = file.contents_utf8().ok_or_else(unknown)?;
    toml_from_str(text).map_err(|reason| GenerateError::Bug(format!("template `{name}` has a bad manifest: {reason}")))
}

/// The template to suggest for a task.
pub fn template_for_task(task: TaskKind) -> String {
    match task {
        TaskKind::Detection => "yolo".to_string(),
        other => other.name().to_string(),
    }
}

fn toml_from_str(text: &str) -> Result<TemplateManifest, String> {
    // Manifests are flat `key = "value"` files; parse them without a TOML dependency.
    let mut description = None;
    let mut task = None;
    let mut device = Device::Auto;
    for line in text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')) {
        let (key, value) = line.split_once('=').ok_or_else(|| format!("expected `key = \"value\"`, got `{line}`"))?;
        let value = value.trim().trim_matches('"').to_string();
        match key.trim() {
            "description" => description = Some(value),
            "task" => task = Some(value.parse::<TaskKind>().map_err(|error| error.to_string())?),
            "device" => device = value.parse::<Device>().map_err(|error| error.to_string())?,
            other => return Err(format!("unknown key `{other}`")),
        }
    }
    Ok(TemplateManifest {
        description: description.ok_or("missing `description`")?,
        task: task.ok_or("missing `task`")?,
        device,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_has_a_valid_manifest() {
        let names = template_names();
        assert!(names.contains(&"yolo".to_string()), "{names:?}");
        for name in names {
            manifest(&name).unwrap_or_else(|error| panic!("{name}: {error}"));
        }
        assert!(matches!(manifest("../etc"), Err(GenerateError::UnknownTemplate { .. })));
        assert!(matches!(manifest("_shared"), Err(GenerateError::UnknownTemplate { .. })));
    }
}
