//! Live sources: RTSP and HTTP streams and V4L2 cameras, read so that the model always works
//! on the freshest frame.
//!
//! A camera does not wait for the model. [`LiveReader`] decodes on its own thread as fast as
//! frames arrive and keeps only the newest one in a one-slot buffer: a frame the caller had no
//! time for is replaced, and counted ([`LiveStats::dropped`]), so the lag stays one model run
//! however long the run lasts (buffering every frame is how a viewer falls minutes behind).
//!
//! - **Fixed size**: every frame has the size of the first connection's frames (or the size
//!   asked for), stretched if the camera changes resolution after a reconnect, so the model,
//!   the tracker and the saved video never see a size change.
//! - **Watchdog and reconnect**: no packet for [`LiveOptions::watchdog`] (or the stream ends, or
//!   fails) closes the connection and reopens it after a backoff with jitter (0.5 s doubling up
//!   to 10 s), for ever unless [`LiveOptions::give_up_after`] says otherwise. Frame numbers and
//!   times go on across reconnects, so a tracker keeps its tracks over a short outage. Each
//!   reconnect is logged (`warn`) and counted.
//! - **Time**: `pts_ms` is the arrival clock, ms since the source was opened (a camera's own
//!   timestamps restart with each reconnect), and each frame carries its arrival instant, from
//!   which [`run_stream`](super::run_stream) measures `lag_ms`.
//! - **Credentials**: `rtsp://user:pass@host/...` is shown as `rtsp://***@host/...` in every log
//!   line and error ([`redact`](crate::inputs::redact)).
//!
//! RTSP is read over TCP unless [`LiveOptions::transport`] says UDP, with Frigate's options
//! (`timeout`, `use_wallclock_as_timestamps`, `fflags +genpts+discardcorrupt`).

use std::{
    path::{Path, PathBuf},
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Condvar, Mutex,
    },
    thread::JoinHandle,
    time::{Duration, Instant},
};

use ffmpeg::{
    format, frame,
    util::error::{ECONNREFUSED, EHOSTUNREACH, ETIMEDOUT},
    Dictionary,
};
use ffmpeg_next as ffmpeg;
use image::DynamicImage;

use super::{convert_to_rgb, ffmpeg_reason, init, OpenVideo, Scaler};
use crate::{
    inputs::{redact, StreamFrame},
    Error, Result,
};

/// Where a stream's frames come from: a video file, a network stream or a local camera.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A video file.
    File(PathBuf),
    /// An `rtsp://`, `rtsps://`, `http://` or `https://` stream (the URL as given, credentials
    /// included: show it with [`Source::display_name`]).
    Url(String),
    /// A V4L2 camera, `/dev/videoN`.
    Camera(PathBuf),
}

impl Source {
    /// What a command-line input names: a URL with a streaming scheme, a `/dev/video*` device,
    /// or else a file.
    pub fn parse(input: &str) -> Source {
        if !crate::inputs::is_live_input(Path::new(input)) {
            Source::File(PathBuf::from(input))
        } else if input.starts_with("/dev/video") {
            Source::Camera(PathBuf::from(input))
        } else {
            Source::Url(input.to_string())
        }
    }

    /// Whether frames arrive in real time (a stream or a camera) rather than from a file.
    pub fn is_live(&self) -> bool {
        !matches!(self, Source::File(_))
    }

    /// The source for logs, errors and summaries, credentials redacted.
    pub fn display_name(&self) -> String {
        match self {
            Source::File(path) | Source::Camera(path) => path.display().to_string(),
            Source::Url(url) => redact(url),
        }
    }

    /// A file-name stem for what is saved from this source: the file's stem, the device's
    /// name (`video0`), or the URL's host and last path segment (`cam.local-stream`).
    pub fn name(&self) -> String {
        let name = match self {
            Source::File(path) | Source::Camera(path) => {
                path.file_stem().map_or_else(|| "video".to_string(), |stem| stem.to_string_lossy().into_owned())
            }
            Source::Url(url) => {
                let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
                let without_query = after_scheme.split(['?', '#']).next().unwrap_or_default();
                let (authority, path) = without_query.split_once('/').unwrap_or((without_query, ""));
                let host = authority.rsplit('@').next().unwrap_or_default();
                let host = host.split(':').next().unwrap_or_default();
                let last = path.rsplit('/').find(|segment| !segment.is_empty()).unwrap_or("stream");
                format!("{host}-{last}")
            }
        };
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.') { c } else { '_' })
            .collect();
        if safe.trim_matches(['.', '_']).is_empty() {
            "stream".to_string()
        } else {
            safe
        }
    }
}

/// RTSP's transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RtspTransport {
    /// Interleaved in the RTSP connection: no packet loss, passes NAT and firewalls (default).
    #[default]
    Tcp,
    /// RTP over UDP: lower latency on a clean network, artefacts when packets are lost.
    Udp,
}

/// How a live source is read.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveOptions {
    /// RTSP's transport (TCP by default).
    pub transport: RtspTransport,
    /// Keep at most this many frames a second (the others are skipped as they arrive, and
    /// counted in [`LiveStats::skipped`]); `None`: as many as the model takes.
    pub max_fps: Option<f64>,
    /// The size of every frame given out, (width, height); `None`: the size of the first
    /// connection's frames.
    pub size: Option<(u32, u32)>,
    /// How long connecting may take, and how long without a packet before the connection is
    /// given up and reopened.
    pub watchdog: Duration,
    /// Stop reconnecting (and end the stream with an error) after this long without a frame;
    /// `None`: keep trying until stopped.
    pub give_up_after: Option<Duration>,
}

impl Default for LiveOptions {
    fn default() -> Self {
        LiveOptions {
            transport: RtspTransport::Tcp,
            max_fps: None,
            size: None,
            watchdog: Duration::from_secs(10),
            give_up_after: None,
        }
    }
}

/// Counters of a live source, read at any time with [`LiveReader::stats`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct LiveStats {
    /// Frames decoded from the source.
    pub received: u64,
    /// Frames replaced by a newer one before the caller took them (the model was busy).
    pub dropped: u64,
    /// Frames skipped on arrival to keep to `max_fps`.
    pub skipped: u64,
    /// Connections reopened after the source failed, ended or went silent.
    pub reconnects: u64,
}

/// A live source's counters, read with [`LiveCounters::stats`] from any thread, for as long
/// as the handle is kept (see [`LiveReader::counters`]).
#[derive(Clone)]
pub struct LiveCounters(Arc<Shared>);

impl LiveCounters {
    /// The counters so far.
    pub fn stats(&self) -> LiveStats {
        self.0.stats()
    }
}

/// What the decoding thread shares with the reader.
struct Shared {
    slot: Mutex<Slot>,
    ready: Condvar,
    /// The reader is gone, or the caller asked to stop: the thread ends at its next check.
    stop: AtomicBool,
    received: AtomicU64,
    dropped: AtomicU64,
    skipped: AtomicU64,
    reconnects: AtomicU64,
    /// The arrival clock's zero.
    opened: Instant,
    /// Ms after `opened` past which a blocking FFmpeg call is interrupted (the watchdog).
    deadline_ms: AtomicU64,
}

#[derive(Default)]
struct Slot {
    frame: Option<StreamFrame>,
    /// The error that ended the stream (the source did not come back).
    ended: Option<Error>,
    finished: bool,
}

impl Shared {
    fn now_ms(&self) -> u64 {
        self.opened.elapsed().as_millis() as u64
    }

    fn arm_watchdog(&self, within: Duration) {
        self.deadline_ms.store(self.now_ms() + within.as_millis() as u64, Ordering::Relaxed);
    }

    /// Puts `frame` in the slot, replacing (and counting) the one the caller did not take.
    fn offer(&self, frame: StreamFrame) {
        let mut slot = self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        if slot.frame.replace(frame).is_some() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
        self.ready.notify_one();
    }

    fn finish(&self, error: Option<Error>) {
        let mut slot = self.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        slot.ended = error;
        slot.finished = true;
        self.ready.notify_one();
    }

    fn stats(&self) -> LiveStats {
        LiveStats {
            received: self.received.load(Ordering::Relaxed),
            dropped: self.dropped.load(Ordering::Relaxed),
            skipped: self.skipped.load(Ordering::Relaxed),
            reconnects: self.reconnects.load(Ordering::Relaxed),
        }
    }
}

/// A live source's frames, freshest first: iterating waits for the next frame newer than the
/// last one given, and ends with the error that stopped the source (it did not come back
/// within [`LiveOptions::give_up_after`]) or when the flag given to [`LiveReader::stop_on`] is set.
pub struct LiveReader {
    shared: Arc<Shared>,
    source_name: String,
    size: (u32, u32),
    thread: Option<JoinHandle<()>>,
    done: bool,
    /// The caller's stop (Ctrl-C) and deadline: waiting for a frame ends on either.
    stop_when: Option<Arc<AtomicBool>>,
    deadline: Option<Instant>,
}

impl LiveReader {
    /// Connects to `source` and starts reading it. Fails here, promptly and naming the source
    /// (credentials redacted), when a camera device is missing, a host cannot be reached or
    /// refuses, or nothing arrives within [`LiveOptions::watchdog`].
    pub fn open(source: &Source, options: LiveOptions) -> Result<LiveReader> {
        let source_name = source.display_name();
        let fail = |reason: String| Error::Live { source_name: source_name.clone(), reason };
        let location = match source {
            Source::File(path) => return Err(fail(format!("`{}` is a file, not a live source", path.display()))),
            Source::Camera(path) => {
                check_camera(path).map_err(fail)?;
                path.display().to_string()
            }
            Source::Url(url) => url.clone(),
        };
        if options.max_fps.is_some_and(|fps| !(fps.is_finite() && fps > 0.0)) {
            return Err(Error::config("max_fps must be a positive number of frames per second"));
        }
        init()?;
        let shared = Arc::new(Shared {
            slot: Mutex::new(Slot::default()),
            ready: Condvar::new(),
            stop: AtomicBool::new(false),
            received: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
            skipped: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            opened: Instant::now(),
            deadline_ms: AtomicU64::new(u64::MAX),
        });
        let connection = Connection::open(&location, source, &options, &shared).map_err(fail)?;
        let size = options.size.unwrap_or(connection.size);
        let thread_shared = Arc::clone(&shared);
        let thread_source = source.clone();
        let thread_name = source_name.clone();
        let thread = std::thread::Builder::new()
            .name("inferx-live".into())
            .spawn(move || {
                read_for_ever(connection, &location, &thread_source, &thread_name, &options, size, &thread_shared);
            })
            .map_err(|error| fail(format!("could not start a thread to decode ({error})")))?;
        Ok(LiveReader { shared, source_name, size, thread: Some(thread), done: false, stop_when: None, deadline: None })
    }

    /// The size every frame is given at, (width, height).
    pub fn size(&self) -> (u32, u32) {
        self.size
    }

    /// The source, credentials redacted.
    pub fn source_name(&self) -> &str {
        &self.source_name
    }

    /// The counters so far.
    pub fn stats(&self) -> LiveStats {
        self.shared.stats()
    }

    /// The counters, readable from another thread while this reader is iterated (a server
    /// shows a stream's drops and reconnects as they happen).
    pub fn counters(&self) -> LiveCounters {
        LiveCounters(Arc::clone(&self.shared))
    }

    /// Ends the frames (iteration gives `None`) when `stop` turns true or at `deadline`, even
    /// while the source is silent or reconnecting.
    pub fn stop_on(&mut self, stop: Option<Arc<AtomicBool>>, deadline: Option<Instant>) {
        self.stop_when = stop;
        self.deadline = deadline;
    }

    fn asked_to_stop(&self) -> bool {
        self.stop_when.as_ref().is_some_and(|stop| stop.load(Ordering::Relaxed))
            || self.deadline.is_some_and(|deadline| Instant::now() >= deadline)
    }
}

impl Iterator for LiveReader {
    type Item = Result<StreamFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        let mut slot = self.shared.slot.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        loop {
            if let Some(frame) = slot.frame.take() {
                return Some(Ok(frame));
            }
            if slot.finished {
                self.done = true;
                return slot.ended.take().map(Err);
            }
            if self.asked_to_stop() {
                self.done = true;
                return None;
            }
            // Short waits, so that Ctrl-C and the deadline are seen while the source is silent.
            slot = self
                .shared
                .ready
                .wait_timeout(slot, Duration::from_millis(100))
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }
}

impl Drop for LiveReader {
    fn drop(&mut self) {
        // The interrupt callback sees `stop` within FFmpeg's blocking calls; the thread ends.
        self.shared.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// A missing or unusable `/dev/videoN` is told at once, with the fix.
fn check_camera(path: &Path) -> std::result::Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    match std::fs::metadata(path) {
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "no such camera device: check the camera is plugged in and its number (`ls /dev/video*`, `v4l2-ctl --list-devices`); in a container, pass it with `--device {}`",
            path.display()
        )),
        Err(error) => Err(format!("cannot open the device ({error}): add the user to the `video` group")),
        Ok(metadata) if !metadata.file_type().is_char_device() => {
            Err("not a camera device (V4L2 cameras are character devices)".to_string())
        }
        Ok(_) => Ok(()),
    }
}

/// One open connection: the demuxer, the decoder and its stream.
struct Connection {
    video: OpenVideo,
    /// The size of the first frames, as the decoder reports it.
    size: (u32, u32),
}

impl Connection {
    /// Opens `location` with FFmpeg, the watchdog armed for the connection's setup.
    fn open(
        location: &str,
        source: &Source,
        options: &LiveOptions,
        shared: &Arc<Shared>,
    ) -> std::result::Result<Connection, String> {
        shared.arm_watchdog(options.watchdog);
        let input = match source {
            Source::Camera(_) => open_camera(location)?,
            _ => {
                let watched = Arc::clone(shared);
                let interrupt = move || {
                    watched.stop.load(Ordering::Relaxed)
                        || watched.now_ms() > watched.deadline_ms.load(Ordering::Relaxed)
                };
                format::input_with_interrupt_and_dictionary(location, interrupt, network_options(location, options))
                    .map_err(|error| connection_failure(&error, options, shared))?
            }
        };
        // Slice threads only: frame threads would hold frames back, one per thread.
        let threading = ffmpeg::threading::Config { kind: ffmpeg::threading::Type::Slice, ..Default::default() };
        let video =
            OpenVideo::from_input(input, threading, "stream", &|reason| Error::Inference(reason)).map_err(|error| {
                match error {
                    Error::Inference(reason) => reason,
                    other => other.to_string(),
                }
            })?;
        let size = (video.info.width, video.info.height);
        Ok(Connection { video, size })
    }
}

/// The protocols a network source may use, its nested opens (HLS segments, RTP) included.
const NETWORK_PROTOCOLS: &str = "tcp,udp,rtp,srtp,rtsp,rtsps,tls,http,https,httpproxy,crypto";

/// Frigate's options for network cameras: TCP, a socket timeout, arrival-clock timestamps, and
/// corrupt packets dropped rather than decoded into grey smears.
fn network_options(location: &str, options: &LiveOptions) -> Dictionary<'static> {
    let mut dictionary = Dictionary::new();
    let timeout_us = options.watchdog.as_micros().to_string();
    if location.to_ascii_lowercase().starts_with("rtsp") {
        let transport = match options.transport {
            RtspTransport::Tcp => "tcp",
            RtspTransport::Udp => "udp",
        };
        dictionary.set("rtsp_transport", transport);
    }
    dictionary.set("timeout", &timeout_us);
    dictionary.set("rw_timeout", &timeout_us);
    // Network protocols only, for this open and every open it makes: an HLS playlist from a
    // camera (or from whoever answers as one) cannot name `file:` segments or other local
    // sources, which FFmpeg's hls demuxer would otherwise read.
    dictionary.set("protocol_whitelist", NETWORK_PROTOCOLS);
    dictionary.set("use_wallclock_as_timestamps", "1");
    dictionary.set("fflags", "+genpts+discardcorrupt");
    dictionary
}

/// Why connecting failed, in words, with the fix where one is known.
fn connection_failure(error: &ffmpeg::Error, options: &LiveOptions, shared: &Shared) -> String {
    if shared.stop.load(Ordering::Relaxed) {
        return "stopped while connecting".to_string();
    }
    let reason = ffmpeg_reason(error);
    match error {
        ffmpeg::Error::Exit | ffmpeg::Error::Other { errno: ETIMEDOUT } => format!(
            "no answer within {:.0} s ({reason}): check the address and port, and that the camera is on",
            options.watchdog.as_secs_f64()
        ),
        ffmpeg::Error::Other { errno: ECONNREFUSED | EHOSTUNREACH } => {
            format!("the connection was refused ({reason}): check the port, and that the server is running")
        }
        ffmpeg::Error::HttpUnauthorized | ffmpeg::Error::HttpForbidden => {
            format!("the server refused the credentials ({reason}): check the user name and password")
        }
        ffmpeg::Error::HttpNotFound | ffmpeg::Error::StreamNotFound => {
            format!("the server has no such stream ({reason}): check the path in the URL")
        }
        _ => reason,
    }
}

#[cfg(feature = "camera")]
fn open_camera(location: &str) -> std::result::Result<format::context::Input, String> {
    ffmpeg::device::register_all();
    let v4l2 = ffmpeg::device::input::video()
        // FFmpeg names it `video4linux2,v4l2`.
        .find(|format| format.name().split(',').any(|name| name == "video4linux2" || name == "v4l2"))
        .ok_or_else(|| "this FFmpeg has no video4linux2 input".to_string())?;
    let opened = format::open_with(location, &v4l2, Dictionary::new())
        .map_err(|error| format!("the camera could not be opened ({})", ffmpeg_reason(&error)))?;
    match opened {
        format::context::Context::Input(input) => Ok(input),
        format::context::Context::Output(_) => Err("the camera opened as an output".to_string()),
    }
}

#[cfg(not(feature = "camera"))]
fn open_camera(_location: &str) -> std::result::Result<format::context::Input, String> {
    Err("this build reads no V4L2 cameras: rebuild with the `camera` feature (it links libavdevice: `apt-get install libavdevice-dev`)".to_string())
}

/// Why one connection stopped giving frames.
enum Stopped {
    /// The reader is gone or the caller asked to stop.
    Asked,
    /// The source ended, failed or went silent: reconnect.
    Lost(String),
}

/// The decoding thread: reads the connection, and reconnects whenever it is lost, until
/// stopped or `give_up_after` passes without a frame.
fn read_for_ever(
    mut connection: Connection,
    location: &str,
    source: &Source,
    source_name: &str,
    options: &LiveOptions,
    size: (u32, u32),
    shared: &Arc<Shared>,
) {
    let mut scaler: Scaler = None;
    let mut last_kept: Option<Instant> = None;
    let mut last_frame = Instant::now();
    loop {
        let reason =
            match read_connection(&mut connection, options, size, shared, &mut scaler, &mut last_kept, &mut last_frame)
            {
                Stopped::Asked => return shared.finish(None),
                Stopped::Lost(reason) => reason,
            };
        tracing::warn!(source = source_name, reason = %reason, "live source lost; reconnecting");
        let mut delay = Duration::from_millis(500);
        connection = loop {
            if let Some(limit) = options.give_up_after {
                if last_frame.elapsed() >= limit {
                    let reason = format!(
                        "no frame for {:.0} s, and reconnecting failed ({reason}): check the camera and the network",
                        last_frame.elapsed().as_secs_f64()
                    );
                    return shared.finish(Some(Error::Live { source_name: source_name.to_string(), reason }));
                }
            }
            if !sleep_unless_stopped(with_jitter(delay), shared) {
                return shared.finish(None);
            }
            match Connection::open(location, source, options, shared) {
                Ok(connection) => break connection,
                Err(failure) => {
                    tracing::warn!(source = source_name, reason = %failure, "reconnecting failed; trying again");
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
            }
        };
        let reconnects = shared.reconnects.fetch_add(1, Ordering::Relaxed) + 1;
        tracing::warn!(
            source = source_name,
            reconnects,
            width = connection.size.0,
            height = connection.size.1,
            "live source reconnected"
        );
        // A new stream may have another format or size: the converter is made again.
        scaler = None;
    }
}

/// Reads packets until the connection is lost or the reader stops, putting each kept frame,
/// converted to RGB at `size`, into the slot.
fn read_connection(
    connection: &mut Connection,
    options: &LiveOptions,
    size: (u32, u32),
    shared: &Shared,
    scaler: &mut Scaler,
    last_kept: &mut Option<Instant>,
    last_frame: &mut Instant,
) -> Stopped {
    let min_interval = options.max_fps.map(|fps| Duration::from_secs_f64(1.0 / fps));
    let video = &mut connection.video;
    let mut decoded = frame::Video::empty();
    loop {
        if shared.stop.load(Ordering::Relaxed) {
            return Stopped::Asked;
        }
        shared.arm_watchdog(options.watchdog);
        let mut packet = ffmpeg::Packet::empty();
        match packet.read(&mut video.input) {
            Ok(()) => {}
            Err(_) if shared.stop.load(Ordering::Relaxed) => return Stopped::Asked,
            Err(ffmpeg::Error::Eof) => return Stopped::Lost("the stream ended".to_string()),
            Err(ffmpeg::Error::Exit) => {
                return Stopped::Lost(format!("no packet for {:.0} s", options.watchdog.as_secs_f64()))
            }
            Err(error) => return Stopped::Lost(ffmpeg_reason(&error)),
        }
        if packet.stream() != video.stream_index {
            continue;
        }
        // A damaged packet loses a frame, not the connection (`discardcorrupt` drops most).
        if video.decoder.send_packet(&packet).is_err() {
            continue;
        }
        while video.decoder.receive_frame(&mut decoded).is_ok() {
            let arrival = Instant::now();
            let index = shared.received.fetch_add(1, Ordering::Relaxed);
            *last_frame = arrival;
            if decoded.is_corrupt() {
                continue;
            }
            if let (Some(interval), Some(kept)) = (min_interval, *last_kept) {
                if arrival.duration_since(kept) < interval {
                    shared.skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
            }
            *last_kept = Some(arrival);
            let image = match convert_to_rgb(scaler, &decoded, Some(size)) {
                Ok(image) => image,
                Err(error) => {
                    return Stopped::Lost(format!("a frame could not be converted ({})", ffmpeg_reason(&error)))
                }
            };
            let pts_ms = arrival.duration_since(shared.opened).as_secs_f64() * 1000.0;
            shared.offer(StreamFrame {
                frame: index,
                pts_ms,
                image: DynamicImage::ImageRgb8(image),
                arrival: Some(arrival),
            });
        }
    }
}

/// Sleeps `duration` in short steps; `false` when asked to stop meanwhile.
fn sleep_unless_stopped(duration: Duration, shared: &Shared) -> bool {
    let until = Instant::now() + duration;
    while Instant::now() < until {
        if shared.stop.load(Ordering::Relaxed) {
            return false;
        }
        std::thread::sleep(Duration::from_millis(50).min(until.saturating_duration_since(Instant::now())));
    }
    !shared.stop.load(Ordering::Relaxed)
}

/// `delay` ± 25 %, so that many cameras lost together do not all call back at once.
fn with_jitter(delay: Duration) -> Duration {
    let nanos =
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |time| time.subsec_nanos());
    // The clock's nanoseconds are as good as random for spreading retries.
    let factor = 0.75 + f64::from(nanos % 1000) / 2000.0;
    delay.mul_f64(factor)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_source_is_shown_without_its_credentials() {
        for url in ["rtsp://admin:s3cret@h/x", "http://h/x?password=s3cret", "rtsp://s3cret@h"] {
            assert!(!Source::parse(url).display_name().contains("s3cret"), "{url}");
        }
    }

    #[test]
    fn inputs_are_told_apart_and_named_without_credentials() {
        assert_eq!(Source::parse("RTSP://cam/live"), Source::Url("RTSP://cam/live".into()));
        assert_eq!(Source::parse("/dev/video2"), Source::Camera("/dev/video2".into()));
        assert_eq!(Source::parse("clip.mp4"), Source::File("clip.mp4".into()));
        assert!(Source::parse("https://cam/x.m3u8").is_live() && !Source::parse("a.mkv").is_live());
        assert_eq!(Source::parse("rtsp://admin:pw@cam.local:554/Streaming/Channels/101").name(), "cam.local-101");
        assert_eq!(Source::parse("rtsp://10.0.0.5").name(), "10.0.0.5-stream");
        assert_eq!(Source::parse("/dev/video0").name(), "video0");
    }

    #[test]
    fn a_missing_camera_device_fails_at_once_naming_the_fix() {
        let started = Instant::now();
        let error = LiveReader::open(&Source::parse("/dev/video97"), LiveOptions::default()).err().unwrap();
        assert!(started.elapsed() < Duration::from_secs(1));
        let message = error.to_string();
        assert!(message.starts_with("could not read live source `/dev/video97`: no such camera device"), "{message}");
        assert!(message.contains("ls /dev/video*"), "{message}");
        let file = Path::new(env!("CARGO_MANIFEST_DIR")).join("Cargo.toml");
        let not_a_device = LiveReader::open(&Source::Camera(file), LiveOptions::default()).err().unwrap();
        assert!(not_a_device.to_string().contains("not a camera device"), "{not_a_device}");
        // A character device that is no camera: refused by V4L2, or by a build without it.
        let started = Instant::now();
        let not_a_camera = LiveReader::open(&Source::Camera("/dev/null".into()), LiveOptions::default()).err().unwrap();
        assert!(started.elapsed() < Duration::from_secs(2));
        let expected = if cfg!(feature = "camera") {
            "the camera could not be opened"
        } else {
            "rebuild with the `camera` feature"
        };
        assert!(not_a_camera.to_string().contains(expected), "{not_a_camera}");
    }

    #[test]
    fn jitter_stays_within_a_quarter_of_the_delay() {
        for _ in 0..100 {
            let delay = with_jitter(Duration::from_secs(4));
            assert!(delay >= Duration::from_secs(3) && delay <= Duration::from_secs(5), "{delay:?}");
        }
    }
}
