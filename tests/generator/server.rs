//! The HTTP server of a generated project, compiled and run as users run it, over real HTTP on
//! 127.0.0.1 with the real detector: what only the real binary shows. Its predictions by the
//! real image path, graceful shutdown on SIGTERM with requests in flight, slow and idle
//! clients at the connection cap, the OpenAPI contract, the demo page in a browser, the binary
//! as its container image runs it, and start-up refusals. Every route, status, limit and
//! metric is tested in-process, without a compiled project (`runtime/src/server/tests.rs`).

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

// One multipart builder for the in-process tests and these.
#[path = "../../runtime/src/server/multipart_body.rs"]
mod multipart_body;
use multipart_body::multipart;

/// The project the book's quick start generated and built (yolo + server, the real detector).
const NAME: &str = PROJECT_NAME;

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

/// The real image path, as users run it: the compiled server predicts what `inferx run`
/// predicts, whichever way the image is sent, and logs each request on stdout. (Every route,
/// status and limit is tested in-process, in `runtime/src/server/tests.rs`.)
#[test]
fn the_compiled_server_predicts_what_inferx_run_does() {
    let server = start("default", |_, _| {}, &[]);
    let (path, bytes) = photo("astronaut.png");
    let reference = run_json(inferx().arg("run").arg(detector()).arg(&path).args(["--size", "320", "--json"]));
    let expected = without_timings(reference[0].clone());
    assert!(!expected["detections"].as_array().unwrap().is_empty(), "the photo has detections: {expected}");

    let info = get(&server, "/model/info", &[]).json();
    assert_eq!((info["name"].as_str(), info["device"].as_str()), (Some(NAME), Some("cpu")));
    assert_eq!(info["versions"]["onnxruntime"], inferx_runtime::ORT_VERSION);

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
    let (content_type, body) = multipart(&[&bytes, &bytes]);
    let batch = post(&server, "/predict/batch", &content_type, &body, &[]).json();
    for index in [0, 1] {
        assert_json_close(&without_timings(batch["results"][index]["prediction"].clone()), &expected, 1e-4, "batch");
    }
    let annotated = post(&server, "/predict/annotated", "image/png", &bytes, &[]);
    assert_eq!(annotated.header("content-type"), Some("image/png"));
    let drawn = image::load_from_memory(&annotated.body).unwrap();
    assert_eq!((drawn.width(), drawn.height()), (512, 512));

    // One JSON access line per request, with the request id.
    let logs = server.stdout.lock().unwrap().clone();
    let line = logs.iter().find(|line| line.contains("test-request-1")).expect("the request is logged");
    let entry: Value = serde_json::from_str(line).unwrap();
    assert_eq!((entry["status"].as_u64(), entry["path"].as_str()), (Some(200), Some("/predict")));
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
    // What is served, where, and how it ended, said in plain lines around the access log.
    let stdout = server.stdout.lock().unwrap().clone();
    let said = |start: &str| stdout.iter().position(|line| line.starts_with(start));
    let serving = stdout.iter().find(|line| line.starts_with("serving ")).cloned().unwrap_or_default();
    assert!(serving.contains("(detection, yolov8n.onnx) on cpu with ") && serving.contains(" worker"), "{stdout:?}");
    let url = &server.url;
    for line in [format!("  demo page  {url}/"), format!("  API docs   {url}/docs")] {
        assert!(stdout.contains(&line), "{line}: {stdout:?}");
    }
    let (shutting_down, stopped) = (said("shutting down: draining for 400 ms, then up to 20000 ms"), said("stopped: "));
    assert!(
        said("serving ") < said("listening on ") && shutting_down.is_some() && shutting_down < stopped,
        "{stdout:?}"
    );
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
    assert!(report.contains("Tested: 15"), "every operation is tested:\n{report}");
}

/// Runs `tests/browser/<script>` with `arguments` in node (headless Chromium), checks that it
/// passed, and returns its one-line JSON summary.
fn browser_check(script: &str, arguments: &[&std::ffi::OsStr]) -> Value {
    let browser = repo().join("tests/browser");
    assert!(
        browser.join("node_modules/playwright-core").is_dir(),
        "Playwright is missing: run `bash scripts/browser-env.sh` (scripts/test.sh does)"
    );
    let output = Command::new("node").arg(browser.join(script)).args(arguments).output().unwrap();
    let summary = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{summary}\n{}", String::from_utf8_lossy(&output.stderr));
    serde_json::from_str(summary.lines().last().unwrap()).unwrap()
}

#[test]
fn the_demo_page_draws_the_boxes_in_headless_chromium() {
    let server = start("browser", |_, _| {}, &[]);
    let screenshot = shared_target().join("demo-page.png");
    let photo = images().join("astronaut.png");
    let summary = browser_check("demo.mjs", &[server.url.as_ref(), photo.as_ref(), screenshot.as_ref()]);
    assert!(summary["detections"].as_u64().unwrap() >= 1, "{summary}");
    assert!(summary["edge_pixels_changed"].as_f64().unwrap() >= 0.8, "{summary}");
    assert!(screenshot.is_file());
}

#[test]
fn the_docs_page_renders_every_route_and_the_demo_page_takes_a_dropped_image_in_headless_chromium() {
    let server = start("pages", |_, _| {}, &[]);
    // scripts/screenshots.sh points this at book/src to renew the book's screenshots.
    let (folder, _scratch) = match std::env::var_os("INFERX_SCREENSHOTS") {
        Some(folder) => (PathBuf::from(folder), None),
        None => {
            let scratch = temp_dir();
            (scratch.path().to_path_buf(), Some(scratch))
        }
    };
    let (demo, docs) = (folder.join("server-demo.png"), folder.join("server-docs.png"));
    let photo = images().join("astronaut.png");
    let summary = browser_check("pages.mjs", &[server.url.as_ref(), photo.as_ref(), demo.as_ref(), docs.as_ref()]);
    assert!(summary["demo"]["detections"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(summary["docs"]["sections"], summary["docs"]["operations"], "{summary}");
    assert_eq!(summary["docs"]["operations"], 15, "{summary}");
    assert!(demo.is_file() && docs.is_file());
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

#[test]
fn a_port_in_use_fails_before_the_model_loads_in_the_books_one_line() {
    let project = project();
    // A model that cannot load: with the port free the server fails on it, so a failure on
    // the port shows that the port was tried first.
    std::fs::write(project.join("models/not-a-model.onnx"), b"not an ONNX model").unwrap();
    let mut config = ProjectConfig::load(&project.join("inferx.yaml")).unwrap();
    config.model.path = "models/not-a-model.onnx".into();
    std::fs::write(project.join("inferx.unloadable.yaml"), config.to_yaml().unwrap()).unwrap();
    let serve = |port: u16| {
        let started = Instant::now();
        let output = Command::new(shared_target().join(format!("debug/{NAME}")))
            .current_dir(project)
            .args(["--config", "inferx.unloadable.yaml", "serve", "--port", &port.to_string()])
            .output()
            .unwrap();
        assert!(!output.status.success());
        (
            String::from_utf8_lossy(&output.stdout).into_owned(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            started.elapsed(),
        )
    };
    let (_, stderr, _) = serve(0);
    assert!(stderr.contains("not-a-model.onnx") && !stderr.contains("could not listen"), "{stderr}");

    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let (stdout, stderr, took) = serve(port);
    assert_eq!(stderr.lines().count(), 1, "one line: {stderr}");
    assert!(stdout.is_empty(), "nothing served, nothing said on stdout: {stdout}");
    assert!(took < Duration::from_secs(10), "fails fast: {took:?}");
    assert_eq!(stderr.matches("(os error").count(), 1, "the OS error, once: {stderr}");
    // The line is the troubleshooting chapter's, its placeholders filled in.
    let book = std::fs::read_to_string(repo().join("book/src/troubleshooting.md")).unwrap();
    let (start, reason) = (
        "could not start the server from `<file>`: ",
        book.lines().find_map(|line| line.strip_prefix("| ``could not listen on ")).expect("the book's row"),
    );
    assert!(book.contains(&format!("read ``{start}<reason>``")), "the book's start-up prefix");
    let reason = reason.split("``").next().unwrap();
    let (before_error, after_error) = reason.split_once("<error>").unwrap();
    let expected_start = format!(
        "error: {}could not listen on {}",
        start.replace("<file>", "inferx.unloadable.yaml"),
        before_error.replace("<host>:<port>", &format!("127.0.0.1:{port}"))
    );
    let line = stderr.trim_end();
    assert!(
        line.starts_with(&expected_start) && line.ends_with(after_error),
        "{line}\nexpected {expected_start}<error>{after_error}"
    );
}

/// The value of the first Prometheus sample line starting with `prefix`.
fn metric(metrics: &str, prefix: &str) -> Option<f64> {
    metrics.lines().find(|line| line.starts_with(prefix))?.rsplit(' ').next()?.parse().ok()
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
