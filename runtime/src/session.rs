//! The ONNX Runtime session with explicit provider fallback.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
    time::{Duration, Instant},
};

use ort::{
    ep::{self, ExecutionProvider},
    session::{
        builder::{GraphOptimizationLevel, SessionBuilder},
        Session,
    },
    value::TensorRef,
};
use serde::Serialize;

use crate::{
    device::{Device, HardwareProbe, Provider, ProviderChain, SystemProbe},
    graph_cache, library,
    model_info::{ModelInfo, TensorInfo},
    Error, Result,
};

/// How a session is created.
#[derive(Debug, Clone, Default)]
pub struct SessionOptions {
    /// The device asked for; `INFERX_DEVICE` is applied by the config layer, not here.
    pub device: Device,
    /// Fail instead of falling back when the requested device cannot be used.
    pub strict_device: bool,
    /// Threads inside one operator (0 = ONNX Runtime's default: one per physical core).
    pub intra_threads: usize,
    /// Threads across operators (0 = default).
    pub inter_threads: usize,
    /// An explicit ONNX Runtime library, bypassing the search.
    pub library: Option<PathBuf>,
    /// A folder where CPU sessions keep ONNX Runtime's optimised graph between starts (see
    /// [`GraphCache`]); `None` optimises the model at every start.
    pub optimized_cache: Option<PathBuf>,
    /// The model's sha256 when the caller already knows it (a verified `model.sha256`), so the
    /// cache does not hash the file again.
    pub model_sha256: Option<String>,
    /// Leave a cached graph's weights in the memory-mapped cache file instead of copying them
    /// into the session: creation is faster (YOLOv8n: 11.9 → 9.6 ms in `cargo bench --bench
    /// cold_start`), but every run is slower (about 4 % on one thread, 2 % on two), the weights
    /// being read from page-cache pages at the file's alignment. For sessions that run a few
    /// times, such as `inferx run` on a few files; servers and folders leave it off.
    pub map_cached_weights: bool,
    /// Symbolic input dimensions fixed before the session is created, by name (`height` →
    /// 640). ONNX Runtime then plans the memory of every intermediate tensor for concrete
    /// shapes instead of comparing symbolic ones, which for YOLOv8n and PP-OCR was most of the
    /// session's creation (see [`Pipeline::load`](crate::Pipeline::load), which fixes the
    /// height and width its preprocessing always produces). Inputs of other sizes are then
    /// refused by ONNX Runtime. `None` lets [`Pipeline::load`](crate::Pipeline::load) decide;
    /// [`Engine`] itself treats it as none.
    pub dimension_overrides: Option<Vec<(String, i64)>>,
    /// Let ONNX Runtime's intra-op threads sleep as soon as a run ends
    /// (`session.force_spinning_stop`) instead of busy-waiting for the next one, which keeps a
    /// core spinning well after the run. For a session that runs now and then while other work
    /// wants every core in between: the server's lone-request session, whose next request is
    /// preprocessed on a second core while it is decoded
    /// ([`Pipeline::predict_bytes_overlapped`](crate::Pipeline::predict_bytes_overlapped)).
    /// Runs take the same time either way (measured on that session).
    pub stop_spinning_after_run: bool,
}

impl SessionOptions {
    /// The overrides in force, sorted by name (what the cache key is made of).
    fn overrides(&self) -> Vec<(String, i64)> {
        let mut overrides = self.dimension_overrides.clone().unwrap_or_default();
        overrides.sort();
        overrides
    }
}

/// What the optimised-graph cache did when a session was created.
///
/// Creating a CPU session runs ONNX Runtime's graph optimisations, a large share of its
/// start-up. With [`SessionOptions::optimized_cache`] set, the first start saves the optimised
/// graph (ORT format, named by the model's sha256, the ONNX Runtime version and the CPU class)
/// and later starts load it with the optimisations off. A cached graph that fails to load is
/// removed and rebuilt; a folder that cannot be written means no cache. Neither is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GraphCache {
    /// No cache: none asked for, a GPU provider, or a folder that cannot be written.
    Off,
    /// The model was optimised and its graph saved for the next start.
    Saved,
    /// The saved graph was loaded; the optimisations were skipped.
    Loaded,
}

/// A provider that was skipped on the way down the chain.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Fallback {
    /// The device that could not be used.
    pub device: String,
    /// Why.
    pub reason: String,
}

/// A loaded model: the session, its tensor signature and the provider actually in use.
/// `Send + Sync`: runs are serialised on the session, which parallelises inside each run.
///
/// [`Engine::load`] is the device-selection entry point: it loads ONNX Runtime if needed,
/// probes the machine, plans a [`ProviderChain`] for [`SessionOptions::device`] and creates
/// the session on the first provider that works (or fails at once with
/// [`Error::DeviceUnavailable`] when `strict_device` is set and an explicitly requested
/// device fails).
/// [`Pipeline`](crate::Pipeline) wraps an engine with pre- and postprocessing; use the
/// engine alone to run raw tensors.
///
/// ```no_run
/// use inferx_runtime::{Device, Engine, SessionOptions};
///
/// # fn main() -> inferx_runtime::Result<()> {
/// let options = SessionOptions { device: Device::Cuda(0), intra_threads: 4, ..Default::default() };
/// let engine = Engine::load("models/model.onnx", &options)?;
/// println!("planned {}, running on {}", engine.chain().describe(), engine.device());
/// for fallback in engine.fallbacks() {
///     println!("skipped {}: {}", fallback.device, fallback.reason);
/// }
///
/// let input = engine.input();
/// println!("input `{}` {:?}", input.name, input.shape);
/// let outputs = engine.run(&[1, 3, 224, 224], &vec![0.0; 3 * 224 * 224])?;
/// for output in &outputs {
///     println!("{} {:?}", output.name, output.shape);
/// }
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct Engine {
    session: Mutex<Session>,
    info: ModelInfo,
    device: Device,
    chain: ProviderChain,
    fallbacks: Vec<Fallback>,
    load_time: Duration,
    graph_cache: GraphCache,
}

/// A borrowed output tensor of one run.
#[derive(Debug)]
pub struct OutputView<'a> {
    /// Output name.
    pub name: &'a str,
    /// Concrete shape of this run's output.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: &'a [f32],
}

/// An owned copy of an output tensor.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct OutputTensor {
    /// Output name.
    pub name: String,
    /// Shape.
    pub shape: Vec<usize>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// A named f32 input for raw runs ([`Engine::run_tensors`]); the JSON shape of an Open
/// Inference Protocol tensor (`datatype` optional, `FP32` only).
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct InputTensor {
    /// Input name, as `inferx inspect` lists it.
    pub name: String,
    /// Concrete shape.
    pub shape: Vec<usize>,
    /// Element type; only `FP32` is accepted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub datatype: Option<String>,
    /// Row-major values.
    pub data: Vec<f32>,
}

/// Whether the loaded ONNX Runtime build contains a provider.
pub fn provider_in_build(provider: Provider) -> bool {
    let available = match provider {
        Provider::Cpu => return true,
        Provider::Cuda => ep::CUDA::is_available(),
        Provider::TensorRt => ep::TensorRT::is_available(),
        Provider::OpenVino => ep::OpenVINO::is_available(),
        Provider::CoreMl => ep::CoreML::is_available(),
        Provider::DirectMl => ep::DirectML::is_available(),
        Provider::Rocm => ep::ROCm::is_available(),
        Provider::WebGpu => ep::WebGPU::is_available(),
    };
    available.unwrap_or(false)
}

fn register(device: Device, builder: &mut ort::session::builder::SessionBuilder) -> ort::Result<()> {
    let id = device.device_id() as i32;
    match device {
        Device::Auto | Device::Cpu => Ok(()),
        Device::Cuda(_) => ep::CUDA::default().with_device_id(id).register(builder),
        Device::TensorRt(_) => ep::TensorRT::default().with_device_id(id).register(builder),
        Device::OpenVino => ep::OpenVINO::default().register(builder),
        Device::CoreMl => ep::CoreML::default().register(builder),
        Device::DirectMl(_) => ep::DirectML::default().with_device_id(id).register(builder),
        Device::Rocm(_) => ep::ROCm::default().with_device_id(id).register(builder),
        Device::WebGpu => ep::WebGPU::default().register(builder),
    }
}

impl Engine {
    /// Loads a model on the best device of the chain planned for `options.device`, probing the
    /// real machine.
    pub fn load(model: impl AsRef<Path>, options: &SessionOptions) -> Result<Engine> {
        if !model.as_ref().is_file() {
            return Err(Error::ModelNotFound(model.as_ref().to_path_buf()));
        }
        // The probe asks the loaded runtime which providers it has.
        library::ensure_initialized(options.library.as_deref())?;
        let probe = SystemProbe::for_sessions();
        Engine::load_with_probe(model, options, &probe)
    }

    /// Loads a model, planning the provider chain with the given probe.
    pub fn load_with_probe(
        model: impl AsRef<Path>,
        options: &SessionOptions,
        probe: &dyn HardwareProbe,
    ) -> Result<Engine> {
        let model = model.as_ref();
        if !model.is_file() {
            return Err(Error::ModelNotFound(model.to_path_buf()));
        }
        let runtime = library::ensure_initialized(options.library.as_deref())?;
        let started = Instant::now();
        let chain = ProviderChain::plan(options.device, probe);
        let mut fallbacks = Vec::new();
        for (position, entry) in chain.entries.iter().enumerate() {
            let is_last = position + 1 == chain.entries.len();
            match build_session(&runtime.environment, model, entry.device, options) {
                Ok((session, graph_cache)) => {
                    let info = ModelInfo::from_session(&session, model);
                    if !fallbacks.is_empty() {
                        tracing::info!(provider = %entry.device, "running on the fallback provider");
                    }
                    return Ok(Engine {
                        session: Mutex::new(session),
                        info,
                        device: entry.device,
                        chain,
                        fallbacks,
                        load_time: started.elapsed(),
                        graph_cache,
                    });
                }
                Err(BuildError::Model(reason)) => return Err(Error::ModelLoad { path: model.to_path_buf(), reason }),
                Err(BuildError::Provider(reason)) => {
                    let reason = if entry.usable || entry.reason.is_empty() {
                        reason
                    } else {
                        format!("{} ({reason})", entry.reason)
                    };
                    if options.strict_device && position == 0 && options.device != Device::Auto {
                        return Err(Error::DeviceUnavailable { device: entry.device.to_string(), reason });
                    }
                    if is_last {
                        return Err(Error::ModelLoad { path: model.to_path_buf(), reason });
                    }
                    tracing::warn!(
                        provider = %entry.device,
                        next = %chain.entries[position + 1].device,
                        "execution provider `{}` is not usable, falling back: {reason}",
                        entry.device
                    );
                    fallbacks.push(Fallback { device: entry.device.to_string(), reason });
                }
            }
        }
        Err(Error::DeviceUnavailable {
            device: options.device.to_string(),
            reason: "no provider in the chain".to_string(),
        })
    }

    /// Inputs, outputs and metadata of the model.
    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The device actually in use (after any fallback).
    pub fn device(&self) -> Device {
        self.device
    }

    /// The provider actually in use.
    pub fn provider(&self) -> Provider {
        self.device.provider().unwrap_or(Provider::Cpu)
    }

    /// The chain that was planned.
    pub fn chain(&self) -> &ProviderChain {
        &self.chain
    }

    /// Providers skipped before the one in use, with reasons.
    pub fn fallbacks(&self) -> &[Fallback] {
        &self.fallbacks
    }

    /// How long creating the session took.
    pub fn load_time(&self) -> Duration {
        self.load_time
    }

    /// Whether the session came from the optimised-graph cache.
    pub fn graph_cache(&self) -> GraphCache {
        self.graph_cache
    }

    /// The model's first input.
    pub fn input(&self) -> &TensorInfo {
        &self.info.inputs[0]
    }

    /// Runs the model on one f32 input tensor (`shape`, row-major `data`) and hands the f32
    /// outputs to `consume` without copying them.
    pub fn run_with<R>(
        &self,
        shape: &[usize],
        data: &[f32],
        consume: impl FnOnce(&[OutputView<'_>]) -> Result<R>,
    ) -> Result<R> {
        let tensor =
            TensorRef::from_array_view((shape.to_vec(), data)).map_err(|error| Error::Inference(error.to_string()))?;
        let mut session = self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let input_name = self.info.inputs[0].name.clone();
        let outputs = session
            .run(ort::inputs![input_name.as_str() => tensor])
            .map_err(|error| Error::Inference(error.to_string()))?;
        let mut views = Vec::with_capacity(self.info.outputs.len());
        for output in &self.info.outputs {
            let name = output.name.as_str();
            let value =
                outputs.get(name).ok_or_else(|| Error::Inference(format!("output `{name}` missing from the run")))?;
            let (shape, data) = value
                .try_extract_tensor::<f32>()
                .map_err(|error| Error::Inference(format!("output `{name}` is not an f32 tensor: {error}")))?;
            views.push(OutputView { name, shape: shape.iter().map(|&dim| dim.max(0) as usize).collect(), data });
        }
        consume(&views)
    }

    /// Runs the model on named raw inputs (every model input must be given) and returns owned
    /// copies of the f32 outputs.
    pub fn run_tensors(&self, inputs: &[InputTensor]) -> Result<Vec<OutputTensor>> {
        let bad = |reason: String| Error::Inference(reason);
        self.check_tensors(inputs)?;
        let mut values: Vec<(String, ort::session::SessionInputValue<'_>)> = Vec::with_capacity(inputs.len());
        for input in inputs {
            let tensor = TensorRef::from_array_view((input.shape.clone(), input.data.as_slice()))
                .map_err(|error| bad(error.to_string()))?;
            values.push((input.name.clone(), tensor.into()));
        }
        let mut session = self.session.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let outputs = session.run(values).map_err(|error| Error::Inference(error.to_string()))?;
        self.info
            .outputs
            .iter()
            .map(|output| {
                let value = outputs
                    .get(&output.name)
                    .ok_or_else(|| bad(format!("output `{}` missing from the run", output.name)))?;
                let (shape, data) = value
                    .try_extract_tensor::<f32>()
                    .map_err(|error| bad(format!("output `{}` is not an f32 tensor: {error}", output.name)))?;
                Ok(OutputTensor {
                    name: output.name.clone(),
                    shape: shape.iter().map(|&dim| dim.max(0) as usize).collect(),
                    data: data.to_vec(),
                })
            })
            .collect()
    }

    /// Whether `inputs` are what [`Self::run_tensors`] takes: every model input, by name, FP32,
    /// with as many values as its shape holds and the model's fixed dimensions; the error says
    /// which is not, in words meant for whoever sent them.
    pub fn check_tensors(&self, inputs: &[InputTensor]) -> Result<()> {
        let bad = |reason: String| Error::Inference(reason);
        let expected: Vec<&str> = self.info.inputs.iter().map(|input| input.name.as_str()).collect();
        for input in inputs {
            if !expected.contains(&input.name.as_str()) {
                return Err(bad(format!(
                    "the model has no input `{}`; its inputs are: {}",
                    input.name,
                    expected.join(", ")
                )));
            }
            if let Some(datatype) = input.datatype.as_deref().filter(|datatype| !datatype.eq_ignore_ascii_case("FP32"))
            {
                return Err(bad(format!("input `{}` has datatype {datatype}; only FP32 is supported", input.name)));
            }
            let elements: usize = input.shape.iter().product();
            if elements != input.data.len() {
                return Err(bad(format!(
                    "input `{}` has shape {:?} ({elements} values) but {} values",
                    input.name,
                    input.shape,
                    input.data.len()
                )));
            }
            let declared = self.info.inputs.iter().find(|info| info.name == input.name).map(|info| &info.shape);
            if let Some(declared) = declared {
                let fits = declared.len() == input.shape.len()
                    && declared.iter().zip(&input.shape).all(|(want, got)| *want < 0 || *want as usize == *got);
                if !fits {
                    return Err(bad(format!(
                        "input `{}` has shape {:?}, the model expects {declared:?} (-1 = any)",
                        input.name, input.shape
                    )));
                }
            }
        }
        if let Some(missing) = expected.iter().find(|name| !inputs.iter().any(|input| input.name == **name)) {
            return Err(bad(format!("input `{missing}` is missing")));
        }
        Ok(())
    }

    /// Runs the model and returns owned copies of the outputs.
    pub fn run(&self, shape: &[usize], data: &[f32]) -> Result<Vec<OutputTensor>> {
        self.run_with(shape, data, |views| {
            Ok(views
                .iter()
                .map(|view| OutputTensor {
                    name: view.name.to_string(),
                    shape: view.shape.clone(),
                    data: view.data.to_vec(),
                })
                .collect())
        })
    }
}

enum BuildError {
    /// The provider could not be registered or initialised: try the next one.
    Provider(String),
    /// The model itself is bad: no provider will help.
    Model(String),
}

/// A session builder with the options every session gets.
fn session_builder(
    environment: &ort::environment::Environment,
    options: &SessionOptions,
    level: GraphOptimizationLevel,
) -> Result<SessionBuilder, BuildError> {
    let setup = |error: ort::Error<_>| BuildError::Model(error.to_string());
    let mut builder = Session::builder(environment).map_err(|error| BuildError::Model(error.to_string()))?;
    builder = builder.with_optimization_level(level).map_err(setup)?;
    if options.stop_spinning_after_run {
        builder = builder.with_config_entry("session.force_spinning_stop", "1").map_err(setup)?;
    }
    if options.intra_threads > 0 {
        builder = builder.with_intra_threads(options.intra_threads).map_err(setup)?;
    }
    if options.inter_threads > 0 {
        builder = builder.with_inter_threads(options.inter_threads).map_err(setup)?;
    }
    for (name, size) in options.overrides() {
        builder = builder.with_dimension_override(&name, size).map_err(setup)?;
    }
    Ok(builder)
}

/// The cache file of this model's optimised graph, when the cache applies.
fn graph_cache_entry(model: &Path, device: Device, options: &SessionOptions) -> Option<PathBuf> {
    let dir = options.optimized_cache.as_ref().filter(|_| device == Device::Cpu)?;
    let sha256 = match &options.model_sha256 {
        Some(known) => known.trim().to_ascii_lowercase(),
        None => graph_cache::model_sha256(model)?,
    };
    let version = library::loaded().map_or(crate::ORT_VERSION, |runtime| runtime.version.as_str());
    Some(graph_cache::entry(dir, &sha256, version, &options.overrides()))
}

fn build_session(
    environment: &ort::environment::Environment,
    model: &Path,
    device: Device,
    options: &SessionOptions,
) -> Result<(Session, GraphCache), BuildError> {
    let setup = |error: ort::Error<_>| BuildError::Model(error.to_string());
    let cache = graph_cache_entry(model, device, options);
    if let Some(entry) = cache.as_deref().filter(|entry| entry.is_file()) {
        // ONNX Runtime maps the cached graph instead of reading it, and with
        // `map_cached_weights` points the weights into the mapping instead of copying them.
        // Safe because a cache entry is never written in place: it is published by a rename.
        let mut builder = session_builder(environment, options, GraphOptimizationLevel::Disable)?
            .with_config_entry("session.use_memory_mapped_ort_model", "1")
            .map_err(setup)?;
        if options.map_cached_weights {
            builder = builder.with_config_entry("session.use_ort_model_bytes_for_initializers", "1").map_err(setup)?;
        }
        let loaded = builder.commit_from_file(entry);
        match loaded {
            Ok(session) => return Ok((session, GraphCache::Loaded)),
            Err(error) => {
                tracing::warn!(
                    "the optimised graph {} did not load ({error}); optimising {} again",
                    entry.display(),
                    model.display()
                );
                let _ = std::fs::remove_file(entry);
            }
        }
    }
    let mut builder = session_builder(environment, options, GraphOptimizationLevel::Level3)?;
    let staging = cache.as_deref().and_then(graph_cache::Staging::for_entry);
    if let Some(staging) = &staging {
        // ONNX Runtime warns that a graph saved with the CPU's blocked layouts suits only this
        // kind of machine, which the cache file's name already ensures.
        builder = builder.with_log_level(ort::logging::LogLevel::Error).map_err(setup)?;
        builder = builder.with_optimized_model_path(staging.path()).map_err(setup)?;
    }
    if device != Device::Cpu {
        // Registered one by one, each with an error we see: ort's own list would fall back silently.
        register(device, &mut builder).map_err(|error| BuildError::Provider(error.to_string()))?;
    }
    let session = builder.commit_from_file(model).map_err(|error| {
        let message = error.to_string();
        if device == Device::Cpu {
            BuildError::Model(message)
        } else {
            BuildError::Provider(message)
        }
    });
    // An unpublished staging file is removed when dropped.
    let saved = match (staging, &cache) {
        (Some(staging), Some(entry)) if session.is_ok() => staging.publish(entry),
        _ => false,
    };
    session.map(|session| (session, if saved { GraphCache::Saved } else { GraphCache::Off }))
}
