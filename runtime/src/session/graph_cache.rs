//! ONNX Runtime's optimised graph, kept between starts.
//!
//! Creating a CPU session runs ONNX Runtime's graph optimisations (constant folding, fusions,
//! the blocked layouts of the CPU kernels), a large share of the time a session takes to
//! create. The optimised graph can be saved, in ORT format, and loaded by the next start with
//! the optimisations off. It is valid only for the same model, ONNX Runtime version and CPU
//! class (the blocked layouts depend on the vector width), so those name the file:
//! `<sha256 of the model, 16 digits>-ort<version>-cpu-<class>.ort`.
//!
//! The cache is best effort: a folder that cannot be written means no cache, and a cached
//! graph that does not load is removed and rebuilt, with a warning, never an error.

use std::{
    path::{Path, PathBuf},
    sync::Mutex,
};

/// The CPU class an optimised graph is valid for.
fn cpu_class() -> &'static str {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            "x86_64-avx512"
        } else if std::arch::is_x86_feature_detected!("avx2") {
            "x86_64-avx2"
        } else {
            "x86_64"
        }
    }
    #[cfg(not(target_arch = "x86_64"))]
    {
        std::env::consts::ARCH
    }
}

/// The sha256 of `model`, which names its cache entry. A file is hashed once per process (as
/// long as its length and modification time stay the same), so the sessions of a pool or a
/// server do not each read the whole model again.
pub(crate) fn model_sha256(model: &Path) -> Option<String> {
    type Stamp = (PathBuf, u64, std::time::SystemTime);
    static HASHED: Mutex<Vec<(Stamp, String)>> = Mutex::new(Vec::new());
    let metadata = std::fs::metadata(model).ok()?;
    let stamp: Stamp = (model.canonicalize().ok()?, metadata.len(), metadata.modified().ok()?);
    let hashed = || HASHED.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some((_, sha256)) = hashed().iter().find(|(known, _)| *known == stamp) {
        return Some(sha256.clone());
    }
    let sha256 = crate::model::file::file_sha256(model).ok()?;
    let mut entries = hashed();
    // One entry per file: a changed file's hash replaces the one it had.
    entries.retain(|(known, _)| known.0 != stamp.0);
    entries.push((stamp, sha256.clone()));
    Some(sha256)
}

/// The cache file for a model whose sha256 is `model_sha256`, loaded by ONNX Runtime
/// `ort_version` with the input dimensions `overrides` fixed (sorted by name): the saved graph
/// carries the shapes they give, so each set of overrides has its own file.
pub(crate) fn entry(dir: &Path, model_sha256: &str, ort_version: &str, overrides: &[(String, i64)]) -> PathBuf {
    use sha2::{Digest, Sha256};
    let digest = model_sha256.get(..16).unwrap_or(model_sha256);
    let fixed = if overrides.is_empty() {
        String::new()
    } else {
        let mut hasher = Sha256::new();
        for (name, size) in overrides {
            hasher.update(format!("{name}={size}\n"));
        }
        let sizes: Vec<String> = overrides.iter().map(|(_, size)| size.to_string()).collect();
        let names = format!("{:x}", hasher.finalize());
        format!("-{}-{}", sizes.join("x"), &names[..8])
    };
    dir.join(format!("{digest}-ort{ort_version}-cpu-{}{fixed}.ort", cpu_class()))
}

/// A file beside a cache entry where ONNX Runtime writes the graph before it is renamed into
/// place, so a reader never sees half a file. Removed when dropped unless published, so a
/// session that fails leaves nothing behind.
pub(crate) struct Staging {
    path: PathBuf,
}

impl Staging {
    /// A staging file for `entry`, or `None` when its folder cannot be written. Its name ends
    /// in `.ort` too: ONNX Runtime picks the format it saves from the extension.
    pub(crate) fn for_entry(entry: &Path) -> Option<Staging> {
        // Unique per process and per call: a server creates its worker sessions side by side.
        static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
        let dir = entry.parent()?;
        if let Err(error) = std::fs::create_dir_all(dir) {
            tracing::debug!("no optimised-graph cache in {}: {error}", dir.display());
            return None;
        }
        let name = entry.file_name()?.to_string_lossy();
        let call = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let path = dir.join(format!(".{}-{call}-{name}", std::process::id()));
        match std::fs::File::create(&path) {
            Ok(_) => Some(Staging { path }),
            Err(error) => {
                tracing::debug!("no optimised-graph cache in {}: {error}", dir.display());
                None
            }
        }
    }

    /// Where ONNX Runtime writes the graph.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// Moves the graph ONNX Runtime has written into place; whether it is there now.
    pub(crate) fn publish(self, entry: &Path) -> bool {
        let written = std::fs::metadata(&self.path).is_ok_and(|metadata| metadata.len() > 0);
        if !written {
            return false;
        }
        match std::fs::rename(&self.path, entry) {
            Ok(()) => {
                tracing::debug!("optimised graph saved to {}", entry.display());
                true
            }
            Err(error) => {
                tracing::warn!("could not keep the optimised graph in {}: {error}", entry.display());
                false
            }
        }
    }
}

impl Drop for Staging {
    fn drop(&mut self) {
        // Gone already once published.
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_names_model_runtime_cpu_and_fixed_dimensions() {
        let cache = Path::new("/cache");
        let entry = entry(cache, "0123456789abcdef0123", "1.31.1", &[]);
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("0123456789abcdef-ort1.31.1-cpu-"), "{name}");
        assert!(name.ends_with(".ort"));
        assert_eq!(entry.parent(), Some(cache));

        let fixed = |overrides: &[(&str, i64)]| {
            let overrides: Vec<(String, i64)> =
                overrides.iter().map(|(name, size)| (name.to_string(), *size)).collect();
            let entry = super::entry(cache, "0123456789abcdef0123", "1.31.1", &overrides);
            entry.file_name().unwrap().to_string_lossy().into_owned()
        };
        let at_640 = fixed(&[("height", 640), ("width", 640)]);
        assert!(at_640.starts_with(name.trim_end_matches(".ort")) && at_640.contains("-640x640-"), "{at_640}");
        assert_ne!(at_640, fixed(&[("height", 320), ("width", 320)]), "each size has its own graph");
        assert_ne!(at_640, fixed(&[("batch", 640), ("height", 640)]), "the names count, not only the sizes");
    }

    #[test]
    fn a_model_is_hashed_again_only_when_it_changed() {
        let dir = tempfile::tempdir().unwrap();
        let model = dir.path().join("model.onnx");
        std::fs::write(&model, b"first weights").unwrap();
        let first = model_sha256(&model).unwrap();
        assert_eq!(first, crate::model::file::file_sha256(&model).unwrap());
        assert_eq!(
            model_sha256(&dir.path().join(".").join("model.onnx")),
            Some(first.clone()),
            "one file, two spellings"
        );
        std::fs::write(&model, b"other weights, longer").unwrap();
        let second = model_sha256(&model).unwrap();
        assert_ne!(second, first, "a changed file is hashed again");
        assert_eq!(second, crate::model::file::file_sha256(&model).unwrap());
        assert_eq!(model_sha256(&dir.path().join("missing.onnx")), None);
    }

    #[test]
    fn staging_is_refused_where_nothing_can_be_written_and_published_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert!(Staging::for_entry(&file.join("sub/graph.ort")).is_none(), "a folder under a file cannot be made");

        let entry = dir.path().join("cache/graph.ort");
        let staging = Staging::for_entry(&entry).unwrap();
        let staged = staging.path().to_path_buf();
        assert!(staged.to_string_lossy().ends_with(".ort"));
        std::fs::write(&staged, b"graph").unwrap();
        assert!(staging.publish(&entry));
        assert_eq!(std::fs::read(&entry).unwrap(), b"graph");
        assert!(!staged.exists());

        // Nothing written (the session failed), or dropped unpublished: nothing left behind.
        let other = dir.path().join("cache/other.ort");
        let empty = Staging::for_entry(&other).unwrap();
        let empty_path = empty.path().to_path_buf();
        assert!(!empty.publish(&other));
        let dropped = Staging::for_entry(&other).unwrap();
        let dropped_path = dropped.path().to_path_buf();
        assert_ne!(dropped_path, empty_path, "each staging file has its own name");
        drop(dropped);
        assert!(!empty_path.exists() && !dropped_path.exists() && !other.exists());
        assert_eq!(std::fs::read_dir(dir.path().join("cache")).unwrap().count(), 1, "only the published graph");
    }
}
