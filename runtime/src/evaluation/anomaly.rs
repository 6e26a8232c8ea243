//! Anomaly detection accuracy as anomalib defines it: the area under the ROC curve of the
//! image scores (image AUROC) and of every pixel of every test image pooled into one curve
//! (pixel AUROC), both equal to scikit-learn's `roc_auc_score` (equal scores count one half);
//! and the F1-optimal threshold of anomalib's `F1AdaptiveThreshold`: of the precision-recall
//! curve's thresholds (the distinct scores; a score at or above the threshold is anomalous),
//! the lowest one with the best `2·P·R / (P + R + 1e-10)`.

use std::cmp::Ordering;

/// Scores with their truth (anomalous or not), best first, grouped by equal score: the steps
/// of the ROC and precision-recall curves.
struct ScoreSteps {
    /// (score, anomalous, normal) per distinct score, highest first.
    steps: Vec<(f32, u64, u64)>,
    anomalous: u64,
    normal: u64,
}

impl ScoreSteps {
    /// `None` when a score is NaN (there is no order to rank it in).
    fn new(scores: &[f32], anomalous: &[bool]) -> Option<ScoreSteps> {
        debug_assert_eq!(scores.len(), anomalous.len(), "as many truths as scores");
        if scores.iter().any(|score| score.is_nan()) {
            return None;
        }
        let mut pairs: Vec<(f32, bool)> = scores.iter().copied().zip(anomalous.iter().copied()).collect();
        // Highest first; `-0.0` and `0.0` are one score, as in NumPy.
        pairs.sort_unstable_by(|a, b| b.0.partial_cmp(&a.0).unwrap_or(Ordering::Equal));
        let mut steps: Vec<(f32, u64, u64)> = Vec::new();
        for (score, is_anomalous) in pairs {
            match steps.last_mut() {
                Some(step) if step.0 == score => {}
                _ => steps.push((score, 0, 0)),
            }
            if let Some(step) = steps.last_mut() {
                if is_anomalous {
                    step.1 += 1;
                } else {
                    step.2 += 1;
                }
            }
        }
        let anomalous = steps.iter().map(|step| step.1).sum();
        let normal = steps.iter().map(|step| step.2).sum();
        Some(ScoreSteps { steps, anomalous, normal })
    }
}

/// The area under the ROC curve of `scores` (higher: more anomalous) against the truth, as
/// scikit-learn's `roc_auc_score` computes it: the trapezoid rule over the curve's steps, so a
/// tie between an anomalous and a normal sample counts one half. `None` when only one class is
/// present (scikit-learn gives NaN with a warning) or a score is NaN.
///
/// ```
/// use inferx_runtime::evaluation::anomaly::auroc;
///
/// assert_eq!(auroc(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]), Some(0.75));
/// // A tie between an anomalous and a normal sample counts one half.
/// assert_eq!(auroc(&[0.5, 0.5], &[false, true]), Some(0.5));
/// assert_eq!(auroc(&[0.5, 0.7], &[true, true]), None);
/// ```
pub fn auroc(scores: &[f32], anomalous: &[bool]) -> Option<f64> {
    let curve = ScoreSteps::new(scores, anomalous)?;
    if curve.anomalous == 0 || curve.normal == 0 {
        return None;
    }
    // Twice the area in counts: each normal sample scores the anomalous ones above it, and
    // half of those tied with it. Exact in u128, one division at the end.
    let mut anomalous_above: u128 = 0;
    let mut twice_area: u128 = 0;
    for &(_, anomalous, normal) in &curve.steps {
        twice_area += u128::from(normal) * (2 * anomalous_above + u128::from(anomalous));
        anomalous_above += u128::from(anomalous);
    }
    Some(twice_area as f64 / (2.0 * curve.anomalous as f64 * curve.normal as f64))
}

/// The threshold with the best F1 and the precision and recall there.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct F1Threshold {
    /// Scores at or above it are anomalous.
    pub threshold: f32,
    /// `2·P·R / (P + R + 1e-10)` at the threshold.
    pub f1: f64,
    /// Precision at the threshold.
    pub precision: f64,
    /// Recall at the threshold.
    pub recall: f64,
}

/// anomalib's F1-optimal threshold (`F1AdaptiveThreshold`): among the distinct scores, the
/// lowest at which F1 (with anomalib's `1e-10` in the denominator) is best. `None` without an
/// anomalous sample (there is no recall to measure) or when a score is NaN.
///
/// ```
/// use inferx_runtime::evaluation::anomaly::f1_optimal_threshold;
///
/// let best = f1_optimal_threshold(&[0.1, 0.4, 0.35, 0.8], &[false, false, true, true]).unwrap();
/// // At 0.35: 2 of 3 flagged are anomalous and both anomalous samples are flagged.
/// assert_eq!((best.threshold, best.recall), (0.35, 1.0));
/// assert!((best.precision - 2.0 / 3.0).abs() < 1e-12);
/// ```
pub fn f1_optimal_threshold(scores: &[f32], anomalous: &[bool]) -> Option<F1Threshold> {
    let curve = ScoreSteps::new(scores, anomalous)?;
    if curve.anomalous == 0 {
        return None;
    }
    let (mut true_positives, mut flagged) = (0u64, 0u64);
    let mut best: Option<F1Threshold> = None;
    // Highest threshold first: on equal F1 the later (lower) one wins, as `argmax` over the
    // ascending thresholds picks the first.
    for &(score, anomalous, normal) in &curve.steps {
        true_positives += anomalous;
        flagged += anomalous + normal;
        let precision = true_positives as f64 / flagged as f64;
        let recall = true_positives as f64 / curve.anomalous as f64;
        let f1 = 2.0 * precision * recall / (precision + recall + 1e-10);
        if best.is_none_or(|best| f1 >= best.f1) {
            best = Some(F1Threshold { threshold: score, f1, precision, recall });
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_ties_give_one_half_and_a_perfect_ranking_one() {
        assert_eq!(auroc(&[0.3; 6], &[true, false, true, false, false, true]), Some(0.5));
        assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &[true, true, false, false]), Some(1.0));
        assert_eq!(auroc(&[0.9, 0.8, 0.2, 0.1], &[false, false, true, true]), Some(0.0));
        assert_eq!(auroc(&[0.9, f32::NAN], &[false, true]), None);
        assert_eq!(auroc(&[], &[]), None);
    }

    #[test]
    fn equal_f1_picks_the_lower_threshold() {
        // At 0.9: P 1, R 1/2, F1 2/3. At 0.5: P 2/4, R 1, F1 2/3 again: the lower one wins.
        let best = f1_optimal_threshold(&[0.9, 0.5, 0.5, 0.5, 0.1], &[true, true, false, false, false]).unwrap();
        assert_eq!(best.threshold, 0.5);
        assert_eq!(f1_optimal_threshold(&[0.9, 0.5], &[false, false]), None);
    }
}
