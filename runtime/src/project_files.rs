//! Opening the files a project names (the model, the labels file, the API keys, a
//! signature) so that every path fails closed.
//!
//! A file is opened once and the open handle is what gets checked: it must be a regular file
//! (not a folder, a FIFO or a device), it must lie inside the project once every symlink is
//! resolved, and it must be under a size cap. It is opened without blocking, so a FIFO cannot
//! hang start-up, and read through the cap, so `/dev/zero` cannot grow memory. Anything that
//! cannot be resolved is an error naming the file and the rule, never a pass.

use std::{
    fs::File,
    io::Read,
    path::{Path, PathBuf},
};

use crate::error::{Error, FileProblem, Result};

/// The most a small project file (labels, API keys, a signature) may hold: 1 MiB.
pub const SMALL_FILE_LIMIT: u64 = 1 << 20;

/// The most a model file may hold: 2 GiB, the largest protobuf an ONNX file can be.
pub const MODEL_FILE_LIMIT: u64 = 2 << 30;

/// The folder a project's relative paths start from: the config file's folder, where a bare
/// file name (`inferx.yaml`) means the current folder.
///
/// ```
/// use std::path::Path;
/// use inferx_runtime::project_files::project_dir;
///
/// assert_eq!(project_dir(Path::new("inferx.yaml")), Path::new("."));
/// assert_eq!(project_dir(Path::new("app/inferx.yaml")), Path::new("app"));
/// ```
pub fn project_dir(config_file: &Path) -> &Path {
    match config_file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    }
}

/// A project file opened and checked: a regular file inside the project, under its cap.
#[derive(Debug)]
pub struct ProjectFile {
    file: File,
    path: PathBuf,
    len: u64,
    limit: u64,
    key: String,
}

impl ProjectFile {
    /// Where the file really is: inside the project, with every symlink resolved.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Its size in bytes when it was opened.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Whether it was empty when it was opened.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// The real path, letting the handle go (for readers that take a path).
    pub fn into_path(self) -> PathBuf {
        self.path
    }

    /// The whole file as UTF-8 text, read from the checked handle and never past its cap (a
    /// file that grows while it is read is refused, not followed).
    pub fn read_to_string(self) -> Result<String> {
        let mut bytes = Vec::with_capacity(usize::try_from(self.len).unwrap_or(0));
        (&self.file)
            .take(self.limit.saturating_add(1))
            .read_to_end(&mut bytes)
            .map_err(|error| Error::io("could not read", &self.path, error))?;
        if bytes.len() as u64 > self.limit {
            return Err(too_large(&self.key, &self.path, self.limit));
        }
        String::from_utf8(bytes).map_err(|_| {
            refuse(
                FileProblem::Unreadable,
                format!("{} `{}` is not UTF-8 text; save it as UTF-8", self.key, self.path.display()),
            )
        })
    }
}

/// Opens `relative` (the value of `key` in the config) under `project_dir` and checks the open
/// handle: a regular file, inside the project after resolving symlinks, of at most `limit`
/// bytes. `relative` is expected to be [checked](crate::config) as relative already; an
/// absolute or climbing one is refused here too, as leading outside.
pub fn open(project_dir: &Path, key: &str, relative: &str, limit: u64) -> Result<ProjectFile> {
    let root = std::fs::canonicalize(project_dir).map_err(|error| {
        refuse(
            FileProblem::Unreadable,
            format!(
                "the project folder `{}` could not be resolved ({error}), so {key} `{relative}` is not read; run from the project folder or pass its config file",
                project_dir.display()
            ),
        )
    })?;
    let joined = root.join(relative);
    let real = match std::fs::canonicalize(&joined) {
        Ok(real) => real,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            return Err(refuse(
                FileProblem::Missing,
                format!(
                    "{key} `{relative}` is not there (looked for `{}`); create it, or change {key}",
                    joined.display()
                ),
            ));
        }
        Err(error) => {
            return Err(refuse(
                FileProblem::Unreadable,
                format!("{key} `{relative}` could not be resolved: {error}; check the path and its folders"),
            ));
        }
    };
    if !real.starts_with(&root) {
        return Err(outside(key, relative, &real));
    }
    let file = open_without_blocking(&real).map_err(|error| {
        refuse(
            FileProblem::Unreadable,
            format!("{key} `{relative}` could not be opened ({error}); check that it is a file you can read"),
        )
    })?;
    let metadata = file.metadata().map_err(|error| Error::io("could not read the metadata of", &real, error))?;
    if metadata.is_dir() {
        return Err(refuse(
            FileProblem::NotAFile,
            format!("{key} `{relative}` is a folder, not a file; point {key} at the file itself"),
        ));
    }
    if !metadata.is_file() {
        return Err(refuse(
            FileProblem::NotAFile,
            format!(
                "{key} `{relative}` is not a regular file (a FIFO, socket or device); put the file itself in the project"
            ),
        ));
    }
    // What was opened, not what the path says now: a folder swapped for a symlink between the
    // resolution above and the open is caught here.
    match opened_location(&file, &real) {
        Some(location) if location.starts_with(&root) => {}
        Some(location) => return Err(outside(key, relative, &location)),
        None => {
            return Err(refuse(
                FileProblem::Unreadable,
                format!("{key} `{relative}` changed while it was being opened; open it again once it is in place"),
            ));
        }
    }
    if metadata.len() > limit {
        return Err(too_large(key, &real, limit));
    }
    Ok(ProjectFile { file, path: real, len: metadata.len(), limit, key: key.to_string() })
}

fn refuse(problem: FileProblem, reason: String) -> Error {
    Error::ProjectFile { problem, reason }
}

fn outside(key: &str, relative: &str, real: &Path) -> Error {
    refuse(
        FileProblem::Outside,
        format!(
            "{key} `{relative}` leads outside the project, to `{}` (a symlink); copy the file into the project or mount it there",
            real.display()
        ),
    )
}

fn too_large(key: &str, path: &Path, limit: u64) -> Error {
    refuse(
        FileProblem::TooLarge,
        format!(
            "{key} `{}` is larger than the {} such a file may hold; check that it is the right file",
            path.display(),
            if limit >= 1 << 20 { format!("{} MiB", limit >> 20) } else { format!("{limit} bytes") }
        ),
    )
}

/// Opens `path` for reading without following a final symlink and without blocking: opening a
/// FIFO with no writer returns at once (and is then refused as not a regular file).
#[cfg(unix)]
fn open_without_blocking(path: &Path) -> std::io::Result<File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_NOFOLLOW | libc::O_CLOEXEC)
        .open(path)
}

#[cfg(not(unix))]
fn open_without_blocking(path: &Path) -> std::io::Result<File> {
    File::open(path)
}

/// Where the open `file` really is. On Linux the kernel says (`/proc/self/fd`); elsewhere, or
/// without `/proc`, `real` counts when it still names the very same file (device and inode).
/// `None` when neither holds.
fn opened_location(file: &File, real: &Path) -> Option<PathBuf> {
    #[cfg(target_os = "linux")]
    {
        use std::os::fd::AsRawFd;
        if let Ok(location) = std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
            return Some(location);
        }
    }
    same_file(file, real).then(|| real.to_path_buf())
}

#[cfg(unix)]
fn same_file(file: &File, path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (file.metadata(), std::fs::symlink_metadata(path)) {
        (Ok(opened), Ok(named)) => (opened.dev(), opened.ino()) == (named.dev(), named.ino()),
        _ => false,
    }
}

#[cfg(not(unix))]
fn same_file(_file: &File, path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok_and(|metadata| metadata.is_file())
}

/// Reads a file the user named directly (not a project file, so no folder to stay in) as
/// text, with the same guards: a regular file, opened without blocking, read up to `limit`.
pub fn read_plain_file(path: &Path, what: &str, limit: u64) -> Result<String> {
    let file = open_without_blocking(path).map_err(|error| Error::io("could not read", path, error))?;
    let metadata = file.metadata().map_err(|error| Error::io("could not read the metadata of", path, error))?;
    if !metadata.is_file() {
        return Err(refuse(
            FileProblem::NotAFile,
            format!(
                "{what} `{}` is not a regular file (a folder, FIFO or device); name the file itself",
                path.display()
            ),
        ));
    }
    ProjectFile { file, path: path.to_path_buf(), len: metadata.len(), limit, key: what.to_string() }.read_to_string()
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    fn problem(result: Result<ProjectFile>) -> (FileProblem, String) {
        match result {
            Err(Error::ProjectFile { problem, reason }) => (problem, reason),
            other => panic!("refused as a project file: {other:?}"),
        }
    }

    #[test]
    fn a_bare_config_file_name_is_in_the_current_folder() {
        assert_eq!(project_dir(Path::new("inferx.yaml")), Path::new("."));
        assert_eq!(project_dir(Path::new("./inferx.yaml")), Path::new("."));
        assert_eq!(project_dir(Path::new("/srv/app/inferx.yaml")), Path::new("/srv/app"));
        assert_eq!(project_dir(Path::new("/")), Path::new("."));
    }

    #[test]
    fn only_regular_files_inside_the_project_and_under_the_cap_are_opened() {
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("app");
        std::fs::create_dir_all(project.join("models")).unwrap();
        std::fs::create_dir_all(root.path().join("elsewhere")).unwrap();
        std::fs::write(project.join("labels.txt"), "cat\ndog\n").unwrap();
        std::fs::write(root.path().join("elsewhere/labels.txt"), "secret\n").unwrap();
        std::os::unix::fs::symlink(project.join("labels.txt"), project.join("models/linked.txt")).unwrap();
        std::os::unix::fs::symlink(root.path().join("elsewhere"), project.join("shared")).unwrap();
        std::os::unix::fs::symlink("/dev/zero", project.join("zero.txt")).unwrap();
        let fifo = project.join("fifo.txt");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());

        let opened = open(&project, "labels_file", "models/linked.txt", 64).unwrap();
        assert_eq!(opened.path(), std::fs::canonicalize(project.join("labels.txt")).unwrap());
        assert_eq!(opened.read_to_string().unwrap(), "cat\ndog\n");

        let started = Instant::now();
        let (kind, reason) = problem(open(&project, "labels_file", "shared/labels.txt", 64));
        assert_eq!(kind, FileProblem::Outside, "{reason}");
        assert!(reason.contains("labels_file `shared/labels.txt` leads outside the project"), "{reason}");
        let (kind, reason) = problem(open(&project, "labels_file", "zero.txt", 64));
        assert_eq!(kind, FileProblem::Outside, "{reason}");
        assert!(reason.contains("`/dev/zero`"), "{reason}");
        let (kind, reason) = problem(open(&project, "labels_file", "fifo.txt", 64));
        assert_eq!(kind, FileProblem::NotAFile, "{reason}");
        assert!(reason.contains("a FIFO, socket or device"), "{reason}");
        let (kind, reason) = problem(open(&project, "model.path", "models", 64));
        assert_eq!(kind, FileProblem::NotAFile, "{reason}");
        assert!(reason.contains("model.path `models` is a folder, not a file"), "{reason}");
        let (kind, reason) = problem(open(&project, "labels_file", "missing.txt", 64));
        assert_eq!(kind, FileProblem::Missing, "{reason}");
        assert!(reason.contains("labels_file `missing.txt` is not there"), "{reason}");
        let (kind, _) = problem(open(&project, "labels_file", "labels.txt", 3));
        assert_eq!(kind, FileProblem::TooLarge);
        let (kind, _) = problem(open(&project, "labels_file", "../elsewhere/labels.txt", 64));
        assert_eq!(kind, FileProblem::Outside);
        let (kind, _) = problem(open(&project.join("gone"), "labels_file", "labels.txt", 64));
        assert_eq!(kind, FileProblem::Unreadable, "a project folder that does not resolve is no pass");
        assert!(started.elapsed() < Duration::from_secs(5), "refused promptly: {:?}", started.elapsed());
    }

    #[test]
    fn a_file_named_directly_is_read_through_its_cap_and_never_blocks() {
        let dir = tempfile::tempdir().unwrap();
        let fifo = dir.path().join("fifo");
        assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
        let error = read_plain_file(&fifo, "--labels", 1024).unwrap_err().to_string();
        assert!(error.contains("--labels") && error.contains("not a regular file"), "{error}");
        let error = read_plain_file(Path::new("/dev/zero"), "--labels", 1024).unwrap_err().to_string();
        assert!(error.contains("not a regular file"), "{error}");
        let big = dir.path().join("big.txt");
        std::fs::write(&big, "x".repeat(2048)).unwrap();
        let error = read_plain_file(&big, "--labels", 1024).unwrap_err().to_string();
        assert!(error.contains("larger than"), "{error}");
        std::fs::write(&big, "cat\n").unwrap();
        assert_eq!(read_plain_file(&big, "--labels", 1024).unwrap(), "cat\n");
    }
}
