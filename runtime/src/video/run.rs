//! The frame loop every stream runs through, whoever calls it (`inferx run` on a video or a
//! camera, a generated project's `predict`): read a frame, detect (and track), print its record,
//! draw it into the annotated video, and add it to the [`StreamSummary`].

use std::{
    collections::{BTreeMap, BTreeSet},
    fmt,
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    time::{Duration, Instant},
};

use crate::{
    annotate::StreamOverlay,
    inputs::StreamFrame,
    pipeline::FramePredictor,
    results::Detection,
    sequence,
    tracking::{Counts, Tracker},
    Error, Result,
};

use super::{LiveOptions, LiveReader, LiveStats, Source, VideoInfo, VideoOptions, VideoReader, VideoWriter};

/// What [`run_stream`] does besides detecting.
#[derive(Debug, Clone, Default)]
pub struct StreamRunOptions {
    /// Each frame's record as a JSON line (else one line of text).
    pub json: bool,
    /// Write the annotated frames as an H.264 MP4 to this file (see [`annotated_video_path`]).
    pub save: Option<PathBuf>,
    /// Stop after this long (a live source never ends by itself).
    pub duration: Option<Duration>,
    /// Stop when this turns true (Ctrl-C): the frame in hand is finished, the summary kept.
    pub stop: Option<Arc<AtomicBool>>,
}

/// What a run saw: frames, detections or tracks by label, the last counts, and, of a live
/// source, the frames it dropped, its reconnects and the lag from arrival to result.
/// Displays as the one-line summary: `50 frames in 2.0 s (25.0 frames/s) · detections: person 48`.
#[derive(Debug, Default)]
pub struct StreamSummary {
    /// Frames detected.
    pub frames: u64,
    /// Seconds from the first frame asked for to the last result.
    pub seconds: f64,
    /// Detections by label (every frame's, summed).
    pub detections: BTreeMap<String, u64>,
    /// Of a tracked run: the track ids seen, by label.
    pub tracks_by_label: Option<BTreeMap<String, BTreeSet<u64>>>,
    /// Of a tracked run: the tracks confirmed.
    pub tracks: Option<u64>,
    /// The line and zone counts after the last frame.
    pub counts: Counts,
    /// Of a live source: frames received, dropped (a newer one arrived before the model was
    /// free), skipped (`max_fps`), and reconnects.
    pub live: Option<LiveStats>,
    /// Of a live source: each frame's lag (arrival to result), ms, in frame order.
    pub lags_ms: Vec<f64>,
    /// Each frame's own processing time (detector and tracker), ms, in frame order: the part of
    /// the lag the model accounts for; the rest is the wait for the model to be free.
    pub model_ms: Vec<f64>,
    /// The annotated video written, if any.
    pub saved: Option<PathBuf>,
    /// Whether the run ended on `stop` or `duration` rather than at the end of the stream.
    pub stopped_early: bool,
    /// The error that ended the stream after the frames counted here (a damaged file, a camera
    /// that did not come back): those frames were good and their records printed.
    pub error: Option<Error>,
}

impl StreamSummary {
    /// A percentile (0-100) of the lags, ms; `None` without any.
    pub fn lag_percentile_ms(&self, percentile: f64) -> Option<f64> {
        percentile_of(&self.lags_ms, percentile)
    }

    /// A percentile (0-100) of the frames' own processing times, ms; `None` without any.
    pub fn model_percentile_ms(&self, percentile: f64) -> Option<f64> {
        percentile_of(&self.model_ms, percentile)
    }
}

impl fmt::Display for StreamSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (frames, seconds) = (self.frames, self.seconds);
        write!(f, "{frames} frames in {seconds:.1} s ({:.1} frames/s)", frames as f64 / seconds.max(1e-9))?;
        let (what, by_label): (_, Vec<String>) = match &self.tracks_by_label {
            Some(tracks) => {
                ("tracks by label", tracks.iter().map(|(label, ids)| format!("{label} {}", ids.len())).collect())
            }
            None => ("detections", self.detections.iter().map(|(label, count)| format!("{label} {count}")).collect()),
        };
        let listed = if by_label.is_empty() { "none".to_string() } else { by_label.join(", ") };
        write!(f, " · {what}: {listed}")?;
        if let Some(tracks) = self.tracks {
            write!(f, " · {tracks} tracks")?;
        }
        if !self.counts.is_empty() {
            write!(f, " · counts: {}", serde_json::to_string(&self.counts).unwrap_or_default())?;
        }
        if let Some(live) = &self.live {
            write!(f, " · {} dropped", live.dropped)?;
            if live.skipped > 0 {
                write!(f, " · {} skipped (max fps)", live.skipped)?;
            }
            write!(f, " · {} reconnects", live.reconnects)?;
        }
        if let (Some(median), Some(worst)) = (self.lag_percentile_ms(50.0), self.lag_percentile_ms(100.0)) {
            write!(f, " · lag {median:.0} ms median, {worst:.0} ms max")?;
            if let Some(model) = self.model_percentile_ms(50.0) {
                write!(f, " (model and tracker {model:.0} ms)")?;
            }
        }
        Ok(())
    }
}

/// The `percentile` (0-100) of `values` (nearest rank); `None` when empty.
fn percentile_of(values: &[f64], percentile: f64) -> Option<f64> {
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let last = sorted.len().checked_sub(1)?;
    Some(sorted[((percentile.clamp(0.0, 100.0) / 100.0) * last as f64).round() as usize])
}

/// Where `--save DIR` writes the annotated video of `source`: `DIR/<name>.mp4` (see
/// [`Source::name`]), refused when that is the input itself. Creates `DIR`.
pub fn annotated_video_path(dir: &Path, source: &Source) -> Result<PathBuf> {
    std::fs::create_dir_all(dir).map_err(|error| Error::io("could not create", dir, error))?;
    let path = dir.join(format!("{}.mp4", source.name()));
    if let Source::File(video) = source {
        if path.canonicalize().is_ok_and(|path| video.canonicalize().is_ok_and(|video| video == path)) {
            return Err(Error::config(format!(
                "--save would overwrite the input `{}`: choose another folder",
                video.display()
            )));
        }
    }
    Ok(path)
}

/// The frames of a [`Source`]: a video file's, all of them in order, or a live source's,
/// freshest first. One type, so that every caller runs files and cameras alike.
pub enum SourceReader {
    /// A video file.
    File(VideoReader),
    /// A network stream or a camera.
    Live(LiveReader),
}

impl SourceReader {
    /// Opens `source`: a file with `video`, a stream or a camera with `live`.
    pub fn open(source: &Source, video: VideoOptions, live: LiveOptions) -> Result<SourceReader> {
        match source {
            Source::File(path) => Ok(SourceReader::File(VideoReader::open(path, video)?)),
            live_source => Ok(SourceReader::Live(LiveReader::open(live_source, live)?)),
        }
    }

    /// A file's header, `None` for a live source.
    pub fn info(&self) -> Option<&VideoInfo> {
        match self {
            SourceReader::File(reader) => Some(reader.info()),
            SourceReader::Live(_) => None,
        }
    }

    /// The live source's counters, `None` for a file.
    pub fn live_stats(&self) -> Option<LiveStats> {
        match self {
            SourceReader::File(_) => None,
            SourceReader::Live(reader) => Some(reader.stats()),
        }
    }

    /// One line on what is read: `640x360 h264 · 25.00 frames/s`, or
    /// `rtsp://***@cam/live · live, frames at 640x360`.
    pub fn describe(&self) -> String {
        match self {
            SourceReader::File(reader) => {
                let info = reader.info();
                let rate = info
                    .frame_rate
                    .map_or_else(|| "variable frame rate".to_string(), |rate| format!("{rate:.2} frames/s"));
                format!("{}x{} {} · {rate}", info.width, info.height, info.codec)
            }
            SourceReader::Live(reader) => {
                let (width, height) = reader.size();
                format!("{} · live, frames at {width}x{height}", reader.source_name())
            }
        }
    }
}

impl Iterator for SourceReader {
    type Item = Result<StreamFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        match self {
            SourceReader::File(reader) => reader.next(),
            SourceReader::Live(reader) => reader.next(),
        }
    }
}

/// Runs `source`'s frames through `detector` (and `tracker`), in order (a
/// [`Pipeline`](crate::Pipeline), or a server's workers: see [`FramePredictor`]): each frame's record
/// goes to `line` (JSON or text, see [`StreamRunOptions::json`]), its annotated picture into
/// the saved video, its detections into the summary. Fails before any frame when the model does not detect boxes, and when
/// `line` or the video writer fails; an error of the stream itself ends the run with the
/// summary holding it ([`StreamSummary::error`]).
pub fn run_stream<D: FramePredictor + ?Sized>(
    detector: &D,
    mut source: SourceReader,
    mut tracker: Option<&mut Tracker>,
    options: &StreamRunOptions,
    mut line: impl FnMut(&str) -> std::io::Result<()>,
) -> Result<StreamSummary> {
    let started = Instant::now();
    let mut summary =
        StreamSummary { tracks_by_label: tracker.is_some().then(BTreeMap::new), ..StreamSummary::default() };
    let frame_rate = source.info().and_then(|info| info.frame_rate);
    let mut annotated = options.save.clone().map(|path| AnnotatedVideo::new(path, frame_rate));
    // Frames are asked for only while neither the deadline nor Ctrl-C has come.
    let stop = options.stop.clone();
    let deadline = options.duration.map(|duration| started + duration);
    let mut stopped_early = false;
    if let SourceReader::Live(reader) = &mut source {
        reader.stop_on(stop.clone(), deadline);
    }
    // When the frame in hand was taken: its processing time ends at its record.
    let taken_at = std::cell::Cell::new(Instant::now());
    let frames = source.by_ref().take_while(|_| {
        taken_at.set(Instant::now());
        let stop_now = stop.as_ref().is_some_and(|stop| stop.load(Ordering::Relaxed))
            || deadline.is_some_and(|deadline| Instant::now() >= deadline);
        stopped_early |= stop_now;
        !stop_now
    });
    let mut stopped: Result<()> = Ok(());
    let mut each =
        |frame: StreamFrame, line_text: String, detections: Vec<(Option<u64>, &Detection)>, counts: &Counts| {
            if let Some(lag) = lag_ms(&frame) {
                summary.lags_ms.push(lag);
                summary.model_ms.push(taken_at.get().elapsed().as_secs_f64() * 1000.0);
            }
            line(&line_text).map_err(|error| Error::io("could not write a frame's record to", "stdout", error))?;
            for (track_id, detection) in &detections {
                *summary.detections.entry(detection.label.clone()).or_default() += 1;
                if let (Some(track_id), Some(tracks)) = (track_id, &mut summary.tracks_by_label) {
                    tracks.entry(detection.label.clone()).or_default().insert(*track_id);
                }
            }
            summary.counts = counts.clone();
            match &mut annotated {
                Some(annotated) => annotated.write(&frame, detections, counts),
                None => Ok(()),
            }
        };
    let mut failure = None;
    let detected = match tracker.as_deref_mut() {
        Some(tracker) => sequence::track_stream(detector, frames, tracker, |result| match result {
            Ok((frame, mut record)) if stopped.is_ok() => {
                record.lag_ms = lag_ms(&frame);
                let text = if options.json { record.json_line() } else { record.to_string() };
                let detections = record.detections.iter().map(|tracked| (Some(tracked.track_id), &tracked.detection));
                stopped = each(frame, text, detections.collect(), &record.counts);
            }
            Ok(_) => {}
            Err(error) => failure = Some(error),
        })?,
        None => sequence::detect_stream(detector, frames, |result| match result {
            Ok((frame, mut record)) if stopped.is_ok() => {
                record.lag_ms = lag_ms(&frame);
                let text = if options.json { record.json_line() } else { record.to_string() };
                let detections = record.detections.iter().map(|detection| (None, detection));
                stopped = each(frame, text, detections.collect(), &record.counts);
            }
            Ok(_) => {}
            Err(error) => failure = Some(error),
        })?,
    };
    stopped?;
    summary.frames = detected;
    summary.seconds = started.elapsed().as_secs_f64();
    summary.tracks = tracker.map(|tracker| tracker.tracks_confirmed());
    // A live source ends only when stopped (Ctrl-C, the duration) or when it is lost for good.
    summary.stopped_early = stopped_early || (source.live_stats().is_some() && failure.is_none());
    summary.live = source.live_stats();
    summary.error = failure;
    summary.saved = annotated.map(AnnotatedVideo::finish).transpose()?.flatten();
    Ok(summary)
}

/// How long ago a live source's frame arrived, ms: its lag once its result is ready.
fn lag_ms(frame: &StreamFrame) -> Option<f64> {
    frame.arrival.map(|arrival| arrival.elapsed().as_secs_f64() * 1000.0)
}

/// `--save`: the frames with boxes, labels, track ids, short trails and counts drawn, as an
/// H.264 MP4.
struct AnnotatedVideo {
    path: PathBuf,
    frame_rate: Option<f64>,
    /// Opened on the first frame: the decoded frame's size is the video's.
    writer: Option<VideoWriter>,
    overlay: StreamOverlay,
}

impl AnnotatedVideo {
    fn new(path: PathBuf, frame_rate: Option<f64>) -> AnnotatedVideo {
        AnnotatedVideo { path, frame_rate, writer: None, overlay: StreamOverlay::new() }
    }

    fn write(
        &mut self,
        frame: &StreamFrame,
        detections: Vec<(Option<u64>, &Detection)>,
        counts: &Counts,
    ) -> Result<()> {
        let writer = match &mut self.writer {
            Some(writer) => writer,
            None => self.writer.insert(VideoWriter::create(
                &self.path,
                frame.image.width(),
                frame.image.height(),
                self.frame_rate,
            )?),
        };
        let canvas = self.overlay.draw(&frame.image, frame.frame, detections, counts);
        writer.write(&canvas, frame.pts_ms)
    }

    fn finish(self) -> Result<Option<PathBuf>> {
        self.writer.map(VideoWriter::finish).transpose()
    }
}

/// A flag that turns true on Ctrl-C (SIGINT) or SIGTERM, for [`StreamRunOptions::stop`]: the
/// run ends after the frame in hand, the annotated video is finished and the summary printed.
/// A second Ctrl-C ends the process at once.
pub fn stop_on_signals() -> Result<Arc<AtomicBool>> {
    let stop = Arc::new(AtomicBool::new(false));
    #[cfg(unix)]
    {
        use signal_hook::{
            consts::{SIGINT, SIGTERM},
            flag,
        };
        let watch = |signal| {
            // The first signal sets `stop`; with `stop` already set, the next one exits.
            flag::register_conditional_shutdown(signal, 130, Arc::clone(&stop))
                .and_then(|_| flag::register(signal, Arc::clone(&stop)))
                .map(|_| ())
                .map_err(|error| Error::Inference(format!("could not watch for Ctrl-C: {error}")))
        };
        watch(SIGINT)?;
        watch(SIGTERM)?;
    }
    Ok(stop)
}
