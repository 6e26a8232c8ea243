//! The OpenAPI document and the demo page (`docs` renders the document as `/docs`).

use serde::Serialize;
use serde_json::{json, Value};

use super::{AppState, BatchEntry};
use crate::{
    results::{
        Anomaly, BoundingBox, ClassScore, Detection, Mask, PredictionOutput, SegmentClass, Segmentation, Timings,
    },
    Prediction, TaskKind,
};

/// `GET /`: pick or drop an image, see the result drawn on it and the JSON.
const DEMO_HTML: &str = include_str!("assets/demo.html");

/// The pages' icon, inline so that it needs no route (and no API key): a box drawn around a
/// dot, as the demo page draws detections.
pub(crate) const FAVICON_LINK: &str = "<link rel=\"icon\" type=\"image/svg+xml\" href=\"data:image/svg+xml,\
%3Csvg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 32 32'%3E%3Crect width='32' height='32' rx='7' fill='%231d4ed8'/%3E\
%3Crect x='7' y='7' width='18' height='18' rx='2' fill='none' stroke='white' stroke-width='3'/%3E\
%3Ccircle cx='16' cy='16' r='3.5' fill='white'/%3E%3C/svg%3E\">";

/// The demo page, with the icon.
pub(crate) fn demo_html() -> String {
    DEMO_HTML.replacen("<!-- icon -->", FAVICON_LINK, 1)
}

/// Answers the docs page shows under their routes, each written as its route writes it (keys
/// in their order): `/predict` and `/predict/batch` for this task on a made-up 640×480 photo
/// (every task but `custom`, whose raw tensors are too long to show), `/health` and `/ready`.
pub(crate) fn answer_examples(state: &AppState) -> Vec<(&'static str, String)> {
    let pipeline = state.pipeline();
    task_answer_examples(pipeline.task(), pipeline.labels())
}

/// [`answer_examples`] for a task and its labels.
fn task_answer_examples(task: TaskKind, labels: &[String]) -> Vec<(&'static str, String)> {
    /// `/predict/batch`'s body.
    #[derive(Serialize)]
    struct Results<'a> {
        results: [BatchEntry<'a>; 1],
    }

    let mut examples = Vec::new();
    if let Some(output) = example_output(task, labels) {
        let timings = Timings { decode_ms: 2.9, preprocess_ms: 9.7, inference_ms: 58.0, postprocess_ms: 0.3 };
        let prediction = Prediction { width: EXAMPLE_WIDTH, height: EXAMPLE_HEIGHT, output, timings };
        let batch = Results { results: [BatchEntry { index: 0, prediction: Some(&prediction), error: None }] };
        examples.push(("/predict", serde_json::to_string_pretty(&prediction).unwrap_or_default()));
        examples.push(("/predict/batch", serde_json::to_string_pretty(&batch).unwrap_or_default()));
    }
    examples.push(("/health", r#"{ "status": "ok" }"#.to_string()));
    examples.push(("/ready", r#"{ "ready": true }"#.to_string()));
    examples
}

/// The made-up photo the examples answer for.
const EXAMPLE_WIDTH: u32 = 640;
const EXAMPLE_HEIGHT: u32 = 480;

/// One made-up result of `task`, labelled with the model's own labels.
fn example_output(task: TaskKind, labels: &[String]) -> Option<PredictionOutput> {
    let label = |index: usize, fallback: &str| labels.get(index).cloned().unwrap_or_else(|| fallback.to_string());
    // A band of eight full rows: its mask is three runs long, short enough to read.
    let (band_top, band_rows) = (300_u32, 8_u32);
    let band = Mask {
        width: EXAMPLE_WIDTH,
        height: EXAMPLE_HEIGHT,
        counts: vec![
            band_top * EXAMPLE_WIDTH,
            band_rows * EXAMPLE_WIDTH,
            (EXAMPLE_HEIGHT - band_top - band_rows) * EXAMPLE_WIDTH,
        ],
    };
    let band_box =
        BoundingBox { x1: 0.0, y1: band_top as f32, x2: EXAMPLE_WIDTH as f32, y2: (band_top + band_rows) as f32 };
    match task {
        TaskKind::Detection => Some(PredictionOutput::Detection {
            detections: vec![Detection {
                class_id: 0,
                label: label(0, "person"),
                score: 0.873,
                bbox: BoundingBox { x1: 48.2, y1: 98.1, x2: 245.6, y2: 402.7 },
                mask: None,
                polygon: None,
            }],
        }),
        TaskKind::Classification => Some(PredictionOutput::Classification {
            top: vec![ClassScore { class_id: 0, label: label(0, "cat"), score: 0.962 }],
        }),
        TaskKind::Segmentation => {
            // Class 0 of a semantic or binary map is the background, which is never listed.
            let class_id = if labels.len() > 1 { 1 } else { 0 };
            let label = label(class_id, "foreground");
            Some(PredictionOutput::Segmentation(Segmentation {
                classes: vec![SegmentClass { class_id, label: label.clone(), area: band.area(), mask: band.clone() }],
                regions: vec![Detection {
                    class_id,
                    label,
                    score: 0.914,
                    bbox: band_box,
                    mask: None,
                    polygon: Some(vec![
                        [band_box.x1, band_box.y1],
                        [band_box.x2, band_box.y1],
                        [band_box.x2, band_box.y2],
                        [band_box.x1, band_box.y2],
                    ]),
                }],
                instances: Vec::new(),
            }))
        }
        TaskKind::Anomaly => Some(PredictionOutput::Anomaly(Anomaly {
            score: 0.81,
            is_anomalous: true,
            threshold: 0.5,
            map: Vec::new(),
            map_width: 256,
            map_height: 256,
            peak: (412.0, 303.0),
            region: Some(band),
            heat: Vec::new(),
        })),
        TaskKind::Custom => None,
    }
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn image_body(batch: bool) -> Value {
    let binary = json!({ "type": "string", "format": "binary" });
    let multipart = if batch {
        json!({ "type": "object", "required": ["file"], "properties": { "file": { "type": "array", "items": binary } } })
    } else {
        json!({ "type": "object", "required": ["file"], "properties": { "file": binary } })
    };
    let json_body = if batch {
        json!({ "type": "object", "required": ["images"], "additionalProperties": false,
                "properties": { "images": { "type": "array", "items": { "type": "string", "format": "byte" } } } })
    } else {
        json!({ "type": "object", "required": ["image"], "additionalProperties": false,
                "properties": { "image": { "type": "string", "format": "byte", "description": "base64 or a data URL" } } })
    };
    let mut content = json!({
        "multipart/form-data": { "schema": multipart },
        "application/json": { "schema": json_body },
    });
    if !batch {
        for kind in ["image/png", "image/jpeg", "image/webp", "application/octet-stream"] {
            content[kind] = json!({ "schema": binary });
        }
    }
    json!({ "required": true, "content": content })
}

fn prediction_errors(mut responses: Value) -> Value {
    for (status, description) in [
        ("400", "malformed request"),
        ("401", "missing or invalid API key"),
        ("408", "the body did not arrive within the body deadline"),
        ("413", "body, image or batch over a limit"),
        ("415", "not an image, or an unsupported Content-Type"),
        ("422", "an image that cannot be decoded"),
        ("429", "rate limited (see Retry-After)"),
        ("503", "queue full or shutting down (see Retry-After)"),
        ("504", "no result within the request deadline"),
    ] {
        responses[status] = error_response(description);
    }
    responses
}

fn object() -> Value {
    json!({ "type": "object" })
}

fn json_response(description: &str, schema: Value) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": schema } } })
}

/// The OpenAPI 3.0 document of this server.
pub(crate) fn openapi(state: &AppState) -> Value {
    with_optional_routes(standard_openapi(state), state)
}

/// `document` with the routes of the runtime's optional features.
#[cfg(feature = "video")]
fn with_optional_routes(mut document: Value, state: &AppState) -> Value {
    document["paths"][super::body_limit::VIDEO_ROUTE] = video_upload_path(state);
    document
}

/// `document` with the routes of the runtime's optional features: none are built in.
#[cfg(not(feature = "video"))]
fn with_optional_routes(document: Value, _state: &AppState) -> Value {
    document
}

/// `POST /predict/video` (features `server` and `video`).
#[cfg(feature = "video")]
fn video_upload_path(state: &AppState) -> Value {
    let binary = json!({ "type": "string", "format": "binary" });
    let mut content = serde_json::Map::new();
    content.insert(
        "multipart/form-data".into(),
        json!({ "schema": { "type": "object", "required": ["file"], "properties": { "file": {
            "type": "string", "format": "binary", "description": "the clip", "x-example-file": "clip.mp4" } } } }),
    );
    for media_type in [
        "video/mp4",
        "video/quicktime",
        "video/x-matroska",
        "video/webm",
        "video/x-msvideo",
        "application/octet-stream",
    ] {
        content.insert(media_type.into(), json!({ "schema": binary }));
    }
    let video = &state.config().video;
    let mut responses = prediction_errors(
        json!({ "200": { "description": "one JSON line per frame, streamed as the frames are detected (the records of `inferx run --json`), the last line an `{\"error\": ...}` object if the clip fails midway; or, with `Accept: video/mp4`, the annotated H.264 MP4 (header `x-inferx-frames`: frames in it)",
        "content": {
            "application/x-ndjson": { "schema": { "$ref": "#/components/schemas/FrameRecord" } },
            "video/mp4": { "schema": binary },
        } } }),
    );
    responses["413"] = error_response(&format!(
        "clip over server.video.max_upload_bytes ({} bytes), or frames over limits.max_dimension",
        video.max_upload_bytes
    ));
    responses["415"] = error_response("not an MP4, MOV, Matroska, WebM or AVI clip (HLS playlists, ffconcat lists and other containers are refused), or a codec without a decoder");
    responses["422"] = error_response(&format!("a clip that is truncated, damaged or without a video stream, or longer than server.video.max_duration_s ({} s)", video.max_duration_s));
    responses["501"] = error_response("the model does not detect boxes");
    responses["503"] =
        error_response("server.video.max_uploads clips are being processed, or shutting down (see Retry-After)");
    json!({ "post": {
        "summary": "Detect objects in an uploaded clip, frame by frame (and track them with ?track=true)",
        "parameters": [{ "name": "track", "in": "query", "required": false, "schema": { "type": "boolean", "default": false },
                         "description": "follow the objects with the project's `tracking:` settings: each detection gets a `track_id`, and line and zone events and counts come with each frame" }],
        "requestBody": { "required": true, "content": content },
        "responses": responses,
    }})
}

/// The document's routes but the optional ones.
fn standard_openapi(state: &AppState) -> Value {
    let (project, version) = state.project();
    let task = state.pipeline().task();
    let model = state.model_name();
    let name_parameter = json!([{ "name": "name", "in": "path", "required": true,
                                  "schema": { "type": "string", "enum": [model] }, "description": "the model this server serves" }]);
    let oip_error = json!({ "description": "error", "content": { "application/json": { "schema": {
        "type": "object", "properties": { "error": { "type": "string" } } } } } });
    let security = if state.keys().enabled() { json!([{ "bearer": [] }, { "apiKey": [] }]) } else { json!([]) };
    let spec = json!({
        "openapi": "3.0.3",
        "info": {
            "title": format!("{project} API"),
            "version": if version.is_empty() { "0.0.0" } else { version },
            "description": format!("A `{task}` model served by InferX {}. Predictions, operations routes and the KServe Open Inference Protocol v2.", crate::VERSION),
        },
        "security": security,
        "paths": {
            "/predict": { "post": {
                "summary": "Predict on one image",
                "requestBody": image_body(false),
                "responses": prediction_errors(json!({ "200": json_response("the prediction", json!({ "$ref": "#/components/schemas/Prediction" })) })),
            }},
            "/predict/batch": { "post": {
                "summary": "Predict on several images; each unusable image gets its own error entry",
                "requestBody": image_body(true),
                "responses": prediction_errors(json!({ "200": json_response("one entry per image, in order", json!({
                    "type": "object", "required": ["results"],
                    "properties": { "results": { "type": "array", "items": {
                        "type": "object", "required": ["index"],
                        "properties": { "index": { "type": "integer" }, "prediction": { "$ref": "#/components/schemas/Prediction" }, "error": { "$ref": "#/components/schemas/ErrorDetail" } } } } } })) })),
            }},
            "/predict/annotated": { "post": {
                "summary": "Predict on one image and get it back as a PNG with the result drawn on it",
                "requestBody": image_body(false),
                "responses": prediction_errors(json!({ "200": { "description": "the annotated image", "content": { "image/png": { "schema": { "type": "string", "format": "binary" } } } } })),
            }},
            "/health": { "get": { "summary": "Liveness", "security": [], "responses": { "200": json_response("alive", object()) } } },
            "/ready": { "get": { "summary": "Readiness: loaded, warmed and not draining", "security": [],
                "responses": { "200": json_response("ready", object()), "503": json_response("not ready", object()) } } },
            "/model/info": { "get": { "summary": "Model, task, labels, device in use and versions",
                "responses": { "200": json_response("model facts", object()), "401": error_response("missing or invalid API key") } } },
            "/metrics": { "get": { "summary": "Prometheus metrics", "security": [],
                "responses": { "200": { "description": "text exposition format", "content": { "text/plain": { "schema": { "type": "string" } } } } } } },
            "/v2/health/live": { "get": { "summary": "OIP liveness", "security": [], "responses": { "200": json_response("alive", object()) } } },
            "/v2/health/ready": { "get": { "summary": "OIP readiness", "security": [],
                "responses": { "200": json_response("ready", object()), "503": json_response("not ready", object()) } } },
            "/v2": { "get": { "summary": "OIP server metadata", "responses": { "200": json_response("server metadata", object()) } } },
            "/v2/models/{name}": { "get": { "summary": "OIP model metadata", "parameters": name_parameter,
                "responses": { "200": json_response("model metadata", object()), "404": oip_error } } },
            "/v2/models/{name}/ready": { "get": { "summary": "OIP model readiness", "parameters": name_parameter,
                "responses": { "200": json_response("ready", object()), "404": oip_error, "503": json_response("not ready", object()) } } },
            "/v2/models/{name}/infer": { "post": {
                "summary": "OIP inference on raw FP32 tensors",
                "description": "Tensors in JSON `data`, or (the binary tensor data extension) as FP32 little-endian bytes after the JSON: each such input gives `parameters.binary_data_size`, and the `Inference-Header-Content-Length` header gives the JSON's length. Outputs asked for with `parameters.binary_data` (or every output, with the request's `parameters.binary_data_output`) come back the same way. The whole body counts against `server.max_body_bytes`.",
                "parameters": name_parameter,
                "requestBody": { "required": true, "content": {
                    "application/json": { "schema": { "$ref": "#/components/schemas/InferRequest" } },
                    "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } },
                "responses": { "200": json_response("output tensors", object()), "400": oip_error, "404": oip_error,
                               "408": oip_error, "413": oip_error, "503": oip_error, "504": oip_error },
            }},
            "/v2/models/{name}/config": { "get": { "summary": "Triton's model configuration (what perf_analyzer reads)", "parameters": name_parameter,
                "responses": { "200": json_response("model configuration", object()), "404": oip_error } } },
            "/v2/repository/index": { "post": { "summary": "OIP model repository index: the one model served",
                "responses": { "200": json_response("models", json!({ "type": "array", "items": object() })) } } },
        },
        "components": {
            "securitySchemes": {
                "bearer": { "type": "http", "scheme": "bearer" },
                "apiKey": { "type": "apiKey", "in": "header", "name": "X-API-Key" },
            },
            "schemas": {
                "Prediction": { "type": "object", "required": ["task", "width", "height"], "properties": {
                    "task": { "type": "string", "enum": ["detection", "classification", "segmentation", "anomaly", "custom"] },
                    "width": { "type": "integer" }, "height": { "type": "integer" }, "timings": object() } },
                "ErrorDetail": { "type": "object", "required": ["status", "code", "message"], "properties": {
                    "status": { "type": "integer" }, "code": { "type": "string" }, "message": { "type": "string" } } },
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "$ref": "#/components/schemas/ErrorDetail" } } },
                "FrameRecord": { "type": "object", "required": ["frame", "pts_ms", "detections", "events"],
                    "description": "one frame of a clip or stream, as `inferx run --json` prints it",
                    "properties": {
                        "frame": { "type": "integer", "description": "the frame's index among those presented, from 0" },
                        "pts_ms": { "type": "number", "description": "presentation time, ms, from the clip's time base" },
                        "detections": { "type": "array", "items": { "type": "object" }, "description": "the frame's detections (as `/predict`'s), each with a `track_id` when tracked" },
                        "events": { "type": "array", "items": { "type": "object" }, "description": "line crossings and zone entries and exits on this frame (tracked)" },
                        "counts": { "type": "object", "description": "line and zone counts so far, when lines or zones are configured" },
                    } },
                "InferRequest": { "type": "object", "required": ["inputs"], "properties": {
                    "id": { "type": "string" },
                    "inputs": { "type": "array", "items": { "type": "object", "required": ["name", "shape", "datatype"], "properties": {
                        "name": { "type": "string" }, "shape": { "type": "array", "items": { "type": "integer", "minimum": 0 } },
                        "datatype": { "type": "string", "enum": ["FP32"] }, "data": { "type": "array", "items": {} },
                        "parameters": { "type": "object", "properties": { "binary_data_size": { "type": "integer", "minimum": 0 } } } } } },
                    "outputs": { "type": "array", "items": { "type": "object", "required": ["name"], "properties": { "name": { "type": "string" },
                        "parameters": { "type": "object", "properties": { "binary_data": { "type": "boolean" } } } } } },
                    "parameters": { "type": "object", "properties": { "binary_data_output": { "type": "boolean" } } } } },
            },
        },
    });
    #[cfg(feature = "video")]
    let spec = {
        let mut spec = spec;
        let (paths, schemas) = super::streams::openapi();
        merge(&mut spec, json!({ "paths": paths, "components": { "schemas": schemas } }));
        spec
    };
    spec
}

/// Adds `more`'s keys into `into`, object by object.
#[cfg(feature = "video")]
fn merge(into: &mut Value, more: Value) {
    match (into, more) {
        (Value::Object(into), Value::Object(more)) => {
            for (key, value) in more {
                match into.get_mut(&key) {
                    Some(existing) => merge(existing, value),
                    None => {
                        into.insert(key, value);
                    }
                }
            }
        }
        (into, more) => *into = more,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every task but `custom` shows `/predict` and `/predict/batch` answers that read back as
    /// a prediction of that task, in the model's own labels.
    #[test]
    fn each_tasks_example_answer_reads_back_as_its_task() {
        let labels = vec!["background".to_string(), "text".to_string()];
        for task in [TaskKind::Detection, TaskKind::Classification, TaskKind::Segmentation, TaskKind::Anomaly] {
            let examples = task_answer_examples(task, &labels);
            let answer = |path: &str| {
                let (_, text) =
                    examples.iter().find(|(answered, _)| *answered == path).expect("an example for the path");
                serde_json::from_str::<Value>(text).expect("the example is JSON")
            };
            let single: Prediction = serde_json::from_value(answer("/predict")).expect("reads back as a prediction");
            let batch: Prediction =
                serde_json::from_value(answer("/predict/batch")["results"][0]["prediction"].clone())
                    .expect("batch entry");
            assert_eq!(single, batch, "{task:?}");
            match (&single.output, task) {
                (PredictionOutput::Segmentation(segmentation), TaskKind::Segmentation) => {
                    let class = &segmentation.classes[0];
                    assert_eq!((class.class_id, class.label.as_str()), (1, "text"), "background is never listed");
                    assert_eq!(class.mask.decode().len(), (EXAMPLE_WIDTH * EXAMPLE_HEIGHT) as usize);
                    assert_eq!(class.area, class.mask.decode().iter().filter(|&&set| set).count() as u64);
                }
                (PredictionOutput::Anomaly(anomaly), TaskKind::Anomaly) => {
                    assert_eq!(anomaly.is_anomalous, anomaly.score > anomaly.threshold);
                    let region = anomaly.region.as_ref().expect("a region");
                    assert_eq!(region.decode().len(), (EXAMPLE_WIDTH * EXAMPLE_HEIGHT) as usize);
                }
                (PredictionOutput::Detection { .. }, TaskKind::Detection)
                | (PredictionOutput::Classification { .. }, TaskKind::Classification) => {}
                (output, task) => panic!("{task:?} answered as {output:?}"),
            }
        }
        let custom = task_answer_examples(TaskKind::Custom, &labels);
        assert!(custom.iter().all(|(path, _)| !path.starts_with("/predict")), "raw tensors are too long to show");
    }
}
