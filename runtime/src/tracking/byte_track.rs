//! ByteTrack (Zhang et al., 2022): tracking by associating every detection box, the weak ones
//! too, with Kalman-predicted tracks.
//!
//! Each frame: (1) confirmed and lost tracks are predicted one frame ahead and matched to the
//! strong detections (score ≥ `track_high_thresh`) by IoU, fused with the score; (2) tracks
//! still unmatched are matched to the weak detections (`track_low_thresh` < score <
//! `track_high_thresh`) by IoU alone, which keeps a track through a partial occlusion that
//! lowers its score; tracks left over are lost; (3) tracks born on the previous frame
//! (unconfirmed) are matched to the strong detections left, or dropped; (4) strong detections
//! still left, scoring at least `new_track_thresh`, start tracks; (5) lost tracks older than
//! `track_buffer` frames are removed, and a tracked and a lost track covering the same box are
//! merged into the older one.
//!
//! The control flow, list order and number types follow supervision 0.30.9's `ByteTrack`
//! line by line (the parity test compares every association with it), so that the same
//! detections give the same tracks: IoU in `f32` on `f32` boxes, the Kalman filter in `f64`,
//! and [`match_below`]'s scipy-equal tie breaking.

use std::collections::HashMap;

use super::{
    assignment::{match_below, CostMatrix, Matches},
    kalman::{Estimate, Measurement},
    TrackingConfig,
};

/// IoU cost threshold of the second association (weak detections): both references use 0.5.
const SECOND_MATCH_THRESH: f32 = 0.5;
/// Cost threshold for matching unconfirmed tracks: both references use 0.7.
const UNCONFIRMED_MATCH_THRESH: f32 = 0.7;

/// A box to track: corners in pixels and the detector's score.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrackInput {
    /// `x1, y1, x2, y2`, pixels.
    pub corners: [f32; 4],
    /// Score in 0–1.
    pub score: f32,
}

/// Where a track stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TrackState {
    Tracked,
    Lost,
    Removed,
}

#[derive(Debug, Clone)]
struct Track {
    /// The id shown, from 1, given when the track is confirmed.
    external: Option<u64>,
    estimate: Estimate,
    state: TrackState,
    confirmed: bool,
    /// Consecutive matches since birth or the last recovery.
    streak: u32,
    start_frame: u64,
    /// The last frame the track was matched on.
    frame: u64,
    /// The detection it matched on `frame`.
    detection: usize,
}

impl Track {
    fn corners(&self) -> [f32; 4] {
        self.estimate.corners().map(|value| value as f32)
    }
}

/// The tracker's numbers from [`TrackingConfig`] (copied, so a frame borrows nothing).
#[derive(Debug, Clone, Copy)]
struct Params {
    track_high_thresh: f32,
    track_low_thresh: f32,
    new_track_thresh: f32,
    track_buffer: u32,
    match_thresh: f32,
    fuse_score: bool,
    minimum_consecutive_frames: u32,
    duplicate_thresh: f32,
}

/// A detection candidate of one frame: its index in the caller's list and its box.
#[derive(Debug, Clone, Copy)]
struct Candidate {
    index: usize,
    corners: [f32; 4],
    score: f32,
}

impl Candidate {
    fn new(index: usize, input: &TrackInput) -> Candidate {
        // supervision keeps a detection as left, top, width, height in float32 and rebuilds its
        // corners from them: x2 becomes x1 + (x2 - x1), which can differ from x2 in the last bit.
        let [x1, y1, x2, y2] = input.corners;
        let (width, height) = (x2 - x1, y2 - y1);
        Candidate { index, corners: [x1, y1, x1 + width, y1 + height], score: input.score }
    }

    fn measurement(&self) -> Measurement {
        let [x1, y1, x2, y2] = self.corners;
        Measurement::from_ltwh(x1, y1, x2 - x1, y2 - y1)
    }
}

/// One stream's ByteTrack state: feed it each frame's detections in order.
///
/// ```
/// use inferx_runtime::tracking::{byte_track::{ByteTrack, TrackInput}, TrackingConfig};
///
/// let mut tracker = ByteTrack::new(&TrackingConfig::default());
/// let mut ids = Vec::new();
/// for step in 0..5 {
///     let x = 10.0 * step as f32;
///     let frame = [TrackInput { corners: [x, 0.0, x + 40.0, 80.0], score: 0.9 }];
///     ids.push(tracker.update(&frame));
/// }
/// // Confirmed on the first frame, the same id all along.
/// assert!(ids.iter().all(|frame| frame == &[Some(1)]));
/// ```
#[derive(Debug, Clone)]
pub struct ByteTrack {
    options: Params,
    frame: u64,
    tracks: HashMap<u64, Track>,
    /// Internal ids, in supervision's list order.
    tracked: Vec<u64>,
    lost: Vec<u64>,
    /// Removed on the previous frame; supervision takes them off the lost list one frame late.
    removed: Vec<u64>,
    next_internal: u64,
    next_external: u64,
}

impl ByteTrack {
    /// A tracker with no tracks yet.
    pub fn new(config: &TrackingConfig) -> ByteTrack {
        ByteTrack {
            options: Params {
                track_high_thresh: config.track_high_thresh,
                track_low_thresh: config.track_low_thresh,
                new_track_thresh: config.new_track_thresh,
                track_buffer: config.track_buffer,
                match_thresh: config.match_thresh,
                fuse_score: config.fuse_score,
                minimum_consecutive_frames: config.minimum_consecutive_frames,
                duplicate_thresh: config.duplicate_thresh,
            },
            frame: 0,
            tracks: HashMap::new(),
            tracked: Vec::new(),
            lost: Vec::new(),
            removed: Vec::new(),
            next_internal: 0,
            next_external: 1,
        }
    }

    fn empty() -> ByteTrack {
        ByteTrack::new(&TrackingConfig::default())
    }

    /// Frames seen so far.
    pub fn frames(&self) -> u64 {
        self.frame
    }

    /// Tracks alive (tracked or lost, confirmed or not).
    pub fn live_tracks(&self) -> usize {
        self.tracked.len() + self.lost.len()
    }

    /// The ids of the confirmed tracks alive (tracked or lost), ascending.
    pub fn live_ids(&self) -> Vec<u64> {
        let mut ids: Vec<u64> = self
            .tracked
            .iter()
            .chain(&self.lost)
            .filter_map(|id| self.tracks[id].external.filter(|_| self.tracks[id].state != TrackState::Removed))
            .collect();
        ids.sort_unstable();
        ids
    }

    /// Ids shown so far (the next confirmed track gets this many plus one).
    pub fn ids_given(&self) -> u64 {
        self.next_external - 1
    }

    /// Forgets every track, as for a new video; ids start from 1 again.
    pub fn reset(&mut self) {
        *self = ByteTrack { options: self.options, ..ByteTrack::empty() };
    }

    /// Takes one frame's detections and returns, for each, the id of the confirmed track that
    /// took it (`None`: unmatched, or its track is not confirmed yet). Boxes with a
    /// non-finite value or no area are ignored.
    pub fn update(&mut self, detections: &[TrackInput]) -> Vec<Option<u64>> {
        self.frame += 1;
        let frame = self.frame;
        let options = self.options;
        let valid = |input: &TrackInput| {
            let [x1, y1, x2, y2] = input.corners;
            input.corners.iter().all(|value| value.is_finite())
                && input.score.is_finite()
                && x2 - x1 > 0.0
                && y2 - y1 > 0.0
        };
        let mut strong = Vec::new();
        let mut weak = Vec::new();
        for (index, input) in detections.iter().enumerate().filter(|(_, input)| valid(input)) {
            if input.score >= options.track_high_thresh {
                strong.push(Candidate::new(index, input));
            } else if input.score > options.track_low_thresh {
                weak.push(Candidate::new(index, input));
            }
        }

        let mut activated: Vec<u64> = Vec::new();
        let mut refound: Vec<u64> = Vec::new();
        let mut newly_lost: Vec<u64> = Vec::new();
        let mut newly_removed: Vec<u64> = Vec::new();

        let (confirmed, unconfirmed): (Vec<u64>, Vec<u64>) =
            self.tracked.iter().partition(|id| self.tracks[id].confirmed);

        // 1. Confirmed and lost tracks, predicted, against the strong detections.
        let pool = joint(&confirmed, &self.lost);
        for id in &pool {
            let track = self.tracks.get_mut(id).expect("pooled tracks are alive");
            if track.state != TrackState::Tracked {
                track.estimate.stop_growing();
            }
            track.estimate.predict();
        }
        let mut costs = self.iou_costs(&pool, &strong);
        if options.fuse_score {
            fuse_score(&mut costs, &strong);
        }
        let first = match_below(&costs, options.match_thresh);
        self.take_matches(&pool, &strong, &first.pairs, frame, (&mut activated, &mut refound));

        // 2. Tracked tracks left, against the weak detections.
        let remaining: Vec<u64> = first
            .unmatched_rows
            .iter()
            .map(|&row| pool[row])
            .filter(|id| self.tracks[id].state == TrackState::Tracked)
            .collect();
        let second = match_below(&self.iou_costs(&remaining, &weak), SECOND_MATCH_THRESH);
        self.take_matches(&remaining, &weak, &second.pairs, frame, (&mut activated, &mut refound));
        for &row in &second.unmatched_rows {
            let id = remaining[row];
            let track = self.tracks.get_mut(&id).expect("remaining tracks are alive");
            if track.state != TrackState::Lost {
                track.state = TrackState::Lost;
                newly_lost.push(id);
            }
        }

        // 3. Unconfirmed tracks against the strong detections nobody took.
        let left: Vec<Candidate> = first.unmatched_columns.iter().map(|&column| strong[column]).collect();
        let mut costs = self.iou_costs(&unconfirmed, &left);
        if options.fuse_score {
            fuse_score(&mut costs, &left);
        }
        let Matches { pairs, unmatched_rows, unmatched_columns } = match_below(&costs, UNCONFIRMED_MATCH_THRESH);
        for &(row, column) in &pairs {
            let id = unconfirmed[row];
            self.take(id, &left[column], frame);
            activated.push(id);
        }
        for &row in &unmatched_rows {
            let id = unconfirmed[row];
            self.tracks.get_mut(&id).expect("unconfirmed tracks are alive").state = TrackState::Removed;
            newly_removed.push(id);
        }

        // 4. New tracks from the strong detections still left.
        for &column in &unmatched_columns {
            let candidate = &left[column];
            if candidate.score < options.new_track_thresh {
                continue;
            }
            let internal = self.next_internal;
            self.next_internal += 1;
            // Confirmed at once only on the very first frame (as ByteTrack does), so a video's
            // first objects have ids from its first frame.
            let confirmed = frame == 1 && options.minimum_consecutive_frames <= 1;
            let external = confirmed.then(|| self.new_external());
            self.tracks.insert(
                internal,
                Track {
                    external,
                    estimate: Estimate::new(candidate.measurement()),
                    state: TrackState::Tracked,
                    confirmed,
                    streak: 1,
                    start_frame: frame,
                    frame,
                    detection: candidate.index,
                },
            );
            activated.push(internal);
        }

        // 5. Age out lost tracks; rebuild the lists.
        let max_time_lost = u64::from(options.track_buffer);
        for id in &self.lost {
            let track = self.tracks.get_mut(id).expect("lost tracks are alive");
            if frame - track.frame > max_time_lost {
                track.state = TrackState::Removed;
                newly_removed.push(*id);
            }
        }
        let still_tracked: Vec<u64> =
            self.tracked.iter().copied().filter(|id| self.tracks[id].state == TrackState::Tracked).collect();
        let tracked = joint(&joint(&still_tracked, &activated), &refound);
        let mut lost = subtract(&self.lost, &tracked);
        lost.extend(newly_lost);
        let lost = subtract(&lost, &self.removed);
        let (tracked, lost) = self.remove_duplicates(tracked, lost);
        self.removed = newly_removed;
        self.tracked = tracked;
        self.lost = lost;
        // Forget tracks on no list any more (supervision lets them go to the collector).
        let alive: std::collections::HashSet<u64> =
            self.tracked.iter().chain(&self.lost).chain(&self.removed).copied().collect();
        self.tracks.retain(|id, _| alive.contains(id));

        let mut ids = vec![None; detections.len()];
        for id in &self.tracked {
            let track = &self.tracks[id];
            if track.confirmed && track.frame == frame {
                ids[track.detection] = track.external;
            }
        }
        ids
    }

    fn new_external(&mut self) -> u64 {
        let id = self.next_external;
        self.next_external += 1;
        id
    }

    /// Updates the tracks of `pairs` (rows of `ids`, columns of `candidates`); each goes to the
    /// first list when it was being tracked, to the second when it was lost and is found again.
    fn take_matches(
        &mut self,
        ids: &[u64],
        candidates: &[Candidate],
        pairs: &[(usize, usize)],
        frame: u64,
        (activated, refound): (&mut Vec<u64>, &mut Vec<u64>),
    ) {
        for &(row, column) in pairs {
            let id = ids[row];
            if self.take(id, &candidates[column], frame) {
                activated.push(id);
            } else {
                refound.push(id);
            }
        }
    }

    /// Updates track `id` with a matched detection; `true` when it was being tracked, `false`
    /// when it was lost and is now found again.
    fn take(&mut self, id: u64, candidate: &Candidate, frame: u64) -> bool {
        let minimum = self.options.minimum_consecutive_frames;
        let mut confirm = false;
        let track = self.tracks.get_mut(&id).expect("matched tracks are alive");
        track.estimate.update(candidate.measurement());
        track.frame = frame;
        track.detection = candidate.index;
        let was_tracked = track.state == TrackState::Tracked;
        if was_tracked {
            track.streak += 1;
            if track.streak >= minimum {
                track.confirmed = true;
                confirm = track.external.is_none();
            }
        } else {
            track.streak = 0;
        }
        track.state = TrackState::Tracked;
        if confirm {
            let external = self.new_external();
            self.tracks.get_mut(&id).expect("matched tracks are alive").external = Some(external);
        }
        was_tracked
    }

    /// `1 - IoU` between the tracks' boxes (rows) and the candidates (columns).
    fn iou_costs(&self, ids: &[u64], candidates: &[Candidate]) -> CostMatrix {
        let boxes: Vec<[f32; 4]> = ids.iter().map(|id| self.tracks[id].corners()).collect();
        let others: Vec<[f32; 4]> = candidates.iter().map(|candidate| candidate.corners).collect();
        iou_costs(&boxes, &others)
    }

    /// Of a tracked and a lost track covering nearly the same box, keeps the one followed longer.
    fn remove_duplicates(&self, tracked: Vec<u64>, lost: Vec<u64>) -> (Vec<u64>, Vec<u64>) {
        let corners = |ids: &[u64]| ids.iter().map(|id| self.tracks[id].corners()).collect::<Vec<_>>();
        let costs = iou_costs(&corners(&tracked), &corners(&lost));
        let mut drop_tracked = vec![false; tracked.len()];
        let mut drop_lost = vec![false; lost.len()];
        for (row, a) in tracked.iter().enumerate() {
            for (column, b) in lost.iter().enumerate() {
                if (costs.get(row, column) as f32) < self.options.duplicate_thresh {
                    let (a, b) = (&self.tracks[a], &self.tracks[b]);
                    if a.frame - a.start_frame > b.frame - b.start_frame {
                        drop_lost[column] = true;
                    } else {
                        drop_tracked[row] = true;
                    }
                }
            }
        }
        let keep = |ids: Vec<u64>, dropped: &[bool]| {
            ids.into_iter().zip(dropped).filter(|(_, &d)| !d).map(|(id, _)| id).collect()
        };
        (keep(tracked, &drop_tracked), keep(lost, &drop_lost))
    }
}

/// `1 - IoU` of every pair, as supervision computes it: corners widened to `f64`, the IoU
/// rounded to `f32`, then `1 - IoU` in `f32`.
pub fn iou_costs(rows: &[[f32; 4]], columns: &[[f32; 4]]) -> CostMatrix {
    let mut costs = CostMatrix::filled(rows.len(), columns.len(), 1.0);
    for (row, a) in rows.iter().enumerate() {
        let [ax1, ay1, ax2, ay2] = a.map(f64::from);
        let area_a = (ax2 - ax1) * (ay2 - ay1);
        for (column, b) in columns.iter().enumerate() {
            let [bx1, by1, bx2, by2] = b.map(f64::from);
            let width = (ax2.min(bx2) - ax1.max(bx1)).max(0.0);
            let height = (ay2.min(by2) - ay1.max(by1)).max(0.0);
            let intersection = width * height;
            let union = area_a + (bx2 - bx1) * (by2 - by1) - intersection;
            let iou = if union > 0.0 { (intersection / union) as f32 } else { 0.0 };
            costs.set(row, column, f64::from(1.0 - iou));
        }
    }
    costs
}

/// Folds the detection score into the IoU cost: `1 - IoU × score`, in `f32`.
fn fuse_score(costs: &mut CostMatrix, candidates: &[Candidate]) {
    for row in 0..costs.rows() {
        for (column, candidate) in candidates.iter().enumerate() {
            let similarity = 1.0 - costs.get(row, column) as f32;
            costs.set(row, column, f64::from(1.0 - similarity * candidate.score));
        }
    }
}

/// `a` then the members of `b` not in it, in order.
fn joint(a: &[u64], b: &[u64]) -> Vec<u64> {
    let mut seen = std::collections::HashSet::new();
    a.iter().chain(b).copied().filter(|id| seen.insert(*id)).collect()
}

/// `a` without the members of `b`, in order.
fn subtract(a: &[u64], b: &[u64]) -> Vec<u64> {
    a.iter().copied().filter(|id| !b.contains(id)).collect()
}
