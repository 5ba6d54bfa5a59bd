//! A container's reading state, kept across reader runs: discovery holds it
//! while no reader runs, so a restart resumes from the same position.

use std::path::PathBuf;
use std::sync::Arc;

use tokio::time::Instant;

use crate::chain::Line;
use super::rate_limit::RateLimit;
use crate::config::{Config, Streams};
use crate::docker::{LogsQuery, Profile};
use crate::engine::backoff::Backoff;
use crate::engine::registry::Tracked;
use crate::frame::Stream;
use crate::log::Logger;
use crate::multiline::{Event, Grouper, MultilineConfig, MultilineError, LABEL};
use crate::logfile::Cursor;
use crate::position::Position;
use crate::record::ContainerMeta;

/// The widest bounded `tail` asked for before falling back to `tail=all`.
pub const MAX_BOUNDED_TAIL: u64 = 1 << 21;
/// A reopen widens its `tail` by this factor when the window was too short.
const TAIL_WIDEN_FACTOR: u64 = 8;

pub struct ContainerState {
    pub meta: Arc<ContainerMeta>,
    /// What this reader has passed (the hot copy; `tracked.progress` has
    /// the one others read, as of the last delivery, held back before the
    /// lines `grouper` holds).
    pub position: Position,
    /// The container's multiline grouping, kept across connections (reopens,
    /// rotations, restarts of the container), so an event may span them.
    pub grouper: Grouper,
    /// Events `grouper` completed and not yet delivered (kept for reuse).
    pub events: Vec<Event>,
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
    /// With `container_max_records_per_second`.
    pub limit: Option<RateLimit>,
    /// The log file inspect names (`LogPath`, as the daemon sees it).
    pub log_path: Option<PathBuf>,
    /// Where reading the log file left off, and the position just after
    /// it: a renewal resumes there at O(1) cost, taking every entry after
    /// it as new, while nothing else (the API) moved the position since.
    pub file_cursor: Option<(Cursor, Position)>,
    /// Why the log file was last found unreadable (said once, until it
    /// changes or the file is read again).
    pub file_refused: Option<String>,
}

impl ContainerState {
    /// The state of a container whose reading starts (or, `resumed`, goes on
    /// after a watchdog restart) at `position`.
    pub fn new(
        tracked: Arc<Tracked>,
        position: Position,
        grouper: Grouper,
        config: &Config,
        jitter: &mut Backoff,
        resumed: bool,
    ) -> ContainerState {
        ContainerState {
            meta: tracked.meta.clone(),
            position,
            grouper,
            events: Vec::new(),
            tracked,
            tail: config.reopen_tail,
            next_rotation: Instant::now() + jitter.jittered(config.rotation_interval, config.rotation_jitter),
            resumed,
            drained_run: None,
            start_ns: 0,
            limit: config.container_max_records_per_second.map(|rate| RateLimit::new(rate, Instant::now())),
            log_path: None,
            file_cursor: None,
            file_refused: None,
        }
    }

    /// Passes `lines` (emptying it) through the grouper: the events they
    /// complete go to `events`; the rest waits in open events.
    pub fn group(&mut self, lines: &mut Vec<Line>) {
        if lines.is_empty() {
            return;
        }
        let now = std::time::Instant::now();
        for line in lines.drain(..) {
            self.grouper.push(line, now, &mut self.events);
        }
        self.tracked.progress.set_held_lines(self.grouper.held_lines());
    }

    /// Emits the open events whose timeout has passed (`all`: every open
    /// event, the container having stopped) into `events`.
    pub fn flush_events(&mut self, all: bool) {
        if all {
            self.grouper.finish(&mut self.events);
        } else {
            self.grouper.flush_due(std::time::Instant::now(), &mut self.events);
        }
        self.tracked.progress.set_held_lines(self.grouper.held_lines());
    }

    /// The position others may see: the reader's, held back before the
    /// lines the grouper holds (they exist nowhere else yet).
    pub fn publishable_position(&self) -> Position {
        let mut position = self.position.clone();
        self.grouper.hold_back(&mut position);
        position
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

/// The multiline grouping of a container: its label's choice
/// (`log_capturer.multiline`), else the capture's `multiline`. A label
/// value that names nothing comes back as a problem to report, with the
/// capture's choice in place.
pub fn grouping(meta: &ContainerMeta, config: &Config) -> (Grouper, Option<MultilineError>) {
    let label = meta.labels.get(LABEL).map(String::as_str);
    let (choice, problem) = match MultilineConfig::for_container(config.multiline.as_ref(), label) {
        Ok(choice) => (choice, None),
        Err(e) => (config.multiline.clone(), Some(e)),
    };
    (Grouper::new(choice, config.max_line_bytes), problem)
}
