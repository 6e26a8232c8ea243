//! `inferx upgrade`: bring a project to this inferx's templates and vendored runtime without
//! losing the user's work.
//!
//! Generation records the sha256 of every file it writes in [`RECORD`]. An upgrade re-renders
//! the project from its own facts (Cargo.toml, `inferx.yaml`, the model in `models/`, whether
//! it has the server, whether the runtime's `video` feature is on in Cargo.toml) and, file by
//! file:
//! - a file still as recorded is replaced by the new version;
//! - a file the user edited (or any differing file when there is no record) is kept, and the
//!   new version is written beside it as `<file>.new`; `--force` replaces it instead (an
//!   edited `inferx.yaml` also loses the keys its task does not read: [`super::migrate`]);
//! - a file the user edited whose template renders what the record holds is left alone: the
//!   templates did not change it, so there is nothing to merge;
//! - a file the templates no longer produce is removed when unedited, kept otherwise; every
//!   file of the vendored runtime counts as generated, even where no record names it, so
//!   `--force` removes the ones this version no longer has.
//!
//! The record is rewritten with what was generated, so the next upgrade tells edits apart the
//! same way.

use std::path::Path;

use super::record::is_sample;
pub use super::record::{record_change, with_record, Record, NEW_SUFFIX, RECORD};
use super::{
    changes::{read_bytes, unified_diff, Change, ChangeKind},
    error::GenerateError,
    lock, migrate,
    project::ProjectFacts,
    registry, render_project,
    spec::{shortest, ModelSource},
    GeneratedFile, ProjectSpec, SERVER_FILES, VENDORED_RUNTIME,
};

/// The planned upgrade of a project; nothing is written until [`super::changes::apply`].
#[derive(Debug, Clone)]
pub struct UpgradePlan {
    /// Every change, the record's included.
    pub changes: Vec<Change>,
    /// Files the user edited whose new version goes beside them (`<file>.new`).
    pub beside: Vec<String>,
    /// Files the templates no longer produce, kept because the user edited them.
    pub kept: Vec<String>,
    /// Whether the project had a record to tell edits apart.
    pub had_record: bool,
    /// The inferx version that generated the project (its `inferx.yaml` stamp).
    pub from_version: String,
}

/// Plans upgrading `project` to this inferx; `force` replaces edited files instead of writing
/// `.new` copies.
pub fn plan(project: &ProjectFacts, force: bool) -> Result<UpgradePlan, GenerateError> {
    let spec = current_spec(project)?;
    // Sample images are the user's to replace once generated: an upgrade leaves them alone.
    let mut wanted = render_project(&spec)?;
    wanted.retain(|file| !is_sample(&file.path));
    let record = Record::read(&project.dir)?;
    let had_record = record.is_some();
    let record = record.unwrap_or_default();
    let mut next = Record::of(&[]);
    let mut plan = UpgradePlan {
        changes: Vec::new(),
        beside: Vec::new(),
        kept: Vec::new(),
        had_record,
        from_version: project.generated_by.clone(),
    };
    for file in &wanted {
        let contents = text(file)?;
        next.set(&file.path, &file.contents);
        let current = read_bytes(&project.dir, &file.path)?;
        let change = match current {
            None => change(&file.path, ChangeKind::Create, "new in this version", contents, String::new()),
            Some(bytes) if bytes == file.contents => {
                change(&file.path, ChangeKind::Unchanged, "up to date", contents, String::new())
            }
            Some(bytes) => {
                let diff = unified_diff(&file.path, &String::from_utf8_lossy(&bytes), &contents);
                if record.is_pristine(&file.path, &bytes) {
                    change(&file.path, ChangeKind::Update, "as generated: replaced", contents, diff)
                } else if record.is_pristine(&file.path, &file.contents) && !force {
                    // The user's edit of a file whose template output has not changed: there is
                    // nothing new to merge, so it is left alone.
                    change(
                        &file.path,
                        ChangeKind::Unchanged,
                        "you edited it; its template did not change",
                        contents,
                        String::new(),
                    )
                } else if force {
                    change(&file.path, ChangeKind::Update, "you edited it: replaced (--force)", contents, diff)
                } else if file.path == lock::LOCK_FILE {
                    // Cargo wrote it (crates the user added): their pins stay, and the next
                    // `cargo build` adds what the new runtime needs. A `.new` lock helps no one.
                    let kept = "yours (cargo changed it): kept; the next `cargo build` brings it up to date (commit it then), or --force takes inferx's";
                    change(
                        &file.path,
                        ChangeKind::Unchanged,
                        kept,
                        String::from_utf8_lossy(&bytes).into_owned(),
                        String::new(),
                    )
                } else if let Some((migrated, done)) = migrated_config(&file.path, &bytes) {
                    // The user's config, without the keys older versions wrote that its task
                    // does not read and with `device:` in its section form: their edits stay,
                    // and the new version still goes beside.
                    let summary = format!("you edited it: kept, {}", done.join("; "));
                    let migration = unified_diff(&file.path, &String::from_utf8_lossy(&bytes), &migrated);
                    if migrated == contents {
                        change(&file.path, ChangeKind::Update, &summary, contents, migration)
                    } else {
                        plan.changes.push(change(&file.path, ChangeKind::Update, &summary, migrated, migration));
                        beside_change(&mut plan, &project.dir, file, contents, diff)?
                    }
                } else {
                    beside_change(&mut plan, &project.dir, file, contents, diff)?
                }
            }
        };
        plan.changes.push(change);
    }
    // Files this version no longer generates: those of the record, and every file of the
    // vendored runtime, which is inferx's even where no record names it (a module file left
    // beside the folder that replaced it would stop the project from building).
    let mut gone: Vec<String> = record.files.keys().filter(|path| !next.files.contains_key(*path)).cloned().collect();
    gone.extend(
        vendored_runtime_files(&project.dir)?
            .into_iter()
            .filter(|path| !next.files.contains_key(path) && !record.files.contains_key(path)),
    );
    for path in &gone {
        let Some(bytes) = read_bytes(&project.dir, path)? else { continue };
        if record.is_pristine(path, &bytes) || force {
            let diff = unified_diff(path, &String::from_utf8_lossy(&bytes), "");
            plan.changes.push(change(path, ChangeKind::Remove, "no longer generated: removed", String::new(), diff));
        } else {
            plan.kept.push(path.clone());
        }
    }
    plan.changes.push(record_change(&project.dir, &next)?);
    Ok(plan)
}

/// The new version of a file the user edited, written beside it as `<file>.new`.
fn beside_change(
    plan: &mut UpgradePlan,
    dir: &Path,
    file: &GeneratedFile,
    contents: String,
    diff: String,
) -> Result<Change, GenerateError> {
    plan.beside.push(file.path.clone());
    let beside = format!("{}{NEW_SUFFIX}", file.path);
    let kind = ChangeKind::of(read_bytes(dir, &beside)?.as_deref(), &file.contents);
    let summary = format!("you edited `{}`: the new version goes beside it", file.path);
    Ok(change(&beside, kind, &summary, contents, diff))
}

/// The project's own `inferx.yaml` migrated (see [`migrate`]), with what was done, when
/// there was something to do.
fn migrated_config(path: &str, bytes: &[u8]) -> Option<(String, Vec<String>)> {
    if path != inferx_runtime::config::CONFIG_FILE {
        return None;
    }
    migrate::migrate(std::str::from_utf8(bytes).ok()?)
}

/// Every file under the project's `runtime/`, as relative `/`-separated paths.
fn vendored_runtime_files(dir: &Path) -> Result<Vec<String>, GenerateError> {
    let root = dir.join(VENDORED_RUNTIME);
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(&root).follow_links(false) {
        let entry = match entry {
            Ok(entry) => entry,
            Err(error) if error.io_error().is_some_and(|io| io.kind() == std::io::ErrorKind::NotFound) => break,
            Err(error) => {
                let path = error.path().unwrap_or(&root).to_path_buf();
                let source = error.into_io_error().unwrap_or_else(|| std::io::Error::other("a link loops"));
                return Err(GenerateError::Io { action: "could not read", path, source });
            }
        };
        if entry.file_type().is_file() {
            if let Ok(relative) = entry.path().strip_prefix(dir) {
                files.push(relative.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    Ok(files)
}

/// The project as this inferx would generate it, from the project's own facts.
fn current_spec(project: &ProjectFacts) -> Result<ProjectSpec, GenerateError> {
    let not_ready = |reason: String| GenerateError::NotAProject { dir: project.dir.clone(), reason };
    let config_path = project.dir.join(inferx_runtime::config::CONFIG_FILE);
    // The file's own values: INFERX_* variables of this shell must not leak into the files.
    let text = read_bytes(&project.dir, inferx_runtime::config::CONFIG_FILE)?.unwrap_or_default();
    let config = inferx_runtime::ProjectConfig::parse(&String::from_utf8_lossy(&text)).map_err(|error| {
        not_ready(format!(
            "inferx.yaml must be valid to upgrade ({}); `inferx validate` shows how to fix it",
            error.reason()
        ))
    })?;
    let template = registry::find(&project.template)?;
    // The loader's check first: a model through a symlink out of the project is not read. It
    // is then read by the name the config gives it, which names the model in the spec.
    let project_dir = inferx_runtime::project_files::project_dir(&config_path);
    let model = match config.model_path(project_dir) {
        Ok(_) => Some(ModelSource::read(&project_dir.join(&config.model.path))?),
        Err(inferx_runtime::Error::ProjectFile { problem: inferx_runtime::FileProblem::Missing, .. }) => None,
        Err(error) => return Err(not_ready(format!("{}; `inferx validate` shows how to fix it", error.reason()))),
    };
    let mut spec = ProjectSpec::new(&project.name, &template, model.as_ref(), Some(config.device.preferred))?
        .with_api(SERVER_FILES.iter().all(|path| project.dir.join(path).is_file()))
        .with_video(project.video)?
        .with_thresholds(Some(shortest(config.thresholds.confidence)), Some(shortest(config.thresholds.iou)))?;
    if let Some(description) = &project.description {
        spec.description = description.clone();
    }
    Ok(spec)
}

fn text(file: &GeneratedFile) -> Result<String, GenerateError> {
    String::from_utf8(file.contents.clone())
        .map_err(|_| GenerateError::Bug(format!("generated `{}` is not UTF-8", file.path)))
}

fn change(path: &str, kind: ChangeKind, summary: &str, contents: String, diff: String) -> Change {
    Change { path: path.to_string(), kind, summary: summary.to_string(), contents, diff }
}
