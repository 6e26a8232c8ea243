//! Rendering a template: `_shared/` overlaid with the template's own files, through tera.

use std::collections::BTreeMap;

use super::{
    error::GenerateError,
    registry::{Registry, MANIFEST},
    spec::ProjectSpec,
    GeneratedFile,
};

const SHARED: &str = "_shared";

/// The files a template consists of: `_shared/` overlaid with the template's own, as
/// (output path, path below `templates/`) pairs.
fn template_sources(registry: &Registry, name: &str) -> BTreeMap<String, String> {
    let mut sources = BTreeMap::new();
    for root in [SHARED, name] {
        collect(registry, root, &mut sources);
    }
    sources
}

fn collect(registry: &Registry, root: &str, sources: &mut BTreeMap<String, String>) {
    for (relative, full) in registry.files().under(root) {
        if relative == MANIFEST || relative.ends_with(".partial.tera") {
            continue;
        }
        sources.insert(output_path(relative), full.to_string());
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

fn tera_engine(registry: &Registry) -> Result<tera::Tera, GenerateError> {
    let mut tera = tera::Tera::default();
    let mut sources = Vec::new();
    for (path, contents) in registry.files().iter().filter(|(path, _)| path.ends_with(".tera")) {
        let text = std::str::from_utf8(contents)
            .map_err(|_| GenerateError::Templates(format!("template file `{path}` is not UTF-8 text")))?;
        sources.push((path, text));
    }
    tera.add_raw_templates(sources)
        .map_err(|error| GenerateError::Templates(format!("templates do not parse: {}", chain(&error))))?;
    tera.autoescape_on(vec![]);
    Ok(tera)
}

/// A tera error with its causes (the line and the reason are in the causes).
fn chain(error: &tera::Error) -> String {
    let mut message = error.to_string();
    let mut source = std::error::Error::source(error);
    while let Some(cause) = source {
        message.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    message
}

/// Files only projects with the HTTP server have.
pub const SERVER_FILES: &[&str] = &["src/server.rs"];

/// The accuracy gate (`val` on `val/` in CI): projects of a task `val` measures, not `custom`.
pub const VAL_FILES: &[&str] = &[".github/workflows/accuracy.yml", ".gitlab-ci.yml", "val/README.md"];

/// Renders a project's files (the vendored runtime and the lock included, the model not).
pub fn render_project(spec: &ProjectSpec) -> Result<Vec<GeneratedFile>, GenerateError> {
    render_with(Registry::global()?, spec)
}

/// Renders a project's files from `registry`'s templates.
pub fn render_with(registry: &Registry, spec: &ProjectSpec) -> Result<Vec<GeneratedFile>, GenerateError> {
    let tera = tera_engine(registry)?;
    let context = tera::Context::from_serialize(spec)
        .map_err(|error| GenerateError::Bug(format!("template context: {error}")))?;
    let mut files = Vec::new();
    for (output, embedded) in template_sources(registry, spec.template.as_str()) {
        if !spec.api && SERVER_FILES.contains(&output.as_str()) {
            continue;
        }
        if spec.task == inferx_runtime::TaskKind::Custom && VAL_FILES.contains(&output.as_str()) {
            continue;
        }
        files.push(render_one(registry, &tera, &context, output, &embedded)?);
    }
    files.push(super::lock::project_lock(registry, &spec.project_name, spec.api)?);
    files.extend(super::runtime_files());
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

/// Renders every file of one templates folder (such as `_deploy`) with `context`.
pub fn render_folder(folder: &str, context: &impl serde::Serialize) -> Result<Vec<GeneratedFile>, GenerateError> {
    let registry = Registry::global()?;
    let tera = tera_engine(registry)?;
    let context = tera::Context::from_serialize(context)
        .map_err(|error| GenerateError::Bug(format!("template context: {error}")))?;
    let mut sources = BTreeMap::new();
    collect(registry, folder, &mut sources);
    if sources.is_empty() {
        return Err(GenerateError::Templates(format!("there is no templates/{folder} folder")));
    }
    sources.into_iter().map(|(output, embedded)| render_one(registry, &tera, &context, output, &embedded)).collect()
}

fn render_one(
    registry: &Registry,
    tera: &tera::Tera,
    context: &tera::Context,
    output: String,
    embedded: &str,
) -> Result<GeneratedFile, GenerateError> {
    let contents = if embedded.ends_with(".tera") {
        let text = tera
            .render(embedded, context)
            .map_err(|error| GenerateError::Templates(format!("rendering `{embedded}`: {}", chain(&error))))?;
        normalize(&text).into_bytes()
    } else {
        registry.files().get(embedded).map(<[u8]>::to_vec).unwrap_or_default()
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
    fn a_template_dropped_into_a_templates_folder_is_rendered_over_the_shared_files() {
        let dir = tempfile::tempdir().unwrap();
        let folder = dir.path().join("throwaway");
        std::fs::create_dir_all(folder.join("src")).unwrap();
        std::fs::write(folder.join("template.toml"), "description = \"A throwaway\"\ntask = \"classification\"\n")
            .unwrap();
        std::fs::write(folder.join("src/hello.txt.tera"), "Hello from {{ project_name }} ({{ task }})\n").unwrap();
        std::fs::write(folder.join("dot-extra"), [0xff, 0x00]).unwrap();
        let registry = Registry::load(Some(dir.path())).unwrap();
        let spec = ProjectSpec::new("demo", registry.find("throwaway").unwrap(), None, None).unwrap();
        let files = render_with(&registry, &spec).unwrap();
        let file = |path: &str| files.iter().find(|file| file.path == path).map(|file| file.contents.clone());
        assert_eq!(file("src/hello.txt").as_deref(), Some(&b"Hello from demo (classification)\n"[..]));
        assert_eq!(file(".extra").as_deref(), Some(&[0xff, 0x00][..]), "copied byte for byte");
        assert!(file("template.toml").is_none(), "the manifest is not part of the project");
        let cargo = String::from_utf8(file("Cargo.toml").expect("_shared's Cargo.toml")).unwrap();
        assert!(cargo.contains("template = \"throwaway\""), "{cargo}");
        assert!(file("runtime/Cargo.toml").is_some(), "the runtime is vendored");
    }

    #[test]
    fn each_templates_config_holds_only_the_keys_its_task_reads() {
        let registry = Registry::load(None).unwrap();
        let common = ["width", "height", "resize", "interpolation", "scale", "mean", "std", "channel_order"];
        let detection = ["agnostic_nms", "confidence", "iou", "max_detections"];
        for (name, input, thresholds) in [
            ("yolo", &["pad_value"][..], &detection[..]),
            ("yolo_openvino", &["pad_value"], &detection),
            ("segmentation", &["pad_value"], &detection),
            ("classification", &["crop_fraction"], &["top_k"]),
            ("anomaly", &[], &["confidence"]),
            ("custom", &[], &[]),
        ] {
            let spec = ProjectSpec::new("app", registry.find(name).unwrap(), None, None).unwrap().with_api(true);
            let files = render_with(&registry, &spec).unwrap();
            let yaml = files.iter().find(|file| file.path == "inferx.yaml").unwrap();
            let text = String::from_utf8(yaml.contents.clone()).unwrap();
            let value: serde_yaml::Value = serde_yaml::from_str(&text).unwrap();
            let keys = |section: &str| -> Vec<String> {
                let mut keys: Vec<String> = value
                    .get(section)
                    .and_then(serde_yaml::Value::as_mapping)
                    .map(|mapping| mapping.keys().filter_map(|key| key.as_str().map(str::to_string)).collect())
                    .unwrap_or_default();
                keys.sort();
                keys
            };
            let mut wanted_input: Vec<String> =
                common.iter().chain(input).map(std::string::ToString::to_string).collect();
            wanted_input.sort();
            assert_eq!(keys("input"), wanted_input, "{name}: input\n{text}");
            assert_eq!(keys("thresholds"), thresholds.to_vec(), "{name}: thresholds\n{text}");
            assert_eq!(value.get("thresholds").is_some(), !thresholds.is_empty(), "{name}: no empty section");
            inferx_runtime::ProjectConfig::parse(&text).unwrap_or_else(|error| panic!("{name}: {error}\n{text}"));
        }
    }

    #[test]
    fn normalize_trims_and_collapses_blank_lines() {
        assert_eq!(normalize("a  \r\n\n\n\nb\n\n"), "a\n\nb\n");
    }
}
