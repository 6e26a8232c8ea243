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

use std::path::{Path, PathBuf};

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

/// The cache file for a model whose sha256 is `model_sha256`, loaded by ONNX Runtime `ort_version`.
pub(crate) fn entry(dir: &Path, model_sha256: &str, ort_version: &str) -> PathBuf {
    let digest = model_sha256.get(..16).unwrap_or(model_sha256);
    dir.join(format!("{digest}-ort{ort_version}-cpu-{}.ort", cpu_class()))
}

/// A place beside `entry` where ONNX Runtime can write the graph before it is renamed into
/// place (so a reader never sees half a file), or `None` when the folder cannot be written.
/// It ends in `.ort` too: ONNX Runtime picks the format it saves from the extension.
pub(crate) fn staging(entry: &Path) -> Option<PathBuf> {
    let dir = entry.parent()?;
    if let Err(error) = std::fs::create_dir_all(dir) {
        tracing::debug!("no optimised-graph cache in {}: {error}", dir.display());
        return None;
    }
    let name = entry.file_name()?.to_string_lossy();
    let staging = dir.join(format!(".{}-{name}", std::process::id()));
    match std::fs::File::create(&staging) {
        Ok(_) => Some(staging),
        Err(error) => {
            tracing::debug!("no optimised-graph cache in {}: {error}", dir.display());
            None
        }
    }
}

/// Moves a graph ONNX Runtime has just written into place; whether it is there now.
pub(crate) fn publish(staging: &Path, entry: &Path) -> bool {
    let written = std::fs::metadata(staging).is_ok_and(|metadata| metadata.len() > 0);
    if written {
        if let Err(error) = std::fs::rename(staging, entry) {
            tracing::warn!("could not keep the optimised graph in {}: {error}", entry.display());
        } else {
            tracing::debug!("optimised graph saved to {}", entry.display());
            return true;
        }
    }
    let _ = std::fs::remove_file(staging);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_entry_names_model_runtime_and_cpu() {
        let entry = entry(Path::new("/cache"), "0123456789abcdef0123", "1.31.1");
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(name.starts_with("0123456789abcdef-ort1.31.1-cpu-"), "{name}");
        assert!(name.ends_with(".ort"));
        assert_eq!(entry.parent(), Some(Path::new("/cache")));
    }

    #[test]
    fn staging_is_refused_where_nothing_can_be_written_and_published_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, b"x").unwrap();
        assert_eq!(staging(&file.join("sub/graph.ort")), None, "a folder under a file cannot be made");

        let entry = dir.path().join("cache/graph.ort");
        let staged = staging(&entry).unwrap();
        std::fs::write(&staged, b"graph").unwrap();
        assert!(publish(&staged, &entry));
        assert_eq!(std::fs::read(&entry).unwrap(), b"graph");
        assert!(!staged.exists());

        // Nothing written (the session failed): nothing published, the staging file removed.
        let empty = staging(&dir.path().join("cache/other.ort")).unwrap();
        assert!(!publish(&empty, &dir.path().join("cache/other.ort")));
        assert!(!empty.exists() && !dir.path().join("cache/other.ort").exists());
    }
}
