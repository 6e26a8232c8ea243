//! Predicting lists of files: `Pipeline::predict_files` (decoding on another thread while the
//! model runs) and `PipelinePool::predict_files` (sessions side by side, each with its own
//! worker) give every file's result in order, the same as one by one, with a bad file failing
//! alone.

use std::path::{Path, PathBuf};

use inferx_runtime::{
    image::DynamicImage, Pipeline, PipelineOptions, PipelinePool, Prediction, SessionOptions, TaskKind,
};

use crate::support::*;

fn options() -> PipelineOptions {
    PipelineOptions { input_size: Some(320), ..PipelineOptions::for_task(TaskKind::Detection) }
}

/// `names` from the sample photos with a file that is not an image at `bad_at`; the bad file.
fn photos_and_a_bad_file(dir: &Path, names: &[PathBuf], bad_at: usize) -> (Vec<PathBuf>, PathBuf) {
    let not_an_image = dir.join("notes.png");
    write(&not_an_image, "not a picture");
    let mut paths = names.to_vec();
    paths.insert(bad_at, not_an_image.clone());
    (paths, not_an_image)
}

/// Checks what `predict_files` handed out: every index in order, the bad file's error, and
/// each other file's prediction as `alone` predicts it.
fn assert_in_order_as_alone(
    paths: &[PathBuf],
    bad: &Path,
    seen: Vec<(usize, inferx_runtime::Result<(DynamicImage, Prediction)>)>,
    alone: &Pipeline,
) {
    assert_eq!(seen.iter().map(|(index, _)| *index).collect::<Vec<_>>(), (0..paths.len()).collect::<Vec<_>>());
    for (index, result) in seen {
        let path = &paths[index];
        if path == bad {
            let Err(error) = result else { panic!("the bad file fails") };
            let error = error.to_string();
            assert!(error.contains("notes.png") && error.contains("not a supported image format"), "{error}");
            continue;
        }
        let (image, prediction) = result.unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let expected = alone.predict_path(path).unwrap();
        assert_eq!((image.width(), image.height()), (expected.width, expected.height));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        assert_same_detections(
            &name,
            &prediction_detections(&prediction),
            &prediction_detections(&expected),
            1e-6,
            1e-4,
        );
        assert!(prediction.timings.decode_ms > 0.0, "{name}: the decode time is kept");
    }
}

#[test]
fn files_are_predicted_in_order_as_one_by_one_and_a_bad_file_fails_alone() {
    let pipeline = Pipeline::load(detector(), options()).unwrap();
    let dir = temp_dir();
    let names: Vec<_> = ["astronaut.png", "grace_hopper.jpg", "rocket.jpg", "camera.png"]
        .iter()
        .map(|name| images().join(name))
        .collect();
    let (paths, bad) = photos_and_a_bad_file(dir.path(), &names, 2);
    let mut seen = Vec::new();
    pipeline.predict_files(&paths, |index, result| seen.push((index, result)));
    assert_in_order_as_alone(&paths, &bad, seen, &pipeline);
}

/// Two CPU sessions of one thread each, as `PipelinePool::load` makes on a 2-core machine.
fn two_sessions() -> PipelinePool {
    let options =
        PipelineOptions { session: SessionOptions { intra_threads: 1, ..SessionOptions::default() }, ..options() };
    PipelinePool::from_pipelines(vec![
        Pipeline::load(detector(), options.clone()).unwrap(),
        Pipeline::load(detector(), options).unwrap(),
    ])
}

#[test]
fn sessions_side_by_side_give_every_file_in_order_as_one_by_one() {
    let pool = two_sessions();
    let dir = temp_dir();
    // Every photo twice over, the bad file among them: more than the pool's threshold.
    let mut names: Vec<_> = std::fs::read_dir(images()).unwrap().map(|entry| entry.unwrap().path()).collect();
    names.sort();
    names.extend(names.clone());
    let (paths, bad) = photos_and_a_bad_file(dir.path(), &names, 9);
    assert!(paths.len() > inferx_runtime::session::plan::MIN_FILES_FOR_SESSIONS);
    let mut seen = Vec::new();
    pool.predict_files(&paths, |index, result| seen.push((index, result)));
    assert_in_order_as_alone(&paths, &bad, seen, pool.primary());
}

#[test]
fn a_panic_in_the_callback_stops_the_workers_instead_of_hanging() {
    let pool = two_sessions();
    let paths: Vec<_> = std::iter::repeat_n(images().join("astronaut.png"), 40).collect();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.predict_files(&paths, |index, _| assert!(index < 3, "the callback fails at file 3"))
    }));
    // Reaching this line at all is the test: without the window closing, the workers would
    // wait for room forever and the scope would never end.
    assert!(outcome.is_err(), "the panic reaches the caller");
}

#[test]
fn a_pool_loaded_for_a_folder_gives_the_same_results_while_and_after_its_sessions_are_created() {
    let dir = temp_dir();
    let mut names: Vec<_> = std::fs::read_dir(images()).unwrap().map(|entry| entry.unwrap().path()).collect();
    names.sort();
    names.extend(names.clone());
    let (paths, bad) = photos_and_a_bad_file(dir.path(), &names, 4);
    let pool = PipelinePool::load(detector(), options(), paths.len()).unwrap();
    let cores = std::thread::available_parallelism().map_or(1, |cores| cores.get());
    assert_eq!(pool.sessions(), cores.clamp(1, inferx_runtime::session::plan::MAX_SESSIONS));
    let alone = Pipeline::load(detector(), options()).unwrap();
    // The first call starts on the first session while the others are still being created;
    // the second finds them all there.
    for _ in 0..2 {
        let mut seen = Vec::new();
        pool.predict_files(&paths, |index, result| seen.push((index, result)));
        assert_in_order_as_alone(&paths, &bad, seen, &alone);
    }
}
