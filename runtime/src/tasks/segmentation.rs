//! Segmentation decoding: semantic `[C, H, W]` argmax, binary `[1, H, W]` probability maps
//! with a threshold, and YOLO-seg (`output0` plus `protos`) instance masks.

use super::{
    detection, mismatch, resample_to_source, sample_bilinear, source_to_map, DecodeOptions, DetectionLayout, ItemView,
};
use crate::{
    labels::label_for,
    preprocess::{PreprocessConfig, Transform},
    results::{BoundingBox, Detection, Mask, MaskRuns, SegmentClass, Segmentation},
    Result, TaskKind,
};

/// The preprocessing segmentation models take by default: a letterbox to `width`×`height`.
pub(crate) fn default_preprocess(width: u32, height: u32) -> PreprocessConfig {
    PreprocessConfig { width, height, ..PreprocessConfig::default() }
}

/// Whether a model's output ranks are ones this task decodes: a `[N, C, H, W]` or
/// `[N, H, W]` map, or YOLO-seg's `output0` with its `protos`.
pub(crate) fn outputs_fit(ranks: &[usize]) -> bool {
    ranks.iter().any(|rank| *rank == 4 || *rank == 3)
}

/// Bytes kept at the source image's size while predicting: its RGB copy, or the class map and
/// the probabilities mapped back onto it (6 bytes a pixel), whichever is larger.
pub(crate) const BYTES_PER_SOURCE_PIXEL: u64 = 6;

/// Decodes one image's segmentation outputs.
pub fn decode(
    items: &[ItemView<'_>],
    transform: &Transform,
    input_size: (u32, u32),
    options: &DecodeOptions,
) -> Result<Segmentation> {
    match items {
        [boxes, protos] if boxes.shape.len() == 2 && protos.shape.len() == 3 => decode_instances(boxes, protos, transform, input_size, options),
        [protos, boxes] if boxes.shape.len() == 2 && protos.shape.len() == 3 => decode_instances(boxes, protos, transform, input_size, options),
        [map, ..] if map.shape.len() == 3 || map.shape.len() == 2 => decode_map(map, transform, input_size, options),
        _ => Err(mismatch(
            TaskKind::Segmentation,
            "expected [N, C, H, W] class scores, [N, 1, H, W] probabilities, or YOLO-seg outputs [N, 4+classes+32, anchors] and [N, 32, h, w]",
        )),
    }
}

/// Semantic or binary maps at model resolution.
fn decode_map(
    map: &ItemView<'_>,
    transform: &Transform,
    input_size: (u32, u32),
    options: &DecodeOptions,
) -> Result<Segmentation> {
    let (channels, height, width) = match map.shape {
        [channels, height, width] => (*channels, *height, *width),
        [height, width] => (1, *height, *width),
        _ => unreachable!("checked by the caller"),
    };
    if height == 0 || width == 0 || channels == 0 {
        return Err(mismatch(TaskKind::Segmentation, "the output map is empty"));
    }
    let plane = height * width;
    let (source_width, source_height) = (transform.source_width, transform.source_height);
    // Class of every source pixel: binary maps are sampled bilinearly then thresholded,
    // semantic maps take the arg-max of the nearest model pixel.
    let mut class_map = vec![0u16; source_width as usize * source_height as usize];
    let mut model_classes = vec![0u16; plane];
    if channels == 1 {
        for (class, probability) in model_classes.iter_mut().zip(map.data) {
            *class = u16::from(*probability > options.confidence);
        }
        let probabilities = resample_to_source(map.data, (width, height), transform, input_size);
        for (class, probability) in class_map.iter_mut().zip(probabilities) {
            *class = u16::from(probability > options.confidence);
        }
    } else {
        for (pixel, class) in model_classes.iter_mut().enumerate() {
            let mut best = (0u16, f32::NEG_INFINITY);
            for channel in 0..channels {
                let value = map.data[channel * plane + pixel];
                if value > best.1 {
                    best = (channel as u16, value);
                }
            }
            *class = best.0;
        }
        for y in 0..source_height {
            for x in 0..source_width {
                let (map_x, map_y) = source_to_map(transform, input_size, (width, height), x, y);
                let column = (map_x.round().max(0.0) as usize).min(width - 1);
                let row = (map_y.round().max(0.0) as usize).min(height - 1);
                class_map[(y * source_width + x) as usize] = model_classes[row * width + column];
            }
        }
    }
    // Class 0 is background for both binary and semantic maps.
    let class_count = channels.max(2);
    let labels: Vec<String> = if channels == 1 && options.labels.is_empty() {
        vec!["background".into(), "foreground".into()]
    } else {
        options.labels.clone()
    };
    let mut classes = Vec::new();
    for class_id in 1..class_count {
        let mask = Mask::encode(source_width, source_height, class_map.iter().map(|&class| class as usize == class_id));
        let area = mask.area();
        if area > 0 {
            classes.push(SegmentClass { class_id, label: label_for(&labels, class_id), area, mask });
        }
    }
    let probability_of =
        |pixel: usize, class: usize| if channels == 1 { map.data[pixel] } else { map.data[class * plane + pixel] };
    let mut found = connected_regions(&model_classes, width, height, probability_of);
    // A speckled map can hold hundreds of thousands of regions: keep the largest
    // `max_detections`, in the order they were found.
    if found.len() > options.max_detections {
        let mut by_area: Vec<usize> = (0..found.len()).collect();
        by_area.sort_by_key(|&index| std::cmp::Reverse(found[index].area));
        let mut keep = vec![false; found.len()];
        for &index in &by_area[..options.max_detections] {
            keep[index] = true;
        }
        let mut index = 0;
        found.retain(|_| {
            index += 1;
            keep[index - 1]
        });
    }
    let regions = found
        .into_iter()
        .map(|region| {
            let mean = region.probability_sum / region.area as f32;
            let scale = |x: usize, y: usize| {
                let input_x = x as f64 * input_size.0 as f64 / width as f64;
                let input_y = y as f64 * input_size.1 as f64 / height as f64;
                transform.to_source(input_x, input_y)
            };
            let (x1, y1) = scale(region.min_x, region.min_y);
            let (x2, y2) = scale(region.max_x + 1, region.max_y + 1);
            let polygon = convex_hull(&region.rows)
                .into_iter()
                .map(|(x, y)| {
                    let (source_x, source_y) = scale(x, y);
                    [source_x as f32, source_y as f32]
                })
                .collect();
            Detection {
                class_id: region.class as usize,
                label: label_for(&labels, region.class as usize),
                score: mean,
                bbox: BoundingBox { x1: x1 as f32, y1: y1 as f32, x2: x2 as f32, y2: y2 as f32 },
                mask: None,
                polygon: Some(polygon),
            }
        })
        .collect();
    Ok(Segmentation { classes, regions, instances: Vec::new() })
}

/// The convex hull of a region's pixel squares (corner points, model-map coordinates),
/// starting at the top-left corner and going clockwise on screen (Andrew's monotone chain).
/// Each row's leftmost and rightmost pixels bound the others, so their corners are enough:
/// four points a row instead of four a pixel.
fn convex_hull(rows: &std::collections::BTreeMap<usize, (usize, usize)>) -> Vec<(usize, usize)> {
    let mut points: Vec<(i64, i64)> = Vec::with_capacity(rows.len() * 4);
    for (&y, &(left, right)) in rows {
        let (y, left, right) = (y as i64, left as i64, right as i64 + 1);
        points.extend([(left, y), (right, y), (left, y + 1), (right, y + 1)]);
    }
    points.sort_unstable();
    points.dedup();
    if points.len() < 3 {
        return points.into_iter().map(|(x, y)| (x as usize, y as usize)).collect();
    }
    let cross = |o: (i64, i64), a: (i64, i64), b: (i64, i64)| (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0);
    let mut hull: Vec<(i64, i64)> = Vec::new();
    for pass in 0..2 {
        let start = hull.len();
        let iter: Box<dyn Iterator<Item = &(i64, i64)>> =
            if pass == 0 { Box::new(points.iter()) } else { Box::new(points.iter().rev()) };
        for &point in iter {
            while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], point) <= 0 {
                hull.pop();
            }
            hull.push(point);
        }
        hull.pop();
    }
    hull.into_iter().map(|(x, y)| (x as usize, y as usize)).collect()
}

/// A 4-connected region of one foreground class at model resolution: what its box, hull and
/// score need, not its pixels.
struct Region {
    class: u16,
    area: usize,
    /// The region's probabilities summed in the order its pixels were found.
    probability_sum: f32,
    /// Each row's leftmost and rightmost pixel.
    rows: std::collections::BTreeMap<usize, (usize, usize)>,
    min_x: usize,
    min_y: usize,
    max_x: usize,
    max_y: usize,
}

fn connected_regions(
    classes: &[u16],
    width: usize,
    height: usize,
    probability_of: impl Fn(usize, usize) -> f32,
) -> Vec<Region> {
    let mut seen = vec![false; classes.len()];
    let mut regions = Vec::new();
    let mut stack = Vec::new();
    for start in 0..classes.len() {
        if seen[start] || classes[start] == 0 {
            continue;
        }
        let class = classes[start];
        let mut region = Region {
            class,
            area: 0,
            probability_sum: 0.0,
            rows: std::collections::BTreeMap::new(),
            min_x: usize::MAX,
            min_y: usize::MAX,
            max_x: 0,
            max_y: 0,
        };
        seen[start] = true;
        stack.push(start);
        while let Some(pixel) = stack.pop() {
            let (x, y) = (pixel % width, pixel / width);
            region.area += 1;
            region.probability_sum += probability_of(pixel, class as usize);
            let row = region.rows.entry(y).or_insert((x, x));
            *row = (row.0.min(x), row.1.max(x));
            region.min_x = region.min_x.min(x);
            region.min_y = region.min_y.min(y);
            region.max_x = region.max_x.max(x);
            region.max_y = region.max_y.max(y);
            let neighbours = [
                (x > 0).then(|| pixel - 1),
                (x + 1 < width).then(|| pixel + 1),
                (y > 0).then(|| pixel - width),
                (y + 1 < height).then(|| pixel + width),
            ];
            for next in neighbours.into_iter().flatten() {
                if !seen[next] && classes[next] == class {
                    seen[next] = true;
                    stack.push(next);
                }
            }
        }
        regions.push(region);
    }
    regions
}

/// The pixels of `0..size` whose centres may lie within `[low, high]`: a superset of those the
/// exact test keeps, and the whole axis for a NaN bound, which that test does not exclude.
fn candidate_range(low: f32, high: f32, size: u32) -> std::ops::Range<u32> {
    if low.is_nan() || high.is_nan() {
        return 0..size;
    }
    let start = (low - 0.5).floor().clamp(0.0, size as f32) as u32;
    let end = ((high - 0.5).ceil() + 1.0).clamp(0.0, size as f32) as u32;
    start..end.max(start)
}

/// YOLO-seg: detections from `boxes` (`[4 + classes + k, anchors]`), masks from the `k`
/// prototype maps, cropped to each box.
fn decode_instances(
    boxes: &ItemView<'_>,
    protos: &ItemView<'_>,
    transform: &Transform,
    input_size: (u32, u32),
    options: &DecodeOptions,
) -> Result<Segmentation> {
    let [prototypes, proto_height, proto_width] = protos.shape else { unreachable!("checked by the caller") };
    let (prototypes, proto_height, proto_width) = (*prototypes, *proto_height, *proto_width);
    if prototypes == 0 || proto_height == 0 || proto_width == 0 {
        return Err(mismatch(TaskKind::Segmentation, "the mask prototypes are empty"));
    }
    // The mask coefficients are the last `prototypes` channels of each anchor: rows of a
    // channels-first (YOLOv8/v11) output, columns of an anchor-per-row (v5, end-to-end) one.
    let classes = (!options.labels.is_empty()).then_some(options.labels.len());
    let layout = detection::resolve_layout(options.layout, boxes.shape, classes, prototypes)?;
    let (rows, columns) = (boxes.shape[0], boxes.shape[1]);
    let channels = if layout == DetectionLayout::Yolov8 { rows } else { columns };
    if channels < prototypes + 5 {
        return Err(mismatch(
            TaskKind::Segmentation,
            format!(
                "YOLO-seg boxes need a box, scores and {prototypes} mask coefficients per anchor, got {channels} values"
            ),
        ));
    }
    let kept = detection::kept_candidates(boxes, options, prototypes)?;
    let coefficient = |anchor: usize, index: usize| match layout {
        DetectionLayout::Yolov8 => boxes.data[(rows - prototypes + index) * columns + anchor],
        _ => boxes.data[anchor * columns + (columns - prototypes + index)],
    };
    let plane = proto_height * proto_width;
    let (source_width, source_height) = (transform.source_width, transform.source_height);
    let mut instances = Vec::with_capacity(kept.len());
    for candidate in &kept {
        let coefficients: Vec<f32> = (0..prototypes).map(|index| coefficient(candidate.anchor, index)).collect();
        // Mask logits at prototype resolution.
        let mut logits = vec![0.0f32; plane];
        for (index, coefficient) in coefficients.iter().enumerate() {
            for (logit, value) in logits.iter_mut().zip(&protos.data[index * plane..(index + 1) * plane]) {
                *logit += coefficient * value;
            }
        }
        let mut detection = detection::to_detection(candidate, transform, &options.labels);
        let bbox = detection.bbox;
        let set = |x: u32, y: u32| {
            let (center_x, center_y) = (x as f32 + 0.5, y as f32 + 0.5);
            if center_x < bbox.x1 || center_x > bbox.x2 || center_y < bbox.y1 || center_y > bbox.y2 {
                return false;
            }
            let (map_x, map_y) = source_to_map(transform, input_size, (proto_width, proto_height), x, y);
            // sigmoid(logit) > 0.5 exactly when logit > 0.
            sample_bilinear(&logits, proto_width, proto_height, map_x, map_y) > 0.0
        };
        // Only the pixels around the box are tested: a mask costs its box, not the image
        // (300 instances on a 16384×16384 image would otherwise be 8·10¹⁰ tests).
        let (columns, rows) =
            (candidate_range(bbox.x1, bbox.x2, source_width), candidate_range(bbox.y1, bbox.y2, source_height));
        let mut runs = MaskRuns::default();
        runs.push(false, rows.start * source_width);
        for y in rows.clone() {
            runs.push(false, columns.start);
            for x in columns.clone() {
                runs.push(set(x, y), 1);
            }
            runs.push(false, source_width - columns.end);
        }
        runs.push(false, (source_height - rows.end) * source_width);
        detection.mask = Some(runs.finish(source_width, source_height));
        instances.push(detection);
    }
    Ok(Segmentation { classes: Vec::new(), regions: Vec::new(), instances })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::preprocess::letterbox_geometry;

    fn options() -> DecodeOptions {
        DecodeOptions::for_task(TaskKind::Segmentation)
    }

    /// The hull of every pixel's four corners, as it was computed before rows were used.
    fn hull_of_every_corner(pixels: &[usize], width: usize) -> Vec<(usize, usize)> {
        let mut rows = std::collections::BTreeMap::new();
        for &pixel in pixels {
            // A row of its own per pixel: the hull takes all four corners of each.
            rows.insert(rows.len(), (pixel % width, pixel / width));
        }
        let mut points: Vec<(i64, i64)> = Vec::new();
        for &(x, y) in rows.values() {
            let (x, y) = (x as i64, y as i64);
            points.extend([(x, y), (x + 1, y), (x, y + 1), (x + 1, y + 1)]);
        }
        points.sort_unstable();
        points.dedup();
        let cross = |o: (i64, i64), a: (i64, i64), b: (i64, i64)| (a.0 - o.0) * (b.1 - o.1) - (a.1 - o.1) * (b.0 - o.0);
        let mut hull: Vec<(i64, i64)> = Vec::new();
        for pass in 0..2 {
            let start = hull.len();
            let ordered: Vec<(i64, i64)> =
                if pass == 0 { points.clone() } else { points.iter().rev().copied().collect() };
            for point in ordered {
                while hull.len() >= start + 2 && cross(hull[hull.len() - 2], hull[hull.len() - 1], point) <= 0 {
                    hull.pop();
                }
                hull.push(point);
            }
            hull.pop();
        }
        hull.into_iter().map(|(x, y)| (x as usize, y as usize)).collect()
    }

    #[test]
    fn region_hulls_from_row_extents_equal_hulls_of_every_pixel() {
        let (width, height) = (23, 17);
        let mut state = 0x9e37_79b9_u32;
        for _ in 0..50 {
            // Random blobs: a few filled discs and noise.
            let mut classes = vec![0u16; width * height];
            for _ in 0..3 {
                state = state.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                let (cx, cy, r) =
                    ((state >> 8) as usize % width, (state >> 16) as usize % height, 1 + (state >> 28) as usize % 6);
                for (index, class) in classes.iter_mut().enumerate() {
                    let (x, y) = (index % width, index / width);
                    if x.abs_diff(cx).pow(2) + y.abs_diff(cy).pow(2) <= r * r || (state >> (index % 31)) & 0x7f == 3 {
                        *class = 1;
                    }
                }
            }
            for region in connected_regions(&classes, width, height, |_, _| 1.0) {
                let mut pixels = Vec::new();
                for (&y, &(left, right)) in &region.rows {
                    pixels.extend((left..=right).map(|x| y * width + x).filter(|&pixel| classes[pixel] == 1));
                }
                assert_eq!(convex_hull(&region.rows), hull_of_every_corner(&pixels, width));
                assert_eq!(region.probability_sum, region.area as f32);
            }
        }
    }

    #[test]
    fn a_speckled_map_keeps_its_largest_regions_in_scan_order() {
        // A 40x40 checkerboard of single foreground pixels (800 regions) and one 3x3 block.
        let (width, height) = (40, 40);
        let mut map = vec![0.0f32; width * height];
        for (index, value) in map.iter_mut().enumerate() {
            if (index % width + index / width) % 2 == 0 {
                *value = 0.9;
            }
        }
        for y in 20..23 {
            for x in 20..23 {
                map[y * width + x] = 0.9;
            }
        }
        let item = ItemView { name: "maps", shape: &[1, 40, 40], data: &map };
        let transform = letterbox_geometry(40, 40, 40, 40);
        let options = DecodeOptions { max_detections: 5, ..options() };
        let result = decode(&[item], &transform, (40, 40), &options).unwrap();
        assert_eq!(result.regions.len(), 5);
        let block = |bbox: &BoundingBox| bbox.x1 <= 20.0 && bbox.y1 <= 20.0 && bbox.x2 >= 23.0 && bbox.y2 >= 23.0;
        assert!(result.regions.iter().any(|region| block(&region.bbox)), "the block, the largest region, is kept");
        let tops: Vec<f32> = result.regions.iter().map(|region| region.bbox.y1).collect();
        assert!(tops.windows(2).all(|pair| pair[0] <= pair[1]), "in scan order: {tops:?}");
    }

    #[test]
    fn candidate_ranges_hold_every_pixel_whose_centre_is_inside() {
        for (low, high) in [(10.2, 20.7), (0.0, 0.5), (-5.0, 3.49), (99.4, 250.0), (20.0, 10.0), (-1e30, 1e30)] {
            let range = candidate_range(low, high, 100);
            for x in 0..100u32 {
                let centre = x as f32 + 0.5;
                if centre >= low && centre <= high {
                    assert!(range.contains(&x), "{x} in [{low}, {high}] but not in {range:?}");
                }
            }
            assert!(range.end <= 100 && range.len() <= ((high - low).max(0.0) as usize).saturating_add(3).min(100));
        }
        assert_eq!(candidate_range(f32::NAN, 5.0, 100), 0..100);
    }

    #[test]
    fn binary_map_gives_mask_and_region_boxes() {
        // 4x4 map with a 2x2 square of high probability at (1..3, 1..3).
        let mut map = vec![0.0f32; 16];
        for (x, y) in [(1, 1), (2, 1), (1, 2), (2, 2)] {
            map[y * 4 + x] = 0.9;
        }
        let item = ItemView { name: "maps", shape: &[1, 4, 4], data: &map };
        let transform = letterbox_geometry(4, 4, 4, 4);
        let result = decode(&[item], &transform, (4, 4), &options()).unwrap();
        assert_eq!(result.classes.len(), 1);
        assert_eq!(result.classes[0].area, 4);
        assert_eq!(result.regions.len(), 1);
        let bbox = result.regions[0].bbox;
        assert_eq!((bbox.x1, bbox.y1, bbox.x2, bbox.y2), (1.0, 1.0, 3.0, 3.0));
        assert!((result.regions[0].score - 0.9).abs() < 1e-6);
        let polygon = result.regions[0].polygon.as_ref().unwrap();
        assert_eq!(
            polygon,
            &[[1.0, 1.0], [3.0, 1.0], [3.0, 3.0], [1.0, 3.0]].map(|point| point.map(|value| value as f32))
        );
    }

    #[test]
    fn semantic_map_takes_the_argmax_class() {
        // 3 classes over a 2x2 map: pixel 0 -> class 2, pixel 3 -> class 1, others background.
        let map = [
            1.0, 1.0, 1.0, 0.0, // class 0
            0.0, 0.0, 0.0, 2.0, // class 1
            3.0, 0.0, 0.0, 0.0, // class 2
        ];
        let item = ItemView { name: "logits", shape: &[3, 2, 2], data: &map };
        let transform = letterbox_geometry(2, 2, 2, 2);
        let result = decode(&[item], &transform, (2, 2), &options()).unwrap();
        let summary: Vec<(usize, u64)> = result.classes.iter().map(|class| (class.class_id, class.area)).collect();
        assert_eq!(summary, [(1, 1), (2, 1)]);
        assert_eq!(result.classes[1].mask.decode(), [true, false, false, false]);
    }

    #[test]
    fn yolo_seg_masks_are_cropped_to_their_box() {
        // One anchor, 1 class, 1 prototype that is positive everywhere on an 8x8 grid.
        let boxes = [4.0, 4.0, 4.0, 4.0, 0.9, 1.0]; // rows: cx, cy, w, h, class0, coefficient
        let protos = vec![1.0f32; 64];
        let items = [
            ItemView { name: "output0", shape: &[6, 1], data: &boxes },
            ItemView { name: "output1", shape: &[1, 8, 8], data: &protos },
        ];
        let transform = letterbox_geometry(8, 8, 8, 8);
        let options = DecodeOptions { labels: vec!["thing".into()], ..options() };
        let result = decode(&items, &transform, (8, 8), &options).unwrap();
        assert_eq!(result.instances.len(), 1);
        let mask = result.instances[0].mask.as_ref().unwrap();
        // The box spans 2..6 in both axes: 4x4 pixels set, none outside.
        assert_eq!(mask.area(), 16);
        let pixels = mask.decode();
        assert!(pixels[2 * 8 + 2] && pixels[5 * 8 + 5] && !pixels[8 + 1] && !pixels[6 * 8 + 6]);
    }
}
