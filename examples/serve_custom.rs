//! Serve any ONNX model over HTTP with the runtime's server, plus a route of your own.
//!
//! ```text
//! cargo run --example serve_custom -- model.onnx [PORT]
//! curl -F file=@photo.jpg localhost:8080/predict          # every output tensor
//! curl -F file=@photo.jpg localhost:8080/predict/shapes   # your route: names and shapes
//! ```
//!
//! The config is built in code (a generated project reads `inferx.yaml` instead); `/health`,
//! `/ready`, `/metrics`, `/model/info`, `/openapi.json`, the KServe v2 routes, limits and
//! graceful shutdown come with `server::serve`.

use std::{collections::BTreeMap, path::Path};

use anyhow::{bail, Context};
use axum::{extract::State, routing::post, Json, Router};
use inferx_runtime::{
    server::{self, ApiError, AppState, ImageInput, ServeOptions},
    Prediction, PredictionOutput, ProjectConfig,
};

async fn predict(State(state): State<AppState>, image: ImageInput) -> Result<Json<Prediction>, ApiError> {
    Ok(Json(state.predict(image).await?))
}

/// Each output's shape, by name: a small route of your own beside the standard ones.
async fn shapes(
    State(state): State<AppState>,
    image: ImageInput,
) -> Result<Json<BTreeMap<String, Vec<usize>>>, ApiError> {
    let prediction = state.predict(image).await?;
    let PredictionOutput::Custom { outputs } = prediction.output else {
        return Ok(Json(BTreeMap::new()));
    };
    Ok(Json(outputs.into_iter().map(|output| (output.name, output.shape)).collect()))
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let Some(model) = args.first() else {
        bail!("usage: serve_custom MODEL.onnx [PORT]");
    };
    let model = Path::new(model);
    let file_name = model.file_name().context("MODEL names no file")?.to_string_lossy();
    // The same settings an `inferx.yaml` holds, the model's folder standing in for the
    // project's; the `custom` task returns raw output tensors.
    let yaml = format!(
        "inferx: {{ version: \"{}\", template: custom }}\nmodel: {{ path: {file_name:?} }}\ntask: custom\n",
        inferx_runtime::VERSION
    );
    let config = ProjectConfig::parse(&yaml)?;
    let port = args.get(1).map(|port| port.parse()).transpose().context("PORT is a number (0 picks a free one)")?;
    let options = ServeOptions {
        project_name: "serve-custom".to_string(),
        project_version: inferx_runtime::VERSION.to_string(),
        host: None,
        port,
        workers: None,
    };
    // Loads and warms the model before the first request is accepted.
    let folder = model.parent().filter(|parent| !parent.as_os_str().is_empty()).unwrap_or(Path::new("."));
    let state = AppState::from_config(config, folder, &options)?;
    let routes = Router::new().route("/predict", post(predict)).route("/predict/shapes", post(shapes));
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    // Prints `listening on http://ADDRESS`, then runs until SIGTERM or Ctrl-C.
    runtime.block_on(server::serve(routes, state))?;
    Ok(())
}
