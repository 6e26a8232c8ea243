//! Prometheus metrics, and the middleware that counts, times and logs every request.

use std::{
    sync::atomic::{AtomicU64, Ordering},
    time::Instant,
};

use axum::{
    extract::{MatchedPath, Request, State},
    http::{HeaderName, HeaderValue, Method},
    middleware::Next,
    response::Response,
};
use prometheus::{
    Encoder, Gauge, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use super::AppState;

/// Header carrying the request id, taken from the client when sane, else generated.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The server's metrics, registered in a registry of their own.
pub(crate) struct Metrics {
    registry: Registry,
    pub requests: IntCounterVec,
    pub latency: HistogramVec,
    pub inference: Histogram,
    pub decode: Histogram,
    pub batch_size: Histogram,
    pub queue_depth: IntGauge,
    pub in_flight: IntGauge,
    pub connections: IntGauge,
    pub connections_evicted: IntCounter,
    pub model_load: Gauge,
    pub rejected: IntCounterVec,
    pub session_runs: IntCounterVec,
    #[cfg(feature = "video")]
    pub streams: StreamMetrics,
    build: IntGaugeVec,
}

#[cfg(feature = "video")]
/// Per-stream metrics (`/streams`), labelled by the stream's id; a stream's series go when it
/// leaves `GET /streams` ([`StreamMetrics::forget`]), so ids do not pile up.
pub(crate) struct StreamMetrics {
    /// Frames detected: `rate()` of it is the stream's frames/s.
    pub frames: IntCounterVec,
    /// Frames not detected, by reason: `busy` (a newer frame arrived before the model was
    /// free), `max_fps` (skipped on arrival).
    pub dropped: IntCounterVec,
    /// Arrival to result, per frame.
    pub lag: HistogramVec,
    /// Connections reopened after the source failed or went silent.
    pub reconnects: IntCounterVec,
    /// SSE clients following the stream now.
    pub clients: IntGaugeVec,
    /// SSE clients dropped for falling more than `server.streams.replay_events` behind.
    pub clients_dropped: IntCounterVec,
    /// Streams running (connecting included).
    pub running: IntGauge,
}

#[cfg(feature = "video")]
const LAG_BUCKETS: &[f64] = &[0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

#[cfg(feature = "video")]
impl StreamMetrics {
    fn new() -> StreamMetrics {
        let by_stream = |name: &str, help: &str| {
            IntCounterVec::new(Opts::new(name, help), &["stream"]).expect("static metric definition")
        };
        StreamMetrics {
            frames: by_stream("inferx_stream_frames_total", "Frames detected, by stream"),
            dropped: IntCounterVec::new(
                Opts::new(
                    "inferx_stream_dropped_frames_total",
                    "Frames not detected, by stream and reason: busy (a newer frame came first), max_fps (skipped)",
                ),
                &["stream", "reason"],
            )
            .expect("static metric definition"),
            lag: HistogramVec::new(
                HistogramOpts::new("inferx_stream_lag_seconds", "Frame arrival to result, by stream")
                    .buckets(LAG_BUCKETS.to_vec()),
                &["stream"],
            )
            .expect("static metric definition"),
            reconnects: by_stream("inferx_stream_reconnects_total", "Source reconnections, by stream"),
            clients: IntGaugeVec::new(
                Opts::new("inferx_stream_sse_clients", "SSE clients following each stream"),
                &["stream"],
            )
            .expect("static metric definition"),
            clients_dropped: by_stream(
                "inferx_stream_sse_clients_dropped_total",
                "SSE clients dropped for falling behind the replay buffer, by stream",
            ),
            running: IntGauge::new("inferx_streams_running", "Streams running (server.streams.max)")
                .expect("static metric definition"),
        }
    }

    fn collectors(&self) -> [Box<dyn prometheus::core::Collector>; 7] {
        [
            Box::new(self.frames.clone()),
            Box::new(self.dropped.clone()),
            Box::new(self.lag.clone()),
            Box::new(self.reconnects.clone()),
            Box::new(self.clients.clone()),
            Box::new(self.clients_dropped.clone()),
            Box::new(self.running.clone()),
        ]
    }

    /// Removes the series of `stream`.
    pub fn forget(&self, stream: &str) {
        for metric in [&self.frames, &self.reconnects, &self.clients_dropped] {
            let _ = metric.remove_label_values(&[stream]);
        }
        for reason in ["busy", "max_fps"] {
            let _ = self.dropped.remove_label_values(&[stream, reason]);
        }
        let _ = self.lag.remove_label_values(&[stream]);
        let _ = self.clients.remove_label_values(&[stream]);
    }
}

const LATENCY_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0];

impl Metrics {
    pub fn new() -> Metrics {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new("inferx_http_requests_total", "HTTP requests by route, method and status"),
            &["route", "method", "status"],
        )
        .expect("static metric definition");
        let latency = HistogramVec::new(
            HistogramOpts::new("inferx_http_request_duration_seconds", "HTTP request latency by route")
                .buckets(LATENCY_BUCKETS.to_vec()),
            &["route"],
        )
        .expect("static metric definition");
        let inference = Histogram::with_opts(
            HistogramOpts::new("inferx_inference_duration_seconds", "Model run time per batch")
                .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("static metric definition");
        let decode = Histogram::with_opts(
            HistogramOpts::new("inferx_decode_duration_seconds", "Image decoding time per image")
                .buckets(LATENCY_BUCKETS.to_vec()),
        )
        .expect("static metric definition");
        let batch_size = Histogram::with_opts(
            HistogramOpts::new("inferx_batch_size", "Images per model run")
                .buckets(vec![1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]),
        )
        .expect("static metric definition");
        let queue_depth =
            IntGauge::new("inferx_queue_depth", "Requests waiting for a worker").expect("static metric definition");
        let in_flight =
            IntGauge::new("inferx_in_flight_requests", "HTTP requests being served").expect("static metric definition");
        let connections = IntGauge::new("inferx_open_connections", "Client connections open (server.connections.max)")
            .expect("static metric definition");
        let connections_evicted = IntCounter::new(
            "inferx_connections_evicted_total",
            "Connections without a request in flight closed to make room under server.connections.max",
        )
        .expect("static metric definition");
        let model_load = Gauge::new("inferx_model_load_seconds", "Time to load and warm the model")
            .expect("static metric definition");
        let rejected = IntCounterVec::new(
            Opts::new("inferx_rejected_requests_total", "Requests refused before inference, by reason"),
            &["reason"],
        )
        .expect("static metric definition");
        let session_runs = IntCounterVec::new(
            Opts::new(
                "inferx_session_runs_total",
                "Model runs by session: `solo` (every core, for a request alone) or `shared` (under load)",
            ),
            &["session"],
        )
        .expect("static metric definition");
        let build = IntGaugeVec::new(
            Opts::new("inferx_build_info", "Versions, task and device of this server (value 1)"),
            &["version", "onnxruntime", "task", "device"],
        )
        .expect("static metric definition");
        for metric in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(latency.clone()),
            Box::new(inference.clone()),
            Box::new(decode.clone()),
            Box::new(batch_size.clone()),
            Box::new(queue_depth.clone()),
            Box::new(in_flight.clone()),
            Box::new(connections.clone()),
            Box::new(connections_evicted.clone()),
            Box::new(model_load.clone()),
            Box::new(rejected.clone()),
            Box::new(session_runs.clone()),
            Box::new(build.clone()),
        ] {
            registry.register(metric).expect("metric names are unique");
        }
        #[cfg(feature = "video")]
        let streams = {
            let streams = StreamMetrics::new();
            for metric in streams.collectors() {
                registry.register(metric).expect("metric names are unique");
            }
            streams
        };
        Metrics {
            registry,
            requests,
            latency,
            inference,
            decode,
            batch_size,
            queue_depth,
            in_flight,
            connections,
            connections_evicted,
            model_load,
            rejected,
            session_runs,
            #[cfg(feature = "video")]
            streams,
            build,
        }
    }

    pub fn set_build_info(&self, version: &str, onnxruntime: &str, task: &str, device: &str) {
        self.build.with_label_values(&[version, onnxruntime, task, device]).set(1);
    }

    /// The Prometheus text exposition.
    pub fn render(&self) -> String {
        let mut buffer = Vec::new();
        // Encoding into a Vec cannot fail for well-formed metrics.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut buffer);
        String::from_utf8(buffer).unwrap_or_default()
    }
}

static NEXT_ID: AtomicU64 = AtomicU64::new(0);

fn process_tag() -> u64 {
    use std::{
        hash::{BuildHasher, RandomState},
        sync::OnceLock,
    };
    static TAG: OnceLock<u64> = OnceLock::new();
    *TAG.get_or_init(|| RandomState::new().hash_one(std::process::id()))
}

fn request_id(request: &Request) -> HeaderValue {
    let given = request.headers().get(&REQUEST_ID).filter(|value| {
        let bytes = value.as_bytes();
        !bytes.is_empty() && bytes.len() <= 64 && bytes.iter().all(u8::is_ascii_graphic)
    });
    match given {
        Some(value) => value.clone(),
        None => {
            let id = format!("{:08x}{:08x}", process_tag() as u32, NEXT_ID.fetch_add(1, Ordering::Relaxed));
            HeaderValue::from_str(&id).unwrap_or(HeaderValue::from_static("0"))
        }
    }
}

/// One JSON line per request on stdout, written whole so lines from concurrent requests never
/// interleave.
fn access_log(id: &HeaderValue, method: &str, path: &str, status: u16, latency_ms: f64) {
    use std::io::Write;
    let line = serde_json::json!({
        "time": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |time| time.as_secs_f64()),
        "kind": "access",
        "request_id": id.to_str().unwrap_or_default(),
        "method": method,
        "path": path,
        "status": status,
        "latency_ms": (latency_ms * 1000.0).round() / 1000.0,
    });
    let mut text = line.to_string();
    text.push('\n');
    // A closed stdout must not fail the request.
    let _ = std::io::stdout().lock().write_all(text.as_bytes());
}

/// The method as a metrics label and in the access log: one of a fixed set, so that clients
/// sending made-up methods (hyper takes any token) cannot add label values without end.
pub(crate) fn method_label(method: &Method) -> &'static str {
    const KNOWN: [(Method, &str); 7] = [
        (Method::GET, "GET"),
        (Method::POST, "POST"),
        (Method::HEAD, "HEAD"),
        (Method::OPTIONS, "OPTIONS"),
        (Method::PUT, "PUT"),
        (Method::DELETE, "DELETE"),
        (Method::PATCH, "PATCH"),
    ];
    KNOWN.iter().find(|(known, _)| known == method).map_or("OTHER", |(_, label)| label)
}

/// A request between arriving and being answered: counted in flight until dropped. Dropped
/// without an answer (the client went away and hyper dropped the handler), it is counted and
/// logged with status 499, as nginx does.
struct InFlight {
    state: AppState,
    id: HeaderValue,
    route: String,
    method: &'static str,
    path: String,
    started: Instant,
    status: Option<u16>,
}

impl InFlight {
    /// Counts `request` in flight, until the value is dropped.
    fn begin(state: &AppState, request: &Request, id: HeaderValue, route: String) -> InFlight {
        state.metrics().in_flight.inc();
        InFlight {
            state: state.clone(),
            id,
            route,
            method: method_label(request.method()),
            path: request.uri().path().to_string(),
            started: Instant::now(),
            status: None,
        }
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let metrics = self.state.metrics();
        metrics.in_flight.dec();
        let status = self.status.unwrap_or(CLIENT_CLOSED);
        let elapsed = self.started.elapsed();
        metrics.requests.with_label_values(&[self.route.as_str(), self.method, &status.to_string()]).inc();
        metrics.latency.with_label_values(&[self.route.as_str()]).observe(elapsed.as_secs_f64());
        if self.state.config().access_log {
            access_log(&self.id, self.method, &self.path, status, elapsed.as_secs_f64() * 1e3);
        }
    }
}

/// The status recorded for a request whose client closed the connection before the answer.
const CLIENT_CLOSED: u16 = 499;

/// Counts, times and logs every request (outermost layer, so refusals are seen too), and
/// echoes the request id.
pub(crate) async fn observe(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let id = request_id(&request);
    request.headers_mut().insert(REQUEST_ID, id.clone());
    // The matched route template keeps label cardinality bounded (`/v2/models/{name}`).
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_string(), |path| path.as_str().to_string());
    let mut in_flight = InFlight::begin(&state, &request, id.clone(), route);
    let scope = String::from_utf8_lossy(id.as_bytes()).into_owned();
    let mut response = super::error::REQUEST_ID_SCOPE.scope(scope, next.run(request)).await;
    in_flight.status = Some(response.status().as_u16());
    drop(in_flight);
    response.headers_mut().insert(REQUEST_ID, id);
    response
}
