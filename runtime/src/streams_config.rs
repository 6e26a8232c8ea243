//! The `server.streams:` section of `inferx.yaml`: which live sources the server may open, how
//! many streams run at once, and the streams that start with the server.
//!
//! Plain settings and their checks (no decoding, no HTTP): the server's `/streams` routes
//! (`server::streams`, features `server` and `video`) read them, and `POST /streams` takes a
//! [`StreamSpec`] of the same shape as an entry of `start`.
//!
//! A server that opens any URL it is given is an SSRF hole: it would fetch from the hosts of
//! the private network on a client's behalf. So nothing is allowed by default, and
//! [`StreamsConfig::allows`] compares a source's scheme, host, port and path with the
//! `allow_sources` entries after parsing both, so that `rtsp://cam@evil.host/`,
//! `rtsp://cam.evil.host/` or a `..` in the path cannot pass for an allowed camera.

use serde::{Deserialize, Serialize};

use crate::tracking::{line::LineConfig, zone::ZoneConfig, TrackingConfig};

/// The `server.streams:` section.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct StreamsConfig {
    /// Sources `POST /streams` may open: `rtsp://host[:port]` (any path on that host and
    /// port), `rtsp://host[:port]/path` (that path and those below it), the same for
    /// `rtsps`, `http` and `https`, or a camera device (`/dev/video0`). Empty (the default):
    /// `POST /streams` is refused. Streams in `start` are the operator's and need no entry.
    pub allow_sources: Vec<String>,
    /// Streams running at once, those of `start` included; `POST /streams` beyond them gets
    /// `503`.
    pub max: usize,
    /// Events each stream keeps for clients that reconnect with `Last-Event-ID`; a client
    /// further behind than this is dropped (it resumes with a `reset` event).
    pub replay_events: usize,
    /// SSE clients following one stream at once (`503` beyond).
    pub max_clients: usize,
    /// How long a stream that ended stays in `GET /streams` with its summary, seconds.
    pub keep_ended_s: u64,
    /// How long opening a source may take, and how long a source may send nothing before it
    /// is reconnected, milliseconds.
    pub connect_timeout_ms: u64,
    /// Streams started with the server (and restarted with it): each needs a `name`.
    pub start: Vec<StreamSpec>,
}

impl Default for StreamsConfig {
    fn default() -> Self {
        StreamsConfig {
            allow_sources: Vec::new(),
            max: 4,
            replay_events: 1024,
            max_clients: 32,
            keep_ended_s: 300,
            connect_timeout_ms: 10_000,
            start: Vec::new(),
        }
    }
}

/// One stream: an entry of `server.streams.start`, or the body of `POST /streams`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StreamSpec {
    /// The stream's id in `/streams/{id}` (letters, digits, `-`, `_`, `.`; at most 64); a
    /// random one when `POST /streams` leaves it out.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// `rtsp://`, `rtsps://`, `http(s)://` (MJPEG, HLS) or `/dev/videoN`.
    pub source: String,
    /// Follow objects across frames (ByteTrack, with the project's `tracking:` parameters);
    /// implied by `lines` or `zones`.
    #[serde(default)]
    pub track: bool,
    /// Counting lines, in the shape of `tracking.lines`; left out, the project's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lines: Option<Vec<LineConfig>>,
    /// Counting zones, in the shape of `tracking.zones`; left out, the project's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub zones: Option<Vec<ZoneConfig>>,
    /// Keep at most this many frames a second (the rest are skipped on arrival and counted).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_fps: Option<f64>,
}

/// The longest stream name.
const MAX_NAME_LENGTH: usize = 64;

impl StreamSpec {
    /// Whether the stream is tracked: asked for, or needed by its lines or zones.
    pub fn tracked(&self) -> bool {
        self.track
            || self.lines.as_ref().is_some_and(|lines| !lines.is_empty())
            || self.zones.as_ref().is_some_and(|zones| !zones.is_empty())
    }

    /// The tracking settings of this stream: the project's (`project`, or the defaults) with
    /// this stream's lines and zones in place of the project's where it gives them.
    pub fn tracking(&self, project: Option<&TrackingConfig>) -> TrackingConfig {
        let mut tracking = project.cloned().unwrap_or_default();
        if let Some(lines) = &self.lines {
            tracking.lines = lines.clone();
        }
        if let Some(zones) = &self.zones {
            tracking.zones = zones.clone();
        }
        tracking
    }

    /// The problems of this stream, each naming its key (`key` is where it stands, e.g.
    /// `server.streams.start[0]`) and the fix; empty when it is valid.
    pub fn problems(&self, key: &str) -> Vec<String> {
        let mut problems = Vec::new();
        if let Some(name) = &self.name {
            if let Err(reason) = check_name(name) {
                problems.push(format!("{key}.name {reason}"));
            }
        }
        if let Err(reason) = LiveAddress::parse(&self.source) {
            problems.push(format!("{key}.source {reason}"));
        }
        if let Some(fps) = self.max_fps {
            if !(fps.is_finite() && fps > 0.0 && fps <= 1000.0) {
                problems.push(format!("{key}.max_fps is {fps}: use a number of frames a second above 0, at most 1000"));
            }
        }
        // The lines' and zones' own checks, with their keys said where this stream has them.
        let shapes = TrackingConfig {
            lines: self.lines.clone().unwrap_or_default(),
            zones: self.zones.clone().unwrap_or_default(),
            ..TrackingConfig::default()
        };
        problems.extend(shapes.problems().into_iter().map(|problem| match problem.strip_prefix("tracking.") {
            Some(rest) => format!("{key}.{rest}"),
            None => problem,
        }));
        problems
    }
}

/// A stream name is an id in a URL path: short, and nothing that needs escaping.
fn check_name(name: &str) -> Result<(), String> {
    let well_formed = !name.is_empty()
        && name.len() <= MAX_NAME_LENGTH
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.chars().next().is_some_and(|c| c.is_ascii_alphanumeric());
    if well_formed {
        Ok(())
    } else {
        Err(format!(
            "`{name}` is not a usable id: use 1 to {MAX_NAME_LENGTH} letters, digits, `-`, `_` or `.`, starting with a letter or digit"
        ))
    }
}

impl StreamsConfig {
    /// The problems of this section, each naming its key and the fix; empty when it is valid.
    pub fn problems(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for (index, entry) in self.allow_sources.iter().enumerate() {
            if let Err(reason) = AllowedSource::parse(entry) {
                problems.push(format!("server.streams.allow_sources[{index}] {reason}"));
            }
        }
        if !(1..=256).contains(&self.max) {
            problems.push(format!("server.streams.max is {}: use between 1 and 256 streams", self.max));
        }
        if !(16..=1_000_000).contains(&self.replay_events) {
            problems.push(format!(
                "server.streams.replay_events is {}: use between 16 and 1000000 events",
                self.replay_events
            ));
        }
        if !(1..=10_000).contains(&self.max_clients) {
            problems.push(format!("server.streams.max_clients is {}: use between 1 and 10000", self.max_clients));
        }
        if !(100..=600_000).contains(&self.connect_timeout_ms) {
            problems.push(format!(
                "server.streams.connect_timeout_ms is {}: use between 100 and 600000",
                self.connect_timeout_ms
            ));
        }
        if self.start.len() > self.max {
            problems.push(format!(
                "server.streams.start has {} streams but server.streams.max is {}: raise the cap or start fewer",
                self.start.len(),
                self.max
            ));
        }
        let mut names = std::collections::BTreeSet::new();
        for (index, spec) in self.start.iter().enumerate() {
            let key = format!("server.streams.start[{index}]");
            match &spec.name {
                None => problems.push(format!(
                    "{key}.name is missing: a stream started with the server needs a name, its id in /streams/{{name}}"
                )),
                Some(name) if !names.insert(name.as_str()) => {
                    problems.push(format!("{key}.name `{name}` is used twice: give each stream its own name"));
                }
                Some(_) => {}
            }
            problems.extend(spec.problems(&key));
        }
        problems
    }

    /// Whether `POST /streams` may open `source`: it matches an entry of `allow_sources`.
    /// A source that does not parse is never allowed.
    pub fn allows(&self, source: &str) -> bool {
        let Ok(address) = LiveAddress::parse(source) else { return false };
        self.allow_sources
            .iter()
            .filter_map(|entry| AllowedSource::parse(entry).ok())
            .any(|allowed| allowed.admits(&address))
    }
}

/// A live source's address, parsed for comparison: never shown (it may hold credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
enum LiveAddress {
    /// A network stream: scheme, host and port (the scheme's default when not given), and
    /// path; the user name and password are left out.
    Url { scheme: String, host: String, port: u16, path: String },
    /// A V4L2 camera, `/dev/videoN`.
    Camera(String),
}

impl LiveAddress {
    /// Parses a stream source; the error says what is wrong with it (never echoing it: it may
    /// hold a password).
    fn parse(source: &str) -> Result<LiveAddress, String> {
        if source.chars().any(|c| c.is_control() || c.is_whitespace() || c == '\\') {
            return Err("holds spaces, control characters or backslashes: give a plain URL".to_string());
        }
        if let Some(number) = source.strip_prefix("/dev/video") {
            if !number.is_empty() && number.len() <= 3 && number.chars().all(|c| c.is_ascii_digit()) {
                return Ok(LiveAddress::Camera(source.to_string()));
            }
            return Err("is not a camera device: cameras are /dev/video0, /dev/video1...".to_string());
        }
        let not_live = "is not a live source: give an rtsp://, rtsps://, http:// or https:// URL or a /dev/videoN camera (a server stream does not read files; send a clip to POST /predict/video)";
        let Some((scheme, rest)) = source.split_once("://").filter(|(scheme, _)| !scheme.eq_ignore_ascii_case("file"))
        else {
            return Err(not_live.to_string());
        };
        let scheme = scheme.to_ascii_lowercase();
        let default_port = match scheme.as_str() {
            "rtsp" => 554,
            "rtsps" => 322,
            "http" => 80,
            "https" => 443,
            _ => return Err(format!("has the scheme `{scheme}`: a stream is read over rtsp, rtsps, http or https")),
        };
        let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
        let (authority, tail) = rest.split_at(authority_end);
        // The user info ends at the last `@` (a password may hold one of its own).
        let host_port = authority.rsplit_once('@').map_or(authority, |(_, host_port)| host_port);
        let (host, port) = split_host_port(host_port, default_port)?;
        let path = tail.split(['?', '#']).next().unwrap_or_default();
        let path = if path.is_empty() { "/" } else { path };
        let lowered = path.to_ascii_lowercase();
        if path.split('/').any(|segment| segment == "." || segment == "..")
            || lowered.contains("%2e")
            || lowered.contains("%2f")
        {
            return Err("has `.`, `..` or an escaped `.` or `/` in its path: give the stream's plain path".to_string());
        }
        Ok(LiveAddress::Url { scheme, host, port, path: path.to_string() })
    }
}

/// `host[:port]` or `[v6][:port]`, the host lowercased and checked to be a plain name or
/// address (no escapes, no user info).
fn split_host_port(host_port: &str, default_port: u16) -> Result<(String, u16), String> {
    let (host, port) = if let Some(rest) = host_port.strip_prefix('[') {
        let (host, after) = rest.split_once(']').ok_or("has an IPv6 address without its closing `]`")?;
        if !host.chars().all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.') {
            return Err("has an IPv6 address that is not one".to_string());
        }
        (format!("[{host}]"), after.strip_prefix(':'))
    } else {
        match host_port.rsplit_once(':') {
            Some((host, port)) => (host.to_string(), Some(port)),
            None => (host_port.to_string(), None),
        }
    };
    if host.is_empty() || host == "[]" {
        return Err("has no host".to_string());
    }
    if !host.starts_with('[') && !host.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
        return Err("has a host that is not a plain name or address".to_string());
    }
    let port = match port {
        None | Some("") => default_port,
        Some(port) => port.parse::<u16>().map_err(|_| "has a port that is not a number from 0 to 65535".to_string())?,
    };
    Ok((host.to_ascii_lowercase().trim_end_matches('.').to_string(), port))
}

/// An entry of `allow_sources`, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
struct AllowedSource(LiveAddress);

impl AllowedSource {
    fn parse(entry: &str) -> Result<AllowedSource, String> {
        let authority = entry.split_once("://").map(|(_, rest)| rest.split(['/', '?', '#']).next().unwrap_or_default());
        if authority.is_some_and(|authority| authority.contains('@')) {
            return Err(
                "holds a user name or password: keep credentials in the stream's source, not in the allow list"
                    .to_string(),
            );
        }
        if entry.contains(['?', '#']) {
            return Err("has a query or fragment: allow a scheme, host, port and path prefix".to_string());
        }
        LiveAddress::parse(entry).map(AllowedSource).map_err(|reason| match reason.strip_prefix("is not a live source") {
            Some(_) => "is not a source to allow: write rtsp://host[:port][/path], the same with rtsps, http or https, or /dev/videoN".to_string(),
            None => reason,
        })
    }

    /// Same scheme, host and port, and the source's path is the entry's or below it.
    fn admits(&self, source: &LiveAddress) -> bool {
        match (&self.0, source) {
            (LiveAddress::Camera(allowed), LiveAddress::Camera(camera)) => allowed == camera,
            (
                LiveAddress::Url { scheme, host, port, path: prefix },
                LiveAddress::Url { scheme: source_scheme, host: source_host, port: source_port, path },
            ) => {
                scheme == source_scheme
                    && host == source_host
                    && port == source_port
                    && (prefix == "/"
                        || path == prefix
                        || path
                            .strip_prefix(prefix.as_str())
                            .is_some_and(|below| prefix.ends_with('/') || below.starts_with('/')))
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allowing(entries: &[&str]) -> StreamsConfig {
        StreamsConfig { allow_sources: entries.iter().map(ToString::to_string).collect(), ..StreamsConfig::default() }
    }

    #[test]
    fn nothing_is_allowed_by_default() {
        let config = StreamsConfig::default();
        assert!(config.problems().is_empty());
        assert!(!config.allows("rtsp://127.0.0.1:8554/live"));
        assert!(!config.allows("/dev/video0"));
    }

    #[test]
    fn a_host_entry_admits_its_scheme_host_and_port_only() {
        let config = allowing(&["rtsp://cam.local:8554", "http://10.0.0.5/cams/", "/dev/video0"]);
        assert!(config.problems().is_empty(), "{:?}", config.problems());
        for allowed in [
            "rtsp://cam.local:8554/live",
            "RTSP://CAM.LOCAL:8554/live?channel=1",
            "rtsp://admin:p@ss@cam.local:8554/live",
            "http://10.0.0.5/cams/door.mjpg",
            "http://10.0.0.5:80/cams/door.mjpg",
            "/dev/video0",
        ] {
            assert!(config.allows(allowed), "{allowed} should be allowed");
        }
        for refused in [
            "rtsp://cam.local/live",                // another port (554)
            "rtsps://cam.local:8554/live",          // another scheme
            "rtsp://cam.local:8554@evil.host/live", // the host is evil.host
            "rtsp://cam.local.evil.host:8554/live", // another host
            "rtsp://evil.host/x?cam.local:8554",    // the allowed host only in the query
            "http://10.0.0.5/camsx/door.mjpg",      // not below the prefix
            "http://10.0.0.5/cams/../admin",        // climbs out of it
            "http://10.0.0.5/cams/%2e%2e/admin",    // the same, escaped
            "http://10.0.0.5/other",
            "file:///etc/passwd",
            "/etc/passwd",
            "/dev/video1",
            "rtsp://cam.local:8554/live two",
        ] {
            assert!(!config.allows(refused), "{refused} should be refused");
        }
    }

    #[test]
    fn bad_entries_and_streams_are_named_with_the_fix() {
        let mut config = allowing(&["ftp://host", "rtsp://user:secret@cam", "rtsp://cam/?a=b"]);
        config.start = vec![
            StreamSpec {
                name: None,
                source: "rtsp://cam/live".into(),
                track: false,
                lines: None,
                zones: None,
                max_fps: Some(0.0),
            },
            StreamSpec {
                name: Some("door cam".into()),
                source: "clip.mp4".into(),
                track: true,
                lines: Some(vec![LineConfig {
                    name: "gate".into(),
                    start: [0.0, 0.0],
                    end: [0.0, 0.0],
                    anchors: vec![crate::tracking::Anchor::Center],
                    min_frames: 1,
                    classes: Vec::new(),
                }]),
                zones: None,
                max_fps: None,
            },
        ];
        let problems = config.problems().join("\n");
        for expected in [
            "server.streams.allow_sources[0] has the scheme `ftp`",
            "server.streams.allow_sources[1] holds a user name or password",
            "server.streams.allow_sources[2] has a query",
            "server.streams.start[0].name is missing",
            "server.streams.start[0].max_fps is 0",
            "server.streams.start[1].name `door cam` is not a usable id",
            "server.streams.start[1].source is not a live source",
            "server.streams.start[1].lines[0]: start and end are the same point",
        ] {
            assert!(problems.contains(expected), "`{expected}` missing from:\n{problems}");
        }
        assert!(!problems.contains("secret"), "a password in an entry is not echoed:\n{problems}");
    }
}
