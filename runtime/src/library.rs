//! Finding and loading the ONNX Runtime shared library.
//!
//! The library is located in this order, first hit wins:
//! 1. `ORT_DYLIB_PATH` (a file, or a folder holding the library);
//! 2. beside the running executable, and its `lib/` folder;
//! 3. the project's `.inferx/lib/` (the current folder or any parent);
//! 4. the user cache, `<cache>/inferx/onnxruntime/<version>[-gpu|-openvino]/`
//!    (`INFERX_CACHE_DIR` overrides `<cache>/inferx`);
//! 5. an `onnxruntime` Python package in the active environment (`VIRTUAL_ENV`, `CONDA_PREFIX`).

use std::{
    fmt,
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock},
};

use serde::Serialize;

use ort::ep::{self, ExecutionProvider};

use crate::{
    device::{detect_gpus, Device, GpuInfo, HardwareProbe, Provider},
    Error, Result,
};

/// Where a library was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum LibrarySource {
    /// The `ORT_DYLIB_PATH` environment variable.
    Environment,
    /// Beside the executable or in its `lib/`.
    BesideExecutable,
    /// The project's `.inferx/lib/`.
    Project,
    /// The user cache filled by `inferx runtime install`.
    UserCache,
    /// An `onnxruntime` Python package.
    PythonPackage,
    /// A path given by the caller.
    Explicit,
}

impl fmt::Display for LibrarySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LibrarySource::Environment => "ORT_DYLIB_PATH",
            LibrarySource::BesideExecutable => "beside the executable",
            LibrarySource::Project => "project .inferx/lib",
            LibrarySource::UserCache => "user cache",
            LibrarySource::PythonPackage => "Python onnxruntime package",
            LibrarySource::Explicit => "explicit path",
        })
    }
}

/// A located library file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LibraryLocation {
    /// The shared library file.
    pub path: PathBuf,
    /// Where it was found.
    pub source: LibrarySource,
}

/// The file name of the ONNX Runtime library on this OS.
pub fn library_file_name() -> &'static str {
    for_this_os("onnxruntime.dll", "libonnxruntime.dylib", "libonnxruntime.so")
}

/// The name of the three that this OS uses: Windows's, macOS's, or the others' (Linux).
fn for_this_os(windows: &'static str, macos: &'static str, other: &'static str) -> &'static str {
    if cfg!(windows) {
        windows
    } else if cfg!(target_os = "macos") {
        macos
    } else {
        other
    }
}

/// Whether `name` is the main ONNX Runtime library (`libonnxruntime.so.1.31.1`,
/// `libonnxruntime.1.31.1.dylib`, `onnxruntime.dll`), not a provider plugin.
pub fn is_runtime_library_name(name: &str) -> bool {
    let Some(rest) = name.strip_prefix("libonnxruntime").or_else(|| name.strip_prefix("onnxruntime")) else {
        return false;
    };
    rest == ".so" || rest.starts_with(".so.") || rest == ".dll" || (rest.ends_with(".dylib") && !rest.contains('_'))
}

/// Where optimised graphs are kept between starts ([`SessionOptions::optimized_cache`](crate::SessionOptions::optimized_cache)):
/// `INFERX_GRAPH_CACHE` when it names a folder, none when it is `off` (or `0`, `false`),
/// else `<cache>/graphs`.
pub fn graph_cache_dir() -> Option<PathBuf> {
    match std::env::var_os("INFERX_GRAPH_CACHE") {
        Some(value) if ["off", "0", "false", "no"].iter().any(|off| value.eq_ignore_ascii_case(off)) => None,
        Some(value) if !value.is_empty() => Some(PathBuf::from(value)),
        _ => Some(cache_dir().join("graphs")),
    }
}

/// The InferX cache folder (`INFERX_CACHE_DIR`, else `<user cache>/inferx`).
pub fn cache_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("INFERX_CACHE_DIR").filter(|value| !value.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::cache_dir().unwrap_or_else(std::env::temp_dir).join("inferx")
}

/// Where `inferx runtime install` puts a version and flavor (`cpu`, `gpu`, `openvino`).
pub fn cache_install_dir(version: &str, flavor: &str) -> PathBuf {
    let folder = if flavor == "cpu" { version.to_string() } else { format!("{version}-{flavor}") };
    cache_dir().join("onnxruntime").join(folder)
}

/// The file name of ONNX Runtime's WebGPU plugin (`onnxruntime-ep-webgpu`) on this platform.
pub fn webgpu_plugin_file_name() -> &'static str {
    for_this_os(
        "onnxruntime_providers_webgpu.dll",
        "libonnxruntime_providers_webgpu.dylib",
        "libonnxruntime_providers_webgpu.so",
    )
}

/// Where `inferx runtime install --webgpu` puts a version of the WebGPU plugin.
pub fn webgpu_plugin_install_dir(version: &str) -> PathBuf {
    cache_dir().join("onnxruntime-ep-webgpu").join(version)
}

/// The variable naming the WebGPU plugin's library, ahead of the search.
pub const WEBGPU_PLUGIN_ENV: &str = "INFERX_WEBGPU_PLUGIN";

/// The WebGPU plugin's library: [`WEBGPU_PLUGIN_ENV`], else beside the loaded ONNX Runtime,
/// else the newest version `inferx runtime install --webgpu` installed; `None` when none is.
pub fn webgpu_plugin() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(WEBGPU_PLUGIN_ENV).filter(|value| !value.is_empty()) {
        return Some(PathBuf::from(path));
    }
    let beside = loaded()
        .and_then(|runtime| runtime.location.path.parent().map(|dir| dir.join(webgpu_plugin_file_name())))
        .filter(|path| path.is_file());
    beside.or_else(|| {
        let mut versions: Vec<PathBuf> = std::fs::read_dir(cache_dir().join("onnxruntime-ep-webgpu"))
            .ok()?
            .flatten()
            .map(|entry| entry.path().join(webgpu_plugin_file_name()))
            .filter(|path| path.is_file())
            .collect();
        versions.sort();
        versions.pop()
    })
}

/// Finds the runtime library file inside a folder.
pub fn find_in_dir(dir: &Path) -> Option<PathBuf> {
    let exact = dir.join(library_file_name());
    if exact.is_file() {
        return Some(exact);
    }
    let mut candidates: Vec<PathBuf> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.is_file() && path.file_name().and_then(|n| n.to_str()).is_some_and(is_runtime_library_name))
        .collect();
    // Prefer the most specific versioned name.
    candidates.sort();
    candidates.pop()
}

/// The ordered places searched, each with the folder (or file) to look in.
pub fn search_locations() -> Vec<(LibrarySource, PathBuf)> {
    let mut places = Vec::new();
    if let Some(value) = std::env::var_os("ORT_DYLIB_PATH").filter(|value| !value.is_empty()) {
        places.push((LibrarySource::Environment, PathBuf::from(value)));
    }
    if let Some(exe_dir) = std::env::current_exe().ok().and_then(|exe| exe.parent().map(Path::to_path_buf)) {
        places.push((LibrarySource::BesideExecutable, exe_dir.clone()));
        places.push((LibrarySource::BesideExecutable, exe_dir.join("lib")));
    }
    if let Ok(current) = std::env::current_dir() {
        for dir in current.ancestors() {
            let candidate = dir.join(".inferx").join("lib");
            if candidate.is_dir() {
                places.push((LibrarySource::Project, candidate));
                break;
            }
        }
        if !places.iter().any(|(source, _)| *source == LibrarySource::Project) {
            places.push((LibrarySource::Project, current.join(".inferx").join("lib")));
        }
    }
    // The pinned version first, in GPU, OpenVINO and CPU flavors, then any other installed.
    let runtime_cache = cache_dir().join("onnxruntime");
    for flavor in ["gpu", "openvino", "cpu"] {
        places.push((LibrarySource::UserCache, cache_install_dir(crate::ORT_VERSION, flavor)));
    }
    if let Ok(entries) = std::fs::read_dir(&runtime_cache) {
        let mut others: Vec<PathBuf> =
            entries.flatten().map(|entry| entry.path()).filter(|path| path.is_dir()).collect();
        others.sort();
        for dir in others.into_iter().rev() {
            if !places.iter().any(|(_, known)| *known == dir) {
                places.push((LibrarySource::UserCache, dir));
            }
        }
    }
    for prefix in ["VIRTUAL_ENV", "CONDA_PREFIX"].iter().filter_map(std::env::var_os) {
        for dir in python_package_dirs(Path::new(&prefix)) {
            places.push((LibrarySource::PythonPackage, dir));
        }
    }
    places
}

fn python_package_dirs(prefix: &Path) -> Vec<PathBuf> {
    let mut found = vec![prefix.join("Lib").join("site-packages").join("onnxruntime").join("capi")];
    if let Ok(entries) = std::fs::read_dir(prefix.join("lib")) {
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("python") {
                found.push(entry.path().join("site-packages").join("onnxruntime").join("capi"));
            }
        }
    }
    found
}

/// Locates the library without loading it.
pub fn locate() -> Result<LibraryLocation> {
    let places = search_locations();
    for (source, place) in &places {
        let hit = if place.is_file() {
            Some(place.clone())
        } else if place.is_dir() {
            find_in_dir(place)
        } else {
            None
        };
        if let Some(path) = hit {
            return Ok(LibraryLocation { path, source: *source });
        }
        if *source == LibrarySource::Environment {
            // An explicit setting that points nowhere is a mistake worth stopping on.
            return Err(Error::RuntimeLoad {
                path: place.clone(),
                reason: "ORT_DYLIB_PATH points to no ONNX Runtime library".to_string(),
            });
        }
    }
    let searched = places.iter().map(|(_, place)| place.display().to_string()).collect::<Vec<_>>().join(", ");
    Err(Error::RuntimeNotFound { searched })
}

/// The loaded runtime: the library and ONNX Runtime's global environment.
#[derive(Debug, Clone)]
pub struct LoadedRuntime {
    /// Where the library came from.
    pub location: LibraryLocation,
    /// ONNX Runtime's version string (`1.31.1`).
    pub version: String,
    /// The environment every session is created in.
    pub environment: ort::environment::Environment,
}

static RUNTIME: OnceLock<LoadedRuntime> = OnceLock::new();
static INIT_LOCK: Mutex<()> = Mutex::new(());

/// The runtime, if it has been loaded.
pub fn loaded() -> Option<&'static LoadedRuntime> {
    RUNTIME.get()
}

/// Loads ONNX Runtime once per process: from `explicit` when given, else from [`locate`].
/// [`Engine::load`](crate::Engine::load) calls it with
/// [`SessionOptions::library`](crate::SessionOptions::library); call it yourself to report the
/// runtime, or to load a particular library before any model.
///
/// ```no_run
/// use inferx_runtime::library;
///
/// # fn main() -> inferx_runtime::Result<()> {
/// let runtime = library::ensure_initialized(None)?;
/// println!("ONNX Runtime {} from {} ({})", runtime.version, runtime.location.path.display(), runtime.location.source);
/// println!("providers in this build: {:?}", library::available_providers());
/// # Ok(())
/// # }
/// ```
pub fn ensure_initialized(explicit: Option<&Path>) -> Result<&'static LoadedRuntime> {
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    let _guard = INIT_LOCK.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(runtime) = RUNTIME.get() {
        return Ok(runtime);
    }
    opt_out_of_telemetry();
    let location = match explicit {
        Some(path) => {
            let path = if path.is_dir() {
                find_in_dir(path).unwrap_or_else(|| path.join(library_file_name()))
            } else {
                path.to_path_buf()
            };
            LibraryLocation { path, source: LibrarySource::Explicit }
        }
        None => locate()?,
    };
    let runtime = load(location)?;
    Ok(RUNTIME.get_or_init(|| runtime))
}

/// Loads ONNX Runtime ([`ensure_initialized`]) on another thread while `work` runs on this
/// one, when it is not loaded yet: its tens of milliseconds of loading and initialising overlap
/// with reading a model. Otherwise, or when no thread can be started, one after the other.
pub(crate) fn load_while<T>(explicit: Option<&Path>, work: impl FnOnce() -> T) -> (Result<&'static LoadedRuntime>, T) {
    if let Some(runtime) = loaded() {
        return (Ok(runtime), work());
    }
    std::thread::scope(|scope| {
        let loading = std::thread::Builder::new()
            .name("inferx-load-ort".into())
            .spawn_scoped(scope, || ensure_initialized(explicit));
        let done = work();
        let runtime = match loading {
            Ok(loading) => loading.join().unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
            Err(_) => ensure_initialized(explicit),
        };
        (runtime, done)
    })
}

/// The variable with which ONNX Runtime's own telemetry is turned off for a process, on every
/// platform but Windows (where [`ort::environment::EnvironmentBuilder::with_telemetry`] does it).
pub const TELEMETRY_OPT_OUT_VARIABLE: &str = "ORT_DISABLE_TELEMETRY";

/// Turns ONNX Runtime's telemetry off for this process, unless [`TELEMETRY_OPT_OUT_VARIABLE`]
/// is set already, in which case the user's choice stands (`ORT_DISABLE_TELEMETRY=0` keeps
/// it on).
///
/// Since 1.31 the official Linux and macOS builds collect usage events too: they keep a device
/// id and an event store under `~/.cache/Microsoft/DeveloperTools/.onnxruntime/`, written at
/// start and at exit (with `fsync`), for upload to Microsoft. `with_telemetry(false)`, which
/// [`ensure_initialized`] also sets, only holds some events back; the variable stops all of it
/// (and takes about 6 ms off every start). The library reads it once, as it initialises.
///
/// [`ensure_initialized`] calls this before loading the library. Binaries call it first thing
/// in `main` as well, while they have one thread: setting a variable while another thread
/// reads the environment from C is unsound, and once the variable is set the later call only
/// reads it.
pub fn opt_out_of_telemetry() {
    if std::env::var_os(TELEMETRY_OPT_OUT_VARIABLE).is_none() {
        std::env::set_var(TELEMETRY_OPT_OUT_VARIABLE, "1");
    }
}

fn load(location: LibraryLocation) -> Result<LoadedRuntime> {
    let path = &location.path;
    if !path.is_file() {
        // Checked here: a missing library made older `ort` releases hang instead of failing.
        return Err(Error::RuntimeLoad { path: path.clone(), reason: "the file does not exist".to_string() });
    }
    let version = read_version(path)?;
    let minor: u32 = version.split('.').nth(1).and_then(|minor| minor.parse().ok()).unwrap_or(0);
    if minor < ort::MINOR_VERSION {
        return Err(Error::RuntimeLoad {
            path: path.clone(),
            reason: format!(
                "it is version {version}, older than the 1.{}.x this build needs (`inferx runtime install` fetches {})",
                ort::MINOR_VERSION,
                crate::ORT_VERSION
            ),
        });
    }
    let builder =
        ort::init_from(path).map_err(|error| Error::RuntimeLoad { path: path.clone(), reason: error.to_string() })?;
    let environment = builder
        .with_name("inferx")
        .with_telemetry(false)
        .build()
        .map_err(|error| Error::RuntimeLoad { path: path.clone(), reason: error.to_string() })?;
    tracing::debug!(path = %path.display(), %version, source = %location.source, "loaded ONNX Runtime");
    Ok(LoadedRuntime { location, version, environment })
}

/// Opens the library and reads its version string, without initialising `ort`.
pub fn read_version(path: &Path) -> Result<String> {
    let load_error = |reason: String| Error::RuntimeLoad { path: path.to_path_buf(), reason };
    // SAFETY: loading ONNX Runtime runs only its static initialisers, which are sound.
    let library = unsafe { libloading::Library::new(path) }.map_err(|error| load_error(error.to_string()))?;
    // SAFETY: `OrtGetApiBase` has this signature in every ONNX Runtime release.
    let get_api_base: libloading::Symbol<unsafe extern "C" fn() -> *const ort::sys::OrtApiBase> =
        unsafe { library.get(b"OrtGetApiBase") }
            .map_err(|_| load_error("it is not ONNX Runtime (no `OrtGetApiBase` symbol)".to_string()))?;
    // SAFETY: the function takes no arguments and returns a pointer to a static struct.
    let base = unsafe { get_api_base() };
    if base.is_null() {
        return Err(load_error("`OrtGetApiBase` returned nothing".to_string()));
    }
    // SAFETY: `base` is non-null and points to the library's static API base.
    let version = unsafe { std::ffi::CStr::from_ptr(((*base).GetVersionString)()) };
    let version = version.to_string_lossy().into_owned();
    // Keep the library mapped: ort opens the same file and must see the same handle.
    std::mem::forget(library);
    Ok(version)
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
        // Built in (`onnxruntime-webgpu`), or the plugin installed beside any build.
        Provider::WebGpu => return ep::WebGPU::is_available().unwrap_or(false) || webgpu_plugin().is_some(),
    };
    available.unwrap_or(false)
}

/// The real machine: providers from the loaded ONNX Runtime, GPUs from `wgpu` (feature
/// `gpu-detect`) or, without it, from the Linux PCI listing.
#[derive(Debug, Default)]
pub struct SystemProbe {
    ort_providers: Vec<String>,
    gpus: Vec<GpuInfo>,
}

impl SystemProbe {
    /// Probes the machine. Needs ONNX Runtime loaded ([`ensure_initialized`])
    /// for the provider list; without it the list holds only the CPU provider.
    pub fn detect() -> SystemProbe {
        SystemProbe { ort_providers: available_providers(), gpus: detect_gpus() }
    }

    /// Probes for session creation: GPUs are enumerated only when the loaded ONNX Runtime has a
    /// provider that needs one, so CPU-only builds start without touching graphics drivers.
    /// WebGPU does not count (`auto` never picks it): see [`SystemProbe::for_device`].
    pub fn for_sessions() -> SystemProbe {
        SystemProbe::for_device(Device::Auto)
    }

    /// [`SystemProbe::for_sessions`] for sessions asked to run on `device`: an installed WebGPU
    /// plugin makes GPUs be enumerated only for `webgpu` itself.
    pub fn for_device(device: Device) -> SystemProbe {
        let ort_providers = available_providers();
        let needs_gpu = device == Device::WebGpu
            || ort_providers.iter().any(|name| {
                ![Provider::Cpu, Provider::OpenVino, Provider::WebGpu].iter().any(|skip| name == skip.ort_name())
            });
        SystemProbe { gpus: if needs_gpu { detect_gpus() } else { Vec::new() }, ort_providers }
    }
}

impl HardwareProbe for SystemProbe {
    fn ort_providers(&self) -> Vec<String> {
        self.ort_providers.clone()
    }

    fn gpus(&self) -> Vec<GpuInfo> {
        self.gpus.clone()
    }
}

/// Names of the providers compiled into the loaded ONNX Runtime; only the CPU when not loaded.
pub fn available_providers() -> Vec<String> {
    if RUNTIME.get().is_none() {
        return vec![Provider::Cpu.ort_name().to_string()];
    }
    Provider::ALL
        .iter()
        .filter(|provider| provider_in_build(**provider))
        .map(|provider| provider.ort_name().to_string())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtime_library_names_exclude_provider_plugins() {
        assert!(is_runtime_library_name("libonnxruntime.so"));
        assert!(is_runtime_library_name("libonnxruntime.so.1.31.1"));
        assert!(is_runtime_library_name("libonnxruntime.1.31.1.dylib"));
        assert!(is_runtime_library_name("onnxruntime.dll"));
        assert!(!is_runtime_library_name("libonnxruntime_providers_cuda.so"));
        assert!(!is_runtime_library_name("libonnxruntime_providers_shared.so"));
        assert!(!is_runtime_library_name("onnxruntime_providers_shared.dll"));
    }

    #[test]
    fn a_file_that_is_not_onnx_runtime_is_refused_with_the_reason() {
        let dir = tempfile::tempdir().unwrap();
        let fake = dir.path().join("libonnxruntime.so");
        std::fs::write(&fake, b"not a library").unwrap();
        let error = read_version(&fake).unwrap_err();
        assert!(matches!(error, Error::RuntimeLoad { .. }), "{error}");
        assert!(error.to_string().contains("libonnxruntime.so"), "{error}");
    }
}
