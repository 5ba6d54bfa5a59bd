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
//!   rotating log detector, fewer wake-ups under load.

mod busy;
mod coalesce;
mod connection;
mod deadlines;
mod deliver;
mod error;
mod follow;
mod headers;
mod session;
mod state;
mod verify;
mod window;

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::OwnedSemaphorePermit;
use tokio::time::Instant;

pub use error::ReadError;
use follow::{FollowEnd, Followed};
use headers::Answer;
pub use state::ContainerState;

use super::backoff::Backoff;
use super::events::{DriverUnreadable, StreamFailed};
use super::kinds::ReopenReason;
use super::progress::ReaderState;
use super::shared::Shared;
use super::shutdown::{Cancelled, Shutdown};
use crate::config::filter::Candidate;
use crate::docker::{ContainerInspect, DockerError};
use crate::position::Position;
use crate::timestamp::unix_now_ns;

/// How many readers may be starting (inspect, first open) at once.
pub const MAX_STARTING: usize = 16;

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

impl From<Cancelled> for ReaderExit {
    fn from(_: Cancelled) -> ReaderExit {
        ReaderExit::Cancelled
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
    /// Held from the start until the first stream is open: at most
    /// `MAX_STARTING` readers inspect and open at once (start-up with
    /// thousands of containers must not open thousands of connections).
    starting: Option<OwnedSemaphorePermit>,
}

impl Reader {
    pub(in crate::engine) fn new(shared: Arc<Shared>, id: String) -> Reader {
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
        let (mut state, inspect) = match self.start(state, found_at_start).await {
            Ok(started) => started,
            Err((state, exit)) => return (self.id, state, exit),
        };
        let exit = self.read(&mut state, &inspect).await;
        state.tracked.stats.stream_closed(unix_now_ns());
        let done = if matches!(exit, ReaderExit::Unreadable(_)) { ReaderState::Unreadable } else { ReaderState::Drained };
        state.tracked.progress.set_state(done);
        (self.id, Some(state), exit)
    }

    /// Waits for a start permit, inspects the container, and makes its
    /// state if it is new (and wanted).
    async fn start(
        &mut self,
        state: Option<ContainerState>,
        found_at_start: bool,
    ) -> Result<(ContainerState, ContainerInspect), (Option<ContainerState>, ReaderExit)> {
        let permits = self.shared.starting.clone();
        match self.shutdown.run(permits.acquire_owned()).await {
            Ok(permit) => self.starting = permit.ok(),
            Err(Cancelled) => return Err((state, ReaderExit::Cancelled)),
        }
        let inspect = match self.inspect_with_retry().await {
            Ok(i) => i,
            Err(exit) => return Err((state, exit)),
        };
        let mut state = match state {
            Some(state) => state,
            None => self.new_state(&inspect, found_at_start).map_err(|exit| (None, exit))?,
        };
        if !std::mem::take(&mut state.resumed) {
            state.tracked.progress.began(unix_now_ns());
        }
        state.tracked.progress.publish(&state.position, 0);
        Ok((state, inspect))
    }

    /// A container seen for the first time: filtered on what inspect says,
    /// then read from its saved position, or where the `since` policy says.
    fn new_state(&mut self, inspect: &ContainerInspect, found_at_start: bool) -> Result<ContainerState, ReaderExit> {
        let meta = Arc::new(inspect.meta());
        let profile = self.shared.daemon.profile();
        let candidate = Candidate {
            id: meta.id_str(),
            name: meta.name_str(),
            image: Some(meta.image_str()),
            image_alias: profile.image_alias(meta.image_str()),
            labels: Some(&meta.labels),
        };
        let config = &self.shared.config;
        if !config.filters.wants(&candidate) {
            return Err(ReaderExit::Excluded(meta.name_str().to_string()));
        }
        let since = if !found_at_start && meta.created_ns >= self.shared.started_ns {
            0 // it started after the capture: read it all
        } else {
            config.initial_since_ns(self.shared.started_ns)
        };
        // A saved position wins over the `since` policy. A starting point
        // is a stamp the daemon may write coarser (Podman: whole seconds):
        // entries stamped from its second on pass, and the requests ask the
        // daemon for nothing before `since` itself (see `query`).
        let saved = self.shared.checkpoint.as_ref().and_then(|c| c.position(&self.id));
        let start_ns = if saved.is_some() { 0 } else { since };
        let position = saved.unwrap_or_else(|| Position::starting_at(profile.stamp_floor(since)));
        let tracked = self.shared.registry.track(&meta, &position, &self.shared.stats.metrics);
        self.shared
            .log
            .info("Following container.", &[("container_id", &meta.short_id()), ("container_name", &meta.name_str())]);
        let mut state = ContainerState::new(tracked, position, config, &mut self.backoff, false);
        state.start_ns = start_ns;
        Ok(state)
    }

    async fn inspect_with_retry(&mut self) -> Result<ContainerInspect, ReaderExit> {
        loop {
            let shared = self.shared.clone();
            match self.shutdown.run(shared.docker.inspect(&self.id)).await? {
                Ok(i) => return Ok(i),
                Err(e) if shared.daemon.profile().is_gone(&e) => return Err(ReaderExit::Gone),
                Err(e) => {
                    let id = crate::record::short_id(&self.id);
                    self.shared.log.debug("Inspect failed; retrying.", &[("container_id", &id), ("error", &e)]);
                    let wait = self.backoff.next_delay();
                    self.shutdown.sleep(wait).await?;
                }
            }
        }
    }

    /// Reads the container as its inspect found it: a running one is
    /// followed, a stopped one drained (unless that run was read already).
    async fn read(&mut self, state: &mut ContainerState, inspect: &ContainerInspect) -> ReaderExit {
        let started_at = &inspect.state.started_at;
        if !inspect.state.running && state.drained_run.as_ref() == Some(started_at) {
            // Stopped, and not run again since it was read to its end.
            return ReaderExit::Drained;
        }
        let exit = if inspect.state.running { self.follow_running(state).await } else { self.drain(state).await };
        if exit == ReaderExit::Drained {
            // The run that ended: the inspect after the stream's end would be
            // fresher, but a run that started since will differ either way.
            state.drained_run = Some(started_at.clone());
        }
        exit
    }

    /// Follows a running container's log, stream after stream, until the
    /// reader ends.
    async fn follow_running(&mut self, state: &mut ContainerState) -> ReaderExit {
        let mut reason = None;
        loop {
            if self.shutdown.is_set() {
                return ReaderExit::Cancelled;
            }
            match self.follow_once(state, reason).await {
                Ok(next) => reason = next,
                Err(exit) => return exit,
            }
        }
    }

    /// Opens one follow stream (counting `reason` once it is open), reads
    /// it until it ends, and says what comes next.
    async fn follow_once(&mut self, state: &mut ContainerState, reason: Option<ReopenReason>) -> Next {
        let progress = &state.tracked.progress;
        progress.set_state(ReaderState::Starting);
        let mut conn = match self.open(state, true).await? {
            Ok(conn) => conn,
            Err(e) => {
                self.back_off_after(state, &e).await?;
                return Ok(Some(ReopenReason::Error));
            }
        };
        self.starting = None;
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
                if followed.delivered > 0 {
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
            Err(e) if shared.daemon.profile().is_gone(&e) => Err(ReaderExit::Gone),
            Ok(i) if !i.state.running => Err(self.drain(state).await),
            Ok(_) => {
                // An at-once end of a running container's stream must not
                // become a request loop.
                if opened.elapsed() < Duration::from_secs(1) {
                    let wait = self.backoff.next_delay();
                    self.shutdown.sleep(wait).await?;
                }
                Ok(Some(ReopenReason::StreamEnd))
            }
            Err(e) => {
                self.note_error(state, &ReadError::Docker(e));
                let wait = self.backoff.next_delay();
                self.shutdown.sleep(wait).await?;
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
                return Err(ReaderExit::Gone);
            }
            if let (true, DockerError::Status { message, .. }) = (profile.is_unreadable(e), e) {
                DriverUnreadable { meta: &state.meta, message }.emit(&self.shared.log, &state.tracked.stats);
                return Err(ReaderExit::Unreadable(message.clone()));
            }
        }
        self.note_error(state, e);
        state.tracked.progress.set_state(ReaderState::Backoff);
        let wait = self.backoff.next_delay();
        Ok(self.shutdown.sleep(wait).await?)
    }

    fn note_error(&self, state: &ContainerState, e: &ReadError) {
        StreamFailed { meta: &state.meta, kind: e.kind(), error: e }.emit(&self.shared.log, &state.tracked.stats);
    }
}
