//! The shared state of a server: the loaded model, the worker pool, metrics, keys and limits.

use std::{
    path::Path,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use serde::Serialize;

use super::{
    error::Detail,
    input::{BatchInput, ImageInput},
    metrics::Metrics,
    runner::{FrameLane, FrameLoop, ImageReply, Job, Reply, Runner, RunnerOptions},
    security::{ApiKeys, Limiter},
    ApiError,
};
use crate::{
    config::ServerConfig,
    library::SystemProbe,
    session::plan::{Hardware, SessionPlan, Workload},
    tensor::{InputTensor, OutputTensor},
    tracking::TrackingConfig,
    Error, Pipeline, Prediction, ProjectConfig, Result,
};

/// Who is serving: the project's name and version, shown in `/model/info` and used as the
/// Open Inference Protocol model name unless `server.model_name` is set.
#[derive(Debug, Clone, Default)]
pub struct ServeOptions {
    /// Project (crate) name.
    pub project_name: String,
    /// Project version.
    pub project_version: String,
    /// Overrides `server.host` (a command-line flag).
    pub host: Option<String>,
    /// Overrides `server.port`.
    pub port: Option<u16>,
    /// Overrides `server.workers`.
    pub workers: Option<usize>,
}

impl ServeOptions {
    /// `config` with these options over its `server:` section, checked.
    fn apply(&self, mut config: ProjectConfig) -> Result<ProjectConfig> {
        if let Some(host) = &self.host {
            config.server.host = host.clone();
        }
        if let Some(port) = self.port {
            config.server.port = port;
        }
        if let Some(workers) = self.workers {
            config.server.workers = workers;
        }
        config.check()?;
        Ok(config)
    }

    /// The project's `inferx.yaml` (with `INFERX_*` environment overrides) with these options
    /// over it, checked; a settings error names the file.
    pub(crate) fn load_config(&self, config_file: &Path) -> Result<ProjectConfig> {
        ProjectConfig::load(config_file).and_then(|config| self.apply(config)).map_err(naming(config_file))
    }
}

/// Names `config_file` in a settings error that does not name its file yet.
fn naming(config_file: &Path) -> impl Fn(Error) -> Error + '_ {
    move |error| match error {
        Error::Config { path: None, reason } => Error::Config { path: Some(config_file.to_path_buf()), reason },
        other => other,
    }
}

/// The model sessions a server runs on.
pub(crate) struct Sessions {
    /// Sessions the workers share round-robin under load.
    pub shared: Vec<Arc<Pipeline>>,
    /// A session using every core, for requests that arrive alone (when the shared sessions
    /// split the cores between them).
    pub solo: Option<Arc<Pipeline>>,
}

/// The server's state, cheap to clone (an `Arc`). Handlers get it with `State<AppState>`.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    pipeline: Arc<Pipeline>,
    sessions: usize,
    solo_session: bool,
    runner: Runner,
    metrics: Arc<Metrics>,
    config: ServerConfig,
    keys: ApiKeys,
    limiter: Option<Limiter>,
    model_name: String,
    project_name: String,
    project_version: String,
    ready: AtomicBool,
    load_time: Duration,
    #[cfg(feature = "video")]
    streams: super::stream_registry::Registry,
    /// The uploaded clips in progress, stopped at shutdown.
    #[cfg(feature = "video")]
    clips: super::video_upload::ClipStops,
    /// The project's `tracking:` settings (defaults without the section), for uploaded clips
    /// and streams that ask for tracking.
    tracking: TrackingConfig,
}

/// One entry of a batch answer: a prediction or that image's own error.
#[derive(Debug, Serialize)]
pub struct BatchEntry<'a> {
    /// Position in the request.
    pub index: usize,
    /// The prediction, when the image could be used.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prediction: Option<&'a Prediction>,
    /// Why it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<Detail<'a>>,
}

impl AppState {
    /// Loads the project's `inferx.yaml` (with `INFERX_*` environment overrides and then
    /// `options`), loads and warms the model, and starts the workers. Blocking: call it from
    /// `spawn_blocking` or before starting the async runtime.
    pub fn load(config_file: &Path, options: &ServeOptions) -> Result<AppState> {
        let config = options.load_config(config_file)?;
        let project_dir = crate::project_files::project_dir(config_file);
        AppState::start(config, project_dir, options).map_err(naming(config_file))
    }

    /// [`AppState::load`] from a config already in memory (built in code, say), its relative
    /// paths taken from `project_dir`. Blocking, like `load`.
    pub fn from_config(config: ProjectConfig, project_dir: &Path, options: &ServeOptions) -> Result<AppState> {
        AppState::start(options.apply(config)?, project_dir, options)
    }

    /// Loads the sessions of `config` (with the options already over it) and starts the workers.
    fn start(config: ProjectConfig, project_dir: &Path, options: &ServeOptions) -> Result<AppState> {
        let started = Instant::now();
        let server = config.server.clone();
        let mut pipeline_options = config.pipeline_options(project_dir)?;
        let model_path = config.model_path(project_dir)?;
        let model_bytes = std::fs::metadata(&model_path).map_or(0, |metadata| metadata.len());
        // The library loads while the model is checked, once for every session; then the
        // machine can be probed for the plan.
        crate::pipeline::prepare_model(&model_path, &mut pipeline_options)?;
        let device = pipeline_options.session.device;
        let hardware = Hardware::new(device, &SystemProbe::for_sessions(), Hardware::available_cores());
        let workload = Workload::Server { sessions: server.sessions, workers: server.worker_count(), model_bytes };
        let plan = SessionPlan::new(workload, hardware, pipeline_options.session.intra_threads);
        pipeline_options.session.intra_threads = plan.threads;
        // Sessions side by side share the cores instead of each taking all of them, which is
        // best under load; a request that arrives alone runs on one more session that has
        // every core, which is best for its latency.
        let solo = match plan.solo_threads {
            Some(threads) => {
                let mut solo_options = pipeline_options.clone();
                solo_options.session.intra_threads = threads;
                // Its threads then leave the cores between requests, and the next lone one is
                // preprocessed on a second core while it is decoded.
                solo_options.session.stop_spinning_after_run = true;
                Some(Arc::new(Pipeline::load(&model_path, solo_options)?))
            }
            None => None,
        };
        let pipelines = (0..plan.sessions)
            .map(|_| Pipeline::load(&model_path, pipeline_options.clone()).map(Arc::new))
            .collect::<Result<Vec<_>>>()?;
        let keys = ApiKeys::load(&server.auth, project_dir, |name| std::env::var(name).ok())?;
        let state = AppState::new(Sessions { shared: pipelines, solo }, server, keys, options, started)?;
        Ok(state.with_tracking(config.tracking.unwrap_or_default()))
    }

    /// Builds the state from loaded sessions: checks the server settings against the model,
    /// warms every session up and starts the workers.
    pub(crate) fn new(
        sessions: Sessions,
        config: ServerConfig,
        keys: ApiKeys,
        options: &ServeOptions,
        started: Instant,
    ) -> Result<AppState> {
        let Sessions { shared: pipelines, solo } = sessions;
        if !cfg!(feature = "video") && !config.streams.start.is_empty() {
            return Err(Error::config(
                "server.streams.start lists streams, but this server was built without video support: regenerate the project with video (inferx template ... --video) or remove them",
            ));
        }
        let first = pipelines.first().ok_or_else(|| Error::config("the server needs at least one session"))?;
        let memory_budget_bytes = config.memory_budget(first.limits());
        if config.batching.max_batch_size > 1 && !first.batches_dynamically() {
            return Err(Error::config(format!(
                "server.batching.max_batch_size is {}, but the model's batch axis is fixed (input {:?}); set it to 1",
                config.batching.max_batch_size,
                first.engine().input().shape
            )));
        }
        for pipeline in pipelines.iter().chain(&solo) {
            pipeline.warm_up()?;
        }
        let load_time = started.elapsed();
        let metrics = Arc::new(Metrics::new());
        let pipeline = pipelines[0].clone();
        let sessions = pipelines.len();
        let solo_session = solo.is_some();
        let info = pipeline.info();
        metrics.model_load.set(load_time.as_secs_f64());
        metrics.set_build_info(crate::VERSION, &info.onnxruntime, &info.task.to_string(), &info.device);
        let runner = Runner::start(
            pipelines,
            solo,
            RunnerOptions {
                workers: config.worker_count(),
                max_queue: config.max_queue,
                max_batch: config.batching.max_batch_size,
                max_wait: Duration::from_millis(config.batching.max_wait_ms),
                memory_budget_bytes,
                upload_places: config.video.max_uploads,
                stream_places: config.streams.max,
                frame_timeout: Duration::from_millis(config.request_timeout_ms),
            },
            metrics.clone(),
        )
        .map_err(|error| Error::config(format!("could not start the inference workers: {error}")))?;
        let model_name =
            if config.model_name.is_empty() { options.project_name.clone() } else { config.model_name.clone() };
        #[cfg(feature = "video")]
        let streams = super::stream_registry::Registry::new(config.streams.clone());
        Ok(AppState {
            inner: Arc::new(Inner {
                pipeline,
                sessions,
                solo_session,
                runner,
                metrics,
                limiter: Limiter::new(&config.rate_limit),
                config,
                keys,
                model_name,
                project_name: options.project_name.clone(),
                project_version: options.project_version.clone(),
                ready: AtomicBool::new(true),
                load_time,
                #[cfg(feature = "video")]
                streams,
                #[cfg(feature = "video")]
                clips: Default::default(),
                tracking: TrackingConfig::default(),
            }),
        })
    }

    /// This state with `tracking` as the project's `tracking:` settings; before it is shared
    /// (a clone made earlier keeps the settings it had).
    pub(crate) fn with_tracking(mut self, tracking: TrackingConfig) -> AppState {
        if let Some(inner) = Arc::get_mut(&mut self.inner) {
            inner.tracking = tracking;
        }
        self
    }

    /// The project's `tracking:` settings (defaults without the section).
    pub fn tracking(&self) -> &TrackingConfig {
        &self.inner.tracking
    }

    /// The server settings in force.
    pub fn config(&self) -> &ServerConfig {
        &self.inner.config
    }

    /// The model (the first session when there are several).
    pub fn pipeline(&self) -> &Pipeline {
        &self.inner.pipeline
    }

    /// Sessions the workers share.
    pub fn sessions(&self) -> usize {
        self.inner.sessions
    }

    /// Whether a request that arrives alone runs on a session of its own using every core.
    pub fn solo_session(&self) -> bool {
        self.inner.solo_session
    }

    /// The Open Inference Protocol model name.
    pub fn model_name(&self) -> &str {
        &self.inner.model_name
    }

    /// The project's name and version.
    pub fn project(&self) -> (&str, &str) {
        (&self.inner.project_name, &self.inner.project_version)
    }

    /// Model load and warm-up time.
    pub fn load_time(&self) -> Duration {
        self.inner.load_time
    }

    /// Whether the server takes traffic: loaded, warmed, and not draining.
    pub fn is_ready(&self) -> bool {
        self.inner.ready.load(Ordering::SeqCst)
    }

    /// Marks the server as draining: `/ready` answers 503 from now on.
    pub fn begin_drain(&self) {
        self.inner.ready.store(false, Ordering::SeqCst);
    }

    /// Requests that may still be admitted (running or queued) before the next is shed.
    #[cfg(test)]
    pub(crate) fn places_left(&self) -> usize {
        self.inner.runner.places_left()
    }

    pub(crate) fn metrics(&self) -> &Metrics {
        &self.inner.metrics
    }

    /// The uploaded clips in progress (`POST /predict/video`).
    #[cfg(feature = "video")]
    pub(crate) fn clips(&self) -> &super::video_upload::ClipStops {
        &self.inner.clips
    }

    /// The streams of `/streams`.
    #[cfg(feature = "video")]
    pub(crate) fn streams(&self) -> &super::stream_registry::Registry {
        &self.inner.streams
    }

    pub(crate) fn keys(&self) -> &ApiKeys {
        &self.inner.keys
    }

    pub(crate) fn limiter(&self) -> Option<&Limiter> {
        self.inner.limiter.as_ref()
    }

    /// Queues the job `make` builds and waits for its result within `server.request_timeout_ms`.
    async fn run<T>(&self, make: impl FnOnce(Reply<T>) -> Job) -> Result<T, ApiError> {
        let deadline = Duration::from_millis(self.inner.config.request_timeout_ms);
        self.inner.runner.run(deadline, make).await
    }

    /// Decodes and predicts one image on a worker thread.
    pub async fn predict(&self, image: ImageInput) -> Result<Prediction, ApiError> {
        self.run(|reply| Job::Image { image: image.bytes, reply: ImageReply::Prediction(reply) }).await
    }

    /// Predicts one image and draws the result on it: the prediction and a PNG.
    pub async fn predict_annotated(&self, image: ImageInput) -> Result<(Prediction, Vec<u8>), ApiError> {
        self.run(|reply| Job::Image { image: image.bytes, reply: ImageReply::Annotated(reply) }).await
    }

    /// A lane for one frame loop of `kind` (an uploaded clip, a stream) to the workers, to
    /// pass to [`sequence::detect_stream`](crate::sequence::detect_stream) and the like; `None`
    /// when the places of that kind (`server.video.max_uploads`, `server.streams.max`) are
    /// taken (answer 503).
    ///
    /// How loops and requests share the workers: a loop holds one frame place for its life and
    /// at most one frame in flight; frame places are outside the `workers + max_queue` places
    /// of requests, so `/predict` is never refused because of loops; requests go before queued
    /// frames, and a frame that has waited 500 ms goes first, so neither starves; a frame is
    /// charged to the memory budget like a request, and waits (up to
    /// `server.request_timeout_ms`) rather than take budget ahead of a request.
    pub fn frame_lane(&self, kind: FrameLoop) -> Option<FrameLane> {
        self.inner.runner.frame_lane(kind)
    }

    /// Runs the model on raw tensors on a worker thread (Open Inference Protocol).
    pub(crate) async fn run_tensors(&self, inputs: Vec<InputTensor>) -> Result<Vec<OutputTensor>, ApiError> {
        self.run(|reply| Job::Tensors { inputs, reply }).await
    }

    /// Predicts every image of a batch concurrently (so dynamic batching can group them);
    /// results keep the request's order, and each unusable image gets its own error.
    pub async fn predict_batch(&self, batch: BatchInput) -> BatchResults {
        let mut tasks = tokio::task::JoinSet::new();
        let count = batch.images.len();
        let request_id = super::error::current_request_id().unwrap_or_default();
        for (index, image) in batch.images.into_iter().enumerate() {
            let state = self.clone();
            // The request's id goes with each image, for the log lines of its errors.
            let predict = super::error::REQUEST_ID_SCOPE
                .scope(request_id.clone(), async move { (index, async { state.predict(image?).await }.await) });
            tasks.spawn(predict);
        }
        let mut results: Vec<Option<Result<Prediction, ApiError>>> = (0..count).map(|_| None).collect();
        while let Some(joined) = tasks.join_next().await {
            if let Ok((index, result)) = joined {
                results[index] = Some(result);
            }
        }
        BatchResults {
            results: results
                .into_iter()
                .map(|result| result.unwrap_or_else(|| Err(ApiError::internal("the request task failed"))))
                .collect(),
        }
    }
}

/// The results of a batch, in request order. As a response: `200` with
/// `{"results": [{"index": 0, "prediction": {...}}, {"index": 1, "error": {...}}]}`.
#[derive(Debug)]
pub struct BatchResults {
    /// One result per image.
    pub results: Vec<Result<Prediction, ApiError>>,
}

impl BatchResults {
    /// The JSON entries.
    pub fn entries(&self) -> Vec<BatchEntry<'_>> {
        self.results
            .iter()
            .enumerate()
            .map(|(index, result)| match result {
                Ok(prediction) => BatchEntry { index, prediction: Some(prediction), error: None },
                Err(error) => BatchEntry { index, prediction: None, error: Some(error.detail()) },
            })
            .collect()
    }
}

/// The JSON body of a batch's answer: written straight from the predictions, so each entry's
/// prediction is the same text as `/predict` gives for it (a `serde_json::Value` would widen
/// its `f32`s and sort its keys).
#[derive(Serialize)]
struct BatchBody<'a> {
    results: Vec<BatchEntry<'a>>,
}

impl axum::response::IntoResponse for BatchResults {
    fn into_response(self) -> axum::response::Response {
        axum::Json(BatchBody { results: self.entries() }).into_response()
    }
}
