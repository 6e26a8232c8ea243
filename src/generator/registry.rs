//! The templates there are: each a folder of `templates/` holding a `template.toml` manifest.
//! The CLI's list of templates (its value list, `--help`, errors) and the README's table all
//! come from here; adding a template is adding its folder.

use std::{fmt, path::Path, sync::OnceLock};

use inferx_runtime::{Device, TaskKind};
use serde::{Deserialize, Serialize};

use super::{
    error::GenerateError,
    sources::{TemplateFiles, TEMPLATES_DIR_ENV},
};

/// The manifest every template folder has.
pub const MANIFEST: &str = "template.toml";

/// A template's `template.toml`.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
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

/// The name of a template the registry has: only the registry makes one, so a `TemplateId`
/// always names a template that exists.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct TemplateId(String);

impl TemplateId {
    /// The folder name (`yolo`).
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for TemplateId {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.pad(&self.0)
    }
}

/// One template: its name and manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    /// Its folder name.
    pub id: TemplateId,
    /// Its `template.toml`.
    pub manifest: TemplateManifest,
}

/// The templates, sorted by name, and the files they are made of.
#[derive(Debug, Clone)]
pub struct Registry {
    templates: Vec<Template>,
    files: TemplateFiles,
}

impl Registry {
    /// The built-in templates, with those of `extra` over them (see [`TemplateFiles::with_folder`]).
    pub fn load(extra: Option<&Path>) -> Result<Registry, GenerateError> {
        let mut files = TemplateFiles::embedded();
        if let Some(dir) = extra {
            files = files.with_folder(dir)?;
        }
        let mut templates = Vec::new();
        for folder in files.folders() {
            // `_shared` and `_deploy` are parts of templates, not templates.
            if folder.starts_with('_') {
                continue;
            }
            let path = format!("{folder}/{MANIFEST}");
            let Some(bytes) = files.get(&path) else { continue };
            let manifest = parse_manifest(bytes).map_err(|reason| {
                GenerateError::Templates(format!(
                    "template `{folder}` has a bad {MANIFEST}: {reason}. It needs `description = \"...\"` and `task = \"detection\"` (or classification, segmentation, anomaly, custom), and may set `device`"
                ))
            })?;
            if !valid_name(folder) {
                return Err(GenerateError::Templates(format!(
                    "template folder `{folder}` has an unusable name: use lowercase letters, digits, `_` and `-`, starting with a letter"
                )));
            }
            templates.push(Template { id: TemplateId(folder.to_string()), manifest });
        }
        Ok(Registry { templates, files })
    }

    /// The registry of this process: the built-in templates, with the folder that
    /// `INFERX_TEMPLATES_DIR` names over them when it is set. Read once.
    pub fn global() -> Result<&'static Registry, GenerateError> {
        static GLOBAL: OnceLock<Result<Registry, String>> = OnceLock::new();
        let loaded = GLOBAL.get_or_init(|| {
            let extra = std::env::var_os(TEMPLATES_DIR_ENV).filter(|value| !value.is_empty());
            Registry::load(extra.as_deref().map(Path::new)).map_err(|error| error.to_string())
        });
        loaded.as_ref().map_err(|message| GenerateError::Templates(message.clone()))
    }

    /// Every template, sorted by name.
    pub fn templates(&self) -> &[Template] {
        &self.templates
    }

    /// The template called `name`; an unknown name is refused with the list of known ones.
    pub fn find(&self, name: &str) -> Result<&Template, GenerateError> {
        self.templates.iter().find(|template| template.id.as_str() == name).ok_or_else(|| {
            GenerateError::UnknownTemplate {
                name: name.to_string(),
                available: self.templates.iter().map(|template| template.id.as_str()).collect::<Vec<_>>().join(", "),
            }
        })
    }

    /// The template to suggest for a task: the one for the task on any device (`yolo` for
    /// detection, not `yolo_openvino`), else the first for the task, else `custom`'s.
    pub fn for_task(&self, task: TaskKind) -> Option<&Template> {
        let serving = || self.templates.iter().filter(move |template| template.manifest.task == task);
        serving()
            .find(|template| template.manifest.device == Device::Auto)
            .or_else(|| serving().next())
            .or_else(|| self.templates.iter().find(|template| template.manifest.task == TaskKind::Custom))
    }

    /// The files the templates are made of.
    pub fn files(&self) -> &TemplateFiles {
        &self.files
    }

    /// The templates as a Markdown table: the README's, which a test keeps equal to it.
    #[cfg(test)]
    pub fn markdown_table(&self) -> String {
        let mut table = String::from("| Template | Task | What it generates |\n|---|---|---|\n");
        for template in &self.templates {
            let manifest = &template.manifest;
            table.push_str(&format!("| `{}` | {} | {} |\n", template.id, manifest.task, manifest.description));
        }
        table
    }
}

fn parse_manifest(bytes: &[u8]) -> Result<TemplateManifest, String> {
    let text = std::str::from_utf8(bytes).map_err(|_| "it is not UTF-8".to_string())?;
    toml_edit::de::from_str(text).map_err(|error| error.message().trim_end_matches('\n').to_string())
}

fn valid_name(name: &str) -> bool {
    name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// The template called `name` in this process's registry.
pub fn find(name: &str) -> Result<Template, GenerateError> {
    Registry::global()?.find(name).cloned()
}

/// The template to suggest for a task, in this process's registry.
pub fn template_for_task(task: TaskKind) -> Result<TemplateId, GenerateError> {
    Registry::global()?
        .for_task(task)
        .map(|template| template.id.clone())
        .ok_or_else(|| GenerateError::Templates(format!("no template serves the `{task}` task")))
}

/// The template for a project when neither a template nor a model says which: detection's.
pub fn default_template() -> Result<TemplateId, GenerateError> {
    template_for_task(TaskKind::Detection)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(path: &Path, text: &str) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn every_built_in_template_has_a_valid_manifest() {
        let registry = Registry::load(None).unwrap();
        let names: Vec<&str> = registry.templates().iter().map(|template| template.id.as_str()).collect();
        assert_eq!(names, ["anomaly", "classification", "custom", "segmentation", "yolo", "yolo_openvino"]);
        for name in ["../etc", "_shared", "_deploy", "Yolo", ""] {
            let error = registry.find(name).unwrap_err();
            assert!(matches!(error, GenerateError::UnknownTemplate { .. }), "{name}: {error}");
            assert!(error.to_string().contains("yolo, yolo_openvino"), "{error}");
        }
        assert_eq!(registry.find("yolo_openvino").unwrap().manifest.device, Device::OpenVino);
        let yolo = &registry.find("yolo").unwrap().id;
        assert_eq!(format!("{yolo:<6}|"), "yolo  |", "a TemplateId pads like a string (the wizard's columns)");
    }

    #[test]
    fn each_task_suggests_its_template() {
        let registry = Registry::load(None).unwrap();
        for (task, name) in [
            (TaskKind::Detection, "yolo"),
            (TaskKind::Classification, "classification"),
            (TaskKind::Segmentation, "segmentation"),
            (TaskKind::Anomaly, "anomaly"),
            (TaskKind::Custom, "custom"),
        ] {
            assert_eq!(registry.for_task(task).map(|template| template.id.as_str()), Some(name), "{task}");
        }
    }

    #[test]
    fn a_folder_with_a_manifest_is_a_template_and_a_bad_manifest_is_named() {
        let dir = tempfile::tempdir().unwrap();
        write(
            &dir.path().join("people/template.toml"),
            "# Counts people.\ndescription = \"Counts people\"\ntask = \"detection\"\ndevice = \"cpu\"\n",
        );
        write(&dir.path().join("notes/readme.txt"), "no manifest: not a template");
        let registry = Registry::load(Some(dir.path())).unwrap();
        let people = registry.find("people").unwrap();
        assert_eq!(
            people.manifest,
            TemplateManifest { description: "Counts people".into(), task: TaskKind::Detection, device: Device::Cpu }
        );
        assert!(registry.find("notes").is_err());
        assert!(registry.markdown_table().contains("| `people` | detection | Counts people |\n"));

        for (manifest, fragment) in [
            ("description = \"x\"\n", "missing field `task`"),
            ("description = \"x\"\ntask = \"detection\"\ncolour = \"red\"\n", "unknown field `colour`"),
            ("description = \"x\"\ntask = \"dance\"\n", "dance"),
            ("description = \"x\"\ntask = ", "people"),
        ] {
            write(&dir.path().join("people/template.toml"), manifest);
            let error = Registry::load(Some(dir.path())).unwrap_err().to_string();
            assert!(
                error.contains("template `people` has a bad template.toml") && error.contains(fragment),
                "{manifest:?}: {error}"
            );
        }
    }

    #[test]
    fn the_readme_table_is_the_registry() {
        let readme = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("README.md")).unwrap();
        let table = Registry::load(None).unwrap().markdown_table();
        assert!(readme.contains(&table), "README.md's template table must be exactly:\n{table}");
    }
}
