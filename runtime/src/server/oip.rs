//! The KServe Open Inference Protocol v2 (REST): health, model metadata and tensor inference,
//! so a project's container runs as a KServe custom predictor.

use axum::{
    extract::{rejection::PathRejection, Path, Request, State},
    http::{header, HeaderName, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    routing::{get, post},
    Json, Router,
};
use serde::{
    de::{self, DeserializeSeed, IgnoredAny, SeqAccess, Visitor},
    Deserialize, Deserializer, Serialize,
};
use serde_json::{json, Value};

use super::{ApiError, AppState};
use crate::{
    model::info::TensorInfo,
    tensor::{InputTensor, OutputTensor},
};

/// The `/v2` routes: the protocol's, each model route also under `versions/1`, Triton's model
/// configuration, and the model-repository and statistics paths its clients probe (answered
/// where this server can, refused in the protocol's shape where it cannot).
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/versions/{version}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/versions/{version}/ready", get(model_ready))
        .route("/v2/models/{name}/config", get(model_config))
        .route("/v2/models/{name}/versions/{version}/config", get(model_config))
        .route("/v2/models/{name}/infer", post(infer))
        .route("/v2/models/{name}/versions/{version}/infer", post(infer))
        .route("/v2/models/stats", get(statistics))
        .route("/v2/models/{name}/stats", get(statistics))
        .route("/v2/models/{name}/versions/{version}/stats", get(statistics))
        .route("/v2/repository/index", post(repository_index))
        .route("/v2/repository/models/{name}/load", post(repository_control))
        .route("/v2/repository/models/{name}/unload", post(repository_control))
}

/// The one version of the model a server serves.
const VERSION: &str = "1";

/// The model a `/v2/models/{name}[/versions/{version}]` path names.
#[derive(Debug, Deserialize)]
struct ModelPath {
    name: String,
    version: Option<String>,
}

/// The model a path names, if it is the one this server serves (404 otherwise). A path that
/// cannot be read (bad percent-encoding) is a 400 in the protocol's shape, not axum's text.
fn served_model(state: &AppState, path: Result<Path<ModelPath>, PathRejection>) -> Result<ModelPath, ApiError> {
    let Path(path) =
        path.map_err(|rejection| ApiError::bad_request(format!("the path cannot be read: {}", rejection.body_text())))?;
    if path.name != state.model_name() {
        return Err(ApiError::not_found(format!(
            "no model named `{}`; this server serves `{}`",
            path.name,
            state.model_name()
        )));
    }
    match path.version.as_deref() {
        None | Some(VERSION) => Ok(path),
        Some(other) => Err(ApiError::not_found(format!(
            "model `{}` has no version `{other}`; it has version {VERSION}",
            path.name
        ))),
    }
}

/// OIP datatype of an ONNX element type.
fn datatype(dtype: &str) -> &'static str {
    match dtype {
        "f32" => "FP32",
        "f64" => "FP64",
        "f16" => "FP16",
        "bf16" => "BF16",
        "i8" => "INT8",
        "i16" => "INT16",
        "i32" => "INT32",
        "i64" => "INT64",
        "u8" => "UINT8",
        "u16" => "UINT16",
        "u32" => "UINT32",
        "u64" => "UINT64",
        "bool" => "BOOL",
        "String" | "string" => "BYTES",
        _ => "FP32",
    }
}

fn tensor_metadata(tensor: &TensorInfo) -> Value {
    json!({ "name": tensor.name, "datatype": datatype(&tensor.dtype), "shape": tensor.shape })
}

async fn server_metadata() -> Json<Value> {
    Json(json!({
        "name": "inferx",
        "version": crate::VERSION,
        "extensions": ["binary_tensor_data", "model_configuration"],
    }))
}

async fn live() -> Json<Value> {
    Json(json!({ "live": true }))
}

async fn ready(State(state): State<AppState>) -> Response {
    let ready = state.is_ready();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "ready": ready }))).into_response()
}

async fn model_metadata(State(state): State<AppState>, path: Result<Path<ModelPath>, PathRejection>) -> Response {
    if let Err(error) = served_model(&state, path) {
        return error.into_oip_response();
    }
    let info = state.pipeline().engine().info();
    Json(json!({
        "name": state.model_name(),
        "versions": [VERSION],
        "platform": "onnxruntime_onnx",
        "inputs": info.inputs.iter().map(tensor_metadata).collect::<Vec<_>>(),
        "outputs": info.outputs.iter().map(tensor_metadata).collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn model_ready(State(state): State<AppState>, path: Result<Path<ModelPath>, PathRejection>) -> Response {
    let path = match served_model(&state, path) {
        Ok(path) => path,
        Err(error) => return error.into_oip_response(),
    };
    let ready = state.is_ready();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "name": path.name, "ready": ready }))).into_response()
}

/// Triton's model configuration (its `model_configuration` extension), which `perf_analyzer`
/// reads before it sends a request: with a dynamic batch axis, `max_batch_size` is
/// `server.max_batch_images` and `dims` leave the batch axis out, as Triton's do; with a fixed
/// one, `max_batch_size` is 0 and `dims` are the whole shape.
async fn model_config(State(state): State<AppState>, path: Result<Path<ModelPath>, PathRejection>) -> Response {
    if let Err(error) = served_model(&state, path) {
        return error.into_oip_response();
    }
    let batches = state.pipeline().batches_dynamically();
    let max_batch_size = if batches { state.config().max_batch_images } else { 0 };
    let info = state.pipeline().engine().info();
    let config = |tensor: &TensorInfo| {
        let dims = if batches { &tensor.shape[tensor.shape.len().min(1)..] } else { &tensor.shape[..] };
        let data_type = match datatype(&tensor.dtype) {
            "BYTES" => "TYPE_STRING".to_string(),
            other => format!("TYPE_{other}"),
        };
        json!({ "name": tensor.name, "data_type": data_type, "dims": dims })
    };
    Json(json!({
        "name": state.model_name(),
        "platform": "onnxruntime_onnx",
        "backend": "onnxruntime",
        "max_batch_size": max_batch_size,
        "input": info.inputs.iter().map(config).collect::<Vec<_>>(),
        "output": info.outputs.iter().map(config).collect::<Vec<_>>(),
    }))
    .into_response()
}

/// The statistics extension is not served: the same facts are on `/metrics`.
async fn statistics() -> Response {
    ApiError::not_supported(
        "this server does not serve the statistics extension; read its statistics from /metrics (Prometheus)",
    )
    .into_oip_response()
}

/// The model repository as the protocol's index lists it: the one model this server serves.
async fn repository_index(State(state): State<AppState>) -> Json<Value> {
    let model_state = if state.is_ready() { "READY" } else { "UNAVAILABLE" };
    Json(json!([{ "name": state.model_name(), "version": VERSION, "state": model_state }]))
}

/// Models are not loaded or unloaded while serving: the one model is loaded at start.
async fn repository_control(State(state): State<AppState>) -> Response {
    ApiError::not_supported(format!(
        "this server serves one model, `{}`, loaded at start; it cannot load or unload models",
        state.model_name()
    ))
    .into_oip_response()
}

/// The header that gives the length of a body's JSON part when binary tensor data follows it
/// (the binary tensor data extension).
pub(crate) const HEADER_LENGTH: &str = "Inference-Header-Content-Length";

/// One input tensor of an inference request: its values in `data` (flat or nested) or, with
/// `parameters.binary_data_size`, as little-endian bytes after the JSON.
#[derive(Debug, Deserialize)]
struct RequestInput {
    name: String,
    shape: Vec<u64>,
    datatype: String,
    #[serde(default)]
    data: Option<TensorData>,
    #[serde(default)]
    parameters: TensorParameters,
}

/// The parameters of a tensor this server reads; others are skipped unread.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct TensorParameters {
    /// The bytes of an input's binary data.
    binary_data_size: Option<u64>,
    /// Whether an output is answered as binary data.
    binary_data: Option<bool>,
    /// The shared-memory extension's, which this server does not implement.
    shared_memory_region: Option<IgnoredAny>,
    /// The classification extension's, which this server does not implement.
    classification: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct RequestOutput {
    name: String,
    #[serde(default)]
    parameters: TensorParameters,
}

/// The parameters of a request this server reads; others (`priority`, `timeout`...) are
/// skipped unread.
#[derive(Debug, Default, Deserialize)]
#[serde(default)]
struct RequestParameters {
    /// Whether outputs are answered as binary data unless an output says otherwise.
    binary_data_output: bool,
}

#[derive(Debug, Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    inputs: Vec<RequestInput>,
    #[serde(default)]
    outputs: Vec<RequestOutput>,
    #[serde(default)]
    parameters: RequestParameters,
}

/// Tensor values read straight into `f32`s, row-major, from numbers flat or nested in arrays:
/// 4 bytes a value, where a JSON value tree would take 32 (a 16 MiB body of `0,` is 8 million
/// values). Anything but numbers, or a number out of the FP32 range, is refused.
#[derive(Debug)]
struct TensorData(Vec<f32>);

impl<'de> Deserialize<'de> for TensorData {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let mut values = Vec::new();
        Flatten(&mut values).deserialize(deserializer)?;
        Ok(TensorData(values))
    }
}

/// Appends the numbers of one JSON value, arrays flattened, to a vector.
struct Flatten<'v>(&'v mut Vec<f32>);

impl<'de> DeserializeSeed<'de> for Flatten<'_> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<(), D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Flatten<'_> {
    type Value = ();
    fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
        formatter.write_str("tensor data: numbers, flat or in nested arrays")
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<(), E> {
        self.visit_f64(value as f64)
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<(), E> {
        self.visit_f64(value as f64)
    }
    fn visit_f64<E: de::Error>(self, value: f64) -> Result<(), E> {
        let single = value as f32;
        if !single.is_finite() {
            return Err(E::custom(format!("tensor data: {value} is out of the FP32 range")));
        }
        self.0.push(single);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut items: A) -> Result<(), A::Error> {
        while items.next_element_seed(Flatten(&mut *self.0))?.is_some() {}
        Ok(())
    }
}

/// An output as the response's JSON lists it: its values in `data`, or, answered as binary
/// data, its byte count in `parameters` and its bytes after the JSON.
#[derive(Debug, Serialize)]
struct ResponseOutput {
    name: String,
    datatype: &'static str,
    shape: Vec<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameters: Option<BinarySize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<Vec<f32>>,
}

#[derive(Debug, Serialize)]
struct BinarySize {
    binary_data_size: usize,
}

/// The JSON of an inference response, written straight from the tensors (a
/// `serde_json::Value` would widen every `f32`).
#[derive(Debug, Serialize)]
struct InferResponse<'a> {
    model_name: &'a str,
    model_version: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    id: Option<String>,
    outputs: Vec<ResponseOutput>,
}

/// An output a request asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedOutput {
    /// The output's name.
    pub name: String,
    /// Whether it is answered as binary data (its `binary_data` parameter, else the request's
    /// `binary_data_output`).
    pub binary: bool,
}

/// A checked Open Inference Protocol v2 request, the body of
/// `POST /v2/models/{name}/infer`.
#[derive(Debug)]
pub struct OipRequest {
    /// The client's request id, echoed in the response.
    pub id: Option<String>,
    /// The input tensors: FP32, each holding exactly as many values as its shape.
    pub inputs: Vec<InputTensor>,
    /// The outputs asked for; all when empty.
    pub outputs: Vec<RequestedOutput>,
    /// Whether outputs are answered as binary data when `outputs` is empty (the request's
    /// `binary_data_output`).
    pub binary_outputs: bool,
}

impl OipRequest {
    /// Parses and checks a request body of JSON alone: the OIP v2 shape, FP32 inputs, data
    /// flat or nested, values matching the shape (at most 2^28 of them). Every refusal is a
    /// 400 whose message names the input and the problem.
    ///
    /// ```
    /// use inferx_runtime::server::OipRequest;
    ///
    /// let body = br#"{"id": "7", "inputs": [{"name": "images", "shape": [1, 2], "datatype": "FP32", "data": [[0.5, 1]]}]}"#;
    /// let request = OipRequest::parse(body).unwrap();
    /// assert_eq!(request.inputs[0].data, [0.5, 1.0]);
    ///
    /// let short = br#"{"inputs": [{"name": "images", "shape": [1, 3], "datatype": "FP32", "data": [1, 2]}]}"#;
    /// assert!(OipRequest::parse(short).unwrap_err().message.contains("2 values; its shape [1, 3] holds 3"));
    ///
    /// let huge = br#"{"inputs": [{"name": "images", "shape": [2], "datatype": "FP32", "data": [1e300, 0]}]}"#;
    /// assert!(OipRequest::parse(huge).unwrap_err().message.contains("out of the FP32 range"));
    /// let text = br#"{"inputs": [{"name": "images", "shape": [1], "datatype": "FP32", "data": ["1"]}]}"#;
    /// assert!(OipRequest::parse(text).unwrap_err().message.contains("numbers, flat or in nested arrays"));
    /// let nested = br#"{"inputs": [{"name": "x", "shape": [2, 2], "datatype": "FP32", "data": [[1, -2], [3.5, 4]],
    ///                   "parameters": {"ignored": [1, 2, {"a": null}]}}]}"#;
    /// assert_eq!(OipRequest::parse(nested).unwrap().inputs[0].data, [1.0, -2.0, 3.5, 4.0]);
    /// ```
    pub fn parse(body: &[u8]) -> Result<Self, ApiError> {
        OipRequest::parse_with_binary(body, None)
    }

    /// Parses and checks a request body whose first `json_length` bytes are the JSON (the
    /// `Inference-Header-Content-Length` header) and the rest the binary data of the inputs
    /// that give a `binary_data_size`, in their order: FP32 little-endian, row-major. Inputs
    /// may mix JSON `data` and binary data. Without `json_length` the body is JSON alone.
    ///
    /// ```
    /// use inferx_runtime::server::OipRequest;
    ///
    /// let json = br#"{"inputs": [{"name": "a", "shape": [2], "datatype": "FP32", "parameters": {"binary_data_size": 8}},
    ///                           {"name": "b", "shape": [1], "datatype": "FP32", "data": [3]}],
    ///                "outputs": [{"name": "y", "parameters": {"binary_data": true}}]}"#;
    /// let mut body = json.to_vec();
    /// body.extend([0.5f32, -1.0].iter().flat_map(|value| value.to_le_bytes()));
    /// let request = OipRequest::parse_with_binary(&body, Some(json.len())).unwrap();
    /// assert_eq!((request.inputs[0].data.as_slice(), request.inputs[1].data.as_slice()), (&[0.5, -1.0][..], &[3.0][..]));
    /// assert!(request.outputs[0].binary);
    ///
    /// let short = OipRequest::parse_with_binary(&body[..body.len() - 1], Some(json.len())).unwrap_err();
    /// assert!(short.message.contains("binary_data_size 8, but only 7 bytes"), "{}", short.message);
    /// ```
    pub fn parse_with_binary(body: &[u8], json_length: Option<usize>) -> Result<Self, ApiError> {
        let (json, mut binary) = match json_length {
            None => (body, &[][..]),
            Some(0) => {
                return Err(ApiError::bad_request(format!(
                    "{HEADER_LENGTH} is 0 (a body of binary data alone), which this server does not take; \
                     send the JSON inference request first and give its length in {HEADER_LENGTH}"
                )))
            }
            Some(length) if length <= body.len() => body.split_at(length),
            Some(length) => {
                return Err(ApiError::bad_request(format!(
                    "{HEADER_LENGTH} is {length}, but the body holds only {} bytes",
                    body.len()
                )))
            }
        };
        let request: InferRequest = serde_json::from_slice(json).map_err(|error| {
            let hint = if json_length.is_none() && error.is_syntax() {
                format!(" (binary tensor data after the JSON needs the {HEADER_LENGTH} header)")
            } else {
                String::new()
            };
            ApiError::bad_request(format!("invalid inference request: {error}{hint}"))
        })?;
        let mut inputs = Vec::with_capacity(request.inputs.len());
        for input in request.inputs {
            if !input.datatype.eq_ignore_ascii_case("FP32") {
                return Err(ApiError::bad_request(format!(
                    "input `{}` has datatype {}; this model takes FP32",
                    input.name, input.datatype
                )));
            }
            if input.parameters.shared_memory_region.is_some() {
                return Err(ApiError::not_supported(format!(
                    "input `{}` is in shared memory, which this server does not support; send its values in `data` or as binary data",
                    input.name
                )));
            }
            let elements = input
                .shape
                .iter()
                .try_fold(1u64, |product, dim| product.checked_mul(*dim))
                .filter(|elements| *elements <= (1 << 28))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("input `{}` has an impossible shape {:?}", input.name, input.shape))
                })? as usize;
            let data = match (input.data, input.parameters.binary_data_size) {
                (Some(values), None) => values.0,
                (None, Some(size)) => {
                    if json_length.is_none() {
                        return Err(ApiError::bad_request(format!(
                            "input `{}` has binary_data_size {size}, but the request has no {HEADER_LENGTH} header to say where the JSON ends",
                            input.name
                        )));
                    }
                    let size = usize::try_from(size).unwrap_or(usize::MAX);
                    if size > binary.len() {
                        return Err(ApiError::bad_request(format!(
                            "input `{}` has binary_data_size {size}, but only {} bytes of binary data are left",
                            input.name,
                            binary.len()
                        )));
                    }
                    if size != elements * 4 {
                        return Err(ApiError::bad_request(format!(
                            "input `{}` has {size} bytes of binary data; its shape {:?} of FP32 holds {} bytes",
                            input.name,
                            input.shape,
                            elements * 4
                        )));
                    }
                    let (bytes, rest) = binary.split_at(size);
                    binary = rest;
                    bytes.chunks_exact(4).map(|value| f32::from_le_bytes([value[0], value[1], value[2], value[3]])).collect()
                }
                (Some(_), Some(_)) => {
                    return Err(ApiError::bad_request(format!(
                        "input `{}` has both `data` and binary_data_size; give one",
                        input.name
                    )))
                }
                (None, None) => {
                    return Err(ApiError::bad_request(format!(
                        "input `{}` has no values: give `data`, or parameters.binary_data_size with its bytes after the JSON",
                        input.name
                    )))
                }
            };
            if data.len() != elements {
                return Err(ApiError::bad_request(format!(
                    "input `{}` has {} values; its shape {:?} holds {elements}",
                    input.name,
                    data.len(),
                    input.shape
                )));
            }
            inputs.push(InputTensor {
                name: input.name,
                shape: input.shape.iter().map(|dim| *dim as usize).collect(),
                datatype: Some("FP32".to_string()),
                data,
            });
        }
        if !binary.is_empty() {
            return Err(ApiError::bad_request(format!(
                "{} bytes of binary data follow the JSON that no input claims with binary_data_size",
                binary.len()
            )));
        }
        let binary_outputs = request.parameters.binary_data_output;
        let mut outputs = Vec::with_capacity(request.outputs.len());
        for output in request.outputs {
            if output.parameters.classification.is_some() || output.parameters.shared_memory_region.is_some() {
                return Err(ApiError::not_supported(format!(
                    "output `{}` asks for classification or shared memory, which this server does not support; ask for its values",
                    output.name
                )));
            }
            outputs.push(RequestedOutput {
                binary: output.parameters.binary_data.unwrap_or(binary_outputs),
                name: output.name,
            });
        }
        Ok(OipRequest { id: request.id, inputs, outputs, binary_outputs })
    }
}

async fn infer(
    State(state): State<AppState>,
    path: Result<Path<ModelPath>, PathRejection>,
    request: Request,
) -> Response {
    let result = async {
        served_model(&state, path)?;
        let json_length = match request.headers().get(HEADER_LENGTH) {
            None => None,
            Some(value) => {
                Some(value.to_str().ok().and_then(|text| text.trim().parse::<usize>().ok()).ok_or_else(|| {
                    ApiError::bad_request(format!("{HEADER_LENGTH} must be the JSON's length in bytes"))
                })?)
            }
        };
        // The whole body, JSON and binary data, within server.max_body_bytes.
        let body = super::input::body(request, &state).await?;
        let OipRequest { id, inputs, outputs: wanted, binary_outputs } =
            OipRequest::parse_with_binary(&body, json_length)?;
        drop(body);
        let known: Vec<&str> =
            state.pipeline().engine().info().outputs.iter().map(|output| output.name.as_str()).collect();
        if let Some(unknown) = wanted.iter().find(|output| !known.contains(&output.name.as_str())) {
            return Err(ApiError::bad_request(format!(
                "the model has no output `{}`; it has: {}",
                unknown.name,
                known.join(", ")
            )));
        }
        // Checked here, in words for the client; what fails past this point is the server's.
        state
            .pipeline()
            .engine()
            .check_tensors(&inputs)
            .map_err(|error| ApiError::bad_request(super::runner::error_detail(&error)))?;
        let outputs = state.run_tensors(inputs).await?;
        Ok(answer(state.model_name(), id, outputs, &wanted, binary_outputs))
    }
    .await;
    match result {
        Ok(response) => response,
        Err(error) => error.into_oip_response(),
    }
}

/// The response to an inference: the outputs asked for (all when `wanted` is empty), in the
/// model's order; those answered as binary data have their bytes after the JSON, in the same
/// order, and the JSON's length in `Inference-Header-Content-Length`.
fn answer(
    model_name: &str,
    id: Option<String>,
    outputs: Vec<OutputTensor>,
    wanted: &[RequestedOutput],
    binary_outputs: bool,
) -> Response {
    let mut binary_data: Vec<Vec<f32>> = Vec::new();
    let outputs: Vec<ResponseOutput> = outputs
        .into_iter()
        .filter_map(|output| {
            let binary = if wanted.is_empty() {
                binary_outputs
            } else {
                wanted.iter().find(|requested| requested.name == output.name)?.binary
            };
            let (parameters, data) = if binary {
                let size = output.data.len() * 4;
                binary_data.push(output.data);
                (Some(BinarySize { binary_data_size: size }), None)
            } else {
                (None, Some(output.data))
            };
            Some(ResponseOutput { name: output.name, datatype: "FP32", shape: output.shape, parameters, data })
        })
        .collect();
    let response = InferResponse { model_name, model_version: VERSION, id, outputs };
    if binary_data.is_empty() {
        return Json(response).into_response();
    }
    let mut body = match serde_json::to_vec(&response) {
        Ok(body) => body,
        Err(error) => {
            return ApiError::internal(format!("the response could not be written: {error}")).into_oip_response()
        }
    };
    let json_length = body.len();
    body.reserve(binary_data.iter().map(|data| data.len() * 4).sum());
    for data in &binary_data {
        body.extend(data.iter().flat_map(|value| value.to_le_bytes()));
    }
    let mut response = body.into_response();
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static("application/octet-stream"));
    headers.insert(
        HeaderName::from_bytes(HEADER_LENGTH.as_bytes()).expect("a valid header name"),
        HeaderValue::from(json_length),
    );
    response
}
