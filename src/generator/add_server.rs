//! `inferx api` in an existing project: add the HTTP server without losing the user's work.
//!
//! Each file is planned before anything is written:
//! - `src/main.rs` and `src/server.rs` are re-rendered with the server. A file still exactly as
//!   generated is replaced; a file the user edited is a conflict (shown as a diff) unless
//!   `--force`.
//! - `Cargo.toml` is edited with `toml_edit`: the server's dependencies and the runtime's
//!   `server` feature are added, comments and formatting kept.
//! - `inferx.yaml` and `README.md` get the server's section appended when they lack it.
//!
//! A project that already has everything is left untouched.

use std::path::Path;

use toml_edit::{value, Array, DocumentMut, InlineTable, Item, Value};

pub use super::changes::{apply, Change, ChangeKind};
pub use super::project::{read_project, ProjectFacts};
use super::{
    changes::{read, unified_diff},
    error::GenerateError,
    lock,
    record::{self, Record},
    registry, render_project, GeneratedFile, ProjectSpec, SERVER_DEPENDENCIES, SERVER_RUNTIME_FEATURE,
};

/// Plans adding the server to a project; nothing is written.
pub fn plan(project: &ProjectFacts) -> Result<Vec<Change>, GenerateError> {
    if !project.dir.join("runtime/src/server/mod.rs").is_file() {
        return Err(GenerateError::NotAProject {
            dir: project.dir.clone(),
            reason: format!(
                "its vendored runtime (inferx {}) predates the HTTP server; run `inferx upgrade` first",
                project.generated_by
            ),
        });
    }
    let template = registry::find(&project.template)?;
    let mut spec = ProjectSpec::new(&project.name, &template, None, None)?.with_video(project.video)?;
    if let Some(description) = &project.description {
        spec.description = description.clone();
    }
    let without = render_project(&spec.clone().with_api(false))?;
    let with = render_project(&spec.with_api(true))?;
    let rendered = |files: &[GeneratedFile], path: &str| {
        files
            .iter()
            .find(|file| file.path == path)
            .map(|file| String::from_utf8_lossy(&file.contents).into_owned())
            .ok_or_else(|| GenerateError::Bug(format!("the template renders no `{path}`")))
    };
    let mut changes = Vec::new();
    for path in ["src/main.rs", "src/server.rs"] {
        let wanted = rendered(&with, path)?;
        let pristine = rendered(&without, path).ok();
        changes.push(replace_file(&project.dir, path, wanted, pristine.as_deref())?);
    }
    let cargo = read(&project.dir, "Cargo.toml")?.unwrap_or_default();
    let updated = add_server_dependencies(&cargo).map_err(|reason| GenerateError::NotAProject {
        dir: project.dir.clone(),
        reason: format!("Cargo.toml could not be edited: {reason}"),
    })?;
    changes.push(edited("Cargo.toml", &cargo, updated, "adds axum, tokio and the runtime's `server` feature"));
    changes.push(lock_change(&project.dir, &project.name)?);
    for (path, has_section, what) in [
        ("inferx.yaml", yaml_has_server as fn(&str) -> bool, "appends the `server:` section"),
        ("README.md", |text: &str| text.contains("## HTTP API"), "appends the HTTP API section"),
    ] {
        let current = read(&project.dir, path)?.unwrap_or_default();
        let section = appended_section(&rendered(&without, path)?, &rendered(&with, path)?)?;
        let updated = if has_section(&current) { current.clone() } else { append(&current, &section) };
        changes.push(edited(path, &current, updated, what));
    }
    changes.push(record_change(&project.dir, &changes)?);
    Ok(changes)
}

/// The upgrade record with what this command writes (see [`super::record`]).
fn record_change(dir: &Path, changes: &[Change]) -> Result<Change, GenerateError> {
    let mut record = Record::read(dir)?.unwrap_or_else(|| Record::of(&[]));
    for change in changes {
        // A lock cargo changed stays the user's: the record must not call it generated.
        if change.path == lock::LOCK_FILE && change.summary.starts_with(LOCK_KEPT) {
            continue;
        }
        record.set(&change.path, change.contents.as_bytes());
    }
    record::record_change(dir, &record)
}

/// What `inferx api` says of a lock it keeps.
const LOCK_KEPT: &str =
    "yours (cargo changed it): kept; the next `cargo build` adds the server's crates, commit it then";

/// The lock with the server's crates. A lock as generated without the server is replaced; one
/// cargo changed (the user added crates) is kept: cargo adds the server's crates to it at the
/// next build, which then needs committing for `--locked` image builds.
fn lock_change(dir: &Path, name: &str) -> Result<Change, GenerateError> {
    let registry = registry::Registry::global()?;
    let text =
        |api| lock::project_lock(registry, name, api).map(|file| String::from_utf8_lossy(&file.contents).into_owned());
    let wanted = text(true)?;
    let current = read(dir, lock::LOCK_FILE)?;
    let (kind, summary, contents) = match current {
        None => (ChangeKind::Create, "the crate versions inferx is tested with", wanted),
        Some(current) if current == wanted => (ChangeKind::Unchanged, "already has the server's crates", current),
        Some(current) if current == text(false)? => {
            (ChangeKind::Update, "adds the server's crates, at the versions inferx is tested with", wanted)
        }
        Some(current) => (ChangeKind::Unchanged, LOCK_KEPT, current),
    };
    // Thousands of lines of checksums: the summary says what changes.
    Ok(Change { path: lock::LOCK_FILE.to_string(), kind, summary: summary.to_string(), contents, diff: String::new() })
}

fn replace_file(dir: &Path, path: &str, wanted: String, pristine: Option<&str>) -> Result<Change, GenerateError> {
    let current = read(dir, path)?;
    let (kind, summary) = match current.as_deref() {
        Some(text) if text == wanted => (ChangeKind::Unchanged, "already has the server"),
        None => (ChangeKind::Create, "the server's routes"),
        Some(text) if Some(text) == pristine => (ChangeKind::Update, "adds the `serve` command"),
        Some(_) => (ChangeKind::Conflict, "you edited it; --force replaces it"),
    };
    let diff = match (&kind, &current) {
        (ChangeKind::Update | ChangeKind::Conflict, Some(text)) => unified_diff(path, text, &wanted),
        _ => String::new(),
    };
    Ok(Change { path: path.to_string(), kind, summary: summary.to_string(), contents: wanted, diff })
}

fn edited(path: &str, current: &str, updated: String, summary: &str) -> Change {
    let (kind, summary, diff) = if updated == current {
        (ChangeKind::Unchanged, "already has the server".to_string(), String::new())
    } else {
        (ChangeKind::Update, summary.to_string(), unified_diff(path, current, &updated))
    };
    Change { path: path.to_string(), kind, summary, contents: updated, diff }
}

fn yaml_has_server(text: &str) -> bool {
    serde_yaml::from_str::<serde_yaml::Value>(text).is_ok_and(|value| value.get("server").is_some())
}

/// The text the server adds at the end of a rendered file.
fn appended_section(without: &str, with: &str) -> Result<String, GenerateError> {
    with.strip_prefix(without.trim_end_matches('\n'))
        .map(|section| section.trim_start_matches('\n').to_string())
        .ok_or_else(|| GenerateError::Bug("the server section is not appended at the end of the template".to_string()))
}

fn append(current: &str, section: &str) -> String {
    let mut text = current.trim_end_matches('\n').to_string();
    if !text.is_empty() {
        text.push_str("\n\n");
    }
    text.push_str(section);
    if !text.ends_with('\n') {
        text.push('\n');
    }
    text
}

/// Adds the server's dependencies and the runtime's `server` feature to a Cargo.toml, keeping
/// everything else (comments, order, formatting) as it is.
pub fn add_server_dependencies(text: &str) -> Result<String, String> {
    let mut document: DocumentMut = text.parse().map_err(|error| format!("{error}"))?;
    let dependencies =
        document.get_mut("dependencies").and_then(Item::as_table_like_mut).ok_or("it has no [dependencies] table")?;
    let runtime = dependencies.get_mut("inferx-runtime").ok_or("it does not depend on inferx-runtime")?;
    let features = match runtime {
        Item::Value(Value::InlineTable(table)) => table.get_or_insert("features", Array::new()),
        Item::Table(table) => {
            table.entry("features").or_insert(value(Array::new())).as_value_mut().ok_or("features is not an array")?
        }
        _ => return Err("inferx-runtime is not a table".to_string()),
    };
    let features = features.as_array_mut().ok_or("inferx-runtime features is not an array")?;
    if !features.iter().any(|feature| feature.as_str() == Some(SERVER_RUNTIME_FEATURE)) {
        features.push(SERVER_RUNTIME_FEATURE);
    }
    for dependency in SERVER_DEPENDENCIES {
        match dependencies.get_mut(dependency.name) {
            None => {
                let item = if dependency.features.is_empty() {
                    value(dependency.version)
                } else {
                    let mut table = InlineTable::new();
                    table.insert("version", dependency.version.into());
                    table.insert("features", Value::Array(dependency.features.iter().copied().collect()));
                    value(table)
                };
                dependencies.insert(dependency.name, item);
            }
            Some(existing) => add_features(existing, dependency.features)?,
        }
    }
    Ok(document.to_string())
}

/// Makes sure an existing dependency has `features` (the user's version is kept).
fn add_features(item: &mut Item, wanted: &[&str]) -> Result<(), String> {
    if wanted.is_empty() {
        return Ok(());
    }
    if let Some(version) = item.as_str().map(str::to_string) {
        let mut table = InlineTable::new();
        table.insert("version", version.into());
        *item = value(table);
    }
    let table = item.as_table_like_mut().ok_or("a dependency entry is neither a version nor a table")?;
    if table.get("features").is_none() {
        table.insert("features", value(Array::new()));
    }
    let features =
        table.get_mut("features").and_then(Item::as_array_mut).ok_or("a dependency's features is not an array")?;
    for feature in wanted {
        if !features.iter().any(|existing| existing.as_str() == Some(feature)) {
            features.push(*feature);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dependencies_are_added_and_comments_kept() {
        let text = "[package]\nname = \"x\"\n\n[dependencies]\n# The runtime.\ninferx-runtime = { path = \"runtime\", default-features = false }\nanyhow = \"1\" # errors\ntokio = \"1.40\"\n";
        let updated = add_server_dependencies(text).unwrap();
        assert!(updated.contains("# The runtime."), "{updated}");
        assert!(updated.contains("anyhow = \"1\" # errors"), "{updated}");
        assert!(updated.contains("features = [\"server\"]"), "{updated}");
        assert!(updated.contains("axum = \"0.8\""), "{updated}");
        assert!(updated.contains("tokio = { version = \"1.40\", features = [\"rt-multi-thread\"] }"), "{updated}");
        assert_eq!(add_server_dependencies(&updated).unwrap(), updated, "a second run changes nothing");
        assert!(add_server_dependencies("[package]\nname = \"x\"\n").unwrap_err().contains("[dependencies]"));
    }

    #[test]
    fn sections_are_appended_once() {
        assert_eq!(appended_section("a\nb\n", "a\nb\n\nserver:\n  port: 1\n").unwrap(), "server:\n  port: 1\n");
        assert!(appended_section("a\n", "b\n").is_err());
        assert_eq!(append("a\n", "s\n"), "a\n\ns\n");
        assert!(yaml_has_server("task: detection\nserver:\n  port: 1\n"));
        assert!(!yaml_has_server("task: detection\n"));
    }
}
