//! Reading one follow stream until it rotates, idles, ends, fails, or (a
//! busy rotating log) is better polled.

use std::pin::Pin;

use tokio::time::{Instant, Sleep};

use super::busy::BusyDetector;
use super::coalesce::Coalescer;
use super::connection::{Connection, Intake};
use super::deadlines::{Deadlines, Due, CATCH_UP_LAG};
use super::error::ReadError;
use super::state::ContainerState;
use super::Reader;
use crate::docker::BodyRead;
use crate::engine::progress::ReaderState;
use crate::engine::shutdown::Cancelled;
use crate::timestamp::unix_now_ns;

/// How a follow stream ended.
pub enum FollowEnd {
    /// The rotation interval passed.
    Rotation,
    /// Nothing came within `read_timeout`.
    Idle,
    /// The window did not reach back far enough.
    Widen,
    /// A rotating log's stream is busy: poll it instead.
    Busy,
    /// The daemon ended the stream (the container stopped, or a daemon bug).
    StreamEnd,
    Error(ReadError),
}

/// A follow stream's end, and how many lines it brought.
pub struct Followed {
    pub end: FollowEnd,
    pub lines: u64,
}

impl Reader {
    /// Reads a follow stream opened as `conn` until it ends.
    pub(super) async fn follow(&mut self, state: &mut ContainerState, mut conn: Connection) -> Result<Followed, Cancelled> {
        let end = self.follow_until_end(state, &mut conn).await?;
        Ok(Followed { end, lines: conn.lines })
    }

    async fn follow_until_end(&mut self, state: &mut ContainerState, conn: &mut Connection) -> Result<FollowEnd, Cancelled> {
        let shared = self.shared.clone();
        let now = Instant::now();
        let mut deadlines = Deadlines::new(state.next_rotation, shared.config.read_timeout, now);
        let watch_busy = state.meta.log_rotates && conn.profile.poll_busy_rotating_logs;
        let mut busy = BusyDetector::new(now, state.meta.log_max_size);
        let mut coalescer = Coalescer::new(&shared.busy_readers);
        let sleep = tokio::time::sleep_until(deadlines.next());
        tokio::pin!(sleep);
        // The timeout of open multiline events: armed at the earliest one
        // (deadlines only move later, so it may fire early, never late).
        let flush = tokio::time::sleep_until(now);
        tokio::pin!(flush);
        let mut flush_armed = arm_flush(state, flush.as_mut());
        loop {
            let read = tokio::select! {
                biased;
                _ = self.shutdown.wait() => return Err(Cancelled),
                _ = &mut sleep => {
                    // A coarse stamp (Podman: whole seconds) is as late as
                    // its resolution allows.
                    let newest = state.tracked.progress.newest_ts_ns();
                    let latest_written = newest + conn.profile.stamp_resolution_ns - 1;
                    let behind = newest > 0 && unix_now_ns() - latest_written > CATCH_UP_LAG.as_nanos() as i64;
                    match deadlines.due(Instant::now(), behind) {
                        Due::Rotation => return Ok(FollowEnd::Rotation),
                        Due::Idle => return Ok(FollowEnd::Idle),
                        Due::CatchingUp => state.tracked.progress.set_state(ReaderState::CatchingUp),
                        Due::Nothing => {}
                    }
                    sleep.as_mut().reset(deadlines.next());
                    continue;
                }
                r = async {
                    coalescer.wait().await;
                    conn.read(&shared.docker).await
                } => r,
                // Polled only while no input is ready: a trace's next lines,
                // when already sent, join it first.
                _ = &mut flush, if flush_armed => {
                    state.flush_events(false);
                    self.deliver(state).await?;
                    flush_armed = arm_flush(state, flush.as_mut());
                    continue;
                }
            };
            coalescer.after_read(&read);
            let eof = match read {
                Err(e) => return Ok(FollowEnd::Error(ReadError::Docker(e))),
                Ok(read) => read == BodyRead::End,
            };
            if let Some(reason) = conn.renewal_due.take() {
                self.renewed(state, reason);
            }
            let before = conn.taken();
            match self.take_in(state, conn, eof, false).await? {
                Intake::More if eof => return Ok(FollowEnd::StreamEnd),
                Intake::More => {}
                Intake::Widen => return Ok(FollowEnd::Widen),
                Intake::Error(e) => return Ok(FollowEnd::Error(e)),
            }
            // The sleep is not reset here (a timer per read): when it fires,
            // `due` looks at the time of the last data.
            if !flush_armed {
                flush_armed = arm_flush(state, flush.as_mut());
            }
            let now = Instant::now();
            deadlines.on_data(now);
            // A reader that had to pause is behind the daemon, like a busy one.
            if watch_busy && (busy.observe(now, before, conn.taken()) || conn.paused) {
                return Ok(FollowEnd::Busy);
            }
        }
    }
}

/// Sets `flush` to the grouper's next deadline; false when no event is open.
fn arm_flush(state: &ContainerState, flush: Pin<&mut Sleep>) -> bool {
    match state.grouper.next_deadline() {
        Some(at) => {
            flush.reset(Instant::from_std(at));
            true
        }
        None => false,
    }
}
