//! One container's reader: follow its log stream with a deadline on every
//! read, rotate the stream on schedule, resume exactly after what was
//! delivered, drain the container when it stops.
//!
//! The reader owns its container's state while it runs and hands it back
//! when it ends, so a later run (a restart) resumes from the same position.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::sync::watch;
use tokio::time::Instant;

use crate::config::filter::Candidate;
use crate::record::ContainerMeta;
use super::stats::{ContainerStats, ReaderState, ReopenReason};
use super::{cancelled, Backoff, Shared};
use crate::timestamp::unix_now_ns;
use crate::docker::{BodyRead, ContainerInspect, DockerError, LogsQuery, Response};
use crate::frame::{decode_multiplexed, decode_raw, Decoded, FrameError, Stream};
use crate::chain::{ChainOptions, Line, LineChain};
use crate::position::Position;
use crate::queue::Record;

/// The widest bounded `tail` asked for before falling back to `tail=all`.
const MAX_BOUNDED_TAIL: u64 = 1 << 21;
/// A reopen widens its `tail` by this factor when the window was too short.
const TAIL_WIDEN_FACTOR: u64 = 8;
/// A stream whose newest line is older than this is working through a
/// backlog; its rotation waits until it has caught up.
const CATCH_UP_LAG: Duration = Duration::from_secs(2);
/// How often a deferred rotation looks again.
const CATCH_UP_CHECK: Duration = Duration::from_secs(1);
/// A rotating log (json-file with `max-size`, `local`) is not followed
/// while it is busy: the 20.10 daemon's follower jumps from the end of its
/// file to the current one at a rotation, silently skipping any file
/// rotated in between (it falls behind a busy writer, and races even when
/// it keeps up). A follow stream of such a log that delivers this many lines
/// within `BUSY_CHECK` switches to polling: bounded non-follow reads from
/// the position, each a consistent snapshot of the log files (nothing inside
/// one is skipped; a part the daemon deleted between two is found by the
/// continuity check and reported as a gap).
const BUSY_LINES: u64 = 200;
const BUSY_CHECK: Duration = Duration::from_millis(50);
/// Lines per second that make a rotating log busy.
fn busy_rate() -> f64 {
    BUSY_LINES as f64 / BUSY_CHECK.as_secs_f64()
}
/// Polling waits this long between reads, and goes back to following once
/// the lines it brings come slower than half the busy rate.
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// Reads of one polling spell at most, before following again.
const MAX_POLL_READS: usize = 100_000;
/// Reads of a busy stream between these sizes are followed by a short
/// wait, so the next read takes more at once (fewer wake-ups and syscalls);
/// small reads (a quiet stream) and full ones are not.
const COALESCE_MIN: usize = 1024;
const COALESCE_MAX: usize = 32 * 1024;
const COALESCE_WAIT: Duration = Duration::from_millis(1);
/// How many readers may be starting (inspect, first open) at once.
pub const MAX_STARTING: usize = 16;
/// Initial capacity of the decode buffer (it grows with the stream).
const BUFFER_BYTES: usize = 4 * 1024;

/// A container's reading state, kept across reader runs.
pub struct ContainerState {
    pub meta: Arc<ContainerMeta>,
    pub position: Position,
    pub stats: Arc<ContainerStats>,
    /// The `tail` the next reopen asks for.
    pub tail: u64,
    /// When the stream is next rotated.
    pub next_rotation: Instant,
    /// A watchdog restart of a running container: its reading did not
    /// begin anew, so "followed since" (the last-rotation fallback) stays.
    pub resumed: bool,
    /// `State.StartedAt` of the run last read to its end: a stopped
    /// container looked at again is read only if it ran since.
    pub drained_run: Option<String>,
}

/// How a reader run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderExit {
    /// The container stopped and its log was read to the end.
    Drained,
    /// The container no longer exists.
    Gone,
    /// The container's log driver cannot be read; reported once.
    Unreadable(String),
    /// The filters leave this container out (its name).
    Excluded(String),
    /// The capture is stopping.
    Cancelled,
}

/// How one follow stream ended.
enum FollowEnd {
    Rotation,
    Idle,
    Widen,
    /// A rotating log's follow stream is busy (`BUSY_LINES`): poll it.
    Busy,
    StreamEnd,
    Error(ReadError),
    Cancelled,
}

/// A failure while reading a stream.
#[derive(Debug)]
enum ReadError {
    Docker(DockerError),
    Frame(FrameError),
    /// A type-3 frame: the daemon's own error, in band.
    Daemon(String),
    Timeout,
}

impl ReadError {
    fn kind(&self) -> &'static str {
        match self {
            ReadError::Docker(e) => e.kind(),
            ReadError::Frame(_) => "protocol",
            ReadError::Daemon(_) => "daemon_error",
            ReadError::Timeout => "read_timeout",
        }
    }
}

impl std::fmt::Display for ReadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ReadError::Docker(e) => e.fmt(f),
            ReadError::Frame(e) => write!(f, "malformed log stream: {e}"),
            ReadError::Daemon(m) => write!(f, "daemon error in the log stream: {m}"),
            ReadError::Timeout => f.write_str("no data within read_timeout"),
        }
    }
}

/// A reader of one container.
pub struct Reader {
    shared: Arc<Shared>,
    shutdown: watch::Receiver<bool>,
    id: String,
    backoff: Backoff,
    /// Held from the start until the first stream is open: at most
    /// `MAX_STARTING` readers inspect and open at once (start-up with
    /// thousands of containers must not open thousands of connections).
    starting: Option<tokio::sync::OwnedSemaphorePermit>,
}

impl Reader {
    pub fn new(shared: Arc<Shared>, id: String) -> Reader {
        let shutdown = shared.shutdown.clone();
        let backoff = Backoff::new(shared.config.retry_backoff, shared.config.retry_backoff_max, &id);
        Reader { shared, shutdown, id, backoff, starting: None }
    }

    /// Runs until the container is drained, gone, unreadable or the capture
    /// stops. `state` is the container's state from an earlier run, if any;
    /// `found_at_start` says the container was running when the capture
    /// started (the `since` policy applies to it).
    pub async fn run(
        mut self,
        state: Option<ContainerState>,
        found_at_start: bool,
    ) -> (String, Option<ContainerState>, ReaderExit) {
        let permits = self.shared.starting.clone();
        self.starting = tokio::select! {
            biased;
            _ = cancelled(&mut self.shutdown) => return (self.id, state, ReaderExit::Cancelled),
            p = permits.acquire_owned() => p.ok(),
        };
        let inspect = match self.inspect_with_retry().await {
            Ok(i) => i,
            Err(exit) => return (self.id, state, exit),
        };
        let mut state = match state {
            Some(state) => state,
            None => {
                let meta = Arc::new(inspect.meta());
                let candidate = Candidate {
                    id: meta.id_str(),
                    name: meta.name_str(),
                    image: Some(meta.image_str()),
                    labels: Some(&meta.labels),
                };
                if !self.shared.config.filters.wants(&candidate) {
                    return (self.id, None, ReaderExit::Excluded(meta.name_str().to_string()));
                }
                let config = &self.shared.config;
                let since = if !found_at_start && meta.created_ns >= self.shared.started_ns {
                    0 // it started after the capture: read it all
                } else {
                    config.initial_since_ns(self.shared.started_ns)
                };
                let stats = self.shared.stats.container(&meta);
                // A saved position wins over the `since` policy.
                let saved = self.shared.checkpoint.as_ref().and_then(|c| c.position(&self.id));
                self.shared.log.info(
                    "Following container.",
                    &[("container_id", &meta.short_id()), ("container_name", &meta.name_str())],
                );
                ContainerState {
                    meta,
                    position: saved.unwrap_or_else(|| Position::starting_at(since)),
                    stats,
                    tail: config.reopen_tail,
                    next_rotation: Instant::now()
                        + self.backoff.jittered(config.rotation_interval, config.rotation_jitter),
                    resumed: false,
                    drained_run: None,
                }
            }
        };
        if !std::mem::take(&mut state.resumed) {
            state.stats.followed_since_ns.store(unix_now_ns(), Relaxed);
        }
        state.stats.set_position(&state.position);
        let running = inspect.state.running;
        if !running && state.drained_run.as_deref() == Some(inspect.state.started_at.as_str()) {
            // Stopped, and not run again since it was read to its end.
            state.stats.set_state(ReaderState::Drained);
            return (self.id, Some(state), ReaderExit::Drained);
        }
        let exit = self.read(&mut state, running).await;
        if exit == ReaderExit::Drained {
            // The run that ended: the inspect after the stream's end would be
            // fresher, but a run that started since will differ either way.
            state.drained_run = Some(inspect.state.started_at.clone());
        }
        state.stats.stream_closed(unix_now_ns());
        state.stats.set_state(match exit {
            ReaderExit::Unreadable(_) => ReaderState::Unreadable,
            _ => ReaderState::Drained,
        });
        (self.id, Some(state), exit)
    }

    async fn inspect_with_retry(&mut self) -> Result<ContainerInspect, ReaderExit> {
        loop {
            let shared = self.shared.clone();
            let result = tokio::select! {
                biased;
                _ = cancelled(&mut self.shutdown) => return Err(ReaderExit::Cancelled),
                r = shared.docker.inspect(&self.id) => r,
            };
            match result {
                Ok(i) => return Ok(i),
                Err(DockerError::Status { code: 404, .. }) => return Err(ReaderExit::Gone),
                Err(e) => {
                    self.shared
                        .log
                        .debug("Inspect failed; retrying.", &[("container_id", &short(&self.id)), ("error", &e)]);
                    if self.sleep_backoff().await {
                        return Err(ReaderExit::Cancelled);
                    }
                }
            }
        }
    }

    /// Sleeps the next backoff step; true when the capture is stopping.
    async fn sleep_backoff(&mut self) -> bool {
        let wait = self.backoff.next_delay();
        tokio::select! {
            biased;
            _ = cancelled(&mut self.shutdown) => true,
            _ = tokio::time::sleep(wait) => false,
        }
    }

    fn streams(&self, meta: &ContainerMeta) -> Vec<Stream> {
        if meta.tty {
            vec![Stream::Console]
        } else {
            let s = self.shared.config.streams;
            let mut v = Vec::with_capacity(2);
            if s.stdout {
                v.push(Stream::Stdout);
            }
            if s.stderr {
                v.push(Stream::Stderr);
            }
            v
        }
    }

    fn query(&self, state: &ContainerState, follow: bool) -> LogsQuery {
        let s = self.shared.config.streams;
        let streams = self.streams(&state.meta);
        let since_ns = state.position.resume_since_ns(&streams);
        let tail = if since_ns == 0 || state.tail > MAX_BOUNDED_TAIL { None } else { Some(state.tail) };
        LogsQuery {
            follow,
            // A TTY stream is all "stdout" to the daemon.
            stdout: s.stdout || state.meta.tty,
            stderr: s.stderr && !state.meta.tty,
            since_ns,
            tail,
        }
    }

    async fn open(&mut self, state: &ContainerState, query: &LogsQuery) -> Result<Response, ReadError> {
        state.stats.requests.fetch_add(1, Relaxed);
        let shared = self.shared.clone();
        tokio::select! {
            biased;
            _ = cancelled(&mut self.shutdown) => Err(ReadError::Docker(DockerError::Protocol("cancelled".into()))),
            r = shared.docker.logs(&self.id, query) => r.map_err(ReadError::Docker),
        }
    }

    async fn read(&mut self, state: &mut ContainerState, running: bool) -> ReaderExit {
        if !running {
            return self.drain(state).await;
        }
        let mut reason: Option<ReopenReason> = None;
        loop {
            if *self.shutdown.borrow() {
                return ReaderExit::Cancelled;
            }
            state.stats.set_state(ReaderState::Starting);
            let query = self.query(state, true);
            let response = match self.open(state, &query).await {
                Ok(r) => {
                    self.starting = None;
                    r
                }
                Err(e) => {
                    if let Some(exit) = self.back_off_after(state, &e).await {
                        return exit;
                    }
                    reason = Some(ReopenReason::Error);
                    continue;
                }
            };
            let opened = Instant::now();
            self.rotate_if_due(state, opened);
            if let Some(r) = reason {
                state.stats.reopened(r);
            }
            state.stats.stream_opened_ns.store(unix_now_ns(), Relaxed);
            state.stats.set_state(ReaderState::Following);

            let delivered_before = state.stats.records.load(Relaxed);
            let end = self.follow(state, response, &query).await;
            // A window widened for a dense stretch of log is needed again
            // until new lines move the resume point past it.
            let moved_on = state.stats.records.load(Relaxed) > delivered_before;
            state.stats.stream_closed(unix_now_ns());
            reason = match end {
                FollowEnd::Cancelled => return ReaderExit::Cancelled,
                FollowEnd::Rotation => {
                    self.backoff.reset();
                    if moved_on {
                        narrow(state, self.shared.config.reopen_tail);
                    }
                    Some(ReopenReason::Rotation)
                }
                FollowEnd::Idle => {
                    self.backoff.reset();
                    if moved_on {
                        narrow(state, self.shared.config.reopen_tail);
                    }
                    Some(ReopenReason::Idle)
                }
                FollowEnd::Widen => {
                    state.tail = state.tail.saturating_mul(TAIL_WIDEN_FACTOR);
                    self.shared.log.debug(
                        "Reopened window too short; widening it.",
                        &[("container_id", &state.meta.short_id()), ("tail", &state.tail)],
                    );
                    Some(ReopenReason::Widen)
                }
                FollowEnd::Busy => {
                    if let Some(exit) = self.poll_busy(state).await {
                        return exit;
                    }
                    Some(ReopenReason::Poll)
                }
                FollowEnd::StreamEnd => {
                    // The stream ends when the container stops, or early (a
                    // daemon bug): ask which.
                    let inspect = tokio::select! {
                        biased;
                        _ = cancelled(&mut self.shutdown) => return ReaderExit::Cancelled,
                        r = self.shared.docker.inspect(&self.id) => r,
                    };
                    match inspect {
                        Err(DockerError::Status { code: 404, .. }) => return ReaderExit::Gone,
                        Ok(i) if !i.state.running => return self.drain(state).await,
                        Ok(_) => {
                            if opened.elapsed() < Duration::from_secs(1) && self.sleep_backoff().await {
                                // An at-once end of a running container's
                                // stream must not become a request loop.
                                return ReaderExit::Cancelled;
                            }
                            Some(ReopenReason::StreamEnd)
                        }
                        Err(e) => {
                            self.note_error(state, &ReadError::Docker(e));
                            if self.sleep_backoff().await {
                                return ReaderExit::Cancelled;
                            }
                            Some(ReopenReason::Error)
                        }
                    }
                }
                FollowEnd::Error(e) => {
                    if let Some(exit) = self.back_off_after(state, &e).await {
                        return exit;
                    }
                    Some(ReopenReason::Error)
                }
            };
        }
    }

    /// A stream opened at `now` renews the reading: when the rotation was
    /// due, it counts as one and the next is scheduled.
    fn rotate_if_due(&mut self, state: &mut ContainerState, now: Instant) {
        if now >= state.next_rotation {
            let cfg = &self.shared.config;
            state.stats.rotated(unix_now_ns());
            state.next_rotation = now + self.backoff.jittered(cfg.rotation_interval, cfg.rotation_jitter);
        }
    }

    /// 404 and 501 end the reader; they are not retried.
    fn terminal(&self, state: &ContainerState, e: &ReadError) -> Option<ReaderExit> {
        match e {
            ReadError::Docker(DockerError::Status { code: 404, .. }) => Some(ReaderExit::Gone),
            ReadError::Docker(DockerError::Status { code: 501, message }) => {
                state.stats.error("unreadable_driver", message.clone());
                self.shared.log.warn(
                    "Container's log driver cannot be read; it will not be retried.",
                    &[
                        ("container_id", &state.meta.short_id()),
                        ("container_name", &state.meta.name_str()),
                        ("log_driver", &state.meta.log_driver),
                        ("error", message),
                    ],
                );
                Some(ReaderExit::Unreadable(message.clone()))
            }
            _ => None,
        }
    }

    /// After a failed open or stream: ends the reader when the capture stops
    /// or the status is final (404, 501); otherwise counts and logs the error
    /// and waits the next backoff step. `Some` when the reader should end.
    async fn back_off_after(&mut self, state: &ContainerState, e: &ReadError) -> Option<ReaderExit> {
        if *self.shutdown.borrow() {
            return Some(ReaderExit::Cancelled);
        }
        if let Some(exit) = self.terminal(state, e) {
            return Some(exit);
        }
        self.note_error(state, e);
        state.stats.set_state(ReaderState::Backoff);
        if self.sleep_backoff().await {
            return Some(ReaderExit::Cancelled);
        }
        None
    }

    fn note_error(&self, state: &ContainerState, e: &ReadError) {
        state.stats.error(e.kind(), e.to_string());
        self.shared.log.warn(
            "Log stream failed; reopening after a backoff.",
            &[("container_id", &state.meta.short_id()), ("error_type", &e.kind()), ("error", e)],
        );
    }

    /// The log no longer holds entries this reader had passed: the daemon
    /// deleted them (a rotated log file) with whatever followed them that
    /// was not read yet. Counted, logged and kept in stats.
    fn report_gap(&self, state: &ContainerState, after_ns: i64, before_ns: Option<i64>) {
        let before_ns = before_ns.unwrap_or_else(unix_now_ns).max(after_ns);
        state.stats.gap(after_ns, before_ns);
        self.shared.log.warn(
            "Log rotated away before it was read: lines in between may be lost.",
            &[
                ("container_id", &state.meta.short_id()),
                ("container_name", &state.meta.name_str()),
                ("after", &crate::timestamp::format_rfc3339(after_ns)),
                ("before", &crate::timestamp::format_rfc3339(before_ns)),
            ],
        );
    }

    /// Reads one stream until it rotates, idles, ends or fails. A follow
    /// stream rotates and idles; a non-follow read has no rotation and its
    /// silence is an error.
    async fn follow(&mut self, state: &mut ContainerState, response: Response, query: &LogsQuery) -> FollowEnd {
        let mut body = response.body;
        let config = self.shared.config.clone();
        let streams = self.streams(&state.meta);
        let mut buf = BytesMut::with_capacity(BUFFER_BYTES);
        let mut session = Session::new(&config, state.meta.tty);
        // A window must be shown to reach back far enough before it is read:
        // by its first entry, or by holding every entry stamped at or after
        // `since` (asked with `tail=all`, or counted); in the latter case the
        // entries this position passed must still be in it.
        let mut verified = false;
        let read_timeout = config.read_timeout;
        let mut last_data = Instant::now();
        let mut coalesce: Option<Instant> = None;
        let shared = self.shared.clone();
        let busy_readers = &shared.busy_readers;
        let mut busy = Busy { readers: busy_readers, counted: false };
        let far = last_data + Duration::from_secs(86_400 * 365);
        let mut rotation_at = if query.follow { state.next_rotation } else { far };
        let watch_busy = query.follow && state.meta.log_rotates;
        let mut next_busy_check = last_data + BUSY_CHECK;
        let mut records_at_check = state.stats.records.load(Relaxed);
        let sleep = tokio::time::sleep_until(rotation_at.min(last_data + read_timeout));
        tokio::pin!(sleep);
        loop {
            let read = tokio::select! {
                biased;
                _ = cancelled(&mut self.shutdown) => return FollowEnd::Cancelled,
                _ = &mut sleep => {
                    let now = Instant::now();
                    if now >= rotation_at {
                        // A stream working through a backlog is plainly
                        // alive, and reopening it would replay part of that
                        // backlog: rotate once it has caught up.
                        let newest = state.stats.last_ts_ns.load(Relaxed);
                        let behind = newest > 0 && unix_now_ns() - newest > CATCH_UP_LAG.as_nanos() as i64;
                        if behind && now.duration_since(last_data) < CATCH_UP_CHECK {
                            state.stats.set_state(ReaderState::CatchingUp);
                            rotation_at = now + CATCH_UP_CHECK;
                            sleep.as_mut().reset(rotation_at.min(last_data + read_timeout));
                            continue;
                        }
                        return FollowEnd::Rotation;
                    }
                    if now >= last_data + read_timeout {
                        return if query.follow { FollowEnd::Idle } else { FollowEnd::Error(ReadError::Timeout) };
                    }
                    sleep.as_mut().reset(rotation_at.min(last_data + read_timeout));
                    continue;
                }
                r = async {
                    if let Some(at) = coalesce {
                        tokio::time::sleep_until(at).await;
                    }
                    body.read(&mut buf).await
                } => r,
            };
            let records_before_read = state.stats.records.load(Relaxed);
            let eof = match read {
                Err(e) => return FollowEnd::Error(ReadError::Docker(e)),
                Ok(BodyRead::End) => true,
                Ok(BodyRead::Data(_)) => false,
            };
            // A busy stream that gave a part-full read, while other streams
            // are busy too: let more arrive before the next read (one wake-up
            // per tens of KB, not per chunk). Alone, a wait would stall the
            // daemon (a unix socket holds only a few hundred small writes).
            let part_full = matches!(read, Ok(BodyRead::Data(n)) if (COALESCE_MIN..COALESCE_MAX).contains(&n));
            busy.set(part_full);
            coalesce = (part_full && busy.others()).then(|| Instant::now() + COALESCE_WAIT);
            if !verified {
                let first = match session.peek_first(&buf, eof) {
                    Err(e) => return FollowEnd::Error(ReadError::Frame(e)),
                    Ok(None) if !eof => {
                        last_data = Instant::now();
                        continue;
                    }
                    Ok(first) => first,
                };
                verified = true;
                if !first.is_some_and(|f| state.position.proves_continuity(&streams, f)) {
                    let whole = match (query.tail, first) {
                        // Nothing at or after `since` in the window, or it was
                        // not bounded: it holds all there is.
                        (None, _) | (_, None) => true,
                        // The daemon took its tail snapshot before sending the
                        // first entry; a count of the same window now covers
                        // it. Fewer entries than asked means it reached back
                        // before `since`.
                        (Some(tail), Some(_)) => {
                            let probe = LogsQuery { follow: false, ..*query };
                            match self.count_entries(state, &probe).await {
                                Err(None) => return FollowEnd::Cancelled,
                                Err(Some(e)) => return FollowEnd::Error(e),
                                Ok(n) => n < tail,
                            }
                        }
                    };
                    if !whole {
                        return FollowEnd::Widen;
                    }
                    if let Some(after) = state.position.passed_entry_gone(&streams, first) {
                        self.report_gap(state, after, first.map(|f| f.1));
                    }
                }
            }
            match session.decode(state, &mut buf, eof) {
                Ok(()) => {}
                Err(e) => {
                    // Deliver what came before the error, then fail.
                    if self.deliver(state, &mut session.lines).await.is_err() {
                        return FollowEnd::Cancelled;
                    }
                    return FollowEnd::Error(e);
                }
            }
            if eof && !query.follow {
                // The container has stopped: a line still waiting for its
                // end will not get one.
                session.chain.finish(&mut state.position, &mut session.lines);
            }
            if self.deliver(state, &mut session.lines).await.is_err() {
                return FollowEnd::Cancelled;
            }
            if eof {
                return FollowEnd::StreamEnd;
            }
            last_data = Instant::now();
            if watch_busy {
                if last_data >= next_busy_check {
                    // A new window, counting from this read's lines.
                    next_busy_check = last_data + BUSY_CHECK;
                    records_at_check = records_before_read;
                }
                if state.stats.records.load(Relaxed) - records_at_check >= BUSY_LINES {
                    return FollowEnd::Busy;
                }
            }
        }
    }

    /// Polls a busy rotating log (see `BUSY_LINES`): bounded non-follow reads
    /// from the position, `POLL_INTERVAL` apart, each window sized from the
    /// last read's lines (widened when it does not reach back), until lines
    /// come at less than half the busy rate. `Some` when the reader should end.
    async fn poll_busy(&mut self, state: &mut ContainerState) -> Option<ReaderExit> {
        let reopen_tail = self.shared.config.reopen_tail;
        let mut last_read = Instant::now();
        for _ in 0..MAX_POLL_READS {
            state.stats.set_state(ReaderState::Polling);
            state.stats.reopened(ReopenReason::Poll);
            // Each read is a new stream: the rotation schedule holds.
            self.rotate_if_due(state, Instant::now());
            let query = self.query(state, false);
            let delivered_before = state.stats.records.load(Relaxed);
            let end = match self.open(state, &query).await {
                Ok(response) => self.follow(state, response, &query).await,
                Err(e) => FollowEnd::Error(e),
            };
            match end {
                FollowEnd::Cancelled => return Some(ReaderExit::Cancelled),
                FollowEnd::Widen => {
                    state.tail = state.tail.saturating_mul(TAIL_WIDEN_FACTOR);
                    state.stats.reopened(ReopenReason::Widen);
                    continue;
                }
                FollowEnd::StreamEnd => {
                    let new = state.stats.records.load(Relaxed) - delivered_before;
                    let slow = (new as f64) < last_read.elapsed().as_secs_f64() * busy_rate() / 2.0;
                    last_read = Instant::now();
                    if slow {
                        narrow(state, reopen_tail);
                        return None;
                    }
                    // The next window: four times what this one brought.
                    state.tail = (new * 4).clamp(reopen_tail, MAX_BOUNDED_TAIL);
                }
                FollowEnd::Error(e) => return self.back_off_after(state, &e).await,
                // A non-follow read neither rotates, idles nor polls.
                FollowEnd::Rotation | FollowEnd::Idle | FollowEnd::Busy => return None,
            }
            tokio::select! {
                biased;
                _ = cancelled(&mut self.shutdown) => return Some(ReaderExit::Cancelled),
                _ = tokio::time::sleep(POLL_INTERVAL) => {}
            }
        }
        None
    }

    /// Reads a stopped container's log to its end: a non-follow read from
    /// the position, widened until its window reaches back far enough.
    async fn drain(&mut self, state: &mut ContainerState) -> ReaderExit {
        loop {
            let query = self.query(state, false);
            let end = match self.open(state, &query).await {
                Ok(response) => self.follow(state, response, &query).await,
                Err(e) => FollowEnd::Error(e),
            };
            match end {
                FollowEnd::Cancelled => return ReaderExit::Cancelled,
                FollowEnd::StreamEnd => {
                    self.shared.log.info(
                        "Container stopped; its log was read to the end.",
                        &[("container_id", &state.meta.short_id()), ("container_name", &state.meta.name_str())],
                    );
                    return ReaderExit::Drained;
                }
                FollowEnd::Widen => {
                    state.tail = state.tail.saturating_mul(TAIL_WIDEN_FACTOR);
                    state.stats.reopened(ReopenReason::Widen);
                }
                FollowEnd::Error(e) => {
                    if let Some(exit) = self.back_off_after(state, &e).await {
                        return exit;
                    }
                }
                // A non-follow read neither rotates, idles nor falls behind.
                FollowEnd::Rotation | FollowEnd::Idle | FollowEnd::Busy => unreachable!("non-follow read rotated"),
            }
        }
    }

    /// Reads a non-follow response to its end and counts its entries,
    /// delivering nothing. `Err(None)` is cancellation.
    async fn count_entries(&mut self, state: &ContainerState, query: &LogsQuery) -> Result<u64, Option<ReadError>> {
        debug_assert!(!query.follow);
        let response =
            self.open(state, query).await.map_err(|e| if *self.shutdown.borrow() { None } else { Some(e) })?;
        let mut body = response.body;
        let mut buf = BytesMut::with_capacity(BUFFER_BYTES);
        let mut count = 0u64;
        let read_timeout = self.shared.config.read_timeout;
        loop {
            let read = tokio::select! {
                biased;
                _ = cancelled(&mut self.shutdown) => return Err(None),
                r = tokio::time::timeout(read_timeout, body.read(&mut buf)) => r,
            };
            let eof = match read {
                Err(_) => return Err(Some(ReadError::Timeout)),
                Ok(Err(e)) => return Err(Some(ReadError::Docker(e))),
                Ok(Ok(BodyRead::End)) => true,
                Ok(Ok(BodyRead::Data(_))) => false,
            };
            loop {
                let next = if state.meta.tty { decode_raw(&mut buf, eof) } else { decode_multiplexed(&mut buf) };
                match next.map_err(|e| Some(ReadError::Frame(e)))? {
                    None => break,
                    Some(Decoded::Entry(_)) => count += 1,
                    Some(Decoded::DaemonError(m)) => return Err(Some(ReadError::Daemon(m))),
                }
            }
            if eof {
                return Ok(count);
            }
        }
    }

    /// Hands lines to the queue (waiting for room), then counts them.
    async fn deliver(&mut self, state: &mut ContainerState, lines: &mut Vec<Line>) -> Result<(), ()> {
        if lines.is_empty() {
            return Ok(());
        }
        let meta = &state.meta;
        let mut bytes = 0u64;
        let mut newest = 0i64;
        let mut records: VecDeque<Record> = lines
            .drain(..)
            .map(|line| {
                bytes += line.message.len() as u64;
                newest = newest.max(line.ts_ns);
                Record {
                    container: meta.clone(),
                    stream: line.stream,
                    ts_ns: line.ts_ns,
                    count: line.count,
                    flags: line.flags,
                    message: line.message,
                }
            })
            .collect();
        let n = records.len() as u64;
        let stats = &state.stats;
        let mut before = None;
        self.shared
            .queue
            .push_all(&mut records, &mut self.shutdown, |waiting| {
                if waiting {
                    before = Some(stats.state());
                    stats.set_state(ReaderState::Backpressure);
                } else if let Some(s) = before {
                    stats.set_state(s);
                }
            })
            .await
            .map_err(|_| ())?;
        state.stats.delivered(n, bytes, newest);
        state.stats.set_position(&state.position);
        self.shared.stats.records.fetch_add(n, Relaxed);
        self.shared.stats.bytes.fetch_add(bytes, Relaxed);
        Ok(())
    }
}

/// Counts this reader among the busy ones while its reads come part-full.
struct Busy<'a> {
    readers: &'a std::sync::atomic::AtomicUsize,
    counted: bool,
}

impl Busy<'_> {
    fn set(&mut self, busy: bool) {
        if busy != self.counted {
            if busy {
                self.readers.fetch_add(1, Relaxed);
            } else {
                self.readers.fetch_sub(1, Relaxed);
            }
            self.counted = busy;
        }
    }

    /// Whether another reader is busy as well.
    fn others(&self) -> bool {
        self.readers.load(Relaxed) > usize::from(self.counted)
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.set(false);
    }
}

/// Decoding state of one connection.
struct Session {
    tty: bool,
    chain: LineChain,
    lines: Vec<Line>,
}

impl Session {
    fn new(config: &crate::config::Config, tty: bool) -> Session {
        let options = ChainOptions {
            merge: config.auto_partial_merge,
            max_line_bytes: config.max_line_bytes,
            pieces: Default::default(),
            resends_last_line: true,
        };
        Session { tty, chain: LineChain::new(options), lines: Vec::new() }
    }

    #[inline]
    fn next(&self, buf: &mut BytesMut, eof: bool) -> Result<Option<Decoded>, FrameError> {
        if self.tty {
            decode_raw(buf, eof)
        } else {
            decode_multiplexed(buf)
        }
    }

    /// The stream and timestamp of the first entry in `buf`, without
    /// consuming it.
    fn peek_first(&self, buf: &BytesMut, eof: bool) -> Result<Option<(Stream, i64)>, FrameError> {
        let mut copy = buf.clone();
        loop {
            match self.next(&mut copy, eof)? {
                None => return Ok(None),
                Some(Decoded::Entry(e)) => return Ok(Some((e.stream, e.ts_ns))),
                Some(Decoded::DaemonError(_)) => continue,
            }
        }
    }

    /// Decodes every complete entry into lines, advancing the position. A
    /// daemon error frame ends decoding with an error.
    fn decode(&mut self, state: &mut ContainerState, buf: &mut BytesMut, eof: bool) -> Result<(), ReadError> {
        let position = &mut state.position;
        while let Some(decoded) = self.next(buf, eof).map_err(ReadError::Frame)? {
            match decoded {
                Decoded::DaemonError(message) => return Err(ReadError::Daemon(message)),
                Decoded::Entry(entry) => self.chain.push(position, entry, &mut self.lines),
            }
        }
        if eof && !buf.is_empty() {
            return Err(ReadError::Frame(FrameError(format!(
                "stream ended inside a frame ({} bytes left)",
                buf.len()
            ))));
        }
        Ok(())
    }
}

/// After a healthy stream, a widened reopen window goes back to
/// `reopen_tail` (a burst that needed it is over; a container that keeps
/// needing it widens again, one request more).
fn narrow(state: &mut ContainerState, reopen_tail: u64) {
    state.tail = reopen_tail;
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}
