//! Planned changes to an existing project, shown as diffs and written all together.

use std::path::Path;

use super::error::GenerateError;

/// What happens to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChangeKind {
    /// Already as wanted.
    Unchanged,
    /// A new file.
    Create,
    /// An existing file, replaced or extended.
    Update,
    /// A file the user edited that would be replaced: needs `--force`.
    Conflict,
    /// A file no longer generated, removed.
    Remove,
}

impl ChangeKind {
    /// Writing `wanted` over `current` (`None`: no such file): a creation, nothing, or an update.
    pub fn of(current: Option<&[u8]>, wanted: &[u8]) -> ChangeKind {
        match current {
            None => ChangeKind::Create,
            Some(current) if current == wanted => ChangeKind::Unchanged,
            Some(_) => ChangeKind::Update,
        }
    }
}

/// One planned change.
#[derive(Debug, Clone)]
pub struct Change {
    /// Path relative to the project, `/`-separated.
    pub path: String,
    /// What happens.
    pub kind: ChangeKind,
    /// Why, in a few words.
    pub summary: String,
    /// The contents after the change.
    pub contents: String,
    /// A unified diff from the current file (empty for unchanged and new files).
    pub diff: String,
}

/// A unified diff of one file, `a/` and `b/` prefixed like git's.
pub fn unified_diff(path: &str, old: &str, new: &str) -> String {
    similar::TextDiff::from_lines(old, new)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string()
}

/// Writes the planned changes: every file goes to a temporary sibling first, then all are
/// renamed into place, so a failure leaves the project as it was.
pub fn apply(dir: &Path, changes: &[Change]) -> Result<(), GenerateError> {
    let mut staged = Vec::new();
    let writes = changes.iter().filter(|change| !matches!(change.kind, ChangeKind::Unchanged | ChangeKind::Remove));
    for change in writes {
        let target = dir.join(&change.path);
        let parent = target.parent().unwrap_or(dir).to_path_buf();
        std::fs::create_dir_all(&parent).map_err(|source| GenerateError::Io {
            action: "could not create",
            path: parent.clone(),
            source,
        })?;
        let mut temp = super::write::temp_file_for(&target).map_err(|source| GenerateError::Io {
            action: "could not write in",
            path: parent.clone(),
            source,
        })?;
        std::io::Write::write_all(&mut temp, change.contents.as_bytes()).map_err(|source| GenerateError::Io {
            action: "could not write",
            path: temp.path().to_path_buf(),
            source,
        })?;
        staged.push((temp, target));
    }
    for (temp, target) in staged {
        temp.persist(&target).map_err(|error| GenerateError::Io {
            action: "could not replace",
            path: target.clone(),
            source: error.error,
        })?;
    }
    for change in changes.iter().filter(|change| change.kind == ChangeKind::Remove) {
        let target = dir.join(&change.path);
        std::fs::remove_file(&target).map_err(|source| GenerateError::Io {
            action: "could not remove",
            path: target.clone(),
            source,
        })?;
    }
    Ok(())
}

/// A project file as text; `None` when it does not exist.
pub fn read(dir: &Path, path: &str) -> Result<Option<String>, GenerateError> {
    let full = dir.join(path);
    read_bytes(dir, path)?
        .map(|bytes| {
            String::from_utf8(bytes).map_err(|error| GenerateError::Io {
                action: "could not read",
                path: full,
                source: std::io::Error::new(std::io::ErrorKind::InvalidData, error),
            })
        })
        .transpose()
}

/// A project file's bytes; `None` when it does not exist.
pub fn read_bytes(dir: &Path, path: &str) -> Result<Option<Vec<u8>>, GenerateError> {
    let full = dir.join(path);
    match std::fs::read(&full) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(error) => Err(GenerateError::Io { action: "could not read", path: full, source: error }),
    }
}
