//! Counting the tracks that cross a line.
//!
//! A track's side of the line is known on a frame when every anchor point of its box lies
//! strictly on one side and at least one projects onto the segment (not its extension). A
//! crossing counts once the track has been seen on the new side for `min_frames` frames in a
//! row: a box that flickers back and forth over the line for fewer frames than that never
//! counts (supervision#2598), and frames where the box straddles the line neither count nor
//! break the run. Only confirmed tracks reach the counter (supervision#2578 counted
//! unconfirmed ones, whose pooled id is `-1`).

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{class_allowed, Anchor, Direction, TrackEvent, TrackedDetection};

/// A counting line in `tracking.lines`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LineConfig {
    /// Name, used in events and counts.
    pub name: String,
    /// One end, `[x, y]` in image pixels.
    pub start: [f32; 2],
    /// The other end. Crossing onto the right-hand side of `start → end` (as seen on the
    /// image) counts as `in`.
    pub end: [f32; 2],
    /// Box points that must all be on the new side (default: the four corners, as
    /// supervision's `LineZone`, so a box counts once wholly across).
    #[serde(default = "default_anchors")]
    pub anchors: Vec<Anchor>,
    /// Frames in a row on the new side before a crossing counts (default 2; supervision's
    /// `minimum_crossing_threshold` defaults to 1, which counts one-frame flicker).
    #[serde(default = "default_min_frames")]
    pub min_frames: u32,
    /// Only these labels count (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
}

fn default_anchors() -> Vec<Anchor> {
    vec![Anchor::TopLeft, Anchor::TopRight, Anchor::BottomLeft, Anchor::BottomRight]
}

fn default_min_frames() -> u32 {
    2
}

impl LineConfig {
    pub(super) fn problems(&self, key: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push(format!("{key}.name is empty: name the line"));
        }
        if self.start.iter().chain(&self.end).any(|value| !value.is_finite()) {
            problems.push(format!("{key}: start and end must be finite pixel coordinates"));
        } else if self.start == self.end {
            problems.push(format!("{key}: start and end are the same point: a line needs two"));
        }
        if self.anchors.is_empty() {
            problems.push(format!("{key}.anchors is empty: list at least one, e.g. [bottom_center]"));
        }
        if self.min_frames == 0 || self.min_frames > 1000 {
            problems.push(format!("{key}.min_frames is {}: use a value between 1 and 1000", self.min_frames));
        }
        problems
    }
}

/// Crossings of one line, by direction.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct DirectionCounts {
    /// Crossings `in`.
    #[serde(rename = "in")]
    pub inward: u64,
    /// Crossings `out`.
    #[serde(rename = "out")]
    pub outward: u64,
}

impl DirectionCounts {
    fn add(&mut self, direction: Direction) {
        match direction {
            Direction::In => self.inward += 1,
            Direction::Out => self.outward += 1,
        }
    }
}

/// Crossings of one line so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct LineCounts {
    /// All classes.
    #[serde(flatten)]
    pub total: DirectionCounts,
    /// By label.
    pub by_class: BTreeMap<String, DirectionCounts>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

#[derive(Debug, Clone, Copy)]
struct TrackSide {
    /// The side the track was last counted (or first seen) on.
    settled: Side,
    /// Frames in a row seen on the other side.
    run: u32,
}

/// One line's counter.
#[derive(Debug, Clone)]
pub struct LineCounter {
    config: LineConfig,
    tracks: HashMap<u64, TrackSide>,
    counts: LineCounts,
}

impl LineCounter {
    /// A counter with nothing counted.
    pub fn new(config: LineConfig) -> LineCounter {
        LineCounter { config, tracks: HashMap::new(), counts: LineCounts::default() }
    }

    /// The line's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Crossings so far.
    pub fn counts(&self) -> &LineCounts {
        &self.counts
    }

    /// Takes one frame's tracked detections and the ids of the tracks that ended; returns the
    /// crossings counted on this frame.
    pub fn update(&mut self, detections: &[TrackedDetection], ended: &[u64]) -> Vec<TrackEvent> {
        for id in ended {
            self.tracks.remove(id);
        }
        let mut events = Vec::new();
        for tracked in detections {
            let detection = &tracked.detection;
            if !class_allowed(&self.config.classes, &detection.label) {
                continue;
            }
            let Some(side) = self.side_of(&detection.bbox) else { continue };
            let state = self.tracks.entry(tracked.track_id).or_insert(TrackSide { settled: side, run: 0 });
            if side == state.settled {
                state.run = 0;
                continue;
            }
            state.run += 1;
            if state.run < self.config.min_frames {
                continue;
            }
            *state = TrackSide { settled: side, run: 0 };
            let direction = if side == Side::Right { Direction::In } else { Direction::Out };
            self.counts.total.add(direction);
            self.counts.by_class.entry(detection.label.clone()).or_default().add(direction);
            events.push(TrackEvent::LineCrossed {
                line: self.config.name.clone(),
                track_id: tracked.track_id,
                label: detection.label.clone(),
                direction,
            });
        }
        events
    }

    /// The side every anchor of `bbox` is on; `None` when they straddle or touch the line, or
    /// when none of them faces the segment itself.
    fn side_of(&self, bbox: &crate::results::BoundingBox) -> Option<Side> {
        let [sx, sy] = self.config.start.map(f64::from);
        let [ex, ey] = self.config.end.map(f64::from);
        let (dx, dy) = (ex - sx, ey - sy);
        let length_squared = dx * dx + dy * dy;
        let mut side = None;
        let mut facing = false;
        for anchor in &self.config.anchors {
            let [px, py] = anchor.point(bbox).map(f64::from);
            // With y pointing down, a positive cross product is the right-hand side on screen.
            let cross = dx * (py - sy) - dy * (px - sx);
            let here = if cross > 0.0 {
                Side::Right
            } else if cross < 0.0 {
                Side::Left
            } else {
                return None;
            };
            if side.is_some_and(|side| side != here) {
                return None;
            }
            side = Some(here);
            let along = ((px - sx) * dx + (py - sy) * dy) / length_squared;
            facing |= (0.0..=1.0).contains(&along);
        }
        side.filter(|_| facing)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{BoundingBox, Detection};

    /// A horizontal line at y = 100 from x = 0 to x = 200: `in` is downwards.
    fn counter(min_frames: u32) -> LineCounter {
        LineCounter::new(LineConfig {
            name: "door".into(),
            start: [0.0, 100.0],
            end: [200.0, 100.0],
            anchors: vec![Anchor::BottomCenter],
            min_frames,
            classes: Vec::new(),
        })
    }

    fn at(track_id: u64, label: &str, bottom: f32) -> TrackedDetection {
        TrackedDetection {
            detection: Detection {
                class_id: 0,
                label: label.into(),
                score: 0.9,
                bbox: BoundingBox { x1: 80.0, y1: bottom - 40.0, x2: 120.0, y2: bottom },
                mask: None,
                polygon: None,
            },
            track_id,
        }
    }

    /// Runs a sequence of bottoms for track 1 and returns the crossings, frame by frame.
    fn run(counter: &mut LineCounter, bottoms: &[f32]) -> Vec<(usize, Direction)> {
        let mut found = Vec::new();
        for (frame, &bottom) in bottoms.iter().enumerate() {
            for event in counter.update(&[at(1, "person", bottom)], &[]) {
                let TrackEvent::LineCrossed { direction, .. } = event else { panic!("{event:?}") };
                found.push((frame, direction));
            }
        }
        found
    }

    #[test]
    fn a_crossing_is_counted_once_with_its_direction() {
        let mut line = counter(2);
        // Down across the line, then staying below for a while.
        let found = run(&mut line, &[80.0, 90.0, 98.0, 104.0, 110.0, 120.0, 130.0, 140.0]);
        assert_eq!(found, [(4, Direction::In)], "counted on the second frame below");
        assert_eq!(line.counts().total, DirectionCounts { inward: 1, outward: 0 });
        // And back up: one `out`.
        let found = run(&mut line, &[90.0, 80.0, 70.0]);
        assert_eq!(found, [(1, Direction::Out)]);
        assert_eq!(line.counts().by_class["person"], DirectionCounts { inward: 1, outward: 1 });
    }

    #[test]
    fn flicker_at_the_line_is_not_counted() {
        let mut line = counter(2);
        // The box's bottom jitters around y = 100 for many frames without settling below.
        let found = run(&mut line, &[95.0, 101.0, 99.0, 102.0, 98.0, 101.0, 97.0, 103.0, 99.0, 96.0]);
        assert_eq!(found, []);
        assert_eq!(line.counts().total, DirectionCounts::default());
        // With supervision's default of one frame, the same jitter counts eight times.
        let mut eager = counter(1);
        let found = run(&mut eager, &[95.0, 101.0, 99.0, 102.0, 98.0, 101.0, 97.0, 103.0, 99.0, 96.0]);
        assert_eq!(found.len(), 8);
    }

    #[test]
    fn straddling_frames_neither_count_nor_break_the_run_and_only_the_segment_counts() {
        let mut line = LineCounter::new(LineConfig { anchors: default_anchors(), ..counter(2).config });
        // Corners: top = bottom - 40. Straddling while 100 < bottom < 140.
        let found = run(&mut line, &[90.0, 120.0, 130.0, 150.0, 135.0, 160.0]);
        assert_eq!(found, [(5, Direction::In)], "150, (straddle), 160: two frames wholly below");
        // A box beside the segment's end never counts.
        let mut beside = counter(1);
        let mut event_count = 0;
        for bottom in [80.0, 120.0, 140.0] {
            let mut detection = at(2, "person", bottom);
            detection.detection.bbox.x1 = 300.0;
            detection.detection.bbox.x2 = 340.0;
            event_count += beside.update(&[detection], &[]).len();
        }
        assert_eq!(event_count, 0);
    }

    #[test]
    fn classes_are_filtered_and_ended_tracks_start_afresh() {
        let mut line = LineCounter::new(LineConfig { classes: vec!["car".into()], ..counter(1).config });
        assert!(line.update(&[at(1, "person", 90.0)], &[]).is_empty());
        assert!(line.update(&[at(1, "person", 110.0)], &[]).is_empty());
        assert!(line.update(&[at(2, "car", 90.0)], &[]).is_empty());
        assert_eq!(line.update(&[at(2, "car", 110.0)], &[]).len(), 1);
        // Track 2 ends; a new track 2 seen first below the line has not crossed anything.
        assert!(line.update(&[], &[2]).is_empty());
        assert!(line.update(&[at(2, "car", 120.0)], &[]).is_empty());
        assert_eq!(line.counts().by_class.keys().collect::<Vec<_>>(), ["car"]);
    }
}
