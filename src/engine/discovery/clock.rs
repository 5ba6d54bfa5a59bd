//! The host clock against the stamps already read. The daemon stamps lines
//! with the host's clock, so on a local daemon no line read can be stamped
//! after the clock's now. When one is, the clock was stepped back (NTP, by
//! hand; or the capture restarted from a position file after such a step):
//! until it catches up, new lines are stamped before lines already read,
//! and the position (and a reopen's `since`) takes them as read. That is
//! reported per container, once per episode, as a gap over the stamps such
//! lines can carry (see `ClockBehind`); or, for a container whose log file
//! has been read in its own order since before the step (the looks tell
//! when the clock ran back: less than the monotonic time between two), as
//! a step whose lines were delivered all the same.
//!
//! A daemon reached over TCP keeps its own clock: it is not compared.

use tokio::time::Instant;

use super::{Discovery, Slot};
use crate::engine::events::ClockBehind;
use crate::engine::kinds::ReadSource;
use crate::timestamp::unix_now_ns;

/// How far a stamp read may be ahead of the clock before the clock counts
/// as stepped back: the daemon stamps a line before it is read, on the
/// same clock, so any margin is enough; this one leaves room for a daemon
/// that rounds its stamps up.
pub const CLOCK_SLACK_NS: i64 = 1_000_000_000;

/// When the clock was last looked at, and when it was last found stepped.
pub struct ClockWatch {
    last_look: Instant,
    /// The clock at `last_look`.
    last_look_ns: i64,
    /// The last look before the latest step back the looks saw (the clock
    /// ran less than the monotonic time between two looks).
    stepped_after: Option<Instant>,
}

impl ClockWatch {
    pub fn new() -> ClockWatch {
        ClockWatch { last_look: Instant::now(), last_look_ns: unix_now_ns(), stepped_after: None }
    }

    /// Takes a look at `now_ns`; returns the time since the last look.
    fn look(&mut self, now_ns: i64) -> std::time::Duration {
        let since_last_look = self.last_look.elapsed();
        if now_ns - self.last_look_ns < since_last_look.as_nanos() as i64 - CLOCK_SLACK_NS {
            self.stepped_after = Some(self.last_look);
        }
        (self.last_look, self.last_look_ns) = (Instant::now(), now_ns);
        since_last_look
    }

    /// Whether a container whose file has been read in its order since
    /// `file_order_since` got the lines the latest step stamped early: it
    /// did if that reading began before the step.
    fn delivered(&self, file_order_since: Option<std::time::Instant>) -> bool {
        match (self.stepped_after, file_order_since) {
            (Some(step), Some(since)) => since <= step.into_std(),
            _ => false,
        }
    }
}

impl Discovery {
    /// Compares the clock with the newest stamp each reader has read.
    pub(super) fn check_clock(&mut self) {
        let now_ns = unix_now_ns();
        let since_last_look = self.clock.look(now_ns);
        if !self.shared.docker.endpoint.is_local() {
            return;
        }
        // A step since the last look put the clock at no earlier than this
        // (it has run on since); lines written after it are stamped so.
        let after_ns = now_ns - since_last_look.as_nanos() as i64;
        for (id, slot) in &self.slots {
            let Slot::Reading(_) = slot else { continue };
            let Some(tracked) = self.shared.registry.get(id) else { continue };
            let newest_ns = newest_read(&tracked.progress);
            if newest_ns - now_ns > CLOCK_SLACK_NS && tracked.stats.flag_clock_behind(now_ns, newest_ns) {
                let progress = &tracked.progress;
                let delivered =
                    progress.source() == ReadSource::File && self.clock.delivered(progress.file_order_since());
                let behind = ClockBehind { meta: &tracked.meta, after_ns, newest_ns, now_ns, delivered };
                behind.emit(&self.shared.log, &tracked.stats);
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

#[cfg(test)]
mod tests {
    use super::*;

    const SECOND: i64 = 1_000_000_000;

    #[test]
    fn a_clock_that_ran_back_between_two_looks_dates_the_step() {
        let mut watch = ClockWatch::new();
        let before = std::time::Instant::now();
        let start_ns = watch.last_look_ns;
        // The clock ran on with the monotonic time: no step.
        watch.look(start_ns + 10_000_000);
        assert!(watch.stepped_after.is_none());
        assert!(!watch.delivered(Some(before)));
        let read_in_order_since = std::time::Instant::now();
        let last_look = watch.last_look;
        // A minute back.
        watch.look(start_ns - 60 * SECOND);
        assert_eq!(watch.stepped_after, Some(last_look));
        // Read in the file's order since before the step: delivered; since
        // after the last look before it, or not at all: not known to be.
        assert!(watch.delivered(Some(before)));
        assert!(
            !watch.delivered(Some(read_in_order_since.max(last_look.into_std()) + std::time::Duration::from_millis(1)))
        );
        assert!(!watch.delivered(None));
    }
}
