//! A busy rotating log (json-file with `max-size`, `local`) is not followed
//! where the daemon's follower skips rotated files (see
//! `Profile::poll_busy_rotating_logs`): a follow stream of such a log that
//! delivers `BUSY_LINES` within `BUSY_CHECK` switches to polling, bounded
//! non-follow reads from the position, each a consistent snapshot of the
//! log files (nothing inside one is skipped; a part the daemon deleted
//! between two is found by the continuity check and reported as a gap).

use std::time::Duration;

use tokio::time::Instant;

pub const BUSY_LINES: u64 = 200;
pub const BUSY_CHECK: Duration = Duration::from_millis(50);

/// Lines per second that make a rotating log busy.
pub fn busy_rate() -> f64 {
    BUSY_LINES as f64 / BUSY_CHECK.as_secs_f64()
}

/// Counts one follow stream's lines in windows of `BUSY_CHECK`.
pub struct BusyDetector {
    window_end: Instant,
    /// Lines the stream had delivered when the window began.
    at_window_start: u64,
}

impl BusyDetector {
    pub fn new(now: Instant) -> BusyDetector {
        BusyDetector { window_end: now + BUSY_CHECK, at_window_start: 0 }
    }

    /// After a read that took the stream's delivered lines from `before`
    /// to `after`: true when the stream is busy.
    pub fn observe(&mut self, now: Instant, before: u64, after: u64) -> bool {
        if now >= self.window_end {
            // A new window, counting from this read's lines.
            self.window_end = now + BUSY_CHECK;
            self.at_window_start = before;
        }
        after - self.at_window_start >= BUSY_LINES
    }
}
