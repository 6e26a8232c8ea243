//! Image sequences as one stream: numbered frames run in order through the detector and a
//! [`Tracker`], one [`TrackedFrame`] per frame. The first source of tracking; video files and
//! live streams give the tracker their decoded frames the same way and print the same record.

use std::path::{Path, PathBuf};

use crate::{
    config::ProjectConfig,
    image::DynamicImage,
    pool::PipelinePool,
    project_files,
    tracking::{frame_pts_ms, TrackedFrame, Tracker, TrackingConfig},
    Error, Result, TaskKind,
};

/// The score threshold for tracking: the detector's (`None`: its default, 0.25) lowered to
/// `tracking.track_low_thresh`, as Ultralytics' track mode lowers it to 0.1: ByteTrack's
/// second association is made of the weak boxes a plain prediction drops.
pub fn tracking_confidence(confidence: Option<f32>, tracking: &TrackingConfig) -> f32 {
    confidence.map_or(tracking.track_low_thresh, |confidence| confidence.min(tracking.track_low_thresh))
}

/// The detector and tracking settings of the project an `inferx.yaml` describes, for
/// `predict --track`: the pool as [`PipelinePool::from_config_file`] loads it, with the score
/// threshold from [`tracking_confidence`], and the `tracking:` section (defaults without one).
pub fn load_project(path: impl AsRef<Path>, files: usize) -> Result<(PipelinePool, TrackingConfig)> {
    let path = path.as_ref();
    let config = ProjectConfig::load(path)?;
    let tracking = config.tracking.clone().unwrap_or_default();
    let project_dir = project_files::project_dir(path);
    let mut options = config.pipeline_options(project_dir)?;
    options.confidence = Some(tracking_confidence(options.confidence, &tracking));
    let pool = PipelinePool::load(config.model_path(project_dir)?, options, files)?;
    Ok((pool, tracking))
}

/// Runs `frames`, in the order given, through `pool`'s detector and `tracker`. `each` gets,
/// in frame order, the frame's index and its decoded image and record, or the error that
/// stopped that frame (the tracker never sees it: tracks age only on frames read). `pts_ms` is
/// `index × 1000 / fps`.
pub fn track_files(
    pool: &PipelinePool,
    frames: &[PathBuf],
    tracker: &mut Tracker,
    fps: f64,
    mut each: impl FnMut(usize, Result<(DynamicImage, TrackedFrame)>),
) -> Result<()> {
    let task = pool.primary().task();
    if task != TaskKind::Detection {
        return Err(Error::config(format!(
            "tracking follows detected boxes, and this model's task is {task}: use a detection model"
        )));
    }
    if !(fps.is_finite() && fps > 0.0) {
        return Err(Error::config(format!("the frame rate {fps} is not a positive number of frames per second")));
    }
    pool.predict_files(frames, |index, result| {
        let pts_ms = frame_pts_ms(index as u64, fps);
        each(
            index,
            result.map(|(image, prediction)| {
                let detections = prediction.detections().to_vec();
                (image, tracker.update(index as u64, pts_ms, detections))
            }),
        );
    });
    Ok(())
}
