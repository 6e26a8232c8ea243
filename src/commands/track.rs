//! `inferx run --track`: the inputs as one sequence of frames, in order, through the detector
//! and ByteTrack, printed as JSON Lines (one [`TrackedFrame`] per frame) or as lines of text.

use std::{path::PathBuf, process::ExitCode};

use anyhow::{bail, Context};
use inferx_runtime::{
    inputs, sequence,
    tracking::{Tracker, TrackingConfig},
    PipelineOptions, PipelinePool, ProjectConfig, UserConfig,
};

use crate::{cli::RunArgs, output::Printer};

/// The `tracking:` section of `--config` (defaults without one), checked; and the score
/// threshold lowered to its low band unless `--conf` is given
/// ([`sequence::tracking_confidence`]).
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
        options.confidence = Some(sequence::tracking_confidence(options.confidence, &tracking));
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
    if args.save.is_some() {
        bail!("--save with --track writes an annotated video: give a video file, or leave out --save for an image sequence");
    }
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
                written = printer.out(if args.json { frame.json_line() } else { frame.to_string() });
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
