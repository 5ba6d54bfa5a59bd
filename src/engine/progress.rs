//! Where a container's reading stands: written by its reader alone, read by
//! discovery's watchdog (is it renewing its stream?), by the checkpoint
//! (how far may the other streams follow an acknowledged record?) and by
//! stats and metrics.

use std::sync::atomic::{AtomicI64, AtomicU32, AtomicU8, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::Instant;

use super::kinds::ReadSource;
use crate::named::named_enum;
use crate::position::Position;

named_enum! {
    /// A container reader's lifecycle state.
    pub enum ReaderState {
        Starting = "starting",
        Following = "following",
        Backoff = "backoff",
        /// Waiting for room in the queue (the host is not polling fast
        /// enough, or this container holds its share of the queue).
        Backpressure = "backpressure",
        /// Paused: the container writes faster than
        /// `container_max_records_per_second`.
        RateLimited = "rate_limited",
        /// Reading a backlog; the due rotation waits until it has caught up.
        CatchingUp = "catching_up",
        /// A busy rotating log read by polling (non-follow reads).
        Polling = "polling",
        Drained = "drained",
        Unreadable = "unreadable",
        Excluded = "excluded",
    }
}

impl ReaderState {
    /// A reader runs (streaming, reopening, waiting).
    pub fn is_reading(self) -> bool {
        !matches!(self, ReaderState::Drained | ReaderState::Unreadable | ReaderState::Excluded)
    }

    /// Working, though its stream may not be renewed on time: waiting for
    /// the host or its rate limit, or working through a backlog.
    pub fn is_busy(self) -> bool {
        matches!(
            self,
            ReaderState::Backpressure | ReaderState::RateLimited | ReaderState::CatchingUp | ReaderState::Polling
        )
    }
}

/// One container's progress.
pub struct Progress {
    state: AtomicU8,
    /// The position as of the last delivery (or the reader's start).
    position: Mutex<Position>,
    /// The newest Docker timestamp delivered (0: none yet).
    newest_ts_ns: AtomicI64,
    /// When the current reading began (Unix ns; a watchdog restart keeps it).
    followed_since_ns: AtomicI64,
    /// When the stream was last renewed on schedule (Unix ns; 0: never).
    last_rotation_ns: AtomicI64,
    /// Lines read and held in open multiline events (not delivered yet).
    held_lines: AtomicU32,
    /// Where the log is read from (a `ReadSource`).
    source: AtomicU8,
    /// Since when the log file has been read on from its cursor at every
    /// renewal (`None`: a read started by time, or the API, since): lines
    /// a clock stepped back stamps early are then delivered.
    file_order_since: Mutex<Option<Instant>>,
}

impl Progress {
    pub fn new(position: &Position) -> Progress {
        Progress {
            state: AtomicU8::new(ReaderState::Starting as u8),
            position: Mutex::new(position.clone()),
            newest_ts_ns: AtomicI64::new(0),
            followed_since_ns: AtomicI64::new(0),
            last_rotation_ns: AtomicI64::new(0),
            held_lines: AtomicU32::new(0),
            source: AtomicU8::new(ReadSource::Api as u8),
            file_order_since: Mutex::new(None),
        }
    }

    pub fn set_state(&self, state: ReaderState) {
        self.state.store(state as u8, Relaxed);
    }

    pub fn state(&self) -> ReaderState {
        ReaderState::ALL[self.state.load(Relaxed) as usize]
    }

    pub fn set_source(&self, source: ReadSource) {
        self.source.store(source as u8, Relaxed);
    }

    /// A read resumed at the cursor at `now`: the file is read in its order
    /// from then on, if it was not already.
    pub fn file_order_held(&self, now: Instant) {
        self.file_order_since.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(now);
    }

    /// Reading started again by time, or the API took over: stamps decide
    /// what is new until a read resumes at the cursor again.
    pub fn file_order_lost(&self) {
        *self.file_order_since.lock().unwrap_or_else(|e| e.into_inner()) = None;
    }

    /// Since when the file has been read in its order throughout.
    pub fn file_order_since(&self) -> Option<Instant> {
        *self.file_order_since.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn source(&self) -> ReadSource {
        ReadSource::ALL[self.source.load(Relaxed) as usize]
    }

    /// What the reader has passed, after a delivery: a position that
    /// passes no line still held in an open multiline event.
    pub fn publish(&self, position: &Position, newest_ts_ns: i64) {
        self.position.lock().unwrap_or_else(|e| e.into_inner()).clone_from(position);
        self.newest_ts_ns.fetch_max(newest_ts_ns, Relaxed);
    }

    pub fn position(&self) -> Position {
        self.position.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub fn newest_ts_ns(&self) -> i64 {
        self.newest_ts_ns.load(Relaxed)
    }

    pub fn set_held_lines(&self, lines: u32) {
        self.held_lines.store(lines, Relaxed);
    }

    /// Lines held in open multiline events.
    pub fn held_lines(&self) -> u32 {
        self.held_lines.load(Relaxed)
    }

    /// Reading began anew at `now_ns`.
    pub fn began(&self, now_ns: i64) {
        self.followed_since_ns.store(now_ns, Relaxed);
    }

    /// The stream was renewed on schedule at `now_ns`.
    pub fn rotated(&self, now_ns: i64) {
        self.last_rotation_ns.store(now_ns, Relaxed);
    }

    pub fn last_rotation_ns(&self) -> i64 {
        self.last_rotation_ns.load(Relaxed)
    }

    /// The last renewal: the last rotation, or when reading began if it is
    /// later or none happened yet (0: not begun).
    pub fn last_renewal_ns(&self) -> i64 {
        self.last_rotation_ns.load(Relaxed).max(self.followed_since_ns.load(Relaxed))
    }
}
