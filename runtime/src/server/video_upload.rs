//! `POST /predict/video` (features `server` and `video`): an uploaded clip, detected (and
//! tracked with `?track=true`) frame by frame on the server's workers through a frame lane.
//!
//! The answer is the clip's JSON Lines (`application/x-ndjson`, one record per frame as
//! `inferx run --json` prints them, streamed as they come), or with `Accept: video/mp4` the
//! annotated H.264 MP4. The clip is read from memory with the allowed demuxers only and no
//! protocol ([`VideoReader::from_memory`]): nothing is written to disk but the annotated MP4,
//! in a private temporary folder removed after the answer.
//!
//! Nothing is answered before the clip's header and first frame are read, so a clip refused
//! there gets its status (413, 415, 422) and the JSON error body. A clip that fails after
//! some frames (damaged midway, longer than its header said) ends its JSON Lines with one
//! error line, `{"error": {"status": 422, "code": ..., "message": ...}}`, and its MP4 answer
//! is the error alone.

use std::sync::{
    atomic::{AtomicBool, Ordering},
    Arc, Mutex, PoisonError, Weak,
};

use axum::{
    body::{Body, Bytes},
    extract::{DefaultBodyLimit, FromRequest, Multipart, Query, Request, State},
    http::{header, HeaderMap, HeaderValue},
    response::{IntoResponse, Response},
    routing::post,
    Router,
};
use serde::Deserialize;
use tokio::sync::{mpsc, oneshot};

use super::{body_limit, input, ApiError, AppState, FrameLane, FrameLoop};
use crate::{
    config::ServerConfig,
    tracking::Tracker,
    video::{self, ClipLimits, SourceReader, StreamRunOptions, VideoOptions, VideoReader},
    ClipProblem, Error, TaskKind,
};

/// The route, whose body limit is `server.video.max_upload_bytes` rather than
/// `server.max_body_bytes`.
const ROUTE: &str = body_limit::VIDEO_ROUTE;

/// Records (or the error line) that may wait for a slow client before the frame loop waits.
const LINES_BUFFERED: usize = 16;

/// The route with its own body limit.
pub(crate) fn routes(config: &ServerConfig) -> Router<AppState> {
    Router::new().route(ROUTE, post(predict_video).layer(DefaultBodyLimit::max(config.video.max_upload_bytes)))
}

/// `?track=true`: follow the objects with the project's `tracking:` settings.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct VideoQuery {
    #[serde(default)]
    track: bool,
}

/// What the client asked for back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Answer {
    JsonLines,
    Mp4,
}

impl Answer {
    fn of(headers: &HeaderMap) -> Answer {
        let accept = headers.get(header::ACCEPT).and_then(|value| value.to_str().ok()).unwrap_or_default();
        let wants_mp4 =
            accept.split(',').any(|kind| kind.split(';').next().is_some_and(|kind| kind.trim() == "video/mp4"));
        if wants_mp4 {
            Answer::Mp4
        } else {
            Answer::JsonLines
        }
    }
}

/// The stop flags of the clips in progress, so that shutdown stops them as it stops the
/// streams (when the server stops accepting), rather than letting a long clip outlast the
/// grace period: a stopped clip's JSON Lines end with a 503 error line, its MP4 is a 503.
#[derive(Default)]
pub(crate) struct ClipStops {
    running: Mutex<Vec<Weak<AtomicBool>>>,
    stopping: AtomicBool,
}

impl ClipStops {
    /// A stop flag for a new clip; already set when the server is stopping.
    fn register(&self) -> Arc<AtomicBool> {
        let stop = Arc::new(AtomicBool::new(self.stopping.load(Ordering::SeqCst)));
        let mut running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.retain(|clip| clip.strong_count() > 0);
        running.push(Arc::downgrade(&stop));
        stop
    }

    /// Stops every clip in progress, and any that starts after.
    pub(crate) fn stop_all(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let running = self.running.lock().unwrap_or_else(PoisonError::into_inner);
        running.iter().filter_map(Weak::upgrade).for_each(|stop| stop.store(true, Ordering::SeqCst));
    }

    /// The error that ends a clip the shutdown stopped after `frames` frames, if it did.
    fn shutdown_error(&self, frames: u64) -> Option<ApiError> {
        self.stopping.load(Ordering::SeqCst).then(|| {
            ApiError::overloaded(format!(
                "the server is shutting down: the clip was stopped after {frames} frames; send it again"
            ))
        })
    }
}

/// What the frame loop tells the request: a record, then the end, or an error.
enum Event {
    Line(String),
    Failed(ApiError),
}

async fn predict_video(
    State(state): State<AppState>,
    query: Result<Query<VideoQuery>, axum::extract::rejection::QueryRejection>,
    request: Request,
) -> Result<Response, ApiError> {
    let Query(query) =
        query.map_err(|_| ApiError::bad_request("the only query parameter is `track` (true or false)"))?;
    let task = state.pipeline().task();
    if task != TaskKind::Detection {
        return Err(ApiError::not_supported(format!(
            "{ROUTE} detects objects frame by frame, and this model's task is {task}: serve a detection model"
        )));
    }
    let answer = Answer::of(request.headers());
    // A place first, so that a refused clip is not read at all.
    let lane = state.frame_lane(FrameLoop::Upload).ok_or_else(|| {
        ApiError::overloaded(format!(
            "{} clips are being processed (server.video.max_uploads); retry shortly",
            state.config().video.max_uploads
        ))
    })?;
    let clip = read_clip(request, &state).await?;
    // A tracked clip's frames keep the weak boxes ByteTrack's second association uses, as
    // `inferx run --track` does.
    let (lane, tracker) = match query.track {
        true => (lane.for_tracking(state.tracking()), Some(Tracker::new(state.tracking().clone()))),
        false => (lane, None),
    };
    let limits = ClipLimits {
        max_duration: std::time::Duration::from_secs_f64(state.config().video.max_duration_s),
        max_dimension: state.pipeline().limits().max_dimension,
    };
    let run = ClipRun { clip, lane, tracker, limits, stop: state.clips().register(), state: state.clone() };
    match answer {
        Answer::JsonLines => json_lines(run).await,
        Answer::Mp4 => annotated_mp4(run).await,
    }
}

const ACCEPTED: &str =
    "send the clip as the body (Content-Type video/mp4, video/quicktime, video/x-matroska, video/webm, \
                        video/x-msvideo or application/octet-stream) or as the `file` field of multipart/form-data";

/// The clip from a raw body or the first file of a multipart body, within
/// `server.video.max_upload_bytes` (the route's body limit).
async fn read_clip(request: Request, state: &AppState) -> Result<Bytes, ApiError> {
    let media_type = input::media_type(&request);
    let clip = if media_type == "multipart/form-data" {
        let mut multipart = Multipart::from_request(request, state)
            .await
            .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
        let multipart_error = |error: axum::extract::multipart::MultipartError| {
            let detail = format!("malformed multipart body: {}", error.body_text());
            input::unreadable_body(state, ROUTE, error.status(), &error, detail)
        };
        let mut clip = None;
        while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
            if clip.is_none() && (field.name() == Some("file") || field.file_name().is_some()) {
                clip = Some(field.bytes().await.map_err(multipart_error)?);
            }
        }
        clip.ok_or_else(|| ApiError::bad_request(format!("the multipart body has no `file` field; {ACCEPTED}")))?
    } else if media_type.starts_with("video/") || media_type == "application/octet-stream" || media_type.is_empty() {
        Bytes::from_request(request, state).await.map_err(|rejection| {
            input::unreadable_body(state, ROUTE, rejection.status(), &rejection, rejection.body_text())
        })?
    } else {
        return Err(ApiError::unsupported(format!("the Content-Type `{media_type}` is not a video; {ACCEPTED}")));
    };
    if clip.is_empty() {
        return Err(ApiError::bad_request(format!("the clip is empty; {ACCEPTED}")));
    }
    Ok(clip)
}

/// The answer to an error of the clip: its status, and the setting or the fix.
fn clip_refusal(error: Error) -> ApiError {
    match error {
        Error::Clip { reason, problem } => {
            let message = format!("the clip could not be used: {reason}");
            match problem {
                ClipProblem::Unsupported => ApiError::unsupported(message),
                ClipProblem::TooLarge => ApiError::too_large(format!("{message} (limits.max_dimension)")),
                ClipProblem::TooLong => {
                    ApiError::unprocessable_video(format!("{message} (server.video.max_duration_s)"))
                }
                ClipProblem::Undecodable => ApiError::unprocessable_video(message),
            }
        }
        Error::Image { .. } => ApiError::from(error),
        other => ApiError::internal(format!("a clip's frame loop failed: {other}")),
    }
}

/// Runs the frame loop on a thread of its own (the lane blocks it while a worker predicts):
/// `each` gets each frame's JSON line; the summary's error, if any, comes back as the error.
fn run_clip(
    clip: Bytes,
    lane: FrameLane,
    mut tracker: Option<Tracker>,
    limits: ClipLimits,
    save: Option<std::path::PathBuf>,
    stop: Arc<AtomicBool>,
    each: impl FnMut(&str) -> std::io::Result<()> + Send + 'static,
) -> oneshot::Receiver<Result<video::StreamSummary, ApiError>> {
    let (done, finished) = oneshot::channel();
    let run = move || {
        // One decoding thread: the server's cores are for the workers.
        let options = VideoOptions { decoder_threads: 1, ..VideoOptions::default() };
        let reader = VideoReader::from_memory(clip, options, limits).map_err(clip_refusal)?;
        let run_options = StreamRunOptions { json: true, save, duration: None, stop: Some(stop) };
        let summary = video::run_stream(&lane, SourceReader::File(reader), tracker.as_mut(), &run_options, each)
            .map_err(clip_refusal)?;
        Ok(summary)
    };
    let spawned = std::thread::Builder::new().name("inferx-clip".into()).spawn(move || {
        let _ = done.send(run());
    });
    if let Err(error) = spawned {
        tracing::error!(%error, "could not start a clip's frame loop");
    }
    finished
}

/// A clip to run, with what it runs on.
struct ClipRun {
    clip: Bytes,
    lane: FrameLane,
    tracker: Option<Tracker>,
    limits: ClipLimits,
    /// Set when the client goes or the server stops ([`ClipStops`]).
    stop: Arc<AtomicBool>,
    state: AppState,
}

/// The JSON Lines answer: headers once the first record (or the refusal) is known, then each
/// record as it comes, and an error line if the clip fails midway or the server stops it.
async fn json_lines(run: ClipRun) -> Result<Response, ApiError> {
    let ClipRun { clip, lane, tracker, limits, stop, state } = run;
    let (lines, mut receiver) = mpsc::channel::<Event>(LINES_BUFFERED);
    let sender = lines.clone();
    // A client gone closes the channel: the next record fails to send and the loop stops.
    let each = move |line: &str| {
        sender
            .blocking_send(Event::Line(format!("{line}\n")))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the client has gone"))
    };
    let finished = run_clip(clip, lane, tracker, limits, None, stop.clone(), each);
    // The loop's end (or failure) follows its records into the channel.
    tokio::spawn(async move {
        let failure = match finished.await {
            Ok(Ok(summary)) if summary.stopped_early => state.clips().shutdown_error(summary.frames),
            Ok(Ok(summary)) => summary.error.map(clip_refusal),
            Ok(Err(error)) => Some(error),
            Err(_) => Some(ApiError::internal("a clip's frame loop ended without an answer")),
        };
        if let Some(error) = failure {
            let _ = lines.send(Event::Failed(error)).await;
        }
    });
    let first = match receiver.recv().await {
        Some(Event::Line(line)) => line,
        Some(Event::Failed(error)) => return Err(error),
        None => return Err(ApiError::unprocessable_video("the clip has no frames")),
    };
    let request_id = super::error::current_request_id().unwrap_or_default();
    let body = Body::from_stream(records(first, receiver, StopOnDrop(stop), request_id));
    Ok(([(header::CONTENT_TYPE, HeaderValue::from_static("application/x-ndjson"))], body).into_response())
}

/// The annotated MP4 answer, once the whole clip has run.
async fn annotated_mp4(run: ClipRun) -> Result<Response, ApiError> {
    let ClipRun { clip, lane, tracker, limits, stop, state } = run;
    let folder = tempfile::Builder::new()
        .prefix("inferx-clip-")
        .tempdir()
        .map_err(|error| ApiError::internal(format!("could not make a folder for the annotated clip: {error}")))?;
    let path = folder.path().join("annotated.mp4");
    // Stops the loop if the client goes before the answer (this future is then dropped).
    let _stop_on_drop = StopOnDrop(stop.clone());
    let finished = run_clip(clip, lane, tracker, limits, Some(path.clone()), stop, |_| Ok(()));
    let summary = finished.await.map_err(|_| ApiError::internal("a clip's frame loop ended without an answer"))??;
    if let Some(error) = summary.error {
        return Err(clip_refusal(error));
    }
    if let Some(error) = summary.stopped_early.then(|| state.clips().shutdown_error(summary.frames)).flatten() {
        return Err(error);
    }
    if summary.frames == 0 {
        return Err(ApiError::unprocessable_video("the clip has no frames"));
    }
    let mp4 = tokio::task::spawn_blocking(move || std::fs::read(path))
        .await
        .map_err(|error| ApiError::internal(format!("could not read the annotated clip back: {error}")))?
        .map_err(|error| ApiError::internal(format!("could not read the annotated clip back: {error}")))?;
    drop(folder);
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("video/mp4")),
            (header::HeaderName::from_static("x-inferx-frames"), HeaderValue::from(summary.frames)),
        ],
        mp4,
    )
        .into_response())
}

/// The answer's body: `first`, then each record and the error line, if any. Dropped when the
/// client goes, and then it stops the loop.
fn records(
    first: String,
    receiver: mpsc::Receiver<Event>,
    stop: StopOnDrop,
    request_id: String,
) -> impl futures_util::Stream<Item = Result<Bytes, std::convert::Infallible>> + Send {
    let start = futures_util::stream::once(async move { Ok(Bytes::from(first)) });
    let rest = futures_util::stream::unfold((receiver, stop), move |(mut receiver, stop)| {
        let request_id = request_id.clone();
        async move {
            let chunk = match receiver.recv().await? {
                Event::Line(line) => Bytes::from(line),
                Event::Failed(error) => Bytes::from(error_line(error, request_id)),
            };
            Some((Ok(chunk), (receiver, stop)))
        }
    });
    futures_util::StreamExt::chain(start, rest)
}

/// The last line of a clip that failed after some frames: the JSON error body, its cause
/// logged with the request's id as for any error (the body is sent after the handler's scope).
fn error_line(error: ApiError, request_id: String) -> String {
    let error = super::error::REQUEST_ID_SCOPE.sync_scope(request_id, || error.disclosed());
    let body = serde_json::json!({ "error": error.detail() });
    format!("{body}\n")
}

/// Sets its flag when dropped.
struct StopOnDrop(Arc<AtomicBool>);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        self.0.store(true, Ordering::Relaxed);
    }
}
