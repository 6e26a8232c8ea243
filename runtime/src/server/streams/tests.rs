//! Streams over real HTTP on 127.0.0.1, fed by the repo's RTSP test server
//! (`tests/live/rtsp_server.py`, GStreamer: `scripts/live-env.sh`) streaming the astronaut
//! photo, on the detector of the server tests. Each stream runs a few seconds.

use std::{
    net::SocketAddr,
    path::Path,
    time::{Duration, Instant},
};

use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
    task::JoinHandle,
};

use crate::{
    config::ServerConfig,
    server::{
        tests::{fixture, server},
        AppState, ServeError,
    },
    streams_config::StreamSpec,
};

const KEY: &str = "stream-key-0123456789abcdef";

/// `tests/live/rtsp_server.py` streaming the astronaut photo at `size` and `fps` on
/// rtsp://127.0.0.1:`port`/live; killed when dropped.
struct RtspServer(std::process::Child);

impl RtspServer {
    fn start(port: u16, size: &str, fps: u32) -> RtspServer {
        use std::io::BufRead;
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/live/rtsp_server.py");
        let mut child = std::process::Command::new("/usr/bin/python3")
            .arg(script)
            .args([
                "--port",
                &port.to_string(),
                "--size",
                size,
                "--fps",
                &fps.to_string(),
                "--seconds",
                "3600",
                "--image",
            ])
            .arg(fixture("images/astronaut.png"))
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs tests/live/rtsp_server.py (scripts/live-env.sh installs its packages)");
        let mut line = String::new();
        let _ = std::io::BufReader::new(child.stdout.take().expect("piped")).read_line(&mut line);
        assert!(line.starts_with("ready "), "the RTSP server did not start (`{line}`): run `bash scripts/live-env.sh`");
        RtspServer(child)
    }
}

impl Drop for RtspServer {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// A server on 127.0.0.1 with streams set by `configure`, API key [`KEY`]; stopped (as by
/// SIGTERM) through the sender.
async fn serve(
    configure: impl FnOnce(&mut ServerConfig) + Send + 'static,
) -> (SocketAddr, AppState, oneshot::Sender<()>, JoinHandle<Result<(), ServeError>>) {
    serve_routes(axum::Router::new(), configure).await
}

/// [`serve`] with the project's own routes.
async fn serve_routes(
    routes: axum::Router<AppState>,
    configure: impl FnOnce(&mut ServerConfig) + Send + 'static,
) -> (SocketAddr, AppState, oneshot::Sender<()>, JoinHandle<Result<(), ServeError>>) {
    let state = tokio::task::spawn_blocking(move || {
        server(
            |config| {
                config.shutdown.grace_period_ms = 5_000;
                configure(config);
            },
            KEY,
            false,
        )
    })
    .await
    .unwrap();
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn(super::super::serve_on_until(listener, routes, state.clone(), async move {
        let _ = stopped.await;
    }));
    (address, state, stop, serving)
}

/// One request on its own connection: the status and the JSON body.
async fn call(address: SocketAddr, method: &str, path: &str, key: Option<&str>, body: Option<Value>) -> (u16, Value) {
    let mut connection = TcpStream::connect(address).await.unwrap();
    let body = body.map(|body| body.to_string()).unwrap_or_default();
    let key = key.map(|key| format!("x-api-key: {key}\r\n")).unwrap_or_default();
    let request = format!(
        "{method} {path} HTTP/1.1\r\nhost: test\r\n{key}content-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
        body.len()
    );
    connection.write_all(request.as_bytes()).await.unwrap();
    let mut answer = String::new();
    tokio::time::timeout(Duration::from_secs(20), connection.read_to_string(&mut answer)).await.unwrap().unwrap();
    let status = answer[9..12].parse().unwrap();
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or(Value::Null))
}

/// An event as a client reads it.
#[derive(Debug, Clone)]
struct Event {
    id: Option<u64>,
    kind: String,
    data: Value,
}

/// An SSE connection (HTTP/1.0, so the body ends with the connection, unchunked).
struct Sse {
    connection: TcpStream,
    buffer: String,
}

impl Sse {
    async fn open(address: SocketAddr, id: &str, last_event_id: Option<u64>) -> Sse {
        let mut connection = TcpStream::connect(address).await.unwrap();
        let resume = last_event_id.map(|id| format!("last-event-id: {id}\r\n")).unwrap_or_default();
        let request = format!("GET /streams/{id}/events HTTP/1.0\r\nx-api-key: {KEY}\r\n{resume}\r\n");
        connection.write_all(request.as_bytes()).await.unwrap();
        let mut sse = Sse { connection, buffer: String::new() };
        while !sse.buffer.contains("\r\n\r\n") {
            assert!(sse.fill(Duration::from_secs(10)).await, "no answer to the events request");
        }
        let (head, rest) = sse.buffer.split_once("\r\n\r\n").unwrap();
        assert!(head.starts_with("HTTP/1.0 200") || head.starts_with("HTTP/1.1 200"), "{head}");
        assert!(head.to_ascii_lowercase().contains("content-type: text/event-stream"), "{head}");
        sse.buffer = rest.to_string();
        sse
    }

    /// Reads more; false at the end of the body or after `within`.
    async fn fill(&mut self, within: Duration) -> bool {
        let mut chunk = [0; 16384];
        match tokio::time::timeout(within, self.connection.read(&mut chunk)).await {
            Ok(Ok(read)) if read > 0 => {
                self.buffer.push_str(&String::from_utf8_lossy(&chunk[..read]));
                true
            }
            _ => false,
        }
    }

    /// The next event, or `None` when the body ends (or nothing comes for 10 s).
    async fn next(&mut self) -> Option<Event> {
        loop {
            if let Some((text, rest)) = self.buffer.split_once("\n\n") {
                let (text, rest) = (text.to_string(), rest.to_string());
                self.buffer = rest;
                let field = |name: &str| text.lines().find_map(|line| line.strip_prefix(name)).map(str::to_string);
                let Some(data) = field("data: ") else { continue }; // a keep-alive comment
                return Some(Event {
                    id: field("id: ").map(|id| id.parse().unwrap()),
                    kind: field("event: ").unwrap_or_default(),
                    data: serde_json::from_str(&data).unwrap(),
                });
            }
            if !self.fill(Duration::from_secs(10)).await {
                return None;
            }
        }
    }

    /// Events until `enough` says so (or the body ends), within 20 s.
    async fn until(&mut self, mut enough: impl FnMut(&[Event]) -> bool) -> Vec<Event> {
        let deadline = Instant::now() + Duration::from_secs(20);
        let mut events = Vec::new();
        while !enough(&events) && Instant::now() < deadline {
            match self.next().await {
                Some(event) => events.push(event),
                None => break,
            }
        }
        events
    }
}

/// The ids of `events`, which must count up by one.
fn consecutive_ids(events: &[Event]) -> Vec<u64> {
    let ids: Vec<u64> = events.iter().map(|event| event.id.expect("every event has an id")).collect();
    for pair in ids.windows(2) {
        assert_eq!(pair[1], pair[0] + 1, "a gap or a repeat in {ids:?}");
    }
    ids
}

fn the_whole_frame(name: &str) -> Value {
    json!({ "name": name, "polygon": [[0, 0], [480, 0], [480, 360], [0, 360]] })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_is_started_followed_resumed_after_its_last_event_id_without_gaps_and_deleted() {
    let port = free_port();
    let _camera = RtspServer::start(port, "480x360", 30);
    let url = format!("rtsp://127.0.0.1:{port}/live");
    let (address, state, stop, serving) = serve(move |config| {
        config.streams.allow_sources = vec![format!("rtsp://127.0.0.1:{port}")];
        config.streams.max = 2;
    })
    .await;

    // Refused: without a key, outside the allow-list, not a live source, past the cap.
    let door = json!({ "name": "door", "source": url, "zones": [the_whole_frame("all")] });
    assert_eq!(call(address, "POST", "/streams", None, Some(door.clone())).await.0, 401);
    for (source, status, words) in [
        (format!("rtsp://127.0.0.1:{}/live", port + 1), 403, "server.streams.allow_sources"),
        (format!("rtsp://127.0.0.1:{port}@169.254.169.254/live"), 403, "server.streams.allow_sources"),
        ("file:///etc/passwd".to_string(), 400, "is not a live source"),
    ] {
        let (got, body) = call(address, "POST", "/streams", Some(KEY), Some(json!({ "source": source }))).await;
        let message = body["error"]["message"].as_str().unwrap_or_default().to_string();
        assert_eq!(got, status, "{source}: {body}");
        assert!(message.contains(words), "{source}: {message}");
    }

    let (status, created) = call(address, "POST", "/streams", Some(KEY), Some(door.clone())).await;
    assert_eq!(status, 201, "{created}");
    assert_eq!((created["id"].as_str(), created["state"].as_str()), (Some("door"), Some("running")));
    assert_eq!(call(address, "POST", "/streams", Some(KEY), Some(door)).await.0, 409, "the name is taken");
    let second = json!({ "source": url, "max_fps": 5 });
    let (status, other) = call(address, "POST", "/streams", Some(KEY), Some(second.clone())).await;
    assert_eq!(status, 201, "{other}");
    let (status, refused) = call(address, "POST", "/streams", Some(KEY), Some(second)).await;
    assert_eq!(status, 503, "server.streams.max is 2: {refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("server.streams.max"), "{refused}");

    // From the first event (Last-Event-ID 0): frames and the zone's entry, numbered without a gap.
    let mut follower = Sse::open(address, "door", Some(0)).await;
    let first = follower
        .until(|events| {
            events.iter().filter(|event| event.kind == "frame").count() >= 10
                && events.iter().any(|event| event.kind == "zone_entered")
        })
        .await;
    let ids = consecutive_ids(&first);
    assert_eq!(ids[0], 1);
    let frame = first.iter().find(|event| event.kind == "frame").unwrap();
    assert!(frame.data["detections"].is_array() && frame.data["lag_ms"].as_f64().is_some(), "{:?}", frame.data);
    let entered = first.iter().find(|event| event.kind == "zone_entered").expect("the face enters the zone");
    assert_eq!(entered.data["zone"], "all");
    assert!(
        entered.data["frame"].as_u64().is_some() && entered.data["track_id"].as_u64().is_some(),
        "{:?}",
        entered.data
    );
    drop(follower);

    // Away for a moment, then back after the last id read: the next id, and none missing.
    tokio::time::sleep(Duration::from_millis(700)).await;
    let last = *ids.last().unwrap();
    let mut resumed = Sse::open(address, "door", Some(last)).await;
    let again = resumed.until(|events| events.len() >= 20).await;
    assert_eq!(again[0].id, Some(last + 1), "resumed after {last}: {:?}", again[0]);
    consecutive_ids(&again);
    // An id the buffer no longer has (here: one of another run) gets a reset first.
    let mut stale = Sse::open(address, "door", Some(u64::MAX - 1)).await;
    let reset = stale.next().await.unwrap();
    assert_eq!((reset.kind.as_str(), reset.id), ("reset", None), "{reset:?}");
    drop(stale);

    let (_, listed) = call(address, "GET", "/streams", Some(KEY), None).await;
    assert_eq!(listed["streams"].as_array().unwrap().len(), 2, "{listed}");
    let (_, shown) = call(address, "GET", "/streams/door", Some(KEY), None).await;
    assert!(shown["frames"].as_u64().unwrap() >= 10 && shown["sse_clients"] == 1, "{shown}");
    let (_, openapi) = call(address, "GET", "/openapi.json", None, None).await;
    for (path, method) in
        [("/streams", "post"), ("/streams", "get"), ("/streams/{id}", "delete"), ("/streams/{id}/events", "get")]
    {
        assert!(openapi["paths"][path][method]["responses"].is_object(), "{method} {path} in /openapi.json");
    }
    let events = &openapi["paths"]["/streams/{id}/events"]["get"]["responses"]["200"]["content"];
    assert!(events["text/event-stream"].is_object(), "{events}");
    let (_, docs) = call_text(address, "/docs").await;
    assert!(docs.contains("curl -N -H &quot;Authorization: Bearer $API_KEY&quot;"), "the SSE example streams with -N");
    let (_, metrics) = call_text(address, "/metrics").await;
    assert!(metrics.contains("inferx_stream_frames_total{stream=\"door\"}"), "{metrics}");
    assert!(metrics.contains("inferx_stream_sse_clients{stream=\"door\"} 1"), "{metrics}");

    // Deleted: its loop ends within the bound, the follower gets `end` and its body ends.
    let asked = Instant::now();
    let (status, deleted) = call(address, "DELETE", "/streams/door", Some(KEY), None).await;
    assert_eq!((status, deleted["state"].as_str()), (200, Some("stopped")), "{deleted}");
    assert!(asked.elapsed() < Duration::from_secs(2), "stopping took {:?}", asked.elapsed());
    assert!(deleted["summary"].as_str().unwrap().contains("frames in"), "{deleted}");
    let rest = resumed.until(|_| false).await;
    let end = rest.last().expect("the end event");
    assert_eq!(end.kind, "end", "{rest:?}");
    assert_eq!(end.data["state"], "stopped");
    let (_, kept) = call(address, "GET", "/streams/door", Some(KEY), None).await;
    assert_eq!(kept["state"], "stopped", "kept for a while after it ended: {kept}");
    assert_eq!(call(address, "GET", "/streams/nowhere", Some(KEY), None).await.0, 404);

    stop.send(()).unwrap();
    serving.await.unwrap().expect("the server stops cleanly with a stream running");
    assert!(state.streams().all(state.metrics()).iter().all(|stream| stream.view()["state"] == "stopped"));
}

async fn call_text(address: SocketAddr, path: &str) -> (u16, String) {
    let mut connection = TcpStream::connect(address).await.unwrap();
    connection.write_all(format!("GET {path} HTTP/1.0\r\n\r\n").as_bytes()).await.unwrap();
    let mut answer = String::new();
    connection.read_to_string(&mut answer).await.unwrap();
    (answer[9..12].parse().unwrap(), answer)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_of_the_config_waits_for_its_camera_and_a_client_that_does_not_read_stalls_nobody() {
    let port = free_port();
    let spec = StreamSpec {
        name: Some("gate".into()),
        source: format!("rtsp://127.0.0.1:{port}/live"),
        track: true,
        lines: None,
        zones: None,
        max_fps: None,
    };
    let (address, _state, stop, serving) = serve(move |config| {
        config.streams.start = vec![spec];
        // Room for the reading client on a loaded machine: one further behind is dropped, and
        // this test is about the client that never reads.
        config.streams.replay_events = 512;
    })
    .await;
    // Nothing listens yet: the stream waits, saying why.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let (_, waiting) = call(address, "GET", "/streams/gate", Some(KEY), None).await;
    assert_eq!(waiting["state"], "connecting", "{waiting}");
    assert!(waiting["error"].as_str().unwrap_or_default().contains("refused"), "{waiting}");
    assert!(waiting["from_config"].as_bool().unwrap());

    let _camera = RtspServer::start(port, "480x360", 30);
    // The stream reconnects on its own (its backoff may have grown to a few seconds).
    let waited = Instant::now();
    loop {
        let (_, shown) = call(address, "GET", "/streams/gate", Some(KEY), None).await;
        if shown["state"] == "running" {
            break;
        }
        assert!(waited.elapsed() < Duration::from_secs(20), "the stream never came up: {shown}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A client that never reads, beside one that does.
    let mut idle = TcpStream::connect(address).await.unwrap();
    idle.write_all(format!("GET /streams/gate/events HTTP/1.0\r\nx-api-key: {KEY}\r\n\r\n").as_bytes()).await.unwrap();
    let mut reader = Sse::open(address, "gate", None).await;
    let events = reader.until(|events| events.len() >= 20).await;
    assert!(events.len() >= 20, "{} events", events.len());
    consecutive_ids(&events);
    assert!(events.iter().all(|event| event.kind == "frame"));
    assert!(events.iter().any(|event| !event.data["detections"].as_array().unwrap().is_empty()));
    assert!(events
        .iter()
        .flat_map(|event| event.data["detections"].as_array().unwrap())
        .all(|detection| detection["track_id"].is_u64()));
    let (_, shown) = call(address, "GET", "/streams/gate", Some(KEY), None).await;
    assert_eq!((shown["state"].as_str(), shown["sse_clients"].as_u64()), (Some("running"), Some(2)), "{shown}");

    // SIGTERM: the stream stops, the reader gets `end`, the server ends within the grace period.
    let asked = Instant::now();
    stop.send(()).unwrap();
    let rest = reader.until(|_| false).await;
    assert_eq!(rest.last().map(|event| event.kind.as_str()), Some("end"), "{rest:?}");
    serving.await.unwrap().expect("stopped within the grace period");
    assert!(asked.elapsed() < Duration::from_secs(4), "stopping took {:?}", asked.elapsed());
    drop(idle);
}

/// A keep-alive HTTP/1.1 connection sending one request at a time.
struct KeepAlive(TcpStream);

impl KeepAlive {
    /// Sends a request and reads its answer; the status and the time it took.
    async fn send(&mut self, head: &str, body: &[u8]) -> (u16, Duration) {
        let started = Instant::now();
        self.0.write_all(head.as_bytes()).await.unwrap();
        self.0.write_all(body).await.unwrap();
        let mut answer = Vec::new();
        let mut chunk = [0; 8192];
        let (head_end, length) = loop {
            let read = self.0.read(&mut chunk).await.unwrap();
            assert!(read > 0, "the server closed the connection");
            answer.extend_from_slice(&chunk[..read]);
            if let Some(end) = answer.windows(4).position(|window| window == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&answer[..end]).to_ascii_lowercase();
                let length = head
                    .lines()
                    .find_map(|line| line.strip_prefix("content-length:"))
                    .map_or(0, |value| value.trim().parse::<usize>().unwrap());
                break (end + 4, length);
            }
        };
        while answer.len() < head_end + length {
            let read = self.0.read(&mut chunk).await.unwrap();
            assert!(read > 0, "the server closed the connection");
            answer.extend_from_slice(&chunk[..read]);
        }
        (String::from_utf8_lossy(&answer[9..12]).parse().unwrap(), started.elapsed())
    }
}

fn percentile_ms(values: &mut [Duration], share: f64) -> f64 {
    values.sort();
    let index = ((values.len() - 1) as f64 * share).round() as usize;
    values[index].as_secs_f64() * 1000.0
}

/// `bench/server_streams.sh`: `/health` and `/predict` latency (one client each, one request
/// at a time) while four tracked streams run, against none, in alternating phases of one run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a bench: bash bench/server_streams.sh"]
async fn bench_health_and_predict_latency_with_four_streams_against_none() {
    let seconds: f64 = std::env::var("PHASE_SECONDS").ok().and_then(|value| value.parse().ok()).unwrap_or(10.0);
    let rounds: usize = std::env::var("ROUNDS").ok().and_then(|value| value.parse().ok()).unwrap_or(3);
    let fps: u32 = std::env::var("STREAM_FPS").ok().and_then(|value| value.parse().ok()).unwrap_or(30);
    let port = free_port();
    let _camera = RtspServer::start(port, "640x480", fps);
    let url = format!("rtsp://127.0.0.1:{port}/live");
    let (address, state, stop, serving) = serve_routes(crate::server::tests::project_routes(), move |config| {
        config.streams.allow_sources = vec![format!("rtsp://127.0.0.1:{port}")];
    })
    .await;
    let image = crate::server::tests::astronaut();
    let predict_head = format!(
        "POST /predict HTTP/1.1\r\nhost: bench\r\nx-api-key: {KEY}\r\ncontent-type: image/png\r\ncontent-length: {}\r\n\r\n",
        image.len()
    );
    let health_head = "GET /health HTTP/1.1\r\nhost: bench\r\n\r\n".to_string();
    let mut results: std::collections::BTreeMap<(&str, &str), Vec<Duration>> = Default::default();
    let mut stream_fps = Vec::new();
    for _ in 0..rounds {
        for condition in ["none", "four streams"] {
            let mut ids = Vec::new();
            if condition != "none" {
                for _ in 0..4 {
                    let (status, created) =
                        call(address, "POST", "/streams", Some(KEY), Some(json!({ "source": url, "track": true })))
                            .await;
                    assert_eq!(status, 201, "{created}");
                    ids.push(created["id"].as_str().unwrap().to_string());
                }
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
            let frames_before: u64 = stream_frames(address, &ids).await;
            let phase_start = Instant::now();
            let until = phase_start + Duration::from_secs_f64(seconds);
            let run = |head: String, body: Vec<u8>| async move {
                let mut connection = KeepAlive(TcpStream::connect(address).await.unwrap());
                let mut latencies = Vec::new();
                while Instant::now() < until {
                    let (status, took) = connection.send(&head, &body).await;
                    assert_eq!(status, 200);
                    latencies.push(took);
                    // A client every 20 ms at most: latency, not throughput.
                    tokio::time::sleep(Duration::from_millis(20).saturating_sub(took)).await;
                }
                latencies
            };
            let (health, predict) =
                tokio::join!(run(health_head.clone(), Vec::new()), run(predict_head.clone(), image.to_vec()));
            if !ids.is_empty() {
                let frames = stream_frames(address, &ids).await - frames_before;
                stream_fps.push(frames as f64 / phase_start.elapsed().as_secs_f64() / ids.len() as f64);
            }
            results.entry(("/health", condition)).or_default().extend(health);
            results.entry(("/predict", condition)).or_default().extend(predict);
            for id in ids {
                assert_eq!(call(address, "DELETE", &format!("/streams/{id}"), Some(KEY), None).await.0, 200);
            }
        }
    }
    println!("| route | streams | requests | p50 ms | p99 ms |\n|---|---|---|---|---|");
    for ((route, condition), latencies) in &mut results {
        let count = latencies.len();
        println!(
            "| `{route}` | {condition} | {count} | {:.2} | {:.2} |",
            percentile_ms(latencies, 0.5),
            percentile_ms(latencies, 0.99)
        );
    }
    let mean_fps = stream_fps.iter().sum::<f64>() / stream_fps.len().max(1) as f64;
    println!("frames/s per stream while four ran: {mean_fps:.1} (source {fps} frames/s; the rest dropped as stale)");
    stop.send(()).unwrap();
    serving.await.unwrap().unwrap();
    drop(state);
}

async fn stream_frames(address: SocketAddr, ids: &[String]) -> u64 {
    let mut frames = 0;
    for id in ids {
        frames += call(address, "GET", &format!("/streams/{id}"), Some(KEY), None).await.1["frames"].as_u64().unwrap();
    }
    frames
}
