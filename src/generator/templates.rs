//! The embedded templates: manifests, composition with `_shared/`, and rendering.

use include_dir::Dir;

use super::{error::GenerateError, sources::TEMPLATES, spec::ProjectSpec, GeneratedFile};

const SHARED: &str = "_shared";

/// The files a template consists of: `_shared/` overlaid with the template's own, as
/// (output path, embedded path) pairs.
fn template_sources(name: &str) -> Vec<(String, String)> {
    let mut sources: std::collections::BTreeMap<String, String> = std::collections::BTreeMap::new();
    for root in [SHARED, name] {
        if let Some(dir) = TEMPLATES.get_dir(root) {
            collect(dir, root, &mut sources);
        }
    }
    sources.into_iter().collect()
}

fn collect(dir: &Dir<'_>, root: &str, sources: &mut std::collections::BTreeMap<String, String>) {
    for file in dir.files() {
        let embedded = file.path().to_string_lossy().replace('\\', "/");
        let relative = embedded.strip_prefix(&format!("{root}/")).unwrap_or(&embedded).to_string();
        if relative == super::registry::MANIFEST || relative.ends_with(".partial.tera") {
            continue;
        }
        sources.insert(output_path(&relative), embedded);
    }
    for sub in dir.dirs() {
        collect(sub, root, sources);
    }
}

/// `src/main.rs.tera` → `src/main.rs`; `dot-gitignore` → `.gitignore`.
fn output_path(relative: &str) -> String {
    let path = relative.strip_suffix(".tera").unwrap_or(relative);
    path.split('/')
        .map(|part| part.strip_prefix("dot-").map_or_else(|| part.to_string(), |rest| format!(".{rest}")))
        .collect::<Vec<_>>()
        .join("/")
}

fn tera_engine() -> Result<tera::Tera, GenerateError> {
    let mut tera = tera::Tera::default();
    let mut sources = Vec::new();
    gather_tera(&TEMPLATES, &mut sources);
    tera.add_raw_templates(sources)
        .map_err(|error| GenerateError::Bug(format!("templates do not parse: {error:?}")))?;
    tera.autoescape_on(vec![]);
    Ok(tera)
}

fn gather_tera(dir: &Dir<'static>, sources: &mut Vec<(String, &'static str)>) {
    for file in dir.files() {
        let path = file.path().to_string_lossy().replace('\\', "/");
        if path.ends_with(".tera") {
            if let Some(text) = file.contents_utf8() {
                sources.push((path, text));
            }
        }
    }
    for sub in dir.dirs() {
        gather_tera(sub, sources);
    }
}

/// Files only projects with the HTTP server have.
pub const SERVER_FILES: &[&str] = &["src/server.rs"];

/// Renders a project's files (the vendored runtime included, the model not).
pub fn render_project(spec: &ProjectSpec) -> Result<Vec<GeneratedFile>, GenerateError> {
    let tera = tera_engine()?;
    let context = tera::Context::from_serialize(spec)
        .map_err(|error| GenerateError::Bug(format!("template context: {error}")))?;
    let mut files = Vec::new();
    for (output, embedded) in template_sources(&spec.template) {
        if !spec.api && SERVER_FILES.contains(&output.as_str()) {
            continue;
        }
        files.push(render_one(&tera, &context, output, &embedded)?);
    }
    files.extend(super::runtime_files());
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Renders every file of one templates folder (such as `_deploy`) with `context`.
pub fn render_folder(folder: &str, context: &impl serde::Serialize) -> Result<Vec<GeneratedFile>, GenerateError> {
    let tera = tera_engine()?;
    let context = tera::Context::from_serialize(context)
        .map_err(|error| GenerateError::Bug(format!("template context: {error}")))?;
    let mut sources = std::collections::BTreeMap::new();
    let dir = TEMPLATES.get_dir(folder).ok_or_else(|| GenerateError::Bug(format!("no templates/{folder}")))?;
    collect(dir, folder, &mut sources);
    sources.into_iter().map(|(output, embedded)| render_one(&tera, &context, output, &embedded)).collect()
}

fn render_one(
    tera: &tera::Tera,
    context: &tera::Context,
    output: String,
    embedded: &str,
) -> Result<GeneratedFile, GenerateError> {
    let contents = if embedded.ends_with(".tera") {
        let text = tera.render(embedded, context).map_err(|error| {
            let mut message = error.to_string();
            let mut source = std::error::Error::source(&error);
            while let Some(cause) = source {
                message.push_str(&format!(": {cause}"));
                source = cause.source();
            }
            GenerateError::Bug(format!("rendering `{embedded}`: {message}"))
        })?;
        normalize(&text).into_bytes()
    } else {
        TEMPLATES.get_file(embedded).map(|file| file.contents().to_vec()).unwrap_or_default()
    };
    Ok(GeneratedFile { path: output, contents })
}

/// `\n` line endings, no trailing spaces, no runs of blank lines, one final newline.
fn normalize(text: &str) -> String {
    let unix = text.replace("\r\n", "\n");
    let mut lines: Vec<&str> = Vec::new();
    for line in unix.lines() {
        let line = line.trim_end();
        if line.is_empty() && lines.last().is_some_and(|last| last.is_empty()) {
            continue;
        }
        lines.push(line);
    }
    while lines.last().is_some_and(|last| last.is_empty()) {
        lines.pop();
    }
    let mut joined = lines.join("\n");
    joined.push('\n');
    joined
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_paths_strip_tera_and_restore_dots() {
        assert_eq!(output_path("src/main.rs.tera"), "src/main.rs");
        assert_eq!(output_path("dot-gitignore"), ".gitignore");
        assert_eq!(output_path("models/dot-keep"), "models/.keep");
    }

    #[test]
    fn normalize_trims_and_collapses_blank_lines() {
        assert_eq!(normalize("a  \r\n\n\n\nb\n\n"), "a\n\nb\n");
    }
}
