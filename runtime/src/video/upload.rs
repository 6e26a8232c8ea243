//! Clips held in memory, as a server receives them ([`VideoReader::from_memory`]): demuxed from
//! the bytes themselves through a custom `AVIOContext`, so no file is written and no protocol
//! is opened. FFmpeg's `hls`, `concat`, `image2` and other demuxers can open local files and
//! URLs named inside their input; only the demuxers of [`ALLOWED_CONTAINERS`] are used, told so
//! three times: our own probe refuses any other before FFmpeg opens the clip, FFmpeg's
//! `format_whitelist` refuses it again, and an empty `protocol_whitelist` (with MP4's external
//! data references off) refuses any nested open.

use std::{
    ffi::{c_int, CStr},
    io::Cursor,
    time::Duration,
};

use ffmpeg::{format, Dictionary};
use ffmpeg_next as ffmpeg;

use super::{ffmpeg_reason, init, Named, OpenVideo, VideoOptions, VideoReader};
use crate::{ClipProblem, Error, Result};

/// FFmpeg's demuxers that read uploaded clips: `mov` (MP4, MOV; FFmpeg names it
/// `mov,mp4,m4a,3gp,3g2,mj2`), `matroska` (Matroska, WebM) and `avi`. None of them opens
/// anything but its input once external references are off.
pub const ALLOWED_CONTAINERS: [&str; 3] = ["mov", "matroska", "avi"];

/// What a clip in memory may be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ClipLimits {
    /// Longest clip: its header's duration is checked before decoding, and its frames' own
    /// times while decoding (a header can lie); a clip past it ends with
    /// [`ClipProblem::TooLong`]. Frames are also capped at 240 a second of it, so a clip whose
    /// times stand still cannot run on.
    pub max_duration: Duration,
    /// Widest and tallest frame, pixels ([`ClipProblem::TooLarge`] above), checked on the
    /// header before decoding.
    pub max_dimension: u32,
}

/// Frames a second of `max_duration` a clip may hold, whatever its times say.
const MAX_FRAMES_PER_SECOND: f64 = 240.0;

/// Bytes of the clip's start our probe reads (FFmpeg's own probe reads at most 1 MiB).
const PROBE_BYTES: usize = 1 << 20;

impl VideoReader {
    /// Starts decoding a clip held in memory (an upload), as [`VideoReader::open`] does a
    /// file. Fails before any frame with an [`Error::Clip`]: [`ClipProblem::Unsupported`] when
    /// the bytes are not in one of [`ALLOWED_CONTAINERS`] (an HLS playlist, an ffconcat list,
    /// text...) or the codec has no decoder, [`ClipProblem::TooLong`] or
    /// [`ClipProblem::TooLarge`] past `limits` by its header, [`ClipProblem::Undecodable`]
    /// when it is truncated or has no video stream. Errors name no path.
    pub fn from_memory<T: AsRef<[u8]> + Send + 'static>(
        clip: T,
        options: VideoOptions,
        limits: ClipLimits,
    ) -> Result<VideoReader> {
        if options.stride == 0 {
            return Err(Error::config("the video stride is 0: keep every frame with 1, every other with 2"));
        }
        init()?;
        probe(clip.as_ref())?;
        VideoReader::start(Named::Clip, options, move |options| OpenVideo::open_clip(clip, options, limits))
    }
}

fn clip_error(problem: ClipProblem, reason: impl Into<String>) -> Error {
    Error::Clip { reason: reason.into(), problem }
}

/// The container `bytes` hold, by FFmpeg's probe of their start, refused unless it is one of
/// [`ALLOWED_CONTAINERS`].
fn probe(bytes: &[u8]) -> Result<()> {
    const SEND: &str = "send an MP4, MOV, Matroska, WebM or AVI file";
    if bytes.is_empty() {
        return Err(clip_error(ClipProblem::Unsupported, format!("the clip is empty: {SEND}")));
    }
    let size = bytes.len().min(PROBE_BYTES);
    // The probe reads past the end: FFmpeg asks for that many zero bytes after the data.
    let mut buffer = Vec::with_capacity(size + ffmpeg::ffi::AVPROBE_PADDING_SIZE as usize);
    buffer.extend_from_slice(&bytes[..size]);
    buffer.resize(size + ffmpeg::ffi::AVPROBE_PADDING_SIZE as usize, 0);
    let data = ffmpeg::ffi::AVProbeData {
        filename: c"".as_ptr(),
        buf: buffer.as_mut_ptr(),
        buf_size: size as c_int,
        mime_type: std::ptr::null(),
    };
    let mut score: c_int = 0;
    // SAFETY: `data` points at `buffer`, alive and padded as FFmpeg requires; the returned
    // format is a static of libavformat (or null).
    let name = unsafe {
        let format = ffmpeg::ffi::av_probe_input_format3(&data, 1, &mut score);
        if format.is_null() || (*format).name.is_null() {
            None
        } else {
            Some(CStr::from_ptr((*format).name).to_string_lossy().into_owned())
        }
    };
    match name {
        None => {
            Err(clip_error(ClipProblem::Unsupported, format!("the body is not a video container FFmpeg knows: {SEND}")))
        }
        Some(name) if allowed(&name) => Ok(()),
        Some(name) => {
            let first = name.split(',').next().unwrap_or_default();
            Err(clip_error(
                ClipProblem::Unsupported,
                format!(
                    "its container `{first}` is not accepted in an upload (it may name other files or URLs): {SEND}"
                ),
            ))
        }
    }
}

/// Whether FFmpeg's demuxer `name` (a comma-separated list of names) is one of
/// [`ALLOWED_CONTAINERS`].
fn allowed(name: &str) -> bool {
    name.split(',').any(|name| ALLOWED_CONTAINERS.contains(&name))
}

impl OpenVideo {
    /// Opens a clip in memory with the allowed demuxers only and no protocols, and checks its
    /// header against `limits`.
    fn open_clip<T: AsRef<[u8]> + Send + 'static>(
        clip: T,
        options: &VideoOptions,
        limits: ClipLimits,
    ) -> Result<OpenVideo> {
        let undecodable = |reason: String| clip_error(ClipProblem::Undecodable, reason);
        let io = format::context::StreamIo::from_read_seek(Cursor::new(clip))
            .map_err(|error| undecodable(ffmpeg_reason(&error)))?;
        let mut settings = Dictionary::new();
        settings.set("format_whitelist", &ALLOWED_CONTAINERS.join(","));
        // No protocol matches this name: whatever a demuxer asks to open is refused.
        settings.set("protocol_whitelist", "none");
        // MP4's external data references (off by default; said here, so it stays off).
        settings.set("enable_drefs", "0");
        let input = format::input_from_stream(io, None, Some(settings)).map_err(|error| {
            undecodable(format!("its header cannot be read: {} (is the clip complete?)", ffmpeg_reason(&error)))
        })?;
        let seconds = clip_seconds(&input);
        let threading = ffmpeg::threading::Config {
            kind: ffmpeg::threading::Type::Frame,
            count: options.threads(),
            ..Default::default()
        };
        let mut opened = OpenVideo::from_input(input, threading, "clip", &|reason| {
            let problem = if reason.contains("no decoder") || reason.contains("unknown to this FFmpeg") {
                ClipProblem::Unsupported
            } else {
                ClipProblem::Undecodable
            };
            clip_error(problem, reason)
        })?;
        let max_seconds = limits.max_duration.as_secs_f64();
        if let Some(seconds) = seconds.filter(|seconds| *seconds > max_seconds) {
            return Err(clip_error(
                ClipProblem::TooLong,
                format!("the clip lasts {seconds:.1} s by its header, over the {max_seconds} s limit"),
            ));
        }
        let (width, height) = (opened.info.width, opened.info.height);
        if width.max(height) > limits.max_dimension {
            return Err(clip_error(
                ClipProblem::TooLarge,
                format!("its frames are {width}x{height}, over the {} pixel limit on a side", limits.max_dimension),
            ));
        }
        opened.limit = Some(DecodeLimit {
            max_ms: max_seconds * 1000.0,
            max_frames: (max_seconds * MAX_FRAMES_PER_SECOND).ceil() as u64,
            first_pts_ms: None,
        });
        Ok(opened)
    }
}

/// The clip's length by its header: the container's, else its best video stream's.
fn clip_seconds(input: &format::context::Input) -> Option<f64> {
    let container = input.duration();
    if container > 0 {
        return Some(container as f64 / f64::from(ffmpeg::ffi::AV_TIME_BASE));
    }
    let stream = input.streams().best(ffmpeg::media::Type::Video)?;
    (stream.duration() > 0).then(|| stream.duration() as f64 * f64::from(stream.time_base()))
}

/// A clip's length limit on its decoded frames.
#[derive(Debug)]
pub(crate) struct DecodeLimit {
    max_ms: f64,
    max_frames: u64,
    first_pts_ms: Option<f64>,
}

impl DecodeLimit {
    /// Refuses the frame numbered `index` at `pts_ms` when the clip has run past its limit.
    pub(crate) fn check(&mut self, index: u64, pts_ms: f64) -> Result<()> {
        let first = *self.first_pts_ms.get_or_insert(pts_ms);
        let seconds = self.max_ms / 1000.0;
        if pts_ms - first > self.max_ms {
            return Err(clip_error(
                ClipProblem::TooLong,
                format!(
                    "its frames run past the {seconds} s limit (frame {index} at {:.1} s)",
                    (pts_ms - first) / 1000.0
                ),
            ));
        }
        if index >= self.max_frames {
            return Err(clip_error(
                ClipProblem::TooLong,
                format!("it holds more than {} frames, 240 a second of the {seconds} s limit", self.max_frames),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_allowed_demuxers_pass_the_probe_and_text_and_playlists_do_not() {
        assert!(allowed("mov,mp4,m4a,3gp,3g2,mj2") && allowed("matroska,webm") && allowed("avi"));
        assert!(!allowed("hls") && !allowed("concat") && !allowed("image2") && !allowed("mpegts"));
        for (bytes, words) in [
            (&b""[..], "empty"),
            (b"this is a text file, not a video\n", "not a video container"),
            (b"ffconcat version 1.0\nfile /etc/passwd\n", "`concat`"),
        ] {
            let error = VideoReader::from_memory(bytes, VideoOptions::default(), limits()).err().expect("refused");
            let Error::Clip { reason, problem } = &error else { panic!("{error}") };
            assert_eq!(*problem, ClipProblem::Unsupported, "{reason}");
            assert!(reason.contains(words), "{reason}");
        }
    }

    #[test]
    fn a_clip_is_too_long_by_its_frames_times_or_by_its_frame_count() {
        let mut limit = DecodeLimit { max_ms: 1000.0, max_frames: 240, first_pts_ms: None };
        assert!(limit.check(0, 500.0).is_ok() && limit.check(1, 1500.0).is_ok(), "times count from the first frame");
        let late = limit.check(2, 1500.1).unwrap_err();
        assert!(matches!(late, Error::Clip { problem: ClipProblem::TooLong, .. }), "{late}");
        let mut still = DecodeLimit { max_ms: 1000.0, max_frames: 240, first_pts_ms: None };
        assert!((0..240).all(|index| still.check(index, 0.0).is_ok()));
        assert!(still.check(240, 0.0).unwrap_err().to_string().contains("more than 240 frames"));
    }

    fn limits() -> ClipLimits {
        ClipLimits { max_duration: Duration::from_secs(10), max_dimension: 4096 }
    }
}
