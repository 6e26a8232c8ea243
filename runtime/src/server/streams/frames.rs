//! A stream's frame loop, on a thread of its own: open the source (again and again for a
//! stream of the config, until it answers), run every frame through the model and the
//! tracker, and hand each record to the stream.

use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use tokio::sync::oneshot;

use crate::{
    server::{stream_registry::Stream, AppState, FrameLane},
    streams_config::StreamSpec,
    tracking::Tracker,
    video::{self, LiveOptions, Source, SourceReader, StreamRunOptions, StreamSummary, VideoOptions},
    Result,
};

/// How the thread tells `POST /streams` that the source opened, or why it did not.
pub(super) type Opened = oneshot::Sender<std::result::Result<(), String>>;

/// Starts `stream`'s thread, its frames run on the server's workers through `lane` (held
/// for the stream's life). With `opened`, a source that does not open ends the stream and
/// says why there; without (a stream of the config), it is tried again with a backoff until
/// it opens or the stream is stopped.
pub(super) fn start(
    state: AppState,
    stream: Arc<Stream>,
    spec: StreamSpec,
    lane: FrameLane,
    opened: Option<Opened>,
) -> std::io::Result<()> {
    std::thread::Builder::new().name(format!("inferx-stream-{}", stream.id)).spawn(move || {
        let mut opened = opened;
        let Some(reader) = open(&state, &stream, &spec, &mut opened) else { return };
        stream.running();
        if let Some(opened) = opened.take() {
            let _ = opened.send(Ok(()));
        }
        let counters = match &reader {
            SourceReader::Live(reader) => Some(reader.counters()),
            SourceReader::File(_) => None,
        };
        let tracking = spec.tracked().then(|| spec.tracking(Some(state.tracking())));
        // A tracked stream's frames keep the weak boxes ByteTrack's second association uses.
        let lane = match &tracking {
            Some(tracking) => lane.for_tracking(tracking),
            None => lane,
        };
        let mut tracker = tracking.map(Tracker::new);
        let outcome = run_frames(&lane, reader, tracker.as_mut(), &stream, |line| {
            stream.frame(line, counters.as_ref().map(video::LiveCounters::stats), state.metrics());
        });
        stream.finish(outcome, state.metrics());
    })?;
    Ok(())
}

/// The source opened, or `None` when the stream ended first (stopped, or failed to open
/// with someone waiting to be told).
fn open(state: &AppState, stream: &Stream, spec: &StreamSpec, opened: &mut Option<Opened>) -> Option<SourceReader> {
    let config = &state.config().streams;
    let timeout = Duration::from_millis(config.connect_timeout_ms);
    let options =
        LiveOptions { max_fps: spec.max_fps, watchdog: timeout, give_up_after: None, ..LiveOptions::default() };
    let mut delay = Duration::from_millis(500);
    loop {
        match SourceReader::open(&Source::parse(&spec.source), VideoOptions::default(), options.clone()) {
            Ok(reader) => return Some(reader),
            Err(error) => {
                let reason = error.to_string();
                if let Some(opened) = opened.take() {
                    stream.failed_to_open(&reason, state.metrics());
                    let _ = opened.send(Err(reason));
                    return None;
                }
                tracing::warn!(stream = %stream.id, reason = %reason, "the stream's source did not open; trying again");
                stream.waiting(&reason);
            }
        }
        // Short sleeps, so that a stop is seen at once.
        let until = std::time::Instant::now() + delay;
        while std::time::Instant::now() < until {
            if stream.stop.load(Ordering::Relaxed) {
                stream.finish(Ok(StreamSummary::default()), state.metrics());
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        delay = (delay * 2).min(Duration::from_secs(10));
    }
}

/// Runs `reader`'s frames through the server's model (and `tracker`) until the stream is
/// stopped or its source is lost for good; `each` gets every frame's record, the JSON line of
/// `inferx run --json`.
///
/// The frames run on the server's shared workers through the stream's `lane`, one in flight
/// at a time, in one line with the requests (see `Runner::frame_lane` for how they share):
/// the freshest-frame policy of the source then drops the frames that arrive meanwhile.
fn run_frames(
    lane: &FrameLane,
    reader: SourceReader,
    tracker: Option<&mut Tracker>,
    stream: &Stream,
    mut each: impl FnMut(&str),
) -> Result<StreamSummary> {
    let options = StreamRunOptions { json: true, save: None, duration: None, stop: Some(stream.stop.clone()) };
    video::run_stream(lane, reader, tracker, &options, |line| {
        each(line);
        Ok(())
    })
}
