//! A container's reading state, kept across reader runs: discovery holds it
//! while no reader runs, so a restart resumes from the same position.

use std::sync::Arc;

use tokio::time::Instant;

use crate::config::{Config, Streams};
use crate::docker::{LogsQuery, Profile};
use crate::engine::backoff::Backoff;
use crate::engine::registry::Tracked;
use crate::frame::Stream;
use crate::log::Logger;
use crate::position::Position;
use crate::record::ContainerMeta;

/// The widest bounded `tail` asked for before falling back to `tail=all`.
pub const MAX_BOUNDED_TAIL: u64 = 1 << 21;
/// A reopen widens its `tail` by this factor when the window was too short.
const TAIL_WIDEN_FACTOR: u64 = 8;

pub struct ContainerState {
    pub meta: Arc<ContainerMeta>,
    /// What this reader has passed (the hot copy; `tracked.progress` has
    /// the one others read, as of the last delivery).
    pub position: Position,
    pub tracked: Arc<Tracked>,
    /// The `tail` the next reopen asks for.
    pub tail: u64,
    /// When the stream is next rotated.
    pub next_rotation: Instant,
    /// A watchdog restart of a running container: its reading did not
    /// begin anew, so "followed since" (the last-renewal fallback) stays.
    pub resumed: bool,
    /// `State.StartedAt` of the run last read to its end: a stopped
    /// container looked at again is read only if it ran since.
    pub drained_run: Option<String>,
    /// Where the `since` policy started the reading (Unix ns; 0: at the
    /// beginning, or from a saved position): nothing written before it is
    /// read.
    pub start_ns: i64,
}

impl ContainerState {
    /// The state of a container whose reading starts (or, `resumed`, goes on
    /// after a watchdog restart) at `position`.
    pub fn new(
        tracked: Arc<Tracked>,
        position: Position,
        config: &Config,
        jitter: &mut Backoff,
        resumed: bool,
    ) -> ContainerState {
        ContainerState {
            meta: tracked.meta.clone(),
            position,
            tracked,
            tail: config.reopen_tail,
            next_rotation: Instant::now() + jitter.jittered(config.rotation_interval, config.rotation_jitter),
            resumed,
            drained_run: None,
            start_ns: 0,
        }
    }

    /// The streams read: a TTY container has one, `console`.
    pub fn streams(&self, wanted: Streams) -> Vec<Stream> {
        if self.meta.tty {
            return vec![Stream::Console];
        }
        let mut v = Vec::with_capacity(2);
        if wanted.stdout {
            v.push(Stream::Stdout);
        }
        if wanted.stderr {
            v.push(Stream::Stderr);
        }
        v
    }

    /// The logs request that reads on from the position, on a daemon of
    /// this profile.
    pub fn query(&self, wanted: Streams, follow: bool, profile: &Profile) -> LogsQuery {
        let since_ns = profile.since(self.position.resume_since_ns(&self.streams(wanted)), self.start_ns);
        let bounded = since_ns > 0 && self.tail <= MAX_BOUNDED_TAIL && profile.bounded_tail;
        LogsQuery {
            follow,
            // A TTY stream is all "stdout" to the daemon.
            stdout: wanted.stdout || self.meta.tty,
            stderr: wanted.stderr && !self.meta.tty,
            since_ns,
            tail: bounded.then_some(self.tail),
            since_rfc3339: profile.since_rfc3339,
        }
    }

    /// The reopened window was too short: ask for more next time.
    pub fn widen(&mut self, log: &Logger) {
        self.tail = self.tail.saturating_mul(TAIL_WIDEN_FACTOR);
        self.tracked.stats.reopened(crate::engine::kinds::ReopenReason::Widen);
        log.debug("Reopened window too short; widening it.", &[("container_id", &self.meta.short_id()), ("tail", &self.tail)]);
    }

    /// After a healthy stream, a widened reopen window goes back to
    /// `reopen_tail` (a burst that needed it is over; a container that keeps
    /// needing it widens again, one request more).
    pub fn narrow(&mut self, reopen_tail: u64) {
        self.tail = reopen_tail;
    }
}
