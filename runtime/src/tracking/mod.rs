//! Following objects across the frames of one stream, and counting them: ByteTrack
//! ([`byte_track`]), line crossings ([`line`](mod@line)) and polygon zones ([`zone`]), configured by the
//! `tracking:` section of `inferx.yaml` ([`TrackingConfig`]).
//!
//! Pure logic on boxes: no decoding, no model. A [`Tracker`] holds one stream's state; feed it
//! each frame's detections in order and it gives back a [`TrackedFrame`], the record that
//! `inferx run --track --json` and a generated project's `predict --track` print as one JSON
//! line per frame (image sequences now; video files and streams print the same record).
//!
//! ```
//! use inferx_runtime::results::{BoundingBox, Detection};
//! use inferx_runtime::tracking::{Tracker, TrackingConfig};
//!
//! let mut tracker = Tracker::new(TrackingConfig::default());
//! let person = |x: f32| Detection {
//!     class_id: 0,
//!     label: "person".into(),
//!     score: 0.9,
//!     bbox: BoundingBox { x1: x, y1: 10.0, x2: x + 40.0, y2: 110.0 },
//!     mask: None,
//!     polygon: None,
//! };
//! let first = tracker.update(0, 0.0, vec![person(0.0)]);
//! let second = tracker.update(1, 33.3, vec![person(6.0)]);
//! assert_eq!(first.detections[0].track_id, second.detections[0].track_id);
//! println!("{}", serde_json::to_string(&second).unwrap());
//! ```

pub mod assignment;
pub mod byte_track;
pub mod kalman;
pub mod line;
pub mod zone;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::results::{BoundingBox, Detection};
use byte_track::{ByteTrack, TrackInput};
use line::{LineConfig, LineCounter, LineCounts};
use zone::{ZoneConfig, ZoneCounter, ZoneCounts};

/// Which tracking algorithm runs. Only ByteTrack is built: BoT-SORT's appearance and
/// camera-motion steps have not paid for themselves on our clips (static cameras).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TrackerType {
    /// ByteTrack.
    #[default]
    Bytetrack,
}

/// The `tracking:` section of `inferx.yaml`: ByteTrack's parameters (Ultralytics' names and
/// defaults, from its `bytetrack.yaml`), and the lines and zones to count with.
///
/// Where we differ from Ultralytics: a track is confirmed (gets an id) after
/// `minimum_consecutive_frames` matches, and ids count confirmed tracks 1, 2, 3… with no gaps
/// (supervision's rule; Ultralytics spends an id on every track started); the boxes reported
/// are the detector's, not the Kalman filter's; `track_buffer` counts frames whatever the
/// frame rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrackingConfig {
    /// The algorithm (`bytetrack`).
    pub tracker_type: TrackerType,
    /// Detections scoring at least this are matched first (Ultralytics: 0.25).
    pub track_high_thresh: f32,
    /// Detections scoring above this, and below `track_high_thresh`, are matched second, to
    /// tracks left over (0.1).
    pub track_low_thresh: f32,
    /// An unmatched detection starts a track when it scores at least this (0.25; supervision
    /// uses its activation threshold + 0.1).
    pub new_track_thresh: f32,
    /// Frames a lost track is kept, waiting to be found again (30).
    pub track_buffer: u32,
    /// Most `1 - IoU` cost of a first-stage match (0.8: IoU at least 0.2).
    pub match_thresh: f32,
    /// Weigh the first-stage IoU by the detection's score (true).
    pub fuse_score: bool,
    /// Matches before a track is confirmed and reported (supervision's name; 1: reported from
    /// its second frame, or its first on a stream's first frame).
    pub minimum_consecutive_frames: u32,
    /// A tracked and a lost track closer than this `1 - IoU` are one object: the younger is
    /// dropped (Ultralytics: 0.15; supervision: 0.05).
    pub duplicate_thresh: f32,
    /// Counting lines.
    pub lines: Vec<LineConfig>,
    /// Counting zones.
    pub zones: Vec<ZoneConfig>,
}

impl Default for TrackingConfig {
    fn default() -> Self {
        TrackingConfig {
            tracker_type: TrackerType::Bytetrack,
            track_high_thresh: 0.25,
            track_low_thresh: 0.1,
            new_track_thresh: 0.25,
            track_buffer: 30,
            match_thresh: 0.8,
            fuse_score: true,
            minimum_consecutive_frames: 1,
            duplicate_thresh: 0.15,
            lines: Vec::new(),
            zones: Vec::new(),
        }
    }
}

impl TrackingConfig {
    /// The problems of this section, each naming its key and the fix; empty when it is valid.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (key, value) in [
            ("track_high_thresh", self.track_high_thresh),
            ("track_low_thresh", self.track_low_thresh),
            ("new_track_thresh", self.new_track_thresh),
            ("match_thresh", self.match_thresh),
            ("duplicate_thresh", self.duplicate_thresh),
        ] {
            if !(0.0..=1.0).contains(&value) {
                problems.push(format!("tracking.{key} is {value}: use a value between 0 and 1"));
            }
        }
        if self.track_low_thresh > self.track_high_thresh {
            problems.push(format!(
                "tracking.track_low_thresh ({}) is above tracking.track_high_thresh ({}): the low band must lie below the high one",
                self.track_low_thresh, self.track_high_thresh
            ));
        }
        if self.track_buffer > 100_000 {
            problems.push(format!("tracking.track_buffer is {}: use at most 100000 frames", self.track_buffer));
        }
        if self.minimum_consecutive_frames == 0 || self.minimum_consecutive_frames > 1000 {
            problems.push(format!(
                "tracking.minimum_consecutive_frames is {}: use a value between 1 and 1000",
                self.minimum_consecutive_frames
            ));
        }
        for (index, line) in self.lines.iter().enumerate() {
            problems.extend(line.problems(&format!("tracking.lines[{index}]")));
        }
        for (index, zone) in self.zones.iter().enumerate() {
            problems.extend(zone.problems(&format!("tracking.zones[{index}]")));
        }
        // Lines and zones share one namespace: events and counts are keyed by name.
        let names = self.lines.iter().enumerate().map(|(index, line)| (format!("tracking.lines[{index}]"), &line.name));
        let names = names
            .chain(self.zones.iter().enumerate().map(|(index, zone)| (format!("tracking.zones[{index}]"), &zone.name)));
        let mut seen = BTreeSet::new();
        for (key, name) in names {
            if !seen.insert(name) {
                problems.push(format!("{key}.name `{name}` is used twice: give each line and zone its own name"));
            }
        }
        problems
    }
}

/// A point of a box that lines and zones test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Anchor {
    /// The centre.
    Center,
    /// The middle of the top edge.
    TopCenter,
    /// The middle of the bottom edge (where a person or a car touches the ground).
    BottomCenter,
    /// The middle of the left edge.
    CenterLeft,
    /// The middle of the right edge.
    CenterRight,
    /// The top-left corner.
    TopLeft,
    /// The top-right corner.
    TopRight,
    /// The bottom-left corner.
    BottomLeft,
    /// The bottom-right corner.
    BottomRight,
}

impl Anchor {
    /// The anchor's point on `bbox`, pixels.
    pub fn point(self, bbox: &BoundingBox) -> [f32; 2] {
        let (cx, cy) = ((bbox.x1 + bbox.x2) / 2.0, (bbox.y1 + bbox.y2) / 2.0);
        match self {
            Anchor::Center => [cx, cy],
            Anchor::TopCenter => [cx, bbox.y1],
            Anchor::BottomCenter => [cx, bbox.y2],
            Anchor::CenterLeft => [bbox.x1, cy],
            Anchor::CenterRight => [bbox.x2, cy],
            Anchor::TopLeft => [bbox.x1, bbox.y1],
            Anchor::TopRight => [bbox.x2, bbox.y1],
            Anchor::BottomLeft => [bbox.x1, bbox.y2],
            Anchor::BottomRight => [bbox.x2, bbox.y2],
        }
    }
}

/// A detection with the id of the track it belongs to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrackedDetection {
    /// The detection, as in a single image's result.
    #[serde(flatten)]
    pub detection: Detection,
    /// The track's id: from 1, the same for one object across frames.
    pub track_id: u64,
}

/// Which way a line was crossed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Onto the right-hand side of the line, looking from `start` to `end` on the image
    /// (y pointing down): downwards across a line drawn left to right.
    In,
    /// Onto the left-hand side.
    Out,
}

/// Something that happened on a frame.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum TrackEvent {
    /// A confirmed track crossed a line.
    LineCrossed {
        /// The line's name.
        line: String,
        /// The track.
        track_id: u64,
        /// The track's class on this frame.
        label: String,
        /// Which way.
        direction: Direction,
    },
    /// A track entered a zone.
    ZoneEntered {
        /// The zone's name.
        zone: String,
        /// The track.
        track_id: u64,
        /// The track's class on this frame.
        label: String,
    },
    /// A track left a zone, or was lost while in it.
    ZoneExited {
        /// The zone's name.
        zone: String,
        /// The track.
        track_id: u64,
        /// The track's class when last seen.
        label: String,
        /// Time from the first frame inside to the first frame outside (or the last frame it
        /// was seen, when lost), ms.
        dwell_ms: f64,
        /// The same in frames.
        dwell_frames: u64,
        /// The track was lost (left the picture or stopped being detected), not seen leaving.
        lost: bool,
    },
}

/// Running counts of every line and zone, by name.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Counts {
    /// Crossings of each line.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub lines: BTreeMap<String, LineCounts>,
    /// Occupancy of each zone.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub zones: BTreeMap<String, ZoneCounts>,
}

impl Counts {
    /// Whether no line or zone is configured.
    pub fn is_empty(&self) -> bool {
        self.lines.is_empty() && self.zones.is_empty()
    }
}

/// One frame of a stream: the JSON Lines record of `inferx run --json` on a video or a
/// `--track` sequence, one line per frame. `D` is [`TrackedDetection`] when the stream is
/// tracked ([`TrackedFrame`]), a plain [`Detection`] when it is not ([`DetectedFrame`]: no
/// `track_id`, no events, no counts).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FrameRecord<D = TrackedDetection> {
    /// Frame index among the stream's presented frames, from 0.
    pub frame: u64,
    /// Presentation time, ms (from the stream's time base for a video, from the frame rate for
    /// an image sequence).
    pub pts_ms: f64,
    /// Detections (of a tracked stream: those that belong to a confirmed track), in the
    /// detector's order.
    pub detections: Vec<D>,
    /// Line crossings and zone entries and exits on this frame.
    pub events: Vec<TrackEvent>,
    /// Counts so far, when lines or zones are configured.
    #[serde(default, skip_serializing_if = "Counts::is_empty")]
    pub counts: Counts,
    /// Of a live source (camera, RTSP, HTTP): ms from the frame's arrival to its result (the
    /// model and the tracker done); absent for files, whose frames do not arrive in real time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lag_ms: Option<f64>,
}

/// A frame of a tracked stream: the record of `--track` output.
pub type TrackedFrame = FrameRecord<TrackedDetection>;

/// A frame of a stream that is not tracked.
pub type DetectedFrame = FrameRecord<Detection>;

impl DetectedFrame {
    /// The record of a frame's detections, without tracking.
    pub fn untracked(frame: u64, pts_ms: f64, detections: Vec<Detection>) -> DetectedFrame {
        FrameRecord { frame, pts_ms, detections, events: Vec::new(), counts: Counts::default(), lag_ms: None }
    }
}

/// One line of text: `frame 3 (100.0 ms): person 0.91, car 0.80` (of a live source
/// `frame 3 (100.0 ms, lag 42 ms): ...`).
impl std::fmt::Display for DetectedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let detections = self.detections.iter().map(|detection| (None, detection));
        write_frame_detections(f, self, detections)
    }
}

/// `frame 3 (100.0 ms): #1 person 0.91, car 0.80`: a frame's head (with the lag of a live
/// source's frame) and its detections, with the track id of those that have one (`-` for none).
fn write_frame_detections<'a, D>(
    f: &mut std::fmt::Formatter<'_>,
    record: &FrameRecord<D>,
    detections: impl ExactSizeIterator<Item = (Option<u64>, &'a Detection)>,
) -> std::fmt::Result {
    let (frame, pts_ms) = (record.frame, record.pts_ms);
    match record.lag_ms {
        Some(lag_ms) => write!(f, "frame {frame} ({pts_ms:.1} ms, lag {lag_ms:.0} ms): ")?,
        None => write!(f, "frame {frame} ({pts_ms:.1} ms): ")?,
    }
    if detections.len() == 0 {
        write!(f, "-")?;
    }
    for (index, (track_id, detection)) in detections.enumerate() {
        f.write_str(if index == 0 { "" } else { ", " })?;
        if let Some(track_id) = track_id {
            write!(f, "#{track_id} ")?;
        }
        write!(f, "{} {:.2}", detection.label, detection.score)?;
    }
    Ok(())
}

impl<D: Serialize> FrameRecord<D> {
    /// The record as one line of JSON (JSON Lines: no newline inside).
    pub fn json_line(&self) -> String {
        // Plain numbers and strings only: serialising cannot fail (non-finite floats become null).
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// One line of text: `frame 3 (100.0 ms): #1 person 0.91, #2 car 0.80 | door: #1 out`.
impl std::fmt::Display for TrackedFrame {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let detections = self.detections.iter().map(|tracked| (Some(tracked.track_id), &tracked.detection));
        write_frame_detections(f, self, detections)?;
        for (index, event) in self.events.iter().enumerate() {
            f.write_str(if index == 0 { " | " } else { ", " })?;
            match event {
                TrackEvent::LineCrossed { line, track_id, direction, .. } => {
                    let direction = if *direction == Direction::In { "in" } else { "out" };
                    write!(f, "{line}: #{track_id} {direction}")?;
                }
                TrackEvent::ZoneEntered { zone, track_id, .. } => write!(f, "{zone}: #{track_id} entered")?,
                TrackEvent::ZoneExited { zone, track_id, dwell_ms, lost, .. } => {
                    let how = if *lost { "lost" } else { "left" };
                    write!(f, "{zone}: #{track_id} {how} after {:.1} s", dwell_ms / 1000.0)?;
                }
            }
        }
        Ok(())
    }
}

/// One stream's tracking state: ByteTrack plus the configured lines and zones.
#[derive(Debug, Clone)]
pub struct Tracker {
    byte_track: ByteTrack,
    lines: Vec<LineCounter>,
    zones: Vec<ZoneCounter>,
    live: Vec<u64>,
}

impl Tracker {
    /// A tracker for a new stream. The configuration should have passed
    /// [`TrackingConfig::problems`].
    pub fn new(config: TrackingConfig) -> Tracker {
        Tracker {
            byte_track: ByteTrack::new(&config),
            lines: config.lines.into_iter().map(LineCounter::new).collect(),
            zones: config.zones.into_iter().map(ZoneCounter::new).collect(),
            live: Vec::new(),
        }
    }

    /// Tracks confirmed so far (the largest id given).
    pub fn tracks_confirmed(&self) -> u64 {
        self.byte_track.ids_given()
    }

    /// Tracks one frame's detections. `frame` and `pts_ms` are the caller's (frame index and
    /// presentation time); frames must come in order.
    pub fn update(&mut self, frame: u64, pts_ms: f64, detections: Vec<Detection>) -> TrackedFrame {
        let inputs: Vec<TrackInput> = detections
            .iter()
            .map(|detection| {
                let b = detection.bbox;
                TrackInput { corners: [b.x1, b.y1, b.x2, b.y2], score: detection.score }
            })
            .collect();
        let ids = self.byte_track.update(&inputs);
        let tracked: Vec<TrackedDetection> = detections
            .into_iter()
            .zip(ids)
            .filter_map(|(detection, id)| id.map(|track_id| TrackedDetection { detection, track_id }))
            .collect();
        let live = self.byte_track.live_ids();
        let ended: Vec<u64> = self.live.iter().copied().filter(|id| live.binary_search(id).is_err()).collect();
        self.live = live;
        let mut events = Vec::new();
        let mut counts = Counts::default();
        for line in &mut self.lines {
            events.extend(line.update(&tracked, &ended));
            counts.lines.insert(line.name().to_string(), line.counts().clone());
        }
        for zone in &mut self.zones {
            events.extend(zone.update(frame, pts_ms, &tracked, &ended));
            counts.zones.insert(zone.name().to_string(), zone.counts());
        }
        TrackedFrame { frame, pts_ms, detections: tracked, events, counts, lag_ms: None }
    }
}

/// The presentation time of frame `index` at `fps` frames per second, ms.
pub fn frame_pts_ms(index: u64, fps: f64) -> f64 {
    index as f64 * 1000.0 / fps
}

/// Whether `label` passes a class filter (empty: every class).
fn class_allowed(classes: &[String], label: &str) -> bool {
    classes.is_empty() || classes.iter().any(|class| class == label)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::results::BoundingBox;

    #[test]
    fn a_frames_text_line_says_its_lag_only_for_a_live_source() {
        let person = Detection {
            class_id: 0,
            label: "person".into(),
            score: 0.912,
            bbox: BoundingBox { x1: 0.0, y1: 0.0, x2: 10.0, y2: 10.0 },
            mask: None,
            polygon: None,
        };
        let mut detected = DetectedFrame::untracked(3, 100.0, vec![person.clone()]);
        assert_eq!(detected.to_string(), "frame 3 (100.0 ms): person 0.91");
        detected.lag_ms = Some(41.6);
        assert_eq!(detected.to_string(), "frame 3 (100.0 ms, lag 42 ms): person 0.91");
        let tracked = TrackedFrame {
            frame: 4,
            pts_ms: 133.3,
            detections: vec![TrackedDetection { detection: person, track_id: 7 }],
            events: Vec::new(),
            counts: Counts::default(),
            lag_ms: Some(12.0),
        };
        assert_eq!(tracked.to_string(), "frame 4 (133.3 ms, lag 12 ms): #7 person 0.91");
    }
}
