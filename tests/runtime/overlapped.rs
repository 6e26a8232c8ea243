//! `Pipeline::predict_bytes_overlapped` (a PNG preprocessed on a helper thread while it is
//! decoded, for a server's lone request) predicts what `predict_bytes` predicts, for every
//! image, and reports errors the same way.

use inferx_runtime::{Pipeline, PipelineOptions, SessionOptions, TaskKind};

use crate::support::*;

fn same_predictions(pipeline: &Pipeline, bytes: &[u8], name: &str) {
    let ordinary = pipeline.predict_bytes(bytes).unwrap();
    let overlapped = pipeline.predict_bytes_overlapped(bytes).unwrap();
    assert_eq!(
        serde_json::to_value(&overlapped.output).unwrap(),
        serde_json::to_value(&ordinary.output).unwrap(),
        "{name}"
    );
    assert_eq!((overlapped.width, overlapped.height), (ordinary.width, ordinary.height), "{name}");
    assert!(overlapped.timings.decode_ms > 0.0 && overlapped.timings.inference_ms > 0.0, "{name}");
}

#[test]
fn a_lone_image_preprocessed_while_decoding_gets_the_same_prediction() {
    // The server's lone-request session: its ONNX Runtime threads stop spinning after a run.
    let session = SessionOptions { stop_spinning_after_run: true, ..SessionOptions::default() };
    let options = PipelineOptions { input_size: Some(320), session, ..PipelineOptions::for_task(TaskKind::Detection) };
    let detector = Pipeline::load(detector(), options).expect("the detector loads");
    let mut names: Vec<_> = std::fs::read_dir(images()).unwrap().map(|entry| entry.unwrap().path()).collect();
    names.sort();
    // PNGs of RGB and gray photos take the overlapped path, JPEGs the ordinary one.
    assert!(names.iter().any(|path| path.extension().is_some_and(|extension| extension == "jpg")));
    for path in &names {
        let bytes = std::fs::read(path).unwrap();
        same_predictions(&detector, &bytes, &path.display().to_string());
    }
    // A size of its own per image (`fit_multiple`) and a probability map for every pixel.
    let text = crate::segmentation::text_detector();
    same_predictions(&text, &std::fs::read(fixture("images/text.png")).unwrap(), "text.png");

    // Bytes that stop in the middle of the pixels: the same error as the ordinary path's.
    let bytes = std::fs::read(images().join("astronaut.png")).unwrap();
    let cut = &bytes[..bytes.len() / 2];
    let (ordinary, overlapped) = (detector.predict_bytes(cut), detector.predict_bytes_overlapped(cut));
    assert_eq!(overlapped.unwrap_err().to_string(), ordinary.unwrap_err().to_string());
}

/// `Pipeline::predict_encoded`, the one entry point for encoded images: alone on an idle
/// machine (the two-core path) or several at once, the same predictions, each image's error
/// its own, and the decoded image handed back where it was asked for.
#[test]
fn encoded_images_alone_or_together_get_the_same_predictions_and_their_own_errors() {
    use inferx_runtime::pipeline::{EncodedImage, Load};

    let options = PipelineOptions { input_size: Some(320), ..PipelineOptions::for_task(TaskKind::Detection) };
    let detector = Pipeline::load(detector(), options).expect("the detector loads");
    let photo = std::fs::read(images().join("astronaut.png")).unwrap();
    let jpeg = std::fs::read(images().join("grace_hopper.jpg")).unwrap();
    let output = |prediction: &inferx_runtime::Prediction| serde_json::to_value(&prediction.output).unwrap();
    let alone = |load: Load| {
        let mut got = Vec::new();
        let ran = detector.predict_encoded(&[EncodedImage::new(&photo)], load, |index, result, decoded| {
            got.push((index, result.unwrap(), decoded.is_some()));
        });
        assert_eq!((ran, got.len()), (1, 1));
        got.remove(0)
    };
    let (idle, busy) = (alone(Load::Idle), alone(Load::Busy));
    assert_eq!((idle.0, idle.2, busy.2), (0, false, false));
    assert_eq!(output(&idle.1), output(&busy.1));
    for prediction in [&idle.1, &busy.1] {
        assert!(
            prediction.timings.decode_ms > 0.0 && prediction.timings.inference_ms > 0.0,
            "{:?}",
            prediction.timings
        );
    }

    // Together: the bad image gets its error, the others their predictions, in one run.
    let images = [
        EncodedImage::new(&jpeg),
        EncodedImage::new(b"not an image"),
        EncodedImage { keep_decoded: true, ..EncodedImage::new(&photo) },
    ];
    let mut results = Vec::new();
    let ran = detector.predict_encoded(&images, Load::Idle, |index, result, decoded| {
        results.push((index, result, decoded.map(|image| (image.width(), image.height()))));
    });
    assert_eq!(ran, 2, "the two images that decode run");
    results.sort_by_key(|(index, _, _)| *index);
    assert!(matches!(results[1].1, Err(inferx_runtime::Error::Image { .. })), "{:?}", results[1].1);
    let jpeg_alone = output(&detector.predict_bytes(&jpeg).unwrap());
    assert_json_close(&output(results[0].1.as_ref().unwrap()), &jpeg_alone, 1e-3, "the JPEG in a batch");
    let kept = results[2].1.as_ref().unwrap();
    assert_json_close(&output(kept), &output(&idle.1), 1e-3, "in a batch");
    assert_eq!((results[0].2, results[2].2), (None, Some((512, 512))), "the decoded image where it was asked for");
}
