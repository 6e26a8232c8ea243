//! Where templates and the vendored runtime come from: the `templates/` and `runtime/` folders
//! embedded at build time and, for template authors, a folder read at run time (named by
//! [`TEMPLATES_DIR_ENV`]) whose folders join the built-in ones or replace those of the same
//! name.

use std::{
    borrow::Cow,
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use include_dir::{include_dir, Dir};

use super::error::GenerateError;

/// The `templates/` folder, embedded at build time.
static TEMPLATES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/templates");

/// The runtime crate's source, embedded at build time and vendored into every project.
pub static RUNTIME: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/runtime");

/// The environment variable naming a folder of templates read at run time.
pub const TEMPLATES_DIR_ENV: &str = "INFERX_TEMPLATES_DIR";

/// Every template file by its path below `templates/` (`yolo/template.toml`), `/`-separated.
#[derive(Debug, Clone, Default)]
pub struct TemplateFiles {
    files: BTreeMap<String, Cow<'static, [u8]>>,
}

impl TemplateFiles {
    /// The templates built into this inferx.
    pub fn embedded() -> TemplateFiles {
        let mut files = BTreeMap::new();
        gather_embedded(&TEMPLATES, &mut files);
        TemplateFiles { files }
    }

    /// These files with the folders of `dir` over them: a folder of `dir` replaces the one of
    /// the same name whole (a template is never half one version, half another).
    pub fn with_folder(mut self, dir: &Path) -> Result<TemplateFiles, GenerateError> {
        let io = |action: &'static str, path: &Path| {
            let path = path.to_path_buf();
            move |source| GenerateError::Io { action, path, source }
        };
        let entries = std::fs::read_dir(dir).map_err(|source| {
            GenerateError::Templates(format!(
                "{TEMPLATES_DIR_ENV}=`{}` cannot be read ({source}): point it at a folder of templates, or unset it",
                dir.display()
            ))
        })?;
        let mut replaced = BTreeSet::new();
        for entry in entries {
            let entry = entry.map_err(io("could not read", dir))?;
            if entry.path().is_dir() {
                replaced.insert(utf8_name(&entry.path(), dir)?);
            }
        }
        self.files.retain(|path, _| !replaced.iter().any(|folder| path.starts_with(&format!("{folder}/"))));
        for folder in &replaced {
            for entry in walkdir::WalkDir::new(dir.join(folder)).follow_links(true).sort_by_file_name() {
                let entry = entry.map_err(|error| {
                    let path = error.path().unwrap_or(dir).to_path_buf();
                    let source = error.into_io_error().unwrap_or_else(|| std::io::Error::other("a link loops"));
                    GenerateError::Io { action: "could not read", path, source }
                })?;
                if entry.file_type().is_file() {
                    let contents = std::fs::read(entry.path()).map_err(io("could not read", entry.path()))?;
                    self.files.insert(utf8_name(entry.path(), dir)?, Cow::Owned(contents));
                }
            }
        }
        Ok(self)
    }

    /// The contents of one file.
    pub fn get(&self, path: &str) -> Option<&[u8]> {
        self.files.get(path).map(AsRef::as_ref)
    }

    /// The folders at the top (`yolo`, `_shared`...).
    pub fn folders(&self) -> BTreeSet<&str> {
        self.files.keys().filter_map(|path| path.split_once('/').map(|(folder, _)| folder)).collect()
    }

    /// The files below `folder`, as (path below `folder`, full path) pairs.
    pub fn under<'a>(&'a self, folder: &str) -> impl Iterator<Item = (&'a str, &'a str)> {
        let prefix = format!("{folder}/");
        self.files.keys().filter_map(move |path| path.strip_prefix(&prefix).map(|relative| (relative, path.as_str())))
    }

    /// Every file, as (full path, contents).
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.files.iter().map(|(path, contents)| (path.as_str(), contents.as_ref()))
    }
}

fn gather_embedded(dir: &Dir<'static>, files: &mut BTreeMap<String, Cow<'static, [u8]>>) {
    for file in dir.files() {
        files.insert(file.path().to_string_lossy().replace('\\', "/"), Cow::Borrowed(file.contents()));
    }
    for sub in dir.dirs() {
        gather_embedded(sub, files);
    }
}

/// `path` relative to `root`, `/`-separated; a name that is not UTF-8 cannot name a template
/// file (tera and the manifests need text).
fn utf8_name(path: &Path, root: &Path) -> Result<String, GenerateError> {
    let relative = path.strip_prefix(root).unwrap_or(path);
    relative.to_str().map(|name| name.replace('\\', "/")).ok_or_else(|| {
        GenerateError::Templates(format!("`{}` has a name that is not UTF-8: rename it", path.display()))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_folder_replaces_the_embedded_one_of_its_name_and_adds_new_ones() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("yolo/src")).unwrap();
        std::fs::write(dir.path().join("yolo/template.toml"), "task = \"detection\"\n").unwrap();
        std::fs::create_dir_all(dir.path().join("fresh")).unwrap();
        std::fs::write(dir.path().join("fresh/template.toml"), "x").unwrap();
        let embedded = TemplateFiles::embedded();
        assert!(embedded.get("yolo/template.toml").is_some_and(|text| text.starts_with(b"description")));
        let files = embedded.with_folder(dir.path()).unwrap();
        assert_eq!(files.get("yolo/template.toml"), Some(&b"task = \"detection\"\n"[..]));
        assert_eq!(files.get("fresh/template.toml"), Some(&b"x"[..]));
        assert!(files.get("_shared/Cargo.toml.tera").is_some(), "other folders stay");
        assert!(files.folders().contains("fresh"));
        let missing = TemplateFiles::embedded().with_folder(&dir.path().join("nowhere")).unwrap_err();
        assert!(missing.to_string().contains(TEMPLATES_DIR_ENV), "{missing}");
    }
}
