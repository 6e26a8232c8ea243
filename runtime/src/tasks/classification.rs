//! Classification decoding: softmax when the model outputs logits, then top-k.

use super::{mismatch, DecodeOptions, ItemView, ScoreKind};
use crate::{
    labels::label_for,
    preprocess::{PreprocessConfig, ResizeMode},
    results::ClassScore,
    Result, TaskKind,
};

/// The preprocessing classifiers take by default: ImageNet's, a center crop to `width`×`height`.
pub(crate) fn default_preprocess(width: u32, height: u32) -> PreprocessConfig {
    PreprocessConfig { width, height, ..PreprocessConfig::imagenet(width, ResizeMode::CenterCrop) }
}

/// Whether a model's output ranks are ones this task decodes: `[N, classes]` or
/// `[N, classes, 1, 1]` first.
pub(crate) fn outputs_fit(ranks: &[usize]) -> bool {
    ranks.first().is_some_and(|rank| *rank == 2 || *rank == 4)
}

/// Bytes kept at the source image's size while predicting: its RGB copy.
pub(crate) const BYTES_PER_SOURCE_PIXEL: u64 = 3;

/// Converts raw scores to probabilities according to `kind`.
pub fn probabilities(scores: &[f32], kind: ScoreKind) -> Vec<f32> {
    let already = match kind {
        ScoreKind::Probabilities => true,
        ScoreKind::Logits => false,
        ScoreKind::Auto => {
            let sum: f32 = scores.iter().sum();
            scores.iter().all(|score| (0.0..=1.0).contains(score)) && (sum - 1.0).abs() < 1e-3
        }
    };
    if already {
        return scores.to_vec();
    }
    let max = scores.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = scores.iter().map(|score| (score - max).exp()).collect();
    let total: f32 = exps.iter().sum();
    exps.into_iter().map(|value| value / total).collect()
}

/// Decodes `[C]` (or `[C, 1, 1]`) scores into the top-k classes, best first.
pub fn decode(items: &[ItemView<'_>], options: &DecodeOptions) -> Result<Vec<ClassScore>> {
    let item = items.first().ok_or_else(|| mismatch(TaskKind::Classification, "the model has no outputs"))?;
    let spatial: usize = item.shape.iter().skip(1).product();
    if item.shape.is_empty() || spatial != 1 {
        return Err(mismatch(
            TaskKind::Classification,
            format!("expected an output [N, classes], got shape {:?} per image", item.shape),
        ));
    }
    let probabilities = probabilities(item.data, options.scores);
    let mut order: Vec<usize> = (0..probabilities.len()).collect();
    order.sort_by(|&a, &b| probabilities[b].total_cmp(&probabilities[a]).then(a.cmp(&b)));
    Ok(order
        .into_iter()
        .take(options.top_k.max(1))
        .map(|class_id| ClassScore {
            class_id,
            label: label_for(&options.labels, class_id),
            score: probabilities[class_id],
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logits_get_softmax_and_probabilities_pass_through() {
        let logits = probabilities(&[1.0, 2.0, 3.0], ScoreKind::Auto);
        assert!((logits.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!((logits[2] - 0.665_240_9).abs() < 1e-6);
        assert_eq!(probabilities(&[0.2, 0.8], ScoreKind::Auto), [0.2, 0.8]);
        let forced = probabilities(&[0.2, 0.8], ScoreKind::Logits);
        assert!((forced[1] - 0.645_656_3).abs() < 1e-6);
    }

    #[test]
    fn top_k_is_sorted_with_labels() {
        let options = DecodeOptions {
            top_k: 2,
            labels: vec!["0".into(), "90".into(), "180".into()],
            ..DecodeOptions::for_task(TaskKind::Classification)
        };
        let item = ItemView { name: "out", shape: &[3], data: &[0.1, 0.7, 0.2] };
        let top = decode(&[item], &options).unwrap();
        assert_eq!(top.iter().map(|class| class.label.as_str()).collect::<Vec<_>>(), ["90", "180"]);
        let bad = ItemView { name: "out", shape: &[3, 2], data: &[0.0; 6] };
        assert!(decode(&[bad], &options).is_err());
    }
}
