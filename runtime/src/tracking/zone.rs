//! Polygon zones: which tracks are inside, when they enter and leave, and for how long they
//! stayed.
//!
//! A track is inside when its anchor point (default: the middle of the box's bottom edge, where
//! it stands) is inside the polygon (even-odd rule). Entering or leaving takes `min_frames`
//! frames in a row on the new side, so a box flickering on the border does not enter and leave
//! over and over. The time in the zone runs from the first frame inside to the first frame
//! outside; a track lost while inside leaves with `lost: true` at its last frame seen.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::{class_allowed, Anchor, TrackEvent, TrackedDetection};

/// A counting zone in `tracking.zones`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZoneConfig {
    /// Name, used in events and counts.
    pub name: String,
    /// The polygon's corners, `[x, y]` in image pixels, in order (at least 3).
    pub polygon: Vec<[f32; 2]>,
    /// The box point tested (default `bottom_center`, as supervision's `PolygonZone`).
    #[serde(default = "default_anchor")]
    pub anchor: Anchor,
    /// Frames in a row on the new side before an entry or exit counts (default 1).
    #[serde(default = "default_min_frames")]
    pub min_frames: u32,
    /// Only these labels count (default: all).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub classes: Vec<String>,
}

fn default_anchor() -> Anchor {
    Anchor::BottomCenter
}

fn default_min_frames() -> u32 {
    1
}

impl ZoneConfig {
    pub(super) fn problems(&self, key: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if self.name.trim().is_empty() {
            problems.push(format!("{key}.name is empty: name the zone"));
        }
        if self.polygon.len() < 3 {
            problems.push(format!("{key}.polygon has {} points: a zone needs at least 3", self.polygon.len()));
        }
        if self.polygon.iter().flatten().any(|value| !value.is_finite()) {
            problems.push(format!("{key}.polygon: points must be finite pixel coordinates"));
        }
        if self.min_frames == 0 || self.min_frames > 1000 {
            problems.push(format!("{key}.min_frames is {}: use a value between 1 and 1000", self.min_frames));
        }
        problems
    }

    /// Whether `point` is inside the polygon (even-odd rule; points on an edge may fall
    /// either way).
    pub fn contains(&self, [x, y]: [f32; 2]) -> bool {
        let mut inside = false;
        let corners = &self.polygon;
        for (index, &[x1, y1]) in corners.iter().enumerate() {
            let [x2, y2] = corners[(index + 1) % corners.len()];
            if (y1 > y) != (y2 > y) && x < x1 + (y - y1) / (y2 - y1) * (x2 - x1) {
                inside = !inside;
            }
        }
        inside
    }
}

/// One zone's occupancy so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ZoneCounts {
    /// Tracks inside now.
    pub current: usize,
    /// Tracks inside now, by label.
    pub current_by_class: BTreeMap<String, usize>,
    /// Entries so far.
    pub entered: u64,
    /// Exits so far (lost tracks included).
    pub exited: u64,
}

#[derive(Debug, Clone)]
struct Presence {
    inside: bool,
    /// Frame and time the current stay began (the first frame of the run that confirmed it).
    since: (u64, f64),
    /// Frames in a row seen on the other side, and when that run began.
    run: u32,
    run_start: (u64, f64),
    /// The last frame seen, and the label then.
    last_seen: (u64, f64),
    label: String,
}

/// One zone's counter.
#[derive(Debug, Clone)]
pub struct ZoneCounter {
    config: ZoneConfig,
    tracks: HashMap<u64, Presence>,
    entered: u64,
    exited: u64,
}

impl ZoneCounter {
    /// A counter with an empty zone.
    pub fn new(config: ZoneConfig) -> ZoneCounter {
        ZoneCounter { config, tracks: HashMap::new(), entered: 0, exited: 0 }
    }

    /// The zone's name.
    pub fn name(&self) -> &str {
        &self.config.name
    }

    /// Occupancy now and entries and exits so far.
    pub fn counts(&self) -> ZoneCounts {
        let mut counts = ZoneCounts { entered: self.entered, exited: self.exited, ..ZoneCounts::default() };
        for presence in self.tracks.values().filter(|presence| presence.inside) {
            counts.current += 1;
            *counts.current_by_class.entry(presence.label.clone()).or_default() += 1;
        }
        counts
    }

    /// Takes one frame's tracked detections and the ids of the tracks that ended; returns the
    /// entries and exits of this frame.
    pub fn update(
        &mut self,
        frame: u64,
        pts_ms: f64,
        detections: &[TrackedDetection],
        ended: &[u64],
    ) -> Vec<TrackEvent> {
        let mut events = Vec::new();
        let now = (frame, pts_ms);
        for tracked in detections {
            let detection = &tracked.detection;
            if !class_allowed(&self.config.classes, &detection.label) {
                continue;
            }
            let inside = self.config.contains(self.config.anchor.point(&detection.bbox));
            let presence = self.tracks.entry(tracked.track_id).or_insert_with(|| Presence {
                inside: false,
                since: now,
                run: 0,
                run_start: now,
                last_seen: now,
                label: detection.label.clone(),
            });
            presence.last_seen = now;
            presence.label.clone_from(&detection.label);
            if inside == presence.inside {
                presence.run = 0;
                continue;
            }
            if presence.run == 0 {
                presence.run_start = now;
            }
            presence.run += 1;
            if presence.run < self.config.min_frames {
                continue;
            }
            presence.run = 0;
            presence.inside = inside;
            let (zone, track_id, label) = (self.config.name.clone(), tracked.track_id, detection.label.clone());
            if inside {
                presence.since = presence.run_start;
                self.entered += 1;
                events.push(TrackEvent::ZoneEntered { zone, track_id, label });
            } else {
                let (dwell_frames, dwell_ms) = dwell(presence.since, presence.run_start);
                self.exited += 1;
                events.push(TrackEvent::ZoneExited { zone, track_id, label, dwell_ms, dwell_frames, lost: false });
            }
        }
        for id in ended {
            let Some(presence) = self.tracks.remove(id) else { continue };
            if presence.inside {
                let (dwell_frames, dwell_ms) = dwell(presence.since, presence.last_seen);
                self.exited += 1;
                events.push(TrackEvent::ZoneExited {
                    zone: self.config.name.clone(),
                    track_id: *id,
                    label: presence.label,
                    dwell_ms,
                    dwell_frames,
                    lost: true,
                });
            }
        }
        events
    }
}

/// Frames and ms from `start` to `end`.
fn dwell(start: (u64, f64), end: (u64, f64)) -> (u64, f64) {
    (end.0.saturating_sub(start.0), end.1 - start.1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::{BoundingBox, Detection};

    /// A square zone from (100, 100) to (200, 200).
    fn zone(min_frames: u32) -> ZoneCounter {
        ZoneCounter::new(ZoneConfig {
            name: "till".into(),
            polygon: vec![[100.0, 100.0], [200.0, 100.0], [200.0, 200.0], [100.0, 200.0]],
            anchor: Anchor::BottomCenter,
            min_frames,
            classes: Vec::new(),
        })
    }

    /// Track `id` standing with its feet at (x, 150).
    fn at(id: u64, x: f32) -> TrackedDetection {
        TrackedDetection {
            detection: Detection {
                class_id: 0,
                label: "person".into(),
                score: 0.9,
                bbox: BoundingBox { x1: x - 10.0, y1: 100.0, x2: x + 10.0, y2: 150.0 },
                mask: None,
                polygon: None,
            },
            track_id: id,
        }
    }

    /// Frames at 10 fps (100 ms apart): x positions of track 1, `None` when not detected.
    fn run(zone: &mut ZoneCounter, xs: &[Option<f32>], end_at: Option<usize>) -> Vec<(u64, TrackEvent)> {
        let mut found = Vec::new();
        for (frame, x) in xs.iter().enumerate() {
            let detections: Vec<TrackedDetection> = x.iter().map(|&x| at(1, x)).collect();
            let ended = if end_at == Some(frame) { vec![1] } else { Vec::new() };
            for event in zone.update(frame as u64, frame as f64 * 100.0, &detections, &ended) {
                found.push((frame as u64, event));
            }
        }
        found
    }

    #[test]
    fn enter_and_exit_events_carry_the_time_spent_inside() {
        let mut till = zone(1);
        let xs = [Some(50.0), Some(90.0), Some(120.0), Some(150.0), Some(180.0), Some(230.0), Some(260.0)];
        let found = run(&mut till, &xs, None);
        let entered = TrackEvent::ZoneEntered { zone: "till".into(), track_id: 1, label: "person".into() };
        let exited = TrackEvent::ZoneExited {
            zone: "till".into(),
            track_id: 1,
            label: "person".into(),
            dwell_ms: 300.0,
            dwell_frames: 3,
            lost: false,
        };
        assert_eq!(found, [(2, entered), (5, exited)]);
        assert_eq!(till.counts(), ZoneCounts { entered: 1, exited: 1, ..ZoneCounts::default() });
    }

    #[test]
    fn the_current_count_follows_who_is_inside_by_class() {
        let mut till = zone(1);
        till.update(0, 0.0, &[at(1, 150.0), at(2, 160.0), at(3, 50.0)], &[]);
        let counts = till.counts();
        assert_eq!((counts.current, counts.entered, counts.current_by_class["person"]), (2, 2, 2));
        till.update(1, 100.0, &[at(1, 150.0), at(2, 260.0), at(3, 50.0)], &[]);
        assert_eq!(till.counts().current, 1);
    }

    #[test]
    fn border_flicker_needs_min_frames_and_a_lost_track_exits_at_its_last_frame() {
        let mut till = zone(2);
        // Feet on both sides of x = 100 frame after frame: never two frames inside in a row.
        let flicker = [Some(95.0), Some(105.0), Some(95.0), Some(104.0), Some(96.0)];
        assert!(run(&mut till, &flicker, None).is_empty());
        // Inside from frame 1 (confirmed on frame 2); not detected on 4-5; ended on frame 5.
        let mut till = zone(2);
        let found = run(&mut till, &[Some(50.0), Some(150.0), Some(150.0), Some(150.0), None, None], Some(5));
        assert_eq!(found.len(), 2, "{found:?}");
        assert!(matches!(found[0], (2, TrackEvent::ZoneEntered { .. })));
        let (frame, TrackEvent::ZoneExited { dwell_ms, dwell_frames, lost, .. }) = &found[1] else { panic!() };
        assert_eq!((*frame, *dwell_ms, *dwell_frames, *lost), (5, 200.0, 2, true));
        assert_eq!(till.counts().current, 0);
    }

    #[test]
    fn points_inside_a_concave_polygon() {
        let l_shape = ZoneConfig {
            name: "l".into(),
            polygon: vec![[0.0, 0.0], [10.0, 0.0], [10.0, 4.0], [4.0, 4.0], [4.0, 10.0], [0.0, 10.0]],
            anchor: Anchor::Center,
            min_frames: 1,
            classes: Vec::new(),
        };
        assert!(l_shape.contains([2.0, 8.0]));
        assert!(l_shape.contains([8.0, 2.0]));
        assert!(!l_shape.contains([8.0, 8.0]));
        assert!(!l_shape.contains([-1.0, 2.0]));
    }
}
