//! The daemon's container event stream, as discovery holds it: subscribed
//! (with a listing right after), read line by line, renewed from time to
//! time (a silent stream looks the same as a dead one), and subscribed
//! again after any error.

use std::time::Duration;

use bytes::BytesMut;
use tokio::time::Instant;

use crate::docker::{Body, BodyRead, ContainerSummary, DockerError, Event};
use crate::engine::events::DaemonFound;
use crate::engine::shared::Shared;

/// The longest event line accepted.
const MAX_EVENT_BYTES: usize = 1 << 20;

pub struct EventStream {
    body: Option<Body>,
    buf: BytesMut,
    /// When to subscribe (while there is no stream).
    reconnect_at: Instant,
    /// When to renew the stream (while there is one).
    renew_at: Instant,
    renew_every: Duration,
}

impl EventStream {
    pub fn new(renew_every: Duration) -> EventStream {
        let now = Instant::now();
        EventStream { body: None, buf: BytesMut::new(), reconnect_at: now, renew_at: now + renew_every, renew_every }
    }

    /// Asks which daemon answers (its profile becomes current: it says how
    /// events are named), subscribes, then lists: a container that starts
    /// in between is in one or the other (or both; duplicates are harmless).
    pub async fn subscribe_and_list(&mut self, shared: &Shared) -> Result<Vec<ContainerSummary>, DockerError> {
        let version = shared.docker.version().await?;
        if let Some(before) = shared.daemon.detect(version.clone()) {
            let endpoint = shared.docker.endpoint.describe();
            DaemonFound { endpoint: &endpoint, daemon: &version, before: before.as_ref() }.emit(&shared.log);
        }
        let events = shared.docker.events(shared.daemon.profile().events.filters).await?;
        shared.stats.events_connects.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        // Always all of them: exited ones may be short-lived containers whose
        // whole life fell into a gap, or into the time before the first
        // subscription (`capture_start` returns before it is made).
        let list = shared.docker.list(true).await?;
        shared.stats.listings.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.buf.clear();
        self.body = Some(events.body);
        self.renew_at = Instant::now() + self.renew_every;
        Ok(list)
    }

    /// Drops the stream; the next subscription is due at once, or after
    /// `wait` (a backoff).
    pub fn drop_stream(&mut self, wait: Duration) {
        self.body = None;
        self.reconnect_at = Instant::now() + wait;
    }

    /// The next thing to do: events read, the stream ended (subscribe
    /// again), its renewal due, or (without a stream) a subscription due.
    /// Cancel-safe: bytes read stay in the buffer.
    pub async fn next(&mut self) -> Next {
        let Some(body) = self.body.as_mut() else {
            tokio::time::sleep_until(self.reconnect_at).await;
            return Next::Subscribe;
        };
        let renew_at = self.renew_at;
        tokio::select! {
            biased;
            read = read_events(body, &mut self.buf) => match read {
                Ok(events) => Next::Events(events),
                Err(e) => Next::Ended(e),
            },
            // A silent event stream looks the same as a dead one: renew it
            // (and list again) from time to time.
            _ = tokio::time::sleep_until(renew_at) => Next::Renew,
        }
    }
}

/// What the event stream needs next.
pub enum Next {
    Events(Vec<Event>),
    /// The stream failed or ended (why).
    Ended(String),
    Renew,
    Subscribe,
}

/// Reads until at least one event line is complete.
async fn read_events(body: &mut Body, buf: &mut BytesMut) -> Result<Vec<Event>, String> {
    loop {
        let events = complete_lines(buf)?;
        if !events.is_empty() {
            return Ok(events);
        }
        if buf.len() > MAX_EVENT_BYTES {
            return Err("event line exceeds 1 MiB".into());
        }
        match body.read(buf).await {
            Ok(BodyRead::Data(_)) => {}
            Ok(BodyRead::End) => return Err("the daemon closed the event stream".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

/// The events of the complete lines at the front of `buf`.
fn complete_lines(buf: &mut BytesMut) -> Result<Vec<Event>, String> {
    let mut out = Vec::new();
    while let Some(eol) = buf.iter().position(|&b| b == b'\n') {
        let line = buf.split_to(eol + 1);
        let line = &line[..eol];
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        out.push(serde_json::from_slice::<Event>(line).map_err(|e| format!("bad event: {e}"))?);
    }
    Ok(out)
}
