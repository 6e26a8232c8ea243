//! Writing a project atomically: everything goes into a temporary sibling folder that is
//! renamed into place, so a failure leaves nothing half-written and never touches an existing
//! project unless `--force` is given.

use std::path::{Path, PathBuf};

use super::{error::GenerateError, GeneratedFile};

/// Options for [`write_project`].
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Replace a non-empty target.
    pub force: bool,
}

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> GenerateError {
    let path = path.to_path_buf();
    move |source| GenerateError::Io { action, path, source }
}

/// Writes `files` into `target` atomically.
pub fn write_project(target: &Path, files: &[GeneratedFile], options: &WriteOptions) -> Result<(), GenerateError> {
    check_destination(target, options.force)?;
    let parent = parent_of(target);
    std::fs::create_dir_all(parent).map_err(io("could not create", parent))?;
    let staging = tempfile::Builder::new()
        .prefix(".inferx-new-")
        .tempdir_in(parent)
        .map_err(io("could not create a folder in", parent))?;
    for file in files {
        let path = safe_join(staging.path(), &file.path)?;
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io("could not create", dir))?;
        }
        std::fs::write(&path, &file.contents).map_err(io("could not write", &path))?;
    }
    move_into_place(staging.path(), target, options.force)
}

/// Refuses a `target` that is not a folder, or a non-empty one without `force`; says whether
/// it exists.
pub fn check_destination(target: &Path, force: bool) -> Result<bool, GenerateError> {
    match std::fs::symlink_metadata(target) {
        Ok(metadata) if metadata.is_dir() => {
            let empty = std::fs::read_dir(target).map_err(io("could not read", target))?.next().is_none();
            if !empty && !force {
                return Err(GenerateError::TargetExists(target.to_path_buf()));
            }
            Ok(true)
        }
        Ok(_) => Err(GenerateError::TargetNotDir(target.to_path_buf())),
        Err(_) => Ok(false),
    }
}

/// A temporary file beside `target`, to be written and then renamed over it. It has the mode
/// `target` has when it exists (a mode the user set, 0600 or 0755, is kept), else the mode
/// the umask gives a new file (0644 under umask 022), never tempfile's owner-only 0600: the
/// compose file bind-mounts these files into containers running as other users.
pub fn temp_file_for(target: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut builder = tempfile::Builder::new();
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // The mode asked of open(2), which the kernel narrows by the umask.
        builder.permissions(std::fs::Permissions::from_mode(0o666));
    }
    let temp = builder.tempfile_in(parent_of(target))?;
    if let Ok(existing) = std::fs::metadata(target) {
        temp.as_file().set_permissions(existing.permissions())?;
    }
    Ok(temp)
}

fn parent_of(target: &Path) -> &Path {
    target.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."))
}

/// Renames a fully written folder (`staged`, on the same file system) to `target`. An
/// existing `target` is replaced only with `force`, and is moved aside first so that a failed
/// rename can put it back. `staged` is gone afterwards either way.
pub fn move_into_place(staged: &Path, target: &Path, force: bool) -> Result<(), GenerateError> {
    let existing = check_destination(target, force).inspect_err(|_| {
        let _ = std::fs::remove_dir_all(staged);
    })?;
    let parent = parent_of(target);
    if existing {
        let backup = tempfile::Builder::new()
            .prefix(".inferx-old-")
            .tempdir_in(parent)
            .map_err(io("could not create a folder in", parent))?;
        let aside = backup.path().join("previous");
        std::fs::rename(target, &aside).map_err(io("could not move aside", target))?;
        if let Err(error) = std::fs::rename(staged, target) {
            let _ = std::fs::rename(&aside, target);
            let _ = std::fs::remove_dir_all(staged);
            return Err(io("could not move the new project to", target)(error));
        }
        drop(backup);
    } else {
        std::fs::rename(staged, target).map_err(|error| {
            let _ = std::fs::remove_dir_all(staged);
            io("could not move the new project to", target)(error)
        })?;
    }
    Ok(())
}

/// Joins a generated relative path, refusing anything that could leave the folder.
fn safe_join(root: &Path, relative: &str) -> Result<PathBuf, GenerateError> {
    let path = Path::new(relative);
    let escapes = path.is_absolute() || path.components().any(|part| !matches!(part, std::path::Component::Normal(_)));
    if escapes || relative.is_empty() {
        return Err(GenerateError::Bug(format!("generated path `{relative}` is not a plain relative path")));
    }
    Ok(root.join(path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(path: &str, text: &str) -> GeneratedFile {
        GeneratedFile { path: path.into(), contents: text.as_bytes().to_vec() }
    }

    #[test]
    fn it_writes_into_a_new_folder_and_leaves_no_staging_behind() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("app");
        write_project(&target, &[file("src/main.rs", "fn main() {}\n")], &WriteOptions::default()).unwrap();
        assert_eq!(std::fs::read_to_string(target.join("src/main.rs")).unwrap(), "fn main() {}\n");
        let leftovers: Vec<_> =
            std::fs::read_dir(root.path()).unwrap().flatten().map(|entry| entry.file_name()).collect();
        assert_eq!(leftovers, [std::ffi::OsString::from("app")]);
    }

    #[test]
    fn it_refuses_a_non_empty_folder_without_force_and_replaces_it_with_force() {
        let root = tempfile::tempdir().unwrap();
        let target = root.path().join("app");
        std::fs::create_dir(&target).unwrap();
        std::fs::write(target.join("mine.txt"), "keep me").unwrap();
        let error = write_project(&target, &[file("a", "new")], &WriteOptions::default()).unwrap_err();
        assert!(matches!(error, GenerateError::TargetExists(_)), "{error}");
        assert_eq!(std::fs::read_to_string(target.join("mine.txt")).unwrap(), "keep me");
        write_project(&target, &[file("a", "new")], &WriteOptions { force: true }).unwrap();
        assert!(!target.join("mine.txt").exists());
        assert_eq!(std::fs::read_dir(root.path()).unwrap().count(), 1, "no backup or staging folder left");
    }

    #[test]
    fn paths_that_escape_are_refused() {
        let root = tempfile::tempdir().unwrap();
        for bad in ["../x", "/etc/x", ""] {
            assert!(
                write_project(&root.path().join("app"), &[file(bad, "x")], &WriteOptions::default()).is_err(),
                "{bad}"
            );
        }
        assert!(!root.path().join("app").exists(), "nothing is written when a path is refused");
    }
}
