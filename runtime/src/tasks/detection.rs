//! YOLO detection decoding: v5, v8/v11 and end-to-end layouts, class-aware NMS, boxes mapped
//! back to original pixels and clipped to the image.

use super::{mismatch, DecodeOptions, DetectionLayout, ItemView};
use crate::{
    labels::label_for,
    preprocess::{PreprocessConfig, Transform},
    results::{BoundingBox, Detection},
    Result, TaskKind,
};

/// The preprocessing detectors take by default: a letterbox to `width`×`height` (YOLO's).
pub(crate) fn default_preprocess(width: u32, height: u32) -> PreprocessConfig {
    PreprocessConfig { width, height, ..PreprocessConfig::default() }
}

/// Whether a model's output ranks are ones this task decodes: `[N, features, anchors]` or
/// `[N, k, 6]` first.
pub(crate) fn outputs_fit(ranks: &[usize]) -> bool {
    ranks.first() == Some(&3)
}

/// Bytes kept at the source image's size while predicting: its RGB copy.
pub(crate) const BYTES_PER_SOURCE_PIXEL: u64 = 3;

/// Ultralytics caps the boxes entering NMS.
const MAX_NMS_CANDIDATES: usize = 30_000;

/// A box before mapping back, in model-input pixels.
#[derive(Debug, Clone, PartialEq)]
pub struct Candidate {
    /// Class index.
    pub class_id: usize,
    /// Score.
    pub score: f32,
    /// Box in input pixels.
    pub bbox: BoundingBox,
    /// Index of the anchor it came from (for YOLO-seg mask coefficients).
    pub anchor: usize,
}

/// Resolves `Auto` from a `[rows, columns]` item shape.
pub fn resolve_layout(
    layout: DetectionLayout,
    shape: &[usize],
    classes: Option<usize>,
    extra_channels: usize,
) -> Result<DetectionLayout> {
    let [rows, columns] = shape else {
        return Err(mismatch(
            TaskKind::Detection,
            format!("expected a 3-D output [N, a, b], got [N, {}]", join(shape)),
        ));
    };
    let (rows, columns) = (*rows, *columns);
    if layout != DetectionLayout::Auto {
        return Ok(layout);
    }
    if let Some(classes) = classes {
        if rows == 4 + classes + extra_channels {
            return Ok(DetectionLayout::Yolov8);
        }
        if columns == 5 + classes + extra_channels {
            return Ok(DetectionLayout::Yolov5);
        }
    }
    if columns == 6 && rows <= 1000 {
        return Ok(DetectionLayout::End2end);
    }
    if rows < columns {
        Ok(DetectionLayout::Yolov8)
    } else {
        Ok(DetectionLayout::Yolov5)
    }
}

fn join(shape: &[usize]) -> String {
    shape.iter().map(usize::to_string).collect::<Vec<_>>().join(", ")
}

/// Candidates above the threshold from one item, before NMS. `extra_channels` trailing
/// channels per anchor (YOLO-seg mask coefficients) are not classes.
pub fn candidates(
    item: &ItemView<'_>,
    options: &DecodeOptions,
    extra_channels: usize,
) -> Result<(DetectionLayout, Vec<Candidate>)> {
    let classes = (!options.labels.is_empty()).then_some(options.labels.len());
    let layout = resolve_layout(options.layout, item.shape, classes, extra_channels)?;
    let (rows, columns) = (item.shape[0], item.shape[1]);
    let data = item.data;
    let threshold = options.confidence;
    let mut found = Vec::new();
    match layout {
        DetectionLayout::Yolov8 => {
            let anchors = columns;
            let Some(class_count) = rows.checked_sub(4 + extra_channels).filter(|count| *count > 0) else {
                return Err(mismatch(
                    TaskKind::Detection,
                    format!("a YOLOv8 output needs more than 4 rows, got {rows}"),
                ));
            };
            // Best class per anchor, scanning rows contiguously (cache-friendly).
            let mut best_score = vec![f32::NEG_INFINITY; anchors];
            let mut best_class = vec![0u32; anchors];
            for class in 0..class_count {
                let row = &data[(4 + class) * anchors..(5 + class) * anchors];
                for ((score, best), best_class) in row.iter().zip(best_score.iter_mut()).zip(best_class.iter_mut()) {
                    if *score > *best {
                        *best = *score;
                        *best_class = class as u32;
                    }
                }
            }
            for (anchor, &score) in best_score.iter().enumerate() {
                if score > threshold {
                    let value = |row: usize| data[row * anchors + anchor];
                    found.push(Candidate {
                        class_id: best_class[anchor] as usize,
                        score,
                        bbox: from_center(value(0), value(1), value(2), value(3)),
                        anchor,
                    });
                }
            }
        }
        DetectionLayout::Yolov5 => {
            let Some(class_count) = columns.checked_sub(5 + extra_channels).filter(|count| *count > 0) else {
                return Err(mismatch(
                    TaskKind::Detection,
                    format!("a YOLOv5 output needs more than 5 columns, got {columns}"),
                ));
            };
            for (anchor, row) in data.chunks_exact(columns).enumerate() {
                let objectness = row[4];
                if objectness <= threshold {
                    continue;
                }
                let (class_id, class_score) = argmax(&row[5..5 + class_count]);
                let score = objectness * class_score;
                if score > threshold {
                    found.push(Candidate {
                        class_id,
                        score,
                        bbox: from_center(row[0], row[1], row[2], row[3]),
                        anchor,
                    });
                }
            }
        }
        DetectionLayout::End2end => {
            if columns < 6 {
                return Err(mismatch(
                    TaskKind::Detection,
                    format!("an end-to-end output needs 6 columns, got {columns}"),
                ));
            }
            for (anchor, row) in data.chunks_exact(columns).enumerate() {
                if row[4] > threshold {
                    found.push(Candidate {
                        class_id: row[5].max(0.0) as usize,
                        score: row[4],
                        bbox: BoundingBox { x1: row[0], y1: row[1], x2: row[2], y2: row[3] },
                        anchor,
                    });
                }
            }
        }
        DetectionLayout::Auto => unreachable!("resolved above"),
    }
    Ok((layout, found))
}

fn from_center(cx: f32, cy: f32, width: f32, height: f32) -> BoundingBox {
    BoundingBox { x1: cx - width / 2.0, y1: cy - height / 2.0, x2: cx + width / 2.0, y2: cy + height / 2.0 }
}

fn argmax(values: &[f32]) -> (usize, f32) {
    values
        .iter()
        .enumerate()
        .fold((0, f32::NEG_INFINITY), |best, (index, &value)| if value > best.1 { (index, value) } else { best })
}

/// Greedy non-maximum suppression, best score first. Boxes of different classes never
/// suppress each other unless `agnostic`. Returns kept candidates in score order.
///
/// A box is dropped when its IoU with a kept box is above `iou_threshold`:
///
/// ```
/// use inferx_runtime::results::BoundingBox;
/// use inferx_runtime::tasks::detection::{non_max_suppression, Candidate};
///
/// let candidate = |class_id: usize, score: f32, x1: f32| Candidate {
///     class_id,
///     score,
///     bbox: BoundingBox { x1, y1: 0.0, x2: x1 + 10.0, y2: 10.0 },
///     anchor: 0,
/// };
/// // The two class-0 boxes overlap with IoU 9/11; the class-1 box sits on the second.
/// let candidates = vec![candidate(0, 0.8, 1.0), candidate(0, 0.9, 0.0), candidate(1, 0.7, 1.0)];
///
/// let kept = non_max_suppression(candidates.clone(), 0.7, 300, false);
/// assert_eq!(kept.iter().map(|kept| kept.score).collect::<Vec<_>>(), [0.9, 0.7]);
///
/// let kept = non_max_suppression(candidates, 0.7, 300, true); // class-agnostic
/// assert_eq!(kept.iter().map(|kept| kept.score).collect::<Vec<_>>(), [0.9]);
/// ```
pub fn non_max_suppression(
    mut candidates: Vec<Candidate>,
    iou_threshold: f32,
    max_detections: usize,
    agnostic: bool,
) -> Vec<Candidate> {
    candidates.sort_by(|a, b| b.score.total_cmp(&a.score));
    candidates.truncate(MAX_NMS_CANDIDATES);
    let mut kept: Vec<Candidate> = Vec::new();
    for candidate in candidates {
        if kept.len() >= max_detections {
            break;
        }
        let suppressed = kept.iter().any(|other| {
            (agnostic || other.class_id == candidate.class_id) && other.bbox.iou(&candidate.bbox) > iou_threshold
        });
        if !suppressed {
            kept.push(candidate);
        }
    }
    kept
}

/// Maps a box from input pixels to source pixels, clipping each corner to the image.
pub fn to_source_box(bbox: &BoundingBox, transform: &Transform) -> BoundingBox {
    let (x1, y1) = transform.to_source(bbox.x1 as f64, bbox.y1 as f64);
    let (x2, y2) = transform.to_source(bbox.x2 as f64, bbox.y2 as f64);
    BoundingBox { x1: x1 as f32, y1: y1 as f32, x2: x2 as f32, y2: y2 as f32 }
}

/// Kept candidates of one item, NMS applied (except for end-to-end outputs).
pub fn kept_candidates(item: &ItemView<'_>, options: &DecodeOptions, extra_channels: usize) -> Result<Vec<Candidate>> {
    let (layout, found) = candidates(item, options, extra_channels)?;
    Ok(if layout == DetectionLayout::End2end {
        let mut found = found;
        found.sort_by(|a, b| b.score.total_cmp(&a.score));
        found.truncate(options.max_detections);
        found
    } else {
        non_max_suppression(found, options.iou, options.max_detections, options.agnostic_nms)
    })
}

/// Builds a detection from a kept candidate.
pub fn to_detection(candidate: &Candidate, transform: &Transform, labels: &[String]) -> Detection {
    Detection {
        class_id: candidate.class_id,
        label: label_for(labels, candidate.class_id),
        score: candidate.score,
        bbox: to_source_box(&candidate.bbox, transform),
        mask: None,
        polygon: None,
    }
}

/// Decodes a detection model's first output.
pub fn decode(items: &[ItemView<'_>], transform: &Transform, options: &DecodeOptions) -> Result<Vec<Detection>> {
    let item = items.first().ok_or_else(|| mismatch(TaskKind::Detection, "the model has no outputs"))?;
    let kept = kept_candidates(item, options, 0)?;
    Ok(kept.iter().map(|candidate| to_detection(candidate, transform, &options.labels)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::letterbox_geometry;

    fn options() -> DecodeOptions {
        DecodeOptions { labels: vec!["a".into(), "b".into()], ..DecodeOptions::for_task(TaskKind::Detection) }
    }

    /// A YOLOv8 output [4 + 2 classes, anchors] from (cx, cy, w, h, class scores) rows.
    fn yolov8(anchors: &[[f32; 6]]) -> (Vec<usize>, Vec<f32>) {
        let count = anchors.len();
        let mut data = vec![0.0; 6 * count];
        for (anchor, values) in anchors.iter().enumerate() {
            for (row, value) in values.iter().enumerate() {
                data[row * count + anchor] = *value;
            }
        }
        (vec![6, count], data)
    }

    #[test]
    fn nms_is_class_aware() {
        // Two overlapping boxes of different classes both survive; a weaker same-class one does not.
        let (shape, data) = yolov8(&[
            [50.0, 50.0, 40.0, 40.0, 0.9, 0.0],
            [52.0, 50.0, 40.0, 40.0, 0.0, 0.8],
            [51.0, 51.0, 40.0, 40.0, 0.7, 0.0],
        ]);
        let item = ItemView { name: "output0", shape: &shape, data: &data };
        let transform = letterbox_geometry(100, 100, 100, 100);
        let detections = decode(&[item], &transform, &options()).unwrap();
        let summary: Vec<(usize, f32)> = detections.iter().map(|d| (d.class_id, d.score)).collect();
        assert_eq!(summary, [(0, 0.9), (1, 0.8)]);
        let agnostic = DecodeOptions { agnostic_nms: true, ..options() };
        assert_eq!(decode(&[item], &transform, &agnostic).unwrap().len(), 1);
    }

    #[test]
    fn threshold_is_strict_and_boxes_are_clipped_without_shifting() {
        let (shape, data) = yolov8(&[[5.0, 50.0, 20.0, 20.0, 0.25, 0.0], [5.0, 50.0, 20.0, 20.0, 0.0, 0.26]]);
        let item = ItemView { name: "output0", shape: &shape, data: &data };
        let transform = letterbox_geometry(100, 100, 100, 100);
        let detections = decode(&[item], &transform, &options()).unwrap();
        assert_eq!(detections.len(), 1, "a score equal to the threshold is dropped");
        let bbox = detections[0].bbox;
        // x1 = -5 clips to 0 while x2 stays at 15.
        assert_eq!((bbox.x1, bbox.x2, bbox.y1, bbox.y2), (0.0, 15.0, 40.0, 60.0));
        assert_eq!(detections[0].label, "b");
    }

    #[test]
    fn boxes_map_back_through_the_letterbox() {
        // 200x100 image into 100x100: ratio 0.5, content 100x50, top pad 25.
        let transform = letterbox_geometry(200, 100, 100, 100);
        let (shape, data) = yolov8(&[[50.0, 50.0, 20.0, 10.0, 0.9, 0.0]]);
        let item = ItemView { name: "output0", shape: &shape, data: &data };
        let bbox = decode(&[item], &transform, &options()).unwrap()[0].bbox;
        assert_eq!((bbox.x1, bbox.y1, bbox.x2, bbox.y2), (80.0, 40.0, 120.0, 60.0));
    }

    #[test]
    fn yolov5_multiplies_objectness_and_end2end_skips_nms() {
        let v5 = [10.0, 10.0, 4.0, 4.0, 0.5, 0.9, 0.1, 10.0, 10.0, 4.0, 4.0, 0.2, 0.9, 0.9];
        let item = ItemView { name: "output0", shape: &[2, 7], data: &v5 };
        let transform = letterbox_geometry(100, 100, 100, 100);
        let detections = decode(&[item], &transform, &options()).unwrap();
        assert_eq!(detections.len(), 1);
        assert!((detections[0].score - 0.45).abs() < 1e-6);

        let e2e = [0.0, 0.0, 10.0, 10.0, 0.9, 1.0, 1.0, 1.0, 11.0, 11.0, 0.8, 1.0, 0.0, 0.0, 1.0, 1.0, 0.1, 0.0];
        let item = ItemView { name: "output0", shape: &[3, 6], data: &e2e };
        let detections = decode(&[item], &transform, &options()).unwrap();
        assert_eq!(detections.len(), 2, "end-to-end outputs are already suppressed");
    }

    #[test]
    fn layout_is_resolved_from_shape_and_labels() {
        assert_eq!(resolve_layout(DetectionLayout::Auto, &[84, 8400], None, 0).unwrap(), DetectionLayout::Yolov8);
        assert_eq!(resolve_layout(DetectionLayout::Auto, &[25200, 85], None, 0).unwrap(), DetectionLayout::Yolov5);
        assert_eq!(resolve_layout(DetectionLayout::Auto, &[300, 6], None, 0).unwrap(), DetectionLayout::End2end);
        // A one-class YOLOv5 also has 6 columns: the label count settles it.
        assert_eq!(resolve_layout(DetectionLayout::Auto, &[25200, 6], Some(1), 0).unwrap(), DetectionLayout::Yolov5);
        assert!(resolve_layout(DetectionLayout::Auto, &[1000], None, 0).is_err());
    }
}
