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
