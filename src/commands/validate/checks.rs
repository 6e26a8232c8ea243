//! `inferx validate`: checks a generated project end to end (config, model, labels, vendored
//! runtime, deployment files) and reports each problem with its severity and a fix.

use std::path::{Path, PathBuf};

use inferx_runtime::{
    config::{input_keys_used_by, Thresholds, CONFIG_FILE, MODE_INPUT_KEYS},
    model::{file::verify_sha256, onnx_proto, signature},
    pipeline::check_task_fit,
    Error, FileProblem, ModelInfo, Pipeline, ProjectConfig, TaskKind,
};
use serde::Serialize;

/// How bad a finding is: errors fail the command, warnings do not.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// The project will not work as configured.
    Error,
    /// It works, but something is off or could not be checked.
    Warning,
}

/// One problem found, with the rule that found it and how to fix it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Finding {
    /// Error or warning.
    pub severity: Severity,
    /// Stable rule id (`model.task`, `deploy.port`...).
    pub rule: &'static str,
    /// What is wrong.
    pub message: String,
    /// What to do about it.
    pub fix: String,
}

/// Everything `validate` found in one project.
#[derive(Debug, Serialize)]
pub struct Report {
    /// The project folder.
    pub project: PathBuf,
    /// Rules that ran (a failed config stops the rules that need it).
    pub checked: Vec<&'static str>,
    /// Problems, errors first.
    pub findings: Vec<Finding>,
}

impl Report {
    /// Findings of `severity`.
    pub fn count(&self, severity: Severity) -> usize {
        self.findings.iter().filter(|finding| finding.severity == severity).count()
    }

    fn add(&mut self, severity: Severity, rule: &'static str, message: impl Into<String>, fix: impl Into<String>) {
        self.findings.push(Finding { severity, rule, message: message.into(), fix: fix.into() });
    }

    fn error(&mut self, rule: &'static str, message: impl Into<String>, fix: impl Into<String>) {
        self.add(Severity::Error, rule, message, fix);
    }

    fn warning(&mut self, rule: &'static str, message: impl Into<String>, fix: impl Into<String>) {
        self.add(Severity::Warning, rule, message, fix);
    }
}

/// What to check beyond the files themselves.
#[derive(Debug, Clone, Copy, Default)]
pub struct ValidateOptions {
    /// Also load the model in ONNX Runtime (skipped with a warning when no runtime is found).
    pub load_model: bool,
}

/// Checks the project in `dir`.
pub fn validate(dir: &Path, options: ValidateOptions) -> Report {
    let mut report = Report { project: dir.to_path_buf(), checked: Vec::new(), findings: Vec::new() };
    if let Some(config) = check_config(dir, &mut report) {
        if let Some(info) = check_model(dir, &config, &mut report) {
            // Loading would refuse mismatched labels for the same reason.
            let labels_fit = check_labels(dir, &config, &info, &mut report);
            if options.load_model && labels_fit {
                check_model_loads(dir, &config, &mut report);
            }
        }
        check_deployment(dir, &config, &mut report);
        check_auth(dir, &config, &mut report);
    }
    check_vendored_runtime(dir, &mut report);
    report.findings.sort_by_key(|finding| finding.severity);
    report
}

/// `config.*`: the file exists, is YAML of the right shape, and its values are in range.
fn check_config(dir: &Path, report: &mut Report) -> Option<ProjectConfig> {
    report.checked.push("config");
    let path = dir.join(CONFIG_FILE);
    let text = match std::fs::read_to_string(&path) {
        Ok(text) => text,
        Err(error) => {
            report.error(
                "config.missing",
                format!("could not read {}: {error}", path.display()),
                "run inside a generated project, or pass its folder: `inferx validate DIR`",
            );
            return None;
        }
    };
    let config = match ProjectConfig::parse(&text) {
        Ok(config) => config,
        Err(error) => {
            report.error(
                "config.syntax",
                format!("{CONFIG_FILE}: {}", error.reason()),
                "fix the YAML at the line and column given (the keys are documented in the file's comments)",
            );
            return None;
        }
    };
    if let Err(error) = config.check() {
        report.error(
            "config.invalid",
            format!("{CONFIG_FILE}: {}", error.reason()),
            "set the value in range (the message gives it)",
        );
        return None;
    }
    let unused = unused_keys(&text, &config);
    if !unused.is_empty() {
        report.warning(
            "config.unused",
            format!(
                "{CONFIG_FILE} sets {}, which a `{}` project with `resize: {}` does not read",
                unused.join(", "),
                config.task,
                serde_yaml::to_string(&config.input.resize).unwrap_or_default().trim()
            ),
            "remove them (`inferx upgrade` does), or set the task or resize mode that reads them",
        );
    }
    Some(config)
}

/// The `input` and `thresholds` keys the file sets that its task and resize mode do not read
/// (an older inferx wrote every key for every task).
fn unused_keys(text: &str, config: &ProjectConfig) -> Vec<String> {
    let Ok(value) = serde_yaml::from_str::<serde_yaml::Value>(text) else { return Vec::new() };
    let keys = |section: &str| -> Vec<String> {
        value
            .get(section)
            .and_then(serde_yaml::Value::as_mapping)
            .map(|mapping| mapping.keys().filter_map(|key| key.as_str().map(str::to_string)).collect())
            .unwrap_or_default()
    };
    let read_input = input_keys_used_by(config.input.resize);
    let read_thresholds = Thresholds::keys_used_by(config.task);
    let input = keys("input")
        .into_iter()
        .filter(|key| MODE_INPUT_KEYS.contains(&key.as_str()) && !read_input.contains(&key.as_str()));
    let thresholds = keys("thresholds").into_iter().filter(|key| !read_thresholds.contains(&key.as_str()));
    input.map(|key| format!("input.{key}")).chain(thresholds.map(|key| format!("thresholds.{key}"))).collect()
}

/// `auth.*`: keys required with no source to come from, or a key file in the project that
/// holds no key (the server would refuse to start on either).
fn check_auth(dir: &Path, config: &ProjectConfig, report: &mut Report) {
    let auth = &config.server.auth;
    if auth.required == Some(true) && auth.api_keys_env.is_empty() && auth.api_keys_file.is_none() {
        report.error(
            "auth.no_source",
            "server.auth.required is true, but neither server.auth.api_keys_env nor server.auth.api_keys_file is set",
            "set server.auth.api_keys_env (e.g. INFERX_API_KEYS) or server.auth.api_keys_file, or set required: false",
        );
    }
    let Some(file) = &auth.api_keys_file else { return };
    // A file mounted at deploy time (a Secret) is not there yet: only one in the project is read.
    let Ok(text) = std::fs::read_to_string(dir.join(file)) else { return };
    let has_key = text.lines().map(str::trim).any(|line| !line.is_empty() && !line.starts_with('#'));
    if !has_key && auth.required != Some(false) {
        report.error(
            "auth.empty_keys_file",
            format!("server.auth.api_keys_file `{file}` holds no key (only blank or # comment lines): the server would refuse to start"),
            "put one key per line in it (e.g. `openssl rand -hex 32`), or remove the setting",
        );
    }
}

/// `model.*`: present, unchanged (sha256), signed when a public key is set, an ONNX model whose signature fits the task.
fn check_model(dir: &Path, config: &ProjectConfig, report: &mut Report) -> Option<ModelInfo> {
    report.checked.push("model");
    // The loader's own check (regular file, inside the project, under the model cap).
    let path = match config.model_path(dir) {
        Ok(path) => path,
        Err(Error::ProjectFile { problem: FileProblem::Missing, .. }) => {
            report.error(
                "model.missing",
                format!("the model {} is not there", config.model.path),
                format!("copy the model to {} (or set model.path in {CONFIG_FILE})", config.model.path),
            );
            return None;
        }
        Err(error @ Error::ProjectFile { problem: FileProblem::Outside, .. }) => {
            report.error("model.outside", error.reason(), "copy the model into models/ instead of linking to it");
            return None;
        }
        Err(error) => {
            report.error(
                "model.file",
                error.reason(),
                format!("put the ONNX file itself at {} (or set model.path in {CONFIG_FILE})", config.model.path),
            );
            return None;
        }
    };
    if let Some(expected) = &config.model.sha256 {
        if let Err(error) = verify_sha256(&path, expected) {
            report.error(
                "model.sha256",
                error.to_string(),
                "restore the model the project was generated with, or if it was replaced on purpose, update model.sha256",
            );
            // Loading would refuse it for the same reason.
            return None;
        }
    }
    let signature = config.signature_check(dir);
    if let Err(error) = signature.and_then(|check| check.map_or(Ok(()), |check| signature::verify_model(&path, &check)))
    {
        report.error(
            "model.signature",
            error.to_string(),
            "sign the model with the key whose public half is model.public_key: `inferx model sign MODEL --secret-key KEY`",
        );
        return None;
    }
    let info = match onnx_proto::read_model_info(&path) {
        Ok(info) => info,
        Err(error) => {
            report.error(
                "model.unreadable",
                format!("{} is not a readable ONNX model: {error}", config.model.path),
                "export the model to ONNX again (`inferx inspect MODEL` reads a good one)",
            );
            return None;
        }
    };
    let guessed = info.guess_task();
    let mismatch = config.task != TaskKind::Custom && guessed != TaskKind::Custom && guessed != config.task;
    if mismatch {
        report.error(
            "model.task",
            format!(
                "the project's task is `{}`, but {} looks like a `{guessed}` model",
                config.task, config.model.path
            ),
            format!(
                "use a `{}` model, or generate a project for this one: `inferx template {} --model {}`",
                config.task,
                crate::generator::template_for_task(guessed).map_or_else(|_| guessed.to_string(), |id| id.to_string()),
                config.model.path
            ),
        );
        // Labels, input size and loading are about the task's model: moot for another.
        return None;
    }
    if let Err(error) = check_task_fit(&info, config.task) {
        report.error(
            "model.task",
            error.to_string(),
            format!(
                "use a model with the `{}` task's inputs and outputs (see the README's model contract)",
                config.task
            ),
        );
        return None;
    }
    if let Some((height, width)) = info.input_size().filter(|_| info.inputs[0].fixed_dim(2).is_some()) {
        if (config.input.width, config.input.height) != (width, height) {
            report.warning(
                "model.input",
                format!(
                    "input is {}x{} in {CONFIG_FILE}, but the model's input is fixed at {width}x{height}; the model's size is used",
                    config.input.width, config.input.height
                ),
                format!("set input.width: {width} and input.height: {height}"),
            );
        }
    }
    Some(info)
}

/// `labels.*`: the labels file reads, and there is one label per class the model scores.
/// Whether they fit.
fn check_labels(dir: &Path, config: &ProjectConfig, info: &ModelInfo, report: &mut Report) -> bool {
    report.checked.push("labels");
    // The loader's own reading (a regular file inside the project, bounded, never blocking).
    let labels = match config.labels(dir) {
        Ok(Some(labels)) => labels,
        Ok(None) => return true,
        Err(error) => {
            let file = config.labels_file.as_deref().unwrap_or_default();
            report.error(
                "labels.file",
                error.to_string(),
                format!("put a labels file at {file} inside the project, one label per line"),
            );
            return false;
        }
    };
    if let Some(classes) = info.class_count(config.task) {
        if classes != labels.len() {
            report.error(
                "labels.count",
                format!("{CONFIG_FILE} has {} labels, but the model scores {classes} classes", labels.len()),
                format!(
                    "list exactly {classes} labels, in the model's class order (`inferx inspect {}` shows the names it carries)",
                    config.model.path
                ),
            );
            return false;
        }
    }
    true
}

/// `model.load`: ONNX Runtime loads the model with the project's settings.
fn check_model_loads(dir: &Path, config: &ProjectConfig, report: &mut Report) {
    if let Err(error) = inferx_runtime::library::ensure_initialized(None) {
        report.warning(
            "model.load",
            format!("not loaded in ONNX Runtime: {error}"),
            "`inferx runtime install`, then validate again to check the model loads",
        );
        return;
    }
    report.checked.push("model.load");
    let loaded =
        config.pipeline_options(dir).and_then(|options| Pipeline::load(config.model_path(dir)?, options).map(|_| ()));
    if let Err(error) = loaded {
        report.error("model.load", error.to_string(), "fix the model or the settings the message names");
    }
}

/// `runtime.*`: the vendored runtime is there and is the version this CLI vendors.
fn check_vendored_runtime(dir: &Path, report: &mut Report) {
    report.checked.push("runtime");
    let manifest = dir.join("runtime/Cargo.toml");
    let version = std::fs::read_to_string(&manifest)
        .ok()
        .and_then(|text| text.parse::<toml_edit::DocumentMut>().ok())
        .and_then(|document| document.get("package")?.get("version")?.as_str().map(str::to_string));
    match version {
        None => report.error(
            "runtime.missing",
            format!("{} is missing or has no package version", manifest.display()),
            "generate the project again with `inferx template` to vendor the runtime",
        ),
        Some(version) if version != inferx_runtime::VERSION => report.warning(
            "runtime.version",
            format!("the vendored runtime is {version}, this inferx vendors {}", inferx_runtime::VERSION),
            "run `inferx upgrade` to bring the project's runtime to this version",
        ),
        Some(_) => {}
    }
}

/// `deploy.*`: the Dockerfile, Kubernetes manifest and Helm values agree with each other and
/// with the project (a server to run, a model inside what the image copies).
fn check_deployment(dir: &Path, config: &ProjectConfig, report: &mut Report) {
    let Ok(dockerfile) = std::fs::read_to_string(dir.join("Dockerfile")) else { return };
    report.checked.push("deploy");
    if !dir.join("src/server.rs").is_file() {
        report.error(
            "deploy.server",
            "the Dockerfile runs `serve`, but the project has no HTTP server (src/server.rs)",
            "add it with `inferx api`",
        );
    }
    for (key, file) in std::iter::once(("model.path", Some(&config.model.path)))
        .chain(std::iter::once(("labels_file", config.labels_file.as_ref())))
    {
        if let Some(file) = file.filter(|file| !file.starts_with("models/")) {
            report.error(
                "deploy.files",
                format!("{key} is `{file}`, but the image copies only inferx.yaml and models/"),
                format!("move it into models/ and set {key} to match"),
            );
        }
    }
    if !dir.join(".inferx/lib").is_dir() {
        report.warning(
            "deploy.runtime",
            "the Dockerfile copies ONNX Runtime from .inferx/lib/, which is missing",
            "run `inferx docker` (it installs it there) before `docker build`",
        );
    }
    let mut ports: Vec<(&str, Option<u16>)> = vec![
        ("Dockerfile EXPOSE", dockerfile_value(&dockerfile, "EXPOSE ")),
        ("Dockerfile INFERX_PORT", dockerfile_value(&dockerfile, "INFERX_PORT=")),
    ];
    if let Some(deployment) = read_yaml(&dir.join("deploy/k8s/deployment.yaml")) {
        let container = &deployment["spec"]["template"]["spec"]["containers"][0];
        ports.push(("deploy/k8s containerPort", port_of(&container["ports"][0]["containerPort"])));
        let env_port = container["env"]
            .as_sequence()
            .and_then(|env| env.iter().find(|item| item["name"].as_str() == Some("INFERX_PORT")))
            .and_then(|item| port_of(&item["value"]));
        ports.push(("deploy/k8s INFERX_PORT", env_port));
        for (probe, path) in [("readinessProbe", "/ready"), ("livenessProbe", "/health"), ("startupProbe", "/ready")] {
            let found = container[probe]["httpGet"]["path"].as_str();
            if found != Some(path) {
                report.warning(
                    "deploy.probes",
                    format!("deploy/k8s/deployment.yaml: {probe} path is {found:?}, the server answers it on {path}"),
                    format!("set {probe}.httpGet.path to {path}"),
                );
            }
        }
    }
    if let Some(values) = read_yaml(&dir.join(format!("deploy/helm/{}/values.yaml", crate_name(dir)))) {
        ports.push(("Helm values server.port", port_of(&values["server"]["port"])));
    }
    let known: Vec<(&str, u16)> = ports.iter().filter_map(|(place, port)| Some((*place, (*port)?))).collect();
    if known.windows(2).any(|pair| pair[0].1 != pair[1].1) {
        let listed: Vec<String> = known.iter().map(|(place, port)| format!("{place} {port}")).collect();
        report.error(
            "deploy.port",
            format!("the server port differs between the deployment files: {}", listed.join(", ")),
            "use one port everywhere (or run `inferx docker --force` to write them again)",
        );
    }
}

/// The number after `prefix` on the Dockerfile's first line containing it (`EXPOSE 8080/tcp`).
fn dockerfile_value(dockerfile: &str, prefix: &str) -> Option<u16> {
    let line = dockerfile.lines().find(|line| !line.trim_start().starts_with('#') && line.contains(prefix))?;
    let after = &line[line.find(prefix)? + prefix.len()..];
    after.chars().take_while(char::is_ascii_digit).collect::<String>().parse().ok()
}

fn read_yaml(path: &Path) -> Option<serde_yaml::Value> {
    serde_yaml::from_str(&std::fs::read_to_string(path).ok()?).ok()
}

fn port_of(value: &serde_yaml::Value) -> Option<u16> {
    match value {
        serde_yaml::Value::Number(number) => number.as_u64()?.try_into().ok(),
        serde_yaml::Value::String(text) => text.parse().ok(),
        _ => None,
    }
}

/// The package name from Cargo.toml (the Helm chart's folder name), else the folder's name.
fn crate_name(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("Cargo.toml"))
        .ok()
        .and_then(|text| text.parse::<toml_edit::DocumentMut>().ok())
        .and_then(|document| document.get("package")?.get("name")?.as_str().map(str::to_string))
        .or_else(|| dir.file_name().map(|name| name.to_string_lossy().into_owned()))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dockerfile_values_are_read_from_instructions_not_comments() {
        let dockerfile = "# EXPOSE 1\nENV INFERX_HOST=0.0.0.0 \\\n    INFERX_PORT=9000\nEXPOSE 9000/tcp\n";
        assert_eq!(dockerfile_value(dockerfile, "EXPOSE "), Some(9000));
        assert_eq!(dockerfile_value(dockerfile, "INFERX_PORT="), Some(9000));
        assert_eq!(dockerfile_value(dockerfile, "STOPSIGNAL "), None);
    }

    #[test]
    fn keys_the_task_and_mode_do_not_read_are_named() {
        let text = "inferx: {version: 0.1.0, template: yolo}\nmodel: {path: models/m.onnx}\ntask: detection\ninput:\n  resize: letterbox\n  pad_value: 114\n  crop_fraction: 0.875\n  multiple: 32\nthresholds:\n  confidence: 0.3\n  top_k: 5\n";
        let config = ProjectConfig::parse(text).unwrap();
        assert_eq!(unused_keys(text, &config), ["input.crop_fraction", "input.multiple", "thresholds.top_k"]);
        let classifier = text.replace("task: detection", "task: classification").replace("letterbox", "center_crop");
        let config = ProjectConfig::parse(&classifier).unwrap();
        assert_eq!(unused_keys(&classifier, &config), ["input.pad_value", "input.multiple", "thresholds.confidence"]);
    }
}
