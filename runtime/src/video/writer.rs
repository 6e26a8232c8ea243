//! Writing frames as an H.264 MP4 (yuv420p, `+faststart`): the annotated copy of a video,
//! which browsers play.

use std::path::{Path, PathBuf};

use ffmpeg::{
    codec, encoder, format, frame,
    software::scaling::{self, flag::Flags as ScaleFlags},
    util::format::Pixel,
    Dictionary, Packet, Rational,
};
use ffmpeg_next as ffmpeg;
use image::RgbImage;

use super::{ffmpeg_reason, init, video_error};
use crate::Result;

/// Timestamps in milliseconds: a video's presentation times carry over, variable rate included.
const TIME_BASE: Rational = Rational(1, 1000);

/// An H.264 MP4 being written, frame by frame.
///
/// The picture size is the first frame's, rounded down to even numbers (H.264 in yuv420p
/// needs them); a later frame of another size is scaled to it. Call [`VideoWriter::finish`]
/// at the end: without it the file has no index and players refuse it.
pub struct VideoWriter {
    path: PathBuf,
    output: format::context::Output,
    encoder: encoder::Video,
    stream_time_base: Rational,
    width: u32,
    height: u32,
    /// The converter from RGB, for the source size it was made for.
    scaler: Option<((u32, u32), scaling::Context)>,
    last_pts: Option<i64>,
    /// The nominal time between frames, ms: the last frame's duration (the MP4 index drops a
    /// last frame that has none).
    frame_interval_ms: i64,
    frames: u64,
}

impl VideoWriter {
    /// Creates `path` (replacing it) for frames of `width` × `height`; `frame_rate` guides the
    /// encoder's rate control (the frames' own times are kept).
    pub fn create(path: impl AsRef<Path>, width: u32, height: u32, frame_rate: Option<f64>) -> Result<VideoWriter> {
        let path = path.as_ref().to_path_buf();
        init()?;
        let failed =
            |error: ffmpeg::Error| video_error(&path, format!("could not write it: {}", ffmpeg_reason(&error)));
        let (width, height) = ((width & !1).max(2), (height & !1).max(2));
        let mut output = format::output_as(&path, "mp4").map_err(failed)?;
        let codec = encoder::find(codec::Id::H264).ok_or_else(|| {
            video_error(
                &path,
                "this FFmpeg build has no H.264 encoder (Debian's has libx264): install one to save videos",
            )
        })?;
        let global_header = output.format().flags().contains(format::Flags::GLOBAL_HEADER);
        let mut context = codec::context::Context::new_with_codec(codec).encoder().video().map_err(failed)?;
        context.set_width(width);
        context.set_height(height);
        context.set_format(Pixel::YUV420P);
        context.set_time_base(TIME_BASE);
        let rate = frame_rate.filter(|rate| rate.is_finite() && *rate > 0.0).unwrap_or(30.0);
        context.set_frame_rate(Some(Rational::from(rate)));
        if global_header {
            context.set_flags(codec::Flags::GLOBAL_HEADER);
        }
        let mut options = Dictionary::new();
        options.set("preset", "veryfast");
        options.set("crf", "23");
        let encoder = context.open_with(options).map_err(failed)?;
        let mut stream = output.add_stream(codec).map_err(failed)?;
        stream.set_time_base(TIME_BASE);
        stream.set_parameters(&encoder);
        let mut header = Dictionary::new();
        // The index first, so a browser starts playing before the whole file has arrived.
        header.set("movflags", "+faststart");
        output.write_header_with(header).map_err(failed)?;
        let stream_time_base = output.stream(0).map_or(TIME_BASE, |stream| stream.time_base());
        Ok(VideoWriter {
            path,
            output,
            encoder,
            stream_time_base,
            width,
            height,
            scaler: None,
            last_pts: None,
            frame_interval_ms: (1000.0 / rate).round().max(1.0) as i64,
            frames: 0,
        })
    }

    /// Frames written so far.
    pub fn frames(&self) -> u64 {
        self.frames
    }

    /// Adds a frame shown at `pts_ms` (times must grow; one not after the last is moved 1 ms
    /// past it).
    pub fn write(&mut self, image: &RgbImage, pts_ms: f64) -> Result<()> {
        let path = self.path.clone();
        let failed =
            |error: ffmpeg::Error| video_error(&path, format!("could not write it: {}", ffmpeg_reason(&error)));
        let source = (image.width(), image.height());
        let (width, height) = (self.width, self.height);
        let scaler = match &mut self.scaler {
            Some((made_for, scaler)) if *made_for == source => scaler,
            slot => {
                let scaler = scaling::Context::get(
                    Pixel::RGB24,
                    source.0,
                    source.1,
                    Pixel::YUV420P,
                    width,
                    height,
                    ScaleFlags::BICUBIC,
                )
                .map_err(failed)?;
                &mut slot.insert((source, scaler)).1
            }
        };
        let mut rgb = frame::Video::new(Pixel::RGB24, source.0, source.1);
        let row = source.0 as usize * 3;
        let stride = rgb.stride(0);
        let data = rgb.data_mut(0);
        for (y, pixels) in image.as_raw().chunks_exact(row).enumerate() {
            data[y * stride..y * stride + row].copy_from_slice(pixels);
        }
        let mut yuv = frame::Video::empty();
        scaler.run(&rgb, &mut yuv).map_err(failed)?;
        let mut pts = pts_ms.round() as i64;
        if let Some(last) = self.last_pts.filter(|&last| pts <= last) {
            pts = last + 1;
        }
        self.last_pts = Some(pts);
        yuv.set_pts(Some(pts));
        self.encoder.send_frame(&yuv).map_err(failed)?;
        self.frames += 1;
        self.write_packets()
    }

    /// Flushes the encoder and writes the file's index.
    pub fn finish(mut self) -> Result<PathBuf> {
        let path = self.path.clone();
        let failed =
            |error: ffmpeg::Error| video_error(&path, format!("could not write it: {}", ffmpeg_reason(&error)));
        self.encoder.send_eof().map_err(failed)?;
        self.write_packets()?;
        self.output.write_trailer().map_err(failed)?;
        Ok(self.path)
    }

    fn write_packets(&mut self) -> Result<()> {
        let mut packet = Packet::empty();
        while self.encoder.receive_packet(&mut packet).is_ok() {
            packet.set_stream(0);
            if packet.duration() <= 0 {
                packet.set_duration(self.frame_interval_ms);
            }
            packet.rescale_ts(TIME_BASE, self.stream_time_base);
            packet
                .write_interleaved(&mut self.output)
                .map_err(|error| video_error(&self.path, format!("could not write it: {}", ffmpeg_reason(&error))))?;
        }
        Ok(())
    }
}
