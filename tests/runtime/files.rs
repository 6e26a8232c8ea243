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
        pool.predict_files(&paths, |index, _| assert!(index < 3, "the callback fails at file 3"));
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
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
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

/// A project folder `app` (beside an `elsewhere` folder) holding the detector and an
/// `inferx.yaml` whose `extra` lines are added; the config file's path.
fn project_with(root: &Path, extra: &str) -> PathBuf {
    let project = root.join("app");
    std::fs::create_dir_all(project.join("models")).unwrap();
    std::fs::create_dir_all(root.join("elsewhere")).unwrap();
    std::fs::copy(detector(), project.join("models/detector.onnx")).unwrap();
    let config = project.join("inferx.yaml");
    write(
        &config,
        format!(
            "inferx: {{version: 0.1.0, template: yolo}}\nmodel: {{path: models/detector.onnx}}\ntask: detection\n{extra}"
        ),
    );
    config
}

/// Runs `load` on another thread and returns its error, failing the test when it takes more
/// than a few seconds (a FIFO that blocks, a device that is read forever) or succeeds.
fn refused_promptly<T: Send + 'static>(
    what: &str,
    load: impl FnOnce() -> inferx_runtime::Result<T> + Send + 'static,
) -> inferx_runtime::Error {
    let (sender, receiver) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let _ = sender.send(load().err());
    });
    match receiver.recv_timeout(std::time::Duration::from_secs(10)) {
        Ok(Some(error)) => error,
        Ok(None) => panic!("{what}: loaded, but it must be refused"),
        Err(_) => panic!("{what}: still loading after 10 s (blocked or reading without end)"),
    }
}

/// Every way the generated binary loads a project (`Pipeline::from_config_file` for `info`,
/// `PipelinePool::from_config_file` for `predict`, `AppState::load` for `serve`) refuses a
/// project file that leads outside the project or is not a regular file: promptly, with the
/// config key, the file and the fix named, and nothing read from outside.
#[test]
#[cfg(unix)]
fn project_files_through_symlinks_fifos_and_devices_are_refused_by_every_loader() {
    use inferx_runtime::{server::AppState, server::ServeOptions, Error, FileProblem};
    type Load = fn(PathBuf) -> Error;

    // (case, inferx.yaml lines, how the project is broken, the problem, words of the message)
    type Break = fn(&Path, &Path);
    let cases: [(&str, &str, Break, FileProblem, &str); 5] = [
        (
            "model through a symlink out of the project",
            "",
            |project, elsewhere| {
                let model = project.join("models/detector.onnx");
                std::fs::rename(&model, elsewhere.join("detector.onnx")).unwrap();
                std::os::unix::fs::symlink(elsewhere.join("detector.onnx"), &model).unwrap();
            },
            FileProblem::Outside,
            "model.path `models/detector.onnx` leads outside the project",
        ),
        (
            "labels through a symlinked folder",
            "labels_file: shared/labels.txt\n",
            |project, elsewhere| {
                // 18 lines: the detector's class count, so a read would have loaded.
                let lines: String = (0..18).map(|class| format!("outside_{class}\n")).collect();
                std::fs::write(elsewhere.join("labels.txt"), lines).unwrap();
                std::os::unix::fs::symlink(elsewhere, project.join("shared")).unwrap();
            },
            FileProblem::Outside,
            "labels_file `shared/labels.txt` leads outside the project",
        ),
        (
            "labels linked to /dev/zero",
            "labels_file: labels.txt\n",
            |project, _| std::os::unix::fs::symlink("/dev/zero", project.join("labels.txt")).unwrap(),
            FileProblem::Outside,
            "labels_file `labels.txt` leads outside the project, to `/dev/zero`",
        ),
        (
            "labels that are a FIFO",
            "labels_file: labels.txt\n",
            |project, _| {
                let fifo = project.join("labels.txt");
                assert!(std::process::Command::new("mkfifo").arg(&fifo).status().unwrap().success());
            },
            FileProblem::NotAFile,
            "labels_file `labels.txt` is not a regular file (a FIFO, socket or device)",
        ),
        (
            "model that is a folder",
            "",
            |project, _| {
                let model = project.join("models/detector.onnx");
                std::fs::remove_file(&model).unwrap();
                std::fs::create_dir(&model).unwrap();
            },
            FileProblem::NotAFile,
            "model.path `models/detector.onnx` is a folder, not a file",
        ),
    ];
    for (case, extra, break_it, expected, words) in cases {
        let root = temp_dir();
        let config = project_with(root.path(), extra);
        break_it(config.parent().unwrap(), &root.path().join("elsewhere"));
        let loaders: [(&str, Load); 3] = [
            ("info", |config| refused_promptly("info", move || Pipeline::from_config_file(config))),
            ("predict", |config| refused_promptly("predict", move || PipelinePool::from_config_file(config, 4))),
            ("serve", |config| {
                refused_promptly("serve", move || AppState::load(&config, &ServeOptions::default()).map(|_| ()))
            }),
        ];
        for (command, load) in loaders {
            let error = load(config.clone());
            let message = error.to_string();
            assert!(
                matches!(&error, Error::ProjectFile { problem, .. } if *problem == expected),
                "{case} ({command}): {error:?}"
            );
            assert!(message.contains(words), "{case} ({command}): `{words}` in {message}");
            assert!(message.contains("; "), "{case} ({command}): a fix follows the problem: {message}");
            assert!(!message.contains("outside_") && !message.contains("18 labels"), "{case}: nothing read: {message}");
        }
    }
}
