//! Val for anomaly models on an MVTec AD category, as anomalib measures them: image
//! AUROC of `pred_score`, pixel AUROC of `anomaly_map` over every pixel of every test image
//! (the masks resized to the map by nearest neighbour, as anomalib resizes them to the model's
//! input), and the F1-optimal threshold of the image scores, which `--write-threshold` stores in
//! the project's `inferx.yaml`.

use std::{
    collections::HashSet,
    path::{Path, PathBuf},
};

use crate::{
    evaluation::{
        anomaly::{auroc, f1_optimal_threshold},
        report,
    },
    labelled_data::{self, sets::Problem, AnomalySet, LabelMap},
    Error, PipelinePool, PredictionOutput, Result,
};

use super::{bail, predict, Evaluated, ValOutput, ValSettings};

pub(super) fn evaluate(
    settings: &ValSettings,
    pool: &PipelinePool,
    set: AnomalySet,
    configured: f32,
    mut skipped: HashSet<PathBuf>,
    output: &dyn ValOutput,
) -> Result<Evaluated> {
    let samples: Vec<_> = set.samples.into_iter().filter(|sample| !skipped.contains(&sample.image)).collect();
    let mut scores = vec![f32::NAN; samples.len()];
    let (mut pixel_scores, mut pixel_truth): (Vec<f32>, Vec<bool>) = (Vec::new(), Vec::new());
    let mut has_map = true;
    let predicted =
        predict(pool, samples.iter().map(|sample| sample.image.clone()).collect(), output, |index, prediction| {
            let sample = &samples[index];
            let problem = |file: &PathBuf, message: String| Problem {
                file: file.clone(),
                line: None,
                message,
                image: Some(sample.image.clone()),
            };
            let PredictionOutput::Anomaly(anomaly) = &prediction.output else {
                return Err(problem(&sample.image, "the model gave no anomaly score".to_string()));
            };
            scores[index] = anomaly.score;
            if anomaly.map.is_empty() {
                has_map = false;
                return Ok(());
            }
            let (width, height) = (anomaly.map_width as usize, anomaly.map_height as usize);
            let truth = match &sample.mask {
                Some(mask) => {
                    let map = labelled_data::read_label_map(mask).map_err(|error| problem(mask, error.to_string()))?;
                    if (map.width, map.height) != (prediction.width, prediction.height) {
                        return Err(problem(
                            mask,
                            format!(
                                "the mask is {}×{} but its image is {}×{}: save the mask at the image's size",
                                map.width, map.height, prediction.width, prediction.height
                            ),
                        ));
                    }
                    resized(&map, width, height)
                }
                None => vec![false; width * height],
            };
            pixel_scores.extend_from_slice(&anomaly.map);
            pixel_truth.extend(truth);
            Ok(())
        });
    skipped.extend(predicted.failed(settings.skip_bad, output)?);
    let kept: Vec<usize> = (0..samples.len()).filter(|&index| predicted.images[index].is_some()).collect();
    let image_scores: Vec<f32> = kept.iter().map(|&index| scores[index]).collect();
    let anomalous: Vec<bool> = kept.iter().map(|&index| samples[index].defect.is_some()).collect();
    let Some(image_auroc) = auroc(&image_scores, &anomalous) else {
        bail!(
            "image AUROC needs good and anomalous images with scores (a NaN score has no rank): {} good and {} anomalous were evaluated",
            anomalous.iter().filter(|is| !**is).count(),
            anomalous.iter().filter(|is| **is).count()
        );
    };
    let Some(threshold) = f1_optimal_threshold(&image_scores, &anomalous) else {
        bail!("no anomalous image to set the threshold on");
    };
    let pixel_auroc = if has_map { auroc(&pixel_scores, &pixel_truth) } else { None };
    let mut per_kind: Vec<report::AnomalyKind> = Vec::new();
    for &index in &kept {
        let kind = samples[index].defect.clone().unwrap_or_else(|| "good".to_string());
        if per_kind.last().is_none_or(|last| last.kind != kind) {
            per_kind.push(report::AnomalyKind { kind, images: 0, flagged: 0 });
        }
        if let Some(last) = per_kind.last_mut() {
            last.images += 1;
            last.flagged += usize::from(scores[index] >= threshold.threshold);
        }
    }
    let report = report::AnomalyReport {
        task: "anomaly",
        images: kept.len(),
        skipped: skipped.len(),
        metrics: report::AnomalyMetrics { image_auroc, pixel_auroc },
        threshold,
        configured_threshold: configured,
        per_kind,
        speed_ms: predicted.speed,
        images_per_second: predicted.speed.images_per_second,
    };
    Ok(Evaluated::Anomaly(report))
}

/// The mask's anomalous pixels (any non-zero value) at the map's size: nearest neighbour with
/// the source pixel `floor(x · mask / map)`, as torchvision resizes anomalib's masks.
fn resized(mask: &LabelMap, width: usize, height: usize) -> Vec<bool> {
    let (mask_width, mask_height) = (mask.width as usize, mask.height as usize);
    let mut pixels = Vec::with_capacity(width * height);
    for y in 0..height {
        let source_y = (y * mask_height / height).min(mask_height - 1);
        for x in 0..width {
            let source_x = (x * mask_width / width).min(mask_width - 1);
            pixels.push(mask.classes[source_y * mask_width + source_x] != 0);
        }
    }
    pixels
}

/// Stores the threshold in the project's `inferx.yaml` (`config`) as `thresholds.confidence`.
/// The project flags scores above its threshold and anomalib those at or above: the value
/// stored is the largest `f32` below anomalib's, so both flag the same images.
pub(super) fn write_threshold(config: &Path, threshold: f32, output: &dyn ValOutput) -> Result<()> {
    let stored = threshold.next_down();
    if !(0.0..=1.0).contains(&stored) {
        bail!(
            "the F1-optimal threshold {threshold} is outside 0..1, which thresholds.confidence accepts: export the model with anomalib's normalisation (scores in 0..1)"
        );
    }
    let text = std::fs::read_to_string(config).map_err(|source| Error::Io {
        action: "could not read",
        path: config.to_path_buf(),
        source,
    })?;
    let Some(updated) = crate::config::set_confidence(&text, stored) else {
        bail!(
            "could not set thresholds.confidence in `{}` without changing anything else: set `thresholds: {{confidence: {stored}}}` yourself",
            config.display()
        );
    };
    std::fs::write(config, updated).map_err(|source| Error::Io {
        action: "could not write",
        path: config.to_path_buf(),
        source,
    })?;
    output.status(&format!(
        "thresholds.confidence: {stored} written to `{}` (scores from {threshold} up are anomalous)",
        config.display()
    ));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_shrink_by_nearest_neighbour() {
        // 4×2 mask, anomalous on its right half, to 2×1.
        let mask = LabelMap { width: 4, height: 2, classes: vec![0, 0, 255, 255, 0, 0, 255, 255] };
        assert_eq!(resized(&mask, 2, 1), [false, true]);
        assert_eq!(resized(&mask, 4, 2), mask.classes.iter().map(|&value| value != 0).collect::<Vec<_>>());
    }
}
