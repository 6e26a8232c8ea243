//! Request bodies that carry images: multipart (`file` fields), a raw body with an image
//! content type, or JSON with base64 (`{"image": ...}` / `{"images": [...]}`).

use axum::{
    body::Bytes,
    extract::{FromRequest, Multipart, Request},
    http::header,
};
use base64::Engine as _;
use serde::Deserialize;

use super::{body_limit, security::BatchRefusal, ApiError, AppState};

/// One encoded image from a request. Its format is sniffed from the bytes on arrival, so a
/// non-image is refused (415) before it waits in the queue.
#[derive(Debug, Clone)]
pub struct ImageInput {
    /// The encoded image (PNG, JPEG, WebP, BMP, TIFF, GIF).
    pub bytes: Bytes,
}

/// Several images from one request, in order; each is `Err` when unusable, so one bad image
/// gets its own error entry instead of failing the batch.
#[derive(Debug, Clone)]
pub struct BatchInput {
    /// The images, in request order.
    pub images: Vec<Result<ImageInput, ApiError>>,
}

const ACCEPTED: &str = "send multipart/form-data with a `file` field, a raw body with an image Content-Type \
                        (image/png, image/jpeg, ...), or application/json {\"image\": \"<base64>\"}";

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonImage {
    image: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonImages {
    images: Vec<String>,
}

impl ImageInput {
    /// Checks that `bytes` hold an image in a known format.
    pub fn sniff(bytes: Bytes) -> Result<ImageInput, ApiError> {
        if bytes.is_empty() {
            return Err(ApiError::bad_request(format!("the image is empty; {ACCEPTED}")));
        }
        match image::guess_format(&bytes) {
            Ok(_) => Ok(ImageInput { bytes }),
            Err(_) => Err(ApiError::unsupported(
                "the body is not an image in a supported format (PNG, JPEG, WebP, BMP, TIFF, GIF)",
            )),
        }
    }

    fn from_base64(text: &str) -> Result<ImageInput, ApiError> {
        // Accept data URLs as browsers produce them: `data:image/png;base64,....`.
        let payload = match text.split_once(";base64,") {
            Some((prefix, payload)) if prefix.starts_with("data:") => payload,
            _ => text,
        };
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(payload.trim())
            .map_err(|error| ApiError::bad_request(format!("the image is not valid base64: {error}")))?;
        ImageInput::sniff(Bytes::from(bytes))
    }
}

pub(crate) fn media_type(request: &Request) -> String {
    request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split(';').next())
        .map(|value| value.trim().to_ascii_lowercase())
        .unwrap_or_default()
}

/// Middleware: a body whose declared `Content-Length` is over `server.max_body_bytes` is
/// refused before any of it is read, so an oversized upload costs nothing and its client gets
/// the 413 while still sending. (A body without a length, or longer than it said, is stopped
/// by the body limit as it is read.)
pub(crate) async fn declared_size(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.trim().parse::<u64>().ok());
    let path = request.uri().path();
    let (limit, _) = body_limit::for_path(state.config(), path);
    if declared.is_some_and(|length| length > limit as u64) {
        return body_limit::too_large(state.config(), path).into_response_for(path);
    }
    next.run(request).await
}

/// What a body sent to `path` that could not be read is answered: 413 over the route's limit
/// (`server.max_body_bytes`, see [`body_limit`]), 408 when it did not arrive within
/// `server.connections.body_timeout_ms`, else 400 with `detail`.
pub(crate) fn unreadable_body(
    state: &AppState,
    path: &str,
    status: axum::http::StatusCode,
    error: &(dyn std::error::Error + 'static),
    detail: String,
) -> ApiError {
    if status == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
        return body_limit::too_large(state.config(), path);
    }
    let mut cause = Some(error);
    while let Some(error) = cause {
        if error.is::<tower_http::timeout::TimeoutError>() {
            return ApiError::body_timeout(format!(
                "the request body did not arrive within {} ms (server.connections.body_timeout_ms)",
                state.config().connections.body_timeout_ms
            ));
        }
        cause = error.source();
    }
    ApiError::bad_request(detail)
}

/// Reads the whole body within the configured size limit and deadline.
pub(crate) async fn body(request: Request, state: &AppState) -> Result<Bytes, ApiError> {
    let path = request.uri().path().to_string();
    Bytes::from_request(request, state)
        .await
        .map_err(|rejection| unreadable_body(state, &path, rejection.status(), &rejection, rejection.body_text()))
}

/// The files of a multipart body, in order; reading stops at the file after the first `most`,
/// so a body of many tiny parts is not all kept before the count is checked.
async fn multipart_files(request: Request, state: &AppState, most: usize) -> Result<Vec<Bytes>, ApiError> {
    let path = request.uri().path().to_string();
    let multipart_error = |error: axum::extract::multipart::MultipartError| {
        unreadable_body(
            state,
            &path,
            error.status(),
            &error,
            format!("malformed multipart body: {}", error.body_text()),
        )
    };
    let mut multipart = Multipart::from_request(request, state)
        .await
        .map_err(|rejection| ApiError::bad_request(rejection.body_text()))?;
    let mut files = Vec::new();
    while let Some(field) = multipart.next_field().await.map_err(multipart_error)? {
        let is_file =
            matches!(field.name(), Some("file" | "files" | "image" | "images")) || field.file_name().is_some();
        let bytes = field.bytes().await.map_err(multipart_error)?;
        if is_file {
            files.push(bytes);
            if files.len() > most {
                break;
            }
        }
    }
    Ok(files)
}

/// The length of a JSON array, counted without keeping its elements.
struct Count(usize);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Counter;
        impl<'de> serde::de::Visitor<'de> for Counter {
            type Value = Count;
            fn expecting(&self, formatter: &mut std::fmt::Formatter) -> std::fmt::Result {
                formatter.write_str("an array")
            }
            fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut items: A) -> Result<Count, A::Error> {
                let mut count = 0;
                while items.next_element::<serde::de::IgnoredAny>()?.is_some() {
                    count += 1;
                }
                Ok(Count(count))
            }
        }
        deserializer.deserialize_seq(Counter)
    }
}

/// `{"images": [...]}` with only the number of images kept: checked against the limit before
/// millions of empty strings become millions of values and errors.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JsonImagesCount {
    images: Count,
}

fn parse_json<T: for<'de> Deserialize<'de>>(bytes: &[u8], example: &str) -> Result<T, ApiError> {
    serde_json::from_slice(bytes)
        .map_err(|error| ApiError::bad_request(format!("invalid JSON body ({error}); expected {example}")))
}

impl FromRequest<AppState> for ImageInput {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        match media_type(&request).as_str() {
            "multipart/form-data" => {
                let mut files = multipart_files(request, state, 1).await?;
                if files.len() != 1 {
                    let got = if files.is_empty() { "none" } else { "more than one" };
                    return Err(ApiError::bad_request(format!(
                        "expected one `file` field, got {got}; send several images to /predict/batch"
                    )));
                }
                ImageInput::sniff(files.remove(0))
            }
            "application/json" => {
                let bytes = body(request, state).await?;
                let parsed: JsonImage = parse_json(&bytes, "{\"image\": \"<base64>\"}")?;
                ImageInput::from_base64(&parsed.image)
            }
            kind if kind.starts_with("image/") || kind == "application/octet-stream" => {
                ImageInput::sniff(body(request, state).await?)
            }
            "" => Err(ApiError::unsupported(format!("the request has no Content-Type; {ACCEPTED}"))),
            other => Err(ApiError::unsupported(format!("Content-Type `{other}` is not accepted; {ACCEPTED}"))),
        }
    }
}

impl FromRequest<AppState> for BatchInput {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        let charged_to = request.extensions().get::<super::security::RateIdentity>().cloned();
        let limit = state.config().max_batch_images;
        let over_limit = |count: String| {
            ApiError::too_large(format!(
                "the batch holds {count} images, over the limit of {limit} (server.max_batch_images)"
            ))
        };
        // Counted, then charged to the rate limit, before any image is decoded.
        let admit = |count: usize| match count {
            0 => Err(ApiError::bad_request("the batch holds no images")),
            count if count > limit => Err(over_limit(count.to_string())),
            count => charge_batch(state, charged_to.as_ref(), count),
        };
        let images: Vec<Result<ImageInput, ApiError>> = match media_type(&request).as_str() {
            "multipart/form-data" => {
                let files = multipart_files(request, state, limit).await?;
                if files.len() > limit {
                    return Err(over_limit(format!("more than {limit}")));
                }
                admit(files.len())?;
                files.into_iter().map(ImageInput::sniff).collect()
            }
            "application/json" => {
                let bytes = body(request, state).await?;
                let example = "{\"images\": [\"<base64>\", ...]}";
                admit(parse_json::<JsonImagesCount>(&bytes, example)?.images.0)?;
                let parsed: JsonImages = parse_json(&bytes, example)?;
                parsed.images.iter().map(|text| ImageInput::from_base64(text)).collect()
            }
            "" => return Err(ApiError::unsupported("the request has no Content-Type; send multipart/form-data with `file` fields or application/json {\"images\": [\"<base64>\", ...]}")),
            other => {
                return Err(ApiError::unsupported(format!(
                    "Content-Type `{other}` is not accepted for batches; send multipart/form-data with `file` fields or application/json {{\"images\": [\"<base64>\", ...]}}"
                )))
            }
        };
        Ok(BatchInput { images })
    }
}

/// Charges a batch of `count` images one rate-limit request per image (the guard charged one).
fn charge_batch(
    state: &AppState,
    charged_to: Option<&super::security::RateIdentity>,
    count: usize,
) -> Result<(), ApiError> {
    let (Some(limiter), Some(identity)) = (state.limiter(), charged_to) else { return Ok(()) };
    let refusal = match limiter.check_batch(identity, count) {
        Ok(()) => return Ok(()),
        Err(refusal) => refusal,
    };
    state.metrics().rejected.with_label_values(&["rate_limited"]).inc();
    Err(match refusal {
        BatchRefusal::Wait(seconds) => ApiError::rate_limited(seconds),
        BatchRefusal::OverBurst(burst) => ApiError::too_large(format!(
            "the batch holds {count} images and each costs one request of the rate limit, which allows {burst} at once (server.rate_limit.burst); send smaller batches"
        )),
    })
}
