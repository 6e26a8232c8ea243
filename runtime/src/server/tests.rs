//! The server in-process: the whole app (the project's prediction routes as the template
//! writes them, the standard routes, OIP, every layer) on the real detector of `.fixtures`,
//! driven with `tower::ServiceExt::oneshot`; statuses produced outside the router (408 from
//! the body deadline, 503 at the connection cap) through `serve_connections` on 127.0.0.1.
//! Every status the server promises is shown here, without a compiled project.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::{Arc, OnceLock},
    time::{Duration, Instant},
};

use axum::{
    body::{Body, Bytes},
    extract::State,
    http::{header, HeaderMap, Method, Request, StatusCode},
    response::IntoResponse,
    routing::post,
    Json, Router,
};
use base64::Engine as _;
use serde_json::{json, Value};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::watch,
};
use tower::ServiceExt;

#[path = "multipart_body.rs"]
mod multipart_body;

mod frames;
#[cfg(feature = "video")]
mod video_upload;

use super::{app, connections, security::ApiKeys, state::Sessions, AppState, BatchInput, ImageInput, ServeOptions};
use crate::{
    config::{ConnectionsConfig, ServerConfig},
    pipeline::PipelineOptions,
    preprocess::ImageLimits,
    Pipeline, TaskKind,
};
use multipart_body::multipart;

const NAME: &str = "people";
const KEY_A: &str = "key-a-0123456789abcdef";
const KEY_B: &str = "key-b-0123456789abcdef";
const KEY_C: &str = "key-c-0123456789abcdef";

pub(crate) fn fixture(relative: &str) -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../.fixtures").join(relative);
    assert!(path.exists(), "fixture `{}` is missing: run `python3 scripts/fixtures.py` first", path.display());
    path
}

/// The nudenet detector at 320x320, images up to 1024 pixels a side: loaded once, shared by
/// every server of these tests (a pipeline serves any number of threads).
fn model() -> Arc<Pipeline> {
    static MODEL: OnceLock<Arc<Pipeline>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let options = PipelineOptions {
                input_size: Some(320),
                limits: ImageLimits { max_dimension: 1024, ..ImageLimits::default() },
                ..PipelineOptions::for_task(TaskKind::Detection)
            };
            Arc::new(Pipeline::load(fixture("models/nudenet-320n.onnx"), options).expect("the detector loads"))
        })
        .clone()
}

pub(crate) fn astronaut() -> Bytes {
    static BYTES: OnceLock<Bytes> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(fixture("images/astronaut.png")).unwrap().into()).clone()
}

/// A server's state on the shared model: `configure` sets its settings, `keys` (comma
/// separated, or empty) are its API keys, and with `solo` a lone request runs on a session
/// of its own.
pub(crate) fn server(configure: impl FnOnce(&mut ServerConfig), keys: &str, solo: bool) -> AppState {
    let mut config = ServerConfig { access_log: false, ..ServerConfig::default() };
    configure(&mut config);
    let keys = ApiKeys::load(&config.auth, Path::new("."), |_| (!keys.is_empty()).then(|| keys.to_string())).unwrap();
    let sessions = Sessions { shared: vec![model()], solo: solo.then(model) };
    let options =
        ServeOptions { project_name: NAME.into(), project_version: "0.1.0".into(), ..ServeOptions::default() };
    AppState::new(sessions, config, keys, &options, Instant::now()).expect("the server starts")
}

/// The prediction routes of a generated project, as `templates/_shared/src/server.rs.tera`
/// writes them.
pub(crate) fn project_routes() -> Router<AppState> {
    Router::new()
        .route(
            "/predict",
            post(
                |State(state): State<AppState>, image: ImageInput| async move { state.predict(image).await.map(Json) },
            ),
        )
        .route(
            "/predict/batch",
            post(|State(state): State<AppState>, images: BatchInput| async move { state.predict_batch(images).await }),
        )
        .route(
            "/predict/annotated",
            post(|State(state): State<AppState>, image: ImageInput| async move {
                let (_, png) = state.predict_annotated(image).await?;
                Ok::<_, super::ApiError>(([(header::CONTENT_TYPE, "image/png")], png).into_response())
            }),
        )
}

/// A response, read whole.
struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("not JSON ({error}): {}", String::from_utf8_lossy(&self.body)))
    }

    fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|value| value.to_str().ok())
    }

    /// The code of our error shape, `{"error": {"code": ...}}`.
    fn code(&self) -> String {
        self.json()["error"]["code"].as_str().unwrap_or_default().to_string()
    }

    /// The status and the code.
    fn refusal(&self) -> (u16, String) {
        (self.status.as_u16(), self.code())
    }

    /// The message of either error shape.
    fn message(&self) -> String {
        let json = self.json();
        json["error"]["message"].as_str().or(json["error"].as_str()).unwrap_or_default().to_string()
    }
}

async fn send(app: &Router, request: Request<Body>) -> Reply {
    let response = app.clone().oneshot(request).await.unwrap();
    let status = response.status();
    let headers = response.headers().clone();
    let body = axum::body::to_bytes(response.into_body(), 64 << 20).await.unwrap();
    Reply { status, headers, body }
}

fn get(path: &str) -> Request<Body> {
    Request::get(path).body(Body::empty()).unwrap()
}

fn post_body(path: &str, content_type: &str, body: impl Into<Body>) -> Request<Body> {
    Request::post(path).header(header::CONTENT_TYPE, content_type).body(body.into()).unwrap()
}

fn with_header(mut request: Request<Body>, name: &'static str, value: &str) -> Request<Body> {
    request.headers_mut().insert(name, value.parse().unwrap());
    request
}

fn png(width: u32, height: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 251) as u8, (y % 241) as u8, 90]));
    let mut bytes = Vec::new();
    image.write_to(&mut std::io::Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    bytes
}

/// A prediction as JSON, without the timings (which differ from run to run).
fn without_timings(mut value: Value) -> Value {
    if let Some(object) = value.as_object_mut() {
        object.remove("timings");
    }
    value
}

/// What the pipeline itself predicts for `bytes`.
fn expected(bytes: &[u8]) -> Value {
    // Through the text, as a client reads it (an f32 is written in its shortest form).
    without_timings(
        serde_json::from_str(&serde_json::to_string(&model().predict_bytes(bytes).unwrap()).unwrap()).unwrap(),
    )
}

/// Asserts that two predictions are the same but for float rounding (a batch runs the model
/// on several images at once, and a lone image is preprocessed in blocks of rows).
fn assert_close(actual: &Value, expected: &Value, context: &str) {
    match (actual, expected) {
        (Value::Number(a), Value::Number(b)) => {
            let (a, b) = (a.as_f64().unwrap(), b.as_f64().unwrap());
            assert!((a - b).abs() <= 1e-3 * b.abs().max(1.0), "{context}: {a} vs {b}");
        }
        (Value::Array(a), Value::Array(b)) => {
            assert_eq!(a.len(), b.len(), "{context}: {actual} vs {expected}");
            a.iter().zip(b).for_each(|(a, b)| assert_close(a, b, context));
        }
        (Value::Object(a), Value::Object(b)) => {
            assert_eq!(a.keys().collect::<Vec<_>>(), b.keys().collect::<Vec<_>>(), "{context}");
            a.iter().for_each(|(key, value)| assert_close(value, &b[key], &format!("{context}.{key}")));
        }
        _ => assert_eq!(actual, expected, "{context}"),
    }
}

/// Every sample of a Prometheus text, by series (name and labels).
fn samples(metrics: &str) -> BTreeMap<String, f64> {
    metrics
        .lines()
        .filter(|line| !line.starts_with('#'))
        .filter_map(|line| {
            let (series, value) = line.rsplit_once(' ')?;
            Some((series.to_string(), value.parse().ok()?))
        })
        .collect()
}

fn sample(state: &AppState, series: &str) -> f64 {
    samples(&state.metrics().render()).get(series).copied().unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_route_answers_and_predictions_equal_the_pipelines() {
    let state = server(|_| {}, "", false);
    let app = app(project_routes(), state.clone());
    let bytes = astronaut();
    let expected = expected(&bytes);
    assert!(!expected["detections"].as_array().unwrap().is_empty(), "the photo has detections: {expected}");

    // Operations routes.
    assert_eq!(send(&app, get("/health")).await.json(), json!({ "status": "ok" }));
    assert_eq!(send(&app, get("/ready")).await.json(), json!({ "ready": true }));
    let info = send(&app, get("/model/info")).await.json();
    assert_eq!((info["task"].as_str(), info["name"].as_str()), (Some("detection"), Some(NAME)));
    assert_eq!(info["labels"].as_array().unwrap().len(), 18);
    assert_eq!(info["model"]["inputs"][0]["shape"], json!([-1, 3, 320, 320]), "the session's fixed input");
    assert_eq!(info["server"]["sessions"], 1);
    let openapi = send(&app, get("/openapi.json")).await.json();
    for route in ["/predict", "/predict/batch", "/v2/models/{name}/infer", "/health", "/metrics"] {
        assert!(openapi["paths"].get(route).is_some(), "{route} is documented");
    }
    for page in ["/", "/docs"] {
        let reply = send(&app, get(page)).await;
        assert_eq!(reply.status, 200);
        assert!(reply.header("content-type").unwrap().starts_with("text/html"));
        let html = String::from_utf8_lossy(&reply.body);
        assert!(html.contains("<link rel=\"icon\" type=\"image/svg+xml\" href=\"data:image/svg+xml,"), "{page}");
        assert!(!html.contains("src=\"http") && !html.contains("href=\"http"), "{page} fetches nothing from elsewhere");
    }
    // /docs renders the document: one section per operation, each with its schemas and a curl
    // example; no Markdown left raw; this model's answer shown as /predict writes it.
    let docs = String::from_utf8(send(&app, get("/docs")).await.body.to_vec()).unwrap();
    let operations: usize =
        openapi["paths"].as_object().unwrap().values().map(|item| item.as_object().unwrap().len()).sum();
    assert_eq!(docs.matches("<section class=\"operation\"").count(), operations);
    assert_eq!(docs.matches("<h4>Example</h4>\n<pre>curl ").count(), operations);
    assert!(!docs.contains('`'), "Markdown code spans are rendered");
    let at = |id: &str| docs.find(&format!("<section class=\"operation\" id=\"{id}\">")).unwrap();
    assert!(at("post-predict") < at("get-health") && at("get-metrics") < at("get-v2"), "predictions, operations, OIP");
    assert!(docs
        .contains(r#"<pre>curl -F file=@photo.jpg <span class="origin">http://127.0.0.1:8080</span>/predict</pre>"#));
    assert!(docs.contains(&format!(r#"<span class="origin">http://127.0.0.1:8080</span>/v2/models/{NAME}/infer"#)));
    assert!(
        docs.contains(r##"<a class="type" href="#schema-Prediction">Prediction</a>"##)
            && docs.contains(r#"id="schema-Prediction""#)
    );
    let label = info["labels"][0].as_str().unwrap();
    assert!(docs.contains(&format!("&quot;label&quot;: &quot;{label}&quot;")), "the model's own label, {label}");
    assert!(
        docs.contains("&quot;width&quot;: 640,\n  &quot;height&quot;: 480,\n  &quot;task&quot;: &quot;detection&quot;"),
        "keys in /predict's order"
    );

    // The same prediction by every way of sending the image, equal to the pipeline's.
    let raw = send(&app, with_header(post_body("/predict", "image/png", bytes.clone()), "x-request-id", "req-1")).await;
    assert_eq!(raw.status, 200, "{}", String::from_utf8_lossy(&raw.body));
    assert_eq!(raw.header("x-request-id"), Some("req-1"));
    assert_eq!(without_timings(raw.json()), expected, "raw");
    let (content_type, body) = multipart(&[&bytes]);
    assert_eq!(without_timings(send(&app, post_body("/predict", &content_type, body)).await.json()), expected);
    let base64 = json!({ "image": base64::engine::general_purpose::STANDARD.encode(&bytes) }).to_string();
    assert_eq!(without_timings(send(&app, post_body("/predict", "application/json", base64)).await.json()), expected);

    // A batch keeps order and gives the bad image its own error.
    let (content_type, body) = multipart(&[&bytes, b"not an image at all", &bytes]);
    let batch = send(&app, post_body("/predict/batch", &content_type, body)).await;
    assert_eq!(batch.status, 200);
    let results = batch.json()["results"].as_array().unwrap().clone();
    assert_eq!(results.len(), 3);
    assert_eq!((results[1]["index"].as_u64(), results[1]["error"]["status"].as_u64()), (Some(1), Some(415)));
    for index in [0, 2] {
        assert_eq!(results[index]["index"], index);
        assert_close(&without_timings(results[index]["prediction"].clone()), &expected, "batch");
    }

    // The annotated image is a PNG of the photo's size, with the boxes drawn on it.
    let annotated = send(&app, post_body("/predict/annotated", "image/png", bytes.clone())).await;
    assert_eq!(annotated.header("content-type"), Some("image/png"));
    let drawn = image::load_from_memory(&annotated.body).unwrap().to_rgb8();
    let photo = image::load_from_memory(&bytes).unwrap().to_rgb8();
    assert_eq!(drawn.dimensions(), photo.dimensions());
    assert_ne!(drawn, photo, "the boxes are drawn");

    // Open Inference Protocol v2: metadata, readiness and a tensor round trip.
    assert_eq!(send(&app, get("/v2")).await.json()["name"], "inferx");
    assert_eq!(send(&app, get("/v2/health/live")).await.json()["live"], true);
    assert_eq!(send(&app, get("/v2/health/ready")).await.json()["ready"], true);
    let metadata = send(&app, get(&format!("/v2/models/{NAME}"))).await.json();
    assert_eq!(metadata["inputs"][0]["datatype"], "FP32");
    assert_eq!(metadata["inputs"][0]["shape"], json!([-1, 3, 320, 320]));
    assert_eq!(metadata["outputs"][0]["shape"][1], 22);
    assert_eq!(send(&app, get(&format!("/v2/models/{NAME}/ready"))).await.json()["ready"], true);
    let (input, shape, data) = model().image_tensor(&image::load_from_memory(&bytes).unwrap()).unwrap();
    let local = model().engine().run(&shape, &data).unwrap();
    let request =
        json!({ "id": "oip-1", "inputs": [{ "name": input, "shape": shape, "datatype": "FP32", "data": data }] });
    let infer = format!("/v2/models/{NAME}/infer");
    let reply = send(&app, post_body(&infer, "application/json", request.to_string())).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    let answer = reply.json();
    assert_eq!((answer["id"].as_str(), answer["model_name"].as_str()), (Some("oip-1"), Some(NAME)));
    assert_eq!(answer["outputs"][0]["shape"], json!(local[0].shape));
    let values = answer["outputs"][0]["data"].as_array().unwrap();
    assert_eq!(values.len(), local[0].data.len());
    let worst =
        values.iter().zip(&local[0].data).map(|(a, b)| (a.as_f64().unwrap() - *b as f64).abs()).fold(0.0, f64::max);
    assert!(worst < 1e-4, "OIP output differs from a local run by {worst}");

    // Metrics count what happened.
    let metrics = String::from_utf8(send(&app, get("/metrics")).await.body.to_vec()).unwrap();
    let counted = samples(&metrics);
    assert_eq!(counted.get(r#"inferx_http_requests_total{method="POST",route="/predict",status="200"}"#), Some(&3.0));
    assert_eq!(counted.get("inferx_batch_size_sum"), Some(&6.0), "three lone images, two of a batch, one annotated");
    assert_eq!(counted.get("inferx_decode_duration_seconds_count"), Some(&6.0));
    assert_eq!(counted.get("inferx_inference_duration_seconds_count"), Some(&7.0), "six image runs, one tensor run");
    for name in ["inferx_queue_depth", "inferx_in_flight_requests", "inferx_model_load_seconds", "inferx_build_info{"] {
        assert!(metrics.contains(name), "{name} missing");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_unusable_request_gets_its_status_and_an_error_saying_what_to_do() {
    let state = server(|server| server.max_body_bytes = 200_000, "", false);
    let app = app(project_routes(), state);
    let bytes = astronaut();
    let refusal = |request| async { send(&app, request).await.refusal() };

    // 400: malformed requests.
    let (status, code) = refusal(post_body("/predict", "image/png", "")).await;
    assert_eq!((status, code.as_str()), (400, "bad_request"));
    assert_eq!(refusal(post_body("/predict", "application/json", r#"{"image": 12}"#)).await.0, 400);
    let tiny = png(4, 4);
    let (content_type, body) = multipart(&[&tiny, &tiny]);
    let reply = send(&app, post_body("/predict", &content_type, body)).await;
    assert_eq!(reply.status, 400);
    assert!(reply.message().contains("more than one"), "{}", reply.message());

    // 415: not an image, or a content type the route does not take.
    let reply = send(&app, post_body("/predict", "text/plain", "hello")).await;
    assert_eq!(reply.refusal(), (415, "unsupported_media_type".to_string()));
    assert!(reply.message().contains("multipart/form-data"), "{}", reply.message());
    assert_eq!(refusal(post_body("/predict", "image/png", "GIF? no, garbage")).await.0, 415);
    let bare = Request::post("/predict").body(Body::from(bytes.clone())).unwrap();
    assert_eq!(refusal(bare).await.0, 415);

    // 422: an image that cannot be decoded.
    let whole = png(200, 200);
    let truncated = whole[..whole.len() / 2].to_vec();
    assert_eq!(refusal(post_body("/predict", "image/png", truncated)).await, (422, "unprocessable_image".into()));

    // 413: a body declared over server.max_body_bytes (refused before it is read), one longer
    // than it said, an image over limits.max_dimension, a batch over server.max_batch_images.
    let declared = Request::post("/predict")
        .header(header::CONTENT_TYPE, "image/png")
        .header(header::CONTENT_LENGTH, "300000")
        .body(Body::empty())
        .unwrap();
    let reply = send(&app, declared).await;
    assert_eq!(reply.refusal(), (413, "payload_too_large".into()));
    assert!(reply.message().contains("200000 byte limit (server.max_body_bytes)"), "{}", reply.message());
    assert_eq!(refusal(post_body("/predict", "image/png", vec![0u8; 300_000])).await.0, 413, "undeclared");
    let reply = send(&app, post_body("/predict", "image/png", png(2000, 8))).await;
    assert_eq!(reply.status, 413, "{}", reply.message());
    assert!(reply.message().contains("1024"), "{}", reply.message());
    let empty = json!({ "images": vec![""; 40] }).to_string();
    let reply = send(&app, post_body("/predict/batch", "application/json", empty)).await;
    assert_eq!(reply.status, 413);
    assert!(reply.message().contains("holds 40 images"), "{}", reply.message());
    let (content_type, body) = multipart(&vec![tiny.as_slice(); 40]);
    let reply = send(&app, post_body("/predict/batch", &content_type, body)).await;
    assert_eq!(reply.status, 413);
    assert!(reply.message().contains("more than 32"), "{}", reply.message());

    // The Open Inference Protocol's refusals, in its shape: `{"error": "<message>"}`.
    let infer = format!("/v2/models/{NAME}/infer");
    let oip = |body: Value| post_body(&infer, "application/json", body.to_string());
    let huge = json!({ "inputs": [{ "name": "images", "shape": [1, 2], "datatype": "FP32", "data": [1e300, 0] }] });
    let reply = send(&app, oip(huge)).await;
    assert_eq!(reply.status, 400);
    assert!(reply.json()["error"].as_str().unwrap().contains("out of the FP32 range"), "{}", reply.json());
    let short = json!({ "inputs": [{ "name": "images", "shape": [1, 3, 2, 2], "datatype": "FP32", "data": [1, 2] }] });
    assert!(send(&app, oip(short)).await.message().contains("its shape [1, 3, 2, 2] holds 12"));
    // A tensor of a shape the model does not take: said in our words, not ONNX Runtime's.
    let small = json!({ "inputs": [{ "name": "images", "shape": [1, 3, 17, 17], "datatype": "FP32", "data": vec![0.5; 867] }] });
    let message = send(&app, oip(small)).await.message();
    assert!(message.contains("has shape [1, 3, 17, 17], the model expects [-1, 3, 320, 320]"), "{message}");
    assert!(!message.contains("Got invalid dimensions") && !message.contains(".onnx"), "{message}");
    let unknown = json!({ "inputs": [], "outputs": [{ "name": "nope" }] });
    assert!(send(&app, oip(unknown)).await.message().contains("no output `nope`"));
    let reply = send(&app, get("/v2/models/other")).await;
    assert_eq!(reply.status, 404);
    assert!(reply.json()["error"].as_str().unwrap().contains(NAME), "{}", reply.json());
}

/// An inference request as tritonclient lays it out with binary inputs: its compact JSON (keys
/// in its order), then each input's FP32 values, little-endian, with the JSON's length in
/// `Inference-Header-Content-Length` and no Content-Type.
fn binary_infer(path: &str, json: &Value, tensors: &[&[f32]]) -> Request<Body> {
    let header = serde_json::to_vec(json).unwrap();
    let mut body = header.clone();
    for tensor in tensors {
        body.extend(tensor.iter().flat_map(|value| value.to_le_bytes()));
    }
    Request::post(path).header("inference-header-content-length", header.len()).body(Body::from(body)).unwrap()
}

/// The JSON part and the binary part of a response.
fn split_binary(reply: &Reply) -> (Value, &[u8]) {
    let length: usize = reply.header("inference-header-content-length").expect("binary data follows").parse().unwrap();
    (serde_json::from_slice(&reply.body[..length]).unwrap(), &reply.body[length..])
}

fn floats(bytes: &[u8]) -> Vec<f32> {
    bytes.chunks_exact(4).map(|value| f32::from_le_bytes(value.try_into().unwrap())).collect()
}

fn assert_near(actual: &[f32], expected: &[f32], context: &str) {
    assert_eq!(actual.len(), expected.len(), "{context}");
    let worst = actual.iter().zip(expected).map(|(a, b)| (a - b).abs()).fold(0.0, f32::max);
    assert!(worst < 1e-4, "{context}: differs from a local run by {worst}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binary_tensors_in_and_out_as_tritonclient_sends_them_equal_a_local_run() {
    // Room for the image's tensor as binary data (1.2 MB), not as JSON text (about 3 MB).
    let state = server(|server| server.max_body_bytes = 1_300_000, "", false);
    let app = app_of(state);
    let (input, shape, data) = model().image_tensor(&image::load_from_memory(&astronaut()).unwrap()).unwrap();
    let local = model().engine().run(&shape, &data).unwrap();
    let output = local[0].name.clone();
    let infer = format!("/v2/models/{NAME}/infer");
    let binary_input = json!({ "name": input, "shape": shape, "datatype": "FP32", "parameters": { "binary_data_size": data.len() * 4 } });

    // No outputs named: tritonclient asks for every output as binary data.
    let request = json!({ "id": "b-1", "inputs": [binary_input], "parameters": { "binary_data_output": true } });
    let reply = send(&app, binary_infer(&infer, &request, &[&data])).await;
    assert_eq!(reply.status, 200, "{}", String::from_utf8_lossy(&reply.body));
    assert_eq!(reply.header("content-type"), Some("application/octet-stream"));
    let (header, binary) = split_binary(&reply);
    let size = local[0].data.len() * 4;
    assert_eq!(
        header,
        json!({ "model_name": NAME, "model_version": "1", "id": "b-1", "outputs": [
            { "name": output, "datatype": "FP32", "shape": local[0].shape, "parameters": { "binary_data_size": size } }
        ] })
    );
    assert_near(&floats(binary), &local[0].data, "binary out");

    // Binary in, JSON out (the output's `binary_data` over the request's): no header, f32s.
    let request = json!({ "inputs": [binary_input], "outputs": [{ "name": output, "parameters": { "binary_data": false } }],
                          "parameters": { "binary_data_output": true } });
    let reply = send(&app, binary_infer(&infer, &request, &[&data])).await;
    assert_eq!((reply.status.as_u16(), reply.header("inference-header-content-length")), (200, None));
    let values: Vec<f32> = serde_json::from_value(reply.json()["outputs"][0]["data"].clone()).unwrap();
    assert_near(&values, &local[0].data, "JSON out");
    // The f32s as written: their shortest form, not widened to f64 noise.
    let text = String::from_utf8(reply.body.to_vec()).unwrap();
    let first = text.split(r#""data":["#).nth(1).unwrap().split(',').next().unwrap();
    assert_eq!(first.parse::<f32>().unwrap().to_string(), first);

    // Refused, in the protocol's shape, saying what is wrong.
    let request = json!({ "inputs": [binary_input] });
    let body = |tensor: &[f32]| binary_infer(&infer, &request, &[tensor]);
    assert_oip_error(&send(&app, body(&data[1..])).await, 400, "only 1228796 bytes of binary data are left", "short");
    let longer: Vec<f32> = data.iter().chain(&[0.5]).copied().collect();
    assert_oip_error(&send(&app, body(&longer)).await, 400, "4 bytes of binary data follow the JSON", "long");
    let mut no_header = body(&data);
    no_header.headers_mut().remove("inference-header-content-length");
    assert_oip_error(&send(&app, no_header).await, 400, "Inference-Header-Content-Length", "no header");
    let mut past_the_end = body(&data);
    past_the_end.headers_mut().insert("inference-header-content-length", "99999999".parse().unwrap());
    assert_oip_error(&send(&app, past_the_end).await, 400, "the body holds only", "header past the end");
    let wrong_size = json!({ "inputs": [{ "name": input, "shape": shape, "datatype": "FP32", "parameters": { "binary_data_size": 8 } }] });
    let reply = send(&app, binary_infer(&infer, &wrong_size, &[&data[..2]])).await;
    assert_oip_error(
        &reply,
        400,
        "has 8 bytes of binary data; its shape [1, 3, 320, 320] of FP32 holds 1228800",
        "size",
    );
    // The binary bytes count against server.max_body_bytes: two images' tensors are over it,
    // and so is one image's as JSON text.
    let two: Vec<f32> = data.iter().chain(&data).copied().collect();
    let batch = json!({ "inputs": [{ "name": input, "shape": [2, 3, 320, 320], "datatype": "FP32", "parameters": { "binary_data_size": two.len() * 4 } }] });
    let reply = send(&app, binary_infer(&infer, &batch, &[&two])).await;
    assert_oip_error(&reply, 413, "server.max_body_bytes", "two tensors");
    let as_json = json!({ "inputs": [{ "name": input, "shape": shape, "datatype": "FP32", "data": data }] });
    let reply = send(&app, post_body(&infer, "application/json", as_json.to_string())).await;
    assert_oip_error(&reply, 413, "server.max_body_bytes", "the tensor as JSON");
}

/// The Python with `tritonclient[http]`: `INFERX_TRITONCLIENT_PYTHON`, else the tools
/// environment's.
fn tritonclient_python() -> PathBuf {
    std::env::var_os("INFERX_TRITONCLIENT_PYTHON")
        .map_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../.venv-tools/bin/python"), PathBuf::from)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tritonclient_infers_in_json_and_binary_like_a_local_run_and_reads_every_refusal() {
    let state = server(|_| {}, "", false);
    let served = serve(state, ConnectionsConfig::default()).await;
    let (_, shape, data) = model().image_tensor(&image::load_from_memory(&astronaut()).unwrap()).unwrap();
    let local = model().engine().run(&shape, &data).unwrap();
    let work = tempfile::tempdir().unwrap();
    let write = |name: &str, values: &[f32]| {
        let path = work.path().join(name);
        std::fs::write(&path, values.iter().flat_map(|value| value.to_le_bytes()).collect::<Vec<u8>>()).unwrap();
        path
    };
    let (input, expected) = (write("input.f32", &data), write("expected.f32", &local[0].data));
    let shape = shape.iter().map(ToString::to_string).collect::<Vec<_>>().join(",");
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/oip/drive_tritonclient.py");
    let mut command = std::process::Command::new(tritonclient_python());
    command.arg(script).arg(served.address.to_string()).arg(NAME).arg(input).arg(shape).arg(expected);
    let output = tokio::task::spawn_blocking(move || command.output()).await.unwrap().expect("python runs");
    let (stdout, stderr) = (String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
    assert!(
        output.status.success(),
        "tritonclient failed (is it installed? `bash scripts/tools-env.sh`):\n{stdout}\n{stderr}"
    );
    let summary: Value = serde_json::from_str(stdout.lines().last().unwrap_or_default()).unwrap();
    assert_eq!(
        (summary["live"].as_bool(), summary["ready"].as_bool(), summary["model_ready"].as_bool()),
        (Some(true), Some(true), Some(true))
    );
    assert_eq!(summary["extensions"], json!(["binary_tensor_data", "model_configuration"]));
    assert_eq!(summary["repository"][0]["name"], NAME);
    for (way, worst) in summary["worst"].as_object().unwrap() {
        assert!(worst.as_f64().is_some_and(|worst| worst < 1e-4), "{way}: {summary}");
    }
    for (probe, status, words) in [
        ("unknown_model", "404", "no model named `no-such-model`"),
        ("unknown_version", "404", "has no version `7`"),
        ("unknown_path", "404", "/v2/trace/setting"),
        ("statistics", "501", "/metrics"),
        ("load", "501", "cannot load or unload"),
    ] {
        let refused = &summary["refused"][probe];
        assert_eq!(refused["status"], status, "{probe}: {summary}");
        let text = refused["text"].as_str().unwrap_or_default();
        assert!(text.starts_with(&format!("[{status}] ")) && text.contains(words), "{probe}: {text}");
    }
}

/// The routes of a server, each with a method it does not take.
const WRONG_METHODS: [(&str, &str); 16] = [
    ("/", "POST"),
    ("/docs", "POST"),
    ("/openapi.json", "DELETE"),
    ("/health", "POST"),
    ("/ready", "PUT"),
    ("/model/info", "POST"),
    ("/metrics", "POST"),
    ("/predict", "GET"),
    ("/predict/batch", "GET"),
    ("/predict/annotated", "PATCH"),
    ("/v2", "POST"),
    ("/v2/health/live", "POST"),
    ("/v2/health/ready", "DELETE"),
    ("/v2/models/people", "POST"),
    ("/v2/models/people/ready", "POST"),
    ("/v2/models/people/infer", "GET"),
];

#[tokio::test]
async fn unknown_paths_are_404_and_wrong_methods_405_with_a_json_body_on_every_route() {
    let state = server(|_| {}, "", false);
    let app = app(project_routes(), state.clone());
    for (path, method) in WRONG_METHODS {
        let request = Request::builder().method(method).uri(path).body(Body::empty()).unwrap();
        let reply = send(&app, request).await;
        assert_eq!(reply.status, 405, "{method} {path}");
        assert!(
            reply.header("allow").is_some_and(|allow| !allow.contains(method)),
            "{method} {path}: {:?}",
            reply.headers
        );
        let message = reply.message();
        assert!(message.contains(path) && message.contains(method), "{method} {path}: {message}");
        if path.starts_with("/v2") {
            assert!(reply.json()["error"].is_string(), "the protocol's shape under /v2: {}", reply.json());
        } else {
            assert_eq!(reply.code(), "method_not_allowed", "{method} {path}");
        }
    }
    // A made-up method (hyper takes any token) is refused, neither echoed nor made a label.
    let frobnicate = Method::from_bytes(b"FROBNICATE").unwrap();
    let reply = send(&app, Request::builder().method(frobnicate).uri("/predict").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.refusal(), (405, "method_not_allowed".into()));
    assert!(!reply.message().contains("FROBNICATE"), "{}", reply.message());
    let metrics = state.metrics().render();
    assert!(metrics.contains(r#"method="OTHER""#) && !metrics.contains("FROBNICATE"), "{metrics}");

    let reply = send(&app, get("/no/such/route")).await;
    assert_eq!(reply.refusal(), (404, "not_found".into()));
    assert!(reply.message().contains("/no/such/route"), "{}", reply.message());
    let reply = send(&app, Request::post("/v2/no/such").body(Body::empty()).unwrap()).await;
    assert_eq!(reply.status, 404);
    assert!(reply.json()["error"].as_str().unwrap().contains("/v2/no/such"), "{}", reply.json());
}

/// A prediction's JSON text split at its timings (the last field, which differ from run to
/// run): what comes before them, and the timings' values as written.
fn split_timings(text: &str) -> (&str, Vec<&str>) {
    let (prediction, timings) = text.split_once(r#","timings":{"#).unwrap_or_else(|| panic!("no timings: {text}"));
    let values = timings.trim_end_matches('}').split(',').map(|field| field.split_once(':').unwrap().1).collect();
    (prediction, values)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn predict_and_a_batch_of_the_same_image_give_byte_identical_json() {
    // One worker, no session of its own for lone requests: both run the same way.
    let state = server(|server| server.workers = 1, "", false);
    let app = app_of(state);
    let bytes = astronaut();
    let lone = send(&app, post_body("/predict", "image/png", bytes.clone())).await;
    assert_eq!(lone.status, 200);
    let lone = String::from_utf8(lone.body.to_vec()).unwrap();
    let (content_type, body) = multipart(&[&bytes]);
    let batch = send(&app, post_body("/predict/batch", &content_type, body)).await;
    assert_eq!(batch.status, 200);
    let batch = String::from_utf8(batch.body.to_vec()).unwrap();
    let entry = batch
        .strip_prefix(r#"{"results":[{"index":0,"prediction":"#)
        .and_then(|rest| rest.strip_suffix("}]}"))
        .unwrap_or_else(|| panic!("one entry with its index first: {batch}"));
    let ((lone, lone_timings), (entry, entry_timings)) = (split_timings(&lone), split_timings(entry));
    assert_eq!(lone, entry, "the same bytes but for the timings");
    assert!(lone.starts_with(r#"{"width":512,"height":512,"task":"detection","detections":[{"#), "{lone}");
    // Scores as f32 in their shortest form; timings rounded to the microsecond.
    let score = lone.split(r#""score":"#).nth(1).unwrap().split(',').next().unwrap();
    assert_eq!(score.parse::<f32>().unwrap().to_string(), score, "{lone}");
    for value in lone_timings.iter().chain(&entry_timings) {
        let decimals = value.split_once('.').map_or(0, |(_, decimals)| decimals.len());
        assert!(decimals <= 3, "timing `{value}` rounded to the microsecond");
    }
}

/// Asserts that `reply` is an Open Inference Protocol error of `status` whose message (a
/// string, as tritonclient reads it) contains `words`.
fn assert_oip_error(reply: &Reply, status: u16, words: &str, context: &str) {
    assert_eq!(reply.status, status, "{context}: {}", String::from_utf8_lossy(&reply.body));
    let body = reply.json();
    let message = body["error"].as_str().unwrap_or_else(|| panic!("{context}: not the protocol's shape: {body}"));
    assert!(message.contains(words), "{context}: {message}");
    assert_eq!(body.as_object().map(serde_json::Map::len), Some(1), "{context}: only `error`: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_v2_refusal_has_the_protocols_shape_and_the_paths_clients_probe_are_answered() {
    let state = server(
        |server| {
            server.max_body_bytes = 8 << 20;
            server.rate_limit.requests_per_second = 1;
            server.rate_limit.burst = 40;
        },
        KEY_A,
        false,
    );
    let app = app(project_routes(), state.clone());
    let keyed = |request: Request<Body>| with_header(request, "x-api-key", KEY_A);

    // Refused before a route is chosen: no key, a wrong key, a body declared too large.
    let reply = send(&app, get(&format!("/v2/models/{NAME}"))).await;
    assert_oip_error(&reply, 401, "X-API-Key", "no key");
    assert_eq!(reply.header("www-authenticate"), Some("Bearer"));
    let reply = send(&app, with_header(get("/v2/models/stats"), "x-api-key", "wrong-key-0123456789")).await;
    assert_oip_error(&reply, 401, "not valid", "wrong key");
    let declared = Request::post(format!("/v2/models/{NAME}/infer"))
        .header(header::CONTENT_LENGTH, (9 << 20).to_string())
        .body(Body::empty())
        .unwrap();
    assert_oip_error(&send(&app, keyed(declared)).await, 413, "server.max_body_bytes", "declared size");
    // Paths and methods no route serves, and a path that cannot be decoded.
    assert_oip_error(&send(&app, keyed(get("/v2/trace/setting"))).await, 404, "/v2/trace/setting", "unknown");
    assert_oip_error(&send(&app, keyed(post_body("/v2/health/live", "text/plain", ""))).await, 405, "POST", "method");
    assert_oip_error(&send(&app, keyed(get("/v2/models/%FF/ready"))).await, 400, "path", "bad encoding");
    // Models and versions this server does not serve.
    assert_oip_error(&send(&app, keyed(get("/v2/models/other/config"))).await, 404, NAME, "other model");
    let reply = send(&app, keyed(get(&format!("/v2/models/{NAME}/versions/2/ready")))).await;
    assert_oip_error(&reply, 404, "has no version `2`", "other version");
    // Extensions this server does not implement: refused, saying where to look instead.
    for path in ["/v2/models/stats".to_string(), format!("/v2/models/{NAME}/versions/1/stats")] {
        assert_oip_error(&send(&app, keyed(get(&path))).await, 501, "/metrics", &path);
    }
    for action in ["load", "unload"] {
        let path = format!("/v2/repository/models/{NAME}/{action}");
        assert_oip_error(&send(&app, keyed(post_body(&path, "application/json", "{}"))).await, 501, NAME, &path);
    }

    // Answered: the repository index, Triton's model configuration, version 1 of every route.
    let index = send(&app, keyed(post_body("/v2/repository/index", "application/json", "{}"))).await;
    assert_eq!(index.json(), json!([{ "name": NAME, "version": "1", "state": "READY" }]));
    let config = send(&app, keyed(get(&format!("/v2/models/{NAME}/versions/1/config")))).await.json();
    assert_eq!((config["max_batch_size"].as_u64(), config["backend"].as_str()), (Some(32), Some("onnxruntime")));
    assert_eq!(config["input"][0]["data_type"], "TYPE_FP32");
    assert_eq!(config["input"][0]["dims"], json!([3, 320, 320]), "the batch axis left out: {config}");
    let metadata = send(&app, keyed(get(&format!("/v2/models/{NAME}/versions/1")))).await.json();
    assert_eq!(metadata["versions"], json!(["1"]));
    let ready = send(&app, keyed(get(&format!("/v2/models/{NAME}/versions/1/ready")))).await;
    assert_eq!(ready.json(), json!({ "name": NAME, "ready": true }));
    let (input, shape, data) = model().image_tensor(&image::load_from_memory(&astronaut()).unwrap()).unwrap();
    let request = json!({ "inputs": [{ "name": input, "shape": shape, "datatype": "FP32", "data": data }] });
    let infer = format!("/v2/models/{NAME}/versions/1/infer");
    let answer = send(&app, keyed(post_body(&infer, "application/json", request.to_string()))).await;
    assert_eq!(answer.status, 200, "{}", String::from_utf8_lossy(&answer.body));

    // Past the rate: 429 in the protocol's shape, with Retry-After.
    let mut limited = None;
    for _ in 0..60 {
        let reply = send(&app, keyed(get("/v2/models/stats"))).await;
        if reply.status == 429 {
            limited = Some(reply);
            break;
        }
    }
    let reply = limited.expect("the rate limit is reached within 60 requests");
    assert_oip_error(&reply, 429, "too many requests", "rate limited");
    assert!(reply.header("retry-after").is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn keys_are_required_and_each_client_is_held_to_its_rate() {
    let keys = format!("{KEY_A},{KEY_B},{KEY_C}");
    let state = server(
        |server| {
            server.rate_limit.requests_per_second = 1;
            server.rate_limit.burst = 5;
        },
        &keys,
        false,
    );
    let app = app(project_routes(), state.clone());
    let tiny = Bytes::from(png(64, 48));
    let predict = || post_body("/predict", "image/png", tiny.clone());

    // 401 without a valid key, with a hint; the open routes stay open.
    let reply = send(&app, predict()).await;
    assert_eq!((reply.refusal(), reply.header("www-authenticate")), ((401, "unauthorized".into()), Some("Bearer")));
    assert!(reply.message().contains("X-API-Key"), "{}", reply.message());
    let wrong = send(&app, with_header(predict(), "authorization", "Bearer wrong-key-0123456789")).await;
    assert_eq!(wrong.status, 401);
    assert_eq!(send(&app, get("/model/info")).await.status, 401);
    assert_eq!(send(&app, get(&format!("/v2/models/{NAME}"))).await.status, 401);
    for open in ["/health", "/ready", "/metrics", "/openapi.json", "/docs", "/"] {
        assert_eq!(send(&app, get(open)).await.status, 200, "{open}");
    }
    // With a key, in either header.
    assert_eq!(send(&app, with_header(predict(), "authorization", &format!("Bearer {KEY_A}"))).await.status, 200);
    assert_eq!(send(&app, with_header(predict(), "x-api-key", KEY_A)).await.status, 200);

    // 429 past key B's burst of 5, with Retry-After; key A is counted apart.
    let mut statuses = Vec::new();
    for _ in 0..8 {
        let reply = send(&app, with_header(get("/model/info"), "x-api-key", KEY_B)).await;
        if reply.status == 429 {
            assert_eq!(reply.code(), "rate_limited");
            assert!(reply.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
        }
        statuses.push(reply.status.as_u16());
    }
    assert_eq!(statuses[..5], [200; 5], "{statuses:?}");
    assert!(statuses[5..].contains(&429), "{statuses:?}");
    assert_eq!(send(&app, with_header(get("/model/info"), "x-api-key", KEY_A)).await.status, 200);

    // A batch costs one request per image: more than the burst can never pass (413); a batch
    // of 4 of key C's 5 leaves too little for another (429).
    let small = png(4, 4);
    let batch = |count: usize| {
        let (content_type, body) = multipart(&vec![small.as_slice(); count]);
        with_header(post_body("/predict/batch", &content_type, body), "x-api-key", KEY_C)
    };
    let reply = send(&app, batch(6)).await;
    assert_eq!(reply.status, 413);
    assert!(reply.message().contains("server.rate_limit.burst"), "{}", reply.message());
    assert_eq!(send(&app, batch(4)).await.status, 200);
    let reply = send(&app, batch(4)).await;
    assert_eq!(reply.refusal(), (429, "rate_limited".into()));
    assert!(reply.header("retry-after").is_some());
    assert!(sample(&state, r#"inferx_rejected_requests_total{reason="unauthorized"}"#) >= 4.0);
    assert!(sample(&state, r#"inferx_rejected_requests_total{reason="rate_limited"}"#) >= 2.0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_queue_answers_503_and_a_passed_deadline_504() {
    // One worker and no queue: while it runs a request, the next is shed at once.
    let state = server(
        |server| {
            server.workers = 1;
            server.max_queue = 0;
        },
        "",
        false,
    );
    let app = app(project_routes(), state.clone());
    // Large enough to keep the worker busy for a while (decoding and resizing 1000x1000).
    let large = Bytes::from(png(1000, 1000));
    let first = tokio::spawn({
        let app = app.clone();
        let large = large.clone();
        async move { send(&app, post_body("/predict", "image/png", large)).await.status }
    });
    let started = Instant::now();
    while state.places_left() > 0 {
        assert!(started.elapsed() < Duration::from_secs(10), "the first request reached the worker");
        tokio::task::yield_now().await;
    }
    let shed = send(&app, post_body("/predict", "image/png", astronaut())).await;
    assert_eq!(shed.refusal(), (503, "overloaded".into()));
    assert_eq!(shed.header("retry-after"), Some("1"));
    assert!(shed.message().contains("server.max_queue"), "{}", shed.message());
    assert_eq!(first.await.unwrap(), 200, "the request running is served");
    assert_eq!(sample(&state, r#"inferx_rejected_requests_total{reason="overloaded"}"#), 1.0);

    // No result within server.request_timeout_ms: 504.
    let hasty = server(|server| server.request_timeout_ms = 1, "", false);
    let reply = send(&app_of(hasty.clone()), post_body("/predict", "image/png", large)).await;
    assert_eq!(reply.refusal(), (504, "timeout".into()));
    assert!(reply.message().contains("server.request_timeout_ms"), "{}", reply.message());
    assert_eq!(sample(&hasty, r#"inferx_rejected_requests_total{reason="timeout"}"#), 1.0);
}

fn app_of(state: AppState) -> Router {
    app(project_routes(), state)
}

/// The series of the model's work (runs, batch sizes, decoding and inference times) and their
/// counts, as `/metrics` shows them.
fn model_series(state: &AppState) -> BTreeMap<String, f64> {
    samples(&state.metrics().render())
        .into_iter()
        .filter(|(series, _)| {
            ["inferx_batch_size", "inferx_decode_duration_seconds", "inferx_inference_duration_seconds"]
                .iter()
                .any(|name| series.starts_with(name))
        })
        // The durations' sums and buckets vary from run to run; their counts do not.
        .filter(|(series, _)| series.starts_with("inferx_batch_size") || series.ends_with("_count"))
        .collect()
}

/// Settings of one worker gathering up to 4 requests for `max_wait_ms`.
fn one_worker_batching(max_wait_ms: u64) -> impl FnOnce(&mut ServerConfig) {
    move |server| {
        server.workers = 1;
        server.batching.max_batch_size = 4;
        server.batching.max_wait_ms = max_wait_ms;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lone_request_and_a_batch_of_one_record_the_same_metric_series() {
    // Alone on an idle server with a session of every core: decoded and preprocessed on two
    // cores at once. Through the batcher: a batch of one, decoded whole.
    let alone = server(|server| server.workers = 1, "", true);
    let batched = server(one_worker_batching(5), "", false);
    let bytes = astronaut();
    let mut predictions = Vec::new();
    for state in [&alone, &batched] {
        let reply = send(&app_of(state.clone()), post_body("/predict", "image/png", bytes.clone())).await;
        assert_eq!(reply.status, 200);
        let prediction = reply.json();
        assert!(prediction["timings"]["decode_ms"].as_f64().unwrap() > 0.0, "{prediction}");
        predictions.push(without_timings(prediction));
    }
    assert_close(&predictions[0], &predictions[1], "alone vs a batch of one");
    assert_eq!(sample(&alone, r#"inferx_session_runs_total{session="solo"}"#), 1.0, "alone, on every core");
    assert_eq!(sample(&batched, r#"inferx_session_runs_total{session="shared"}"#), 1.0);
    let (lone, batch) = (model_series(&alone), model_series(&batched));
    assert_eq!(lone, batch, "the same series and counts");
    assert_eq!(lone.get("inferx_batch_size_sum"), Some(&1.0));
    assert_eq!(lone.get("inferx_decode_duration_seconds_count"), Some(&1.0));
    assert_eq!(lone.get("inferx_inference_duration_seconds_count"), Some(&1.0));
    // And every other series is the same too, but for the session each ran on.
    let others = |state: &AppState| -> Vec<String> {
        samples(&state.metrics().render())
            .into_keys()
            .filter(|series| !series.starts_with("inferx_session_runs"))
            .collect()
    };
    assert_eq!(others(&alone), others(&batched));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requests_together_are_batched_and_answered_like_a_lone_one() {
    let state = server(one_worker_batching(50), "", true);
    let app = app_of(state.clone());
    let bytes = astronaut();
    let expected = expected(&bytes);
    let requests: Vec<_> = (0..8)
        .map(|_| {
            let (app, bytes) = (app.clone(), bytes.clone());
            tokio::spawn(async move { send(&app, post_body("/predict", "image/png", bytes)).await })
        })
        .collect();
    for request in requests {
        let reply = request.await.unwrap();
        assert_eq!(reply.status, 200);
        assert_close(&without_timings(reply.json()), &expected, "batched");
    }
    let runs = sample(&state, "inferx_batch_size_count");
    let single = sample(&state, r#"inferx_batch_size_bucket{le="1"}"#);
    assert_eq!(sample(&state, "inferx_batch_size_sum"), 8.0);
    assert!(runs < 8.0 && single < runs, "8 requests together ran in {runs} model runs ({single} of one image)");
    // Which session a batch runs on depends on timing (the all-cores one when nothing else is
    // queued or running), so only their sum is certain: one session run per model run.
    let sessions = sample(&state, r#"inferx_session_runs_total{session="shared"}"#)
        + sample(&state, r#"inferx_session_runs_total{session="solo"}"#);
    assert_eq!(sessions, runs, "every model run is counted on one session");
}

/// The app served by `serve_connections` on 127.0.0.1 with `limits`, until dropped.
struct Served {
    address: std::net::SocketAddr,
    refused: prometheus::IntCounter,
    _stop: watch::Sender<bool>,
}

async fn serve(state: AppState, limits: ConnectionsConfig) -> Served {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let refused = prometheus::IntCounter::new("refused", "refused").unwrap();
    let counters = connections::ConnectionCounters {
        open: state.metrics().connections.clone(),
        refused: refused.clone(),
        evicted: state.metrics().connections_evicted.clone(),
    };
    let (stop, stopping) = watch::channel(false);
    tokio::spawn(connections::serve_connections(listener, app_of(state), limits, counters, stopping));
    Served { address, refused, _stop: stop }
}

/// Reads until the server closes the connection (at most 10 s): what it sent, and when.
async fn read_to_close(stream: &mut TcpStream) -> (String, Instant) {
    let mut answer = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut answer)).await;
    assert!(read.is_ok(), "closed within 10 s: {}", String::from_utf8_lossy(&answer));
    (String::from_utf8_lossy(&answer).into_owned(), Instant::now())
}

/// A connection that has sent `bytes`.
async fn sending(address: std::net::SocketAddr, bytes: &[u8]) -> TcpStream {
    let mut stream = TcpStream::connect(address).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    stream
}

/// Whether `count` requests are in flight, waiting up to 5 s for it.
async fn in_flight(state: &AppState, count: i64) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while state.metrics().in_flight.get() != count && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    state.metrics().in_flight.get() == count
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_that_stops_arriving_gets_408_and_a_connection_past_the_cap_503() {
    let body_timeout = Duration::from_millis(600);
    let limits = ConnectionsConfig {
        max: 1,
        max_per_peer: 0,
        header_timeout_ms: 2000,
        idle_timeout_ms: 2000,
        body_timeout_ms: body_timeout.as_millis() as u64,
    };
    let state = server(|server| server.connections = limits, "", false);
    let served = serve(state.clone(), limits).await;
    let address = served.address;

    // A body that stops arriving gets a 408 at the body deadline, on every route that reads
    // one, in the route's error shape. Meanwhile the connection is busy: one more, past the
    // cap of 1, is answered 503 and closed.
    for (path, content_type) in [("/predict", "image/png"), (&*format!("/v2/models/{NAME}/infer"), "application/json")]
    {
        let head = format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: {content_type}\r\nContent-Length: 5000\r\n\r\n0123456789"
        );
        let sent = Instant::now();
        let mut stalled = sending(address, head.as_bytes()).await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        let (refusal, _) = read_to_close(&mut sending(address, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n").await).await;
        assert!(refusal.starts_with("HTTP/1.1 503"), "past the cap: {refusal}");
        assert!(refusal.contains("retry-after: 1") && refusal.contains("server.connections.max"), "{refusal}");
        let (answer, answered) = read_to_close(&mut stalled).await;
        assert!(answer.starts_with("HTTP/1.1 408"), "{path}: {answer}");
        assert!(answer.contains("server.connections.body_timeout_ms"), "{path}: {answer}");
        let body: Value = serde_json::from_str(answer.split_once("\r\n\r\n").unwrap().1).unwrap();
        if path.starts_with("/v2") {
            assert!(body["error"].is_string(), "{body}");
        } else {
            assert_eq!(body["error"]["code"], "body_timeout", "{body}");
        }
        let waited = answered - sent;
        assert!(waited + Duration::from_millis(20) >= body_timeout && waited < Duration::from_secs(5), "{waited:?}");
    }
    assert_eq!(served.refused.get(), 2);

    // A client that goes away in the middle of its body is no longer counted in flight (its
    // request ends with an error, or is dropped and counted 499).
    let leaving = b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: 100000\r\n\r\n0123";
    let leaving = sending(address, leaving).await;
    assert!(in_flight(&state, 1).await, "the request began");
    drop(leaving);
    assert!(in_flight(&state, 0).await, "no longer in flight once its client left");

    // Ordinary requests are unaffected, and counted.
    let request = format!(
        "POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: image/png\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        astronaut().len()
    );
    let mut stream = sending(address, request.as_bytes()).await;
    stream.write_all(&astronaut()).await.unwrap();
    let (answer, _) = read_to_close(&mut stream).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let statuses = samples(&state.metrics().render());
    assert_eq!(statuses.get(r#"inferx_http_requests_total{method="POST",route="/predict",status="408"}"#), Some(&1.0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_loaded_from_its_config_runs_a_lone_request_on_every_core_and_shares_the_rest() {
    let project = tempfile::tempdir().unwrap();
    std::fs::create_dir(project.path().join("models")).unwrap();
    std::fs::copy(fixture("models/nudenet-320n.onnx"), project.path().join("models/people.onnx")).unwrap();
    let yaml = "inferx: {version: 0.1.0, template: yolo}\nmodel: {path: models/people.onnx}\ntask: detection\n";
    let mut config = crate::ProjectConfig::parse(yaml).unwrap();
    config.server.access_log = false;
    let options = ServeOptions { project_name: NAME.into(), workers: Some(2), ..ServeOptions::default() };
    let load = {
        let (config, dir) = (config.clone(), project.path().to_path_buf());
        move || AppState::from_config(config, &dir, &options)
    };
    let state = tokio::task::spawn_blocking(load).await.unwrap().expect("the server loads");
    let app = app_of(state.clone());
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let info = send(&app, get("/model/info")).await.json();
    assert_eq!(info["server"]["workers"], 2, "{info}");
    assert_eq!(info["server"]["sessions"], 2, "{info}");
    assert_eq!(info["server"]["solo_session"], cores > 1, "{info}");
    for _ in 0..3 {
        assert_eq!(send(&app, post_body("/predict", "image/png", astronaut())).await.status, 200);
    }
    let runs = |kind: &str| sample(&state, &format!("inferx_session_runs_total{{session=\"{kind}\"}}"));
    if cores > 1 {
        assert_eq!((runs("solo"), runs("shared")), (3.0, 0.0), "one request at a time runs on the solo session");
    }
    let together: Vec<_> = (0..8)
        .map(|_| {
            let app = app.clone();
            tokio::spawn(async move { send(&app, post_body("/predict", "image/png", astronaut())).await.status })
        })
        .collect();
    for request in together {
        assert_eq!(request.await.unwrap(), 200);
    }
    assert!(runs("shared") >= 1.0, "requests arriving together share the per-worker sessions");

    // Settings that cannot work are refused at start, with the key named.
    config.server.cors_origins = vec!["app.example.com".to_string()];
    let refused = AppState::from_config(config, project.path(), &ServeOptions::default()).err().expect("refused");
    assert!(refused.to_string().contains("server.cors_origins entry `app.example.com`"), "{refused}");
}

#[tokio::test]
async fn bind_takes_the_port_of_the_config_file_and_its_overrides_before_any_model_loads() {
    let project = tempfile::tempdir().unwrap();
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    // The model is not there: bind reads the settings only.
    let yaml = format!(
        "inferx: {{version: 0.1.0, template: yolo}}\nmodel: {{path: models/absent.onnx}}\ntask: detection\n\
         server: {{host: 127.0.0.1, port: {port}}}\n"
    );
    let file = project.path().join("inferx.yaml");
    std::fs::write(&file, yaml).unwrap();
    let error = super::bind(&file, &ServeOptions::default()).await.expect_err("the port is taken");
    assert!(error.to_string().starts_with(&format!("could not listen on 127.0.0.1:{port}: ")), "{error}");
    let free = ServeOptions { port: Some(0), ..ServeOptions::default() };
    let listener = super::bind(&file, &free).await.expect("--port 0 over the file's port");
    assert_ne!(listener.local_addr().unwrap().port(), port);
    // A settings error names the file, as AppState::load's does.
    let bad = ServeOptions { host: Some(String::new()), workers: Some(0), ..free };
    let error = super::bind(&file, &bad).await.expect_err("invalid settings");
    assert!(matches!(error, super::ServeError::Config(_)) && error.to_string().contains("inferx.yaml"), "{error}");
}

#[tokio::test]
async fn a_port_in_use_is_one_line_naming_the_address_the_os_error_once_and_the_fix() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = taken.local_addr().unwrap().port();
    let state = server(
        |server| {
            server.host = "127.0.0.1".into();
            server.port = port;
        },
        "",
        false,
    );
    let error = super::serve_until(Router::new(), state, std::future::pending()).await.expect_err("the port is taken");
    let message = error.to_string();
    assert!(message.starts_with(&format!("could not listen on 127.0.0.1:{port}: ")), "{message}");
    assert!(message.ends_with("Set server.port, INFERX_PORT or --port") && !message.contains('\n'), "{message}");
    assert_eq!(message.matches("(os error").count(), 1, "the OS error, once: {message}");
    // No source: a printed chain (anyhow's `{:#}`) does not say the OS error a second time.
    assert!(std::error::Error::source(&error).is_none(), "{message}");
}
