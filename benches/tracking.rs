//! Tracking cost per frame at 100 tracks: ByteTrack alone, and with lines and zones.
//!
//! ```text
//! cargo bench --bench tracking
//! ```
//!
//! A synthetic scene of `INFERX_BENCH_TRACKS` objects (default 100) moving at constant
//! velocities in a 1920×1080 frame, with box jitter, a weak detection now and then (ByteTrack's
//! second band) and one in twenty boxes missing per frame (lost tracks to keep and find
//! again), built once (a fixed pseudo-random sequence) so only tracking is timed.
//! `INFERX_BENCH_FRAMES` frames (default 600) are timed after 30 of warm-up, one by one: the
//! detections as `Detection`s in, the `TrackedFrame` out. The bench fails when the median frame
//! takes 1 ms or more (`INFERX_BENCH_MAX_MS`). Markdown on stdout, JSON in
//! `target/bench/tracking.json`.

mod support;

use std::{hint::black_box, process::ExitCode, time::Instant};

use inferx_runtime::{
    results::{BoundingBox, Detection},
    tracking::{line::LineConfig, zone::ZoneConfig, Anchor, Tracker, TrackingConfig},
};
use serde::Serialize;

const WARMUP: usize = 30;

#[derive(Debug, Serialize)]
struct Row {
    setup: &'static str,
    tracks: usize,
    frames: usize,
    median_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    ids_given: u64,
}

/// A fixed xorshift sequence in 0–1.
struct Random(u64);

impl Random {
    fn next(&mut self) -> f32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        (self.0 >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Every frame's detections for `objects` objects bouncing around a 1920×1080 frame.
fn scene(objects: usize, frames: usize) -> Vec<Vec<Detection>> {
    let mut random = Random(0x5eed_1234_abcd_ef01);
    let mut state: Vec<[f32; 6]> = (0..objects)
        .map(|_| {
            let (w, h) = (30.0 + 60.0 * random.next(), 60.0 + 120.0 * random.next());
            let (x, y) = ((1920.0 - w) * random.next(), (1080.0 - h) * random.next());
            let (vx, vy) = (8.0 * random.next() - 4.0, 8.0 * random.next() - 4.0);
            [x, y, w, h, vx, vy]
        })
        .collect();
    (0..frames)
        .map(|_| {
            let mut detections = Vec::with_capacity(objects);
            for object in &mut state {
                let [x, y, w, h, vx, vy] = *object;
                let (x, y) = (x + vx, y + vy);
                object[4] = if x < 0.0 || x + w > 1920.0 { -vx } else { vx };
                object[5] = if y < 0.0 || y + h > 1080.0 { -vy } else { vy };
                object[0] = x.clamp(0.0, 1920.0 - w);
                object[1] = y.clamp(0.0, 1080.0 - h);
                if random.next() < 0.05 {
                    continue;
                }
                let jitter = |random: &mut Random| 2.0 * random.next() - 1.0;
                let score = if random.next() < 0.1 { 0.15 } else { 0.5 + 0.5 * random.next() };
                let (x1, y1) = (object[0] + jitter(&mut random), object[1] + jitter(&mut random));
                detections.push(Detection {
                    class_id: 0,
                    label: "person".into(),
                    score,
                    bbox: BoundingBox { x1, y1, x2: x1 + w + jitter(&mut random), y2: y1 + h + jitter(&mut random) },
                    mask: None,
                    polygon: None,
                });
            }
            detections
        })
        .collect()
}

fn measure(setup: &'static str, config: TrackingConfig, frames: &[Vec<Detection>], tracks: usize) -> Row {
    let mut tracker = Tracker::new(config);
    let mut times = Vec::with_capacity(frames.len());
    for (index, detections) in frames.iter().enumerate() {
        let detections = detections.clone();
        let started = Instant::now();
        let record = tracker.update(index as u64, index as f64 * 1000.0 / 30.0, detections);
        let elapsed = started.elapsed().as_secs_f64() * 1e3;
        black_box(record);
        if index >= WARMUP {
            times.push(elapsed);
        }
    }
    times.sort_by(f64::total_cmp);
    let at = |quantile: f64| times[((times.len() - 1) as f64 * quantile).round() as usize];
    Row {
        setup,
        tracks,
        frames: times.len(),
        median_ms: at(0.5),
        p99_ms: at(0.99),
        max_ms: at(1.0),
        ids_given: tracker.tracks_confirmed(),
    }
}

fn run() -> Result<(), String> {
    let tracks: usize = support::env_number("INFERX_BENCH_TRACKS", 100)?;
    let timed: usize = support::env_number("INFERX_BENCH_FRAMES", 600)?;
    let max_ms: f64 = support::env_number("INFERX_BENCH_MAX_MS", 1.0)?;
    let frames = scene(tracks, WARMUP + timed);
    let counting = TrackingConfig {
        lines: (0..3)
            .map(|index| LineConfig {
                name: format!("line{index}"),
                start: [0.0, 270.0 * (index + 1) as f32],
                end: [1920.0, 270.0 * (index + 1) as f32],
                anchors: vec![Anchor::TopLeft, Anchor::TopRight, Anchor::BottomLeft, Anchor::BottomRight],
                min_frames: 2,
                classes: Vec::new(),
            })
            .collect(),
        zones: (0..2)
            .map(|index| ZoneConfig {
                name: format!("zone{index}"),
                polygon: vec![[960.0 * index as f32, 0.0], [960.0 * (index + 1) as f32, 0.0], [960.0, 1080.0]],
                anchor: Anchor::BottomCenter,
                min_frames: 1,
                classes: Vec::new(),
            })
            .collect(),
        ..TrackingConfig::default()
    };
    let rows = [
        measure("ByteTrack", TrackingConfig::default(), &frames, tracks),
        measure("ByteTrack + 3 lines + 2 zones", counting, &frames, tracks),
    ];
    println!("| setup | tracks | frames | median ms | p99 ms | max ms | ids given |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    for row in &rows {
        println!(
            "| {} | {} | {} | {:.3} | {:.3} | {:.3} | {} |",
            row.setup, row.tracks, row.frames, row.median_ms, row.p99_ms, row.max_ms, row.ids_given
        );
    }
    let path = support::write_json("tracking", &rows)?;
    eprintln!("JSON in {}", path.display());
    for row in &rows {
        if row.median_ms >= max_ms {
            return Err(format!(
                "{}: {:.3} ms per frame at {} tracks, over {max_ms} ms",
                row.setup, row.median_ms, tracks
            ));
        }
    }
    Ok(())
}

fn main() -> ExitCode {
    support::exit(run())
}
