//! API errors: one JSON shape, the right status, and the headers that go with it.

use axum::{
    http::{header, HeaderValue, StatusCode},
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;

use crate::{Error, ImageProblem};

tokio::task_local! {
    /// The id of the request being served (`X-Request-Id`), set around each request by the
    /// metrics layer: what an error's log line and its answer have in common.
    pub(crate) static REQUEST_ID_SCOPE: String;
}

/// The id of the request this task serves, if any.
pub(crate) fn current_request_id() -> Option<String> {
    REQUEST_ID_SCOPE.try_with(Clone::clone).ok()
}

/// Whether `path` is under the Open Inference Protocol's `/v2`, whose errors have its shape
/// (`{"error": "<message>"}`, which its clients read as a string).
pub(crate) fn is_oip_path(path: &str) -> bool {
    path == "/v2" || path.starts_with("/v2/")
}

/// An error answered to a client: `{"error": {"code": ..., "message": ...}}` with its status.
///
/// What the server knows of an internal failure (a library's message, a file path) is its
/// cause: it goes to the log with the request id, never to the client, whose message names
/// the request id instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable machine-readable code (`unsupported_media_type`, `rate_limited`, ...).
    pub code: &'static str,
    /// What went wrong and what to do, for people.
    pub message: String,
    /// Seconds for `Retry-After` (429 and 503).
    pub retry_after: Option<u64>,
    /// The failure behind it, for the log only.
    cause: Option<std::sync::Arc<str>>,
}

#[derive(Serialize)]
struct Body<'a> {
    error: Detail<'a>,
}

/// The JSON body of an error.
#[derive(Debug, Clone, Serialize)]
pub struct Detail<'a> {
    /// HTTP status, repeated for batch entries.
    pub status: u16,
    /// Stable code.
    pub code: &'a str,
    /// Message.
    pub message: &'a str,
}

impl ApiError {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError { status, code, message: message.into(), retry_after: None, cause: None }
    }

    /// The same answer, with `cause` (what went wrong inside, in a library's words) for the
    /// log alone.
    pub(crate) fn with_cause(mut self, cause: impl std::fmt::Display) -> ApiError {
        self.cause = Some(cause.to_string().into());
        self
    }

    /// Logs the cause, if any, with the request id, and names the id in the message instead:
    /// done once, in the request's task, before the error is answered.
    pub(crate) fn disclosed(mut self) -> ApiError {
        let Some(cause) = self.cause.take() else { return self };
        let id = current_request_id().unwrap_or_else(|| "unknown".to_string());
        if self.status.is_server_error() {
            tracing::error!(request_id = %id, status = self.status.as_u16(), cause = %cause, "{}", self.message);
        } else {
            tracing::warn!(request_id = %id, status = self.status.as_u16(), cause = %cause, "{}", self.message);
        }
        self.message = format!("{} (request id {id}; the server log has the details)", self.message);
        self
    }

    /// 400: the request is malformed.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401: no valid API key.
    pub fn unauthorized(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    /// 403: the request asks for something the server's settings do not allow (a stream
    /// source outside `server.streams.allow_sources`).
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 409: the request conflicts with what is there (a stream name in use).
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 404: no such route or model.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 405: the route does not take the request's method.
    pub fn method_not_allowed(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", message)
    }

    /// 501: a part of a protocol this server does not implement (an Open Inference Protocol
    /// extension, say).
    pub fn not_supported(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_IMPLEMENTED, "not_supported", message)
    }

    /// 413: the body or the image is over a limit.
    pub fn too_large(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::PAYLOAD_TOO_LARGE, "payload_too_large", message)
    }

    /// 415: not an image, or an unsupported content type.
    pub fn unsupported(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNSUPPORTED_MEDIA_TYPE, "unsupported_media_type", message)
    }

    /// 422: an image in a known format that cannot be decoded.
    pub fn unprocessable(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable_image", message)
    }

    /// 422: a video in a known container that cannot be decoded, or is too long.
    pub fn unprocessable_video(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unprocessable_video", message)
    }

    /// 429 with `Retry-After`.
    pub fn rate_limited(retry_after: u64) -> ApiError {
        ApiError {
            retry_after: Some(retry_after.max(1)),
            ..ApiError::new(StatusCode::TOO_MANY_REQUESTS, "rate_limited", "too many requests; retry later")
        }
    }

    /// 503 with `Retry-After`: the queue is full or the server is stopping.
    pub fn overloaded(message: impl Into<String>) -> ApiError {
        ApiError { retry_after: Some(1), ..ApiError::new(StatusCode::SERVICE_UNAVAILABLE, "overloaded", message) }
    }

    /// 408: the request body did not arrive in time (`server.connections.body_timeout_ms`).
    pub fn body_timeout(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::REQUEST_TIMEOUT, "body_timeout", message)
    }

    /// 504: the request's deadline passed.
    pub fn timeout(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::GATEWAY_TIMEOUT, "timeout", message)
    }

    /// 500: a fault of the server, not of the request. `cause` goes to the log with the
    /// request id; the client is told only that the server failed, and the id.
    pub fn internal(cause: impl std::fmt::Display) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "the server failed on this request")
            .with_cause(cause)
    }

    /// The JSON body without the envelope, for batch entries.
    pub fn detail(&self) -> Detail<'_> {
        Detail { status: self.status.as_u16(), code: self.code, message: &self.message }
    }

    fn headers(&self, response: &mut Response) {
        if let Some(seconds) = self.retry_after {
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(seconds));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
    }

    /// The answer to a request for `path`: the Open Inference Protocol's shape under `/v2`,
    /// ours elsewhere. What answers before a route is chosen (the fallback, authentication,
    /// rate limiting, the declared body size) answers through this.
    pub fn into_response_for(self, path: &str) -> Response {
        if is_oip_path(path) {
            self.into_oip_response()
        } else {
            self.into_response()
        }
    }

    /// The Open Inference Protocol's error shape: `{"error": "message"}`.
    pub fn into_oip_response(self) -> Response {
        let this = self.disclosed();
        let mut response = (this.status, Json(serde_json::json!({ "error": this.message }))).into_response();
        this.headers(&mut response);
        response
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let this = self.disclosed();
        let mut response = (this.status, Json(Body { error: this.detail() })).into_response();
        this.headers(&mut response);
        response
    }
}

impl From<Error> for ApiError {
    fn from(error: Error) -> ApiError {
        match &error {
            Error::Image { reason, problem, .. } => {
                let message = format!("the image could not be used: {reason}");
                match problem {
                    ImageProblem::TooLarge => ApiError::too_large(message),
                    ImageProblem::Unsupported => ApiError::unsupported(message),
                    ImageProblem::Corrupt | ImageProblem::Unreadable => ApiError::unprocessable(message),
                }
            }
            _ => ApiError::internal(error),
        }
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    /// Log lines written while `run` runs, as the server's log would have them.
    fn logged(run: impl FnOnce()) -> String {
        #[derive(Clone, Default)]
        struct Lines(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Lines {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let lines = Lines::default();
        let writer = lines.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        tracing::subscriber::with_default(subscriber, run);
        let text = String::from_utf8(lines.0.lock().unwrap().clone()).unwrap();
        text
    }

    fn body_of(response: Response) -> String {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        let bytes = runtime.block_on(axum::body::to_bytes(response.into_body(), 1 << 20)).unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    /// Runs `answer` as the request `id` is served.
    fn answered_in_request(id: &str, answer: impl FnOnce() -> Response) -> Response {
        let runtime = tokio::runtime::Builder::new_current_thread().build().unwrap();
        runtime.block_on(REQUEST_ID_SCOPE.scope(id.to_string(), async move { answer() }))
    }

    const PATH: &str = "/srv/models/secret-project/inferx.yaml";
    const ORT_TEXT: &str = "Non-zero status code returned while running Conv node. Name:'/model.0/conv/Conv' Status Message: Invalid input shape";

    #[test]
    fn a_500_names_the_request_id_and_the_log_line_with_that_id_holds_the_cause() {
        let mut response = None;
        let log = logged(|| {
            let error = Error::Config { path: Some(PATH.into()), reason: "could not be read".into() };
            response = Some(answered_in_request("req-500-a", || ApiError::from(error).into_response()));
        });
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = body_of(response);
        assert!(!body.contains("/srv/") && !body.contains("could not be read"), "internals answered: {body}");
        assert!(body.contains("request id req-500-a"), "{body}");
        let line = log.lines().find(|line| line.contains("req-500-a")).unwrap_or_else(|| panic!("no log line: {log}"));
        assert!(line.contains(PATH) && line.contains("ERROR"), "{line}");
    }

    #[test]
    fn an_oip_400_says_what_was_wrong_in_our_words_and_logs_onnx_runtimes() {
        let mut response = None;
        let log = logged(|| {
            let error = ApiError::bad_request("the model could not run these tensors").with_cause(ORT_TEXT);
            response = Some(answered_in_request("req-400-b", || error.into_oip_response()));
        });
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        let body = body_of(response);
        assert!(!body.contains("Conv") && !body.contains("Status Message"), "ONNX Runtime's text answered: {body}");
        assert!(body.contains("could not run these tensors") && body.contains("request id req-400-b"), "{body}");
        let line = log.lines().find(|line| line.contains("req-400-b")).unwrap_or_else(|| panic!("no log line: {log}"));
        assert!(line.contains(ORT_TEXT), "{line}");
    }

    #[test]
    fn errors_without_a_cause_are_answered_as_written_and_not_logged() {
        let log = logged(|| {
            let body = body_of(answered_in_request("req-413", || ApiError::too_large("over 10 bytes").into_response()));
            assert!(body.contains("over 10 bytes") && !body.contains("request id"), "{body}");
        });
        assert!(!log.contains("req-413"), "{log}");
    }
}
