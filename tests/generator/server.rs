//! The HTTP server of a generated project, compiled and run as users run it, over real HTTP on
//! 127.0.0.1 with the real detector: every endpoint, every error status, auth, rate limits,
//! load shedding, deadlines, the Open Inference Protocol and graceful shutdown.

use std::{
    io::{BufRead, BufReader},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    sync::{mpsc, Arc, Barrier, Mutex},
    time::{Duration, Instant},
};

use inferx_runtime::{config::ServerConfig, ProjectConfig};
use serde_json::{json, Value};

use super::{
    build::shared_target,
    quickstart::{quickstart, PROJECT_NAME},
};
use crate::support::*;

/// The project the book's quick start generated and built (yolo + server, the real detector).
const NAME: &str = PROJECT_NAME;
const KEY_A: &str = "key-a-0123456789abcdef";
const KEY_B: &str = "key-b-0123456789abcdef";
const KEY_C: &str = "key-c-0123456789abcdef";

/// The generated project with the server: the quick start's, built once for every test here.
fn project() -> &'static Path {
    &quickstart().project
}

/// A running server; killed when dropped.
struct Server {
    child: Child,
    url: String,
    stdout: Arc<Mutex<Vec<String>>>,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Writes a config variant beside inferx.yaml and starts `serve` on a free port with it.
fn start(variant: &str, configure: impl FnOnce(&mut ServerConfig, &mut ProjectConfig), env: &[(&str, &str)]) -> Server {
    let project = project();
    let mut config = ProjectConfig::load(&project.join("inferx.yaml")).unwrap();
    let mut server = config.server.clone();
    configure(&mut server, &mut config);
    config.server = server;
    let file = format!("inferx.{variant}.yaml");
    std::fs::write(project.join(&file), config.to_yaml().unwrap()).unwrap();
    let mut child = Command::new(shared_target().join(format!("debug/{NAME}")))
        .current_dir(project)
        .args(["--config", &file, "serve", "--port", "0"])
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let (sender, receiver) = mpsc::channel();
    let lines = Arc::new(Mutex::new(Vec::new()));
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let collected = lines.clone();
    std::thread::spawn(move || {
        for line in stdout.lines().map_while(Result::ok) {
            if let Some(url) = line.strip_prefix("listening on ") {
                let _ = sender.send(url.to_string());
            }
            collected.lock().unwrap().push(line);
        }
    });
    let url = receiver.recv_timeout(Duration::from_secs(60)).expect("the server starts within 60 s");
    Server { child, url, stdout: lines }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A response: status, headers we look at, body.
struct Reply {
    status: u16,
    headers: ureq::http::HeaderMap,
    body: Vec<u8>,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    fn error_code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_string()
    }
}

fn finish(response: Result<ureq::http::Response<ureq::Body>, ureq::Error>) -> Reply {
    let mut response = response.expect("the request completes");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response.body_mut().with_config().limit(64 << 20).read_to_vec().unwrap();
    Reply { status, headers, body }
}

fn get(server: &Server, path: &str, headers: &[(&str, &str)]) -> Reply {
    let mut request = agent().get(format!("{}{path}", server.url));
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    finish(request.call())
}

fn post(server: &Server, path: &str, content_type: &str, body: &[u8], headers: &[(&str, &str)]) -> Reply {
    let mut request = agent().post(format!("{}{path}", server.url)).header("Content-Type", content_type);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    finish(request.send(body))
}

/// A POST that declares a `Content-Length` of `length` and sends none of the body, over a
/// plain socket: the answer must come from the declared size alone. (A client that sends a
/// whole oversized body before reading can see its connection reset by the refusal instead of
/// the 413, whatever the server does.) Returns the status and the body.
fn post_declared(server: &Server, path: &str, length: usize, headers: &[(&str, &str)]) -> (u16, Value) {
    use std::io::{Read, Write};
    let address = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut head = format!(
        "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: image/png\r\nContent-Length: {length}\r\nConnection: close\r\n"
    );
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("the server answers before the body arrives");
    let text = String::from_utf8_lossy(&response);
    let status = text.split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0);
    let body = text.split_once("\r\n\r\n").map_or("", |(_, body)| body);
    (status, serde_json::from_str(body).unwrap_or_else(|error| panic!("not JSON ({error}): {text}")))
}

fn multipart(files: &[&[u8]]) -> (String, Vec<u8>) {
    let boundary = "inferx-test-boundary-7d1f";
    let mut body = Vec::new();
    for (index, file) in files.iter().enumerate() {
        body.extend_from_slice(
            format!("--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{index}.png\"\r\nContent-Type: image/png\r\n\r\n")
                .as_bytes(),
        );
        body.extend_from_slice(file);
        body.extend_from_slice(b"\r\n");
    }
    body.extend_from_slice(format!("--{boundary}--\r\n").as_bytes());
    (format!("multipart/form-data; boundary={boundary}"), body)
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut text = String::new();
    for chunk in bytes.chunks(3) {
        let word = chunk.iter().enumerate().fold(0u32, |word, (index, byte)| word | (*byte as u32) << (16 - 8 * index));
        for index in 0..4 {
            if index <= chunk.len() {
                text.push(ALPHABET[(word >> (18 - 6 * index) & 63) as usize] as char);
            } else {
                text.push('=');
            }
        }
    }
    text
}

/// Sends `count` POST /predict requests at the same moment, each from its own thread; returns
/// once all are on their way.
fn post_together(url: &str, image: &Arc<Vec<u8>>, count: usize) -> Vec<std::thread::JoinHandle<Reply>> {
    let barrier = Arc::new(Barrier::new(count + 1));
    let handles = (0..count)
        .map(|_| {
            let (barrier, image, url) = (barrier.clone(), image.clone(), url.to_string());
            std::thread::spawn(move || {
                barrier.wait();
                finish(agent().post(format!("{url}/predict")).header("Content-Type", "image/png").send(&image[..]))
            })
        })
        .collect();
    barrier.wait();
    handles
}

fn photo(name: &str) -> (PathBuf, Vec<u8>) {
    let path = images().join(name);
    let bytes = std::fs::read(&path).unwrap();
    (path, bytes)
}

/// The `Prediction` part of an `inferx run --json` record.
fn without_timings(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.remove("timings");
        object.remove("image");
    }
    value
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 251) as u8, (y % 241) as u8, 90]));
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

#[test]
fn every_endpoint_answers_and_predictions_equal_inferx_run() {
    let server = start("default", |_, _| {}, &[]);
    let (path, bytes) = photo("astronaut.png");
    let reference = run_json(inferx().arg("run").arg(detector()).arg(&path).args(["--size", "320", "--json"]));
    let expected = without_timings(reference[0].clone());
    assert!(!expected["detections"].as_array().unwrap().is_empty(), "the photo has detections: {expected}");

    // Operations routes.
    assert_eq!(get(&server, "/health", &[]).json(), json!({ "status": "ok" }));
    assert_eq!(get(&server, "/ready", &[]).json(), json!({ "ready": true }));
    let info = get(&server, "/model/info", &[]).json();
    assert_eq!(info["task"], "detection");
    assert_eq!(info["name"], NAME);
    assert_eq!(info["labels"].as_array().unwrap().len(), 18);
    assert_eq!(info["device"], "cpu");
    assert_eq!(info["model"]["inputs"][0]["shape"], json!([-1, 3, 320, 320]), "the session's fixed input");
    assert_eq!(info["versions"]["onnxruntime"], inferx_runtime::ORT_VERSION);
    let openapi = get(&server, "/openapi.json", &[]).json();
    for route in ["/predict", "/predict/batch", "/v2/models/{name}/infer", "/health", "/metrics"] {
        assert!(openapi["paths"].get(route).is_some(), "{route} is documented");
    }
    for page in ["/", "/docs"] {
        let reply = get(&server, page, &[]);
        assert_eq!(reply.status, 200);
        assert!(reply.header("content-type").unwrap().starts_with("text/html"));
    }

    // The same prediction by every way of sending the image, equal to `inferx run`.
    let raw = post(&server, "/predict", "image/png", &bytes, &[("x-request-id", "test-request-1")]);
    assert_eq!(raw.status, 200, "{}", String::from_utf8_lossy(&raw.body));
    assert_eq!(raw.header("x-request-id"), Some("test-request-1"));
    assert_json_close(&without_timings(raw.json()), &expected, 1e-4, "raw");
    let (content_type, body) = multipart(&[&bytes]);
    assert_json_close(
        &without_timings(post(&server, "/predict", &content_type, &body, &[]).json()),
        &expected,
        1e-4,
        "multipart",
    );
    let json_body = json!({ "image": base64(&bytes) }).to_string();
    assert_json_close(
        &without_timings(post(&server, "/predict", "application/json", json_body.as_bytes(), &[]).json()),
        &expected,
        1e-4,
        "base64",
    );

    // A batch keeps order and gives the bad image its own error.
    let (content_type, body) = multipart(&[&bytes, b"not an image at all", &bytes]);
    let batch = post(&server, "/predict/batch", &content_type, &body, &[]);
    assert_eq!(batch.status, 200);
    let results = batch.json()["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 3);
    assert_eq!(results[1]["error"]["status"], 415);
    for index in [0, 2] {
        assert_eq!(results[index]["index"], index);
        assert_json_close(&without_timings(results[index]["prediction"].clone()), &expected, 1e-4, "batch");
    }

    // The annotated image is a PNG of the photo's size.
    let annotated = post(&server, "/predict/annotated", "image/png", &bytes, &[]);
    assert_eq!(annotated.header("content-type"), Some("image/png"));
    let drawn = image::load_from_memory(&annotated.body).unwrap();
    assert_eq!(
        (drawn.width(), drawn.height()),
        (expected["width"].as_u64().unwrap() as u32, expected["height"].as_u64().unwrap() as u32)
    );

    // Errors: each with its status and a JSON body that says what to do.
    let reply = post(&server, "/predict", "text/plain", b"hello", &[]);
    assert_eq!((reply.status, reply.error_code().as_str()), (415, "unsupported_media_type"));
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("multipart/form-data"));
    assert_eq!(post(&server, "/predict", "image/png", b"GIF? no, garbage", &[]).status, 415);
    let truncated = &bytes[..bytes.len() / 3];
    assert_eq!(post(&server, "/predict", "image/png", truncated, &[]).status, 422);
    assert_eq!(post(&server, "/predict", "application/json", b"{\"image\": 12}", &[]).status, 400);
    assert_eq!(post(&server, "/predict", "image/png", b"", &[]).status, 400);
    assert_eq!(get(&server, "/no/such/route", &[]).status, 404);

    // Open Inference Protocol v2: metadata, readiness and a tensor round trip.
    assert_eq!(get(&server, "/v2/health/live", &[]).json()["live"], true);
    assert_eq!(get(&server, "/v2/health/ready", &[]).json()["ready"], true);
    let metadata = get(&server, &format!("/v2/models/{NAME}"), &[]).json();
    assert_eq!(metadata["inputs"][0]["datatype"], "FP32");
    // The session's height and width are fixed to the project's input size; the batch is free.
    assert_eq!(metadata["inputs"][0]["shape"], json!([-1, 3, 320, 320]));
    assert_eq!(metadata["outputs"][0]["shape"][1], 22);
    assert_eq!(get(&server, &format!("/v2/models/{NAME}/ready"), &[]).json()["ready"], true);
    let missing = get(&server, "/v2/models/other", &[]);
    assert_eq!(missing.status, 404);
    assert!(missing.json()["error"].as_str().unwrap().contains(NAME));
    let pipeline = inferx_runtime::Pipeline::from_config_file(project().join("inferx.yaml")).unwrap();
    let decoded = image::load_from_memory(&bytes).unwrap();
    let (input_name, shape, data) = pipeline.image_tensor(&decoded).unwrap();
    let local = pipeline.engine().run(&shape, &data).unwrap();
    let request =
        json!({ "id": "oip-1", "inputs": [{ "name": input_name, "shape": shape, "datatype": "FP32", "data": data }] });
    let reply =
        post(&server, &format!("/v2/models/{NAME}/infer"), "application/json", request.to_string().as_bytes(), &[]);
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let answer = reply.json();
    assert_eq!(answer["id"], "oip-1");
    assert_eq!(answer["model_name"], NAME);
    let output = &answer["outputs"][0];
    assert_eq!(output["shape"], json!(local[0].shape));
    let values: Vec<f64> = output["data"].as_array().unwrap().iter().map(|value| value.as_f64().unwrap()).collect();
    assert_eq!(values.len(), local[0].data.len());
    let worst = values.iter().zip(&local[0].data).map(|(a, b)| (a - *b as f64).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-3, "OIP output differs from a local run by {worst}");
    let bad = json!({ "inputs": [{ "name": input_name, "shape": [1, 3, 2, 2], "datatype": "FP32", "data": [1, 2] }] });
    let reply = post(&server, &format!("/v2/models/{NAME}/infer"), "application/json", bad.to_string().as_bytes(), &[]);
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"].as_str().unwrap().contains("shape"), "{}", reply.json());

    // Metrics count what happened.
    let metrics = String::from_utf8(get(&server, "/metrics", &[]).body).unwrap();
    let predict_ok = metrics
        .lines()
        .find(|line| {
            line.starts_with("inferx_http_requests_total{")
                && line.contains("route=\"/predict\"")
                && line.contains("status=\"200\"")
        })
        .unwrap_or_else(|| panic!("no /predict 200 counter in:\n{metrics}"));
    assert!(predict_ok.ends_with(" 3"), "{predict_ok}");
    for name in [
        "inferx_inference_duration_seconds_count",
        "inferx_batch_size_bucket",
        "inferx_queue_depth",
        "inferx_in_flight_requests",
        "inferx_model_load_seconds",
        "inferx_http_request_duration_seconds_bucket",
    ] {
        assert!(metrics.contains(name), "{name} missing");
    }

    // One JSON access line per request, with the request id.
    let logs = server.stdout.lock().unwrap().clone();
    let line = logs.iter().find(|line| line.contains("test-request-1")).expect("the request is logged");
    let entry: Value = serde_json::from_str(line).unwrap();
    assert_eq!((entry["status"].as_u64(), entry["path"].as_str()), (Some(200), Some("/predict")));
}

#[test]
fn keys_rate_limits_and_size_limits_are_enforced() {
    let server = start(
        "guarded",
        |server, config| {
            server.max_body_bytes = 200_000;
            server.rate_limit.requests_per_second = 1;
            server.rate_limit.burst = 5;
            config.limits.max_dimension = 1024;
        },
        &[("INFERX_API_KEYS", &format!("{KEY_A},{KEY_B},{KEY_C}"))],
    );
    let small = png(64, 48);
    // Without a valid key: 401 with a hint; open routes stay open.
    let reply = post(&server, "/predict", "image/png", &small, &[]);
    assert_eq!((reply.status, reply.header("www-authenticate")), (401, Some("Bearer")));
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("X-API-Key"));
    assert_eq!(
        post(&server, "/predict", "image/png", &small, &[("Authorization", "Bearer wrong-key-0123456789")]).status,
        401
    );
    assert_eq!(get(&server, "/model/info", &[]).status, 401);
    assert_eq!(get(&server, "/health", &[]).status, 200);
    assert_eq!(get(&server, "/metrics", &[]).status, 200);
    // With a key, either header.
    let bearer = format!("Bearer {KEY_A}");
    assert_eq!(post(&server, "/predict", "image/png", &small, &[("Authorization", &bearer)]).status, 200);
    assert_eq!(post(&server, "/predict", "image/png", &small, &[("X-API-Key", KEY_A)]).status, 200);
    // 413: the body over server.max_body_bytes, and an image over limits.max_dimension.
    let (status, reply) = post_declared(&server, "/predict", 300_000, &[("X-API-Key", KEY_A)]);
    assert_eq!((status, reply["error"]["code"].as_str()), (413, Some("payload_too_large")), "{reply}");
    assert!(reply["error"]["message"].as_str().unwrap().contains("200000 byte limit (server.max_body_bytes)"));
    let wide = png(2000, 8);
    assert!(wide.len() < 200_000);
    let reply = post(&server, "/predict", "image/png", &wide, &[("X-API-Key", KEY_A)]);
    assert_eq!(reply.status, 413, "{}", String::from_utf8_lossy(&reply.body));
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("1024"), "{}", reply.json());
    // Rate limit: key B's burst of 5, then 429 with Retry-After; key A is counted apart. A cheap
    // route, so that the requests come faster than the bucket refills even on a loaded machine.
    let statuses: Vec<Reply> = (0..20).map(|_| get(&server, "/model/info", &[("X-API-Key", KEY_B)])).collect();
    let limited = statuses.iter().find(|reply| reply.status == 429).expect("key B is rate limited");
    assert!(statuses.iter().take(5).all(|reply| reply.status == 200));
    assert!(limited.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert_eq!(limited.error_code(), "rate_limited");
    // A batch costs one request per image: more images than the burst can never pass (413);
    // a batch of 4 of key C's 5 leaves too little for another.
    let tiny = png(4, 4);
    let key_c = [("X-API-Key", KEY_C)];
    let (content_type, six) = multipart(&[tiny.as_slice(); 6]);
    let reply = post(&server, "/predict/batch", &content_type, &six, &key_c);
    assert_eq!(reply.status, 413, "{}", String::from_utf8_lossy(&reply.body));
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("server.rate_limit.burst"), "{}", reply.json());
    let (content_type, four) = multipart(&[tiny.as_slice(); 4]);
    assert_eq!(post(&server, "/predict/batch", &content_type, &four, &key_c).status, 200);
    let reply = post(&server, "/predict/batch", &content_type, &four, &key_c);
    assert_eq!((reply.status, reply.error_code().as_str()), (429, "rate_limited"));
    assert!(reply.header("retry-after").is_some());
}

#[test]
fn a_full_queue_answers_503_and_a_passed_deadline_504() {
    let (_, bytes) = photo("astronaut.png");
    let bytes = Arc::new(bytes);
    {
        let server = start(
            "narrow",
            |server, _| {
                server.workers = 1;
                server.max_queue = 0;
            },
            &[],
        );
        let handles = post_together(&server.url, &bytes, 12);
        let replies: Vec<Reply> = handles.into_iter().map(|handle| handle.join().unwrap()).collect();
        let shed: Vec<&Reply> = replies.iter().filter(|reply| reply.status == 503).collect();
        assert!(replies.iter().any(|reply| reply.status == 200), "some requests are served");
        assert!(
            !shed.is_empty(),
            "with one worker and no queue, 12 at once are shed: {:?}",
            replies.iter().map(|r| r.status).collect::<Vec<_>>()
        );
        assert!(replies.iter().all(|reply| reply.status == 200 || reply.status == 503));
        assert_eq!(shed[0].header("retry-after"), Some("1"));
        assert_eq!(shed[0].error_code(), "overloaded");
    }
    let server = start("hasty", |server, _| server.request_timeout_ms = 1, &[]);
    let reply = post(&server, "/predict", "image/png", &bytes, &[]);
    assert_eq!((reply.status, reply.error_code().as_str()), (504, "timeout"));
}

#[test]
fn sigterm_drains_requests_in_flight_and_exits_0() {
    let mut server = start(
        "draining",
        |server, _| {
            server.workers = 1;
            server.shutdown.drain_delay_ms = 400;
            server.shutdown.grace_period_ms = 20_000;
        },
        &[],
    );
    let (_, bytes) = photo("astronaut.png");
    let bytes = Arc::new(bytes);
    let in_flight = post_together(&server.url, &bytes, 6);
    std::thread::sleep(Duration::from_millis(30));
    let signalled = Instant::now();
    let killed = Command::new("kill").args(["-TERM", &server.child.id().to_string()]).status().unwrap();
    assert!(killed.success());
    // During the drain delay the server still answers, but is no longer ready.
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(get(&server, "/ready", &[]).status, 503);
    let statuses: Vec<u16> = in_flight.into_iter().map(|handle| handle.join().unwrap().status).collect();
    assert_eq!(statuses, vec![200; 6], "no request in flight is lost");
    let status = loop {
        if let Some(status) = server.child.try_wait().unwrap() {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(20), "the server exits within the grace period");
        std::thread::sleep(Duration::from_millis(20));
    };
    assert!(status.success(), "exit status {status:?}");
    assert!(std::net::TcpStream::connect(server.url.trim_start_matches("http://")).is_err(), "no longer listening");
}

#[test]
fn schemathesis_finds_no_server_error_in_the_openapi_contract() {
    let schemathesis = repo().join(".venv-tools/bin/schemathesis");
    assert!(schemathesis.is_file(), "schemathesis is missing: run `bash scripts/tools-env.sh` (scripts/test.sh does)");
    let server = start("contract", |_, _| {}, &[]);
    let work = temp_dir();
    let output = Command::new(schemathesis)
        .current_dir(work.path())
        .args(["run", &format!("{}/openapi.json", server.url)])
        .args(["--checks", "not_a_server_error", "--max-examples", "25", "--generation-deterministic"])
        .args(["--request-timeout", "30"])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found problems:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("Tested: 13"), "every operation is tested:\n{report}");
}

#[test]
fn the_demo_page_draws_the_boxes_in_headless_chromium() {
    let browser = repo().join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "Playwright is missing: run `bash scripts/browser-env.sh` (scripts/test.sh does)"
    );
    let server = start("browser", |_, _| {}, &[]);
    let screenshot = shared_target().join("demo-page.png");
    let output = Command::new("node")
        .arg(browser.join("demo.mjs"))
        .arg(&server.url)
        .arg(images().join("astronaut.png"))
        .arg(&screenshot)
        .output()
        .unwrap();
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{summary}\n{}", String::from_utf8_lossy(&output.stderr));
    let summary: Value = serde_json::from_str(summary.lines().last().unwrap()).unwrap();
    assert!(summary["detections"].as_u64().unwrap() >= 1, "{summary}");
    assert!(summary["edge_pixels_changed"].as_f64().unwrap() >= 0.8, "{summary}");
    assert!(screenshot.is_file());
}

/// Copies `from` (a file or a folder) to `to`.
fn copy_tree(from: &Path, to: &Path) {
    if from.is_dir() {
        std::fs::create_dir_all(to).unwrap();
        for entry in std::fs::read_dir(from).unwrap() {
            let entry = entry.unwrap();
            copy_tree(&entry.path(), &to.join(entry.file_name()));
        }
    } else {
        std::fs::copy(from, to).unwrap();
    }
}

#[test]
fn the_binary_runs_as_its_image_does_non_root_read_only_and_drains_on_sigterm() {
    let project = project();
    inferx().arg("docker").arg(project).assert().success();
    let dockerfile = std::fs::read_to_string(project.join("Dockerfile")).unwrap();
    for copied in [".inferx/lib", "inferx.yaml", "models"] {
        assert!(
            dockerfile.lines().any(|line| line.starts_with("COPY") && line.contains(copied)),
            "the Dockerfile copies {copied}"
        );
    }
    // The image's /app: only what the Dockerfile copies, read-only, owned by root.
    let root = temp_dir();
    let app = root.path().join("app");
    std::fs::create_dir_all(app.join("lib")).unwrap();
    // The binary the other tests built: the Dockerfile's release build is the same code, and
    // building it again in release here would double the suite's compile time.
    copy_tree(&shared_target().join(format!("debug/{NAME}")), &app.join(NAME));
    copy_tree(&project.join(".inferx/lib"), &app.join("lib"));
    copy_tree(&project.join("inferx.yaml"), &app.join("inferx.yaml"));
    copy_tree(&project.join("models"), &app.join("models"));
    let status = Command::new("chmod").args(["-R", "a-w,a+rX"]).arg(root.path()).status().unwrap();
    assert!(status.success());

    // The environment the Kubernetes Deployment sets, on a free port.
    let manifest: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(project.join("deploy/k8s/deployment.yaml")).unwrap()).unwrap();
    let container = &manifest["spec"]["template"]["spec"]["containers"][0];
    let mut env: Vec<(String, String)> = container["env"]
        .as_sequence()
        .unwrap()
        .iter()
        .filter_map(|item| Some((item["name"].as_str()?.to_string(), item["value"].as_str()?.to_string())))
        .collect();
    assert!(env.iter().any(|(name, value)| name == "INFERX_HOST" && value == "0.0.0.0"), "{env:?}");
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    env.retain(|(name, _)| name != "INFERX_PORT");
    env.push(("INFERX_PORT".to_string(), port.to_string()));
    let grace = manifest["spec"]["template"]["spec"]["terminationGracePeriodSeconds"].as_u64().unwrap();
    let as_nonroot = |args: &[&str]| {
        let mut command = Command::new("setpriv");
        command
            .args(["--reuid=65532", "--regid=65532", "--clear-groups", "--"])
            .arg(app.join(NAME))
            .args(args)
            .current_dir(&app)
            .env_clear()
            .envs(env.iter().map(|(name, value)| (name.as_str(), value.as_str())));
        command
    };
    let mut server = as_nonroot(&["serve"]).stdout(Stdio::null()).stderr(Stdio::inherit()).spawn().unwrap();
    let healthy = |attempts: usize| {
        (0..attempts).any(|_| {
            let ok = as_nonroot(&["healthcheck"]).stderr(Stdio::null()).status().unwrap().success();
            if !ok {
                std::thread::sleep(Duration::from_millis(250));
            }
            ok
        })
    };
    assert!(healthy(240), "the HEALTHCHECK command passes once the model is loaded");
    let url = format!("http://127.0.0.1:{port}");
    let local = Server { child: Command::new("true").spawn().unwrap(), url, stdout: Arc::default() };
    assert_eq!(get(&local, "/health", &[]).status, 200);
    let (_, bytes) = photo("astronaut.png");
    assert_eq!(post(&local, "/predict", "image/png", &bytes, &[]).status, 200, "it serves from a read-only folder");

    let signalled = Instant::now();
    assert!(Command::new("kill").args(["-TERM", &server.id().to_string()]).status().unwrap().success());
    std::thread::sleep(Duration::from_millis(200));
    assert!(
        !as_nonroot(&["healthcheck"]).stderr(Stdio::null()).status().unwrap().success(),
        "not ready while draining"
    );
    let status = loop {
        if let Some(status) = server.try_wait().unwrap() {
            break status;
        }
        assert!(signalled.elapsed() < Duration::from_secs(grace), "exits within terminationGracePeriodSeconds");
        std::thread::sleep(Duration::from_millis(50));
    };
    assert!(status.success(), "{status:?}");
    let _ = Command::new("chmod").args(["-R", "u+w"]).arg(root.path()).status();
}

#[test]
fn concurrent_requests_are_batched_and_answered_like_single_ones() {
    let server = start(
        "batching",
        |server, _| {
            server.workers = 1;
            server.batching.max_batch_size = 4;
            server.batching.max_wait_ms = 50;
        },
        &[],
    );
    let (path, bytes) = photo("astronaut.png");
    let reference = run_json(inferx().arg("run").arg(detector()).arg(&path).args(["--size", "320", "--json"]));
    let expected = without_timings(reference[0].clone());
    let replies: Vec<Reply> =
        post_together(&server.url, &Arc::new(bytes), 8).into_iter().map(|handle| handle.join().unwrap()).collect();
    for reply in &replies {
        assert_eq!(reply.status, 200);
        assert_json_close(&without_timings(reply.json()), &expected, 1e-3, "batched");
    }
    let metrics = String::from_utf8(get(&server, "/metrics", &[]).body).unwrap();
    let value = |prefix: &str| metric(&metrics, prefix).unwrap_or_else(|| panic!("no {prefix} in:\n{metrics}"));
    // Warm-up runs happen before the server starts, so every model run counted here is a request batch.
    let runs = value("inferx_batch_size_count");
    let single = value("inferx_batch_size_bucket{le=\"1\"}");
    assert_eq!(value("inferx_batch_size_sum"), 8.0);
    assert!(runs < 8.0 && single < runs, "8 concurrent requests ran in {runs} model runs ({single} of one image)");
}

/// The value of the first Prometheus sample line starting with `prefix`.
fn metric(metrics: &str, prefix: &str) -> Option<f64> {
    metrics.lines().find(|line| line.starts_with(prefix))?.rsplit(' ').next()?.parse().ok()
}

#[test]
fn a_request_alone_runs_on_every_core_and_requests_together_share_the_sessions() {
    let server = start("sessions", |server, _| server.workers = 2, &[]);
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let info = get(&server, "/model/info", &[]).json();
    assert_eq!(info["server"]["sessions"], 2, "{info}");
    assert_eq!(info["server"]["solo_session"], cores > 1, "{info}");
    let (path, bytes) = photo("astronaut.png");
    let reference = run_json(inferx().arg("run").arg(detector()).arg(&path).args(["--size", "320", "--json"]));
    let expected = without_timings(reference[0].clone());
    for _ in 0..3 {
        let reply = post(&server, "/predict", "image/png", &bytes, &[]);
        assert_eq!(reply.status, 200);
        assert_json_close(&without_timings(reply.json()), &expected, 1e-4, "alone");
    }
    let runs = |kind: &str| {
        let metrics = String::from_utf8(get(&server, "/metrics", &[]).body).unwrap();
        metric(&metrics, &format!("inferx_session_runs_total{{session=\"{kind}\"}}")).unwrap_or(0.0)
    };
    if cores > 1 {
        assert_eq!((runs("solo"), runs("shared")), (3.0, 0.0), "one request at a time runs on the solo session");
    }
    for handle in post_together(&server.url, &Arc::new(bytes), 8) {
        let reply = handle.join().unwrap();
        assert_eq!(reply.status, 200);
        assert_json_close(&without_timings(reply.json()), &expected, 1e-4, "together");
    }
    assert!(runs("shared") >= 1.0, "requests arriving together share the per-worker sessions");
}

#[test]
fn invalid_server_settings_are_refused_at_start_with_the_key_named() {
    let project = project();
    let mut config = ProjectConfig::load(&project.join("inferx.yaml")).unwrap();
    config.server.cors_origins = vec!["app.example.com".to_string()];
    std::fs::write(project.join("inferx.invalid.yaml"), config.to_yaml().unwrap()).unwrap();
    let output = Command::new(shared_target().join(format!("debug/{NAME}")))
        .current_dir(project)
        .args(["--config", "inferx.invalid.yaml", "serve", "--port", "0"])
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("server.cors_origins entry `app.example.com`"), "{stderr}");
    let output = Command::new(shared_target().join(format!("debug/{NAME}")))
        .current_dir(project)
        .args(["serve", "--port", "0"])
        .env("INFERX_WORKERS", "many")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("INFERX_WORKERS"), "the bad variable is named");
    // A key source that yields no key fails closed: no server without authentication.
    let output = Command::new(shared_target().join(format!("debug/{NAME}")))
        .current_dir(project)
        .args(["serve", "--port", "0"])
        .env("INFERX_API_KEYS", " , ")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("INFERX_API_KEYS is set but holds no key"), "{stderr}");
}

/// Sends `request` as written over a plain socket and returns the status of the answer.
fn raw_status(server: &Server, request: &str) -> u16 {
    use std::io::{Read, Write};
    let mut stream = std::net::TcpStream::connect(server.url.trim_start_matches("http://")).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    let _ = stream.read_to_end(&mut response);
    String::from_utf8_lossy(&response).split(' ').nth(1).and_then(|code| code.parse().ok()).unwrap_or(0)
}

#[test]
fn hostile_requests_are_refused_early_and_counted_within_bounds() {
    let server = start("hostile", |_, _| {}, &[]);
    let address = server.url.trim_start_matches("http://").to_string();
    // A made-up method (hyper takes any token) is counted under OTHER, not as a label of its own.
    let frob =
        format!("FROBNICATE /predict HTTP/1.1\r\nHost: {address}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
    assert_eq!(raw_status(&server, &frob), 405);
    // Batches over server.max_batch_images (32) are refused before their images are read.
    let empty = json!({ "images": vec![""; 40] }).to_string();
    let reply = post(&server, "/predict/batch", "application/json", empty.as_bytes(), &[]);
    assert_eq!(reply.status, 413, "{}", String::from_utf8_lossy(&reply.body));
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("holds 40 images"), "{}", reply.json());
    let tiny = png(4, 4);
    let (content_type, body) = multipart(&vec![tiny.as_slice(); 40]);
    let reply = post(&server, "/predict/batch", &content_type, &body, &[]);
    assert_eq!(reply.status, 413);
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("more than 32"), "{}", reply.json());
    let (content_type, body) = multipart(&[tiny.as_slice(), tiny.as_slice()]);
    let reply = post(&server, "/predict", &content_type, &body, &[]);
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"]["message"].as_str().unwrap().contains("more than one"), "{}", reply.json());
    // OIP values beyond FP32 are refused, not turned into infinity.
    let huge = r#"{"inputs": [{"name": "images", "shape": [1, 2], "datatype": "FP32", "data": [1e300, 0]}]}"#;
    let reply = post(&server, &format!("/v2/models/{NAME}/infer"), "application/json", huge.as_bytes(), &[]);
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"].as_str().unwrap().contains("out of the FP32 range"), "{}", reply.json());
    // A tensor of a shape the model does not take: said in our words, not ONNX Runtime's.
    let small = json!({ "inputs": [{ "name": "images", "shape": [1, 3, 17, 17], "datatype": "FP32", "data": vec![0.5; 867] }] });
    let reply =
        post(&server, &format!("/v2/models/{NAME}/infer"), "application/json", small.to_string().as_bytes(), &[]);
    assert_eq!(reply.status, 400);
    let message = reply.json()["error"].as_str().unwrap().to_string();
    assert!(message.contains("has shape [1, 3, 17, 17], the model expects [-1, 3, 320, 320]"), "{message}");
    assert!(!message.contains("Got invalid dimensions") && !message.contains(".onnx"), "{message}");
    // A client that goes away in the middle of its body is no longer counted in flight once
    // the server has noticed (its request ends with an error, or is dropped and counted 499).
    {
        use std::io::Write;
        let mut stream = std::net::TcpStream::connect(&address).unwrap();
        let head = format!(
            "POST /predict HTTP/1.1\r\nHost: {address}\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n"
        );
        stream.write_all(head.as_bytes()).unwrap();
        stream.write_all(&tiny).unwrap();
        std::thread::sleep(Duration::from_millis(200));
    }
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let metrics = loop {
        let metrics = String::from_utf8(get(&server, "/metrics", &[]).body).unwrap();
        // Only the /metrics request being answered is in flight.
        if metric(&metrics, "inferx_in_flight_requests") == Some(1.0) || std::time::Instant::now() > deadline {
            break metrics;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    assert_eq!(metric(&metrics, "inferx_in_flight_requests"), Some(1.0), "{metrics}");
    assert!(metrics.contains("method=\"OTHER\"") && !metrics.contains("FROBNICATE"), "{metrics}");
}

/// Opens a connection and sends `bytes` (possibly an unfinished request).
fn open_sending(address: &str, bytes: &[u8]) -> std::net::TcpStream {
    use std::io::Write;
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    stream.write_all(bytes).unwrap();
    stream
}

/// Reads until the server closes the connection; returns what it sent and when it closed.
fn read_until_closed(stream: &mut std::net::TcpStream) -> (String, Instant) {
    use std::io::Read;
    let mut answer = Vec::new();
    // A reset after the answer also counts as closed.
    let _ = stream.read_to_end(&mut answer);
    (String::from_utf8_lossy(&answer).into_owned(), Instant::now())
}

#[test]
fn slow_and_idle_clients_are_cut_off_and_make_room_at_the_connection_cap() {
    let server = start(
        "connections",
        |server, _| {
            server.connections.max = 3;
            server.connections.header_timeout_ms = 1500;
            server.connections.idle_timeout_ms = 3000;
            server.connections.body_timeout_ms = 1500;
        },
        &[],
    );
    let address = server.url.trim_start_matches("http://").to_string();
    let started = Instant::now();
    let mut idle = Vec::new();
    for _ in 0..3 {
        idle.push(open_sending(&address, b""));
        std::thread::sleep(Duration::from_millis(20));
    }
    // A fourth connection while three are open: the one that has waited longest without a
    // request is closed to make room, and the fourth is served.
    let health = format!("GET /health HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n");
    let (answer, _) = read_until_closed(&mut open_sending(&address, health.as_bytes()));
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (_, evicted_at) = read_until_closed(&mut idle[0]);
    assert!(evicted_at - started < Duration::from_millis(1400), "closed for room, before its header deadline");
    // The others are closed once the header deadline passes, not before.
    for stream in &mut idle[1..] {
        let (answer, closed) = read_until_closed(stream);
        let open_for = closed - started;
        assert!(open_for >= Duration::from_millis(1400) && open_for < Duration::from_secs(15), "{open_for:?} {answer}");
    }
    // A kept-alive connection gets the longer idle deadline after its answer.
    let keep_alive = format!("GET /health HTTP/1.1\r\nHost: {address}\r\n\r\n");
    let mut kept = open_sending(&address, keep_alive.as_bytes());
    let asked = Instant::now();
    let (answer, closed) = read_until_closed(&mut kept);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let idle_for = closed - asked;
    assert!(idle_for >= Duration::from_millis(2900) && idle_for < Duration::from_secs(15), "{idle_for:?}");

    // A client sending its headers one byte at a time is cut off at the same deadline.
    let slow = open_sending(&address, b"G");
    let dripping = Instant::now();
    let dripped = std::thread::spawn(move || {
        use std::io::Write;
        let mut slow = slow;
        let mut sent = 1;
        for byte in b"ET /health HTTP/1.1\r\nX-Slow: ".iter().chain([b'a'; 200].iter()) {
            std::thread::sleep(Duration::from_millis(100));
            if slow.write_all(&[*byte]).is_err() {
                break;
            }
            sent += 1;
        }
        (sent, dripping.elapsed())
    });
    let (sent, cut_after) = dripped.join().unwrap();
    assert!(sent < 150, "the server stopped the drip: {sent} bytes accepted in {cut_after:?}");
    assert!(cut_after >= Duration::from_millis(1400), "{cut_after:?}");

    // A body that stops arriving gets a 408 at the body deadline, on every route that reads one.
    for (path, content_type) in [("/predict", "image/png"), (&*format!("/v2/models/{NAME}/infer"), "application/json")]
    {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: {address}\r\nContent-Type: {content_type}\r\nContent-Length: 5000\r\n\r\n0123456789"
        );
        let sent = Instant::now();
        let (answer, answered) = read_until_closed(&mut open_sending(&address, head.as_bytes()));
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("server.connections.body_timeout_ms"), "{path}: {answer}");
        let waited = answered - sent;
        assert!(waited >= Duration::from_millis(1400) && waited < Duration::from_secs(15), "{path}: {waited:?}");
    }

    // Counted: one connection closed for room, and only the /metrics request's own open now.
    let metrics = String::from_utf8(get(&server, "/metrics", &[]).body).unwrap();
    assert_eq!(metric(&metrics, "inferx_connections_evicted_total"), Some(1.0), "{metrics}");
    assert_eq!(metric(&metrics, "inferx_open_connections"), Some(1.0), "{metrics}");
    // Ordinary requests are unaffected.
    let (_, bytes) = photo("astronaut.png");
    assert_eq!(post(&server, "/predict", "image/png", &bytes, &[]).status, 200);
}

#[test]
fn server_logs_carry_timestamps_never_colour_and_can_be_json_lines() {
    for format in ["text", "json"] {
        let mut child = Command::new(shared_target().join(format!("debug/{NAME}")))
            .current_dir(project())
            .args(["serve", "--port", "0"])
            .env("INFERX_LOG", "info")
            .env("INFERX_LOG_FORMAT", format)
            .env_remove("NO_COLOR")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (sender, receiver) = mpsc::channel();
        let stderr = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in stderr.lines().map_while(Result::ok) {
                if line.contains("listening") {
                    let _ = sender.send(line);
                }
            }
        });
        let line = receiver.recv_timeout(Duration::from_secs(60)).expect("the server logs that it listens");
        let _ = child.kill();
        let _ = child.wait();
        assert!(!line.contains('\x1b'), "no colour in a pipe, though NO_COLOR is unset: {line:?}");
        let timestamp = if format == "json" {
            let record: Value = serde_json::from_str(&line).unwrap_or_else(|error| panic!("{error}: {line}"));
            assert_eq!(record["level"], "INFO", "{record}");
            assert_eq!(record["fields"]["message"], "listening", "{record}");
            record["timestamp"].as_str().expect("a timestamp").to_string()
        } else {
            assert!(line.contains("INFO") && line.contains("listening"), "{line}");
            line.split_whitespace().next().unwrap().to_string()
        };
        // RFC 3339 in UTC: 2026-01-02T03:04:05.678901Z.
        assert!(timestamp.len() >= 20 && timestamp.as_bytes()[10] == b'T' && timestamp.ends_with('Z'), "{timestamp}");
    }
}
