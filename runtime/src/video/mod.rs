//! Video files in and out (the `video` feature), through FFmpeg's libraries (`ffmpeg-next`).
//!
//! [`VideoReader`] decodes a file's best video stream on its own thread and hands over its
//! frames in presentation order (B-frames reordered), as RGB [`StreamFrame`]s with their
//! presentation time from the stream's time base, through a bounded queue: memory does not
//! grow with the file's length, and decoding overlaps whatever the caller does with each frame.
//! [`VideoWriter`] encodes frames as an H.264 MP4 that browsers play.
//!
//! ```no_run
//! use inferx_runtime::video::{VideoOptions, VideoReader};
//!
//! # fn main() -> inferx_runtime::Result<()> {
//! let video = VideoReader::open("clip.mp4", VideoOptions::default())?;
//! println!("{}x{} {}", video.info().width, video.info().height, video.info().codec);
//! for frame in video {
//!     let frame = frame?;
//!     println!("frame {} at {:.1} ms", frame.frame, frame.pts_ms);
//! }
//! # Ok(())
//! # }
//! ```

mod live;
mod run;
mod upload;
mod writer;

use std::{
    path::{Path, PathBuf},
    sync::mpsc::{Receiver, SyncSender},
    thread::JoinHandle,
};

use ffmpeg::{
    codec, decoder, format, frame, media,
    software::scaling::{self, flag::Flags as ScaleFlags},
    util::format::Pixel,
    Rational,
};
use ffmpeg_next as ffmpeg;
use image::{DynamicImage, RgbImage};

pub use live::{LiveCounters, LiveOptions, LiveReader, LiveStats, RtspTransport, Source};
pub use run::{annotated_video_path, run_stream, stop_on_signals, SourceReader, StreamRunOptions, StreamSummary};
pub use upload::{ClipLimits, ALLOWED_CONTAINERS};
pub use writer::VideoWriter;

use crate::{inputs::StreamFrame, Error, Result};

/// How a video is read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoOptions {
    /// Keep every `stride`-th frame (1: all). Skipped frames are still decoded (each depends on
    /// the ones before) but not converted to RGB, and keep their numbers.
    pub stride: u64,
    /// Threads libavcodec decodes with (0: half the cores, at least 1 and at most 8, leaving the
    /// other half to the model).
    pub decoder_threads: usize,
    /// Decoded frames that may wait for the caller (at least 1): the bound on memory.
    pub queue_frames: usize,
}

impl Default for VideoOptions {
    fn default() -> Self {
        VideoOptions { stride: 1, decoder_threads: 0, queue_frames: 4 }
    }
}

impl VideoOptions {
    /// The decoder's thread count: `decoder_threads`, or half the cores.
    pub fn threads(&self) -> usize {
        if self.decoder_threads > 0 {
            return self.decoder_threads;
        }
        let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
        (cores / 2).clamp(1, 8)
    }
}

/// What a video holds, read from its header before the first frame.
#[derive(Debug, Clone, PartialEq)]
pub struct VideoInfo {
    /// The container (FFmpeg's name, e.g. `mov,mp4,m4a,3gp,3g2,mj2`).
    pub container: String,
    /// The codec of the video stream (e.g. `h264`).
    pub codec: String,
    /// Width of the first frames, pixels.
    pub width: u32,
    /// Height of the first frames, pixels.
    pub height: u32,
    /// The stream's average frame rate, when the file says.
    pub frame_rate: Option<f64>,
    /// The number of frames the header announces, or an estimate from duration × rate; `None`
    /// when neither is known. For progress only: the frames decoded are the truth.
    pub frames: Option<u64>,
    /// The stream's time base (seconds per tick), as `(numerator, denominator)`.
    pub time_base: (i32, i32),
}

/// A video's frames in presentation order, decoded on a thread of their own.
///
/// Iterating gives each kept frame, then at most one error (the file is damaged or truncated
/// there: the frames before it were good), then nothing. Dropping the reader stops decoding.
pub struct VideoReader {
    info: VideoInfo,
    frames: Option<Receiver<Result<StreamFrame>>>,
    thread: Option<JoinHandle<()>>,
    failed: bool,
}

impl VideoReader {
    /// Opens `path` and starts decoding its best video stream. Fails here, before any frame,
    /// when the file is missing, is not a video FFmpeg can read, holds no video stream, or
    /// its codec has no decoder.
    pub fn open(path: impl AsRef<Path>, options: VideoOptions) -> Result<VideoReader> {
        let path = path.as_ref().to_path_buf();
        if options.stride == 0 {
            return Err(Error::config("the video stride is 0: keep every frame with 1, every other with 2"));
        }
        if !path.is_file() {
            return Err(video_error(&path, "no such file"));
        }
        let opening = path.clone();
        VideoReader::start(Named::File(path), options, move |options| OpenVideo::open(&opening, options))
    }

    /// Starts the decoding thread on what `open` opens there, and waits for its header.
    fn start(
        named: Named,
        options: VideoOptions,
        open: impl FnOnce(&VideoOptions) -> Result<OpenVideo> + Send + 'static,
    ) -> Result<VideoReader> {
        init()?;
        let (info_sender, info_receiver) = std::sync::mpsc::sync_channel(1);
        let (frame_sender, frames) = std::sync::mpsc::sync_channel(options.queue_frames.max(1));
        let decoding = named.clone();
        let thread = std::thread::Builder::new()
            .name("inferx-video".into())
            .spawn(move || {
                let mut opened = match open(&options) {
                    Ok(opened) => opened,
                    Err(error) => {
                        let _ = info_sender.send(Err(error));
                        return;
                    }
                };
                if info_sender.send(Ok(opened.info.clone())).is_ok() {
                    opened.decode(&decoding, &options, &frame_sender);
                }
            })
            .map_err(|error| Error::Inference(format!("could not start a thread to decode a video: {error}")))?;
        let info = match info_receiver.recv() {
            Ok(info) => info?,
            Err(_) => return Err(named.error("the decoder stopped before reading the header")),
        };
        Ok(VideoReader { info, frames: Some(frames), thread: Some(thread), failed: false })
    }

    /// What the file's header says.
    pub fn info(&self) -> &VideoInfo {
        &self.info
    }
}

impl Iterator for VideoReader {
    type Item = Result<StreamFrame>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let next = self.frames.as_ref()?.recv().ok()?;
        self.failed = next.is_err();
        Some(next)
    }
}

impl Drop for VideoReader {
    fn drop(&mut self) {
        // Closing the queue makes the decoder's next send fail, and it stops.
        self.frames.take();
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// Initialises FFmpeg once and quiets its own log (its errors reach the caller as ours).
fn init() -> Result<()> {
    static INIT: std::sync::OnceLock<std::result::Result<(), String>> = std::sync::OnceLock::new();
    INIT.get_or_init(|| {
        ffmpeg::init().map_err(|error| error.to_string())?;
        ffmpeg::util::log::set_level(ffmpeg::util::log::Level::Fatal);
        Ok(())
    })
    .clone()
    .map_err(|reason| Error::Inference(format!("FFmpeg could not be initialised: {reason}")))
}

pub(crate) fn video_error(path: &Path, reason: impl Into<String>) -> Error {
    Error::Video { path: path.to_path_buf(), reason: reason.into() }
}

/// What a decoder reads, as its errors name it: a file by its path, a clip in memory by
/// nothing (an upload has no path to show).
#[derive(Debug, Clone)]
enum Named {
    File(PathBuf),
    Clip,
}

impl Named {
    fn error(&self, reason: impl Into<String>) -> Error {
        match self {
            Named::File(path) => video_error(path, reason),
            Named::Clip => Error::Clip { reason: reason.into(), problem: crate::ClipProblem::Undecodable },
        }
    }
}

/// A demuxer and decoder, opened on the decoding thread (FFmpeg's contexts stay on it).
struct OpenVideo {
    input: format::context::Input,
    decoder: decoder::Video,
    stream_index: usize,
    time_base: Rational,
    info: VideoInfo,
    /// A clip's length limit, enforced on its frames' own times (a header can lie).
    limit: Option<upload::DecodeLimit>,
}

impl OpenVideo {
    fn open(path: &Path, options: &VideoOptions) -> Result<OpenVideo> {
        let input = format::input(path)
            .map_err(|error| video_error(path, format!("{} (is it a video file?)", ffmpeg_reason(&error))))?;
        let threading = ffmpeg::threading::Config {
            kind: ffmpeg::threading::Type::Frame,
            count: options.threads(),
            ..Default::default()
        };
        OpenVideo::from_input(input, threading, "file", &|reason| video_error(path, reason))
    }

    /// The decoder of `input`'s best video stream; `noun` says what the input is ("file",
    /// "stream") and `fail` makes the error that names it.
    fn from_input(
        input: format::context::Input,
        threading: ffmpeg::threading::Config,
        noun: &str,
        fail: &dyn Fn(String) -> Error,
    ) -> Result<OpenVideo> {
        let container = input.format().name().to_string();
        let stream = input.streams().best(media::Type::Video).ok_or_else(|| {
            let kinds: Vec<String> =
                input.streams().map(|stream| format!("{:?}", stream.parameters().medium()).to_lowercase()).collect();
            let held = if kinds.is_empty() { "no streams".to_string() } else { format!("only {}", kinds.join(", ")) };
            fail(format!("the {noun} has no video stream ({held})"))
        })?;
        let stream_index = stream.index();
        let time_base = stream.time_base();
        let codec_id = stream.parameters().id();
        let codec_name = format!("{codec_id:?}").to_lowercase();
        let mut context = codec::context::Context::from_parameters(stream.parameters())
            .map_err(|error| fail(ffmpeg_reason(&error)))?;
        context.set_threading(threading);
        let mut opening = context.decoder();
        // Damage surfaces as an error, not as a concealed picture passed off as a frame.
        opening.check(decoder::Check::EXPLODE);
        if ffmpeg::decoder::find(codec_id).is_none() {
            let what = match codec_id {
                codec::Id::None => "its video codec is unknown to this FFmpeg build".to_string(),
                _ => format!("its video codec `{codec_name}` has no decoder in this FFmpeg build"),
            };
            return Err(fail(format!("{what}: convert it to H.264, e.g. `ffmpeg -i INPUT -c:v libx264 OUTPUT.mp4`")));
        }
        let decoder = opening
            .video()
            .map_err(|error| fail(format!("its `{codec_name}` stream cannot be decoded: {}", ffmpeg_reason(&error))))?;
        let frame_rate =
            Some(stream.avg_frame_rate()).filter(|rate| rate.numerator() > 0 && rate.denominator() > 0).map(f64::from);
        let announced = u64::try_from(stream.frames()).ok().filter(|&frames| frames > 0);
        let duration_s = (stream.duration() > 0).then(|| stream.duration() as f64 * f64::from(time_base));
        let frames = announced.or_else(|| Some((duration_s? * frame_rate?).round() as u64));
        let info = VideoInfo {
            container,
            codec: codec_name,
            width: decoder.width(),
            height: decoder.height(),
            frame_rate,
            frames,
            time_base: (time_base.numerator(), time_base.denominator()),
        };
        if info.width == 0 || info.height == 0 {
            return Err(fail("its video stream has no frame size (is the file complete?)".to_string()));
        }
        Ok(OpenVideo { input, decoder, stream_index, time_base, info, limit: None })
    }

    /// Reads packets and sends each kept frame, then the error that stopped it, if any.
    fn decode(&mut self, named: &Named, options: &VideoOptions, frames: &SyncSender<Result<StreamFrame>>) {
        let mut state = DecodeState { presented: 0, scaler: None, stride: options.stride };
        loop {
            // A fresh packet each time: `av_read_frame` overwrites a packet without releasing
            // what it held, so reusing one leaks every packet's data (measured: RSS grew with
            // the file's length).
            let mut packet = ffmpeg::Packet::empty();
            match packet.read(&mut self.input) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => break,
                Err(error) => {
                    let reason = format!(
                        "the file is damaged or truncated after frame {} ({})",
                        state.presented,
                        ffmpeg_reason(&error)
                    );
                    let _ = frames.send(Err(named.error(reason)));
                    return;
                }
            }
            if packet.stream() != self.stream_index {
                continue;
            }
            if let Err(error) = self.decoder.send_packet(&packet) {
                let reason =
                    format!("the video is damaged after frame {} ({})", state.presented, ffmpeg_reason(&error));
                let _ = frames.send(Err(named.error(reason)));
                return;
            }
            match self.receive(named, &mut state, frames) {
                Ok(true) => {}
                Ok(false) => return,
                Err(error) => {
                    let _ = frames.send(Err(error));
                    return;
                }
            }
        }
        let drained = self.decoder.send_eof().map_err(|error| named.error(ffmpeg_reason(&error)));
        if let Err(error) = drained.and_then(|()| self.receive(named, &mut state, frames).map(|_| ())) {
            let _ = frames.send(Err(error));
        }
    }

    /// Sends the frames the decoder has ready; `false` once the reader has gone.
    fn receive(
        &mut self,
        named: &Named,
        state: &mut DecodeState,
        frames: &SyncSender<Result<StreamFrame>>,
    ) -> Result<bool> {
        let mut decoded = frame::Video::empty();
        loop {
            match self.decoder.receive_frame(&mut decoded) {
                Ok(()) => {}
                Err(ffmpeg::Error::Eof) => return Ok(true),
                Err(ffmpeg::Error::Other { errno }) if errno == ffmpeg::util::error::EAGAIN => return Ok(true),
                Err(error) => {
                    let reason =
                        format!("the video is damaged after frame {} ({})", state.presented, ffmpeg_reason(&error));
                    return Err(named.error(reason));
                }
            }
            if decoded.is_corrupt() || decoded.has_decode_errors() {
                return Err(named.error(format!("the video is damaged at frame {}", state.presented)));
            }
            let index = state.presented;
            state.presented += 1;
            if !index.is_multiple_of(state.stride) {
                continue;
            }
            let pts_ms = match decoded.timestamp() {
                Some(pts) => pts as f64 * 1000.0 * f64::from(self.time_base),
                // No timestamp anywhere: the frame's place at the nominal rate.
                None => index as f64 * 1000.0 / self.info.frame_rate.unwrap_or(30.0),
            };
            if let Some(limit) = &mut self.limit {
                limit.check(index, pts_ms)?;
            }
            let image = state.convert_to_rgb(&decoded).map_err(|error| named.error(ffmpeg_reason(&error)))?;
            if frames
                .send(Ok(StreamFrame { frame: index, pts_ms, image: DynamicImage::ImageRgb8(image), arrival: None }))
                .is_err()
            {
                return Ok(false);
            }
        }
    }
}

struct DecodeState {
    presented: u64,
    scaler: Scaler,
    stride: u64,
}

impl DecodeState {
    fn convert_to_rgb(&mut self, decoded: &frame::Video) -> std::result::Result<RgbImage, ffmpeg::Error> {
        convert_to_rgb(&mut self.scaler, decoded, None)
    }
}

/// A converter to RGB, with the frame format and size it was made for (a stream may change
/// size midway).
type Scaler = Option<((Pixel, u32, u32), scaling::Context)>;

/// `decoded` as RGB, at its own size or resized to `size` (width, height).
fn convert_to_rgb(
    scaler: &mut Scaler,
    decoded: &frame::Video,
    size: Option<(u32, u32)>,
) -> std::result::Result<RgbImage, ffmpeg::Error> {
    let key = (decoded.format(), decoded.width(), decoded.height());
    let (width, height) = size.unwrap_or((key.1, key.2));
    let scaler = match scaler {
        Some((made_for, scaler)) if *made_for == key => scaler,
        slot => {
            // Bicubic, as the ffmpeg command line converts: the same pixels as frames it exports.
            let scaler = scaling::Context::get(key.0, key.1, key.2, Pixel::RGB24, width, height, ScaleFlags::BICUBIC)?;
            &mut slot.insert((key, scaler)).1
        }
    };
    let mut rgb = frame::Video::empty();
    scaler.run(decoded, &mut rgb)?;
    Ok(rgb_image(&rgb))
}

/// An RGB24 frame's pixels without its row padding.
fn rgb_image(rgb: &frame::Video) -> RgbImage {
    let (width, height) = (rgb.width(), rgb.height());
    let row = width as usize * 3;
    let stride = rgb.stride(0);
    let data = rgb.data(0);
    let mut pixels = Vec::with_capacity(row * height as usize);
    for y in 0..height as usize {
        pixels.extend_from_slice(&data[y * stride..y * stride + row]);
    }
    // The buffer holds exactly width × height × 3 bytes.
    RgbImage::from_raw(width, height, pixels).unwrap_or_else(|| RgbImage::new(width, height))
}

/// FFmpeg's words for an error, without its numeric code.
pub(crate) fn ffmpeg_reason(error: &ffmpeg::Error) -> String {
    match error {
        ffmpeg::Error::InvalidData => "invalid data found when processing input".to_string(),
        other => other.to_string(),
    }
}
