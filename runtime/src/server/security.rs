//! API keys (compared in constant time) and per-key / per-address rate limiting.

use std::{
    net::SocketAddr,
    num::NonZeroU32,
    path::Path,
    sync::atomic::{AtomicU64, Ordering},
};

use axum::{
    extract::{ConnectInfo, Request, State},
    http::{header, HeaderMap},
    middleware::Next,
    response::Response,
};
use governor::{clock::Clock, DefaultKeyedRateLimiter, Quota, RateLimiter};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ApiError, AppState};
use crate::{
    config::{AuthConfig, RateLimitConfig},
    Error, Result,
};

/// The accepted keys, kept as sha256 digests: every comparison is of 32 bytes, in constant time.
#[derive(Debug, Default)]
pub(crate) struct ApiKeys {
    digests: Vec<[u8; 32]>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl ApiKeys {
    /// Reads keys from the configured environment variable (comma-separated) and file (one per
    /// line, `#` comments), the file relative to `project_dir`.
    ///
    /// Fails closed: a source that is configured (the variable set, even to nothing; the file
    /// named) but yields no key is an error naming it, unless `server.auth.required` is
    /// `false`; with `required: true`, no key at all is an error too.
    pub fn load(config: &AuthConfig, project_dir: &Path, env: impl Fn(&str) -> Option<String>) -> Result<ApiKeys> {
        let mut keys: Vec<String> = Vec::new();
        // Sources configured but empty, named for the error.
        let mut empty_sources: Vec<String> = Vec::new();
        let mut configured = false;
        if !config.api_keys_env.is_empty() {
            // An empty variable counts as unset: compose's `${INFERX_API_KEYS:-}` passes one
            // when the host has none. Anything else in it is a source that must yield a key.
            if let Some(value) = env(&config.api_keys_env).filter(|value| !value.is_empty()) {
                configured = true;
                let before = keys.len();
                keys.extend(value.split(',').map(str::trim).filter(|key| !key.is_empty()).map(String::from));
                if keys.len() == before {
                    empty_sources.push(format!(
                        "the environment variable {} is set but holds no key ({value:?})",
                        config.api_keys_env
                    ));
                }
            }
        }
        if let Some(file) = &config.api_keys_file {
            configured = true;
            // Read from the checked handle: a regular file inside the project, bounded.
            let key = "server.auth.api_keys_file";
            let text =
                crate::config::open_project_file(project_dir, key, file, crate::project_files::SMALL_FILE_LIMIT)?
                    .read_to_string()?;
            let before = keys.len();
            keys.extend(
                text.lines().map(str::trim).filter(|line| !line.is_empty() && !line.starts_with('#')).map(String::from),
            );
            if keys.len() == before {
                empty_sources
                    .push(format!("server.auth.api_keys_file ({file}) holds no key, only blank or # comment lines"));
            }
        }
        match config.required {
            Some(false) => {
                for source in &empty_sources {
                    tracing::warn!("{source}; server.auth.required is false, so it is ignored");
                }
                if keys.is_empty() {
                    tracing::warn!("no API key: every route is open (server.auth.required: false)");
                }
            }
            required => {
                if !empty_sources.is_empty() {
                    return Err(Error::config(format!(
                        "{}: refusing to start with authentication off. Put at least one key there, or remove the source (or set server.auth.required: false to serve without keys)",
                        empty_sources.join("; ")
                    )));
                }
                if keys.is_empty() && (required == Some(true) || configured) {
                    return Err(Error::config(format!(
                        "server.auth.required is true but no API key was found: set {} (comma-separated) or server.auth.api_keys_file",
                        if config.api_keys_env.is_empty() { "server.auth.api_keys_env" } else { &config.api_keys_env }
                    )));
                }
            }
        }
        if let Some(short) = keys.iter().find(|key| key.len() < 16) {
            return Err(Error::config(format!(
                "an API key of {} characters is too short to be safe; use at least 16 (e.g. `openssl rand -hex 32`)",
                short.len()
            )));
        }
        Ok(ApiKeys { digests: keys.iter().map(|key| digest(key)).collect() })
    }

    /// Whether keys are required at all.
    pub fn enabled(&self) -> bool {
        !self.digests.is_empty()
    }

    /// Whether `presented` is one of the keys. Every key is compared, so timing tells nothing.
    pub fn accepts(&self, presented: &str) -> bool {
        let presented = digest(presented);
        self.digests.iter().fold(subtle::Choice::from(0), |found, key| found | key.ct_eq(&presented)).into()
    }
}

/// The key a request presents: `Authorization: Bearer <key>` or `X-API-Key: <key>`.
pub(crate) fn presented_key(headers: &HeaderMap) -> Option<&str> {
    if let Some(value) = headers.get(header::AUTHORIZATION).and_then(|value| value.to_str().ok()) {
        let (scheme, token) = value.trim().split_once(' ')?;
        return scheme.eq_ignore_ascii_case("bearer").then(|| token.trim());
    }
    headers.get("x-api-key").and_then(|value| value.to_str().ok()).map(str::trim)
}

/// How long until a refused client's tokens are there.
fn wait_of(not_until: &governor::NotUntil<governor::clock::QuantaInstant>) -> std::time::Duration {
    not_until.wait_time_from(governor::clock::DefaultClock::default().now())
}

/// `wait` in whole seconds, rounded up (a `Retry-After` of at least 1 for any wait).
fn whole_seconds(wait: std::time::Duration) -> u64 {
    wait.as_secs() + u64::from(wait.subsec_nanos() > 0)
}

/// A token bucket per client identity.
pub(crate) struct Limiter {
    limiter: DefaultKeyedRateLimiter<String>,
    burst: u32,
    checks: AtomicU64,
}

impl Limiter {
    /// `None` when rate limiting is off.
    pub fn new(config: &RateLimitConfig) -> Option<Limiter> {
        let rate = NonZeroU32::new(config.requests_per_second)?;
        let burst = NonZeroU32::new(config.burst).unwrap_or(NonZeroU32::MIN);
        Some(Limiter {
            limiter: RateLimiter::keyed(Quota::per_second(rate).allow_burst(burst)),
            burst: burst.get(),
            checks: AtomicU64::new(0),
        })
    }

    /// `Err(seconds to wait)` when `identity` is over its rate.
    pub fn check(&self, identity: &RateIdentity) -> std::result::Result<(), u64> {
        // Forget idle clients now and then, so the table stays bounded.
        if self.checks.fetch_add(1, Ordering::Relaxed) % 4096 == 4095 {
            self.limiter.retain_recent();
        }
        self.limiter.check_key(&identity.0).map_err(|not_until| whole_seconds(wait_of(&not_until)))
    }
}

/// Why a batch was refused by the rate limit.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum BatchRefusal {
    /// Over the rate now: seconds to wait.
    Wait(u64),
    /// More images than the burst: it can never pass. Carries the burst.
    OverBurst(u32),
}

impl Limiter {
    /// Charges a batch of `images` one token per image: the guard took one for the request, so
    /// this takes the rest.
    pub fn check_batch(&self, identity: &RateIdentity, images: usize) -> std::result::Result<(), BatchRefusal> {
        if images > self.burst as usize {
            return Err(BatchRefusal::OverBurst(self.burst));
        }
        let Some(extra) = u32::try_from(images.saturating_sub(1)).ok().and_then(NonZeroU32::new) else {
            return Ok(());
        };
        match self.limiter.check_key_n(&identity.0, extra) {
            Ok(Ok(())) => Ok(()),
            // The retry pays the guard's token again, which this refusal does not give back.
            Ok(Err(not_until)) => {
                Err(BatchRefusal::Wait(whole_seconds(wait_of(&not_until) + not_until.quota().replenish_interval())))
            }
            Err(_) => Err(BatchRefusal::OverBurst(self.burst)),
        }
    }
}

/// The identity the guard charged a request to, for the routes that charge more (batches).
#[derive(Debug, Clone)]
pub(crate) struct RateIdentity(pub String);

/// Authentication, then rate limiting, for every route not listed as open.
pub(crate) async fn guard(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let path = request.uri().path();
    if state.config().auth.open_routes.iter().any(|route| route == path) {
        return next.run(request).await;
    }
    let keys = state.keys();
    let identity = RateIdentity(if keys.enabled() {
        match presented_key(request.headers()) {
            Some(key) if keys.accepts(key) => format!("key:{}", &hex(&digest(key))[..16]),
            Some(_) => {
                state.metrics().rejected.with_label_values(&["unauthorized"]).inc();
                return ApiError::unauthorized("the API key is not valid").into_response_for(request.uri().path());
            }
            None => {
                state.metrics().rejected.with_label_values(&["unauthorized"]).inc();
                return ApiError::unauthorized(
                    "an API key is required: send `Authorization: Bearer <key>` or `X-API-Key: <key>`",
                )
                .into_response_for(request.uri().path());
            }
        }
    } else {
        let address = request.extensions().get::<ConnectInfo<SocketAddr>>().map(|info| info.0.ip());
        format!("ip:{}", address.map_or_else(|| "unknown".to_string(), |ip| ip.to_string()))
    });
    if let Some(limiter) = state.limiter() {
        if let Err(wait) = limiter.check(&identity) {
            state.metrics().rejected.with_label_values(&["rate_limited"]).inc();
            return ApiError::rate_limited(wait).into_response_for(request.uri().path());
        }
        request.extensions_mut().insert(identity);
    }
    next.run(request).await
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_come_from_env_and_file_and_short_ones_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("keys"), "# ops\nfile-key-0123456789abcdef\n\n").unwrap();
        let config = AuthConfig { api_keys_file: Some("keys".into()), ..AuthConfig::default() };
        let keys = ApiKeys::load(&config, dir.path(), |_| Some("env-key-0123456789abcdef, ".into())).unwrap();
        assert!(keys.enabled());
        assert!(keys.accepts("env-key-0123456789abcdef"));
        assert!(keys.accepts("file-key-0123456789abcdef"));
        assert!(!keys.accepts("env-key-0123456789abcdeX"));
        assert!(!keys.accepts(""));
        let error = ApiKeys::load(&AuthConfig::default(), dir.path(), |_| Some("short".into())).unwrap_err();
        assert!(error.to_string().contains("too short"), "{error}");
        let missing = AuthConfig { api_keys_file: Some("nope".into()), ..AuthConfig::default() };
        let error = ApiKeys::load(&missing, dir.path(), |_| None).unwrap_err();
        assert!(error.to_string().contains("server.auth.api_keys_file"), "{error}");
        assert!(!ApiKeys::load(&AuthConfig::default(), dir.path(), |_| None).unwrap().enabled());
    }

    #[test]
    fn a_configured_key_source_without_a_key_refuses_to_start() {
        let dir = tempfile::tempdir().unwrap();
        // A blank variable, as a broken secret mount leaves it.
        for blank in [" , ", " ", ",,"] {
            let error = ApiKeys::load(&AuthConfig::default(), dir.path(), |_| Some(blank.into())).unwrap_err();
            let message = error.to_string();
            assert!(message.contains("INFERX_API_KEYS is set but holds no key"), "{message}");
            assert!(message.contains("refusing to start"), "{message}");
        }
        // A key file of comments and blank lines.
        std::fs::write(dir.path().join("keys"), "# production keys\n\n   \n# rotated 2026-01\n").unwrap();
        let file = AuthConfig { api_keys_file: Some("keys".into()), ..AuthConfig::default() };
        let error = ApiKeys::load(&file, dir.path(), |_| None).unwrap_err();
        assert!(error.to_string().contains("server.auth.api_keys_file"), "{error}");
        assert!(error.to_string().contains("holds no key"), "{error}");
        // Even with a key in the variable, the empty file is named: one source is broken.
        let error = ApiKeys::load(&file, dir.path(), |_| Some("env-key-0123456789abcdef".into())).unwrap_err();
        assert!(error.to_string().contains("api_keys_file"), "{error}");
    }

    #[test]
    fn server_auth_required_makes_the_intent_explicit() {
        let dir = tempfile::tempdir().unwrap();
        let required = AuthConfig { required: Some(true), ..AuthConfig::default() };
        let error = ApiKeys::load(&required, dir.path(), |_| None).unwrap_err();
        assert!(error.to_string().contains("server.auth.required is true"), "{error}");
        assert!(error.to_string().contains("INFERX_API_KEYS"), "{error}");
        let keys = ApiKeys::load(&required, dir.path(), |_| Some("env-key-0123456789abcdef".into())).unwrap();
        assert!(keys.enabled());
        // Explicitly optional: a blank source is tolerated, and the API is open.
        let optional = AuthConfig { required: Some(false), ..AuthConfig::default() };
        assert!(!ApiKeys::load(&optional, dir.path(), |_| Some(" , ".into())).unwrap().enabled());
        // Keys present are enforced whatever `required` says.
        assert!(ApiKeys::load(&optional, dir.path(), |_| Some("env-key-0123456789abcdef".into())).unwrap().enabled());
        // No source at all, nothing required: open, as before; an empty variable is no source
        // (compose passes `${INFERX_API_KEYS:-}`), unless keys are required.
        assert!(!ApiKeys::load(&AuthConfig::default(), dir.path(), |_| None).unwrap().enabled());
        assert!(!ApiKeys::load(&AuthConfig::default(), dir.path(), |_| Some(String::new())).unwrap().enabled());
        assert!(ApiKeys::load(&required, dir.path(), |_| Some(String::new())).is_err());
    }

    #[test]
    fn keys_are_read_from_bearer_or_x_api_key() {
        let mut headers = HeaderMap::new();
        assert_eq!(presented_key(&headers), None);
        headers.insert("x-api-key", "abc".parse().unwrap());
        assert_eq!(presented_key(&headers), Some("abc"));
        headers.insert(header::AUTHORIZATION, "Bearer xyz".parse().unwrap());
        assert_eq!(presented_key(&headers), Some("xyz"));
        headers.insert(header::AUTHORIZATION, "Basic xyz".parse().unwrap());
        assert_eq!(presented_key(&headers), None);
    }

    fn id(name: &str) -> RateIdentity {
        RateIdentity(name.to_string())
    }

    #[test]
    fn the_limiter_allows_the_burst_then_says_when_to_retry() {
        let limiter = Limiter::new(&RateLimitConfig { requests_per_second: 1, burst: 2 }).unwrap();
        assert!(limiter.check(&id("a")).is_ok());
        assert!(limiter.check(&id("a")).is_ok());
        assert_eq!(limiter.check(&id("a")), Err(1));
        assert!(limiter.check(&id("b")).is_ok(), "clients are limited separately");
        assert!(Limiter::new(&RateLimitConfig { requests_per_second: 0, burst: 5 }).is_none());
    }

    #[test]
    fn a_batch_pays_one_token_per_image() {
        let limiter = Limiter::new(&RateLimitConfig { requests_per_second: 1, burst: 5 }).unwrap();
        assert!(limiter.check(&id("a")).is_ok(), "the guard's token");
        assert_eq!(limiter.check_batch(&id("a"), 6), Err(BatchRefusal::OverBurst(5)), "can never pass");
        assert_eq!(limiter.check_batch(&id("a"), 4), Ok(()), "three more: four of five taken");
        assert_eq!(limiter.check_batch(&id("a"), 1), Ok(()), "a batch of one costs nothing more");
        assert!(limiter.check(&id("a")).is_ok(), "the fifth");
        assert_eq!(
            limiter.check_batch(&id("a"), 2),
            Err(BatchRefusal::Wait(2)),
            "its own token, and the guard's again"
        );
        assert_eq!(limiter.check_batch(&id("b"), 5), Ok(()), "clients are charged separately");
    }
}
