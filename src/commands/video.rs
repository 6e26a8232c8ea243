//! `inferx run MODEL clip.mp4`: a video's frames through the detector (and ByteTrack with
//! `--track`), one record per frame (JSON Lines with `--json`), an annotated H.264 MP4 with
//! `--save`, and a summary. Decoding needs the `video` feature (FFmpeg's libraries); a build
//! without it says how to get it.

use std::path::PathBuf;

use anyhow::bail;

use crate::cli::RunArgs;

/// What to install and run to get video support, said wherever it is missing.
const REBUILD: &str = "rebuild inferx with video support: install FFmpeg's development libraries \
(Debian/Ubuntu: `apt-get install libavcodec-dev libavformat-dev libavutil-dev libswscale-dev libclang-dev pkg-config`), \
then `cargo install inferx --features video`";

/// The video among the inputs, if one is: alone (one video per run), and known to this build.
pub(crate) fn video_input(inputs: &[PathBuf], args: &RunArgs) -> anyhow::Result<Option<PathBuf>> {
    let videos: Vec<&PathBuf> = inputs.iter().filter(|path| inferx_runtime::inputs::is_video_path(path)).collect();
    let Some(&video) = videos.first() else {
        if args.vid_stride != 1 {
            bail!("--vid-stride applies to a video file, and no input is one (mp4, mkv, webm, avi, mov...)");
        }
        return Ok(None);
    };
    if inputs.len() > 1 {
        bail!(
            "`{}` is a video: run one video at a time, without other inputs ({} given)",
            video.display(),
            inputs.len()
        );
    }
    if !cfg!(feature = "video") {
        bail!("`{}` is a video, and this inferx was built without video support: {REBUILD}", video.display());
    }
    Ok(Some(video.clone()))
}

#[cfg(not(feature = "video"))]
pub(crate) fn run(
    _args: &RunArgs,
    _model: &std::path::Path,
    _options: inferx_runtime::PipelineOptions,
    _tracking: Option<inferx_runtime::tracking::TrackingConfig>,
    video: &std::path::Path,
    _printer: &crate::output::Printer,
) -> anyhow::Result<std::process::ExitCode> {
    bail!("`{}` is a video, and this inferx was built without video support: {REBUILD}", video.display())
}

#[cfg(feature = "video")]
pub(crate) use with_video::run;

#[cfg(feature = "video")]
mod with_video {
    use std::{
        collections::{BTreeMap, BTreeSet},
        path::Path,
        process::ExitCode,
        time::Instant,
    };

    use anyhow::Context;
    use inferx_runtime::{
        annotate::StreamOverlay,
        inputs::StreamFrame,
        results::Detection,
        sequence,
        tracking::{Counts, Tracker, TrackingConfig},
        video::{VideoOptions, VideoReader, VideoWriter},
        PipelineOptions, PipelinePool,
    };

    use crate::{cli::RunArgs, output::Printer};

    /// Runs the video through the model and prints a record per frame.
    pub(crate) fn run(
        args: &RunArgs,
        model: &Path,
        options: PipelineOptions,
        tracking: Option<TrackingConfig>,
        video: &Path,
        printer: &Printer,
    ) -> anyhow::Result<ExitCode> {
        // One session: a video's frames come one after another from one decoder.
        let pool =
            PipelinePool::load(model, options, 1).with_context(|| format!("could not load `{}`", model.display()))?;
        let pipeline = pool.primary();
        let reader = VideoReader::open(video, VideoOptions { stride: args.vid_stride, ..VideoOptions::default() })?;
        let info = reader.info().clone();
        printer.status(format!(
            "{} · {} · {} · {}x{} {} · {}",
            model.display(),
            pipeline.task(),
            pipeline.engine().device(),
            info.width,
            info.height,
            info.codec,
            info.frame_rate.map_or_else(|| "variable frame rate".to_string(), |rate| format!("{rate:.2} frames/s")),
        ));
        let mut output = Output::new(args, video, &info, printer)?;
        let bar = printer.frames(info.frames.map_or(0, |frames| frames.div_ceil(args.vid_stride)), "detecting");
        let started = Instant::now();
        let mut failure = None;
        let mut each =
            |frame: StreamFrame, line: String, detections: Vec<(Option<u64>, &Detection)>, counts: &Counts| {
                let written = output.frame(&frame, &line, detections, counts, &bar);
                bar.inc(1);
                written
            };
        let mut stopped = Ok(());
        let frames = match tracking {
            Some(tracking) => {
                let mut tracker = Tracker::new(tracking);
                let frames = sequence::track_stream(pipeline, reader, &mut tracker, |result| match result {
                    Ok((frame, record)) if stopped.is_ok() => {
                        let line = if args.json { record.json_line() } else { record.to_string() };
                        let detections =
                            record.detections.iter().map(|tracked| (Some(tracked.track_id), &tracked.detection));
                        stopped = each(frame, line, detections.collect(), &record.counts);
                    }
                    Ok(_) => {}
                    Err(error) => failure = Some(error),
                })?;
                output.tracks = Some(tracker.tracks_confirmed());
                frames
            }
            None => sequence::detect_stream(pipeline, reader, |result| match result {
                Ok((frame, record)) if stopped.is_ok() => {
                    let line = if args.json { record.json_line() } else { record.to_string() };
                    let detections = record.detections.iter().map(|detection| (None, detection));
                    stopped = each(frame, line, detections.collect(), &record.counts);
                }
                Ok(_) => {}
                Err(error) => failure = Some(error),
            })?,
        };
        bar.finish_and_clear();
        stopped?;
        let elapsed = started.elapsed().as_secs_f64();
        printer.status(output.summary(frames, elapsed));
        if let Some(path) = output.finish()? {
            printer.status(format!("annotated video written to `{}`", path.display()));
        }
        if let Some(error) = failure {
            // The frames before the damage were printed; the error says where it stopped.
            eprintln!("error: {error}");
            return Ok(ExitCode::FAILURE);
        }
        Ok(ExitCode::SUCCESS)
    }

    /// Where each frame goes: its line on stdout, its annotated picture into the saved video,
    /// its detections into the summary.
    struct Output<'a> {
        printer: &'a Printer,
        writer: Option<(VideoWriter, StreamOverlay)>,
        save_to: Option<std::path::PathBuf>,
        frame_rate: Option<f64>,
        /// Detections by label (untracked), or track ids by label (tracked).
        found: BTreeMap<String, BTreeSet<u64>>,
        detections: BTreeMap<String, u64>,
        last_counts: Counts,
        tracks: Option<u64>,
    }

    impl<'a> Output<'a> {
        fn new(
            args: &RunArgs,
            video: &Path,
            info: &inferx_runtime::video::VideoInfo,
            printer: &'a Printer,
        ) -> anyhow::Result<Output<'a>> {
            let save_to = match &args.save {
                Some(dir) => {
                    std::fs::create_dir_all(dir).with_context(|| format!("could not create `{}`", dir.display()))?;
                    let stem =
                        video.file_stem().map_or_else(|| "video".into(), |stem| stem.to_string_lossy().into_owned());
                    Some(dir.join(format!("{stem}.mp4")))
                }
                None => None,
            };
            if let Some(path) = &save_to {
                if path.canonicalize().ok().is_some_and(|path| video.canonicalize().is_ok_and(|video| video == path)) {
                    anyhow::bail!("--save would overwrite the input `{}`: choose another folder", video.display());
                }
            }
            Ok(Output {
                printer,
                writer: None,
                save_to,
                frame_rate: info.frame_rate,
                found: BTreeMap::new(),
                detections: BTreeMap::new(),
                last_counts: Counts::default(),
                tracks: None,
            })
        }

        fn frame(
            &mut self,
            frame: &StreamFrame,
            line: &str,
            detections: Vec<(Option<u64>, &Detection)>,
            counts: &Counts,
            bar: &indicatif::ProgressBar,
        ) -> anyhow::Result<()> {
            bar.suspend(|| self.printer.out(line)).context("could not write to stdout")?;
            for (track_id, detection) in &detections {
                *self.detections.entry(detection.label.clone()).or_default() += 1;
                if let Some(track_id) = track_id {
                    self.found.entry(detection.label.clone()).or_default().insert(*track_id);
                }
            }
            self.last_counts = counts.clone();
            if let Some(path) = &self.save_to {
                if self.writer.is_none() {
                    let writer = VideoWriter::create(path, frame.image.width(), frame.image.height(), self.frame_rate)?;
                    self.writer = Some((writer, StreamOverlay::new()));
                }
                if let Some((writer, overlay)) = &mut self.writer {
                    let canvas = overlay.draw(&frame.image, frame.frame, detections, counts);
                    writer.write(&canvas, frame.pts_ms)?;
                }
            }
            Ok(())
        }

        /// `50 frames in 2.0 s (25.0 frames/s) · detections: person 48, car 3 · 4 tracks`.
        fn summary(&self, frames: u64, seconds: f64) -> String {
            let mut line =
                format!("{frames} frames in {seconds:.1} s ({:.1} frames/s)", frames as f64 / seconds.max(1e-9));
            let by_label: Vec<String> = match self.tracks {
                Some(_) => self.found.iter().map(|(label, ids)| format!("{label} {}", ids.len())).collect(),
                None => self.detections.iter().map(|(label, count)| format!("{label} {count}")).collect(),
            };
            let what = if self.tracks.is_some() { "tracks by label" } else { "detections" };
            let listed = if by_label.is_empty() { "none".to_string() } else { by_label.join(", ") };
            line.push_str(&format!(" · {what}: {listed}"));
            if let Some(tracks) = self.tracks {
                line.push_str(&format!(" · {tracks} tracks"));
            }
            if !self.last_counts.is_empty() {
                line.push_str(&format!(" · counts: {}", serde_json::to_string(&self.last_counts).unwrap_or_default()));
            }
            line
        }

        fn finish(self) -> anyhow::Result<Option<std::path::PathBuf>> {
            match self.writer {
                Some((writer, _)) => Ok(Some(writer.finish()?)),
                None => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;
    use crate::cli::{Cli, Command};

    fn run_args(arguments: &[&str]) -> RunArgs {
        let cli = Cli::try_parse_from([&["inferx", "run", "model.onnx"], arguments].concat()).unwrap();
        match cli.command {
            Command::Run(args) => args,
            other => panic!("parsed as {other:?}"),
        }
    }

    #[test]
    fn a_video_is_taken_alone_and_a_build_without_video_names_the_rebuild() {
        let args = run_args(&["clip.MP4"]);
        let found = video_input(&args.inputs, &args);
        if cfg!(feature = "video") {
            assert_eq!(found.unwrap(), Some(PathBuf::from("clip.MP4")));
        } else {
            let message = found.unwrap_err().to_string();
            assert!(message.starts_with("`clip.MP4` is a video, and this inferx was built without video support"));
            assert!(message.contains("apt-get install libavcodec-dev") && message.contains("--features video"));
        }
        let images = run_args(&["a.png", "frames/"]);
        assert_eq!(video_input(&images.inputs, &images).unwrap(), None);
        let mixed = run_args(&["clip.mkv", "a.png"]);
        assert!(video_input(&mixed.inputs, &mixed).unwrap_err().to_string().contains("one video at a time"));
        let stride = run_args(&["a.png", "--vid-stride", "3"]);
        assert!(video_input(&stride.inputs, &stride).unwrap_err().to_string().contains("--vid-stride applies"));
        assert!(Cli::try_parse_from(["inferx", "run", "m.onnx", "clip.mp4", "--vid-stride", "0"]).is_err());
    }
}
