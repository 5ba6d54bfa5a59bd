//! A busy rotating log (json-file with `max-size`, `local`) is not followed
//! where the daemon's follower skips rotated files (see
//! `Profile::poll_busy_rotating_logs`): a follow stream of such a log that
//! delivers `BUSY_LINES`, or a `BUSY_FILE_SHARE` of one log file, within
//! `BUSY_CHECK` switches to polling, bounded non-follow reads from the
//! position, each a consistent snapshot of the log files (nothing inside
//! one is skipped; a part the daemon deleted between two is found by the
//! continuity check and reported as a gap).
//!
//! Bytes count as much as lines: 20.10's follower never reads a file that
//! was written and rotated whole while it reopened the log after the
//! previous rotation, so a log of small files loses lines at a few hundred
//! lines a second (a 2 KiB file is 17 short lines; seen with `docker logs
//! -f`, tests/multiline.rs).

use std::time::Duration;

use tokio::time::Instant;

pub const BUSY_LINES: u64 = 200;
pub const BUSY_CHECK: Duration = Duration::from_millis(50);
/// A stream bringing this share of a log file (1/4) within `BUSY_CHECK`
/// fills a file in under 200 ms: busy.
pub const BUSY_FILE_SHARE: u64 = 4;
/// What an entry adds to its line in a json-file (its keys and stamp):
/// line bytes plus this per line approximate the bytes the log grew by.
pub const ENTRY_OVERHEAD: u64 = 64;
/// A polling spell goes back to following only after the log was slow
/// over this long: bursts a few tens of milliseconds apart keep it polling.
pub const SLOW_SPAN: Duration = Duration::from_millis(500);

/// Lines per second that make a rotating log busy.
pub fn busy_rate() -> f64 {
    BUSY_LINES as f64 / BUSY_CHECK.as_secs_f64()
}

/// Log bytes within `BUSY_CHECK` that make a log of `max_size` files busy
/// (0: files of unknown size, judged by lines only).
pub fn busy_bytes(max_size: u64) -> u64 {
    max_size / BUSY_FILE_SHARE
}

/// What a stream brought: lines, and the log bytes they took (line bytes
/// and `ENTRY_OVERHEAD` each).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Taken {
    pub lines: u64,
    pub bytes: u64,
}

impl Taken {
    fn since(self, before: Taken) -> Taken {
        Taken { lines: self.lines - before.lines, bytes: self.bytes - before.bytes }
    }
}

/// Counts one follow stream's intake in windows of `BUSY_CHECK`.
pub struct BusyDetector {
    window_end: Instant,
    /// What the stream had brought when the window began.
    at_window_start: Taken,
    busy_bytes: u64,
}

impl BusyDetector {
    /// For a log of `max_size` files (0: unknown).
    pub fn new(now: Instant, max_size: u64) -> BusyDetector {
        BusyDetector {
            window_end: now + BUSY_CHECK,
            at_window_start: Taken::default(),
            busy_bytes: busy_bytes(max_size),
        }
    }

    /// After a read that took the stream's intake from `before` to
    /// `after`: true when the stream is busy.
    pub fn observe(&mut self, now: Instant, before: Taken, after: Taken) -> bool {
        if now >= self.window_end {
            // A new window, counting from this read's lines.
            self.window_end = now + BUSY_CHECK;
            self.at_window_start = before;
        }
        let got = after.since(self.at_window_start);
        got.lines >= BUSY_LINES || (self.busy_bytes > 0 && got.bytes >= self.busy_bytes)
    }
}

/// Judges a polling spell's pace over spans of at least `SLOW_SPAN`.
pub struct SlowJudge {
    span_start: Instant,
    got: Taken,
    paused: bool,
    busy_bytes: u64,
}

impl SlowJudge {
    pub fn new(now: Instant, max_size: u64) -> SlowJudge {
        SlowJudge { span_start: now, got: Taken::default(), paused: false, busy_bytes: busy_bytes(max_size) }
    }

    /// After a window that brought `got` (`paused`: delivering it had to
    /// wait): true once a whole span brought lines and bytes at less than
    /// half the busy rates, without a pause (a reader that pauses is
    /// behind).
    pub fn slow_after(&mut self, now: Instant, got: Taken, paused: bool) -> bool {
        self.got.lines += got.lines;
        self.got.bytes += got.bytes;
        self.paused |= paused;
        let span = now.saturating_duration_since(self.span_start);
        if span < SLOW_SPAN {
            return false;
        }
        let secs = span.as_secs_f64();
        let bytes_rate = self.busy_bytes as f64 / BUSY_CHECK.as_secs_f64();
        let slow = !self.paused
            && (self.got.lines as f64) < secs * busy_rate() / 2.0
            && (self.busy_bytes == 0 || (self.got.bytes as f64) < secs * bytes_rate / 2.0);
        *self = SlowJudge { span_start: now, got: Taken::default(), paused: false, busy_bytes: self.busy_bytes };
        slow
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarter_file_within_the_check_is_busy() {
        let now = Instant::now();
        let mut small = BusyDetector::new(now, 2048);
        let burst = Taken { lines: 5, bytes: 512 };
        assert!(small.observe(now, Taken::default(), burst), "a quarter of a 2 KiB file at once");
        let mut large = BusyDetector::new(now, 10 << 20);
        assert!(!large.observe(now, Taken::default(), burst));
        assert!(large.observe(now, burst, Taken { lines: BUSY_LINES, bytes: 512 }), "lines still count");
        let mut unknown = BusyDetector::new(now, 0);
        assert!(!unknown.observe(now, Taken::default(), Taken { lines: 1, bytes: 1 << 30 }));
    }

    #[test]
    fn polling_ends_only_after_a_slow_span() {
        let t0 = Instant::now();
        let mut judge = SlowJudge::new(t0, 2048);
        // Bursts of 2 KiB every 60 ms, with empty windows between: busy
        // (judged once, at 510 ms).
        for i in 1..=17u32 {
            let got = if i % 2 == 0 { Taken { lines: 20, bytes: 2048 } } else { Taken::default() };
            assert!(!judge.slow_after(t0 + Duration::from_millis(30) * i, got, false), "window {i}");
        }
        // Then quiet for a whole span: slow.
        let quiet = t0 + Duration::from_millis(510);
        assert!(!judge.slow_after(quiet + Duration::from_millis(100), Taken::default(), false));
        assert!(judge.slow_after(quiet + SLOW_SPAN, Taken::default(), false));
        // A pause in the span keeps it polling.
        let mut judge = SlowJudge::new(t0, 0);
        assert!(!judge.slow_after(t0 + SLOW_SPAN, Taken::default(), true));
    }
}
