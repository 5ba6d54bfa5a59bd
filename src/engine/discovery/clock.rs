//! The host clock against the stamps already read. The daemon stamps lines
//! with the host's clock, so on a local daemon no line read can be stamped
//! after the clock's now. When one is, the clock was stepped back (NTP, by
//! hand; or the capture restarted from a position file after such a step):
//! until it catches up, new lines are stamped before lines already read,
//! and the position (and a reopen's `since`) takes them as read. That is
//! reported per container, once per episode, as a gap over the stamps such
//! lines can carry (see `ClockBehind`).
//!
//! A daemon reached over TCP keeps its own clock: it is not compared.

use tokio::time::Instant;

use super::{Discovery, Slot};
use crate::engine::events::ClockBehind;
use crate::timestamp::unix_now_ns;

/// How far a stamp read may be ahead of the clock before the clock counts
/// as stepped back: the daemon stamps a line before it is read, on the
/// same clock, so any margin is enough; this one leaves room for a daemon
/// that rounds its stamps up.
pub const CLOCK_SLACK_NS: i64 = 1_000_000_000;

/// When the clock was last looked at.
pub struct ClockWatch {
    last_look: Instant,
}

impl ClockWatch {
    pub fn new() -> ClockWatch {
        ClockWatch { last_look: Instant::now() }
    }
}

impl Discovery {
    /// Compares the clock with the newest stamp each reader has read.
    pub(super) fn check_clock(&mut self) {
        let since_last_look = self.clock.last_look.elapsed();
        self.clock.last_look = Instant::now();
        if !self.shared.docker.endpoint.is_local() {
            return;
        }
        let now_ns = unix_now_ns();
        // A step since the last look put the clock at no earlier than this
        // (it has run on since); lines written after it are stamped so.
        let after_ns = now_ns - since_last_look.as_nanos() as i64;
        for (id, slot) in &self.slots {
            let Slot::Reading(_) = slot else { continue };
            let Some(tracked) = self.shared.registry.get(id) else { continue };
            let newest_ns = newest_read(&tracked.progress);
            if newest_ns - now_ns > CLOCK_SLACK_NS && tracked.stats.flag_clock_behind(now_ns, newest_ns) {
                ClockBehind { meta: &tracked.meta, after_ns, newest_ns, now_ns }.emit(&self.shared.log, &tracked.stats);
            }
        }
    }
}

/// The newest stamp a line of the container was read at: delivered by
/// this process, or counted in the position it started from (a mark with
/// a count is a line read; a starting point has none).
fn newest_read(progress: &crate::engine::progress::Progress) -> i64 {
    let position = progress.position();
    let counted = position.marks.iter().filter(|m| m.count > 0).map(|m| m.ts_ns).max().unwrap_or(0);
    progress.newest_ts_ns().max(counted)
}
