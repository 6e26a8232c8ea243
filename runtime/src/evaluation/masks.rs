//! Instance mask accuracy as pycocotools' `COCOeval` (`iouType="segm"`) computes it: the
//! rules of [`detection`] with the IoU of masks instead of boxes, and masks
//! as COCO stores them: run lengths in column-major order ([`CocoRle`]), polygons rasterised
//! as pycocotools' `maskApi.c` does it (`rleFrPoly`: edges traced at 5× resolution, a pixel
//! inside when its centre is below the boundary crossing of its column), so a mask label
//! gives the same pixels here as there.

use super::detection::{self, CocoEvaluation};
use crate::results::Mask;

/// `rleFrPoly` traces polygon edges on a grid this many times finer than the pixels.
const SCALE: f64 = 5.0;

/// A mask as COCO's run-length encoding: `counts` alternate unset and set runs (the first
/// possibly 0) over the pixels in **column-major** order (`x * height + y`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CocoRle {
    /// Height in pixels.
    pub height: u32,
    /// Width in pixels.
    pub width: u32,
    /// Run lengths, starting with unset pixels.
    pub counts: Vec<u32>,
}

impl CocoRle {
    /// A polygon `[x0, y0, x1, y1, ...]` in pixels (pixel centres at integer coordinates, as
    /// in COCO) on a `width`×`height` image, rasterised as pycocotools' `frPyObjects` does.
    ///
    /// ```
    /// use inferx_runtime::evaluation::masks::CocoRle;
    ///
    /// // A square over pixel centres 2..=5 of a 10x10 image.
    /// let square = CocoRle::from_polygon(&[2.0, 2.0, 6.0, 2.0, 6.0, 6.0, 2.0, 6.0], 10, 10);
    /// assert_eq!(square.area(), 16);
    /// ```
    pub fn from_polygon(xy: &[f64], width: u32, height: u32) -> CocoRle {
        let (height_count, width_count) = (i64::from(height), i64::from(width));
        let corners = xy.len() / 2;
        if corners == 0 {
            return CocoRle { height, width, counts: vec![height * width] };
        }
        // Upsample 5x and trace every edge into dense integer points.
        // C's `(int)(v + .5)`: truncation toward zero.
        let scaled = |value: f64| (SCALE * value + 0.5) as i64;
        let mut x: Vec<i64> = (0..corners).map(|corner| scaled(xy[corner * 2])).collect();
        let mut y: Vec<i64> = (0..corners).map(|corner| scaled(xy[corner * 2 + 1])).collect();
        x.push(x[0]);
        y.push(y[0]);
        let (mut u, mut v) = (Vec::new(), Vec::new());
        for corner in 0..corners {
            let (mut xs, mut xe, mut ys, mut ye) = (x[corner], x[corner + 1], y[corner], y[corner + 1]);
            let (dx, dy) = ((xe - xs).abs(), (ys - ye).abs());
            let flip = (dx >= dy && xs > xe) || (dx < dy && ys > ye);
            if flip {
                std::mem::swap(&mut xs, &mut xe);
                std::mem::swap(&mut ys, &mut ye);
            }
            if dx >= dy {
                let slope = if dx == 0 { 0.0 } else { (ye - ys) as f64 / dx as f64 };
                for step in 0..=dx {
                    let t = if flip { dx - step } else { step };
                    u.push(t + xs);
                    v.push((ys as f64 + slope * t as f64 + 0.5) as i64);
                }
            } else {
                let slope = (xe - xs) as f64 / dy as f64;
                for step in 0..=dy {
                    let t = if flip { dy - step } else { step };
                    v.push(t + ys);
                    u.push((xs as f64 + slope * t as f64 + 0.5) as i64);
                }
            }
        }
        // Where the boundary crosses a column: downsample to the pixel grid.
        let mut starts: Vec<u64> = Vec::new();
        for index in 1..u.len() {
            if u[index] == u[index - 1] {
                continue;
            }
            let column = (if u[index] < u[index - 1] { u[index] } else { u[index] - 1 }) as f64;
            let column = (column + 0.5) / SCALE - 0.5;
            if column.floor() != column || column < 0.0 || column > (width_count - 1) as f64 {
                continue;
            }
            let row = v[index].min(v[index - 1]) as f64;
            let row = ((row + 0.5) / SCALE - 0.5).clamp(0.0, height_count as f64).ceil();
            starts.push((column as i64 * height_count + row as i64) as u64);
        }
        starts.push((height_count * width_count) as u64);
        starts.sort_unstable();
        // Differences between crossings are the runs; a zero run merges its neighbours.
        let mut previous = 0;
        let runs: Vec<u64> = starts
            .into_iter()
            .map(|start| {
                let run = start - previous;
                previous = start;
                run
            })
            .collect();
        let mut counts: Vec<u32> = vec![runs[0] as u32];
        let mut index = 1;
        while index < runs.len() {
            if runs[index] > 0 {
                counts.push(runs[index] as u32);
                index += 1;
            } else {
                index += 1;
                if let (Some(&next), Some(last)) = (runs.get(index), counts.last_mut()) {
                    *last += next as u32;
                    index += 1;
                }
            }
        }
        CocoRle { height, width, counts }
    }

    /// Several polygons of one object (COCO's list of polygons): their union.
    pub fn from_polygons(polygons: &[Vec<f64>], width: u32, height: u32) -> CocoRle {
        let masks: Vec<CocoRle> =
            polygons.iter().map(|polygon| CocoRle::from_polygon(polygon, width, height)).collect();
        CocoRle::union(&masks).unwrap_or_else(|| CocoRle { height, width, counts: vec![height * width] })
    }

    /// The union of masks of one size (`maskUtils.merge`); `None` for none.
    pub fn union(masks: &[CocoRle]) -> Option<CocoRle> {
        let (first, rest) = masks.split_first()?;
        let mut pixels = first.decode();
        for mask in rest {
            for (pixel, set) in pixels.iter_mut().zip(mask.decode()) {
                *pixel |= set;
            }
        }
        Some(CocoRle::encode(first.width, first.height, &pixels))
    }

    /// Encodes column-major pixels.
    fn encode(width: u32, height: u32, pixels: &[bool]) -> CocoRle {
        let mut counts = Vec::new();
        let (mut current, mut run) = (false, 0u32);
        for &pixel in pixels {
            if pixel != current {
                counts.push(run);
                run = 0;
                current = pixel;
            }
            run += 1;
        }
        counts.push(run);
        CocoRle { height, width, counts }
    }

    /// Column-major pixels.
    fn decode(&self) -> Vec<bool> {
        let mut pixels = Vec::with_capacity(self.width as usize * self.height as usize);
        for (index, &count) in self.counts.iter().enumerate() {
            pixels.extend(std::iter::repeat_n(index % 2 == 1, count as usize));
        }
        pixels
    }

    /// A row-major [`Mask`] (as the runtime's predictions carry them) in COCO's order.
    pub fn from_mask(mask: &Mask) -> CocoRle {
        let (width, height) = (mask.width as usize, mask.height as usize);
        let row_major = mask.decode();
        let column_major: Vec<bool> =
            (0..width * height).map(|index| row_major[(index % height) * width + index / height]).collect();
        CocoRle::encode(mask.width, mask.height, &column_major)
    }

    /// Set pixels (`maskUtils.area`).
    pub fn area(&self) -> u64 {
        self.counts.iter().skip(1).step_by(2).map(|&count| u64::from(count)).sum()
    }

    /// The bounding box `[x, y, width, height]` of the set pixels (`maskUtils.toBbox`),
    /// `[0, 0, 0, 0]` for an empty mask.
    pub fn bbox(&self) -> [f64; 4] {
        let height = u64::from(self.height);
        let (mut x_min, mut y_min, mut x_max, mut y_max) = (u64::MAX, u64::MAX, 0, 0);
        let mut start = 0u64;
        for (index, &count) in self.counts.iter().enumerate() {
            let end = start + u64::from(count);
            if index % 2 == 1 && count > 0 {
                let (first, last) = (start, end - 1);
                let (first_x, last_x) = (first / height, last / height);
                x_min = x_min.min(first_x);
                x_max = x_max.max(last_x);
                if first_x == last_x {
                    y_min = y_min.min(first % height);
                    y_max = y_max.max(last % height);
                } else {
                    // The run wraps into the next column: it spans every row.
                    y_min = 0;
                    y_max = height - 1;
                }
            }
            start = end;
        }
        if x_min == u64::MAX {
            return [0.0; 4];
        }
        [x_min as f64, y_min as f64, (x_max - x_min + 1) as f64, (y_max - y_min + 1) as f64]
    }

    /// COCO's compressed string form of the counts (`maskUtils.encode(...)["counts"]`), as
    /// results files carry them.
    pub fn to_compressed(&self) -> String {
        let mut text = String::new();
        for (index, &count) in self.counts.iter().enumerate() {
            let mut value = i64::from(count);
            if index > 2 {
                value -= i64::from(self.counts[index - 2]);
            }
            loop {
                let mut chunk = (value & 0x1f) as u8;
                value >>= 5;
                let more = if chunk & 0x10 != 0 { value != -1 } else { value != 0 };
                if more {
                    chunk |= 0x20;
                }
                text.push(char::from(chunk + 48));
                if !more {
                    break;
                }
            }
        }
        text
    }

    /// Reads COCO's compressed counts; `None` when the text is not such counts.
    pub fn from_compressed(text: &str, width: u32, height: u32) -> Option<CocoRle> {
        let bytes = text.as_bytes();
        let mut counts: Vec<u32> = Vec::new();
        let mut position = 0;
        while position < bytes.len() {
            let (mut value, mut shift) = (0i64, 0u32);
            loop {
                let chunk = i64::from(bytes.get(position)?.checked_sub(48)?);
                if chunk > 0x3f || shift > 60 {
                    return None;
                }
                value |= (chunk & 0x1f) << shift;
                position += 1;
                shift += 5;
                if chunk & 0x20 == 0 {
                    if chunk & 0x10 != 0 {
                        value |= -1i64 << shift;
                    }
                    break;
                }
            }
            if counts.len() > 2 {
                value += i64::from(counts[counts.len() - 2]);
            }
            counts.push(u32::try_from(value).ok()?);
        }
        let total: u64 = counts.iter().map(|&count| u64::from(count)).sum();
        (total == u64::from(width) * u64::from(height)).then_some(CocoRle { height, width, counts })
    }
}

/// pycocotools' `rleIou`: intersection over union of two masks of one size, or over the
/// detection's area alone when the ground truth is a crowd region.
pub fn mask_iou(detection: &CocoRle, truth: &CocoRle, crowd: bool) -> f64 {
    if detection.height != truth.height || detection.width != truth.width {
        return 0.0;
    }
    let (mut intersection, mut union) = (0u64, 0u64);
    let (mut a, mut b) = (detection.counts.iter(), truth.counts.iter());
    let (mut left_a, mut left_b) = (a.next().copied().unwrap_or(0), b.next().copied().unwrap_or(0));
    let (mut set_a, mut set_b) = (false, false);
    loop {
        // Skip finished runs.
        while left_a == 0 {
            match a.next() {
                Some(&count) => {
                    left_a = count;
                    set_a = !set_a;
                }
                None => break,
            }
        }
        while left_b == 0 {
            match b.next() {
                Some(&count) => {
                    left_b = count;
                    set_b = !set_b;
                }
                None => break,
            }
        }
        if left_a == 0 || left_b == 0 {
            break;
        }
        let step = left_a.min(left_b);
        if set_a || set_b {
            union += u64::from(step);
            if set_a && set_b {
                intersection += u64::from(step);
            }
        }
        left_a -= step;
        left_b -= step;
    }
    if intersection == 0 {
        return 0.0;
    }
    let denominator = if crowd { detection.area() } else { union };
    intersection as f64 / denominator as f64
}

/// A labelled instance mask.
#[derive(Debug, Clone, PartialEq)]
pub struct GroundTruthMask {
    /// The image's number (`0..images`).
    pub image: usize,
    /// The category id.
    pub category: u64,
    /// The mask.
    pub mask: CocoRle,
    /// The area used for the area ranges (COCO's `area` field).
    pub area: f64,
    /// A crowd region (`iscrowd`).
    pub crowd: bool,
    /// The annotation id (not 0).
    pub id: u64,
}

/// A predicted instance mask with its confidence.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectedMask {
    /// The image's number (`0..images`).
    pub image: usize,
    /// The category id.
    pub category: u64,
    /// The mask.
    pub mask: CocoRle,
    /// Confidence.
    pub score: f64,
}

/// Evaluates predicted masks as pycocotools' `COCOeval(iouType="segm")` does (see
/// [`detection::evaluate`] for the rules; a detection's area for the area ranges is its
/// mask's pixel count, as `loadRes` sets it).
pub fn evaluate(
    images: usize,
    categories: &[u64],
    ground_truth: &[GroundTruthMask],
    detections: &[DetectedMask],
) -> CocoEvaluation {
    let truths: Vec<detection::Instance> = ground_truth
        .iter()
        .map(|truth| detection::Instance::truth(truth.image, truth.category, truth.area, truth.crowd, truth.id))
        .collect();
    let found: Vec<detection::Instance> = detections
        .iter()
        .map(|found| detection::Instance::detection(found.image, found.category, found.mask.area() as f64, found.score))
        .collect();
    detection::evaluate_instances(images, categories, &truths, &found, |detection, truth| {
        mask_iou(&detections[detection].mask, &ground_truth[truth].mask, ground_truth[truth].crowd)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn compressed_counts_round_trip() {
        let square = CocoRle::from_polygon(&[2.0, 2.0, 6.0, 2.0, 6.0, 6.0, 2.0, 6.0], 10, 10);
        let text = square.to_compressed();
        assert_eq!(CocoRle::from_compressed(&text, 10, 10), Some(square.clone()));
        assert_eq!(CocoRle::from_compressed(&text, 10, 11), None, "the counts do not cover 10x11");
        assert_eq!(square.bbox(), [2.0, 2.0, 4.0, 4.0]);
    }

    #[test]
    fn a_row_major_mask_becomes_column_major() {
        // 3 wide, 2 high: row 0 = [1, 1, 0], row 1 = [1, 0, 0]; columns: [1, 1], [1, 0], [0, 0].
        let mask = Mask::encode(3, 2, [true, true, false, true, false, false]);
        assert_eq!(CocoRle::from_mask(&mask).counts, [0, 3, 3]);
    }

    #[test]
    fn crowd_iou_divides_by_the_detection_area() {
        let small = CocoRle::from_polygon(&[2.0, 2.0, 4.0, 2.0, 4.0, 4.0, 2.0, 4.0], 10, 10);
        let large = CocoRle::from_polygon(&[0.0, 0.0, 9.0, 0.0, 9.0, 9.0, 0.0, 9.0], 10, 10);
        assert_eq!(mask_iou(&small, &large, true), 1.0);
        assert!((mask_iou(&small, &large, false) - small.area() as f64 / large.area() as f64).abs() < 1e-12);
    }
}
