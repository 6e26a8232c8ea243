//! Live streams in the server (features `server` and `video`): `POST /streams` starts one on
//! an allowed source, `GET /streams` and `GET /streams/{id}` show them, `GET
//! /streams/{id}/events` follows one as Server-Sent Events, `DELETE /streams/{id}` stops it.
//! Streams listed in `server.streams.start` start with the server and stop with it.
//!
//! Each stream runs its frame loop ([`video::run_stream`](crate::video::run_stream), the loop
//! of `inferx run` on a live source: freshest frame, reconnects) on a thread of its own, and
//! publishes, with ids counting up from 1:
//! - a `frame` event per frame, its data the record of `inferx run --json`;
//! - a `line_crossed`, `zone_entered` or `zone_exited` event per analytics event, its data
//!   the event with the `frame` and `pts_ms` it happened on;
//! - an `end` event when the stream ends, its data the stream as `GET /streams/{id}` shows it.
//!
//! The routes sit under the same layers as every other route: API keys, rate limits, the
//! access log and metrics (see [`app`](super::app)).

mod frames;
#[cfg(test)]
mod tests;

use std::{sync::atomic::Ordering, time::Duration};

use axum::{
    body::Bytes,
    extract::{Path, State},
    http::{header, HeaderMap, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::{json, Value};

use super::{
    stream_registry::{Start, Stream},
    ApiError, AppState, FrameLoop,
};
use crate::{inputs::redact, streams_config::StreamSpec, TaskKind};

/// How long `DELETE /streams/{id}` waits for the frame loop to end before answering `202`.
const STOP_WAIT: Duration = Duration::from_secs(5);

/// The routes of streams.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/streams", get(list).post(create))
        .route("/streams/{id}", get(show).delete(stop))
        .route("/streams/{id}/events", get(follow))
}

/// Starts the streams of `server.streams.start`; a source that does not answer yet is tried
/// again until it does.
pub(crate) fn start_configured(state: &AppState) -> crate::Result<()> {
    for spec in state.config().streams.start.clone() {
        let stream = state
            .streams()
            .admit(spec.clone(), true, state.metrics())
            .map_err(|error| crate::Error::config(format!("server.streams.start: {}", error.message)))?;
        tracing::info!(stream = %stream.id, source = %redact(&spec.source), "starting a stream of server.streams.start");
        let lane = state.frame_lane(FrameLoop::Stream).ok_or_else(|| {
            crate::Error::config(
                "server.streams.start: every stream place of the workers is taken (server.streams.max)",
            )
        })?;
        frames::start(state.clone(), stream, spec, lane, None)
            .map_err(|error| crate::Error::config(format!("could not start a stream's thread: {error}")))?;
    }
    Ok(())
}

/// Asks every stream to stop (the server is shutting down), at once; the future waits up
/// to `within` for their frame loops to end.
pub(crate) fn stop_all(state: &AppState, within: Duration) -> impl std::future::Future<Output = ()> + Send + 'static {
    let ended = state.streams().stop_all(within);
    async move {
        if !ended.await {
            tracing::warn!(within_ms = within.as_millis() as u64, "a stream's frame loop did not end in time");
        }
    }
}

/// `POST /streams`: checks the stream, opens its source, and answers `201` with the stream
/// and its `Location`.
async fn create(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let spec: StreamSpec = serde_json::from_slice(&body).map_err(|error| {
        ApiError::bad_request(format!(
            "the body is not a stream ({error}): send {{\"source\": \"rtsp://...\"}} with optional name, track, lines, zones, max_fps"
        ))
    })?;
    let problems = spec.problems("body");
    if !problems.is_empty() {
        return Err(ApiError::bad_request(problems.join("; ")));
    }
    let config = &state.config().streams;
    if config.allow_sources.is_empty() {
        return Err(ApiError::forbidden(
            "this server opens no stream sources: list the cameras it may open in server.streams.allow_sources (inferx.yaml), e.g. rtsp://camera.local:554",
        ));
    }
    if !config.allows(&spec.source) {
        return Err(ApiError::forbidden(format!(
            "the source {} is not in server.streams.allow_sources: add its scheme, host and port (and path, to allow only that) there",
            redact(&spec.source)
        )));
    }
    if state.pipeline().task() != TaskKind::Detection {
        return Err(ApiError::unprocessable(format!(
            "streams follow detected boxes, and this model's task is {}: serve a detection model",
            state.pipeline().task()
        )));
    }
    let stream = state.streams().admit(spec.clone(), false, state.metrics())?;
    let Some(lane) = state.frame_lane(FrameLoop::Stream) else {
        state.streams().remove(&stream.id, state.metrics());
        return Err(ApiError::overloaded(
            "every stream place of the workers is taken (server.streams.max): retry later",
        ));
    };
    let (opened, is_open) = tokio::sync::oneshot::channel();
    if let Err(error) = frames::start(state.clone(), stream.clone(), spec, lane, Some(opened)) {
        state.streams().remove(&stream.id, state.metrics());
        return Err(ApiError::internal(format!("could not start a stream's thread: {error}")));
    }
    match is_open.await {
        Ok(Ok(())) => {
            let location = format!("/streams/{}", stream.id);
            let mut response = (StatusCode::CREATED, Json(stream.view())).into_response();
            if let Ok(location) = HeaderValue::from_str(&location) {
                response.headers_mut().insert(header::LOCATION, location);
            }
            Ok(response)
        }
        Ok(Err(reason)) => {
            state.streams().remove(&stream.id, state.metrics());
            Err(ApiError::unprocessable(format!("the stream's source could not be opened: {reason}")))
        }
        Err(_) => {
            state.streams().remove(&stream.id, state.metrics());
            Err(ApiError::internal("a stream's thread ended before opening its source"))
        }
    }
}

/// `GET /streams`.
async fn list(State(state): State<AppState>) -> Json<Value> {
    let streams: Vec<Value> = state.streams().all(state.metrics()).iter().map(|stream| stream.view()).collect();
    Json(json!({ "streams": streams, "max": state.config().streams.max }))
}

fn find(state: &AppState, id: &str) -> Result<std::sync::Arc<Stream>, ApiError> {
    // Ended streams past their time go first.
    let _ = state.streams().all(state.metrics());
    state.streams().get(id).ok_or_else(|| ApiError::not_found("no such stream; GET /streams lists them"))
}

/// `GET /streams/{id}`.
async fn show(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    Ok(Json(find(&state, &id)?.view()))
}

/// `DELETE /streams/{id}`: stops the stream; `200` with its summary once its frame loop has
/// ended, `202` if it is still finishing after a few seconds. The stream stays in `GET` for
/// `server.streams.keep_ended_s`.
async fn stop(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let stream = find(&state, &id)?;
    stream.request_stop();
    let status = if stream.wait_ended(STOP_WAIT).await { StatusCode::OK } else { StatusCode::ACCEPTED };
    Ok((status, Json(stream.view())).into_response())
}

/// `GET /streams/{id}/events`: the stream's events as Server-Sent Events, from the next one,
/// or after `Last-Event-ID`.
async fn follow(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, ApiError> {
    let stream = find(&state, &id)?;
    let start = match headers.get("last-event-id") {
        None => Start::Now,
        Some(value) => {
            let id = value.to_str().ok().and_then(|text| text.trim().parse::<u64>().ok()).ok_or_else(|| {
                ApiError::bad_request("Last-Event-ID must be the id of an event of this stream (a whole number)")
            })?;
            Start::After(id)
        }
    };
    let max_clients = state.config().streams.max_clients;
    if stream.clients.fetch_add(1, Ordering::SeqCst) >= max_clients {
        stream.clients.fetch_sub(1, Ordering::SeqCst);
        return Err(ApiError::overloaded(format!(
            "{max_clients} clients follow this stream, the most server.streams.max_clients allows"
        )));
    }
    let clients = state.metrics().streams.clients.with_label_values(&[&stream.id]);
    clients.inc();
    let guard = ClientGuard { stream: stream.clone(), clients };
    let dropped = state.metrics().streams.clients_dropped.with_label_values(&[&stream.id]);
    let stream_id = stream.id.clone();
    let body = stream.hub.clone().body(start, guard, move || {
        dropped.inc();
        tracing::info!(stream = %stream_id, "an SSE client fell behind the replay buffer and was dropped");
    });
    Ok((
        [
            (header::CONTENT_TYPE, HeaderValue::from_static("text/event-stream")),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
            // nginx would buffer the events otherwise.
            (header::HeaderName::from_static("x-accel-buffering"), HeaderValue::from_static("no")),
        ],
        body,
    )
        .into_response())
}

/// Counts an SSE client for as long as its body lives.
struct ClientGuard {
    stream: std::sync::Arc<Stream>,
    clients: prometheus::IntGauge,
}

impl Drop for ClientGuard {
    fn drop(&mut self) {
        self.stream.clients.fetch_sub(1, Ordering::SeqCst);
        self.clients.dec();
    }
}

/// The OpenAPI paths of the stream routes and the `Stream` and `StreamSpec` schemas.
pub(crate) fn openapi() -> (Value, Value) {
    let error = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } });
    let stream = |description: &str| json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Stream" } } } });
    let id = json!([{ "name": "id", "in": "path", "required": true, "schema": { "type": "string" },
                      "description": "the stream's id (its name, or the id POST /streams gave it)" }]);
    let paths = json!({
        "/streams": {
            "get": { "summary": "The streams: running, and ended ones for server.streams.keep_ended_s",
                "responses": { "200": { "description": "every stream", "content": { "application/json": { "schema": {
                    "type": "object", "properties": { "streams": { "type": "array", "items": { "$ref": "#/components/schemas/Stream" } },
                                                      "max": { "type": "integer" } } } } } },
                               "401": error("missing or invalid API key") } },
            "post": { "summary": "Start a stream on a live source in server.streams.allow_sources",
                "description": "Answers once the source has opened, with the stream and its `Location`. The source must match an entry of `server.streams.allow_sources` (scheme, host, port and path prefix); nothing is allowed by default. Credentials in the URL are never shown.",
                "requestBody": { "required": true, "content": { "application/json": {
                    "schema": { "$ref": "#/components/schemas/StreamSpec" },
                    "example": { "name": "door", "source": "rtsp://camera.local:554/live", "track": true, "max_fps": 10,
                                 "zones": [{ "name": "entrance", "polygon": [[0, 0], [320, 0], [320, 240], [0, 240]] }] } } } },
                "responses": { "201": stream("started; `Location` is /streams/{id}"),
                               "400": error("not a stream: a bad field, a file, a bad line or zone"),
                               "401": error("missing or invalid API key"),
                               "403": error("the source is not in server.streams.allow_sources"),
                               "409": error("the name is taken by a running stream"),
                               "422": error("the source could not be opened, or the model does not detect boxes"),
                               "429": error("rate limited"),
                               "503": error("server.streams.max streams are running") } },
        },
        "/streams/{id}": {
            "get": { "summary": "A stream: state, source (redacted), frames, frames/s, drops, reconnects, lag, SSE clients",
                "parameters": id, "responses": { "200": stream("the stream"), "404": error("no such stream") } },
            "delete": { "summary": "Stop a stream; it stays in GET with its summary for server.streams.keep_ended_s",
                "parameters": id, "responses": { "200": stream("stopped: its frame loop has ended"),
                                                  "202": stream("stopping: the frame in hand is still being finished"),
                                                  "404": error("no such stream") } },
        },
        "/streams/{id}/events": {
            "get": { "summary": "Follow a stream as Server-Sent Events",
                "description": "Events `frame` (the record of `inferx run --json`), `line_crossed`, `zone_entered`, `zone_exited` (with the `frame` and `pts_ms` they happened on) and `end`, each with an `id` counting up by one. Reconnect with `Last-Event-ID` to get every event after it from the replay buffer (`server.streams.replay_events`); when that id has left it, a `reset` event (`last_event_id`, `resumes_at`, `missed`) comes first. A client that falls further behind than the buffer is disconnected, and resumes the same way.",
                "parameters": [id[0].clone(), { "name": "Last-Event-ID", "in": "header", "required": false, "schema": { "type": "integer", "minimum": 0 },
                                                "description": "resume after this event (0: from the oldest kept)" }],
                "responses": { "200": { "description": "the events, until the stream ends", "content": { "text/event-stream": { "schema": { "type": "string" } } } },
                               "400": error("Last-Event-ID is not a number"), "404": error("no such stream"),
                               "503": error("server.streams.max_clients clients follow the stream") } },
        },
    });
    let schemas = json!({
        "StreamSpec": { "type": "object", "required": ["source"], "properties": {
            "name": { "type": "string", "description": "its id: 1 to 64 letters, digits, -, _ or ." },
            "source": { "type": "string", "description": "rtsp://, rtsps://, http(s):// (MJPEG, HLS) or /dev/videoN" },
            "track": { "type": "boolean", "description": "follow objects (ByteTrack); implied by lines and zones" },
            "lines": { "type": "array", "items": { "type": "object", "required": ["name", "start", "end"] }, "description": "counting lines, as tracking.lines" },
            "zones": { "type": "array", "items": { "type": "object", "required": ["name", "polygon"] }, "description": "counting zones, as tracking.zones" },
            "max_fps": { "type": "number", "description": "keep at most this many frames a second" } } },
        "Stream": { "type": "object", "required": ["id", "source", "state"], "properties": {
            "id": { "type": "string" }, "source": { "type": "string", "description": "credentials redacted" },
            "state": { "type": "string", "enum": ["connecting", "running", "stopping", "stopped", "failed"] },
            "from_config": { "type": "boolean" }, "track": { "type": "boolean" },
            "frames": { "type": "integer" }, "frames_per_s": { "type": "number" }, "received": { "type": "integer" },
            "dropped": { "type": "integer" }, "skipped": { "type": "integer" }, "reconnects": { "type": "integer" },
            "lag_ms": { "type": "object" }, "sse_clients": { "type": "integer" }, "last_event_id": { "type": "integer" },
            "events": { "type": "string" }, "error": { "type": "string", "nullable": true }, "summary": { "type": "string", "nullable": true } } },
    });
    (paths, schemas)
}
