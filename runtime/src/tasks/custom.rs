//! The custom task: any model, its outputs returned as raw tensors for the project's own
//! postprocessing (`src/hooks.rs` in the `custom` template).

use super::ItemView;
use crate::{
    preprocess::{PreprocessConfig, ResizeMode},
    tensor::OutputTensor,
};

/// The preprocessing a custom model's image input takes by default: stretched to
/// `width`×`height`, scaled to 0–1.
pub(crate) fn default_preprocess(width: u32, height: u32) -> PreprocessConfig {
    PreprocessConfig { width, height, resize: ResizeMode::Stretch, ..PreprocessConfig::default() }
}

/// Any outputs fit.
pub(crate) fn outputs_fit(_ranks: &[usize]) -> bool {
    true
}

/// Bytes kept at the source image's size while predicting: its RGB copy.
pub(crate) const BYTES_PER_SOURCE_PIXEL: u64 = 3;

/// One image's outputs, copied as they are.
pub fn decode(items: &[ItemView<'_>]) -> Vec<OutputTensor> {
    items
        .iter()
        .map(|item| OutputTensor { name: item.name.to_string(), shape: item.shape.to_vec(), data: item.data.to_vec() })
        .collect()
}
