//! The optimised-graph cache on the real detector: the first start saves the graph, the next
//! loads it and predicts the same; a damaged cache file is rebuilt, a folder that cannot be
//! written means no cache, and neither is an error.

use std::path::{Path, PathBuf};

use inferx_runtime::{GraphCache, Pipeline, PipelineOptions, SessionOptions, TaskKind};

use crate::support::*;

fn load(cache: Option<&Path>) -> Pipeline {
    let options = PipelineOptions {
        input_size: Some(320),
        session: SessionOptions { optimized_cache: cache.map(Path::to_path_buf), ..SessionOptions::default() },
        ..PipelineOptions::for_task(TaskKind::Detection)
    };
    Pipeline::load(detector(), options).expect("the detector loads")
}

fn detections(pipeline: &Pipeline, image: &str) -> Vec<(u64, f64, [f64; 4])> {
    prediction_detections(&pipeline.predict_path(images().join(image)).unwrap())
}

fn files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir).unwrap().map(|entry| entry.unwrap().path()).collect();
    files.sort();
    files
}

#[test]
fn a_second_start_loads_the_saved_graph_and_predicts_the_same() {
    let dir = temp_dir();
    let uncached = load(None);
    assert_eq!(uncached.engine().graph_cache(), GraphCache::Off);

    let first = load(Some(dir.path()));
    assert_eq!(first.engine().graph_cache(), GraphCache::Saved);
    let saved = files(dir.path());
    assert_eq!(saved.len(), 1, "one graph, no staging file left: {saved:?}");
    let name = saved[0].file_name().unwrap().to_string_lossy().into_owned();
    let model_sha256 = inferx_runtime::model::file::file_sha256(&detector()).unwrap();
    assert!(name.starts_with(&format!("{}-ort1.31", &model_sha256[..16])) && name.ends_with(".ort"), "{name}");

    let second = load(Some(dir.path()));
    assert_eq!(second.engine().graph_cache(), GraphCache::Loaded);
    assert_eq!(second.engine().info(), uncached.engine().info(), "inputs, outputs and metadata survive");
    assert_eq!(second.labels(), uncached.labels());
    for image in ["astronaut.png", "grace_hopper.jpg", "camera.png"] {
        let expected = detections(&uncached, image);
        assert!(!expected.is_empty(), "{image}: the detector finds something");
        assert_same_detections(image, &detections(&second, image), &expected, 1e-5, 1e-3);
        assert_same_detections(image, &detections(&first, image), &expected, 1e-5, 1e-3);
    }

    // A damaged graph is removed and rebuilt, not an error.
    std::fs::write(&saved[0], b"not a graph").unwrap();
    let rebuilt = load(Some(dir.path()));
    assert_eq!(rebuilt.engine().graph_cache(), GraphCache::Saved);
    assert!(std::fs::metadata(&saved[0]).unwrap().len() > 100_000, "the graph was written again");
    assert_eq!(load(Some(dir.path())).engine().graph_cache(), GraphCache::Loaded);
}

#[test]
fn a_cache_folder_that_cannot_be_made_means_no_cache() {
    let dir = temp_dir();
    let file = dir.path().join("a-file");
    write(&file, "x");
    let pipeline = load(Some(&file.join("graphs")));
    assert_eq!(pipeline.engine().graph_cache(), GraphCache::Off);
    assert!(!detections(&pipeline, "astronaut.png").is_empty());
}
