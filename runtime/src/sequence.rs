//! Image sequences as one stream: numbered frames run in order through the detector and a
//! [`Tracker`], one [`TrackedFrame`] per frame. The first source of tracking; video files and
//! live streams give the tracker their decoded frames the same way and print the same record.

use std::path::PathBuf;

use crate::{
    image::DynamicImage,
    pool::PipelinePool,
    tracking::{frame_pts_ms, TrackedFrame, Tracker},
    Error, Result, TaskKind,
};

/// Runs `frames`, in the order given, through `pool`'s detector and `tracker`. `each` gets,
/// in frame order, the frame's index and its decoded image and record, or the error that
/// stopped that frame (the tracker then skips it: its tracks age by one frame). `pts_ms` is
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
