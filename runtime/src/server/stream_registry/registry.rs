//! The streams a server runs, and what each has done so far.

use std::{
    collections::{BTreeMap, VecDeque},
    hash::BuildHasher,
    sync::{
        atomic::{AtomicBool, AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::events::Hub;
use crate::{
    inputs::redact,
    server::{metrics::Metrics, ApiError},
    streams_config::{StreamSpec, StreamsConfig},
    video::{LiveStats, StreamSummary},
    Result,
};

/// Where a stream is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum StreamState {
    /// Opening its source (a stream of the config retries until it opens).
    Connecting,
    /// Frames are detected.
    Running,
    /// Asked to stop; its frame loop is finishing the frame in hand.
    Stopping,
    /// Stopped (`DELETE`, or the server shutting down).
    Stopped,
    /// Its source failed for good.
    Failed,
}

impl StreamState {
    fn ended(self) -> bool {
        matches!(self, StreamState::Stopped | StreamState::Failed)
    }
}

/// Lags kept for the percentiles shown in `GET /streams/{id}`.
const LAGS_KEPT: usize = 512;

/// Ended streams kept at most, besides `keep_ended_s`.
const ENDED_KEPT: usize = 64;

/// What a stream has done, changing as it runs.
#[derive(Debug)]
struct Progress {
    state: StreamState,
    started: Instant,
    started_at: f64,
    ended_at: Option<f64>,
    ended: Option<Instant>,
    frames: u64,
    live: LiveStats,
    lags_ms: VecDeque<f64>,
    /// The last problem with the source (while connecting, or what ended it).
    error: Option<String>,
    summary: Option<String>,
}

/// One stream.
pub(crate) struct Stream {
    /// Its id in `/streams/{id}`.
    pub id: String,
    /// The source, credentials redacted: the only form in which it is shown.
    source: String,
    spec: StreamSpec,
    from_config: bool,
    /// Set to stop the frame loop.
    pub stop: Arc<AtomicBool>,
    pub hub: Arc<Hub>,
    pub clients: AtomicUsize,
    progress: Mutex<Progress>,
    /// Turns true when the frame loop has ended.
    done: watch::Sender<bool>,
}

/// The part of a frame's record that the stream reads: its analytics events go out as events
/// of their own.
#[derive(Deserialize)]
struct FrameHead {
    frame: u64,
    pts_ms: f64,
    #[serde(default)]
    events: Vec<Value>,
    #[serde(default)]
    lag_ms: Option<f64>,
}

fn unix_now() -> f64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0.0, |time| time.as_secs_f64())
}

impl Stream {
    fn new(id: String, spec: StreamSpec, from_config: bool, replay_events: usize) -> Stream {
        let progress = Progress {
            state: StreamState::Connecting,
            started: Instant::now(),
            started_at: unix_now(),
            ended_at: None,
            ended: None,
            frames: 0,
            live: LiveStats::default(),
            lags_ms: VecDeque::new(),
            error: None,
            summary: None,
        };
        Stream {
            id,
            source: redact(&spec.source),
            spec,
            from_config,
            stop: Arc::new(AtomicBool::new(false)),
            hub: Arc::new(Hub::new(replay_events)),
            clients: AtomicUsize::new(0),
            progress: Mutex::new(progress),
            done: watch::channel(false).0,
        }
    }

    fn progress(&self) -> std::sync::MutexGuard<'_, Progress> {
        self.progress.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn state(&self) -> StreamState {
        self.progress().state
    }

    /// The source opened: frames come.
    pub fn running(&self) {
        let mut progress = self.progress();
        if progress.state == StreamState::Connecting {
            progress.state = StreamState::Running;
        }
        progress.error = None;
    }

    /// The source did not open; it is tried again.
    pub fn waiting(&self, reason: &str) {
        self.progress().error = Some(reason.to_string());
    }

    /// One frame's record (`line`, a JSON line): sent as a `frame` event, each of its
    /// analytics events as an event of its own, and counted.
    pub fn frame(&self, line: &str, live: Option<LiveStats>, metrics: &Metrics) {
        let head = serde_json::from_str::<FrameHead>(line).ok();
        self.hub.publish("frame", line);
        let Some(head) = head else { return };
        for mut event in head.events {
            let kind = event.get("type").and_then(Value::as_str).unwrap_or("event").to_string();
            if let Value::Object(fields) = &mut event {
                fields.insert("frame".into(), head.frame.into());
                fields.insert("pts_ms".into(), json!(head.pts_ms));
            }
            self.hub.publish(&kind, &event.to_string());
        }
        let series = &metrics.streams;
        series.frames.with_label_values(&[&self.id]).inc();
        if let Some(lag) = head.lag_ms {
            series.lag.with_label_values(&[&self.id]).observe(lag / 1000.0);
        }
        let mut progress = self.progress();
        progress.frames += 1;
        if let Some(lag) = head.lag_ms {
            if progress.lags_ms.len() == LAGS_KEPT {
                progress.lags_ms.pop_front();
            }
            progress.lags_ms.push_back(lag);
        }
        if let Some(live) = live {
            let before = progress.live;
            series.dropped.with_label_values(&[&self.id, "busy"]).inc_by(live.dropped.saturating_sub(before.dropped));
            series
                .dropped
                .with_label_values(&[&self.id, "max_fps"])
                .inc_by(live.skipped.saturating_sub(before.skipped));
            series.reconnects.with_label_values(&[&self.id]).inc_by(live.reconnects.saturating_sub(before.reconnects));
            progress.live = live;
        }
    }

    /// The source did not open and `POST /streams` is told why: the stream ends failed.
    pub fn failed_to_open(&self, reason: &str, metrics: &Metrics) {
        self.end(StreamState::Failed, Some(reason.to_string()), None, metrics);
    }

    /// The frame loop ended with `outcome`.
    pub fn finish(&self, outcome: Result<StreamSummary>, metrics: &Metrics) {
        let (state, error, summary) = match outcome {
            Ok(summary) => match &summary.error {
                Some(error) => (StreamState::Failed, Some(error.to_string()), Some(summary)),
                None => (StreamState::Stopped, None, Some(summary)),
            },
            Err(error) => (StreamState::Failed, Some(error.to_string()), None),
        };
        if let Some(error) = &error {
            tracing::warn!(stream = %self.id, error = %error, "a stream ended with an error");
        }
        self.end(state, error, summary, metrics);
    }

    fn end(&self, state: StreamState, error: Option<String>, summary: Option<StreamSummary>, metrics: &Metrics) {
        {
            let mut progress = self.progress();
            if progress.state.ended() {
                return;
            }
            progress.state = state;
            progress.ended = Some(Instant::now());
            progress.ended_at = Some(unix_now());
            progress.error = error;
            if let Some(summary) = &summary {
                if let Some(live) = summary.live {
                    progress.live = live;
                }
                progress.summary = Some(summary.to_string());
            }
        }
        metrics.streams.running.dec();
        self.hub.publish("end", &self.view().to_string());
        self.hub.close();
        self.done.send_replace(true);
    }

    /// Asks the frame loop to stop.
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::Relaxed);
        let mut progress = self.progress();
        if matches!(progress.state, StreamState::Connecting | StreamState::Running) {
            progress.state = StreamState::Stopping;
        }
    }

    /// Waits up to `within` for the frame loop to end; whether it did.
    pub async fn wait_ended(&self, within: Duration) -> bool {
        let mut done = self.done.subscribe();
        tokio::time::timeout(within, done.wait_for(|done| *done)).await.is_ok_and(|ended| ended.is_ok())
    }

    /// The stream as `GET /streams/{id}` shows it.
    pub fn view(&self) -> Value {
        let progress = self.progress();
        let seconds = progress.ended.unwrap_or_else(Instant::now).duration_since(progress.started).as_secs_f64();
        let mut lags: Vec<f64> = progress.lags_ms.iter().copied().collect();
        lags.sort_by(f64::total_cmp);
        let percentile = |p: f64| {
            lags.len()
                .checked_sub(1)
                .map(|last| (lags[((p / 100.0) * last as f64).round() as usize] * 10.0).round() / 10.0)
        };
        let names = |shapes: Option<Vec<String>>| shapes.unwrap_or_default();
        json!({
            "id": self.id,
            "source": self.source,
            "state": progress.state,
            "from_config": self.from_config,
            "track": self.spec.tracked(),
            "lines": names(self.spec.lines.as_ref().map(|lines| lines.iter().map(|line| line.name.clone()).collect())),
            "zones": names(self.spec.zones.as_ref().map(|zones| zones.iter().map(|zone| zone.name.clone()).collect())),
            "max_fps": self.spec.max_fps,
            "started_at": progress.started_at,
            "ended_at": progress.ended_at,
            "frames": progress.frames,
            "frames_per_s": if seconds > 0.0 { ((progress.frames as f64 / seconds) * 100.0).round() / 100.0 } else { 0.0 },
            "received": progress.live.received,
            "dropped": progress.live.dropped,
            "skipped": progress.live.skipped,
            "reconnects": progress.live.reconnects,
            "lag_ms": { "p50": percentile(50.0), "p99": percentile(99.0), "last": progress.lags_ms.back() },
            "sse_clients": self.clients.load(Ordering::Relaxed),
            "last_event_id": self.hub.last_id(),
            "events": format!("/streams/{}/events", self.id),
            "error": progress.error,
            "summary": progress.summary,
        })
    }
}

/// Every stream of a server, running or ended a short while ago.
pub(crate) struct Registry {
    config: StreamsConfig,
    streams: Mutex<BTreeMap<String, Arc<Stream>>>,
}

impl Registry {
    pub fn new(config: StreamsConfig) -> Registry {
        Registry { config, streams: Mutex::new(BTreeMap::new()) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Arc<Stream>>> {
        self.streams.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Forgets ended streams kept longer than `keep_ended_s`, and the oldest beyond
    /// [`ENDED_KEPT`], with their metrics.
    fn purge(&self, streams: &mut BTreeMap<String, Arc<Stream>>, metrics: &Metrics) {
        let keep = Duration::from_secs(self.config.keep_ended_s);
        let mut ended: Vec<(Instant, String)> = streams
            .values()
            .filter_map(|stream| stream.progress().ended.map(|ended| (ended, stream.id.clone())))
            .collect();
        ended.sort();
        let over = ended.len().saturating_sub(ENDED_KEPT);
        for (index, (ended_at, id)) in ended.into_iter().enumerate() {
            if index < over || ended_at.elapsed() >= keep {
                streams.remove(&id);
                metrics.streams.forget(&id);
            }
        }
    }

    /// Registers a new stream for `spec` (connecting), or says why not: its name is taken by
    /// a stream that has not ended (409), or `server.streams.max` streams run (503).
    pub fn admit(&self, spec: StreamSpec, from_config: bool, metrics: &Metrics) -> Result<Arc<Stream>, ApiError> {
        let mut streams = self.lock();
        self.purge(&mut streams, metrics);
        let id = match &spec.name {
            Some(name) => name.clone(),
            None => loop {
                let id = random_id();
                if !streams.contains_key(&id) {
                    break id;
                }
            },
        };
        if streams.get(&id).is_some_and(|stream| !stream.state().ended()) {
            return Err(ApiError::conflict(format!(
                "a stream named `{id}` is running: choose another name, or stop it first (DELETE /streams/{id})"
            )));
        }
        let running = streams.values().filter(|stream| !stream.state().ended()).count();
        if running >= self.config.max {
            return Err(ApiError::overloaded(format!(
                "{running} streams are running, the most server.streams.max allows: stop one (DELETE /streams/{{id}}) or raise server.streams.max"
            )));
        }
        let stream = Arc::new(Stream::new(id.clone(), spec, from_config, self.config.replay_events));
        streams.insert(id, stream.clone());
        metrics.streams.running.inc();
        Ok(stream)
    }

    /// Forgets a stream that never started (its source did not open, or no frame place was
    /// left).
    pub fn remove(&self, id: &str, metrics: &Metrics) {
        let removed = self.lock().remove(id);
        if removed.is_some_and(|stream| !stream.state().ended()) {
            metrics.streams.running.dec();
        }
        metrics.streams.forget(id);
    }

    pub fn get(&self, id: &str) -> Option<Arc<Stream>> {
        self.lock().get(id).cloned()
    }

    /// Every stream, by id.
    pub fn all(&self, metrics: &Metrics) -> Vec<Arc<Stream>> {
        let mut streams = self.lock();
        self.purge(&mut streams, metrics);
        streams.values().cloned().collect()
    }

    /// Asks every stream to stop, at once; the future waits up to `within` for their frame
    /// loops to end, and says whether all did.
    pub fn stop_all(&self, within: Duration) -> impl std::future::Future<Output = bool> + Send + 'static {
        let streams: Vec<Arc<Stream>> = self.lock().values().cloned().collect();
        for stream in &streams {
            stream.request_stop();
        }
        async move {
            let deadline = Instant::now() + within;
            let mut all = true;
            for stream in streams {
                all &= stream.wait_ended(deadline.saturating_duration_since(Instant::now())).await;
            }
            all
        }
    }
}

/// A fresh stream id: 12 hex digits, not guessable from the ones before.
fn random_id() -> String {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let salt = (COUNTER.fetch_add(1, Ordering::Relaxed), SystemTime::now());
    format!("{:012x}", std::hash::RandomState::new().hash_one(salt) & 0xffff_ffff_ffff)
}
