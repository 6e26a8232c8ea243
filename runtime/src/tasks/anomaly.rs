//! Anomaly decoding for anomalib-style models: `pred_score` and `anomaly_map` outputs (an
//! optional `pred_mask` is ignored: the mask is derived from the map and the threshold).

use super::{mismatch, resample_to_source, DecodeOptions, ItemView};
use crate::{
    preprocess::{PreprocessConfig, ResizeMode, Transform},
    results::{Anomaly, Mask},
    Result, TaskKind,
};

/// The preprocessing anomaly models take by default: ImageNet's, stretched to `width`×`height`.
pub(crate) fn default_preprocess(width: u32, height: u32) -> PreprocessConfig {
    PreprocessConfig { width, height, ..PreprocessConfig::imagenet(width, ResizeMode::Stretch) }
}

/// Whether a model's output ranks are ones this task decodes: any outputs (a score, a map).
pub(crate) fn outputs_fit(ranks: &[usize]) -> bool {
    !ranks.is_empty()
}

/// Bytes kept at the source image's size while predicting: the heat map mapped back onto it
/// (4 bytes a pixel), more than the RGB copy.
pub(crate) const BYTES_PER_SOURCE_PIXEL: u64 = 4;

/// Decodes one image's anomaly outputs.
pub fn decode(
    items: &[ItemView<'_>],
    transform: &Transform,
    input_size: (u32, u32),
    options: &DecodeOptions,
) -> Result<Anomaly> {
    let map = items
        .iter()
        .find(|item| item.name == "anomaly_map")
        .or_else(|| items.iter().find(|item| item.data.len() > 1 && item.name != "pred_mask"));
    let score_output =
        items.iter().find(|item| item.name == "pred_score").or_else(|| items.iter().find(|item| item.data.len() == 1));
    if map.is_none() && score_output.is_none() {
        return Err(mismatch(TaskKind::Anomaly, "expected a `pred_score` and/or an `anomaly_map` output"));
    }
    let threshold = options.confidence;
    let (mut map_width, mut map_height, mut peak, mut region, mut values) = (0, 0, (0.0, 0.0), None, Vec::new());
    let mut heat = Vec::new();
    let mut map_max = f32::NEG_INFINITY;
    if let Some(map) = map {
        let (height, width) = match map.shape {
            [1, height, width] | [height, width] if *height > 0 && *width > 0 => (*height, *width),
            other => {
                return Err(mismatch(
                    TaskKind::Anomaly,
                    format!("expected an anomaly map [N, 1, H, W], got {other:?} per image"),
                ))
            }
        };
        let (peak_index, peak_value) = map
            .data
            .iter()
            .enumerate()
            .fold((0, f32::NEG_INFINITY), |best, (index, &value)| if value > best.1 { (index, value) } else { best });
        map_max = peak_value;
        let input_x = (peak_index % width) as f64 + 0.5;
        let input_y = (peak_index / width) as f64 + 0.5;
        let (x, y) = transform
            .to_source(input_x * input_size.0 as f64 / width as f64, input_y * input_size.1 as f64 / height as f64);
        peak = (x as f32, y as f32);
        let (source_width, source_height) = (transform.source_width, transform.source_height);
        heat = resample_to_source(map.data, (width, height), transform, input_size);
        region = Some(Mask::encode(source_width, source_height, heat.iter().map(|value| *value > threshold)));
        (map_width, map_height) = (width as u32, height as u32);
        if options.keep_anomaly_map {
            values = map.data.to_vec();
        }
    }
    let score = match score_output {
        Some(output) => {
            *output.data.first().ok_or_else(|| mismatch(TaskKind::Anomaly, "the `pred_score` output holds no value"))?
        }
        None => map_max,
    };
    Ok(Anomaly {
        score,
        is_anomalous: score > threshold,
        threshold,
        map: values,
        map_width,
        map_height,
        peak,
        region,
        heat,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::letterbox_geometry;

    #[test]
    fn score_threshold_and_peak_location() {
        let mut map = vec![0.1f32; 16];
        map[2 * 4 + 3] = 0.95; // peak at column 3, row 2
        let items = [
            ItemView { name: "pred_score", shape: &[], data: &[0.8] },
            ItemView { name: "anomaly_map", shape: &[1, 4, 4], data: &map },
        ];
        // 8x8 source into a 4x4 input: every map pixel covers 2x2 source pixels.
        let transform = letterbox_geometry(8, 8, 4, 4);
        let options = DecodeOptions::for_task(TaskKind::Anomaly);
        let anomaly = decode(&items, &transform, (4, 4), &options).unwrap();
        assert!(anomaly.is_anomalous);
        assert_eq!(anomaly.peak, (7.0, 5.0));
        assert!(anomaly.region.unwrap().area() > 0);
        let calm = [ItemView { name: "pred_score", shape: &[], data: &[0.2] }];
        assert!(!decode(&calm, &transform, (4, 4), &options).unwrap().is_anomalous);
    }
}
