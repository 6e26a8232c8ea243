//! `inferx.yaml`: the configuration of a generated project, validated, with `INFERX_*`
//! environment overrides.
//!
//! Precedence, lowest first: built-in task defaults → the file → environment variables →
//! explicit overrides from the caller (command-line flags).

use std::path::{Component, Path, PathBuf};

use serde::{Deserialize, Serialize};
use validator::Validate;

use crate::{
    model::signature::SignatureCheck,
    pipeline::{Pipeline, PipelineOptions},
    preprocess::{ImageLimits, PreprocessConfig, ResizeMode},
    project_files::{self, ProjectFile, MODEL_FILE_LIMIT, SMALL_FILE_LIMIT},
    session::{
        providers::{device_problems, DeviceConfig},
        SessionOptions,
    },
    streams_config::StreamsConfig,
    tasks::{DetectionLayout, ScoreKind},
    tracking::TrackingConfig,
    yaml_edit, Error, Result, TaskKind,
};

/// The file name looked for in a project.
pub const CONFIG_FILE: &str = "inferx.yaml";

/// Which inferx version and template made the project, for `inferx upgrade`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Stamp {
    /// inferx version that generated the project.
    pub version: String,
    /// Template name.
    pub template: String,
}

/// The model file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ModelSection {
    /// Path of the ONNX file, relative to the config file.
    #[validate(length(min = 1, message = "model.path must not be empty"))]
    pub path: String,
    /// Expected sha256 of the file (hex); checked at load when present.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    /// The model signer's minisign public key (base64, `RW…`): when set, the model loads only
    /// with a valid detached signature ([`crate::model::signature`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key: Option<String>,
    /// The detached signature, relative to the config file; default `<model.path>.minisig`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signature: Option<String>,
}

/// Decision thresholds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct Thresholds {
    /// Detection: minimum score (strictly above); segmentation and anomaly: the mask / anomaly
    /// threshold; classification ignores it (see `top_k`).
    #[validate(range(min = 0.0, max = 1.0, message = "thresholds.confidence must be between 0 and 1"))]
    pub confidence: f32,
    /// NMS IoU threshold.
    #[validate(range(min = 0.0, max = 1.0, message = "thresholds.iou must be between 0 and 1"))]
    pub iou: f32,
    /// Detections kept per image.
    #[validate(range(min = 1, max = 100_000, message = "thresholds.max_detections must be between 1 and 100_000"))]
    pub max_detections: usize,
    /// Classes reported by classification.
    #[validate(range(min = 1, max = 100_000, message = "thresholds.top_k must be at least 1"))]
    pub top_k: usize,
    /// Suppress overlapping boxes across classes.
    pub agnostic_nms: bool,
}

impl Default for Thresholds {
    fn default() -> Self {
        Thresholds::for_task(TaskKind::Detection)
    }
}

impl Thresholds {
    /// The task's defaults.
    pub fn for_task(task: TaskKind) -> Thresholds {
        let defaults = task.defaults();
        Thresholds {
            confidence: defaults.confidence,
            iou: defaults.iou,
            max_detections: defaults.max_detections,
            top_k: defaults.top_k,
            agnostic_nms: false,
        }
    }

    /// The keys of `thresholds` that `task` reads; the others do nothing for it, and a
    /// generated `inferx.yaml` leaves them out.
    pub fn keys_used_by(task: TaskKind) -> &'static [&'static str] {
        match task {
            // Segmentation: the probability-map threshold, and NMS for YOLO-seg instances.
            TaskKind::Detection | TaskKind::Segmentation => &["confidence", "iou", "max_detections", "agnostic_nms"],
            TaskKind::Classification => &["top_k"],
            TaskKind::Anomaly => &["confidence"],
            TaskKind::Custom => &[],
        }
    }
}

/// The keys of `input` that only some resize modes read: those `resize` reads. Every mode
/// reads the others (size, interpolation, normalisation, channel order), and a generated
/// `inferx.yaml` leaves out the ones its mode does not read.
pub fn input_keys_used_by(resize: ResizeMode) -> &'static [&'static str] {
    match resize {
        ResizeMode::Letterbox => &["pad_value"],
        ResizeMode::CenterCrop => &["crop_fraction"],
        ResizeMode::ShortSideCrop => &["resize_short"],
        ResizeMode::FitMultiple => &["limit_side", "multiple"],
        ResizeMode::Stretch | ResizeMode::PadRight => &[],
    }
}

/// The `input` keys [`input_keys_used_by`] speaks of.
pub const MODE_INPUT_KEYS: &[&str] = &["pad_value", "crop_fraction", "resize_short", "limit_side", "multiple"];

/// Thread counts (0 = ONNX Runtime's default).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct Threads {
    /// Threads inside one operator.
    #[validate(range(max = 1024))]
    pub intra: usize,
    /// Threads across operators.
    #[validate(range(max = 1024))]
    pub inter: usize,
}

/// The whole `inferx.yaml`.
///
/// [`ProjectConfig::load`] reads a file, applies `INFERX_*` overrides and validates;
/// [`ProjectConfig::parse`], [`apply_env`](ProjectConfig::apply_env) and
/// [`check`](ProjectConfig::check) are the same steps one by one, and
/// [`pipeline_options`](ProjectConfig::pipeline_options) turns the result into
/// [`PipelineOptions`] for [`Pipeline::load`](crate::Pipeline::load) (or use
/// [`Pipeline::from_config_file`](crate::Pipeline::from_config_file) for all of it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields)]
pub struct ProjectConfig {
    /// Generator stamp.
    pub inferx: Stamp,
    /// The model.
    #[validate(nested)]
    pub model: ModelSection,
    /// The task.
    pub task: TaskKind,
    /// Preprocessing.
    #[serde(default)]
    pub input: PreprocessConfig,
    /// Thresholds.
    #[serde(default)]
    #[validate(nested)]
    pub thresholds: Thresholds,
    /// Detection output layout.
    #[serde(default)]
    pub layout: DetectionLayout,
    /// Classifier output kind.
    #[serde(default)]
    pub scores: ScoreKind,
    /// Class names; empty to read them from the model or `labels_file`.
    #[serde(default)]
    pub labels: Vec<String>,
    /// A labels file, relative to the config file.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub labels_file: Option<String>,
    /// The device, and the options of the GPU providers (TensorRT's engine cache, FP16...);
    /// `device: cuda` alone, the form of inferx 0.x, is read as `device: {use: cuda}`.
    #[serde(default)]
    pub device: DeviceConfig,
    /// Fail rather than fall back when the device is unusable.
    #[serde(default)]
    pub strict_device: bool,
    /// Thread counts.
    #[serde(default)]
    #[validate(nested)]
    pub threads: Threads,
    /// Limits on input images, checked before decoding.
    #[serde(default)]
    pub limits: ImageLimits,
    /// The HTTP server (`serve`), when the project has one.
    #[serde(default)]
    #[validate(nested)]
    pub server: ServerConfig,
    /// Tracking across frames (`predict --track`): ByteTrack's parameters, lines and zones.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tracking: Option<TrackingConfig>,
}

/// The `server:` section: the HTTP API of a project generated with `--api` (or `inferx api`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Address to bind (`0.0.0.0` in containers, `127.0.0.1` for local only).
    #[validate(length(min = 1, message = "server.host must not be empty"))]
    pub host: String,
    /// TCP port (0 picks a free one).
    pub port: u16,
    /// Model name in the Open Inference Protocol routes (`/v2/models/{name}`); the project
    /// name when empty.
    pub model_name: String,
    /// Inference worker threads (0 = one per core, at most 4).
    #[validate(range(max = 256, message = "server.workers must be at most 256"))]
    pub workers: usize,
    /// Sessions the workers share round-robin; 0 lets [`SessionPlan`](crate::session::plan::SessionPlan)
    /// decide: on the CPU one per worker (each with its share of the cores) unless the model
    /// is over 256 MiB, then one, plus one with every core for requests that arrive alone; on
    /// an accelerator one.
    #[validate(range(max = 64, message = "server.sessions must be at most 64"))]
    pub sessions: usize,
    /// Requests admitted beyond the busy workers before `503 Retry-After`.
    #[validate(range(max = 100_000, message = "server.max_queue must be at most 100_000"))]
    pub max_queue: usize,
    /// Per-request deadline in milliseconds; `504` when it passes.
    #[validate(range(
        min = 1,
        max = 3_600_000,
        message = "server.request_timeout_ms must be between 1 and 3_600_000"
    ))]
    pub request_timeout_ms: u64,
    /// Largest request body, in bytes (`413` above).
    #[validate(range(min = 1024, message = "server.max_body_bytes must be at least 1024"))]
    pub max_body_bytes: usize,
    /// Bytes the requests admitted to the workers may hold at once: each is charged its body
    /// and what its image takes to decode (read from the header, at most
    /// `limits.max_alloc_bytes`) when it is queued, and gives them back when its worker is done;
    /// `503 Retry-After` when they are spent. With the bodies still being read (at most
    /// `connections.max` × `max_body_bytes`), it bounds the memory requests take. 0: 1 GiB,
    /// or one largest request (`max_body_bytes` + `limits.max_alloc_bytes`) when that is more.
    pub memory_budget_bytes: u64,
    /// Most images in one `/predict/batch` request.
    #[validate(range(min = 1, max = 1024, message = "server.max_batch_images must be between 1 and 1024"))]
    pub max_batch_images: usize,
    /// Dynamic batching of concurrent requests.
    #[validate(nested)]
    pub batching: BatchingConfig,
    /// API keys.
    pub auth: AuthConfig,
    /// Per-key (or per-client address) rate limiting.
    #[validate(nested)]
    pub rate_limit: RateLimitConfig,
    /// Browser origins allowed to call the API (`*` for any); none by default.
    pub cors_origins: Vec<String>,
    /// Open connections and how long a client may take to send a request.
    #[validate(nested)]
    pub connections: ConnectionsConfig,
    /// Graceful shutdown.
    pub shutdown: ShutdownConfig,
    /// One JSON access-log line per request on stdout.
    pub access_log: bool,
    /// Live streams (`/streams`): the sources allowed, the cap, the streams started with the
    /// server.
    pub streams: StreamsConfig,
    /// Uploaded clips (`POST /predict/video`, with the runtime's `video` feature).
    #[validate(nested)]
    pub video: ServerVideoConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            host: "127.0.0.1".to_string(),
            port: 8080,
            model_name: String::new(),
            workers: 0,
            sessions: 0,
            max_queue: 64,
            request_timeout_ms: 30_000,
            max_body_bytes: 16 << 20,
            memory_budget_bytes: 0,
            max_batch_images: 32,
            batching: BatchingConfig::default(),
            auth: AuthConfig::default(),
            rate_limit: RateLimitConfig::default(),
            cors_origins: Vec::new(),
            connections: ConnectionsConfig::default(),
            shutdown: ShutdownConfig::default(),
            access_log: true,
            streams: StreamsConfig::default(),
            video: ServerVideoConfig::default(),
        }
    }
}

impl ServerConfig {
    /// The memory budget in force (see `memory_budget_bytes`) with images under `limits`.
    pub fn memory_budget(&self, limits: &ImageLimits) -> u64 {
        match self.memory_budget_bytes {
            0 => (1 << 30).max(self.largest_request_bytes(limits)),
            set => set,
        }
    }

    /// The most one request may hold: its body and its image decoded under `limits`.
    pub fn largest_request_bytes(&self, limits: &ImageLimits) -> u64 {
        self.max_body_bytes as u64 + limits.max_alloc_bytes
    }

    /// Worker threads to start: `workers`, or one per core (at most 4) when 0.
    pub fn worker_count(&self) -> usize {
        if self.workers > 0 {
            return self.workers;
        }
        std::thread::available_parallelism().map_or(2, std::num::NonZero::get).min(4)
    }
}

/// `server.video`: clips uploaded to `POST /predict/video`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct ServerVideoConfig {
    /// Largest clip, in bytes (`413` above). The route takes this body size; the others keep
    /// `server.max_body_bytes`.
    #[validate(range(min = 1024, message = "server.video.max_upload_bytes must be at least 1024"))]
    pub max_upload_bytes: usize,
    /// Longest clip, in seconds (`422` above): read from the container before decoding, and
    /// enforced on the frames' own times while decoding, since a container can lie.
    #[validate(range(
        min = 0.001,
        max = 86_400.0,
        message = "server.video.max_duration_s must be between 0.001 and 86400"
    ))]
    pub max_duration_s: f64,
    /// Clips processed at once (`503 Retry-After` beyond), each holding its upload in memory.
    #[validate(range(max = 64, message = "server.video.max_uploads must be at most 64"))]
    pub max_uploads: usize,
}

impl Default for ServerVideoConfig {
    fn default() -> Self {
        ServerVideoConfig { max_upload_bytes: 128 << 20, max_duration_s: 600.0, max_uploads: 2 }
    }
}

/// Dynamic batching: requests arriving together run as one batch (models with a dynamic batch
/// axis only).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct BatchingConfig {
    /// Largest batch; 1 turns batching off.
    #[validate(range(min = 1, max = 256, message = "server.batching.max_batch_size must be between 1 and 256"))]
    pub max_batch_size: usize,
    /// Longest wait for a batch to fill, in milliseconds.
    #[validate(range(max = 1000, message = "server.batching.max_wait_ms must be at most 1000"))]
    pub max_wait_ms: u64,
}

impl Default for BatchingConfig {
    fn default() -> Self {
        BatchingConfig { max_batch_size: 1, max_wait_ms: 2 }
    }
}

/// API keys: from an environment variable (comma-separated) and/or a file (one per line,
/// `#` comments). No key source configured means no authentication; a source configured that
/// yields no key (a blank variable, a file of comments) stops the server from starting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// Environment variable holding the keys.
    pub api_keys_env: String,
    /// File holding the keys, relative to inferx.yaml (e.g. a mounted Secret).
    pub api_keys_file: Option<String>,
    /// Whether the server must have at least one key to start. Unset: required whenever a key
    /// source is configured (`api_keys_file`, or the `api_keys_env` variable set to anything
    /// but the empty string, which counts as unset).
    /// `false` lets a configured source be empty (the API then open, with a warning).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<bool>,
    /// Routes answered without a key (exact paths).
    pub open_routes: Vec<String>,
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            api_keys_env: "INFERX_API_KEYS".to_string(),
            api_keys_file: None,
            required: None,
            open_routes: [
                "/",
                "/docs",
                "/openapi.json",
                "/health",
                "/ready",
                "/metrics",
                "/v2/health/live",
                "/v2/health/ready",
            ]
            .map(String::from)
            .to_vec(),
        }
    }
}

/// Token-bucket rate limiting per API key, or per client address without keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct RateLimitConfig {
    /// Sustained requests per second; 0 turns rate limiting off.
    #[validate(range(max = 1_000_000, message = "server.rate_limit.requests_per_second must be at most 1_000_000"))]
    pub requests_per_second: u32,
    /// Requests allowed in a burst above the sustained rate.
    #[validate(range(min = 1, max = 1_000_000, message = "server.rate_limit.burst must be at least 1"))]
    pub burst: u32,
}

impl Default for RateLimitConfig {
    fn default() -> Self {
        RateLimitConfig { requests_per_second: 0, burst: 20 }
    }
}

/// Bounds on connections, so slow or idle clients cannot hold the server's memory and sockets.
/// Bodies read at once take at most `max` × `server.max_body_bytes` of memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Validate)]
#[serde(deny_unknown_fields, default)]
pub struct ConnectionsConfig {
    /// Open connections at once; a connection beyond them gets `503 Retry-After` and is closed.
    #[validate(range(min = 1, max = 100_000, message = "server.connections.max must be between 1 and 100_000"))]
    pub max: usize,
    /// Open connections from one client address at once; 0 (the default) for no such cap. At
    /// it, the client's own connection that has waited longest without a request is closed
    /// for the new one (503 when all of them are busy), so one client cannot take every place
    /// and starve the others, health probes included. Behind a load balancer or proxy every
    /// connection comes from its addresses: leave it at 0 there, or set it above their share.
    #[validate(range(max = 100_000, message = "server.connections.max_per_peer must be at most 100_000"))]
    pub max_per_peer: usize,
    /// A request's headers must arrive within this many milliseconds of the connection opening,
    /// or of the request's first byte on a reused connection; else the connection is closed.
    #[validate(range(
        min = 100,
        max = 3_600_000,
        message = "server.connections.header_timeout_ms must be between 100 and 3600000"
    ))]
    pub header_timeout_ms: u64,
    /// After an answer, the next request must start within this many milliseconds, or the
    /// connection is closed. Behind a load balancer, set it above the balancer's own idle
    /// timeout (AWS ALB: 60 s), or the balancer may send a request on a connection as it closes.
    #[validate(range(
        min = 100,
        max = 3_600_000,
        message = "server.connections.idle_timeout_ms must be between 100 and 3600000"
    ))]
    pub idle_timeout_ms: u64,
    /// A request's whole body must arrive within this many milliseconds of its headers (`408`
    /// after it), and an answer that the client leaves unread this long ends the connection.
    #[validate(range(
        min = 100,
        max = 3_600_000,
        message = "server.connections.body_timeout_ms must be between 100 and 3600000"
    ))]
    pub body_timeout_ms: u64,
}

impl Default for ConnectionsConfig {
    fn default() -> Self {
        ConnectionsConfig {
            max: 256,
            max_per_peer: 0,
            header_timeout_ms: 10_000,
            idle_timeout_ms: 75_000,
            body_timeout_ms: 60_000,
        }
    }
}

/// Graceful shutdown on SIGTERM or SIGINT.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ShutdownConfig {
    /// After the signal, keep serving (with `/ready` false) this long so load balancers stop
    /// sending traffic, in milliseconds.
    pub drain_delay_ms: u64,
    /// Then stop accepting and give in-flight requests this long to finish, in milliseconds.
    pub grace_period_ms: u64,
}

impl Default for ShutdownConfig {
    fn default() -> Self {
        ShutdownConfig { drain_delay_ms: 0, grace_period_ms: 25_000 }
    }
}

/// Environment variable naming the user config file (default: `<config dir>/inferx/config.yaml`).
pub const USER_CONFIG_ENV: &str = "INFERX_USER_CONFIG";

/// The development override of the model checks: set to `1`, `true` or `yes`, projects load
/// their model without checking `model.sha256` or its signature (with a warning).
pub const ALLOW_UNVERIFIED_MODEL_ENV: &str = "INFERX_ALLOW_UNVERIFIED_MODEL";

/// Whether [`ALLOW_UNVERIFIED_MODEL_ENV`] is set to a true value.
pub fn allow_unverified_model() -> bool {
    std::env::var(ALLOW_UNVERIFIED_MODEL_ENV).is_ok_and(|value| matches!(value.trim(), "1" | "true" | "yes"))
}

/// Top-level keys a user config may set: machine-wide preferences, not a project's model.
pub const USER_CONFIG_KEYS: [&str; 6] = ["device", "strict_device", "thresholds", "threads", "limits", "server"];

/// The user's own defaults for the CLI (`~/.config/inferx/config.yaml`): a partial
/// `inferx.yaml` with the keys of [`USER_CONFIG_KEYS`].
///
/// Precedence, lowest first: built-in defaults, this file, a project's `inferx.yaml`,
/// `INFERX_*` environment variables, command-line flags. Generated projects never read it:
/// a deployed project depends only on its own `inferx.yaml` and environment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UserConfig {
    /// The file read, when there was one.
    pub path: Option<PathBuf>,
    values: serde_yaml::Mapping,
}

impl UserConfig {
    /// Where the user config lives: `$INFERX_USER_CONFIG`, else the platform's config folder.
    pub fn default_path() -> Option<PathBuf> {
        match std::env::var_os(USER_CONFIG_ENV).filter(|value| !value.is_empty()) {
            Some(path) => Some(PathBuf::from(path)),
            None => dirs::config_dir().map(|dir| dir.join("inferx").join("config.yaml")),
        }
    }

    /// Reads the user config at [`UserConfig::default_path`]; none there is an empty config.
    pub fn discover() -> Result<UserConfig> {
        match UserConfig::default_path() {
            Some(path) if path.is_file() => UserConfig::load(&path),
            _ => Ok(UserConfig::default()),
        }
    }

    /// Reads and validates a user config file.
    pub fn load(path: &Path) -> Result<UserConfig> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::io("could not read", path, error))?;
        let in_file = |reason: String| Error::Config { path: Some(path.to_path_buf()), reason };
        let values: serde_yaml::Mapping = match serde_yaml::from_str::<Option<serde_yaml::Mapping>>(&text) {
            Ok(values) => values.unwrap_or_default(),
            Err(error) => return Err(in_file(error.to_string())),
        };
        for key in values.keys() {
            let key = key.as_str().unwrap_or_default();
            if !USER_CONFIG_KEYS.contains(&key) {
                let hint = closest(key, USER_CONFIG_KEYS, 2)
                    .map(|known| format!("did you mean `{known}`? "))
                    .unwrap_or_default();
                return Err(in_file(format!(
                    "`{key}` cannot be set in the user config; {hint}it takes {} (a project's model, task and labels belong in its inferx.yaml)",
                    USER_CONFIG_KEYS.join(", ")
                )));
            }
        }
        let config = UserConfig { path: Some(path.to_path_buf()), values };
        // Types, unknown nested keys and ranges, checked on a stand-in project.
        config
            .under(&ProjectConfig::stand_in())
            .and_then(|merged| merged.check())
            .map_err(|error| in_file(error.reason()))?;
        Ok(config)
    }

    /// For a command run without a project file: the values this file sets, then the
    /// `INFERX_*` variables read through `lookup`, written over `options`.
    pub fn apply_without_project(
        &self,
        options: &mut PipelineOptions,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<()> {
        let mut config = self.under(&ProjectConfig::stand_in())?;
        config.apply_env(&lookup)?;
        config.check()?;
        let from_env = |key: &str| {
            ENV_OVERRIDES
                .iter()
                .any(|(name, target)| *target == key && lookup(name).is_some_and(|value| !value.is_empty()))
        };
        let set = |section: &str, key: &str| self.sets(section, Some(key)) || from_env(&format!("{section}.{key}"));
        if self.sets("device", None) || from_env("device.use") {
            options.session.device = config.device.preferred;
        }
        // The providers' options: defaults, this file, the environment (no flag sets them). A
        // model run outside a project keeps TensorRT's engines in the user cache.
        options.session.tensorrt = config.device.tensorrt.clone();
        options.session.tensorrt_cache = tensorrt_cache_dir(&config.device, None);
        options.session.cuda = config.device.cuda;
        if self.sets("strict_device", None) || from_env("strict_device") {
            options.session.strict_device = config.strict_device;
        }
        if set("thresholds", "confidence") {
            options.confidence = Some(config.thresholds.confidence);
        }
        if set("thresholds", "iou") {
            options.iou = Some(config.thresholds.iou);
        }
        if set("thresholds", "max_detections") {
            options.max_detections = Some(config.thresholds.max_detections);
        }
        if set("thresholds", "top_k") {
            options.top_k = Some(config.thresholds.top_k);
        }
        if set("threads", "intra") {
            options.session.intra_threads = config.threads.intra;
        }
        if set("threads", "inter") {
            options.session.inter_threads = config.threads.inter;
        }
        if self.sets("limits", None) {
            options.limits = config.limits;
        }
        Ok(())
    }

    /// Whether the file set anything.
    pub fn is_empty(&self) -> bool {
        self.values.is_empty()
    }

    /// `project` with this config's values filled in where the project file does not set them:
    /// the user's values go under the project's.
    pub fn under_file(&self, project_text: &str) -> Result<ProjectConfig> {
        // The project file alone first, so its own mistakes are reported with its line numbers.
        ProjectConfig::parse(project_text)?;
        let project: serde_yaml::Value =
            serde_yaml::from_str(project_text).map_err(|error| Error::config(error.to_string()))?;
        let mut merged = serde_yaml::Value::Mapping(self.values.clone());
        merge(&mut merged, project);
        serde_yaml::from_value(merged).map_err(|error| Error::config(with_suggestion(&error.to_string())))
    }

    /// This config's values over `base` (for commands run without a project file).
    pub fn under(&self, base: &ProjectConfig) -> Result<ProjectConfig> {
        let mut merged = serde_yaml::to_value(base).map_err(|error| Error::config(error.to_string()))?;
        merge(&mut merged, serde_yaml::Value::Mapping(self.values.clone()));
        serde_yaml::from_value(merged).map_err(|error| Error::config(with_suggestion(&error.to_string())))
    }

    /// Whether the file sets `section.key` (`key` alone for a top-level key).
    pub fn sets(&self, section: &str, key: Option<&str>) -> bool {
        match (self.values.get(section), key) {
            (Some(_), None) => true,
            (Some(serde_yaml::Value::Mapping(inner)), Some(key)) => inner.contains_key(key),
            _ => false,
        }
    }
}

/// Overlays `over` onto `base`: mappings merge key by key, anything else is replaced.
fn merge(base: &mut serde_yaml::Value, over: serde_yaml::Value) {
    match (base, over) {
        (serde_yaml::Value::Mapping(base), serde_yaml::Value::Mapping(over)) => {
            for (key, value) in over {
                match base.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        base.insert(key, value);
                    }
                }
            }
        }
        (base, over) => *base = over,
    }
}

/// serde's "unknown field `x`, expected one of `a`, `b`" with "; did you mean `a`?" added
/// when a known field is a small edit away.
fn with_suggestion(message: &str) -> String {
    let Some((_, after)) = message.split_once("unknown field `") else { return message.to_string() };
    let Some((unknown, expected)) = after.split_once('`') else { return message.to_string() };
    let known = expected.split('`').skip(1).step_by(2);
    match closest(unknown, known, (unknown.len() / 3).max(2)) {
        Some(name) => format!("{message}; did you mean `{name}`?"),
        None => message.to_string(),
    }
}

/// The known name closest to `unknown`, when at most `max_distance` edits away.
fn closest<'a>(unknown: &str, known: impl IntoIterator<Item = &'a str>, max_distance: usize) -> Option<&'a str> {
    known
        .into_iter()
        .map(|name| (edit_distance(unknown, name), name))
        .min()
        .filter(|(distance, _)| *distance <= max_distance)
        .map(|(_, name)| name)
}

/// Levenshtein distance, by characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, a_char) in a.chars().enumerate() {
        let mut current = vec![i + 1; b.len() + 1];
        for (j, b_char) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(a_char != *b_char);
            current[j + 1] = substitution.min(previous[j + 1] + 1).min(current[j] + 1);
        }
        previous = current;
    }
    previous[b.len()]
}

/// Environment variables read by [`ProjectConfig::apply_env`], with what they set.
pub const ENV_OVERRIDES: [(&str, &str); 22] = [
    ("INFERX_MODEL", "model.path"),
    ("INFERX_DEVICE", "device.use"),
    ("INFERX_TRT_ENGINE_CACHE", "device.tensorrt.engine_cache"),
    ("INFERX_TRT_CACHE_DIR", "device.tensorrt.cache_dir"),
    ("INFERX_TRT_FP16", "device.tensorrt.fp16"),
    ("INFERX_TRT_WORKSPACE_MB", "device.tensorrt.workspace_mb"),
    ("INFERX_TRT_OPT_LEVEL", "device.tensorrt.builder_optimization_level"),
    ("INFERX_TRT_MAX_BATCH", "device.tensorrt.max_batch"),
    ("INFERX_CUDA_MEMORY_LIMIT_MB", "device.cuda.memory_limit_mb"),
    ("INFERX_CUDA_GRAPH", "device.cuda.cuda_graph"),
    ("INFERX_STRICT_DEVICE", "strict_device"),
    ("INFERX_CONFIDENCE", "thresholds.confidence"),
    ("INFERX_IOU", "thresholds.iou"),
    ("INFERX_MAX_DETECTIONS", "thresholds.max_detections"),
    ("INFERX_INTRA_THREADS", "threads.intra"),
    ("INFERX_HOST", "server.host"),
    ("INFERX_PORT", "server.port"),
    ("INFERX_WORKERS", "server.workers"),
    ("INFERX_REQUEST_TIMEOUT_MS", "server.request_timeout_ms"),
    ("INFERX_MAX_CONNECTIONS", "server.connections.max"),
    ("INFERX_SHUTDOWN_DRAIN_DELAY_MS", "server.shutdown.drain_delay_ms"),
    ("INFERX_SHUTDOWN_GRACE_PERIOD_MS", "server.shutdown.grace_period_ms"),
];

// `Pipeline` stands below this module; its constructor from a project file lives here, with
// the file it reads, so that imports run one way.
impl Pipeline {
    /// Loads the project described by an `inferx.yaml` (model path relative to the file's
    /// folder), applying `INFERX_*` environment overrides.
    ///
    /// ```no_run
    /// use inferx_runtime::Pipeline;
    ///
    /// # fn main() -> inferx_runtime::Result<()> {
    /// let pipeline = Pipeline::from_config_file("inferx.yaml")?;
    /// let prediction = pipeline.predict_path("images/sample.jpg")?;
    /// for detection in prediction.detections() {
    ///     println!("{} {:.2} {:?}", detection.label, detection.score, detection.bbox);
    /// }
    /// # Ok(())
    /// # }
    /// ```
    pub fn from_config_file(path: impl AsRef<Path>) -> Result<Pipeline> {
        let path = path.as_ref();
        let config = ProjectConfig::load(path)?;
        let project_dir = project_files::project_dir(path);
        Pipeline::load(config.model_path(project_dir)?, config.pipeline_options(project_dir)?)
    }
}

impl ProjectConfig {
    /// Reads, overrides from the environment, and validates a config file.
    pub fn load(path: &Path) -> Result<ProjectConfig> {
        ProjectConfig::load_with(path, &UserConfig::default())
    }

    /// [`ProjectConfig::load`] with a user config under the file: defaults, then `user`, then
    /// the file, then `INFERX_*` environment variables (flags are the caller's to apply).
    pub fn load_with(path: &Path, user: &UserConfig) -> Result<ProjectConfig> {
        let text = std::fs::read_to_string(path).map_err(|error| Error::io("could not read", path, error))?;
        let with_path = |error: Error| match error {
            Error::Config { reason, .. } => Error::Config { path: Some(path.to_path_buf()), reason },
            other => other,
        };
        let mut config =
            if user.is_empty() { ProjectConfig::parse(&text) } else { user.under_file(&text) }.map_err(with_path)?;
        config.apply_env(|name| std::env::var(name).ok()).map_err(with_path)?;
        config.check().map_err(with_path)?;
        Ok(config)
    }

    /// A minimal valid project, for checking settings that do not depend on one.
    fn stand_in() -> ProjectConfig {
        ProjectConfig {
            inferx: Stamp { version: "0.0.0".into(), template: "none".into() },
            model: ModelSection { path: "models/model.onnx".into(), sha256: None, public_key: None, signature: None },
            task: TaskKind::Detection,
            input: PreprocessConfig::default(),
            thresholds: Thresholds::default(),
            layout: DetectionLayout::default(),
            scores: ScoreKind::default(),
            labels: Vec::new(),
            labels_file: None,
            device: DeviceConfig::default(),
            strict_device: false,
            threads: Threads::default(),
            limits: ImageLimits::default(),
            server: ServerConfig::default(),
            tracking: None,
        }
    }

    /// Parses YAML without validating. Errors carry the line and column, and an unknown key
    /// gets the closest known one as a hint.
    ///
    /// ```
    /// use std::path::Path;
    /// use inferx_runtime::{Device, ProjectConfig, TaskKind};
    ///
    /// let yaml = "
    /// inferx: {version: 0.1.0, template: yolo}
    /// model: {path: models/yolov8n.onnx}
    /// task: detection
    /// device: cuda:1
    /// thresholds: {confidence: 0.4}
    /// labels: [person, bicycle]
    /// ";
    /// let config = ProjectConfig::parse(yaml)?;
    /// config.check()?;
    /// assert_eq!(config.task, TaskKind::Detection);
    /// assert_eq!(config.device.preferred, Device::Cuda(1));
    /// assert!(config.device.tensorrt.engine_cache, "`device: cuda:1` means the defaults");
    /// assert_eq!(config.thresholds.iou, 0.7); // not in the file: the default
    /// assert_eq!(config.input.width, 640);
    /// // The model's path is resolved and checked against the project folder when it is asked
    /// // for: here there is no such project.
    /// assert!(config.model_path(Path::new("/srv/app")).is_err());
    ///
    /// let options = config.pipeline_options(Path::new("/srv/app"))?;
    /// assert_eq!(options.confidence, Some(0.4));
    /// assert_eq!(options.labels, Some(vec!["person".to_string(), "bicycle".to_string()]));
    ///
    /// // A misspelt key is refused with a hint.
    /// let error = ProjectConfig::parse(&format!("{yaml}devcie: cpu\n")).unwrap_err();
    /// assert!(error.to_string().contains("did you mean `device`?"));
    /// # Ok::<(), inferx_runtime::Error>(())
    /// ```
    pub fn parse(text: &str) -> Result<ProjectConfig> {
        let mut config: ProjectConfig =
            serde_yaml::from_str(text).map_err(|error| Error::config(with_suggestion(&error.to_string())))?;
        // Thresholds the file leaves out take the defaults of its task, not detection's.
        let written: serde_yaml::Value = serde_yaml::from_str(text).unwrap_or_default();
        let given = |key: &str| written.get("thresholds").and_then(|thresholds| thresholds.get(key)).is_some();
        let defaults = Thresholds::for_task(config.task);
        let thresholds = &mut config.thresholds;
        if !given("confidence") {
            thresholds.confidence = defaults.confidence;
        }
        if !given("iou") {
            thresholds.iou = defaults.iou;
        }
        if !given("max_detections") {
            thresholds.max_detections = defaults.max_detections;
        }
        if !given("top_k") {
            thresholds.top_k = defaults.top_k;
        }
        Ok(config)
    }

    /// This config with the `input` and `thresholds` keys that its task and resize mode do not
    /// read at their defaults: what [`ProjectConfig::to_yaml`] and [`ProjectConfig::parse`]
    /// give back. It predicts exactly as this one.
    pub fn normalized(&self) -> ProjectConfig {
        let mut config = self.clone();
        let input = PreprocessConfig::default();
        let read_input = input_keys_used_by(config.input.resize);
        let unread = |key: &str| !read_input.contains(&key);
        if unread("pad_value") {
            config.input.pad_value = input.pad_value;
        }
        if unread("crop_fraction") {
            config.input.crop_fraction = input.crop_fraction;
        }
        if unread("resize_short") {
            config.input.resize_short = input.resize_short;
        }
        if unread("limit_side") {
            config.input.limit_side = input.limit_side;
        }
        if unread("multiple") {
            config.input.multiple = input.multiple;
        }
        let defaults = Thresholds::for_task(config.task);
        let read = Thresholds::keys_used_by(config.task);
        let thresholds = &mut config.thresholds;
        if !read.contains(&"confidence") {
            thresholds.confidence = defaults.confidence;
        }
        if !read.contains(&"iou") {
            thresholds.iou = defaults.iou;
        }
        if !read.contains(&"max_detections") {
            thresholds.max_detections = defaults.max_detections;
        }
        if !read.contains(&"top_k") {
            thresholds.top_k = defaults.top_k;
        }
        if !read.contains(&"agnostic_nms") {
            thresholds.agnostic_nms = defaults.agnostic_nms;
        }
        config
    }

    /// Serialises to YAML, without the `input` and `thresholds` keys that the task and resize
    /// mode do not read (as a generated `inferx.yaml`); see [`ProjectConfig::normalized`].
    pub fn to_yaml(&self) -> Result<String> {
        let mut value = serde_yaml::to_value(self).map_err(|error| Error::config(error.to_string()))?;
        let unread_input = MODE_INPUT_KEYS.iter().filter(|key| !input_keys_used_by(self.input.resize).contains(key));
        if let Some(input) = value.get_mut("input").and_then(serde_yaml::Value::as_mapping_mut) {
            for key in unread_input {
                input.remove(*key);
            }
        }
        if let Some(thresholds) = value.get_mut("thresholds").and_then(serde_yaml::Value::as_mapping_mut) {
            let read = Thresholds::keys_used_by(self.task);
            thresholds.retain(|key, _| key.as_str().is_some_and(|key| read.contains(&key)));
        }
        serde_yaml::to_string(&value).map_err(|error| Error::config(error.to_string()))
    }

    /// Applies `INFERX_*` overrides read through `lookup` (see [`ENV_OVERRIDES`]).
    /// [`ProjectConfig::load`] passes the process environment; tests can pass a closure.
    ///
    /// ```
    /// use inferx_runtime::{Device, ProjectConfig};
    ///
    /// let mut config = ProjectConfig::parse(
    ///     "inferx: {version: 0.1.0, template: yolo}\nmodel: {path: models/model.onnx}\ntask: detection\n",
    /// )?;
    /// config.apply_env(|name| match name {
    ///     "INFERX_DEVICE" => Some("cpu".into()),
    ///     "INFERX_PORT" => Some("9000".into()),
    ///     _ => None,
    /// })?;
    /// assert_eq!(config.device.preferred, Device::Cpu);
    /// assert_eq!(config.server.port, 9000);
    ///
    /// // A value that does not parse names the variable.
    /// let error = config.apply_env(|name| (name == "INFERX_IOU").then(|| "high".into())).unwrap_err();
    /// assert!(error.to_string().contains("INFERX_IOU"));
    /// # Ok::<(), inferx_runtime::Error>(())
    /// ```
    pub fn apply_env(&mut self, lookup: impl Fn(&str) -> Option<String>) -> Result<()> {
        fn parse<T: std::str::FromStr>(name: &str, value: &str) -> Result<T> {
            value
                .trim()
                .parse()
                .map_err(|_| Error::config(format!("environment variable {name}={value:?} is not valid")))
        }
        fn switch(name: &str, value: &str) -> Result<bool> {
            match value.trim().to_ascii_lowercase().as_str() {
                "1" | "true" | "yes" | "on" => Ok(true),
                "0" | "false" | "no" | "off" => Ok(false),
                _ => {
                    Err(Error::config(format!("environment variable {name}={value:?} must be 1 or 0 (true or false)")))
                }
            }
        }
        for (name, _) in ENV_OVERRIDES {
            let Some(value) = lookup(name).filter(|value| !value.is_empty()) else { continue };
            match name {
                "INFERX_MODEL" => self.model.path = value,
                "INFERX_DEVICE" => {
                    self.device.preferred =
                        value.parse().map_err(|error: Error| Error::config(format!("INFERX_DEVICE: {error}")))?;
                }
                "INFERX_TRT_ENGINE_CACHE" => self.device.tensorrt.engine_cache = switch(name, &value)?,
                "INFERX_TRT_CACHE_DIR" => self.device.tensorrt.cache_dir = value,
                "INFERX_TRT_FP16" => self.device.tensorrt.fp16 = switch(name, &value)?,
                "INFERX_TRT_WORKSPACE_MB" => self.device.tensorrt.workspace_mb = parse(name, &value)?,
                "INFERX_TRT_OPT_LEVEL" => self.device.tensorrt.builder_optimization_level = parse(name, &value)?,
                "INFERX_TRT_MAX_BATCH" => self.device.tensorrt.max_batch = parse(name, &value)?,
                "INFERX_CUDA_MEMORY_LIMIT_MB" => self.device.cuda.memory_limit_mb = parse(name, &value)?,
                "INFERX_CUDA_GRAPH" => self.device.cuda.cuda_graph = switch(name, &value)?,
                "INFERX_STRICT_DEVICE" => self.strict_device = matches!(value.trim(), "1" | "true" | "yes"),
                "INFERX_CONFIDENCE" => self.thresholds.confidence = parse(name, &value)?,
                "INFERX_IOU" => self.thresholds.iou = parse(name, &value)?,
                "INFERX_MAX_DETECTIONS" => self.thresholds.max_detections = parse(name, &value)?,
                "INFERX_INTRA_THREADS" => self.threads.intra = parse(name, &value)?,
                "INFERX_HOST" => self.server.host = value,
                "INFERX_PORT" => self.server.port = parse(name, &value)?,
                "INFERX_WORKERS" => self.server.workers = parse(name, &value)?,
                "INFERX_REQUEST_TIMEOUT_MS" => self.server.request_timeout_ms = parse(name, &value)?,
                "INFERX_MAX_CONNECTIONS" => self.server.connections.max = parse(name, &value)?,
                "INFERX_SHUTDOWN_DRAIN_DELAY_MS" => self.server.shutdown.drain_delay_ms = parse(name, &value)?,
                "INFERX_SHUTDOWN_GRACE_PERIOD_MS" => self.server.shutdown.grace_period_ms = parse(name, &value)?,
                _ => {}
            }
        }
        Ok(())
    }

    /// Validates ranges and cross-field rules, with messages that say how to fix them.
    pub fn check(&self) -> Result<()> {
        self.validate().map_err(|errors| Error::config(describe_validation(&errors)))?;
        let input = &self.input;
        if !(1..=8192).contains(&input.width) || !(1..=8192).contains(&input.height) {
            return Err(Error::config(format!(
                "input.width and input.height must be between 1 and 8192, got {}x{}",
                input.width, input.height
            )));
        }
        if input.std.iter().any(|value| *value == 0.0 || !value.is_finite()) {
            return Err(Error::config("input.std values must be finite and non-zero"));
        }
        if self.limits.max_dimension == 0 || self.limits.max_file_bytes == 0 || self.limits.max_alloc_bytes == 0 {
            return Err(Error::config(
                "limits.max_file_bytes, limits.max_dimension and limits.max_alloc_bytes must be above 0",
            ));
        }
        let largest_request = self.server.largest_request_bytes(&self.limits);
        if self.server.memory_budget_bytes != 0 && self.server.memory_budget_bytes < largest_request {
            return Err(Error::config(format!(
                "server.memory_budget_bytes ({}) is below what one request may take, server.max_body_bytes + limits.max_alloc_bytes ({largest_request}): raise it, or lower those limits",
                self.server.memory_budget_bytes
            )));
        }
        if self.public_key()?.is_none() && self.model.signature.is_some() {
            return Err(Error::config(
                "model.signature is set but model.public_key is not: add the signer's public key (the `RW…` line of its .pub file)",
            ));
        }
        if let Some(origin) =
            self.server.cors_origins.iter().find(|origin| {
                origin.as_str() != "*" && !(origin.starts_with("http://") || origin.starts_with("https://"))
            })
        {
            return Err(Error::config(format!(
                "server.cors_origins entry `{origin}` must be `*` or an origin such as https://app.example.com"
            )));
        }
        if let Some(route) = self.server.auth.open_routes.iter().find(|route| !route.starts_with('/')) {
            return Err(Error::config(format!(
                "server.auth.open_routes entry `{route}` must be a path starting with /"
            )));
        }
        let problems = self.server.streams.problems();
        if !problems.is_empty() {
            return Err(Error::config(problems.join("; ")));
        }
        let varying_input_size = self.input.resize == ResizeMode::FitMultiple;
        let problems = device_problems(&self.device, self.server.batching.max_batch_size, varying_input_size);
        if !problems.is_empty() {
            return Err(Error::config(problems.join("; ")));
        }
        if let Some(tracking) = &self.tracking {
            if self.task != TaskKind::Detection {
                return Err(Error::config(format!(
                    "tracking: is set but the task is {}: tracking follows detected boxes, so it needs task: detection (remove the section otherwise)",
                    self.task
                )));
            }
            let problems = tracking.problems();
            if !problems.is_empty() {
                return Err(Error::config(problems.join("; ")));
            }
        }
        check_relative("model.path", &self.model.path, "put the model in models/")?;
        if let Some(file) = &self.labels_file {
            check_relative("labels_file", file, "put the labels file beside inferx.yaml")?;
        }
        if self.device.tensorrt.engine_cache {
            check_relative(
                "device.tensorrt.cache_dir",
                &self.device.tensorrt.cache_dir,
                "keep it inside the project (default .inferx/trt-cache) and mount a volume there",
            )?;
        }
        if let Some(file) = &self.server.auth.api_keys_file {
            check_relative("server.auth.api_keys_file", file, "mount the keys inside the project, e.g. secrets/")?;
        }
        Ok(())
    }

    /// The model's real path, inside the project: opened and checked (a regular file, no
    /// symlink out of the project, at most [`MODEL_FILE_LIMIT`]) before any reader sees it
    /// (see [`project_files::open`]).
    pub fn model_path(&self, project_dir: &Path) -> Result<PathBuf> {
        open_project_file(project_dir, "model.path", &self.model.path, MODEL_FILE_LIMIT).map(ProjectFile::into_path)
    }

    /// The labels the project lists, else those of its `labels_file` (read from the checked
    /// handle, at most [`SMALL_FILE_LIMIT`]); `None` when it names neither.
    pub fn labels(&self, project_dir: &Path) -> Result<Option<Vec<String>>> {
        if !self.labels.is_empty() {
            return Ok(Some(self.labels.clone()));
        }
        let Some(file) = &self.labels_file else { return Ok(None) };
        let text = open_project_file(project_dir, "labels_file", file, SMALL_FILE_LIMIT)?.read_to_string()?;
        Ok(Some(crate::labels::parse_labels_text(&text)))
    }

    /// The signature the model must carry: `Some` when `model.public_key` is set, with the
    /// signature file resolved (`model.signature`, else beside the model).
    pub fn signature_check(&self, project_dir: &Path) -> Result<Option<SignatureCheck>> {
        let Some(public_key) = self.public_key()? else { return Ok(None) };
        let signature = match &self.model.signature {
            Some(path) => project_file(project_dir, "model.signature", path)?,
            // Beside the model as the config names it (the model itself is checked when opened);
            // the signature is read bounded and never blocks (`signature::verify_model`).
            None => crate::model::signature::default_signature_path(&project_dir.join(&self.model.path)),
        };
        Ok(Some(SignatureCheck { public_key, signature }))
    }

    /// `model.public_key`'s key line (the key alone, or the text of a `.pub` file), checked.
    fn public_key(&self) -> Result<Option<String>> {
        let Some(text) = &self.model.public_key else { return Ok(None) };
        crate::model::signature::parse_public_key(text)
            .map(Some)
            .map_err(|reason| Error::config(format!("model.public_key: {reason}")))
    }

    /// Pipeline options for this configuration; `project_dir` resolves relative paths.
    pub fn pipeline_options(&self, project_dir: &Path) -> Result<PipelineOptions> {
        let labels = self.labels(project_dir)?;
        // The development override: the model is loaded whatever its bytes, loudly.
        let unverified = allow_unverified_model();
        if unverified && (self.model.sha256.is_some() || self.model.public_key.is_some()) {
            tracing::warn!(
                "{ALLOW_UNVERIFIED_MODEL_ENV} is set: the model's sha256 and signature are not checked; never set it in production"
            );
        }
        let signature = if unverified { None } else { self.signature_check(project_dir)? };
        Ok(PipelineOptions {
            task: Some(self.task),
            session: SessionOptions {
                device: self.device.preferred,
                strict_device: self.strict_device,
                intra_threads: self.threads.intra,
                inter_threads: self.threads.inter,
                optimized_cache: crate::library::graph_cache_dir(),
                tensorrt: self.device.tensorrt.clone(),
                tensorrt_cache: tensorrt_cache_dir(&self.device, Some(project_dir)),
                cuda: self.device.cuda,
                ..SessionOptions::default()
            },
            input: Some(self.input.clone()),
            input_size: None,
            confidence: Some(self.thresholds.confidence),
            iou: Some(self.thresholds.iou),
            max_detections: Some(self.thresholds.max_detections),
            top_k: Some(self.thresholds.top_k),
            agnostic_nms: self.thresholds.agnostic_nms,
            layout: self.layout,
            scores: self.scores,
            labels,
            keep_anomaly_map: false,
            limits: self.limits,
            expected_sha256: if unverified { None } else { self.model.sha256.clone() },
            signature,
        })
    }
}

/// The folder of TensorRT's caches: `device.tensorrt.cache_dir` in the project, or, for a
/// model run without one, the user cache's `trt-cache`; `None` when the cache is off.
pub fn tensorrt_cache_dir(device: &DeviceConfig, project_dir: Option<&Path>) -> Option<PathBuf> {
    if !device.tensorrt.engine_cache {
        return None;
    }
    Some(match project_dir {
        Some(dir) => dir.join(&device.tensorrt.cache_dir),
        None => crate::library::cache_dir().join("trt-cache"),
    })
}

fn describe_validation(errors: &validator::ValidationErrors) -> String {
    let mut messages = Vec::new();
    collect_messages("", errors, &mut messages);
    messages.sort();
    messages.join("; ")
}

fn collect_messages(prefix: &str, errors: &validator::ValidationErrors, messages: &mut Vec<String>) {
    for (field, kind) in errors.errors() {
        let path = if prefix.is_empty() { field.to_string() } else { format!("{prefix}.{field}") };
        match kind {
            validator::ValidationErrorsKind::Field(list) => {
                for error in list {
                    messages.push(error.message.as_ref().map_or_else(
                        || format!("{path} is invalid ({})", error.code),
                        std::string::ToString::to_string,
                    ));
                }
            }
            validator::ValidationErrorsKind::Struct(inner) => collect_messages(&path, inner, messages),
            validator::ValidationErrorsKind::List(items) => {
                for (index, inner) in items {
                    collect_messages(&format!("{path}[{index}]"), inner, messages);
                }
            }
        }
    }
}

/// Refuses a path from the config that is absolute or climbs out with `..`: every file a
/// project names lives inside it, so the project moves (and deploys) as one folder.
fn check_relative(key: &str, value: &str, fix: &str) -> Result<()> {
    let path = Path::new(value);
    let climbs = path.components().any(|part| !matches!(part, Component::Normal(_) | Component::CurDir));
    if value.is_empty() || climbs || value.contains('\\') {
        return Err(Error::config(format!(
            "{key} `{value}` must be relative to the project and stay inside it ({fix})"
        )));
    }
    Ok(())
}

/// The real path of `relative` (a config value) under `project_dir`, once it has been opened
/// and checked as a small project file: a regular file, inside the project after resolving
/// every symlink, at most [`SMALL_FILE_LIMIT`]. A file that is missing, leads out of the
/// project, or cannot be resolved is an error naming `key`, so a config can never make the
/// runtime read an arbitrary file.
pub fn project_file(project_dir: &Path, key: &str, relative: &str) -> Result<PathBuf> {
    open_project_file(project_dir, key, relative, SMALL_FILE_LIMIT).map(ProjectFile::into_path)
}

/// `relative` (a config value) checked as relative, then opened under `project_dir` through
/// [`project_files::open`].
pub fn open_project_file(project_dir: &Path, key: &str, relative: &str, limit: u64) -> Result<ProjectFile> {
    check_relative(key, relative, "keep the files a project uses inside its folder")?;
    project_files::open(project_dir, key, relative, limit)
}

/// The `inferx.yaml` `text` with `thresholds.confidence` set to `value` (`val
/// --write-threshold`), edited in place by [`yaml_edit::set_block_key`]: the value of its line
/// replaced (a comment after it kept), or the key added to the `thresholds` section (the section
/// added at the end when there is none). `None` when the file is not in the block layout inferx
/// writes, or the result would change more than that one setting.
pub fn set_confidence(text: &str, value: f32) -> Option<String> {
    let before = ProjectConfig::parse(text).ok()?;
    let updated =
        yaml_edit::set_block_key(text, "thresholds", "confidence", &value.to_string(), yaml_edit::NewKey::First)
            .ok()?;
    let after = ProjectConfig::parse(&updated).ok()?;
    let mut expected = before;
    expected.thresholds.confidence = value;
    (after == expected).then_some(updated)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_threshold_is_set_in_place_keeping_comments_and_added_where_missing() {
        let project = "# Mine.\ninferx: {version: 0.1.0, template: anomaly}\nmodel: {path: models/m.onnx}\ntask: anomaly\n\nthresholds:\n  # Scores above are anomalous.\n  confidence: 0.5 # anomalib's default\n\ndevice: cpu # here\n";
        assert_eq!(
            set_confidence(project, 0.4375).unwrap(),
            project.replace("confidence: 0.5 #", "confidence: 0.4375 #"),
        );
        let without_key = project
            .replace("  # Scores above are anomalous.\n  confidence: 0.5 # anomalib's default\n", "  iou: 0.7\n");
        assert_eq!(
            set_confidence(&without_key, 0.25).unwrap(),
            without_key.replace("thresholds:\n", "thresholds:\n  confidence: 0.25\n")
        );
        let without_section = "inferx: {version: 0.1.0, template: anomaly}\nmodel: {path: m.onnx}\ntask: anomaly\n";
        assert_eq!(
            set_confidence(without_section, 0.25).unwrap(),
            format!("{without_section}\nthresholds:\n  confidence: 0.25\n")
        );
        let flow = format!("{without_section}thresholds: {{confidence: 0.5}}\n");
        assert_eq!(set_confidence(&flow, 0.25), None, "a flow mapping is left for the user");
    }

    use crate::device::Device;

    const MINIMAL: &str =
        "inferx: {version: 0.1.0, template: yolo}\nmodel: {path: models/model.onnx}\ntask: detection\n";

    #[test]
    fn to_yaml_leaves_out_the_keys_the_task_and_mode_do_not_read_and_reads_back_the_same() {
        let full = format!(
            "{MINIMAL}input: {{resize: letterbox, pad_value: 100, crop_fraction: 0.5, limit_side: 9}}\nthresholds: {{confidence: 0.4, top_k: 3}}\n"
        );
        let config = ProjectConfig::parse(&full).unwrap();
        let yaml = config.to_yaml().unwrap();
        for unread in ["crop_fraction", "resize_short", "limit_side", "multiple", "top_k"] {
            assert!(!yaml.contains(unread), "{unread}: {yaml}");
        }
        let again = ProjectConfig::parse(&yaml).unwrap();
        assert_eq!((again.input.pad_value, again.thresholds.confidence), (100, 0.4));
        assert_eq!(again.to_yaml().unwrap(), yaml);
        assert_eq!(again, config.normalized());
        assert_eq!(config.normalized().input.crop_fraction, 0.875);

        let classifier = full.replace("task: detection", "task: classification").replace("letterbox", "center_crop");
        let yaml = ProjectConfig::parse(&classifier).unwrap().to_yaml().unwrap();
        let again = ProjectConfig::parse(&yaml).unwrap();
        assert_eq!((again.input.crop_fraction, again.thresholds.top_k), (0.5, 3));
        assert!(!yaml.contains("pad_value") && !yaml.contains("confidence"), "{yaml}");
    }

    #[test]
    fn a_public_key_pasted_from_a_pub_file_is_checked_with_its_key_line() {
        let key = "RWSDGFoFQ1w9rxPo00CMIA5QWD2Sph0dwvZ84TzTR46XJcn5mie2cPBL";
        let text = MINIMAL.replace(
            "model: {path: models/model.onnx}",
            &format!("model:\n  path: models/model.onnx\n  public_key: |\n    untrusted comment: minisign public key AF3D5C43055A1883\n    {key}"),
        );
        let config = ProjectConfig::parse(&text).unwrap();
        config.check().unwrap();
        let check = config.signature_check(Path::new("/srv/app")).unwrap().unwrap();
        assert_eq!(check.public_key, key);
        assert_eq!(check.signature, Path::new("/srv/app/models/model.onnx.minisig"));
    }

    #[test]
    fn the_memory_budget_covers_one_largest_request() {
        let mut config = ProjectConfig::parse(MINIMAL).unwrap();
        let largest = config.server.max_body_bytes as u64 + config.limits.max_alloc_bytes;
        assert_eq!(config.server.memory_budget(&config.limits), 1 << 30, "0: 1 GiB by default");
        config.limits.max_alloc_bytes = 2 << 30;
        config.check().unwrap();
        assert_eq!(config.server.memory_budget(&config.limits), (2 << 30) + config.server.max_body_bytes as u64);
        config.limits.max_alloc_bytes = ImageLimits::default().max_alloc_bytes;
        config.server.memory_budget_bytes = largest - 1;
        let error = config.check().unwrap_err();
        assert!(error.to_string().contains("server.memory_budget_bytes"), "{error}");
        config.server.memory_budget_bytes = largest;
        config.check().unwrap();
        assert_eq!(config.server.memory_budget(&config.limits), largest);
    }

    #[test]
    fn minimal_config_gets_task_defaults() {
        let config = ProjectConfig::parse(MINIMAL).unwrap();
        config.check().unwrap();
        assert_eq!(config.thresholds.confidence, 0.25);
        assert_eq!(config.input.width, 640);
        assert_eq!(config.device.preferred, Device::Auto);
    }

    #[test]
    fn thresholds_left_out_take_the_tasks_defaults() {
        let segmentation = MINIMAL.replace("task: detection", "task: segmentation");
        assert_eq!(ProjectConfig::parse(&segmentation).unwrap().thresholds.confidence, 0.5);
        let anomaly = format!("{}thresholds: {{iou: 0.3}}\n", MINIMAL.replace("task: detection", "task: anomaly"));
        let config = ProjectConfig::parse(&anomaly).unwrap();
        assert_eq!((config.thresholds.confidence, config.thresholds.iou), (0.5, 0.3), "given keys are kept");
        let written = format!("{segmentation}thresholds: {{confidence: 0.25}}\n");
        assert_eq!(ProjectConfig::parse(&written).unwrap().thresholds.confidence, 0.25);
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut config = ProjectConfig::parse(MINIMAL).unwrap();
        config
            .apply_env(|name| match name {
                "INFERX_DEVICE" => Some("cuda:1".into()),
                "INFERX_CONFIDENCE" => Some("0.5".into()),
                _ => None,
            })
            .unwrap();
        assert_eq!(config.device.preferred, Device::Cuda(1));
        assert_eq!(config.thresholds.confidence, 0.5);
        let error = config.apply_env(|name| (name == "INFERX_IOU").then(|| "lots".into())).unwrap_err();
        assert!(error.to_string().contains("INFERX_IOU"), "{error}");
    }

    #[test]
    fn the_device_section_and_its_variables_become_the_providers_options() {
        use crate::session::providers::{cuda_options, tensorrt_options, ArenaStrategy};
        let yaml = format!(
            "{MINIMAL}device:\n  use: tensorrt:1\n  tensorrt:\n    fp16: true\n    workspace_mb: 1024\n    builder_optimization_level: 5\n  cuda:\n    memory_limit_mb: 2048\n    arena_strategy: same_as_requested\n"
        );
        let mut config = ProjectConfig::parse(&yaml).unwrap();
        config
            .apply_env(|name| match name {
                "INFERX_TRT_MAX_BATCH" => Some("16".into()),
                "INFERX_CUDA_GRAPH" => Some("true".into()),
                "INFERX_TRT_CACHE_DIR" => Some("cache/engines".into()),
                _ => None,
            })
            .unwrap();
        config.check().unwrap();
        let options = config.pipeline_options(Path::new("/srv/app")).unwrap().session;
        assert_eq!(options.device, Device::TensorRt(1));
        assert_eq!(options.tensorrt_cache.as_deref(), Some(Path::new("/srv/app/cache/engines")));
        assert_eq!(
            tensorrt_options(1, &options.tensorrt, None, None),
            [
                ("device_id", "1"),
                ("trt_fp16_enable", "1"),
                ("trt_builder_optimization_level", "5"),
                ("trt_max_workspace_size", "1073741824")
            ]
            .map(|(key, value)| (key, value.to_string()))
        );
        assert_eq!(options.tensorrt.max_batch, 16, "INFERX_TRT_MAX_BATCH");
        assert_eq!(options.cuda.arena_strategy, ArenaStrategy::SameAsRequested);
        let cuda = cuda_options(1, &options.cuda);
        assert!(cuda.contains(&("gpu_mem_limit", (2048u64 << 20).to_string())), "{cuda:?}");
        assert!(cuda.contains(&("enable_cuda_graph", "1".to_string())), "INFERX_CUDA_GRAPH: {cuda:?}");

        // The cache can be turned off, and a bad value names its variable.
        config.apply_env(|name| (name == "INFERX_TRT_ENGINE_CACHE").then(|| "0".into())).unwrap();
        assert_eq!(config.pipeline_options(Path::new("/srv/app")).unwrap().session.tensorrt_cache, None);
        let error = config.apply_env(|name| (name == "INFERX_TRT_FP16").then(|| "maybe".into())).unwrap_err();
        assert!(error.to_string().contains("INFERX_TRT_FP16=\"maybe\" must be 1 or 0"), "{error}");
        // The old one-line form means the defaults: the engine cache on, in the project.
        let old = ProjectConfig::parse(&format!("{MINIMAL}device: tensorrt\n")).unwrap();
        let session = old.pipeline_options(Path::new("/srv/app")).unwrap().session;
        assert_eq!(session.tensorrt_cache.as_deref(), Some(Path::new("/srv/app/.inferx/trt-cache")));
        assert!(!session.tensorrt.fp16);
    }

    #[test]
    fn check_refuses_device_options_that_cannot_work_together_naming_the_key() {
        let refused = |yaml: &str| {
            let config = ProjectConfig::parse(&format!("{MINIMAL}{yaml}")).unwrap();
            config.check().unwrap_err().to_string()
        };
        let said = refused("server: {batching: {max_batch_size: 16}}\n");
        assert!(said.contains("device.tensorrt.max_batch (8) is below server.batching.max_batch_size (16)"), "{said}");
        let said = refused("device: {use: cuda, cuda: {cuda_graph: true}}\nserver: {batching: {max_batch_size: 4}}\n");
        assert!(said.contains("device.cuda.cuda_graph"), "{said}");
        let said = refused("device: {tensorrt: {cache_dir: /var/cache/trt}}\n");
        assert!(said.contains("device.tensorrt.cache_dir") && said.contains("inside the project"), "{said}");
        let said = refused("device: {tensorrt: {builder_optimization_level: 9}}\n");
        assert!(said.contains("device.tensorrt.builder_optimization_level"), "{said}");
        // Raising max_batch with the server's batches is the fix.
        let fixed = "server: {batching: {max_batch_size: 16}}\ndevice: {tensorrt: {max_batch: 16}}\n";
        ProjectConfig::parse(&format!("{MINIMAL}{fixed}")).unwrap().check().unwrap();
        let error = ProjectConfig::parse(&format!("{MINIMAL}device: {{use: cuda, tensorrt: {{fp61: true}}}}\n"))
            .unwrap_err()
            .to_string();
        assert!(error.contains("unknown field `fp61`") && error.contains("did you mean `fp16`?"), "{error}");
    }

    #[test]
    fn unknown_keys_and_bad_values_are_refused_with_the_field_named() {
        let error = ProjectConfig::parse(&format!("{MINIMAL}devcie: cpu\n")).unwrap_err();
        assert!(error.to_string().contains("unknown field `devcie`"), "{error}");
        assert!(error.to_string().contains("line 4 column 1"), "{error}");
        assert!(error.to_string().ends_with("did you mean `device`?"), "{error}");
        let error = ProjectConfig::parse(&format!("{MINIMAL}thresholds:\n  confidense: 0.3\n")).unwrap_err();
        assert!(error.to_string().contains("did you mean `confidence`?"), "{error}");
        let error = ProjectConfig::parse(&format!("{MINIMAL}zzz: 1\n")).unwrap_err();
        assert!(!error.to_string().contains("did you mean"), "no far-fetched hint: {error}");
        let error = ProjectConfig::parse(&format!("{MINIMAL}device: tpu\n")).unwrap_err();
        assert!(error.to_string().contains("unknown device `tpu`"), "{error}");
        let mut config = ProjectConfig::parse(MINIMAL).unwrap();
        config.thresholds.confidence = 1.5;
        let error = config.check().unwrap_err();
        assert!(error.to_string().contains("thresholds.confidence must be between 0 and 1"), "{error}");
        config.thresholds.confidence = 0.5;
        config.model.path = "../elsewhere/model.onnx".into();
        assert!(config.check().unwrap_err().to_string().contains("stay inside"));
    }

    #[test]
    fn the_tracking_section_takes_ultralytics_names_lines_and_zones_and_is_checked() {
        let yaml = format!(
            "{MINIMAL}tracking:\n  track_buffer: 60\n  new_track_thresh: 0.4\n  lines:\n    - {{name: door, start: [0, 100], end: [640, 100], anchors: [bottom_center]}}\n  zones:\n    - {{name: till, polygon: [[0, 0], [100, 0], [100, 100]]}}\n"
        );
        let config = ProjectConfig::parse(&yaml).unwrap();
        config.check().unwrap();
        let tracking = config.tracking.clone().unwrap();
        assert_eq!((tracking.track_buffer, tracking.new_track_thresh, tracking.match_thresh), (60, 0.4, 0.8));
        assert_eq!(tracking.lines[0].min_frames, 2);
        assert_eq!(tracking.zones[0].anchor, crate::tracking::Anchor::BottomCenter);
        assert!(ProjectConfig::parse(MINIMAL).unwrap().tracking.is_none(), "no section, no tracking");

        let error = ProjectConfig::parse(&format!("{MINIMAL}tracking:\n  track_bufer: 60\n")).unwrap_err();
        assert!(error.to_string().contains("did you mean `track_buffer`?"), "{error}");
        let mut bad = config.clone();
        let section = bad.tracking.as_mut().unwrap();
        section.match_thresh = 1.5;
        section.lines[0].end = section.lines[0].start;
        section.zones[0].polygon.pop();
        section.zones[0].name = "door".into();
        let error = bad.check().unwrap_err().to_string();
        for expected in [
            "tracking.match_thresh is 1.5: use a value between 0 and 1",
            "tracking.lines[0]: start and end are the same point",
            "tracking.zones[0].polygon has 2 points: a zone needs at least 3",
            "tracking.zones[0].name `door` is used twice",
        ] {
            assert!(error.contains(expected), "{expected:?} in {error}");
        }
        let mut classifier = config;
        classifier.task = TaskKind::Classification;
        assert!(classifier.check().unwrap_err().to_string().contains("needs task: detection"));
    }

    #[test]
    #[cfg(unix)]
    fn every_path_a_config_names_stays_inside_the_project() {
        let base =
            ProjectConfig::parse("inferx: {version: 0.1.0, template: yolo}\nmodel: {path: m.onnx}\ntask: detection\n")
                .unwrap();
        for (key, bad) in [
            ("labels_file", "../labels.txt"),
            ("labels_file", "/etc/passwd"),
            ("server.auth.api_keys_file", "/run/keys"),
        ] {
            let mut config = base.clone();
            match key {
                "labels_file" => config.labels_file = Some(bad.to_string()),
                _ => config.server.auth.api_keys_file = Some(bad.to_string()),
            }
            let message = config.check().unwrap_err().to_string();
            assert!(message.contains(&format!("{key} `{bad}` must be relative to the project")), "{message}");
        }
        for bad in ["models/../../m.onnx", "", "models\\..\\m.onnx"] {
            let mut config = base.clone();
            config.model.path = bad.to_string();
            assert!(config.check().is_err(), "{bad:?}");
        }

        // A symlink inside the project is fine; one that leads out of it is refused.
        let root = tempfile::tempdir().unwrap();
        let project = root.path().join("app");
        std::fs::create_dir_all(project.join("models")).unwrap();
        std::fs::write(project.join("models/real.onnx"), b"x").unwrap();
        std::fs::write(root.path().join("outside.onnx"), b"x").unwrap();
        std::os::unix::fs::symlink(project.join("models/real.onnx"), project.join("models/inside.onnx")).unwrap();
        std::os::unix::fs::symlink(root.path().join("outside.onnx"), project.join("models/outside.onnx")).unwrap();
        assert!(project_file(&project, "model.path", "models/inside.onnx").is_ok());
        let message = project_file(&project, "model.path", "models/missing.onnx").unwrap_err().to_string();
        assert!(message.contains("model.path `models/missing.onnx` is not there"), "missing is refused: {message}");
        let message = project_file(&project, "model.path", "models/outside.onnx").unwrap_err().to_string();
        assert!(message.contains("model.path `models/outside.onnx` leads outside the project"), "{message}");
        // A bare config file name: its project is the current folder, never an unchecked path.
        let config = ProjectConfig::parse(MINIMAL).unwrap();
        let message = config.model_path(crate::project_files::project_dir(Path::new("inferx.yaml"))).unwrap_err();
        assert!(message.to_string().contains("model.path `models/model.onnx` is not there"), "{message}");
    }

    #[test]
    fn streams_of_inferx_yaml_are_checked_with_the_rest_of_the_config() {
        let project = "inferx: {version: 0.1.0, template: yolo}\nmodel: {path: models/m.onnx}\ntask: detection\n";
        let good = format!(
            "{project}server:\n  streams:\n    allow_sources: [rtsp://cam.local:8554]\n    start:\n      - name: door\n        source: rtsp://user:secret@cam.local:8554/live\n        zones: [{{name: all, polygon: [[0, 0], [9, 0], [9, 9]]}}]\n"
        );
        let config = ProjectConfig::parse(&good).unwrap();
        config.check().unwrap();
        let door = &config.server.streams.start[0];
        assert!(door.tracked(), "zones turn tracking on");
        assert_eq!(door.tracking(None).zones.len(), 1);
        assert!(config.server.streams.allows("rtsp://cam.local:8554/other"));

        let twice =
            good.replace("    start:\n", "    max: 1\n    start:\n      - {name: door, source: rtsp://cam.local/x}\n");
        let error = ProjectConfig::parse(&twice).unwrap().check().unwrap_err().to_string();
        assert!(error.contains("server.streams.start has 2 streams but server.streams.max is 1"), "{error}");
        assert!(error.contains("server.streams.start[1].name `door` is used twice"), "{error}");
        assert!(!error.contains("secret"), "{error}");

        let misspelt = good.replace("allow_sources", "allowed_sources");
        let error = ProjectConfig::parse(&misspelt).unwrap_err().to_string();
        assert!(error.contains("allowed_sources") && error.contains("allow_sources"), "{error}");
    }
}
