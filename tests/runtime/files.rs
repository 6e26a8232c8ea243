//! `Pipeline::predict_files`: decoding on another thread while the model runs gives the same
//! results, in order, with a bad file failing alone.

use inferx_runtime::{Pipeline, PipelineOptions, TaskKind};

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
