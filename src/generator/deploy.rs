//! `inferx docker`: a Dockerfile, compose file, Kubernetes manifests and a Helm chart for a
//! project with the HTTP server, rendered from `templates/_deploy/`.
//!
//! What inferx wrote last is recorded (path → sha256) in `deploy/.generated.json`, so a later
//! run can tell a file the user edited (kept; a conflict unless `--force`) from one still as
//! generated (updated, e.g. when `--gpu` is added).

use std::{collections::BTreeMap, path::Path};

use serde::Serialize;

use super::{
    changes::{read, unified_diff, Change, ChangeKind},
    error::GenerateError,
    project::ProjectFacts,
    templates::render_folder,
};

/// Builder image of the Dockerfile, pinned.
pub const RUST_IMAGE: &str = "rust:1.92.0-slim-bookworm";
/// Runtime base of CPU images: glibc and libstdc++, no shell, non-root.
pub const CPU_RUNTIME_IMAGE: &str = "gcr.io/distroless/cc-debian12:nonroot";
/// Runtime base of GPU images (CUDA 12 + cuDNN 9, what ONNX Runtime's GPU wheel needs).
pub const GPU_RUNTIME_IMAGE: &str = "nvidia/cuda:12.6.3-cudnn-runtime-ubuntu24.04";
/// The user the container runs as (distroless `nonroot`).
pub const CONTAINER_UID: u32 = 65532;
/// Where the record of generated files lives.
pub const RECORD: &str = "deploy/.generated.json";
/// After SIGTERM: keep answering (not ready) this long so load balancers stop routing.
const DRAIN_DELAY_MS: u64 = 5_000;
/// Then give requests in flight this long.
const GRACE_PERIOD_MS: u64 = 20_000;

/// Options of `inferx docker`.
#[derive(Debug, Clone, Default)]
pub struct DeployOptions {
    /// The CUDA image and GPU ONNX Runtime.
    pub gpu: bool,
    /// Image registry prefix (`ghcr.io/acme`).
    pub registry: Option<String>,
    /// Image tag (default: the project's version).
    pub tag: Option<String>,
}

impl DeployOptions {
    /// The image name (registry prefix included) and tag the files refer to.
    pub fn image(&self, project: &ProjectFacts) -> (String, String) {
        let name = match &self.registry {
            Some(registry) => format!("{}/{}", registry.trim_end_matches('/'), project.name),
            None => project.name.clone(),
        };
        (name, self.tag.clone().unwrap_or_else(|| project.version.clone()))
    }
}

#[derive(Debug, Serialize)]
struct DeployContext {
    project_name: String,
    task: String,
    inferx_version: &'static str,
    ort_version: &'static str,
    model_file: String,
    gpu: bool,
    /// The project reads video files: FFmpeg to build, its libraries in the image.
    video: bool,
    image: String,
    tag: String,
    port: u16,
    drain_delay_ms: u64,
    grace_period_ms: u64,
    termination_grace_seconds: u64,
    rust_image: &'static str,
    runtime_image: &'static str,
    uid: u32,
    /// The request body an ingress lets through (`server.max_body_bytes`, in nginx's units).
    ingress_body_size: String,
}

/// `bytes` as nginx writes a size: whole mebibytes (`16m`), rounded up.
fn nginx_size(bytes: usize) -> String {
    format!("{}m", bytes.div_ceil(1 << 20).max(1))
}

fn sha256(text: &str) -> String {
    super::record::sha256(text.as_bytes())
}

/// Plans the deployment files of a project; nothing is written.
pub fn plan(project: &ProjectFacts, options: &DeployOptions) -> Result<Vec<Change>, GenerateError> {
    let not_ready = |reason: String| GenerateError::NotAProject { dir: project.dir.clone(), reason };
    if !project.dir.join("src/server.rs").is_file() {
        return Err(not_ready("it has no HTTP server (src/server.rs); add it first with `inferx api`".to_string()));
    }
    if !project.name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-') {
        return Err(not_ready(format!(
            "Kubernetes and image names allow lowercase letters, digits and `-` only, and the package is `{}`; rename it in Cargo.toml (e.g. `{}`)",
            project.name,
            project.name.to_ascii_lowercase().replace('_', "-")
        )));
    }
    if !project.dir.join(super::lock::LOCK_FILE).is_file() {
        return Err(not_ready(format!(
            "it has no {lock}, and the image builds with `cargo build --locked`; run `inferx upgrade` (it writes the lock inferx is tested with) or `cargo generate-lockfile`, then commit {lock}",
            lock = super::lock::LOCK_FILE
        )));
    }
    let config = inferx_runtime::ProjectConfig::parse(
        &read(&project.dir, inferx_runtime::config::CONFIG_FILE)?.unwrap_or_default(),
    )
    .map_err(|error| not_ready(format!("inferx.yaml is invalid: {error}")))?;
    let model_file = Path::new(&config.model.path)
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .ok_or_else(|| not_ready(format!("model.path `{}` names no file", config.model.path)))?;
    let (image, tag) = options.image(project);
    let context = DeployContext {
        project_name: project.name.clone(),
        task: config.task.to_string(),
        inferx_version: env!("CARGO_PKG_VERSION"),
        ort_version: inferx_runtime::ORT_VERSION,
        model_file,
        gpu: options.gpu,
        video: project.video,
        image,
        tag,
        port: config.server.port,
        drain_delay_ms: DRAIN_DELAY_MS,
        grace_period_ms: GRACE_PERIOD_MS,
        termination_grace_seconds: (DRAIN_DELAY_MS + GRACE_PERIOD_MS) / 1000 + 5,
        rust_image: RUST_IMAGE,
        runtime_image: if options.gpu { GPU_RUNTIME_IMAGE } else { CPU_RUNTIME_IMAGE },
        uid: CONTAINER_UID,
        ingress_body_size: nginx_size(config.server.max_body_bytes),
    };
    let current_record = read(&project.dir, RECORD)?;
    let record: BTreeMap<String, String> =
        current_record.as_deref().and_then(|text| serde_json::from_str(text).ok()).unwrap_or_default();
    let mut changes = Vec::new();
    let mut written = BTreeMap::new();
    for file in render_folder("_deploy", &context)? {
        let path = match file.path.strip_prefix("deploy/helm/chart/") {
            Some(rest) => format!("deploy/helm/{}/{rest}", project.name),
            None => file.path.clone(),
        };
        let wanted = String::from_utf8(file.contents)
            .map_err(|_| GenerateError::Bug(format!("template `{path}` is not UTF-8")))?;
        let current = read(&project.dir, &path)?;
        let (kind, summary) = match current.as_deref() {
            None => (ChangeKind::Create, "new"),
            Some(text) if text == wanted => (ChangeKind::Unchanged, "up to date"),
            Some(text) if record.get(&path) == Some(&sha256(text)) => {
                (ChangeKind::Update, "as generated before: regenerated")
            }
            Some(_) => (ChangeKind::Conflict, "you edited it; --force replaces it"),
        };
        let diff = match (&kind, &current) {
            (ChangeKind::Update | ChangeKind::Conflict, Some(text)) => unified_diff(&path, text, &wanted),
            _ => String::new(),
        };
        // Conflicts are only written with --force, so the record always holds what is written.
        written.insert(path.clone(), sha256(&wanted));
        changes.push(Change { path, kind, summary: summary.to_string(), contents: wanted, diff });
    }
    let record_text =
        serde_json::to_string_pretty(&written).map_err(|error| GenerateError::Bug(error.to_string()))? + "\n";
    let kind = ChangeKind::of(current_record.as_deref().map(str::as_bytes), record_text.as_bytes());
    changes.push(Change {
        path: RECORD.to_string(),
        kind,
        summary: "what inferx generated (to tell your edits apart)".to_string(),
        contents: record_text,
        diff: String::new(),
    });
    Ok(changes)
}
