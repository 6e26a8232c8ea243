//! Streams of frames through the detector, one record per frame: image sequences (numbered
//! frames, [`track_files`]) and decoded streams such as video files ([`detect_stream`],
//! [`track_stream`]: any iterator of [`StreamFrame`]s), with a [`Tracker`] giving one
//! [`TrackedFrame`] per frame, or one [`DetectedFrame`] without it.

use std::path::{Path, PathBuf};

use crate::{
    config::ProjectConfig,
    image::DynamicImage,
    inputs::StreamFrame,
    pipeline::FramePredictor,
    pool::PipelinePool,
    project_files,
    tracking::{frame_pts_ms, DetectedFrame, TrackedFrame, Tracker, TrackingConfig},
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
    require_detector(pool.primary(), "tracking follows detected boxes")?;
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

/// Runs a decoded stream's frames, in order, through `detector` (a [`Pipeline`](crate::Pipeline), or a server's
/// workers, see [`FramePredictor`]): `each` gets each
/// frame with its record, or the error that ended the stream or spoiled that frame. Returns
/// how many frames were detected. Decoding happens wherever `frames` does it (a
/// [`VideoReader`](crate::video::VideoReader) decodes on its own thread, overlapping the model).
pub fn detect_stream<D: FramePredictor + ?Sized>(
    detector: &D,
    frames: impl IntoIterator<Item = Result<StreamFrame>>,
    mut each: impl FnMut(Result<(StreamFrame, DetectedFrame)>),
) -> Result<u64> {
    require_detector(detector, "frames of a stream are detected")?;
    let mut detected = 0;
    for frame in frames {
        each(frame.and_then(|frame| {
            let prediction = detector.predict(&frame.image)?;
            detected += 1;
            let record = DetectedFrame::untracked(frame.frame, frame.pts_ms, prediction.detections().to_vec());
            Ok((frame, record))
        }));
    }
    Ok(detected)
}

/// [`detect_stream`] with `tracker` following the objects: one [`TrackedFrame`] per frame. A
/// frame that fails is not shown to the tracker (tracks age only on frames read).
pub fn track_stream<D: FramePredictor + ?Sized>(
    detector: &D,
    frames: impl IntoIterator<Item = Result<StreamFrame>>,
    tracker: &mut Tracker,
    mut each: impl FnMut(Result<(StreamFrame, TrackedFrame)>),
) -> Result<u64> {
    require_detector(detector, "tracking follows detected boxes")?;
    detect_stream(detector, frames, |result| {
        each(result.map(|(frame, record)| {
            let tracked = tracker.update(record.frame, record.pts_ms, record.detections);
            (frame, tracked)
        }));
    })
}

/// Refuses a model that does not detect boxes, saying why boxes are needed.
fn require_detector<D: FramePredictor + ?Sized>(detector: &D, why: &str) -> Result<()> {
    let task = detector.task();
    if task != TaskKind::Detection {
        return Err(Error::config(format!("{why}, and this model's task is {task}: use a detection model")));
    }
    Ok(())
}
