//! A stream's events as Server-Sent Events: numbered from 1, kept in a bounded replay buffer,
//! and read by each client from a cursor of its own.
//!
//! The frame loop only appends to the buffer (a short lock, never a wait), so no client can
//! slow it down. Each client reads from its own position as fast as its connection takes the
//! bytes: the buffer is every client's bounded queue, shared rather than copied. A client that
//! falls so far behind that its next event has left the buffer is dropped; it reconnects with
//! `Last-Event-ID` and gets a `reset` event saying how many events it missed, then the oldest
//! ones still kept. A client that stops reading altogether is closed by the connection's write
//! deadline (`server.connections.body_timeout_ms`).

use std::{
    collections::VecDeque,
    convert::Infallible,
    sync::{Arc, Mutex},
    time::Duration,
};

use axum::body::Bytes;
use serde_json::json;
use tokio::sync::Notify;

/// A comment line sent after this long without an event, so that proxies keep the connection.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Events sent in one chunk at most, so a client catching up interleaves with the others.
const EVENTS_PER_CHUNK: usize = 64;

/// One stream's events.
pub(crate) struct Hub {
    buffer: Mutex<Buffer>,
    changed: Notify,
}

struct Buffer {
    /// The newest events, oldest first, their ids consecutive.
    events: VecDeque<(u64, Bytes)>,
    /// The id the next event gets.
    next_id: u64,
    capacity: usize,
    /// No event will come any more (the stream ended).
    closed: bool,
}

impl Buffer {
    /// The id of the oldest event kept (`next_id` when none is).
    fn oldest(&self) -> u64 {
        self.events.front().map_or(self.next_id, |(id, _)| *id)
    }
}

/// Where a client starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// With the next event (a new client).
    Now,
    /// After the event with this id (`Last-Event-ID`).
    After(u64),
}

/// What a client gets next.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Read {
    /// Events (and a `reset` before them when the client's place had gone), as SSE text.
    Events(Bytes),
    /// Nothing new yet.
    Nothing,
    /// The client fell behind the buffer: drop it.
    Behind,
    /// The stream ended and the client has every event.
    Ended,
}

/// A client's place: the id of the next event it gets, and whether it still has to be
/// checked against the buffer (a `Last-Event-ID` given).
#[derive(Debug)]
pub(crate) struct Cursor {
    next: u64,
    resuming: bool,
}

impl Hub {
    pub fn new(capacity: usize) -> Hub {
        Hub {
            buffer: Mutex::new(Buffer {
                events: VecDeque::new(),
                next_id: 1,
                capacity: capacity.max(1),
                closed: false,
            }),
            changed: Notify::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Buffer> {
        self.buffer.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Appends an event of `kind` with `data` (one line of JSON), returns its id, and wakes
    /// the clients. The oldest event leaves the buffer when it is full.
    pub fn publish(&self, kind: &str, data: &str) -> u64 {
        let mut buffer = self.lock();
        let id = buffer.next_id;
        buffer.next_id += 1;
        // SSE ends an event at a blank line: a newline inside the data would cut it.
        let data = data.replace(['\r', '\n'], " ");
        let text = Bytes::from(format!("id: {id}\nevent: {kind}\ndata: {data}\n\n"));
        if buffer.events.len() == buffer.capacity {
            buffer.events.pop_front();
        }
        buffer.events.push_back((id, text));
        drop(buffer);
        self.changed.notify_waiters();
        id
    }

    /// No more events: clients end once they have the last one.
    pub fn close(&self) {
        self.lock().closed = true;
        self.changed.notify_waiters();
    }

    /// The id of the last event published (0 before the first).
    pub fn last_id(&self) -> u64 {
        self.lock().next_id - 1
    }

    /// A client's starting place.
    pub fn cursor(&self, start: Start) -> Cursor {
        match start {
            Start::Now => Cursor { next: self.lock().next_id, resuming: false },
            Start::After(id) => Cursor { next: id.saturating_add(1), resuming: true },
        }
    }

    /// The events after `cursor`, at most [`EVENTS_PER_CHUNK`], and moves it on.
    pub fn read(&self, cursor: &mut Cursor) -> Read {
        let buffer = self.lock();
        let (oldest, next_id) = (buffer.oldest(), buffer.next_id);
        let mut text = Vec::new();
        if std::mem::take(&mut cursor.resuming) && (cursor.next < oldest || cursor.next > next_id) {
            // The client's place left the buffer (or is from another run of the stream: ids
            // start at 1 again when the server restarts): it resumes at the oldest event kept.
            let missed = if cursor.next > next_id { None } else { Some(oldest - cursor.next) };
            let reset = json!({ "last_event_id": cursor.next - 1, "resumes_at": oldest, "missed": missed });
            text.extend_from_slice(format!("event: reset\ndata: {reset}\n\n").as_bytes());
            cursor.next = oldest;
        } else if cursor.next < oldest {
            return Read::Behind;
        }
        let skip = (cursor.next - oldest) as usize;
        for (id, event) in buffer.events.iter().skip(skip).take(EVENTS_PER_CHUNK) {
            text.extend_from_slice(event);
            cursor.next = id + 1;
        }
        if !text.is_empty() {
            Read::Events(Bytes::from(text))
        } else if buffer.closed {
            Read::Ended
        } else {
            Read::Nothing
        }
    }

    /// The SSE body of a client starting at `start`: its events as they come, a keep-alive
    /// comment when there are none for a while, and its end when the stream ends or the
    /// client falls behind (`on_behind` is called then). `guard` lives as long as the body
    /// (it counts the client).
    pub fn body<G: Send + 'static>(
        self: Arc<Self>,
        start: Start,
        guard: G,
        on_behind: impl Fn() + Send + Sync + 'static,
    ) -> axum::body::Body {
        let cursor = self.cursor(start);
        let state = (self, cursor, guard, Arc::new(on_behind));
        let chunks = futures_util::stream::unfold(state, |(hub, mut cursor, guard, on_behind)| async move {
            loop {
                let next = {
                    let notified = hub.changed.notified();
                    tokio::pin!(notified);
                    // Listening before reading: an event published in between still wakes it.
                    notified.as_mut().enable();
                    match hub.read(&mut cursor) {
                        Read::Events(text) => Some(text),
                        Read::Ended => None,
                        Read::Behind => {
                            on_behind();
                            None
                        }
                        Read::Nothing => match tokio::time::timeout(KEEP_ALIVE, notified).await {
                            Ok(()) => continue,
                            Err(_) => Some(Bytes::from_static(b": keep-alive\n\n")),
                        },
                    }
                };
                return next.map(|text| (Ok::<_, Infallible>(text), (hub, cursor, guard, on_behind)));
            }
        });
        axum::body::Body::from_stream(chunks)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ids(read: Read) -> Vec<String> {
        match read {
            Read::Events(text) => String::from_utf8_lossy(&text)
                .split("\n\n")
                .filter(|event| !event.is_empty())
                .map(|event| {
                    let field = |name: &str| {
                        event.lines().find_map(|line| line.strip_prefix(name)).unwrap_or_default().to_string()
                    };
                    match field("id: ").as_str() {
                        "" => format!("{}:{}", field("event: "), field("data: ")),
                        id => id.to_string(),
                    }
                })
                .collect(),
            other => vec![format!("{other:?}")],
        }
    }

    #[test]
    fn clients_read_from_their_own_place_resume_after_their_last_id_and_get_a_reset_when_it_has_gone() {
        let hub = Hub::new(4);
        let mut early = hub.cursor(Start::Now);
        for frame in 0..3 {
            hub.publish("frame", &format!("{{\"frame\":{frame}}}"));
        }
        let mut late = hub.cursor(Start::Now);
        assert_eq!(ids(hub.read(&mut early)), ["1", "2", "3"]);
        assert_eq!(hub.read(&mut late), Read::Nothing, "a new client starts with the next event");
        hub.publish("frame", "{\n\"frame\":3}");
        assert_eq!(ids(hub.read(&mut late)), ["4"]);
        // Resuming inside the buffer: no gap, no repeat.
        let mut resumed = hub.cursor(Start::After(2));
        assert_eq!(ids(hub.read(&mut resumed)), ["3", "4"]);
        // Two more: events 1 and 2 leave the buffer of 4.
        hub.publish("frame", "{}");
        hub.publish("zone_entered", "{}");
        let mut gone = hub.cursor(Start::After(1));
        assert_eq!(
            ids(hub.read(&mut gone)),
            ["reset:{\"last_event_id\":1,\"missed\":1,\"resumes_at\":3}", "3", "4", "5", "6"]
        );
        let mut future = hub.cursor(Start::After(99));
        assert_eq!(ids(hub.read(&mut future))[0], "reset:{\"last_event_id\":99,\"missed\":null,\"resumes_at\":3}");
        // The first client did not read while 4..6 came and 1..2 left: it is still in; one more
        // event past the buffer and it is behind.
        let mut slow = hub.cursor(Start::After(2));
        for _ in 0..3 {
            hub.publish("frame", "{}");
        }
        assert!(matches!(hub.read(&mut slow), Read::Events(_)), "a resumed client gets its reset");
        assert_eq!(hub.read(&mut early), Read::Behind, "event 4 has left the buffer");
        hub.close();
        let mut last = hub.cursor(Start::After(hub.last_id()));
        assert_eq!(hub.read(&mut last), Read::Ended);
        assert_eq!(hub.last_id(), 9);
    }
}
