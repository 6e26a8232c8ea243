//! Live sources (the `video` feature) against real servers on 127.0.0.1: an RTSP server
//! (`tests/live/rtsp_server.py`, GStreamer) streaming faster than the model runs, killed and
//! restarted with another frame size mid-run; an HTTP MJPEG server written here; and the
//! sources that must fail at once.

use std::{
    io::Write,
    net::TcpListener,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    thread,
    time::{Duration, Instant},
};

use inferx_runtime::{
    tracking::{Tracker, TrackingConfig},
    video::{self, LiveOptions, LiveReader, Source, SourceReader, StreamRunOptions, VideoOptions},
    Error, Pipeline, PipelineOptions, TaskKind,
};
use serde_json::Value;

use crate::support::*;

fn detector_at_320() -> Pipeline {
    let options = PipelineOptions {
        input_size: Some(320),
        confidence: Some(0.1),
        ..PipelineOptions::for_task(TaskKind::Detection)
    };
    Pipeline::load(detector(), options).unwrap()
}

fn live_options() -> LiveOptions {
    LiveOptions {
        watchdog: Duration::from_secs(3),
        give_up_after: Some(Duration::from_secs(10)),
        ..LiveOptions::default()
    }
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

#[test]
fn an_rtsp_stream_faster_than_the_model_keeps_its_lag_bounded_counts_drops_and_survives_a_restart_with_another_size() {
    let dir = temp_dir();
    let picture = face_picture(dir.path());
    let port = free_port();
    let server = RtspServer::start(port, "480x360", 60, &picture);
    let source = Source::parse(&server.url);
    let reader = SourceReader::open(&source, VideoOptions::default(), live_options()).unwrap();
    assert!(reader.describe().ends_with("live, frames at 480x360"), "{}", reader.describe());
    let opened = Instant::now();
    // 4 s in, the server goes away for 1.5 s and comes back sending 640x480.
    let restart = thread::spawn(move || {
        thread::sleep(Duration::from_secs(4));
        drop(server);
        let down_at = opened.elapsed();
        thread::sleep(Duration::from_millis(1500));
        let server = RtspServer::start(port, "640x480", 60, &picture);
        (server, down_at)
    });
    let pipeline = detector_at_320();
    let mut tracker = Tracker::new(TrackingConfig::default());
    let out = temp_dir();
    let save = video::annotated_video_path(out.path(), &source).unwrap();
    let options =
        StreamRunOptions { json: true, save: Some(save.clone()), duration: Some(Duration::from_secs(11)), stop: None };
    let mut records = Vec::new();
    let summary = video::run_stream(&pipeline, reader, Some(&mut tracker), &options, |line| {
        records.push(serde_json::from_str::<Value>(line).unwrap());
        Ok(())
    })
    .unwrap();
    let (_server, down_at) = restart.join().unwrap();
    assert!(summary.error.is_none(), "{:?}", summary.error);
    let live = summary.live.unwrap();
    eprintln!("{summary}\n{live:?}");
    // Reconnected, and the stream went on after the restart.
    assert!(live.reconnects >= 1, "{live:?}");
    let after_restart = records
        .iter()
        .filter(|record| record["pts_ms"].as_f64().unwrap() > down_at.as_millis() as f64 + 1500.0)
        .count();
    assert!(after_restart >= 10, "{after_restart} frames after the restart");
    // Faster than the model: frames were dropped, none waited in a queue.
    assert_eq!(records.len() as u64, summary.frames);
    assert!(live.dropped > 0 && live.received > summary.frames, "{live:?}, {} frames detected", summary.frames);
    // Frame numbers count every frame received (the dropped leave gaps), times on the arrival clock.
    for pair in records.windows(2) {
        assert!(pair[1]["frame"].as_u64() > pair[0]["frame"].as_u64());
        assert!(pair[1]["pts_ms"].as_f64() > pair[0]["pts_ms"].as_f64());
    }
    // The lag stays one model run or so: it does not grow with the run's length.
    let lags: Vec<f64> = records.iter().map(|record| record["lag_ms"].as_f64().unwrap()).collect();
    let third = lags.len() / 3;
    let (early, late) = (median(&mut lags[..third].to_vec()), median(&mut lags[2 * third..].to_vec()));
    let worst = lags.iter().copied().fold(0.0, f64::max);
    assert!(late < early * 2.0 + 50.0, "the lag grew: {early:.0} ms early, {late:.0} ms late");
    assert!(worst < 1500.0, "a frame waited {worst:.0} ms");
    // One size whatever the camera sends: every frame saved is 480x360, the face keeps its id.
    let saved = ffprobe_frames(&save);
    assert_eq!(saved.len() as u64, summary.frames);
    assert!(saved.iter().all(|&(_, width, height)| (width, height) == (480, 360)), "{saved:?}");
    let ids: std::collections::BTreeSet<u64> = records
        .iter()
        .flat_map(|record| record["detections"].as_array().unwrap().iter().map(|d| d["track_id"].as_u64().unwrap()))
        .collect();
    assert_eq!(ids.len(), 1, "the face's track id changed across the outage: {ids:?}");
    assert!(summary.to_string().contains("1 reconnects") || live.reconnects > 1, "{summary}");
}

/// The face picture as JPEG bytes, one frame of an MJPEG stream.
fn face_jpeg() -> Vec<u8> {
    let dir = temp_dir();
    let picture = inferx_runtime::image::open(face_picture(dir.path())).unwrap();
    let mut jpeg = Vec::new();
    picture.write_to(&mut std::io::Cursor::new(&mut jpeg), inferx_runtime::image::ImageFormat::Jpeg).unwrap();
    jpeg
}

/// Serves `jpeg` as an MJPEG stream (multipart/x-mixed-replace) at 30 frames a second to the
/// first client, for `seconds`.
fn serve_mjpeg(jpeg: Vec<u8>, seconds: f64) -> String {
    serve_mjpeg_connections(jpeg, vec![(seconds, None)])
}

/// Serves `jpeg` as an MJPEG stream at 30 frames a second to one client after another: the
/// `n`th for `connections[n].0` seconds, then, when `connections[n].1` says so, silent for that
/// long with the connection held open (a camera that hangs without closing).
fn serve_mjpeg_connections(jpeg: Vec<u8>, connections: Vec<(f64, Option<Duration>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://127.0.0.1:{}/stream.mjpg", listener.local_addr().unwrap().port());
    thread::spawn(move || {
        for (seconds, silent) in connections {
            let Ok((mut client, _)) = listener.accept() else { return };
            let jpeg = jpeg.clone();
            // Each client on its own thread, so that a silent one does not hold the next.
            thread::spawn(move || {
                let until = Instant::now() + Duration::from_secs_f64(seconds);
                let _ = client.set_read_timeout(Some(Duration::from_secs(1)));
                let mut request = [0; 4096];
                let _ = std::io::Read::read(&mut client, &mut request);
                let _ = client
                    .write_all(b"HTTP/1.0 200 OK\r\nContent-Type: multipart/x-mixed-replace;boundary=frame\r\n\r\n");
                while Instant::now() < until {
                    let head = format!("--frame\r\nContent-Type: image/jpeg\r\nContent-Length: {}\r\n\r\n", jpeg.len());
                    if client
                        .write_all(head.as_bytes())
                        .and_then(|()| client.write_all(&jpeg))
                        .and_then(|()| client.write_all(b"\r\n"))
                        .is_err()
                    {
                        return;
                    }
                    thread::sleep(Duration::from_millis(33));
                }
                if let Some(silent) = silent {
                    thread::sleep(silent);
                }
            });
        }
    });
    url
}

#[test]
fn a_source_that_hangs_without_closing_is_given_up_by_the_watchdog_and_reconnected() {
    // The first connection sends frames for a second, then nothing, held open for a minute;
    // the next one streams again.
    let url = serve_mjpeg_connections(face_jpeg(), vec![(1.0, Some(Duration::from_secs(60))), (10.0, None)]);
    let options = LiveOptions { watchdog: Duration::from_secs(1), ..live_options() };
    let reader = SourceReader::open(&Source::parse(&url), VideoOptions::default(), options).unwrap();
    let run = StreamRunOptions { json: true, duration: Some(Duration::from_secs(5)), ..StreamRunOptions::default() };
    let mut arrivals = Vec::new();
    let started = Instant::now();
    let summary = video::run_stream(&detector_at_320(), reader, None, &run, |_| {
        arrivals.push(started.elapsed());
        Ok(())
    })
    .unwrap();
    assert!(summary.error.is_none(), "{:?}", summary.error);
    let live = summary.live.unwrap();
    assert_eq!(live.reconnects, 1, "{live:?}");
    // A gap of about the watchdog (plus reconnecting), and frames again after it.
    let gap = arrivals.windows(2).map(|pair| pair[1].saturating_sub(pair[0])).max().unwrap();
    assert!(gap >= Duration::from_millis(900) && gap < Duration::from_secs(3), "longest gap {gap:?}");
    let resumed = arrivals.iter().filter(|at| **at > Duration::from_millis(2500)).count();
    assert!(resumed >= 3, "{resumed} frames after the reconnect: {summary}");
}

#[test]
fn an_http_mjpeg_stream_is_read_and_detected_with_its_lag() {
    let jpeg = face_jpeg();
    let url = serve_mjpeg(jpeg, 6.0);
    let source = Source::parse(&url);
    let reader = SourceReader::open(&source, VideoOptions::default(), live_options()).unwrap();
    let options =
        StreamRunOptions { json: true, duration: Some(Duration::from_secs(2)), ..StreamRunOptions::default() };
    let mut records = Vec::new();
    let summary = video::run_stream(&detector_at_320(), reader, None, &options, |line| {
        records.push(serde_json::from_str::<Value>(line).unwrap());
        Ok(())
    })
    .unwrap();
    assert!(summary.error.is_none(), "{:?}", summary.error);
    assert!(records.len() >= 5, "{} frames in 2 s", records.len());
    assert!(records.iter().all(|record| record["lag_ms"].as_f64().is_some_and(|lag| lag >= 0.0)));
    assert!(summary.detections.values().sum::<u64>() >= records.len() as u64, "{summary}");
    assert!(summary.stopped_early);
}

#[test]
fn an_unreachable_url_fails_at_once_naming_it_without_its_password() {
    let port = free_port();
    for url in [
        format!("rtsp://admin:s3cret@127.0.0.1:{port}/live"),
        format!("http://127.0.0.1:{port}/video.mjpg?password=s3cret"),
    ] {
        let started = Instant::now();
        let error = LiveReader::open(&Source::parse(&url), live_options()).err().unwrap();
        assert!(started.elapsed() < Duration::from_secs(3), "{url}: {:?}", started.elapsed());
        assert!(matches!(error, Error::Live { .. }), "{error:?}");
        let message = error.to_string();
        assert!(!message.contains("s3cret") && message.contains("***"), "{message}");
        assert!(message.contains("the connection was refused") && message.contains("server is running"), "{message}");
    }
}

#[test]
fn stopping_ends_a_silent_source_at_once_with_the_summary() {
    // The server goes away after the first connection: the source is lost and reconnecting.
    let dir = temp_dir();
    let server = RtspServer::start(free_port(), "320x240", 30, &face_picture(dir.path()));
    let reader = SourceReader::open(&Source::parse(&server.url), VideoOptions::default(), live_options()).unwrap();
    drop(server);
    let stop = Arc::new(AtomicBool::new(false));
    let setter = Arc::clone(&stop);
    thread::spawn(move || {
        thread::sleep(Duration::from_millis(1500));
        setter.store(true, Ordering::Relaxed);
    });
    let started = Instant::now();
    let options = StreamRunOptions { stop: Some(stop), ..StreamRunOptions::default() };
    let summary = video::run_stream(&detector_at_320(), reader, None, &options, |_| Ok(())).unwrap();
    // The server is gone and reconnecting fails, yet the stop is seen within a moment.
    assert!(started.elapsed() < Duration::from_secs(3), "{:?}", started.elapsed());
    assert!(summary.stopped_early && summary.error.is_none(), "{summary:?}");
    assert!(summary.to_string().contains("reconnects"), "{summary}");
}

#[test]
fn max_fps_skips_frames_on_arrival_and_counts_them() {
    let jpeg = face_jpeg();
    let url = serve_mjpeg(jpeg, 5.0);
    let options = LiveOptions { max_fps: Some(4.0), ..live_options() };
    let reader = SourceReader::open(&Source::parse(&url), VideoOptions::default(), options).unwrap();
    let run = StreamRunOptions { duration: Some(Duration::from_secs(2)), ..StreamRunOptions::default() };
    let summary = video::run_stream(&detector_at_320(), reader, None, &run, |_| Ok(())).unwrap();
    let live = summary.live.unwrap();
    // 30 frames a second arrive; 4 a second are kept (the first at once), the rest skipped.
    assert!((4..=10).contains(&summary.frames), "{summary}");
    assert!(live.skipped >= 30, "{live:?}");
    assert!(summary.to_string().contains("skipped (max fps)"), "{summary}");
}

/// Serves, on 127.0.0.1, each `(path, content type, body)` to whoever asks for it (HTTP/1.0,
/// one request a connection, for the test's life).
fn serve_files(files: Vec<(&'static str, &'static str, Vec<u8>)>) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://127.0.0.1:{}", listener.local_addr().unwrap().port());
    let files = Arc::new(files);
    thread::spawn(move || {
        for client in listener.incoming() {
            let Ok(mut client) = client else { return };
            let files = Arc::clone(&files);
            thread::spawn(move || {
                let _ = client.set_read_timeout(Some(Duration::from_secs(2)));
                let mut request = [0; 4096];
                let read = std::io::Read::read(&mut client, &mut request).unwrap_or(0);
                let head = String::from_utf8_lossy(&request[..read]).into_owned();
                let path = head.split_whitespace().nth(1).unwrap_or_default().to_string();
                let answer = match files.iter().find(|(name, _, _)| *name == path) {
                    Some((_, content_type, body)) => {
                        let head = format!(
                            "HTTP/1.0 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\n\r\n",
                            body.len()
                        );
                        [head.into_bytes(), body.clone()].concat()
                    }
                    None => b"HTTP/1.0 404 Not Found\r\nContent-Length: 0\r\n\r\n".to_vec(),
                };
                let _ = client.write_all(&answer);
            });
        }
    });
    base
}

#[test]
fn an_hls_playlist_reads_its_http_segments_but_never_a_local_file_it_names() {
    // One second of video as an MPEG-TS segment, served over HTTP and kept in a local file.
    let dir = temp_dir();
    let segment = dir.path().join("segment.ts");
    let made = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=1"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p", "-f", "mpegts"])
        .arg(&segment)
        .status()
        .unwrap();
    assert!(made.success());
    let playlist = |segment_url: &str| {
        format!("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:1\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:1.0,\n{segment_url}\n#EXT-X-ENDLIST\n")
    };
    let local = format!("file://{}", segment.display());
    let remote_playlist = playlist("/segment.ts").into_bytes();
    let local_playlist = playlist(&local).into_bytes();
    let base = serve_files(vec![
        ("/segment.ts", "video/mp2t", std::fs::read(&segment).unwrap()),
        ("/remote.m3u8", "application/vnd.apple.mpegurl", remote_playlist),
        ("/local.m3u8", "application/vnd.apple.mpegurl", local_playlist),
    ]);
    let options = LiveOptions { give_up_after: Some(Duration::from_secs(2)), ..live_options() };
    let frames_of = |url: String| -> (u64, String) {
        let run = StreamRunOptions { duration: Some(Duration::from_secs(4)), ..StreamRunOptions::default() };
        match SourceReader::open(&Source::parse(&url), VideoOptions::default(), options.clone()) {
            Ok(reader) => {
                let summary = video::run_stream(&detector_at_320(), reader, None, &run, |_| Ok(())).unwrap();
                (summary.frames, format!("{summary} {:?}", summary.error))
            }
            Err(error) => (0, error.to_string()),
        }
    };
    // Segments over HTTP, from the playlist's host: read.
    let (frames, said) = frames_of(format!("{base}/remote.m3u8"));
    assert!(frames >= 1, "{frames} frames of the HTTP segment: {said}");
    // A `file:` segment: never read, whatever the playlist says.
    let (frames, said) = frames_of(format!("{base}/local.m3u8"));
    assert_eq!(frames, 0, "the local file named by the playlist was read: {said}");
}
