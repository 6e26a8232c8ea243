//! `inferx run --track`: the inputs as one sequence of frames, in order, through the detector
//! and ByteTrack, printed as JSON Lines (one [`TrackedFrame`] per frame) or as lines of text.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{bail, Context};
use inferx_runtime::{
    inputs, sequence,
    tracking::{TrackEvent, TrackedFrame, Tracker, TrackingConfig},
    PipelineOptions, PipelinePool, ProjectConfig, UserConfig,
};

use crate::{cli::RunArgs, output::Printer};

/// The `tracking:` section of `--config` (defaults without one), checked; and the score
/// threshold lowered to its low band unless `--conf` is given, as Ultralytics' track mode
/// does: ByteTrack's second association needs the weak boxes.
pub(crate) fn prepare(args: &RunArgs, options: &mut PipelineOptions) -> anyhow::Result<TrackingConfig> {
    if !(args.fps.is_finite() && args.fps > 0.0) {
        bail!("--fps {} is not a frame rate: give frames per second above 0, e.g. --fps 25", args.fps);
    }
    let tracking = match &args.config {
        Some(path) => {
            let user = UserConfig::discover().context("reading the user config")?;
            let config =
                ProjectConfig::load_with(path, &user).with_context(|| format!("reading `{}`", path.display()))?;
            config.tracking.unwrap_or_default()
        }
        None => TrackingConfig::default(),
    };
    let problems = tracking.problems();
    if !problems.is_empty() {
        bail!("the tracking settings are not valid: {}", problems.join("; "));
    }
    if args.conf.is_none() {
        options.confidence = Some(tracking.track_low_thresh);
    }
    Ok(tracking)
}

/// Tracks `images` as one sequence and prints a record per frame.
pub(crate) fn run(
    args: &RunArgs,
    pool: &PipelinePool,
    mut images: Vec<PathBuf>,
    tracking: TrackingConfig,
    printer: &Printer,
) -> anyhow::Result<ExitCode> {
    // Folders give their frames by name; number them in order (frame_2 before frame_10).
    if args.inputs.iter().all(|input| input.is_dir()) {
        inputs::sort_frames(&mut images);
    }
    let mut tracker = Tracker::new(tracking);
    let mut failures = Vec::new();
    let mut written = Ok(());
    let mut last = None;
    sequence::track_files(pool, &images, &mut tracker, args.fps, |index, result| match result {
        Ok((_, frame)) => {
            if written.is_ok() {
                written = if args.json {
                    printer.out(serde_json::to_string(&frame).unwrap_or_default())
                } else {
                    printer.out(describe(&frame))
                };
            }
            last = Some(frame);
        }
        Err(error) => failures.push(format!("{} (frame {index}): {error}", images[index].display())),
    })?;
    written.context("could not write to stdout")?;
    if let Some(frame) = last.filter(|frame| !frame.counts.is_empty()) {
        printer.status(format!("counts: {}", serde_json::to_string(&frame.counts)?));
    }
    printer.status(format!("{} frames · {} tracks", images.len(), tracker.tracks_confirmed()));
    for failure in &failures {
        eprintln!("error: {failure}");
    }
    Ok(if failures.is_empty() { ExitCode::SUCCESS } else { ExitCode::FAILURE })
}

/// One frame as a line of text: `frame 3 (100.0 ms): #1 person 0.91, #2 car 0.80 | door: #1 in`.
fn describe(frame: &TrackedFrame) -> String {
    let tracks: Vec<String> = frame
        .detections
        .iter()
        .map(|tracked| format!("#{} {} {:.2}", tracked.track_id, tracked.detection.label, tracked.detection.score))
        .collect();
    let mut line = format!(
        "frame {} ({:.1} ms): {}",
        frame.frame,
        frame.pts_ms,
        if tracks.is_empty() { "-".to_string() } else { tracks.join(", ") }
    );
    let events: Vec<String> = frame
        .events
        .iter()
        .map(|event| match event {
            TrackEvent::LineCrossed { line, track_id, direction, .. } => {
                format!(
                    "{line}: #{track_id} {}",
                    serde_json::to_value(direction).unwrap_or_default().as_str().unwrap_or("")
                )
            }
            TrackEvent::ZoneEntered { zone, track_id, .. } => format!("{zone}: #{track_id} entered"),
            TrackEvent::ZoneExited { zone, track_id, dwell_ms, .. } => {
                format!("{zone}: #{track_id} left after {:.1} s", dwell_ms / 1000.0)
            }
        })
        .collect();
    if !events.is_empty() {
        line.push_str(" | ");
        line.push_str(&events.join(", "));
    }
    line
}
