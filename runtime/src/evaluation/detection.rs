//! Box detection accuracy as pycocotools' `COCOeval` (`iouType="bbox"`) computes it.
//!
//! Every rule of the reference is kept, because a mean average precision is only comparable
//! when it is computed the same way: IoU thresholds 0.50:0.05:0.95 and 101 recall points made
//! as `np.linspace` makes them; at most 100 detections per image **and category**, taken by
//! score with a stable sort (ties keep the order the detections were given in); greedy
//! matching in score order where a crowd box can match many detections and counts its IoU
//! over the detection's area alone; crowd boxes and boxes outside an area range are ignored,
//! not missed; detections matched to them, or unmatched and outside the area range, are
//! ignored, not false; a category with no ground truth box is left out of the means.
//!
//! Boxes are `[x, y, width, height]` in pixels, as in COCO files. Images are numbered `0..n`
//! in the order pycocotools sorts their ids (which decides how equal scores of different
//! images are ordered), and detections are given in the order of the results file.

use std::{cmp::Ordering, collections::HashMap};

/// Most detections per image and category that the metrics consider: COCO's `maxDets`.
pub const MAX_DETECTIONS: [usize; 3] = [1, 10, 100];

/// COCO's area ranges in square pixels: all, small (< 32²), medium (32²–96²), large (> 96²).
pub const AREA_RANGES: [(&str, f64, f64); 4] =
    [("all", 0.0, 1e10), ("small", 0.0, 1024.0), ("medium", 1024.0, 9216.0), ("large", 9216.0, 1e10)];

/// Recall points at which precision is read (`np.linspace(0, 1, 101)`).
const RECALL_POINTS: usize = 101;
/// IoU thresholds (`np.linspace(0.5, 0.95, 10)`).
const IOU_THRESHOLDS: usize = 10;

/// `np.linspace(start, stop, count)`: `i * step + start`, the last value exactly `stop`
/// (so 0.01 × 7 is not 0.07, as in pycocotools).
fn linspace(start: f64, stop: f64, count: usize) -> Vec<f64> {
    let step = (stop - start) / (count - 1) as f64;
    (0..count).map(|index| if index + 1 == count { stop } else { index as f64 * step + start }).collect()
}

/// The IoU thresholds 0.50, 0.55 … 0.95, as pycocotools makes them.
pub fn iou_thresholds() -> Vec<f64> {
    linspace(0.5, 0.95, IOU_THRESHOLDS)
}

/// The 101 recall points 0.00 … 1.00, as pycocotools makes them.
pub fn recall_points() -> Vec<f64> {
    linspace(0.0, 1.0, RECALL_POINTS)
}

/// A labelled box.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruthBox {
    /// The image's number (`0..images`).
    pub image: usize,
    /// The category id.
    pub category: u64,
    /// `[x, y, width, height]` in pixels.
    pub bbox: [f64; 4],
    /// The area used for the area ranges (COCO's `area` field; `width × height` for boxes).
    pub area: f64,
    /// A crowd region (`iscrowd`): ignored, and it may match any number of detections.
    pub crowd: bool,
    /// The annotation id. pycocotools treats a detection matched to id 0 as unmatched; this
    /// does the same.
    pub id: u64,
}

/// A predicted box with its confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectedBox {
    /// The image's number (`0..images`).
    pub image: usize,
    /// The category id.
    pub category: u64,
    /// `[x, y, width, height]` in pixels.
    pub bbox: [f64; 4],
    /// Confidence.
    pub score: f64,
}

impl DetectedBox {
    fn area(&self) -> f64 {
        self.bbox[2] * self.bbox[3]
    }
}

/// pycocotools' twelve summary numbers (`COCOeval.stats`); `-1` where nothing was measured
/// (no ground truth in the range).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct CocoStats {
    /// AP at IoU 0.50:0.95, all areas, 100 detections: mAP50-95.
    pub map50_95: f64,
    /// AP at IoU 0.50: mAP50.
    pub map50: f64,
    /// AP at IoU 0.75.
    pub map75: f64,
    /// AP of small boxes.
    pub map_small: f64,
    /// AP of medium boxes.
    pub map_medium: f64,
    /// AP of large boxes.
    pub map_large: f64,
    /// Recall with 1 detection per image and category.
    pub recall_1: f64,
    /// Recall with 10 detections per image and category.
    pub recall_10: f64,
    /// Recall with 100 detections per image and category.
    pub recall_100: f64,
    /// Recall of small boxes.
    pub recall_small: f64,
    /// Recall of medium boxes.
    pub recall_medium: f64,
    /// Recall of large boxes.
    pub recall_large: f64,
}

impl CocoStats {
    /// The numbers in pycocotools' `stats` order.
    pub fn to_array(&self) -> [f64; 12] {
        [
            self.map50_95,
            self.map50,
            self.map75,
            self.map_small,
            self.map_medium,
            self.map_large,
            self.recall_1,
            self.recall_10,
            self.recall_100,
            self.recall_small,
            self.recall_medium,
            self.recall_large,
        ]
    }
}

/// One category's accuracy (all areas, 100 detections per image).
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct CategoryAccuracy {
    /// The category id.
    pub category: u64,
    /// Ground truth boxes that count (crowd boxes left out).
    pub ground_truth: usize,
    /// Detections considered (at most 100 per image).
    pub detections: usize,
    /// AP at IoU 0.50:0.95; `None` without ground truth.
    pub ap50_95: Option<f64>,
    /// AP at IoU 0.50; `None` without ground truth.
    pub ap50: Option<f64>,
    /// Precision at IoU 0.50 at the confidence where F1 is best.
    pub precision: f64,
    /// Recall at IoU 0.50 at that confidence.
    pub recall: f64,
    /// The best F1.
    pub f1: f64,
    /// The confidence of the best F1 (detections scoring at least this count).
    pub confidence: f64,
    /// Interpolated precision at IoU 0.50 at each of the 101 recall points (COCO's
    /// precision-recall curve); empty without ground truth.
    pub precision_curve: Vec<f64>,
}

/// The result of [`evaluate`].
#[derive(Debug, Clone, PartialEq)]
pub struct CocoEvaluation {
    /// The summary, as pycocotools prints it.
    pub stats: CocoStats,
    /// Per category, in id order.
    pub categories: Vec<CategoryAccuracy>,
}

impl CocoEvaluation {
    /// Mean precision and recall at each category's best F1, over the categories that have
    /// ground truth (`0` when none has).
    pub fn mean_precision_recall(&self) -> (f64, f64) {
        let measured: Vec<&CategoryAccuracy> = self.categories.iter().filter(|class| class.ground_truth > 0).collect();
        if measured.is_empty() {
            return (0.0, 0.0);
        }
        let count = measured.len() as f64;
        (
            measured.iter().map(|class| class.precision).sum::<f64>() / count,
            measured.iter().map(|class| class.recall).sum::<f64>() / count,
        )
    }
}

/// One image and category under one area range and detection limit (`evaluateImg`).
struct ImageMatches {
    /// Scores of the detections considered, best first.
    scores: Vec<f64>,
    /// Per IoU threshold and detection: the id of the matched ground truth, 0 for none.
    matched: Vec<Vec<u64>>,
    /// Per IoU threshold and detection: ignored.
    detection_ignored: Vec<Vec<bool>>,
    /// Per ground truth box: ignored.
    truth_ignored: Vec<bool>,
}

/// Indices of `scores` best first; equal scores keep their order (`np.argsort(-s,
/// kind="mergesort")`; `-0.0` equals `0.0` as there).
fn best_first(scores: impl Iterator<Item = f64>) -> Vec<usize> {
    let scores: Vec<f64> = scores.collect();
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].partial_cmp(&scores[a]).unwrap_or(Ordering::Equal));
    order
}

/// pycocotools' `bbIou`: a crowd box divides by the detection's area alone.
fn box_iou(detection: &[f64; 4], truth: &[f64; 4], crowd: bool) -> f64 {
    let width = (detection[2] + detection[0]).min(truth[2] + truth[0]) - detection[0].max(truth[0]);
    if width <= 0.0 {
        return 0.0;
    }
    let height = (detection[3] + detection[1]).min(truth[3] + truth[1]) - detection[1].max(truth[1]);
    if height <= 0.0 {
        return 0.0;
    }
    let intersection = width * height;
    let detection_area = detection[2] * detection[3];
    let union = if crowd { detection_area } else { detection_area + truth[2] * truth[3] - intersection };
    intersection / union
}

/// `evaluateImg`: `truths` in the order given, `detections` best first and at most
/// the largest detection limit; `ious[d][g]` between them.
fn match_image(
    truths: &[&Instance],
    detections: &[&Instance],
    ious: &[Vec<f64>],
    (low, high): (f64, f64),
    limit: usize,
    thresholds: &[f64],
) -> ImageMatches {
    let outside = |area: f64| area < low || area > high;
    let ignored: Vec<bool> = truths.iter().map(|truth| truth.crowd || outside(truth.area)).collect();
    // Boxes that count first, ignored ones after (stable).
    let mut truth_order: Vec<usize> = (0..truths.len()).collect();
    truth_order.sort_by_key(|&index| ignored[index]);
    let truth_ignored: Vec<bool> = truth_order.iter().map(|&index| ignored[index]).collect();
    let detections = &detections[..detections.len().min(limit)];
    let mut matched = vec![vec![0u64; detections.len()]; thresholds.len()];
    let mut detection_ignored = vec![vec![false; detections.len()]; thresholds.len()];
    for (threshold_index, &threshold) in thresholds.iter().enumerate() {
        let mut truth_taken = vec![false; truth_order.len()];
        for detection_index in 0..detections.len() {
            let mut best_iou = threshold.min(1.0 - 1e-10);
            let mut best: Option<usize> = None;
            for (position, &truth_index) in truth_order.iter().enumerate() {
                let truth = truths[truth_index];
                if truth_taken[position] && !truth.crowd {
                    continue;
                }
                // Matched to a box that counts: an ignored one cannot take it over.
                if best.is_some_and(|best| !truth_ignored[best]) && truth_ignored[position] {
                    break;
                }
                let iou = ious[detection_index][truth_index];
                if iou < best_iou {
                    continue;
                }
                best_iou = iou;
                best = Some(position);
            }
            if let Some(position) = best {
                detection_ignored[threshold_index][detection_index] = truth_ignored[position];
                matched[threshold_index][detection_index] = truths[truth_order[position]].id;
                truth_taken[position] = true;
            }
        }
    }
    // Unmatched detections outside the area range are ignored.
    for (threshold_index, row) in detection_ignored.iter_mut().enumerate() {
        for (detection_index, ignored) in row.iter_mut().enumerate() {
            if matched[threshold_index][detection_index] == 0 && outside(detections[detection_index].area) {
                *ignored = true;
            }
        }
    }
    ImageMatches {
        scores: detections.iter().map(|detection| detection.score).collect(),
        matched,
        detection_ignored,
        truth_ignored,
    }
}

/// What `accumulate` finds for one category, area range and detection limit.
struct Accumulated {
    /// `[threshold][recall point]` interpolated precision.
    precision: Vec<Vec<f64>>,
    /// `[threshold]` final recall.
    recall: Vec<f64>,
    /// At the first threshold: (precision, recall, score) at each detection, best first,
    /// before interpolation.
    first_threshold_curve: Vec<(f64, f64, f64)>,
    ground_truth: usize,
    detections: usize,
}

fn accumulate(images: &[&ImageMatches], limit: usize, thresholds: usize, recall_points: &[f64]) -> Option<Accumulated> {
    let ground_truth = images.iter().flat_map(|image| &image.truth_ignored).filter(|ignored| !**ignored).count();
    if ground_truth == 0 {
        return None;
    }
    // (image, detection) of every detection considered, best first across images.
    let considered: Vec<(usize, usize)> = images
        .iter()
        .enumerate()
        .flat_map(|(image, matches)| (0..matches.scores.len().min(limit)).map(move |detection| (image, detection)))
        .collect();
    let order = best_first(considered.iter().map(|&(image, detection)| images[image].scores[detection]));
    let mut precision = Vec::with_capacity(thresholds);
    let mut recall = Vec::with_capacity(thresholds);
    let mut first_threshold_curve = Vec::new();
    for threshold in 0..thresholds {
        let (mut true_positives, mut false_positives) = (0u64, 0u64);
        let mut precisions = Vec::with_capacity(order.len());
        let mut recalls = Vec::with_capacity(order.len());
        for &index in &order {
            let (image, detection) = considered[index];
            if images[image].detection_ignored[threshold][detection] {
                // An ignored detection adds nothing but still takes a place on the curve.
            } else if images[image].matched[threshold][detection] != 0 {
                true_positives += 1;
            } else {
                false_positives += 1;
            }
            let (tp, fp) = (true_positives as f64, false_positives as f64);
            recalls.push(tp / ground_truth as f64);
            precisions.push(tp / (fp + tp + f64::EPSILON));
        }
        if threshold == 0 {
            first_threshold_curve = order
                .iter()
                .zip(precisions.iter().zip(&recalls))
                .map(|(&index, (&p, &r))| {
                    let (image, detection) = considered[index];
                    (p, r, images[image].scores[detection])
                })
                .collect();
        }
        recall.push(recalls.last().copied().unwrap_or(0.0));
        // The precision envelope: each point takes the best precision at any higher recall.
        for index in (1..precisions.len()).rev() {
            if precisions[index] > precisions[index - 1] {
                precisions[index - 1] = precisions[index];
            }
        }
        // `np.searchsorted(recalls, point, side="left")`; points beyond the last recall read 0.
        let mut at_points = vec![0.0; recall_points.len()];
        let mut position = 0;
        for (slot, &point) in at_points.iter_mut().zip(recall_points) {
            while position < recalls.len() && recalls[position] < point {
                position += 1;
            }
            match precisions.get(position) {
                Some(&value) => *slot = value,
                None => break,
            }
        }
        precision.push(at_points);
    }
    Some(Accumulated { precision, recall, first_threshold_curve, ground_truth, detections: order.len() })
}

/// Mean of the values that were measured (`> -1`), or `-1` when none was.
fn mean_measured(values: impl Iterator<Item = f64>) -> f64 {
    let (sum, count) =
        values.filter(|value| *value > -1.0).fold((0.0, 0usize), |(sum, count), value| (sum + value, count + 1));
    if count == 0 {
        -1.0
    } else {
        sum / count as f64
    }
}

/// Evaluates `detections` against `ground_truth` on `images` images (numbered `0..images`)
/// and the given categories (the ground truth file's category list: boxes and detections of
/// other categories are left out), as pycocotools' `COCOeval.evaluate()`, `accumulate()`
/// and `summarize()` do.
///
/// ```
/// use inferx_runtime::evaluation::detection::{evaluate, DetectedBox, GroundTruthBox};
///
/// let truth = GroundTruthBox { image: 0, category: 1, bbox: [10.0, 10.0, 20.0, 20.0], area: 400.0, crowd: false, id: 1 };
/// let found = DetectedBox { image: 0, category: 1, bbox: [10.0, 10.0, 20.0, 20.0], score: 0.9 };
/// let result = evaluate(1, &[1], &[truth], &[found]);
/// // 1 up to pycocotools' own rounding: it adds `np.spacing(1)` to each precision's denominator.
/// assert!((result.stats.map50_95 - 1.0).abs() < 1e-12);
/// assert_eq!(result.categories[0].recall, 1.0);
/// ```
pub fn evaluate(
    images: usize,
    categories: &[u64],
    ground_truth: &[GroundTruthBox],
    detections: &[DetectedBox],
) -> CocoEvaluation {
    let truths: Vec<Instance> = ground_truth
        .iter()
        .map(|truth| Instance::truth(truth.image, truth.category, truth.area, truth.crowd, truth.id))
        .collect();
    let found: Vec<Instance> = detections
        .iter()
        .map(|found| Instance::detection(found.image, found.category, found.area(), found.score))
        .collect();
    evaluate_instances(images, categories, &truths, &found, |detection, truth| {
        box_iou(&detections[detection].bbox, &ground_truth[truth].bbox, ground_truth[truth].crowd)
    })
}

/// What COCOeval needs of a labelled or detected instance besides its shape: boxes
/// ([`evaluate`]) and masks ([`super::masks::evaluate`]) differ only in their IoU.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Instance {
    /// The image's number (`0..images`).
    pub(crate) image: usize,
    /// The category id.
    pub(crate) category: u64,
    /// The area for the area ranges.
    pub(crate) area: f64,
    /// Ground truth only: a crowd region.
    pub(crate) crowd: bool,
    /// Ground truth only: the annotation id.
    pub(crate) id: u64,
    /// Detections only: the confidence.
    pub(crate) score: f64,
}

impl Instance {
    /// A labelled instance.
    pub(crate) fn truth(image: usize, category: u64, area: f64, crowd: bool, id: u64) -> Instance {
        Instance { image, category, area, crowd, id, score: 0.0 }
    }

    /// A detected instance.
    pub(crate) fn detection(image: usize, category: u64, area: f64, score: f64) -> Instance {
        Instance { image, category, area, crowd: false, id: 0, score }
    }
}

/// COCOeval over instances whose IoU is `iou(detection index, ground truth index)`.
pub(crate) fn evaluate_instances(
    images: usize,
    categories: &[u64],
    ground_truth: &[Instance],
    detections: &[Instance],
    iou: impl Fn(usize, usize) -> f64,
) -> CocoEvaluation {
    let mut categories = categories.to_vec();
    categories.sort_unstable();
    categories.dedup();
    let thresholds = iou_thresholds();
    let recall_points = recall_points();
    let largest_limit = MAX_DETECTIONS[MAX_DETECTIONS.len() - 1];

    // Indices of the instances by (category, image), each in the order given.
    let mut grouped: HashMap<(u64, usize), (Vec<usize>, Vec<usize>)> = HashMap::new();
    for (index, truth) in ground_truth.iter().enumerate().filter(|(_, truth)| truth.image < images) {
        grouped.entry((truth.category, truth.image)).or_default().0.push(index);
    }
    for (index, detection) in detections.iter().enumerate().filter(|(_, detection)| detection.image < images) {
        grouped.entry((detection.category, detection.image)).or_default().1.push(index);
    }

    // [category][area][image]: the matches of each image that has instances of the category.
    let mut per_category: Vec<Vec<Vec<ImageMatches>>> = Vec::with_capacity(categories.len());
    for &category in &categories {
        let mut per_area: Vec<Vec<ImageMatches>> = AREA_RANGES.iter().map(|_| Vec::new()).collect();
        for image in 0..images {
            let Some((truth_indices, found_indices)) = grouped.get(&(category, image)) else { continue };
            let mut found_indices: Vec<usize> = best_first(found_indices.iter().map(|&index| detections[index].score))
                .into_iter()
                .map(|position| found_indices[position])
                .collect();
            found_indices.truncate(largest_limit);
            let ious: Vec<Vec<f64>> = found_indices
                .iter()
                .map(|&detection| truth_indices.iter().map(|&truth| iou(detection, truth)).collect())
                .collect();
            let truths: Vec<&Instance> = truth_indices.iter().map(|&index| &ground_truth[index]).collect();
            let found: Vec<&Instance> = found_indices.iter().map(|&index| &detections[index]).collect();
            for (area_index, &(_, low, high)) in AREA_RANGES.iter().enumerate() {
                per_area[area_index].push(match_image(&truths, &found, &ious, (low, high), largest_limit, &thresholds));
            }
        }
        per_category.push(per_area);
    }

    // [category][area][limit]
    let accumulated: Vec<Vec<Vec<Option<Accumulated>>>> = per_category
        .iter()
        .map(|per_area| {
            per_area
                .iter()
                .map(|matches| {
                    let matches: Vec<&ImageMatches> = matches.iter().collect();
                    MAX_DETECTIONS
                        .iter()
                        .map(|&limit| accumulate(&matches, limit, thresholds.len(), &recall_points))
                        .collect()
                })
                .collect()
        })
        .collect();

    let area_index = |name: &str| AREA_RANGES.iter().position(|(area, _, _)| *area == name).unwrap_or(0);
    let limit_index = |limit: usize| MAX_DETECTIONS.iter().position(|&value| value == limit).unwrap_or(0);
    // The mean over categories, thresholds (all, or one) and recall points, as `_summarize`.
    let average_precision = |threshold: Option<usize>, area: &str| {
        let (area, limit) = (area_index(area), limit_index(largest_limit));
        let mut values = Vec::new();
        for threshold_index in threshold.map_or(0..thresholds.len(), |index| index..index + 1) {
            for point in 0..recall_points.len() {
                for per_area in &accumulated {
                    values.push(
                        per_area[area][limit].as_ref().map_or(-1.0, |found| found.precision[threshold_index][point]),
                    );
                }
            }
        }
        mean_measured(values.into_iter())
    };
    let average_recall = |area: &str, limit: usize| {
        let (area, limit) = (area_index(area), limit_index(limit));
        let mut values = Vec::new();
        for threshold_index in 0..thresholds.len() {
            for per_area in &accumulated {
                values.push(per_area[area][limit].as_ref().map_or(-1.0, |found| found.recall[threshold_index]));
            }
        }
        mean_measured(values.into_iter())
    };
    let threshold_index = |value: f64| thresholds.iter().position(|&threshold| threshold == value);
    let stats = CocoStats {
        map50_95: average_precision(None, "all"),
        map50: threshold_index(0.5).map_or(-1.0, |index| average_precision(Some(index), "all")),
        map75: threshold_index(0.75).map_or(-1.0, |index| average_precision(Some(index), "all")),
        map_small: average_precision(None, "small"),
        map_medium: average_precision(None, "medium"),
        map_large: average_precision(None, "large"),
        recall_1: average_recall("all", MAX_DETECTIONS[0]),
        recall_10: average_recall("all", MAX_DETECTIONS[1]),
        recall_100: average_recall("all", largest_limit),
        recall_small: average_recall("small", largest_limit),
        recall_medium: average_recall("medium", largest_limit),
        recall_large: average_recall("large", largest_limit),
    };

    let per_class = categories
        .iter()
        .zip(&accumulated)
        .map(|(&category, per_area)| {
            let Some(found) = &per_area[area_index("all")][limit_index(largest_limit)] else {
                return CategoryAccuracy {
                    category,
                    ground_truth: 0,
                    detections: 0,
                    ap50_95: None,
                    ap50: None,
                    precision: 0.0,
                    recall: 0.0,
                    f1: 0.0,
                    confidence: 0.0,
                    precision_curve: Vec::new(),
                };
            };
            let mean = |rows: &[Vec<f64>]| mean_measured(rows.iter().flatten().copied());
            // The best F1 at IoU 0.50; the first (most confident) of equal ones.
            let mut best = (0.0, 0.0, 0.0, 0.0);
            for &(precision, recall, score) in &found.first_threshold_curve {
                let f1 = if precision + recall > 0.0 { 2.0 * precision * recall / (precision + recall) } else { 0.0 };
                if f1 > best.2 {
                    best = (precision, recall, f1, score);
                }
            }
            CategoryAccuracy {
                category,
                ground_truth: found.ground_truth,
                detections: found.detections,
                ap50_95: Some(mean(&found.precision)),
                ap50: Some(mean(&found.precision[..1])),
                precision: best.0,
                recall: best.1,
                f1: best.2,
                confidence: best.3,
                precision_curve: found.precision[0].clone(),
            }
        })
        .collect();
    CocoEvaluation { stats, categories: per_class }
}

/// Ultralytics' detection confusion matrix: detections above `confidence` are matched to
/// ground truth boxes (crowd boxes left out) of the same image at IoU above `iou`, each box
/// once, best IoU first, whatever the classes. Returns `[true][predicted]` counts over
/// `categories` and a last "background" row and column: a missed box counts in the
/// background column of its class, a detection matching nothing in the background row.
pub fn confusion_matrix(
    categories: &[u64],
    ground_truth: &[GroundTruthBox],
    detections: &[DetectedBox],
    confidence: f64,
    iou: f64,
) -> Vec<Vec<u64>> {
    let background = categories.len();
    let index_of = |category: u64| categories.iter().position(|&id| id == category);
    let mut matrix = vec![vec![0u64; background + 1]; background + 1];
    let images = ground_truth.iter().map(|truth| truth.image).chain(detections.iter().map(|found| found.image)).max();
    let mut truths_by_image: Vec<Vec<&GroundTruthBox>> = vec![Vec::new(); images.map_or(0, |last| last + 1)];
    for truth in ground_truth.iter().filter(|truth| !truth.crowd) {
        truths_by_image[truth.image].push(truth);
    }
    let mut found_by_image: Vec<Vec<&DetectedBox>> = vec![Vec::new(); truths_by_image.len()];
    for found in detections.iter().filter(|found| found.score > confidence) {
        found_by_image[found.image].push(found);
    }
    for (truths, found) in truths_by_image.iter().zip(&found_by_image) {
        let mut pairs: Vec<(usize, usize, f64)> = Vec::new();
        for (t, truth) in truths.iter().enumerate() {
            for (d, detection) in found.iter().enumerate() {
                let overlap = box_iou(&detection.bbox, &truth.bbox, false);
                if overlap > iou {
                    pairs.push((t, d, overlap));
                }
            }
        }
        pairs.sort_by(|a, b| b.2.partial_cmp(&a.2).unwrap_or(Ordering::Equal));
        let (mut truth_used, mut found_used) = (vec![false; truths.len()], vec![false; found.len()]);
        for (t, d, _) in pairs {
            if truth_used[t] || found_used[d] {
                continue;
            }
            truth_used[t] = true;
            found_used[d] = true;
            let (row, column) = (index_of(truths[t].category), index_of(found[d].category));
            matrix[row.unwrap_or(background)][column.unwrap_or(background)] += 1;
        }
        for (truth, _) in truths.iter().zip(&truth_used).filter(|(_, used)| !**used) {
            matrix[index_of(truth.category).unwrap_or(background)][background] += 1;
        }
        for (detection, _) in found.iter().zip(&found_used).filter(|(_, used)| !**used) {
            matrix[background][index_of(detection.category).unwrap_or(background)] += 1;
        }
    }
    matrix
}

#[cfg(test)]
mod tests {
    use super::*;

    fn truth(image: usize, bbox: [f64; 4], id: u64) -> GroundTruthBox {
        GroundTruthBox { image, category: 0, bbox, area: bbox[2] * bbox[3], crowd: false, id }
    }

    fn found(image: usize, bbox: [f64; 4], score: f64) -> DetectedBox {
        DetectedBox { image, category: 0, bbox, score }
    }

    #[test]
    fn thresholds_are_numpy_linspace_values_not_round_decimals() {
        let points = recall_points();
        assert_eq!(points.len(), 101);
        // np.linspace(0, 1, 101)[7] == 0.07 but [29] is 0.29 and [57] 0.5700000000000001.
        assert_eq!(points[57], 57.0 * 0.01);
        assert_eq!(points[57].to_string(), "0.5700000000000001");
        assert_eq!(points[100], 1.0);
        let thresholds = iou_thresholds();
        assert_eq!(thresholds.len(), 10);
        assert_eq!((thresholds[0], thresholds[5], thresholds[9]), (0.5, 0.75, 0.95));
    }

    #[test]
    fn a_perfect_detector_scores_one_and_a_miss_halves_recall() {
        let truths = [truth(0, [0.0, 0.0, 10.0, 10.0], 1), truth(1, [5.0, 5.0, 50.0, 50.0], 2)];
        let perfect = [found(0, [0.0, 0.0, 10.0, 10.0], 0.9), found(1, [5.0, 5.0, 50.0, 50.0], 0.8)];
        let result = evaluate(2, &[0], &truths, &perfect);
        assert_eq!(result.stats.map50_95, 1.0);
        assert_eq!(result.stats.recall_100, 1.0);
        let class = &result.categories[0];
        assert_eq!((class.precision, class.recall, class.f1, class.confidence), (1.0, 1.0, 1.0, 0.8));
        let half = evaluate(2, &[0], &truths, &perfect[..1]);
        assert_eq!(half.stats.recall_100, 0.5);
        // Precision 1 up to recall 0.5 (51 of the 101 points), then 0.
        assert!((half.stats.map50_95 - 51.0 / 101.0).abs() < 1e-12);
    }

    #[test]
    fn a_crowd_box_absorbs_detections_and_is_not_missed() {
        let mut crowd = truth(0, [0.0, 0.0, 100.0, 100.0], 2);
        crowd.crowd = true;
        let truths = [truth(0, [200.0, 200.0, 20.0, 20.0], 1), crowd];
        // Three boxes inside the crowd region: ignored, not false positives.
        let detections = [
            found(0, [10.0, 10.0, 20.0, 20.0], 0.95),
            found(0, [40.0, 40.0, 20.0, 20.0], 0.94),
            found(0, [70.0, 10.0, 20.0, 20.0], 0.93),
            found(0, [200.0, 200.0, 20.0, 20.0], 0.5),
        ];
        let result = evaluate(1, &[0], &truths, &detections);
        // Not exactly 1: pycocotools adds `np.spacing(1)` to every precision's denominator.
        assert!((result.stats.map50_95 - 1.0).abs() < 1e-12);
        assert_eq!(result.categories[0].ground_truth, 1);
        // The crowd IoU is over the detection's area: a box inside the region scores 1.
        assert_eq!(box_iou(&[10.0, 10.0, 20.0, 20.0], &[0.0, 0.0, 100.0, 100.0], true), 1.0);
    }

    #[test]
    fn the_confusion_matrix_counts_matches_misses_and_false_detections() {
        let mut other = truth(0, [100.0, 100.0, 20.0, 20.0], 2);
        other.category = 1;
        let truths = [truth(0, [0.0, 0.0, 10.0, 10.0], 1), other, truth(0, [300.0, 300.0, 20.0, 20.0], 3)];
        let mut wrong_class = found(0, [100.0, 100.0, 20.0, 20.0], 0.9);
        wrong_class.category = 0;
        let detections = [
            found(0, [0.0, 0.0, 10.0, 10.0], 0.9),     // right
            wrong_class,                               // class 1 taken for class 0
            found(0, [500.0, 500.0, 9.0, 9.0], 0.8),   // nothing there
            found(0, [300.0, 300.0, 20.0, 20.0], 0.1), // below the confidence: a miss
        ];
        let matrix = confusion_matrix(&[0, 1], &truths, &detections, 0.25, 0.45);
        assert_eq!(matrix, [[1, 0, 1], [1, 0, 0], [1, 0, 0]]);
    }

    #[test]
    fn categories_without_ground_truth_are_left_out_of_the_mean() {
        let truths = [truth(0, [0.0, 0.0, 10.0, 10.0], 1)];
        let mut stray = found(0, [50.0, 50.0, 10.0, 10.0], 0.9);
        stray.category = 7;
        let result = evaluate(1, &[0, 7], &truths, &[found(0, [0.0, 0.0, 10.0, 10.0], 0.8), stray]);
        assert!((result.stats.map50_95 - 1.0).abs() < 1e-12);
        assert_eq!(result.categories[1].ap50_95, None);
        assert_eq!(evaluate(1, &[3], &[], &[]).stats.map50_95, -1.0);
    }
}
