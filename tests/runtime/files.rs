//! `Pipeline::predict_files`: decoding on another thread while the model runs gives the same
//! results, in order, with a bad file failing alone.

use inferx_runtime::{Pipeline, PipelineOptions, PipelinePool, SessionOptions, TaskKind};

use crate::support::*;

#[test]
fn files_are_predicted_in_order_as_one_by_one_and_a_bad_file_fails_alone() {
    let options = PipelineOptions { input_size: Some(320), ..PipelineOptions::for_task(TaskKind::Detection) };
    let pipeline = Pipeline::load(detector(), options).unwrap();
    let dir = temp_dir();
    let not_an_image = dir.path().join("notes.png");
    write(&not_an_image, "not a picture");
    let mut paths: Vec<_> = ["astronaut.png", "grace_hopper.jpg", "rocket.jpg", "camera.png"]
        .iter()
        .map(|name| images().join(name))
        .collect();
    paths.insert(2, not_an_image.clone());

    let mut seen = Vec::new();
    pipeline.predict_files(&paths, |index, result| seen.push((index, result)));
    assert_eq!(seen.iter().map(|(index, _)| *index).collect::<Vec<_>>(), [0, 1, 2, 3, 4], "every file, in order");
    for (index, result) in seen {
        let path = &paths[index];
        if *path == not_an_image {
            let Err(error) = result else { panic!("the bad file fails") };
            let error = error.to_string();
            assert!(error.contains("notes.png") && error.contains("not a supported image format"), "{error}");
            continue;
        }
        let (image, prediction) = result.unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let alone = pipeline.predict_path(path).unwrap();
        assert_eq!((image.width(), image.height()), (alone.width, alone.height));
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let of = |prediction| detections_of(&serde_json::to_value(prediction).unwrap());
        assert_same_detections(&name, &of(&prediction), &of(&alone), 1e-6, 1e-4);
        assert!(prediction.timings.decode_ms > 0.0, "{name}: the decode time is kept");
    }
}

/// Two CPU sessions of one thread each, as `PipelinePool::load` makes on a 2-core machine.
fn two_sessions() -> PipelinePool {
    let options = PipelineOptions {
        input_size: Some(320),
        session: SessionOptions { intra_threads: 1, ..SessionOptions::default() },
        ..PipelineOptions::for_task(TaskKind::Detection)
    };
    PipelinePool::from_pipelines(vec![
        Pipeline::load(detector(), options.clone()).unwrap(),
        Pipeline::load(detector(), options).unwrap(),
    ])
}

#[test]
fn sessions_side_by_side_give_every_file_in_order_as_one_by_one() {
    let pool = two_sessions();
    let dir = temp_dir();
    let not_an_image = dir.path().join("notes.png");
    write(&not_an_image, "not a picture");
    // 21 files: every photo twice over, the bad file in the middle.
    let mut paths: Vec<_> = std::fs::read_dir(images()).unwrap().map(|entry| entry.unwrap().path()).collect();
    paths.sort();
    paths.extend(paths.clone());
    paths.insert(9, not_an_image.clone());
    assert!(paths.len() > inferx_runtime::pool::MIN_FILES_FOR_SESSIONS);

    let mut seen = Vec::new();
    pool.predict_files(&paths, |index, result| seen.push((index, result)));
    assert_eq!(seen.iter().map(|(index, _)| *index).collect::<Vec<_>>(), (0..paths.len()).collect::<Vec<_>>());
    for (index, result) in seen {
        let path = &paths[index];
        if *path == not_an_image {
            let Err(error) = result else { panic!("the bad file fails") };
            let error = error.to_string();
            assert!(error.contains("notes.png") && error.contains("not a supported image format"), "{error}");
            continue;
        }
        let (_, prediction) = result.unwrap_or_else(|error| panic!("{}: {error}", path.display()));
        let alone = pool.primary().predict_path(path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        let of = |prediction| detections_of(&serde_json::to_value(prediction).unwrap());
        assert_same_detections(&name, &of(&prediction), &of(&alone), 1e-6, 1e-4);
    }
}

#[test]
fn a_panic_in_the_callback_stops_the_workers_instead_of_hanging() {
    let pool = two_sessions();
    let paths: Vec<_> = std::iter::repeat_n(images().join("astronaut.png"), 40).collect();
    let started = std::time::Instant::now();
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        pool.predict_files(&paths, |index, _| assert!(index < 3, "the callback fails at file 3"))
    }));
    assert!(outcome.is_err(), "the panic reaches the caller");
    // The window (2 files per worker) stops the workers well before the 40 files are done.
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
}
