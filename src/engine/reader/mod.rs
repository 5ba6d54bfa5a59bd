//! One container's reader: follow its log stream with a deadline on every
//! read, rotate the stream on schedule, resume exactly after what was
//! delivered, drain the container when it stops.
//!
//! The reader owns its container's state while it runs and hands it back
//! when it ends, so a later run (a restart) resumes from the same position.
//!
//! - `follow.rs`: one follow stream; `window.rs`: bounded non-follow reads
//!   (draining, polling); both read through `connection.rs`, which checks
//!   a new window (`verify.rs`), decodes (`session.rs`) and delivers
//!   (`deliver.rs`).
//! - `deadlines.rs`, `busy.rs`, `coalesce.rs`: a stream's timers, the busy
//!   rotating log detector, fewer wake-ups under load; `rate_limit.rs`:
//!   `container_max_records_per_second`.

mod busy;
mod coalesce;
mod connection;
mod deadlines;
mod deliver;
mod error;
mod file;
mod file_read;
mod file_source;
mod follow;
mod headers;
mod rate_limit;
mod session;
mod start;
mod state;
mod verify;
mod window;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, OwnedSemaphorePermit};
use tokio::time::Instant;

pub use error::ReadError;
use connection::Connection;
use file::FileEnd;
use follow::{FollowEnd, Followed};
use headers::Answer;
use start::Started;
pub use state::{grouping, ContainerState};

use super::backoff::Backoff;
use super::events::{DriverUnreadable, StreamFailed};
use super::kinds::ReopenReason;
use super::progress::ReaderState;
use super::shared::Shared;
use super::shutdown::{Cancelled, Shutdown};
use crate::docker::{DockerError, EventActor};
use crate::timestamp::unix_now_ns;

/// How many readers may be starting (inspect, first open) at once.
pub const MAX_STARTING: usize = 16;

/// How a reader run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReaderExit {
    /// The container stopped and its log was read to the end.
    Drained,
    /// The container no longer exists; `read` says whether its log could be
    /// read first (lines delivered, or a stream read to its end); `answer`
    /// is what said so.
    Gone { read: bool, answer: String },
    /// The container's log driver cannot be read; reported once.
    Unreadable(String),
    /// The filters leave this container out (its name).
    Excluded(String),
    /// The capture is stopping.
    Cancelled,
}

impl From<Cancelled> for ReaderExit {
    fn from(_: Cancelled) -> ReaderExit {
        ReaderExit::Cancelled
    }
}

/// How discovery came to know a container.
pub enum Origin {
    /// Listed: at the capture's start (`at_start`: the `since` policy
    /// applies to it), or after a gap in the event stream.
    Listed { at_start: bool },
    /// A start event: what it told of the container, and when.
    Started { actor: EventActor, time_ns: i64 },
}

impl Origin {
    fn at_start(&self) -> bool {
        matches!(self, Origin::Listed { at_start: true })
    }
}

/// What comes after a follow stream: `Ok` reopens (counting the reason
/// given, if any, once the new stream is open); `Err` ends the reader.
type Next = Result<Option<ReopenReason>, ReaderExit>;

/// A reader of one container.
pub struct Reader {
    shared: Arc<Shared>,
    shutdown: Shutdown,
    id: String,
    backoff: Backoff,
    /// Some of this container's log was read: lines delivered, or a stream
    /// read to its end (an empty log is read too).
    read_log: bool,
    /// A start permit, held until the first attempt to open a stream (at
    /// most `MAX_STARTING` readers inspect and open at once: start-up with
    /// thousands of containers must not open thousands of connections).
    starting: Option<OwnedSemaphorePermit>,
    /// The `die` events, heard from the reader's start: a file reader
    /// that renews its file must not miss one between two runs.
    died: broadcast::Receiver<String>,
    /// When the log file last gave entries (or was last asked about):
    /// kept across renewals, or a renewal more often than `read_timeout`
    /// kept a stopped container whose `die` was missed from ever being
    /// asked about.
    file_data_at: Option<tokio::time::Instant>,
}

impl Reader {
    pub(in crate::engine) fn new(shared: Arc<Shared>, id: String) -> Reader {
        let shutdown = shared.shutdown.clone();
        let backoff = Backoff::new(shared.config.retry_backoff, shared.config.retry_backoff_max, &id);
        let died = shared.died.subscribe();
        Reader { shared, shutdown, id, backoff, read_log: false, starting: None, died, file_data_at: None }
    }

    /// Runs until the container is drained, gone, unreadable or the capture
    /// stops. `state` is the container's state from an earlier run, if any.
    pub async fn run(mut self, state: Option<ContainerState>, origin: Origin) -> (String, Option<ContainerState>, ReaderExit) {
        let started = match self.start(state, origin).await {
            Ok(started) => started,
            Err((state, exit)) => return (self.id, state, exit),
        };
        let (mut state, mut exit) = self.read(started).await;
        if matches!(exit, ReaderExit::Drained | ReaderExit::Gone { .. }) {
            // Nothing more can come: open multiline events go out as they
            // are. (When the capture stops they are not: with a position
            // file, the next capture reads their lines again, whole.)
            state.flush_events(true);
            match self.deliver(&mut state).await {
                Err(Cancelled) => exit = ReaderExit::Cancelled,
                // Held lines delivered now were read before the container went.
                Ok(d) if d.records > 0 => {
                    if let ReaderExit::Gone { read, .. } = &mut exit {
                        *read = true;
                    }
                }
                Ok(_) => {}
            }
        }
        state.tracked.stats.stream_closed(unix_now_ns());
        let done = if matches!(exit, ReaderExit::Unreadable(_)) { ReaderState::Unreadable } else { ReaderState::Drained };
        state.tracked.progress.set_state(done);
        (self.id, Some(state), exit)
    }

    /// Reads the container as its start found it: a running one is
    /// followed, a stopped one drained (unless that run was read already).
    async fn read(&mut self, started: Started) -> (ContainerState, ReaderExit) {
        let Started { mut state, running, started_at, early } = started;
        if !running && state.drained_run.as_ref() == Some(&started_at) {
            // Stopped, and not run again since it was read to its end.
            return (state, ReaderExit::Drained);
        }
        let exit = if running {
            self.follow_running(&mut state, early).await
        } else {
            self.drain_stopped(&mut state, early).await
        };
        if exit == ReaderExit::Drained {
            // The run that ended: the inspect after the stream's end would be
            // fresher, but a run that started since will differ either way.
            state.drained_run = Some(started_at);
        }
        (state, exit)
    }

    /// Reads a stopped container to its end: its file, else a window (a
    /// follow request on a stopped container sends what there is and ends).
    async fn drain_stopped(&mut self, state: &mut ContainerState, early: Option<Connection>) -> ReaderExit {
        if self.file_wanted(state, early.is_some()) {
            match self.follow_file(state, None, true).await {
                FileEnd::Exit(exit) => return exit,
                FileEnd::Rotation => {}
                FileEnd::Unreadable(e) => {
                    if let Some(exit) = self.file_refused(state, e) {
                        return exit;
                    }
                }
            }
        }
        self.drain(state, early).await
    }

    /// Follows a running container's log, from its file or stream after
    /// stream (the first may be open already), until the reader ends. The
    /// file is tried again at each renewal of the API stream.
    async fn follow_running(&mut self, state: &mut ContainerState, mut early: Option<Connection>) -> ReaderExit {
        let mut reason = None;
        loop {
            if self.shutdown.is_set() {
                return ReaderExit::Cancelled;
            }
            if self.file_wanted(state, early.is_some()) {
                match self.follow_file(state, reason.take(), false).await {
                    FileEnd::Rotation => {
                        reason = Some(ReopenReason::Rotation);
                        continue;
                    }
                    FileEnd::Exit(exit) => return exit,
                    FileEnd::Unreadable(e) => {
                        if let Some(exit) = self.file_refused(state, e) {
                            return exit;
                        }
                    }
                }
            }
            match self.follow_once(state, reason, early.take()).await {
                Ok(next) => reason = next,
                Err(exit) => return exit,
            }
        }
    }

    /// Opens one follow stream (unless `early` is one), counting `reason`
    /// once it is open, reads it until it ends, and says what comes next.
    async fn follow_once(
        &mut self,
        state: &mut ContainerState,
        reason: Option<ReopenReason>,
        early: Option<Connection>,
    ) -> Next {
        // Renewing a healthy stream is still following (on Podman a quiet
        // log's renewal takes `headers::HEADER_PATIENCE`); any other open
        // (first, after a failure) is a start, which the watchdog may
        // restart.
        let progress = &state.tracked.progress;
        if progress.state() != ReaderState::Following {
            progress.set_state(ReaderState::Starting);
        }
        let mut conn = match early {
            Some(conn) => conn,
            None => match self.open(state, true).await? {
                Ok(conn) => conn,
                Err(e) => {
                    self.back_off_after(state, &e).await?;
                    return Ok(Some(ReopenReason::Error));
                }
            },
        };
        let opened = Instant::now();
        match self.answered(state, &mut conn).await? {
            Answer::Open => self.renewed(state, reason),
            Answer::Later => conn.renewal_due = Some(reason),
            Answer::Failed(e) => {
                self.back_off_after(state, &e).await?;
                return Ok(Some(ReopenReason::Error));
            }
        }
        let followed = self.follow(state, conn).await?;
        state.tracked.stats.stream_closed(unix_now_ns());
        self.after_follow(state, followed, opened).await
    }

    /// A new follow stream is open (the daemon answered): the reading is
    /// renewed (a rotation when one was due), counting `reason`.
    fn renewed(&mut self, state: &mut ContainerState, reason: Option<ReopenReason>) {
        self.rotate_if_due(state, Instant::now());
        if let Some(r) = reason {
            state.tracked.stats.reopened(r);
        }
        state.tracked.stats.stream_opened(unix_now_ns());
        state.tracked.progress.set_state(ReaderState::Following);
    }

    async fn after_follow(&mut self, state: &mut ContainerState, followed: Followed, opened: Instant) -> Next {
        let reopen_tail = self.shared.config.reopen_tail;
        match followed.end {
            FollowEnd::Rotation | FollowEnd::Idle => {
                self.backoff.reset();
                // A window widened for a dense stretch of log is needed again
                // until new lines move the resume point past it.
                if followed.lines > 0 {
                    state.narrow(reopen_tail);
                }
                let rotation = matches!(followed.end, FollowEnd::Rotation);
                Ok(Some(if rotation { ReopenReason::Rotation } else { ReopenReason::Idle }))
            }
            FollowEnd::Widen => {
                state.widen(&self.shared.log);
                Ok(None)
            }
            FollowEnd::Busy => {
                self.poll_busy(state).await?;
                Ok(Some(ReopenReason::Poll))
            }
            FollowEnd::StreamEnd => self.after_stream_end(state, opened).await,
            FollowEnd::Error(e) => {
                self.back_off_after(state, &e).await?;
                Ok(Some(ReopenReason::Error))
            }
        }
    }

    /// The stream ends when the container stops, or early (a daemon bug):
    /// ask which.
    async fn after_stream_end(&mut self, state: &mut ContainerState, opened: Instant) -> Next {
        let shared = self.shared.clone();
        match self.shutdown.run(shared.docker.inspect(&self.id)).await? {
            Err(e) if shared.daemon.profile().is_gone(&e) => {
                Err(ReaderExit::Gone { read: self.read_log, answer: format!("its stream ended; inspect: {e}") })
            }
            Ok(i) if !i.state.running => Err(self.drain(state, None).await),
            Ok(_) => {
                // An at-once end of a running container's stream must not
                // become a request loop.
                if opened.elapsed() < Duration::from_secs(1) {
                    self.sleep_backoff().await?;
                }
                Ok(Some(ReopenReason::StreamEnd))
            }
            Err(e) => {
                self.note_error(state, &ReadError::Docker(e));
                self.sleep_backoff().await?;
                Ok(Some(ReopenReason::Error))
            }
        }
    }

    /// A stream opened at `now` renews the reading: when the rotation was
    /// due, it counts as one and the next is scheduled.
    fn rotate_if_due(&mut self, state: &mut ContainerState, now: Instant) {
        if now >= state.next_rotation {
            let cfg = &self.shared.config;
            state.tracked.stats.rotated();
            state.tracked.progress.rotated(unix_now_ns());
            state.next_rotation = now + self.backoff.jittered(cfg.rotation_interval, cfg.rotation_jitter);
        }
    }

    /// After a failed open or stream: ends the reader when the capture stops
    /// or the answer is final (the container is gone, its log driver cannot
    /// be read: see the profile); otherwise counts and logs the error and
    /// waits the next backoff step.
    async fn back_off_after(&mut self, state: &ContainerState, e: &ReadError) -> Result<(), ReaderExit> {
        if self.shutdown.is_set() {
            return Err(ReaderExit::Cancelled);
        }
        if let ReadError::Docker(e) = e {
            let profile = self.shared.daemon.profile();
            if profile.is_gone(e) {
                return Err(ReaderExit::Gone { read: self.read_log, answer: format!("logs: {e}") });
            }
            if let (true, DockerError::Status { message, .. }) = (profile.is_unreadable(e), e) {
                DriverUnreadable { meta: &state.meta, message }.emit(&self.shared.log, &state.tracked.stats);
                return Err(ReaderExit::Unreadable(message.clone()));
            }
        }
        self.note_error(state, e);
        state.tracked.progress.set_state(ReaderState::Backoff);
        Ok(self.sleep_backoff().await?)
    }

    /// Waits the next backoff step, or until discovery finds the daemon
    /// answering again after a failure.
    pub(super) async fn sleep_backoff(&mut self) -> Result<(), Cancelled> {
        let wait = self.backoff.next_delay();
        let shared = self.shared.clone();
        let back = shared.daemon_back.notified();
        self.shutdown.run(async {
            tokio::select! {
                _ = tokio::time::sleep(wait) => {}
                _ = back => {}
            }
        })
        .await
    }

    fn note_error(&self, state: &ContainerState, e: &ReadError) {
        StreamFailed { meta: &state.meta, kind: e.kind(), error: e }.emit(&self.shared.log, &state.tracked.stats);
    }
}
