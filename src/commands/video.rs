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

/// The video or live source among the inputs, if one is: alone (one per run), and known to
/// this build. URLs are named with their credentials redacted.
pub(crate) fn video_input(inputs: &[PathBuf], args: &RunArgs) -> anyhow::Result<Option<PathBuf>> {
    use inferx_runtime::inputs::{display_input, is_live_input, is_video_path};
    let Some(video) = inputs.iter().find(|path| is_video_path(path) || is_live_input(path)) else {
        if args.vid_stride != 1 {
            bail!("--vid-stride applies to a video file, and no input is one (mp4, mkv, webm, avi, mov...)");
        }
        for (flag, given) in [
            ("--duration", args.duration.is_some()),
            ("--max-fps", args.max_fps.is_some()),
            ("--rtsp-udp", args.rtsp_udp),
        ] {
            if given {
                bail!("{flag} applies to a live source (rtsp://, http(s)://, /dev/videoN) or a video, and no input is one");
            }
        }
        return Ok(None);
    };
    let (shown, what) = (display_input(video), if is_live_input(video) { "a live source" } else { "a video" });
    if inputs.len() > 1 {
        bail!(
            "`{shown}` is {what}: run one video or live source at a time, without other inputs ({} given)",
            inputs.len()
        );
    }
    if !cfg!(feature = "video") {
        bail!("`{shown}` is {what}, and this inferx was built without video support: {REBUILD}");
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
    bail!(
        "`{}` is a video, and this inferx was built without video support: {REBUILD}",
        inferx_runtime::inputs::display_input(video)
    )
}

#[cfg(feature = "video")]
pub(crate) use with_video::run;

#[cfg(feature = "video")]
mod with_video {
    use std::{path::Path, process::ExitCode, time::Duration};

    use anyhow::Context;
    use inferx_runtime::{
        tracking::{Tracker, TrackingConfig},
        video::{self, LiveOptions, RtspTransport, Source, SourceReader, StreamRunOptions, VideoOptions},
        PipelineOptions, PipelinePool,
    };

    use crate::{cli::RunArgs, output::Printer};

    /// Runs the video or live source through the model and prints a record per frame.
    pub(crate) fn run(
        args: &RunArgs,
        model: &Path,
        options: PipelineOptions,
        tracking: Option<TrackingConfig>,
        video: &Path,
        printer: &Printer,
    ) -> anyhow::Result<ExitCode> {
        // One session: a stream's frames come one after another from one decoder.
        let pool =
            PipelinePool::load(model, options, 1).with_context(|| format!("could not load `{}`", model.display()))?;
        let pipeline = pool.primary();
        let source = Source::parse(&video.to_string_lossy());
        let live = LiveOptions {
            transport: if args.rtsp_udp { RtspTransport::Udp } else { RtspTransport::Tcp },
            max_fps: args.max_fps,
            ..LiveOptions::default()
        };
        let reader =
            SourceReader::open(&source, VideoOptions { stride: args.vid_stride, ..VideoOptions::default() }, live)?;
        printer.status(format!(
            "{} · {} · {} · {}",
            model.display(),
            pipeline.task(),
            pipeline.engine().device(),
            reader.describe()
        ));
        let save = args.save.as_deref().map(|dir| video::annotated_video_path(dir, &source)).transpose()?;
        let run_options = StreamRunOptions {
            json: args.json,
            save,
            duration: args.duration.map(Duration::from_secs_f64),
            stop: Some(video::stop_on_signals()?),
        };
        let length = reader.info().and_then(|info| info.frames).map_or(0, |frames| frames.div_ceil(args.vid_stride));
        let mut tracker = tracking.map(Tracker::new);
        let bar = printer.frames(length, "detecting");
        let summary = video::run_stream(pipeline, reader, tracker.as_mut(), &run_options, |line| {
            bar.inc(1);
            bar.suspend(|| printer.out(line))
        })?;
        bar.finish_and_clear();
        printer.status(summary.to_string());
        if let Some(path) = &summary.saved {
            printer.status(format!("annotated video written to `{}`", path.display()));
        }
        if let Some(error) = &summary.error {
            // The frames before the damage were printed; the error says where it stopped.
            eprintln!("error: {error}");
            return Ok(ExitCode::FAILURE);
        }
        Ok(ExitCode::SUCCESS)
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
        assert!(video_input(&mixed.inputs, &mixed)
            .unwrap_err()
            .to_string()
            .contains("one video or live source at a time"));
        let camera = run_args(&["rtsp://admin:s3cret@cam/live", "a.png"]);
        let refused = video_input(&camera.inputs, &camera).unwrap_err().to_string();
        assert!(
            refused.starts_with("`rtsp://***@cam/live` is a live source") && !refused.contains("s3cret"),
            "{refused}"
        );
        let stride = run_args(&["a.png", "--vid-stride", "3"]);
        assert!(video_input(&stride.inputs, &stride).unwrap_err().to_string().contains("--vid-stride applies"));
        assert!(Cli::try_parse_from(["inferx", "run", "m.onnx", "clip.mp4", "--vid-stride", "0"]).is_err());
    }
}
