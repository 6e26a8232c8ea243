//! The streams a server runs (features `server` and `video`): each stream's state and
//! counters, and its events for SSE clients. Held by the server's state; the routes and the
//! frame loops that fill it are in `streams`.

mod events;
mod registry;

pub(crate) use events::Start;
pub(crate) use registry::{Registry, Stream};
