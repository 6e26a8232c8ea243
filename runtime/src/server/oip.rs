//! The KServe Open Inference Protocol v2 (REST): health, model metadata and tensor inference,
//! so a project's container runs as a KServe custom predictor.

use axum::{
    extract::{Path, Request, State},
    http::StatusCode,
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
use crate::{model::info::TensorInfo, tensor::InputTensor};

/// The `/v2` routes.
pub(crate) fn routes() -> Router<AppState> {
    Router::new()
        .route("/v2", get(server_metadata))
        .route("/v2/health/live", get(live))
        .route("/v2/health/ready", get(ready))
        .route("/v2/models/{name}", get(model_metadata))
        .route("/v2/models/{name}/ready", get(model_ready))
        .route("/v2/models/{name}/infer", post(infer))
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
    Json(json!({ "name": "inferx", "version": crate::VERSION, "extensions": [] }))
}

async fn live() -> Json<Value> {
    Json(json!({ "live": true }))
}

async fn ready(State(state): State<AppState>) -> Response {
    let ready = state.is_ready();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "ready": ready }))).into_response()
}

fn check_model(state: &AppState, name: &str) -> Result<(), ApiError> {
    if name == state.model_name() {
        Ok(())
    } else {
        Err(ApiError::not_found(format!("no model named `{name}`; this server serves `{}`", state.model_name())))
    }
}

async fn model_metadata(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    if let Err(error) = check_model(&state, &name) {
        return error.into_oip_response();
    }
    let info = state.pipeline().engine().info();
    Json(json!({
        "name": state.model_name(),
        "versions": ["1"],
        "platform": "onnxruntime_onnx",
        "inputs": info.inputs.iter().map(tensor_metadata).collect::<Vec<_>>(),
        "outputs": info.outputs.iter().map(tensor_metadata).collect::<Vec<_>>(),
    }))
    .into_response()
}

async fn model_ready(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    if let Err(error) = check_model(&state, &name) {
        return error.into_oip_response();
    }
    let ready = state.is_ready();
    let status = if ready { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (status, Json(json!({ "name": name, "ready": ready }))).into_response()
}

/// One input tensor of an inference request. `data` may be flat (row-major) or nested.
/// Parameters are skipped unread (none is supported), not built into JSON values.
#[derive(Debug, Deserialize)]
struct RequestInput {
    name: String,
    shape: Vec<u64>,
    datatype: String,
    data: TensorData,
    #[serde(default)]
    #[expect(dead_code, reason = "accepted because the protocol allows it; nothing reads it")]
    parameters: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct RequestOutput {
    name: String,
    #[serde(default)]
    #[expect(dead_code, reason = "accepted because the protocol allows it; nothing reads it")]
    parameters: Option<IgnoredAny>,
}

#[derive(Debug, Deserialize)]
struct InferRequest {
    #[serde(default)]
    id: Option<String>,
    inputs: Vec<RequestInput>,
    #[serde(default)]
    outputs: Vec<RequestOutput>,
    #[serde(default)]
    #[expect(dead_code, reason = "accepted because the protocol allows it; nothing reads it")]
    parameters: Option<IgnoredAny>,
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

#[derive(Debug, Serialize)]
struct ResponseOutput {
    name: String,
    shape: Vec<usize>,
    datatype: &'static str,
    data: Vec<f32>,
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
    pub outputs: Vec<String>,
}

impl OipRequest {
    /// Parses and checks a request body: JSON of the OIP v2 shape, FP32 inputs, data flat or
    /// nested, values matching the shape (at most 2^28 of them). Every refusal is a 400 whose
    /// message names the input and the problem.
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
        let request: InferRequest = serde_json::from_slice(body)
            .map_err(|error| ApiError::bad_request(format!("invalid inference request: {error}")))?;
        let mut inputs = Vec::with_capacity(request.inputs.len());
        for input in request.inputs {
            if !input.datatype.eq_ignore_ascii_case("FP32") {
                return Err(ApiError::bad_request(format!(
                    "input `{}` has datatype {}; this model takes FP32",
                    input.name, input.datatype
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
            let data = input.data.0;
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
        Ok(OipRequest {
            id: request.id,
            inputs,
            outputs: request.outputs.into_iter().map(|output| output.name).collect(),
        })
    }
}

async fn infer(State(state): State<AppState>, Path(name): Path<String>, request: Request) -> Response {
    let result = async {
        check_model(&state, &name)?;
        let body = super::input::body(request, &state).await?;
        let OipRequest { id, inputs, outputs: wanted } = OipRequest::parse(&body)?;
        let known: Vec<&str> =
            state.pipeline().engine().info().outputs.iter().map(|output| output.name.as_str()).collect();
        if let Some(unknown) = wanted.iter().find(|name| !known.contains(&name.as_str())) {
            return Err(ApiError::bad_request(format!(
                "the model has no output `{unknown}`; it has: {}",
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
        let outputs: Vec<ResponseOutput> = outputs
            .into_iter()
            .filter(|output| wanted.is_empty() || wanted.contains(&output.name))
            .map(|output| ResponseOutput {
                name: output.name,
                shape: output.shape,
                datatype: "FP32",
                data: output.data,
            })
            .collect();
        let mut response = json!({ "model_name": state.model_name(), "model_version": "1", "outputs": outputs });
        if let Some(id) = id {
            response["id"] = Value::String(id);
        }
        Ok(Json(response))
    }
    .await;
    match result {
        Ok(json) => json.into_response(),
        Err(error) => error.into_oip_response(),
    }
}
