//! The body size each route takes: `server.max_body_bytes`, but for an uploaded clip
//! (`POST /predict/video`, with the `video` feature) `server.video.max_upload_bytes`.

use super::ApiError;
use crate::config::ServerConfig;

/// The route of uploaded clips.
pub(crate) const VIDEO_ROUTE: &str = "/predict/video";

/// The largest body `path` takes, and the setting that says so.
pub(crate) fn for_path(config: &ServerConfig, path: &str) -> (usize, &'static str) {
    if cfg!(feature = "video") && path == VIDEO_ROUTE {
        (config.video.max_upload_bytes, "server.video.max_upload_bytes")
    } else {
        (config.max_body_bytes, "server.max_body_bytes")
    }
}

/// 413 for a body over what `path` takes.
pub(crate) fn too_large(config: &ServerConfig, path: &str) -> ApiError {
    let (limit, setting) = for_path(config, path);
    let what = if setting == "server.max_body_bytes" { "request body" } else { "clip" };
    ApiError::too_large(format!("the {what} is over the {limit} byte limit ({setting})"))
}
