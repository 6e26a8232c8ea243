//! `POST /predict/video` over real HTTP on 127.0.0.1, on the clips of `scripts/make_clips.sh`:
//! the JSON Lines equal a local run's, the annotated MP4 holds every frame (ffprobe), each bad
//! clip of the video-files issue is refused with its status and the JSON error body, HLS and
//! ffconcat lists naming a local file are refused without opening it, and `/health` answers
//! throughout.

use std::{os::unix::fs::OpenOptionsExt, sync::OnceLock};

use super::*;
use crate::{
    tracking::{Tracker, TrackingConfig},
    video::{self, SourceReader, StreamRunOptions, VideoOptions, VideoReader},
};

/// The clips of `scripts/make_clips.sh`, made once (about 3 s).
fn clips() -> &'static Path {
    static CLIPS: OnceLock<tempfile::TempDir> = OnceLock::new();
    CLIPS
        .get_or_init(|| {
            let dir = tempfile::Builder::new().prefix("inferx-upload-clips-").tempdir().unwrap();
            let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scripts/make_clips.sh");
            let status = std::process::Command::new("bash").arg(script).arg(dir.path()).status().unwrap();
            assert!(status.success(), "scripts/make_clips.sh failed: run `bash scripts/video-env.sh` for ffmpeg");
            dir
        })
        .path()
}

fn clip(name: &str) -> Vec<u8> {
    std::fs::read(clips().join(name)).unwrap()
}

/// An answer read off the socket: status, headers (lower-case names) and the body, de-chunked.
struct Answer {
    status: u16,
    headers: BTreeMap<String, String>,
    body: Vec<u8>,
}

impl Answer {
    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|error| panic!("not JSON ({error}): {}", self.text()))
    }

    /// The status and our error's code.
    fn refusal(&self) -> (u16, String) {
        (self.status, self.json()["error"]["code"].as_str().unwrap_or_default().to_string())
    }

    fn message(&self) -> String {
        self.json()["error"]["message"].as_str().unwrap_or_default().to_string()
    }
}

/// One HTTP/1.1 request on a connection of its own, read to its close (at most 60 s).
async fn request(address: std::net::SocketAddr, head: &str, body: &[u8]) -> Answer {
    let mut stream = TcpStream::connect(address).await.unwrap();
    let head = format!("{head}\r\nHost: {address}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    stream.write_all(head.as_bytes()).await.unwrap();
    // The server may answer (413) before the body is all sent, and close.
    let _ = stream.write_all(body).await;
    let mut raw = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), stream.read_to_end(&mut raw))
        .await
        .expect("answered within 60 s")
        .ok();
    let split = raw.windows(4).position(|window| window == b"\r\n\r\n").expect("a whole head");
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines.next().unwrap().split_whitespace().nth(1).unwrap().parse().unwrap();
    let headers: BTreeMap<String, String> = lines
        .filter_map(|line| line.split_once(':'))
        .map(|(name, value)| (name.trim().to_ascii_lowercase(), value.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    if headers.get("transfer-encoding").is_some_and(|coding| coding == "chunked") {
        body = dechunk(&body);
    }
    Answer { status, headers, body }
}

fn dechunk(mut chunked: &[u8]) -> Vec<u8> {
    let mut body = Vec::new();
    loop {
        let end = chunked.windows(2).position(|window| window == b"\r\n").expect("a chunk size line");
        let size = usize::from_str_radix(std::str::from_utf8(&chunked[..end]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            return body;
        }
        body.extend_from_slice(&chunked[end + 2..end + 2 + size]);
        chunked = &chunked[end + 2 + size + 2..];
    }
}

async fn upload(address: std::net::SocketAddr, query: &str, accept: &str, clip: &[u8]) -> Answer {
    let head = format!("POST /predict/video{query} HTTP/1.1\r\nContent-Type: video/mp4\r\nAccept: {accept}");
    request(address, &head, clip).await
}

async fn assert_healthy(address: std::net::SocketAddr) {
    let health = request(address, "GET /health HTTP/1.1", b"").await;
    assert_eq!((health.status, health.json()), (200, json!({ "status": "ok" })));
}

/// The JSON Lines `inferx run --json` prints for `name` on the same model: `video::run_stream`
/// on the pipeline itself; tracked, on the pipeline with the threshold lowered as
/// `inferx run --track` lowers it.
fn local_run(name: &str, tracking: Option<TrackingConfig>) -> String {
    let reader = VideoReader::open(clips().join(name), VideoOptions::default()).unwrap();
    let pipeline = match &tracking {
        Some(tracking) => {
            let confidence = crate::sequence::tracking_confidence(Some(model().decode_options().confidence), tracking);
            let options = PipelineOptions {
                input_size: Some(320),
                confidence: Some(confidence),
                ..PipelineOptions::for_task(TaskKind::Detection)
            };
            Arc::new(Pipeline::load(fixture("models/nudenet-320n.onnx"), options).unwrap())
        }
        None => model(),
    };
    let mut tracker = tracking.map(Tracker::new);
    let mut lines = String::new();
    let options = StreamRunOptions { json: true, ..StreamRunOptions::default() };
    let summary = video::run_stream(&*pipeline, SourceReader::File(reader), tracker.as_mut(), &options, |line| {
        lines.push_str(line);
        lines.push('\n');
        Ok(())
    })
    .unwrap();
    assert!(summary.error.is_none() && summary.frames > 0, "{summary}");
    lines
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_uploaded_clip_gives_a_local_runs_json_lines_and_an_annotated_mp4_of_every_frame() {
    let state = server(|_| {}, "", false);
    let served = serve(state.clone(), ConnectionsConfig::default()).await;
    let faces = clip("faces.mp4");

    let answer = upload(served.address, "", "application/x-ndjson", &faces).await;
    assert_eq!(answer.status, 200, "{}", answer.text());
    assert_eq!(answer.headers.get("content-type").map(String::as_str), Some("application/x-ndjson"));
    let expected = tokio::task::spawn_blocking(|| local_run("faces.mp4", None)).await.unwrap();
    assert_eq!(answer.text(), expected, "the records of a local run, byte for byte");
    assert_eq!(expected.lines().count(), 16);
    assert!(expected.contains("\"label\""), "something is detected: {expected}");

    // Tracked with the project's settings, as `inferx run --track` with the same detections.
    let tracked = upload(served.address, "?track=true", "*/*", &faces).await;
    let expected =
        tokio::task::spawn_blocking(|| local_run("faces.mp4", Some(TrackingConfig::default()))).await.unwrap();
    assert_eq!(tracked.text(), expected);
    assert!(expected.contains("\"track_id\""), "{expected}");

    // The annotated MP4: an H.264 file of every frame.
    let mp4 = upload(served.address, "", "video/mp4", &faces).await;
    assert_eq!(mp4.status, 200, "{}", mp4.text());
    assert_eq!(mp4.headers.get("content-type").map(String::as_str), Some("video/mp4"));
    assert_eq!(mp4.headers.get("x-inferx-frames").map(String::as_str), Some("16"));
    let folder = tempfile::tempdir().unwrap();
    let saved = folder.path().join("annotated.mp4");
    std::fs::write(&saved, &mp4.body).unwrap();
    let probe = std::process::Command::new("ffprobe")
        .args(["-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries"])
        .args(["stream=codec_name,nb_read_frames,width,height", "-of", "csv=p=0"])
        .arg(&saved)
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&probe.stdout).trim(), "h264,480,360,16", "{probe:?}");

    // A multipart upload, as `curl -F file=@clip.mp4` sends it.
    let (content_type, body) = multipart(&[&faces]);
    let head = format!("POST /predict/video HTTP/1.1\r\nContent-Type: {content_type}");
    let parted = request(served.address, &head, &body).await;
    assert_eq!(parted.text().lines().count(), 16, "{}", parted.text());
    assert_eq!(state.metrics().in_flight.get(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_bad_clip_is_refused_with_its_status_and_a_json_error_and_health_answers_throughout() {
    let state = server(
        |server| {
            server.video.max_upload_bytes = 64 << 10;
            server.video.max_duration_s = 2.5;
        },
        "",
        false,
    );
    let served = serve(state.clone(), ConnectionsConfig::default()).await;
    let bad_dir = clips().join("bad");
    let cases: [(&str, Vec<u8>, u16, &str, &str); 8] = [
        ("truncated", clip("bad/truncated.mp4"), 422, "unprocessable_video", "header cannot be read"),
        ("no video stream", clip("bad/audio_only.mp4"), 422, "unprocessable_video", "no video stream"),
        ("text named .mp4", clip("bad/text.mp4"), 415, "unsupported_media_type", "not a video container"),
        ("unsupported codec", clip("bad/unknown_codec.mkv"), 415, "unsupported_media_type", "codec"),
        ("MPEG-TS", clip("size_change.ts"), 415, "unsupported_media_type", "`mpegts` is not accepted"),
        ("longer than allowed", clip("vfr.mkv"), 422, "unprocessable_video", "server.video.max_duration_s"),
        ("over the size limit", vec![0; 65 << 10], 413, "payload_too_large", "server.video.max_upload_bytes"),
        ("empty", Vec::new(), 400, "bad_request", "empty"),
    ];
    for (case, body, status, code, words) in cases {
        let answer = upload(served.address, "", "application/x-ndjson", &body).await;
        assert_eq!(answer.refusal(), (status, code.to_string()), "{case}: {}", answer.text());
        let message = answer.message();
        assert!(message.contains(words), "{case}: {message}");
        for internal in ["/tmp", bad_dir.to_str().unwrap(), "avformat", "AVERROR", "panicked"] {
            assert!(!message.contains(internal), "{case} tells no internals: {message}");
        }
        assert_healthy(served.address).await;
    }

    // Damaged midway: the frames before the damage, then one error line.
    let damaged = upload(served.address, "", "application/x-ndjson", &clip("bad/damaged.mp4")).await;
    assert_eq!(damaged.status, 200);
    let lines: Vec<Value> = damaged.text().lines().map(|line| serde_json::from_str(line).unwrap()).collect();
    let (error, frames) = lines.split_last().unwrap();
    assert!(frames.len() >= 10 && frames.iter().all(|line| line.get("frame").is_some()), "{}", damaged.text());
    assert_eq!(
        (error["error"]["status"].as_u64(), error["error"]["code"].as_str()),
        (Some(422), Some("unprocessable_video"))
    );
    assert!(error["error"]["message"].as_str().unwrap().contains("damaged"), "{error}");
    // The same clip as an MP4: the error alone.
    let damaged_mp4 = upload(served.address, "", "video/mp4", &clip("bad/damaged.mp4")).await;
    assert_eq!(damaged_mp4.refusal(), (422, "unprocessable_video".into()));

    // Not a video by its Content-Type; an unknown query parameter.
    let png = request(served.address, "POST /predict/video HTTP/1.1\r\nContent-Type: image/png", &png(64, 64)).await;
    assert_eq!(png.refusal(), (415, "unsupported_media_type".into()));
    let query = upload(served.address, "?tracking=yes", "*/*", &clip("h264.mov")).await;
    assert_eq!(query.refusal(), (400, "bad_request".into()));
    assert_healthy(served.address).await;
    assert!(state.frame_lane(crate::server::FrameLoop::Upload).is_some(), "every clip gave its place back");

    // No place for another clip: 503 before the body is read (its declared length is never sent).
    let full = server(|server| server.video.max_uploads = 0, "", false);
    let full = serve(full, ConnectionsConfig::default()).await;
    let head = format!("POST /predict/video HTTP/1.1\r\nHost: {}\r\nContent-Type: video/mp4\r\nContent-Length: 50000\r\nConnection: close\r\n\r\n", full.address);
    let mut stream = sending(full.address, head.as_bytes()).await;
    let (answer, _) = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 503"), "{answer}");
    assert!(
        answer.to_ascii_lowercase().contains("retry-after: 1") && answer.contains("server.video.max_uploads"),
        "{answer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hls_and_ffconcat_lists_naming_a_local_file_are_refused_without_opening_it() {
    let state = server(|_| {}, "", false);
    let served = serve(state, ConnectionsConfig::default()).await;
    // A FIFO: whoever opened it to read would block until a writer came, and a writer that
    // opens it without blocking fails unless a reader holds it.
    let folder = tempfile::tempdir().unwrap();
    let target = folder.path().join("local.mp4");
    let fifo = std::ffi::CString::new(target.to_str().unwrap()).unwrap();
    // SAFETY: a valid C string; mkfifo only creates the file.
    assert_eq!(unsafe { libc::mkfifo(fifo.as_ptr(), 0o600) }, 0);
    let target = target.display();
    let lists = [
        ("hls", format!("#EXTM3U\n#EXT-X-VERSION:3\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:0\n#EXTINF:2.0,\nfile://{target}\n#EXTINF:2.0,\n{target}\n#EXT-X-ENDLIST\n")),
        ("concat", format!("ffconcat version 1.0\nfile '{target}'\nfile 'file:{target}'\n")),
    ];
    for (demuxer, list) in lists {
        let started = Instant::now();
        let answer = upload(served.address, "", "*/*", list.as_bytes()).await;
        assert_eq!(answer.refusal(), (415, "unsupported_media_type".into()), "{demuxer}: {}", answer.text());
        assert!(started.elapsed() < Duration::from_secs(5), "{demuxer}: answered at once");
        assert!(!answer.message().contains(&target.to_string()), "{demuxer}: {}", answer.message());
        let writer = std::fs::OpenOptions::new()
            .write(true)
            .custom_flags(libc::O_NONBLOCK)
            .open(folder.path().join("local.mp4"));
        assert_eq!(
            writer.map_err(|error| error.raw_os_error()).err(),
            Some(Some(libc::ENXIO)),
            "{demuxer}: no reader holds the local file"
        );
    }
    assert_healthy(served.address).await;

    // The route is documented, with its example.
    let openapi = request(served.address, "GET /openapi.json HTTP/1.1", b"").await.json();
    let route = &openapi["paths"]["/predict/video"]["post"];
    assert_eq!(route["parameters"][0]["name"], "track");
    for status in ["200", "413", "415", "422", "503"] {
        assert!(route["responses"].get(status).is_some(), "{status}: {route}");
    }
    let docs = request(served.address, "GET /docs HTTP/1.1", b"").await.text();
    assert!(docs.contains("curl -F file=@clip.mp4 "), "the docs page's example uploads a clip");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_a_clip_in_progress_with_a_503_line_within_the_grace_period() {
    // A minute of video: far longer to run than the test waits.
    let folder = tempfile::tempdir().unwrap();
    let long = folder.path().join("long.mp4");
    let made = std::process::Command::new("ffmpeg")
        .args(["-hide_banner", "-loglevel", "error", "-f", "lavfi", "-i", "testsrc=size=160x120:rate=25:duration=60"])
        .args(["-c:v", "libx264", "-preset", "ultrafast", "-pix_fmt", "yuv420p"])
        .arg(&long)
        .status()
        .unwrap();
    assert!(made.success());
    let state = tokio::task::spawn_blocking(|| {
        server(
            |config| {
                config.shutdown.drain_delay_ms = 0;
                config.shutdown.grace_period_ms = 5_000;
            },
            "",
            false,
        )
    })
    .await
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let serving = tokio::spawn(crate::server::serve_on_until(listener, axum::Router::new(), state.clone(), async {
        let _ = stopped.await;
    }));
    let clip = std::fs::read(&long).unwrap();
    let answer = tokio::spawn(async move { upload(address, "", "application/x-ndjson", &clip).await });
    // The clip is running: its frames are being predicted.
    let started = Instant::now();
    while sample(&state, "inferx_batch_size_count") < 10.0 {
        assert!(started.elapsed() < Duration::from_secs(20), "the clip never ran");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let asked = Instant::now();
    stop.send(()).unwrap();
    let answer = answer.await.unwrap();
    serving.await.unwrap().expect("the server stops within the grace period with a clip running");
    assert!(asked.elapsed() < Duration::from_secs(3), "stopping took {:?}", asked.elapsed());
    assert_eq!(answer.status, 200, "{}", answer.text());
    let text = answer.text();
    let lines: Vec<&str> = text.lines().collect();
    assert!(lines.len() > 10 && lines.len() < 1500, "{} lines", lines.len());
    let last: Value = serde_json::from_str(lines[lines.len() - 1]).unwrap();
    assert_eq!(last["error"]["status"], 503, "{last}");
    let message = last["error"]["message"].as_str().unwrap();
    assert!(message.contains("shutting down") && message.contains("send it again"), "{message}");
    let before: Value = serde_json::from_str(lines[lines.len() - 2]).unwrap();
    assert_eq!(before["frame"].as_u64(), Some(lines.len() as u64 - 2), "every frame before the stop, in order");
}
