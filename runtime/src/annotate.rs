//! Drawing predictions onto images: boxes with labels, mask overlays, anomaly heat maps.
//! Text uses a built-in 5×7 bitmap font so no font file ships with projects.

use image::{DynamicImage, Rgb, RgbImage};

use std::collections::{BTreeMap, VecDeque};

use crate::{
    results::{Anomaly, BoundingBox, Detection, Mask, Prediction, PredictionOutput},
    tracking::{Anchor, Counts},
};

/// Ultralytics' class colour palette.
const PALETTE: [[u8; 3]; 20] = [
    [255, 56, 56],
    [255, 157, 151],
    [255, 112, 31],
    [255, 178, 29],
    [207, 210, 49],
    [72, 249, 10],
    [146, 204, 23],
    [61, 219, 134],
    [26, 147, 52],
    [0, 212, 187],
    [44, 153, 168],
    [0, 194, 255],
    [52, 69, 147],
    [100, 115, 255],
    [0, 24, 236],
    [132, 56, 255],
    [82, 0, 133],
    [203, 56, 255],
    [255, 149, 200],
    [255, 55, 199],
];

/// The colour of a class.
pub fn class_color(class_id: usize) -> Rgb<u8> {
    Rgb(PALETTE[class_id % PALETTE.len()])
}

/// Draws a prediction on a copy of the image.
pub fn draw_prediction(image: &DynamicImage, prediction: &Prediction) -> RgbImage {
    let mut canvas = image.to_rgb8();
    let thickness = (canvas.width().max(canvas.height()) / 300).max(2);
    match &prediction.output {
        PredictionOutput::Detection { detections } => {
            for detection in detections {
                let color = class_color(detection.class_id);
                draw_box(&mut canvas, &detection.bbox, color, thickness);
                draw_label(&mut canvas, &format!("{} {:.2}", detection.label, detection.score), &detection.bbox, color);
            }
        }
        PredictionOutput::Classification { top } => {
            if let Some(best) = top.first() {
                let text = format!("{} {:.2}", best.label, best.score);
                let origin = BoundingBox { x1: 0.0, y1: 0.0, x2: 0.0, y2: 0.0 };
                draw_label(&mut canvas, &text, &origin, class_color(best.class_id));
            }
        }
        PredictionOutput::Segmentation(segmentation) => {
            for class in &segmentation.classes {
                overlay_mask(&mut canvas, &class.mask, class_color(class.class_id), 0.45);
            }
            for instance in &segmentation.instances {
                let color = class_color(instance.class_id);
                if let Some(mask) = &instance.mask {
                    overlay_mask(&mut canvas, mask, color, 0.45);
                }
                draw_box(&mut canvas, &instance.bbox, color, thickness);
                draw_label(&mut canvas, &format!("{} {:.2}", instance.label, instance.score), &instance.bbox, color);
            }
            for region in &segmentation.regions {
                draw_box(&mut canvas, &region.bbox, class_color(region.class_id), thickness.div_ceil(2));
            }
        }
        PredictionOutput::Anomaly(anomaly) => draw_anomaly(&mut canvas, anomaly, thickness),
        PredictionOutput::Custom { .. } => {}
    }
    canvas
}

/// The frames of one stream drawn one after another: boxes with labels (`#3 person 0.91` when
/// tracked), each track's recent path as a trail, and the line and zone counts in the top-left
/// corner. It keeps the trails between frames, so draw a stream's frames in order.
#[derive(Debug, Default)]
pub struct StreamOverlay {
    /// The last centres of each track, with the frame each was seen on.
    trails: BTreeMap<u64, VecDeque<(u64, [f32; 2])>>,
}

/// Trail points kept per track (at 30 frames/s, one second).
const TRAIL_POINTS: usize = 30;

impl StreamOverlay {
    /// An overlay for a new stream.
    pub fn new() -> StreamOverlay {
        StreamOverlay::default()
    }

    /// Draws frame `frame` of the stream: `detections` with their track ids (`None` when the
    /// stream is not tracked) and the running `counts`.
    pub fn draw<'a>(
        &mut self,
        image: &DynamicImage,
        frame: u64,
        detections: impl IntoIterator<Item = (Option<u64>, &'a Detection)>,
        counts: &Counts,
    ) -> RgbImage {
        let mut canvas = image.to_rgb8();
        let thickness = (canvas.width().max(canvas.height()) / 300).max(2);
        let detections: Vec<(Option<u64>, &Detection)> = detections.into_iter().collect();
        for &(track_id, detection) in &detections {
            if let Some(track_id) = track_id {
                let trail = self.trails.entry(track_id).or_default();
                trail.push_back((frame, Anchor::Center.point(&detection.bbox)));
                if trail.len() > TRAIL_POINTS {
                    trail.pop_front();
                }
            }
        }
        // A track not seen for as long as a trail lasts leaves no trail behind.
        self.trails.retain(|_, trail| trail.back().is_some_and(|&(seen, _)| seen + TRAIL_POINTS as u64 > frame));
        for (&track_id, trail) in &self.trails {
            let color = class_color(track_id as usize);
            for pair in trail.iter().collect::<Vec<_>>().windows(2) {
                draw_line(&mut canvas, pair[0].1, pair[1].1, color, thickness.div_ceil(2));
            }
        }
        for (track_id, detection) in detections {
            let color = class_color(detection.class_id);
            draw_box(&mut canvas, &detection.bbox, color, thickness);
            let text = match track_id {
                Some(track_id) => format!("#{track_id} {} {:.2}", detection.label, detection.score),
                None => format!("{} {:.2}", detection.label, detection.score),
            };
            draw_label(&mut canvas, &text, &detection.bbox, color);
        }
        let mut lines: Vec<String> = counts
            .lines
            .iter()
            .map(|(name, line)| format!("{name}: in {} out {}", line.total.inward, line.total.outward))
            .collect();
        lines.extend(
            counts.zones.iter().map(|(name, zone)| format!("{name}: {} now {} in all", zone.current, zone.entered)),
        );
        let scale = ((canvas.width().max(canvas.height()) / 400) as f32).clamp(1.0, 4.0);
        for (row, text) in lines.iter().enumerate() {
            let top = row as f32 * (GLYPH_HEIGHT as f32 + 3.0) * scale;
            let origin = BoundingBox { x1: 0.0, y1: top, x2: 0.0, y2: top };
            draw_label(&mut canvas, text, &origin, Rgb([40, 40, 40]));
        }
        canvas
    }
}

/// Draws a straight line of `thickness` pixels from `from` to `to`, clipped to the canvas.
pub fn draw_line(canvas: &mut RgbImage, from: [f32; 2], to: [f32; 2], color: Rgb<u8>, thickness: u32) {
    let steps = (to[0] - from[0]).abs().max((to[1] - from[1]).abs()).ceil().max(1.0) as i64;
    let half = thickness as i64 / 2;
    for step in 0..=steps {
        let t = step as f32 / steps as f32;
        let x = (from[0] + (to[0] - from[0]) * t).round() as i64;
        let y = (from[1] + (to[1] - from[1]) * t).round() as i64;
        for dy in -half..thickness as i64 - half {
            for dx in -half..thickness as i64 - half {
                put(canvas, x + dx, y + dy, color);
            }
        }
    }
}

fn draw_anomaly(canvas: &mut RgbImage, anomaly: &Anomaly, thickness: u32) {
    if anomaly.heat.len() == canvas.width() as usize * canvas.height() as usize {
        // Heat map: blend a blue → green → red ramp, stronger where the map is higher.
        for (pixel, &value) in canvas.pixels_mut().zip(&anomaly.heat) {
            let value = value.clamp(0.0, 1.0);
            let color = heat_color(value);
            let alpha = 0.25 + 0.35 * value;
            for (channel, target) in pixel.0.iter_mut().enumerate() {
                *target = (*target as f32 * (1.0 - alpha) + color[channel] as f32 * alpha) as u8;
            }
        }
    } else if let Some(region) = &anomaly.region {
        overlay_mask(canvas, region, Rgb([255, 0, 0]), 0.4);
    }
    let (x, y) = anomaly.peak;
    let marker = BoundingBox { x1: x - 6.0, y1: y - 6.0, x2: x + 6.0, y2: y + 6.0 };
    draw_box(canvas, &marker, Rgb([255, 255, 0]), thickness);
    let verdict = if anomaly.is_anomalous { "ANOMALY" } else { "NORMAL" };
    let origin = BoundingBox { x1: 0.0, y1: 0.0, x2: 0.0, y2: 0.0 };
    let color = if anomaly.is_anomalous { Rgb([220, 30, 30]) } else { Rgb([30, 160, 60]) };
    draw_label(canvas, &format!("{verdict} {:.3}", anomaly.score), &origin, color);
}

/// A blue (0) → green (0.5) → red (1) colour ramp.
fn heat_color(value: f32) -> [u8; 3] {
    let red = ((value - 0.5) * 2.0).clamp(0.0, 1.0);
    let blue = ((0.5 - value) * 2.0).clamp(0.0, 1.0);
    let green = 1.0 - red - blue;
    [(red * 255.0) as u8, (green * 255.0) as u8, (blue * 255.0) as u8]
}

/// Blends `color` over the pixels set in `mask` (which must match the canvas size).
pub fn overlay_mask(canvas: &mut RgbImage, mask: &Mask, color: Rgb<u8>, alpha: f32) {
    if mask.width != canvas.width() || mask.height != canvas.height() {
        return;
    }
    let mut position = 0usize;
    let pixels = canvas.as_mut();
    for (index, &count) in mask.counts.iter().enumerate() {
        let end = position + count as usize;
        if index % 2 == 1 {
            for pixel in pixels[position * 3..end * 3].chunks_exact_mut(3) {
                for (channel, value) in pixel.iter_mut().enumerate() {
                    *value = (*value as f32 * (1.0 - alpha) + color[channel] as f32 * alpha) as u8;
                }
            }
        }
        position = end;
    }
}

/// Draws a hollow rectangle, clipped to the canvas.
pub fn draw_box(canvas: &mut RgbImage, bbox: &BoundingBox, color: Rgb<u8>, thickness: u32) {
    let (width, height) = (canvas.width() as i64, canvas.height() as i64);
    let x1 = (bbox.x1.round() as i64).clamp(0, width - 1);
    let y1 = (bbox.y1.round() as i64).clamp(0, height - 1);
    let x2 = (bbox.x2.round() as i64).clamp(0, width - 1);
    let y2 = (bbox.y2.round() as i64).clamp(0, height - 1);
    for offset in 0..thickness as i64 {
        for x in x1..=x2 {
            put(canvas, x, y1 + offset, color);
            put(canvas, x, y2 - offset, color);
        }
        for y in y1..=y2 {
            put(canvas, x1 + offset, y, color);
            put(canvas, x2 - offset, y, color);
        }
    }
}

fn put(canvas: &mut RgbImage, x: i64, y: i64, color: Rgb<u8>) {
    if x >= 0 && y >= 0 && (x as u32) < canvas.width() && (y as u32) < canvas.height() {
        canvas.put_pixel(x as u32, y as u32, color);
    }
}

const GLYPH_WIDTH: i64 = 5;
const GLYPH_HEIGHT: i64 = 7;

/// Draws `text` in white on a filled `color` tag above the box's top-left corner (inside the
/// image when there is no room above).
pub fn draw_label(canvas: &mut RgbImage, text: &str, bbox: &BoundingBox, color: Rgb<u8>) {
    let scale = ((canvas.width().max(canvas.height()) / 400) as i64).clamp(1, 4);
    let advance = (GLYPH_WIDTH + 1) * scale;
    let tag_width = advance * text.chars().count() as i64 + 2 * scale;
    let tag_height = (GLYPH_HEIGHT + 2) * scale;
    let left = bbox.x1.max(0.0) as i64;
    let top = if bbox.y1 as i64 >= tag_height { bbox.y1 as i64 - tag_height } else { bbox.y1.max(0.0) as i64 };
    for y in top..top + tag_height {
        for x in left..left + tag_width {
            put(canvas, x, y, color);
        }
    }
    for (index, character) in text.chars().enumerate() {
        let rows = glyph(character);
        let origin_x = left + scale + index as i64 * advance;
        for (row, bits) in rows.iter().enumerate() {
            for column in 0..GLYPH_WIDTH {
                if bits & (1 << (GLYPH_WIDTH - 1 - column)) != 0 {
                    for dy in 0..scale {
                        for dx in 0..scale {
                            put(
                                canvas,
                                origin_x + column * scale + dx,
                                top + scale + row as i64 * scale + dy,
                                Rgb([255, 255, 255]),
                            );
                        }
                    }
                }
            }
        }
    }
}

/// 5×7 glyph rows (bit 4 is the leftmost column); lowercase prints as uppercase.
fn glyph(character: char) -> [u8; 7] {
    match character.to_ascii_uppercase() {
        'A' => [0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'B' => [0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E],
        'C' => [0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E],
        'D' => [0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C],
        'E' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F],
        'F' => [0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10],
        'G' => [0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F],
        'H' => [0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11],
        'I' => [0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E],
        'J' => [0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C],
        'K' => [0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11],
        'L' => [0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F],
        'M' => [0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11],
        'N' => [0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11],
        'O' => [0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'P' => [0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10],
        'Q' => [0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D],
        'R' => [0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11],
        'S' => [0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E],
        'T' => [0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04],
        'U' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E],
        'V' => [0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04],
        'W' => [0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A],
        'X' => [0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11],
        'Y' => [0x11, 0x11, 0x11, 0x0A, 0x04, 0x04, 0x04],
        'Z' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F],
        '0' => [0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E],
        '1' => [0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E],
        '2' => [0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F],
        '3' => [0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E],
        '4' => [0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02],
        '5' => [0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E],
        '6' => [0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E],
        '7' => [0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08],
        '8' => [0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E],
        '9' => [0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C],
        '.' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C],
        '_' => [0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F],
        '-' => [0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00],
        ':' => [0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00],
        '%' => [0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03],
        '/' => [0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00],
        '#' => [0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A],
        ' ' => [0x00; 7],
        _ => [0x1F, 0x11, 0x11, 0x11, 0x11, 0x11, 0x1F],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{Detection, Timings};

    #[test]
    fn boxes_and_labels_are_drawn_in_the_class_colour() {
        let image = DynamicImage::new_rgb8(100, 100);
        let prediction = Prediction {
            width: 100,
            height: 100,
            output: PredictionOutput::Detection {
                detections: vec![Detection {
                    class_id: 0,
                    label: "face".into(),
                    score: 0.9,
                    bbox: BoundingBox { x1: 20.0, y1: 30.0, x2: 80.0, y2: 90.0 },
                    mask: None,
                    polygon: None,
                }],
            },
            timings: Timings::default(),
        };
        let canvas = draw_prediction(&image, &prediction);
        assert_eq!(*canvas.get_pixel(50, 90), class_color(0), "bottom edge");
        assert_eq!(*canvas.get_pixel(50, 60), Rgb([0, 0, 0]), "inside stays untouched");
        // The label tag sits above the box.
        assert!((0..30).any(|y| *canvas.get_pixel(22, y) == Rgb([255, 255, 255])));
    }

    #[test]
    fn a_stream_overlay_draws_each_tracks_trail_and_forgets_it_once_the_track_is_gone() {
        let image = DynamicImage::new_rgb8(200, 100);
        let face = |x: f32| Detection {
            class_id: 0,
            label: "face".into(),
            score: 0.9,
            bbox: BoundingBox { x1: x, y1: 40.0, x2: x + 20.0, y2: 60.0 },
            mask: None,
            polygon: None,
        };
        let mut overlay = StreamOverlay::new();
        let trail_color = class_color(7);
        for frame in 0..5 {
            let detection = face(20.0 + 30.0 * frame as f32);
            overlay.draw(&image, frame, [(Some(7), &detection)], &Counts::default());
        }
        let detection = face(140.0);
        let canvas = overlay.draw(&image, 5, [(Some(7), &detection)], &Counts::default());
        // The centres ran along y = 50 from x = 30 to 150: the trail lies between them.
        assert_eq!(*canvas.get_pixel(75, 50), trail_color);
        // Untracked detections leave no trail; a track unseen for 30 frames loses its own.
        let later = overlay.draw(&image, 40, [(None, &face(0.0))], &Counts::default());
        assert_eq!(*later.get_pixel(75, 50), Rgb([0, 0, 0]));
    }
}
