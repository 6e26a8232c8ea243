//! The PP-OCRv4 DB text detector (a real binary-segmentation model), configured like
//! rapidocr, gives the reference masks on photos of text.

use inferx_runtime::{
    preprocess::{ChannelOrder, PreprocessConfig, ResizeMode},
    results::{Mask, PredictionOutput},
    Pipeline, PipelineOptions, TaskKind,
};

use crate::support::*;

pub(crate) fn text_detector() -> Pipeline {
    let input = PreprocessConfig {
        resize: ResizeMode::FitMultiple,
        limit_side: 736,
        multiple: 32,
        mean: [0.5; 3],
        std: [0.5; 3],
        channel_order: ChannelOrder::Bgr,
        ..PreprocessConfig::default()
    };
    let options = PipelineOptions {
        input: Some(input),
        confidence: Some(0.3),
        ..PipelineOptions::for_task(TaskKind::Segmentation)
    };
    Pipeline::load(fixture("models/ch_PP-OCRv4_det_infer.onnx"), options).expect("DB detector loads")
}

fn decode_rle(counts: &[u64], len: usize) -> Vec<bool> {
    let mut pixels = Vec::with_capacity(len);
    for (index, &count) in counts.iter().enumerate() {
        pixels.extend(std::iter::repeat_n(index % 2 == 1, count as usize));
    }
    assert_eq!(pixels.len(), len, "RLE covers the image");
    pixels
}

fn iou(a: &[bool], b: &[bool]) -> f64 {
    let intersection = a.iter().zip(b).filter(|(x, y)| **x && **y).count() as f64;
    let union = a.iter().zip(b).filter(|(x, y)| **x || **y).count() as f64;
    if union == 0.0 {
        1.0
    } else {
        intersection / union
    }
}

#[test]
fn text_masks_match_the_reference_with_iou_above_0_99() {
    let pipeline = text_detector();
    let golden = golden("segmentation_ch_PP-OCRv4_det_infer.json");
    for (image, expected) in golden["images"].as_object().unwrap() {
        let path = if image.starts_with("page_line") {
            repo().join("tests/goldens/inputs").join(image)
        } else {
            fixture(&format!("images/{image}"))
        };
        let prediction = pipeline.predict_path(&path).unwrap();
        let (width, height) = (prediction.width as usize, prediction.height as usize);
        assert_eq!(
            [width as u64, height as u64],
            [expected["orig_size"][0].as_u64().unwrap(), expected["orig_size"][1].as_u64().unwrap()]
        );
        let PredictionOutput::Segmentation(segmentation) = &prediction.output else {
            panic!("{image}: not a segmentation")
        };
        let text = segmentation.classes.iter().find(|class| class.class_id == 1).expect("text pixels found");
        let ours = text.mask.decode();
        let counts: Vec<u64> =
            expected["orig_mask_rle"].as_array().unwrap().iter().map(|count| count.as_u64().unwrap()).collect();
        let reference = decode_rle(&counts, width * height);
        let score = iou(&ours, &reference);
        assert!(score >= 0.99, "{image}: IoU {score:.4} with the reference mask");
        assert!(!segmentation.regions.is_empty(), "{image}: text regions are boxed");
    }
}

#[test]
fn text_regions_lie_inside_the_image_and_cover_the_text() {
    let prediction = text_detector().predict_path(fixture("images/text.png")).unwrap();
    let PredictionOutput::Segmentation(segmentation) = &prediction.output else { panic!() };
    let mask: &Mask = &segmentation.classes[0].mask;
    assert_eq!((mask.width, mask.height), (prediction.width, prediction.height));
    for region in &segmentation.regions {
        let bbox = region.bbox;
        assert!(
            bbox.x1 >= 0.0
                && bbox.y1 >= 0.0
                && bbox.x2 <= prediction.width as f32
                && bbox.y2 <= prediction.height as f32,
            "{bbox:?}"
        );
        assert!(region.score > 0.3 && region.score <= 1.0);
    }
}

#[test]
fn a_thin_strip_whose_input_would_be_huge_is_refused_as_too_large() {
    // `fit_multiple` scales the short side up to 736: a 16384×1 PNG of a few hundred bytes
    // would become a 12,058,624×736 input (106 GB) and abort the process on allocation.
    let mut strip = Vec::new();
    inferx_runtime::image::DynamicImage::new_rgb8(16_384, 1)
        .write_to(&mut std::io::Cursor::new(&mut strip), inferx_runtime::image::ImageFormat::Png)
        .unwrap();
    assert!(strip.len() < 1_000);
    let detector = text_detector();
    for (path, result) in [
        ("bytes", detector.predict_bytes(&strip)),
        ("bytes, overlapped", detector.predict_bytes_overlapped(&strip)),
        ("decoded", detector.predict(&inferx_runtime::image::DynamicImage::new_rgb8(1, 16_384))),
    ] {
        let error = result.expect_err(path);
        assert!(
            matches!(error, inferx_runtime::Error::Image { problem: inferx_runtime::ImageProblem::TooLarge, .. }),
            "{path}: {error}"
        );
        assert!(error.to_string().contains("limits.max_alloc_bytes"), "{path}: {error}");
    }
    // A file is named in the message.
    let folder = tempfile::tempdir().unwrap();
    let file = folder.path().join("strip.png");
    std::fs::write(&file, &strip).unwrap();
    let error = detector.predict_path(&file).unwrap_err().to_string();
    assert!(error.contains("strip.png") && error.contains("16384x1"), "{error}");
    // An ordinary page still goes through.
    detector.predict_path(fixture("images/text.png")).unwrap();
}

#[test]
fn an_image_whose_outputs_at_its_own_size_are_over_the_limit_is_refused() {
    // The class map and probabilities mapped back onto the image take 6 bytes a pixel.
    let options = PipelineOptions {
        limits: inferx_runtime::preprocess::ImageLimits { max_alloc_bytes: 1 << 20, ..Default::default() },
        ..PipelineOptions::for_task(TaskKind::Segmentation)
    };
    let small_limits = Pipeline::load(fixture("models/ch_PP-OCRv4_det_infer.onnx"), options).unwrap();
    let error = small_limits.predict(&inferx_runtime::image::DynamicImage::new_luma8(500, 500)).unwrap_err();
    assert!(error.to_string().contains("6 a pixel"), "{error}");
    small_limits.predict(&inferx_runtime::image::DynamicImage::new_luma8(300, 300)).unwrap();
}
