//! TensorRT's engine and timing caches, kept between starts.
//!
//! Building TensorRT engines takes minutes for a detector: without a cache every start of a
//! server builds them again, a restart loop under Kubernetes. An engine is valid only for the
//! model, the TensorRT and ONNX Runtime versions, the GPU (its compute capability) and the
//! options it was built with (FP16, workspace, builder level, shape profile), so all of them
//! make the key that names the cache's folder: `<cache_dir>/<key>/`. Nothing ever reuses a
//! stale engine: change one part and the key changes.
//!
//! Replicas share the cache on one volume, so a folder is never written in place: a start
//! that finds no folder for its key builds into a hidden folder of its own beside it and
//! renames it into place once the session is created. A rename is atomic; the first replica
//! to finish publishes, the others drop theirs. A build that dies leaves only its hidden
//! folder, removed a day later by the next start.
//!
//! Where the GPU or the TensorRT version cannot be identified, nothing is cached (with a
//! warning): a key missing a part could bring back an engine built for another GPU.

use std::{
    path::{Path, PathBuf},
    time::{Duration, SystemTime},
};

use sha2::{Digest, Sha256};

/// Hidden build folders older than this are left over from a start that died.
const ABANDONED_AFTER: Duration = Duration::from_secs(24 * 3600);

/// The file in each cache folder that records what its key was made of.
pub const KEY_FILE: &str = "inferx-key.txt";

/// A GPU as the engine sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GpuIdentity {
    /// The GPU's name (`NVIDIA H100 80GB HBM3`).
    pub name: String,
    /// Its compute capability (`(9, 0)`).
    pub compute_capability: (i32, i32),
}

/// Everything an engine depends on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CacheKeyParts {
    /// The model file's sha256.
    pub model_sha256: String,
    /// The ONNX Runtime version that builds and loads the engines.
    pub ort_version: String,
    /// The TensorRT version.
    pub tensorrt_version: String,
    /// The GPU.
    pub gpu: GpuIdentity,
    /// The provider options that shape the engine (the cache paths and the device index left
    /// out: the GPU itself is in the key).
    pub options: Vec<(String, String)>,
}

impl CacheKeyParts {
    /// The text the key is the hash of, one part a line: also written in [`KEY_FILE`].
    pub fn describe(&self) -> String {
        let mut text = format!(
            "model_sha256={}\nonnxruntime={}\ntensorrt={}\ngpu={}\ncompute_capability={}.{}\n",
            self.model_sha256,
            self.ort_version,
            self.tensorrt_version,
            self.gpu.name,
            self.gpu.compute_capability.0,
            self.gpu.compute_capability.1
        );
        let mut options = self.options.clone();
        options.sort();
        for (key, value) in options {
            text.push_str(&format!("{key}={value}\n"));
        }
        text
    }

    /// The key: 24 hex digits of the sha256 of [`CacheKeyParts::describe`].
    pub fn key(&self) -> String {
        let digest = format!("{:x}", Sha256::digest(self.describe().as_bytes()));
        digest[..24].to_string()
    }
}

/// Provider options that do not change the engine: where it is kept, and which GPU index
/// (the GPU's identity is in the key).
pub(crate) fn shapes_engine(key: &str) -> bool {
    !matches!(
        key,
        "device_id"
            | "trt_engine_cache_path"
            | "trt_timing_cache_path"
            | "trt_engine_cache_enable"
            | "trt_timing_cache_enable"
    )
}

/// How a session uses the cache.
#[derive(Debug)]
pub enum CacheUse {
    /// A published folder: its engines load instead of being built.
    Warm(PathBuf),
    /// No folder for this key yet: the engines are built into the staging folder, published
    /// once the session exists.
    Cold(StagingDir),
}

impl CacheUse {
    /// The folder ONNX Runtime reads and writes.
    pub fn path(&self) -> &Path {
        match self {
            CacheUse::Warm(path) => path,
            CacheUse::Cold(staging) => &staging.path,
        }
    }

    /// The folder for `parts` under `root`: the published one, or a new staging folder; `None`
    /// (with a warning) when `root` cannot be written.
    pub fn prepare(root: &Path, parts: &CacheKeyParts) -> Option<CacheUse> {
        // Unique per process and per call: a server creates its sessions side by side.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let key = parts.key();
        let entry = root.join(&key);
        if entry.join(KEY_FILE).is_file() {
            return Some(CacheUse::Warm(entry));
        }
        if let Err(error) = std::fs::create_dir_all(root) {
            tracing::warn!("no TensorRT engine cache in {}: {error}; every start builds the engines", root.display());
            return None;
        }
        remove_abandoned(root);
        let call = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = root.join(format!(".building-{key}-{}-{call}", std::process::id()));
        let made = std::fs::create_dir(&path).and_then(|()| std::fs::write(path.join(KEY_FILE), parts.describe()));
        match made {
            Ok(()) => Some(CacheUse::Cold(StagingDir { path, entry, published: false })),
            Err(error) => {
                let _ = std::fs::remove_dir_all(&path);
                tracing::warn!(
                    "no TensorRT engine cache in {}: {error}; every start builds the engines",
                    root.display()
                );
                None
            }
        }
    }
}

/// A hidden folder where one start builds its engines; removed when dropped unless published.
#[derive(Debug)]
pub struct StagingDir {
    path: PathBuf,
    entry: PathBuf,
    published: bool,
}

impl StagingDir {
    /// Where the folder goes once published.
    pub fn entry(&self) -> &Path {
        &self.entry
    }

    /// Renames the folder into place. `false` when TensorRT wrote nothing into it (it builds
    /// at the first run when input shapes are not all known: an empty folder must not pass for
    /// a cache), when another start published first (its engines are the same: same key), or
    /// when the rename fails; this folder is then removed.
    pub fn publish(mut self) -> bool {
        let built = std::fs::read_dir(&self.path)
            .map(|entries| entries.flatten().any(|entry| entry.file_name() != KEY_FILE))
            .unwrap_or(false);
        if !built {
            tracing::warn!(
                "TensorRT built no engine while the session was created (input shapes not all known), so nothing is cached in {}",
                self.entry.display()
            );
            return false;
        }
        match std::fs::rename(&self.path, &self.entry) {
            Ok(()) => {
                self.published = true;
                true
            }
            Err(error) => {
                if !self.entry.join(KEY_FILE).is_file() {
                    tracing::warn!("could not keep the TensorRT engines in {}: {error}", self.entry.display());
                }
                false
            }
        }
    }
}

impl Drop for StagingDir {
    fn drop(&mut self) {
        if !self.published {
            let _ = std::fs::remove_dir_all(&self.path);
        }
    }
}

/// Removes the build folders of starts that died long ago.
fn remove_abandoned(root: &Path) {
    let Ok(entries) = std::fs::read_dir(root) else { return };
    for entry in entries.flatten() {
        let abandoned = entry.file_name().to_string_lossy().starts_with(".building-")
            && entry
                .metadata()
                .and_then(|metadata| metadata.modified())
                .is_ok_and(|modified| SystemTime::now().duration_since(modified).unwrap_or_default() > ABANDONED_AFTER);
        if abandoned {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The TensorRT version of the library ONNX Runtime's TensorRT provider loads (`10.9.0`), read
/// from `getInferLibVersion`; `None` when no TensorRT library is found.
pub fn tensorrt_version() -> Option<String> {
    static VERSION: std::sync::OnceLock<Option<String>> = std::sync::OnceLock::new();
    VERSION
        .get_or_init(|| {
            let names: &[&str] = if cfg!(windows) {
                &["nvinfer_10.dll", "nvinfer.dll"]
            } else {
                &["libnvinfer.so.10", "libnvinfer.so.8", "libnvinfer.so"]
            };
            names.iter().find_map(|name| {
                // SAFETY: loading TensorRT runs no initialiser with preconditions, and
                // `getInferLibVersion` takes nothing and returns an int.
                unsafe {
                    let library = libloading::Library::new(name).ok()?;
                    let version: libloading::Symbol<unsafe extern "C" fn() -> i32> =
                        library.get(b"getInferLibVersion\0").ok()?;
                    Some(version_text(version()))
                }
            })
        })
        .clone()
}

/// `getInferLibVersion`'s number as text: 10.x encodes major * 10000 + minor * 100 + patch,
/// 8.x major * 1000 + minor * 100 + patch.
fn version_text(number: i32) -> String {
    if number >= 100_000 {
        format!("{}.{}.{}", number / 10_000, number / 100 % 100, number % 100)
    } else {
        format!("{}.{}.{}", number / 1000, number / 100 % 10, number % 100)
    }
}

/// The GPU with CUDA index `device_id` (as ONNX Runtime numbers them), read through the CUDA
/// driver; `None` without a driver or such a GPU.
pub fn gpu_identity(device_id: u32) -> Option<GpuIdentity> {
    type CuInit = unsafe extern "C" fn(u32) -> i32;
    type CuDeviceGet = unsafe extern "C" fn(*mut i32, i32) -> i32;
    type CuDeviceGetName = unsafe extern "C" fn(*mut std::ffi::c_char, i32, i32) -> i32;
    type CuDeviceGetAttribute = unsafe extern "C" fn(*mut i32, i32, i32) -> i32;
    const COMPUTE_CAPABILITY_MAJOR: i32 = 75;
    const COMPUTE_CAPABILITY_MINOR: i32 = 76;
    let name = if cfg!(windows) { "nvcuda.dll" } else { "libcuda.so.1" };
    // SAFETY: the CUDA driver API as documented: cuInit first, a buffer of the length given,
    // out-pointers to live integers.
    unsafe {
        // Never unloaded: the driver keeps state once initialised.
        let library = std::mem::ManuallyDrop::new(libloading::Library::new(name).ok()?);
        let init: libloading::Symbol<CuInit> = library.get(b"cuInit\0").ok()?;
        let get: libloading::Symbol<CuDeviceGet> = library.get(b"cuDeviceGet\0").ok()?;
        let get_name: libloading::Symbol<CuDeviceGetName> = library.get(b"cuDeviceGetName\0").ok()?;
        let attribute: libloading::Symbol<CuDeviceGetAttribute> = library.get(b"cuDeviceGetAttribute\0").ok()?;
        if init(0) != 0 {
            return None;
        }
        let mut device = 0;
        if get(&mut device, i32::try_from(device_id).ok()?) != 0 {
            return None;
        }
        let mut buffer = [0 as std::ffi::c_char; 256];
        if get_name(buffer.as_mut_ptr(), buffer.len() as i32, device) != 0 {
            return None;
        }
        let (mut major, mut minor) = (0, 0);
        if attribute(&mut major, COMPUTE_CAPABILITY_MAJOR, device) != 0
            || attribute(&mut minor, COMPUTE_CAPABILITY_MINOR, device) != 0
        {
            return None;
        }
        let name = std::ffi::CStr::from_ptr(buffer.as_ptr()).to_string_lossy().into_owned();
        Some(GpuIdentity { name, compute_capability: (major, minor) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parts() -> CacheKeyParts {
        CacheKeyParts {
            model_sha256: "ab".repeat(32),
            ort_version: "1.31.1".into(),
            tensorrt_version: "10.9.0".into(),
            gpu: GpuIdentity { name: "NVIDIA H100 80GB HBM3".into(), compute_capability: (9, 0) },
            options: vec![
                ("trt_fp16_enable".into(), "0".into()),
                ("trt_builder_optimization_level".into(), "3".into()),
            ],
        }
    }

    #[test]
    fn the_key_changes_with_each_of_its_parts_and_not_with_the_options_order() {
        type Change = Box<dyn Fn(&mut CacheKeyParts)>;
        let base = parts().key();
        assert_eq!(base.len(), 24);
        let changed: [(&str, Change); 7] = [
            ("model", Box::new(|parts| parts.model_sha256 = "cd".repeat(32))),
            ("onnx runtime", Box::new(|parts| parts.ort_version = "1.32.0".into())),
            ("tensorrt", Box::new(|parts| parts.tensorrt_version = "10.10.0".into())),
            ("gpu name", Box::new(|parts| parts.gpu.name = "NVIDIA L4".into())),
            ("compute capability", Box::new(|parts| parts.gpu.compute_capability = (8, 9))),
            ("an option", Box::new(|parts| parts.options[0].1 = "1".into())),
            (
                "another option",
                Box::new(|parts| parts.options.push(("trt_profile_max_shapes".into(), "images:16x3x640x640".into()))),
            ),
        ];
        let mut keys = std::collections::BTreeSet::from([base.clone()]);
        for (part, change) in &changed {
            let mut other = parts();
            change(&mut other);
            assert!(keys.insert(other.key()), "changing the {part} changes the key");
        }
        let mut reordered = parts();
        reordered.options.reverse();
        assert_eq!(reordered.key(), base, "the same options in another order are the same engine");
        assert!(!shapes_engine("trt_engine_cache_path") && !shapes_engine("device_id"));
        assert!(shapes_engine("trt_fp16_enable") && shapes_engine("trt_profile_max_shapes"));
    }

    #[test]
    fn a_build_is_published_whole_or_not_at_all_and_the_first_of_two_replicas_wins() {
        let root = tempfile::tempdir().unwrap();
        let cache = root.path().join("trt-cache");
        let Some(CacheUse::Cold(first)) = CacheUse::prepare(&cache, &parts()) else { panic!("a cold cache") };
        let Some(CacheUse::Cold(second)) = CacheUse::prepare(&cache, &parts()) else { panic!("a cold cache") };
        assert_ne!(first.path, second.path, "each start builds in its own folder");
        std::fs::write(first.path.join("engine.engine"), b"first").unwrap();
        std::fs::write(second.path.join("engine.engine"), b"second").unwrap();
        // Half-built: nothing is published, so a third start does not see it.
        assert!(matches!(CacheUse::prepare(&cache, &parts()), Some(CacheUse::Cold(_))));
        let entry = first.entry().to_path_buf();
        assert_eq!(entry, cache.join(parts().key()));
        assert!(first.publish());
        assert!(!second.publish(), "the second replica finds the folder published");
        assert_eq!(std::fs::read(entry.join("engine.engine")).unwrap(), b"first", "never mixed");
        assert_eq!(std::fs::read_to_string(entry.join(KEY_FILE)).unwrap(), parts().describe());
        let names: Vec<String> = std::fs::read_dir(&cache)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into())
            .collect();
        assert_eq!(names, [parts().key()], "the losers' and the dropped build folders are gone");
        match CacheUse::prepare(&cache, &parts()) {
            Some(CacheUse::Warm(path)) => assert_eq!(path, entry),
            other => panic!("the next start loads the engines: {other:?}"),
        }
        // Another option set gets its own folder; a build that wrote no engine is not published.
        let mut fp16 = parts();
        fp16.options[0].1 = "1".into();
        let Some(CacheUse::Cold(empty)) = CacheUse::prepare(&cache, &fp16) else { panic!("a cold cache") };
        assert!(!empty.publish(), "nothing built, nothing published");
        assert!(!cache.join(fp16.key()).exists());
        assert!(matches!(CacheUse::prepare(&cache, &fp16), Some(CacheUse::Cold(_))));
    }

    #[test]
    fn a_cache_that_cannot_be_written_is_no_cache_and_old_build_folders_are_cleared() {
        let root = tempfile::tempdir().unwrap();
        let file = root.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert!(CacheUse::prepare(&file.join("trt-cache"), &parts()).is_none());
        let cache = root.path().join("trt-cache");
        let dead = cache.join(".building-old-1-0");
        std::fs::create_dir_all(&dead).unwrap();
        let old = SystemTime::now() - ABANDONED_AFTER - Duration::from_secs(60);
        std::fs::File::open(&dead).unwrap().set_modified(old).unwrap();
        let recent = cache.join(".building-recent-2-0");
        std::fs::create_dir_all(&recent).unwrap();
        let _cold = CacheUse::prepare(&cache, &parts()).unwrap();
        assert!(!dead.exists(), "a build folder a day old is removed");
        assert!(recent.exists(), "a build that may still run is left alone");
    }

    #[test]
    fn tensorrt_versions_read_as_text_and_this_machine_has_no_gpu_to_key() {
        assert_eq!(version_text(100_900), "10.9.0");
        assert_eq!(version_text(101_302), "10.13.2");
        assert_eq!(version_text(8601), "8.6.1");
        // No NVIDIA driver here: the identity is unknown, so nothing would be cached.
        if !Path::new("/dev/nvidia0").exists() {
            assert_eq!(gpu_identity(0), None);
        }
    }
}
