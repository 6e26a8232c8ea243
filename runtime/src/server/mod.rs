//! The HTTP server of generated projects (feature `server`).
//!
//! A project's `src/server.rs` owns its prediction routes (`/predict`, `/predict/batch`,
//! `/predict/annotated`) and hands them to [`serve`], which adds everything a production
//! service needs around them, tested here once:
//!
//! - operations routes: `/health`, `/ready`, `/model/info`, `/metrics` (Prometheus),
//!   `/openapi.json`, `/docs`, and a demo page at `/`;
//! - the KServe Open Inference Protocol v2 under `/v2`;
//! - API keys, per-client rate limiting, CORS, a body-size limit, per-request deadlines and
//!   a bounded queue in front of worker threads (with optional dynamic batching);
//! - a cap on open connections (idle ones make room at the cap) and deadlines for each
//!   request's headers and body and for idle connections, so slow clients cannot hold the
//!   server;
//! - request ids, JSON access logs, and graceful shutdown on SIGTERM/SIGINT.
//!
//! A project's own route runs the model on a worker thread through [`AppState::predict`];
//! [`AppState::load`] reads `inferx.yaml` and loads the model (blocking, so before the async
//! runtime starts):
//!
//! ```no_run
//! use axum::{extract::State, routing::post, Json, Router};
//! use inferx_runtime::server::{self, ApiError, AppState, ImageInput, ServeOptions};
//! use inferx_runtime::Prediction;
//!
//! async fn predict(State(state): State<AppState>, image: ImageInput) -> Result<Json<Prediction>, ApiError> {
//!     Ok(Json(state.predict(image).await?))
//! }
//!
//! fn main() -> Result<(), Box<dyn std::error::Error>> {
//!     let options = ServeOptions {
//!         project_name: "detector".into(),
//!         project_version: "0.1.0".into(),
//!         port: Some(8000), // over server.port and INFERX_PORT
//!         ..Default::default()
//!     };
//!     let state = AppState::load("inferx.yaml".as_ref(), &options)?;
//!     let routes = Router::new().route("/predict", post(predict));
//!     tokio::runtime::Runtime::new()?.block_on(server::serve(routes, state))?;
//!     Ok(())
//! }
//! ```

mod body_limit;
mod connections;
mod docs;
mod error;
mod input;
mod metrics;
mod oip;
mod pages;
mod runner;
mod security;
mod state;
#[cfg(feature = "video")]
mod stream_registry;
#[cfg(feature = "video")]
mod streams;
#[cfg(test)]
mod tests;
#[cfg(feature = "video")]
mod video_upload;

use std::time::Duration;

use axum::{
    extract::{DefaultBodyLimit, State},
    http::{header, HeaderValue, Method, StatusCode, Uri},
    middleware,
    response::{Html, IntoResponse, Response},
    routing::get,
    Json, Router,
};
use serde_json::json;
use tokio::{net::TcpListener, sync::watch};
use tower_http::cors::{AllowOrigin, CorsLayer};

pub use error::{ApiError, Detail};
pub use input::{BatchInput, ImageInput};
pub use metrics::REQUEST_ID;
pub use oip::{OipRequest, RequestedOutput};
pub use runner::{FrameLane, FrameLoop};
pub use state::{AppState, BatchEntry, BatchResults, ServeOptions};

/// Why the server stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The address could not be bound.
    #[error("could not listen on {address}: {error}. Is another process using the port? Set server.port, INFERX_PORT or --port")]
    Bind {
        /// host:port asked for.
        address: String,
        /// The OS error, said in the message; not a `source` as well, so that a printed
        /// chain (`{:#}`) says it once.
        error: std::io::Error,
    },
    /// The project's settings could not be read, or are not valid.
    #[error(transparent)]
    Config(#[from] crate::Error),
    /// Serving failed.
    #[error("the server failed: {0}")]
    Io(#[from] std::io::Error),
    /// Requests were still running when the grace period ended.
    #[error("the shutdown grace period ({0} ms, server.shutdown.grace_period_ms) ended with requests still running")]
    GraceExpired(u64),
}

/// The complete application: `routes` (the project's own), the standard routes, and every
/// layer, in the order they apply (outermost first): metrics and access log, CORS,
/// authentication and rate limiting, the declared body size, body limit.
pub fn app(routes: Router<AppState>, state: AppState) -> Router {
    let config = state.config().clone();
    let routes = routes.merge(standard_routes());
    // Its own body limit, inside the one of every route (the innermost applies).
    #[cfg(feature = "video")]
    let routes = routes.merge(video_upload::routes(&config));
    #[cfg(feature = "video")]
    let routes = routes.merge(streams::routes());
    let mut app = routes
        .merge(oip::routes())
        .fallback(no_such_route)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(middleware::from_fn_with_state(state.clone(), input::declared_size))
        .layer(middleware::from_fn_with_state(state.clone(), security::guard));
    if !config.cors_origins.is_empty() {
        let origins = if config.cors_origins.iter().any(|origin| origin == "*") {
            AllowOrigin::any()
        } else {
            AllowOrigin::list(config.cors_origins.iter().filter_map(|origin| HeaderValue::from_str(origin).ok()))
        };
        app = app.layer(
            CorsLayer::new()
                .allow_origin(origins)
                .allow_methods([Method::GET, Method::POST])
                .allow_headers([
                    header::CONTENT_TYPE,
                    header::AUTHORIZATION,
                    "x-api-key".parse().expect("static header"),
                ])
                .expose_headers([REQUEST_ID, header::RETRY_AFTER]),
        );
    }
    app.layer(middleware::from_fn_with_state(state.clone(), metrics::observe)).with_state(state)
}

/// 404 for a path no route serves, with the JSON error body (the protocol's under `/v2`).
async fn no_such_route(uri: Uri) -> Response {
    ApiError::not_found(format!("no route {}; see /docs for the API", uri.path())).into_response_for(uri.path())
}

/// 405 for a route asked with a method it does not take, with the JSON error body (the
/// protocol's under `/v2`); axum adds the `Allow` header naming the methods it takes.
async fn method_not_allowed(method: Method, uri: Uri) -> Response {
    ApiError::method_not_allowed(format!(
        "{} does not take {}; see /docs for the API",
        uri.path(),
        method_name(&method)
    ))
    .into_response_for(uri.path())
}

/// A method as an error message names it: one of the standard ones, else `this method` (a
/// client's made-up method is not echoed back).
fn method_name(method: &Method) -> &'static str {
    match metrics::method_label(method) {
        "OTHER" => "this method",
        known => known,
    }
}

/// The operations routes every server has.
pub fn standard_routes() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Html(pages::demo_html()) }))
        .route("/docs", get(docs_page))
        .route("/openapi.json", get(|State(state): State<AppState>| async move { Json(pages::openapi(&state)) }))
        .route("/health", get(|| async { Json(json!({ "status": "ok" })) }))
        .route("/ready", get(ready))
        .route("/model/info", get(model_info))
        .route("/metrics", get(metrics))
}

/// `GET /docs`: the OpenAPI document as a page, its examples addressed to this server.
async fn docs_page(State(state): State<AppState>) -> Html<String> {
    let config = state.config();
    let origin = match config.host.parse::<std::net::IpAddr>() {
        Ok(ip) => format!("http://{}", std::net::SocketAddr::new(reachable_ip(ip), config.port)),
        Err(_) => format!("http://{}:{}", config.host, config.port),
    };
    Html(docs::render(&pages::openapi(&state), &origin, &pages::answer_examples(&state)))
}

async fn ready(State(state): State<AppState>) -> Response {
    if state.is_ready() {
        Json(json!({ "ready": true })).into_response()
    } else {
        (StatusCode::SERVICE_UNAVAILABLE, Json(json!({ "ready": false }))).into_response()
    }
}

async fn model_info(State(state): State<AppState>) -> Json<serde_json::Value> {
    let info = state.pipeline().info();
    let (project, version) = state.project();
    Json(json!({
        "name": state.model_name(),
        "project": project,
        "project_version": version,
        "task": info.task,
        "device": info.device,
        "provider_chain": info.chain,
        "fallbacks": info.fallbacks,
        "model": info.model,
        "input": info.input,
        "labels": info.labels,
        "load_ms": state.load_time().as_secs_f64() * 1e3,
        "versions": { "inferx_runtime": crate::VERSION, "onnxruntime": info.onnxruntime },
        "server": {
            "workers": state.config().worker_count(),
            "sessions": state.sessions(),
            "solo_session": state.solo_session(),
            "max_queue": state.config().max_queue,
            "max_batch_size": state.config().batching.max_batch_size,
            "auth": state.keys().enabled(),
        },
    }))
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))],
        state.metrics().render(),
    )
        .into_response()
}

/// Binds the address `config_file`'s `server:` section names (with the `INFERX_*`
/// environment overrides and `options` over it). Call it before [`AppState::load`], so that a
/// port in use is found at once rather than after the model has loaded, then serve the
/// listener with [`serve_on`]:
///
/// ```no_run
/// use axum::Router;
/// use inferx_runtime::server::{self, AppState, ServeOptions};
///
/// # fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let (config, options) = ("inferx.yaml".as_ref(), ServeOptions::default());
/// let runtime = tokio::runtime::Runtime::new()?;
/// let listener = runtime.block_on(server::bind(config, &options))?;
/// let state = AppState::load(config, &options)?;
/// runtime.block_on(server::serve_on(listener, Router::new(), state))?;
/// # Ok(())
/// # }
/// ```
pub async fn bind(config_file: &std::path::Path, options: &ServeOptions) -> Result<TcpListener, ServeError> {
    let config = options.load_config(config_file)?;
    bind_address(&config.server.host, config.server.port).await
}

/// Binds `host:port`; the error names the address and the settings that choose it.
async fn bind_address(host: &str, port: u16) -> Result<TcpListener, ServeError> {
    let address = format!("{host}:{port}");
    TcpListener::bind(&address).await.map_err(|error| ServeError::Bind { address, error })
}

/// Binds `server.host:server.port` and serves (see [`serve_on`]) until SIGTERM or SIGINT.
pub async fn serve(routes: Router<AppState>, state: AppState) -> Result<(), ServeError> {
    serve_until(routes, state, shutdown_signal()).await
}

/// [`serve`] with another stop trigger (tests, embedding). The drain delay and grace period
/// apply after `stop` resolves, as after a signal.
///
/// ```no_run
/// use axum::Router;
/// use inferx_runtime::server::{self, AppState, ServeOptions};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let load = || AppState::load("inferx.yaml".as_ref(), &ServeOptions::default());
/// let state = tokio::task::spawn_blocking(load).await??;
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// let serving = server::serve_until(Router::new(), state, async move {
///     let _ = stopped.await;
/// });
/// let (served, _) = tokio::join!(serving, async move {
///     // ... the embedding application decides to stop:
///     let _ = stop.send(());
/// });
/// served?;
/// # Ok(())
/// # }
/// ```
pub async fn serve_until(
    routes: Router<AppState>,
    state: AppState,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let listener = bind_address(&state.config().host, state.config().port).await?;
    serve_on_until(listener, routes, state, stop).await
}

/// Serves on `listener` (from [`bind`]) until SIGTERM or SIGINT. It prints what is served
/// and `listening on http://ADDRESS` on stdout, and serves within `server.connections`. On the
/// signal `/ready` turns 503, the server keeps answering for `shutdown.drain_delay_ms`, stops
/// accepting, waits up to `shutdown.grace_period_ms` for requests in flight, and says so.
pub async fn serve_on(listener: TcpListener, routes: Router<AppState>, state: AppState) -> Result<(), ServeError> {
    serve_on_until(listener, routes, state, shutdown_signal()).await
}

/// [`serve_on`] with another stop trigger, as [`serve_until`] is to [`serve`].
pub async fn serve_on_until(
    listener: TcpListener,
    routes: Router<AppState>,
    state: AppState,
    stop: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    let config = state.config().clone();
    let local = listener.local_addr()?;
    println!("{}", serving_line(&state));
    println!("listening on http://{local}");
    let reachable = std::net::SocketAddr::new(reachable_ip(local.ip()), local.port());
    println!("  demo page  http://{reachable}/\n  API docs   http://{reachable}/docs");
    tracing::info!(address = %local, model = state.model_name(), "listening");
    #[cfg(feature = "video")]
    streams::start_configured(&state)?;

    let (stopping, mut stopped) = watch::channel(false);
    let drain_state = state.clone();
    let drain_delay = Duration::from_millis(config.shutdown.drain_delay_ms);
    let grace = config.shutdown.grace_period_ms;
    let shutdown = async move {
        stop.await;
        drain_state.begin_drain();
        println!(
            "shutting down: draining for {} ms, then up to {grace} ms for requests in flight",
            drain_delay.as_millis()
        );
        tracing::info!(drain_delay_ms = drain_delay.as_millis() as u64, "shutting down: readiness off");
        tokio::time::sleep(drain_delay).await;
        // Streams stop as the server stops accepting: their SSE answers end with their frame
        // loops, within the grace period of the requests in flight.
        #[cfg(feature = "video")]
        let streams_ended = streams::stop_all(&drain_state, Duration::from_millis(grace));
        // Uploaded clips too: each ends its answer with a 503 error line within a frame.
        #[cfg(feature = "video")]
        drain_state.clips().stop_all();
        let _ = stopping.send(true);
        #[cfg(feature = "video")]
        streams_ended.await;
        tracing::info!("no longer accepting connections; finishing requests in flight");
    };
    let counters = connections::ConnectionCounters {
        open: state.metrics().connections.clone(),
        refused: state.metrics().rejected.with_label_values(&["connections"]),
        evicted: state.metrics().connections_evicted.clone(),
    };
    let serving =
        connections::serve_connections(listener, app(routes, state), config.connections, counters, stopped.clone());
    let server = async move {
        tokio::join!(shutdown, serving);
    };
    let grace_over = async move {
        let _ = stopped.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(Duration::from_millis(grace)).await;
    };
    tokio::select! {
        () = server => {
            println!("stopped: every request finished");
            tracing::info!("stopped cleanly");
            Ok(())
        }
        _ = grace_over => Err(ServeError::GraceExpired(grace)),
    }
}

/// What a server serves, in one line: `serving NAME (TASK, MODEL FILE) on DEVICE with N workers`.
fn serving_line(state: &AppState) -> String {
    let info = state.pipeline().info();
    let workers = state.config().worker_count();
    format!(
        "serving {} ({}, {}) on {} with {workers} worker{}",
        state.model_name(),
        info.task,
        info.model.file,
        info.device,
        if workers == 1 { "" } else { "s" }
    )
}

/// The address a client on this machine reaches a server bound to `ip` on: the loopback
/// address for the unspecified one (`0.0.0.0`, `::`).
fn reachable_ip(ip: std::net::IpAddr) -> std::net::IpAddr {
    match ip {
        std::net::IpAddr::V4(ip) if ip.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        ip => ip,
    }
}

/// Asks a server on this machine whether it is ready (`GET /ready` on `server.port`): what a
/// container `HEALTHCHECK` runs, with no HTTP client in the image. A `0.0.0.0` or `::` bind is
/// reached on the loopback address.
pub fn probe_ready(config: &crate::config::ServerConfig, timeout: Duration) -> Result<(), String> {
    use std::io::{Read, Write};
    let host = match config.host.trim_start_matches('[').trim_end_matches(']') {
        "" => "0.0.0.0",
        host => host,
    };
    let bound = std::net::ToSocketAddrs::to_socket_addrs(&(host, config.port))
        .map_err(|error| format!("cannot resolve {host}: {error}"))?
        .next()
        .ok_or_else(|| format!("cannot resolve {host}"))?;
    let address = std::net::SocketAddr::new(reachable_ip(bound.ip()), bound.port());
    let mut stream = std::net::TcpStream::connect_timeout(&address, timeout)
        .map_err(|error| format!("cannot connect to {address}: {error}"))?;
    let _ = stream.set_read_timeout(Some(timeout));
    let _ = stream.set_write_timeout(Some(timeout));
    stream
        .write_all(format!("GET /ready HTTP/1.1\r\nHost: {address}\r\nConnection: close\r\n\r\n").as_bytes())
        .map_err(|error| format!("cannot send to {address}: {error}"))?;
    let mut head = [0u8; 64];
    let read = stream.read(&mut head).map_err(|error| format!("no answer from {address}: {error}"))?;
    let status_line = String::from_utf8_lossy(&head[..read]);
    match status_line.split_whitespace().nth(1) {
        Some("200") => Ok(()),
        Some(status) => Err(format!("{address}/ready answered {status}")),
        None => Err(format!("{address} did not answer HTTP")),
    }
}

/// Resolves on SIGTERM or SIGINT (Ctrl-C).
pub async fn shutdown_signal() {
    let interrupt = async {
        // Without a Ctrl-C handler, wait for SIGTERM alone instead of stopping at once.
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {}
        _ = terminate => {}
    }
}
