//! The letterbox against OpenCV, byte for byte: `scripts/reference.py` records the sha256 of
//! every letterboxed image it feeds the detector (`cv2.resize` INTER_LINEAR, padding 114).

use inferx_runtime::preprocess::{decode_image, ImageLimits, PreprocessConfig, Preprocessor, Scratch};
use sha2::{Digest, Sha256};

use crate::support::*;

/// The tensor turned back into the HWC RGB bytes the reference hashed (values are `x / 255`).
fn letterboxed_rgb(tensor: &[f32], size: usize) -> Vec<u8> {
    let plane = size * size;
    (0..plane)
        .flat_map(|pixel| (0..3).map(move |channel| (tensor[channel * plane + pixel] * 255.0).round() as u8))
        .collect()
}

#[test]
fn letterboxed_pngs_equal_opencv_byte_for_byte_at_320_and_640() {
    let mut checked = 0;
    for size in [320usize, 640] {
        let golden = golden(&format!("detection_nudenet-320n_{size}.json"));
        let checks = golden["preprocess_check"].as_object().expect("preprocess_check in the golden");
        let preprocessor = Preprocessor::new(PreprocessConfig::letterbox(size as u32));
        let mut scratch = Scratch::default();
        let mut tensor = vec![0.0; preprocessor.tensor_len()];
        // JPEG decoders may differ from libjpeg by a level; PNG pixels are exact.
        for (name, check) in checks.iter().filter(|(name, _)| name.ends_with(".png")) {
            let image = decode_image(&std::fs::read(images().join(name)).unwrap(), &ImageLimits::default()).unwrap();
            preprocessor.fill(&image, &mut scratch, &mut tensor).unwrap();
            let digest = format!("{:x}", Sha256::digest(letterboxed_rgb(&tensor, size)));
            assert_eq!(digest, check["letterboxed_rgb_sha256"].as_str().unwrap(), "{name} at {size}");
            checked += 1;
        }
    }
    assert!(checked >= 10, "only {checked} letterboxed images were compared");
}
