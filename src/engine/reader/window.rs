//! Bounded non-follow reads ("windows"): draining a stopped container, and
//! polling a busy rotating log. A window ends when the daemon has sent all
//! it holds; a silent window is an error, not an idle stream.

use std::time::Duration;

use tokio::time::Instant;

use super::busy::{SlowJudge, Taken};
use super::coalesce::Coalescer;
use super::connection::{Connection, Intake};
use super::error::ReadError;
use super::state::{ContainerState, MAX_BOUNDED_TAIL};
use super::{Reader, ReaderExit};
use crate::docker::BodyRead;
use crate::engine::kinds::ReopenReason;
use crate::engine::progress::ReaderState;
use crate::engine::shutdown::Cancelled;

/// Polling waits this long between reads, and goes back to following once
/// the lines it brings come slower than half the busy rate.
const POLL_INTERVAL: Duration = Duration::from_millis(25);
/// Reads of one polling spell at most, before following again.
const MAX_POLL_READS: usize = 100_000;

/// How a window ended.
pub enum WindowEnd {
    /// Read to its end.
    Complete,
    /// It did not reach back far enough.
    Widen,
    Error(ReadError),
}

impl Reader {
    /// Opens a non-follow window from the position and reads it to its end.
    /// With `finish`, a line still waiting for its end at the end of the
    /// window goes out as it is. Returns how it ended, what it brought,
    /// and whether delivering it had to pause.
    async fn read_window(
        &mut self,
        state: &mut ContainerState,
        finish: bool,
    ) -> Result<(WindowEnd, Taken, bool), Cancelled> {
        let mut conn = match self.open(state, false).await? {
            Ok(conn) => conn,
            Err(e) => return Ok((WindowEnd::Error(e), Taken::default(), false)),
        };
        let end = self.read_to_end(state, &mut conn, finish).await?;
        Ok((end, conn.taken(), conn.paused))
    }

    async fn read_to_end(
        &mut self,
        state: &mut ContainerState,
        conn: &mut Connection,
        finish: bool,
    ) -> Result<WindowEnd, Cancelled> {
        let shared = self.shared.clone();
        let read_timeout = shared.config.read_timeout;
        let mut coalescer = Coalescer::new(&shared.busy_readers);
        loop {
            let read = self
                .shutdown
                .run(tokio::time::timeout(read_timeout, async {
                    coalescer.wait().await;
                    conn.read(&shared.docker).await
                }))
                .await?;
            let Ok(read) = read else {
                return Ok(WindowEnd::Error(ReadError::Timeout));
            };
            coalescer.after_read(&read);
            let eof = match read {
                Err(e) => return Ok(WindowEnd::Error(ReadError::Docker(e))),
                Ok(read) => read == BodyRead::End,
            };
            match self.take_in(state, conn, eof, finish).await? {
                Intake::More if eof => return Ok(WindowEnd::Complete),
                Intake::More => {}
                Intake::Widen => return Ok(WindowEnd::Widen),
                Intake::Error(e) => return Ok(WindowEnd::Error(e)),
            }
        }
    }

    /// Reads a stopped container's log to its end: a window from the
    /// position (the first may be open already), widened until it reaches
    /// back far enough.
    pub(super) async fn drain(&mut self, state: &mut ContainerState, mut early: Option<Connection>) -> ReaderExit {
        // Working through what is left: not a stream to renew (a follow
        // stream that Podman ends with the container can leave much).
        state.tracked.progress.set_state(ReaderState::CatchingUp);
        // A follow stream's end does not prove the log's: 20.10's follower
        // can stop while later lines are still on disk (its watcher closes
        // with the container), and Podman's ends with the container; a
        // window from the position confirms it (once a loaded full run on
        // 20.10 drained 8,575 of 80,000 lines so).
        let mut confirm = early.as_ref().is_some_and(|c| c.query.follow);
        loop {
            let read = match early.take() {
                Some(mut conn) => self.read_to_end(state, &mut conn, true).await,
                None => self.read_window(state, true).await.map(|(end, _, _)| end),
            };
            let Ok(end) = read else {
                return ReaderExit::Cancelled;
            };
            match end {
                WindowEnd::Complete if std::mem::take(&mut confirm) => {}
                WindowEnd::Complete => {
                    self.shared.log.info(
                        "Container stopped; its log was read to the end.",
                        &[("container_id", &state.meta.short_id()), ("container_name", &state.meta.name_str())],
                    );
                    return ReaderExit::Drained;
                }
                WindowEnd::Widen => state.widen(&self.shared.log),
                WindowEnd::Error(e) => {
                    if let Err(exit) = self.back_off_after(state, &e).await {
                        return exit;
                    }
                }
            }
        }
    }

    /// Polls a busy rotating log (see `busy`): windows from the position,
    /// `POLL_INTERVAL` apart, each sized from the last one's lines (widened
    /// when it does not reach back), until lines and bytes came at less than
    /// half the busy rates over a whole span and without a pause (for room
    /// or the rate limit: a reader that pauses is behind; see `SlowJudge`).
    /// `Err` when the reader should end.
    pub(super) async fn poll_busy(&mut self, state: &mut ContainerState) -> Result<(), ReaderExit> {
        let reopen_tail = self.shared.config.reopen_tail;
        let mut judge = SlowJudge::new(Instant::now(), state.meta.log_max_size);
        for _ in 0..MAX_POLL_READS {
            state.tracked.progress.set_state(ReaderState::Polling);
            state.tracked.stats.reopened(ReopenReason::Poll);
            // Each read is a new stream: the rotation schedule holds.
            self.rotate_if_due(state, Instant::now());
            // The container runs: a line whose end is not written yet waits
            // for the next window (the position keeps its first piece).
            match self.read_window(state, false).await? {
                (WindowEnd::Widen, _, _) => {
                    state.widen(&self.shared.log);
                    continue;
                }
                (WindowEnd::Error(e), _, _) => return self.back_off_after(state, &e).await,
                (WindowEnd::Complete, new, paused) => {
                    if judge.slow_after(Instant::now(), new, paused) {
                        state.narrow(reopen_tail);
                        return Ok(());
                    }
                    // The next window: four times what this one brought.
                    state.tail = (new.lines * 4).clamp(reopen_tail, MAX_BOUNDED_TAIL);
                }
            }
            // Between windows, the reader waits for input: open multiline
            // events whose timeout passed go out.
            state.flush_events(false);
            self.deliver(state).await?;
            self.shutdown.sleep(POLL_INTERVAL).await?;
        }
        Ok(())
    }
}
