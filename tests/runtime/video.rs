//! Video decoding (the `video` feature) on the clips of `scripts/make_clips.sh`: every frame
//! in presentation order with ffprobe's count, times and sizes; `--vid-stride`; the bad inputs
//! refused with the file and the reason; the annotated MP4 read back.

use std::path::Path;

use inferx_runtime::{
    inputs::StreamFrame,
    video::{VideoOptions, VideoReader, VideoWriter},
    Error,
};

use crate::support::*;

fn decode(path: &Path, options: VideoOptions) -> (Vec<StreamFrame>, Option<Error>) {
    let mut frames = Vec::new();
    for frame in VideoReader::open(path, options).unwrap() {
        match frame {
            Ok(frame) => frames.push(frame),
            Err(error) => return (frames, Some(error)),
        }
    }
    (frames, None)
}

fn assert_decoded_as_ffprobe_reports(name: &str) {
    let path = clips().join(name);
    let expected = ffprobe_frames(&path);
    assert!(expected.len() >= 10, "{name}: ffprobe saw {} frames", expected.len());
    let (frames, error) = decode(&path, VideoOptions::default());
    assert!(error.is_none(), "{name}: {error:?}");
    assert_eq!(frames.len(), expected.len(), "{name}: frames decoded against ffprobe's");
    for (index, (frame, (pts_ms, width, height))) in frames.iter().zip(&expected).enumerate() {
        assert_eq!(frame.frame, index as u64, "{name}");
        // ffprobe prints seconds with 6 decimals.
        assert!((frame.pts_ms - pts_ms).abs() < 1e-3, "{name} frame {index}: {} ms, ffprobe {pts_ms} ms", frame.pts_ms);
        assert_eq!((frame.image.width(), frame.image.height()), (*width, *height), "{name} frame {index}");
    }
}

#[test]
fn h264_with_b_frames_in_mp4_is_decoded_frame_for_frame_in_presentation_order() {
    assert_decoded_as_ffprobe_reports("h264_bframes.mp4");
}

#[test]
fn each_codec_and_container_is_decoded_frame_for_frame() {
    for name in ["h264.mov", "h265.mkv", "vp9.webm", "mpeg4.avi", "av1.mkv"] {
        assert_decoded_as_ffprobe_reports(name);
    }
}

#[test]
fn an_odd_frame_size_a_variable_frame_rate_and_a_size_change_keep_ffprobes_sizes_and_times() {
    for name in ["odd_size.mkv", "vfr.mkv", "size_change.ts"] {
        assert_decoded_as_ffprobe_reports(name);
    }
    // The variable rate is real: some frames last three times as long as others.
    let gaps: Vec<f64> =
        ffprobe_frames(&clips().join("vfr.mkv")).windows(2).map(|pair| pair[1].0 - pair[0].0).collect();
    assert!(gaps.iter().any(|gap| (gap - 40.0).abs() < 1e-3) && gaps.iter().any(|gap| (gap - 120.0).abs() < 1e-3));
    let sizes: std::collections::BTreeSet<(u32, u32)> =
        ffprobe_frames(&clips().join("size_change.ts")).iter().map(|&(_, w, h)| (w, h)).collect();
    assert_eq!(sizes.len(), 2, "the clip changes size midway");
}

#[test]
fn a_stride_keeps_every_nth_frame_with_its_own_number_and_time() {
    let path = clips().join("h264_bframes.mp4");
    let expected = ffprobe_frames(&path);
    let (frames, error) = decode(&path, VideoOptions { stride: 3, ..VideoOptions::default() });
    assert!(error.is_none());
    assert_eq!(frames.len(), expected.len().div_ceil(3));
    for frame in &frames {
        assert_eq!(frame.frame % 3, 0);
        assert!((frame.pts_ms - expected[frame.frame as usize].0).abs() < 1e-3);
    }
}

#[test]
fn a_slow_reader_holds_only_the_queue_and_dropping_it_stops_the_decoder() {
    let path = clips().join("h264_bframes.mp4");
    let mut reader = VideoReader::open(&path, VideoOptions { queue_frames: 1, ..VideoOptions::default() }).unwrap();
    assert_eq!((reader.info().width, reader.info().height, reader.info().codec.as_str()), (160, 120, "h264"));
    assert_eq!(reader.info().frames, Some(50));
    let first = reader.next().unwrap().unwrap();
    assert_eq!(first.frame, 0);
    // Dropped with 49 frames left: the decoding thread ends instead of blocking on the queue.
    drop(reader);
}

fn refused(path: &Path) -> String {
    match VideoReader::open(path, VideoOptions::default()) {
        Err(error) => error.to_string(),
        Ok(reader) => {
            let (frames, error): (Vec<_>, Vec<_>) = reader.partition(Result::is_ok);
            panic!("{} opened: {} frames, errors {:?}", path.display(), frames.len(), error)
        }
    }
}

#[test]
fn bad_files_are_refused_naming_the_file_and_the_reason() {
    let bad = clips().join("bad");
    for (name, reason) in BAD_VIDEOS {
        let path = bad.join(name);
        let message = refused(&path);
        assert!(message.starts_with(&format!("could not read video `{}`", path.display())), "{message}");
        assert!(message.contains(reason), "{name}: {message}");
    }
    let missing = refused(&bad.join("missing.mp4"));
    assert!(missing.ends_with("missing.mp4`: no such file"), "{missing}");
}

#[test]
fn a_file_damaged_midway_gives_the_frames_before_the_damage_then_the_error() {
    let path = clips().join("bad/damaged.mp4");
    let (frames, error) = decode(&path, VideoOptions::default());
    let error = error.expect("the damage is reported").to_string();
    assert!(error.contains("damaged"), "{error}");
    assert!(error.contains(&format!("`{}`", path.display())), "{error}");
    // The damage sits past the middle: the frames before it came out, the same as the intact clip's.
    assert!(frames.len() >= 10 && frames.len() < 50, "{} frames before the error", frames.len());
    let (intact, _) = decode(&clips().join("h264_bframes.mp4"), VideoOptions::default());
    for (damaged, intact) in frames.iter().zip(&intact) {
        assert_eq!((damaged.frame, damaged.pts_ms), (intact.frame, intact.pts_ms));
    }
}

#[test]
fn frames_written_come_back_as_an_h264_mp4_with_their_times() {
    let dir = temp_dir();
    let path = clips().join("vfr.mkv");
    let (frames, _) = decode(&path, VideoOptions::default());
    let target = dir.path().join("out.mp4");
    let mut writer = VideoWriter::create(&target, 160, 120, Some(25.0)).unwrap();
    for frame in &frames {
        writer.write(&frame.image.to_rgb8(), frame.pts_ms).unwrap();
    }
    assert_eq!(writer.frames(), frames.len() as u64);
    writer.finish().unwrap();
    let reader = VideoReader::open(&target, VideoOptions::default()).unwrap();
    assert_eq!(reader.info().codec, "h264");
    let written: Vec<StreamFrame> = reader.map(Result::unwrap).collect();
    assert_eq!(ffprobe_frames(&target).len(), frames.len(), "ffprobe reads every frame too");
    assert_eq!(written.len(), frames.len());
    for (written, original) in written.iter().zip(&frames) {
        assert!((written.pts_ms - original.pts_ms).abs() < 1.0, "{} against {}", written.pts_ms, original.pts_ms);
    }
}
