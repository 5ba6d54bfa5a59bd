//! `container_max_records_per_second`: a token bucket per container. It
//! holds `BURST` of records at the rate (at least one), so the records
//! delivered over any span stay within that many of the rate; the reader of
//! a container that writes faster waits for it (`ReaderState::RateLimited`,
//! counted as paused), and the daemon keeps the rest of the log meanwhile.

use std::time::Duration;

use tokio::time::Instant;

/// The bucket holds this long's records: deliveries come in chunks this
/// far apart at most (20 a second), and over 10 s the limit holds to 0.5 %.
const BURST: Duration = Duration::from_millis(50);

pub struct RateLimit {
    per_second: f64,
    capacity: f64,
    tokens: f64,
    at: Instant,
}

impl RateLimit {
    pub fn new(per_second: f64, now: Instant) -> RateLimit {
        let capacity = (per_second * BURST.as_secs_f64()).max(1.0).floor();
        RateLimit { per_second, capacity, tokens: capacity, at: now }
    }

    /// At `now`, how many of `wanted` (at least one) records may go, taken
    /// from the bucket; or how long to wait before asking again. A chunk is
    /// at most the bucket's size, and is waited for whole, so a reader
    /// wakes up at most once per chunk.
    pub fn take(&mut self, wanted: usize, now: Instant) -> Result<usize, Duration> {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.per_second).min(self.capacity);
        self.at = now;
        let chunk = (wanted.max(1) as f64).min(self.capacity);
        // A wait computed below may come back a hair short in floating point.
        if self.tokens >= chunk - 1e-6 {
            self.tokens -= chunk;
            Ok(chunk as usize)
        } else {
            Err(Duration::from_secs_f64((chunk - self.tokens) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that always has `batch` records to deliver, over `seconds`
    /// of simulated time: how many went.
    fn delivered(per_second: f64, batch: usize, seconds: f64) -> f64 {
        let start = Instant::now();
        let end = start + Duration::from_secs_f64(seconds);
        let mut limit = RateLimit::new(per_second, start);
        let (mut now, mut sent) = (start, 0usize);
        let mut pending = batch;
        while now < end {
            match limit.take(pending, now) {
                Ok(n) => {
                    sent += n;
                    pending -= n;
                    if pending == 0 {
                        pending = batch;
                    }
                }
                Err(wait) => {
                    assert!(wait > Duration::ZERO);
                    now += wait;
                }
            }
        }
        sent as f64
    }

    #[test]
    fn the_rate_holds_over_ten_seconds_whatever_the_batches() {
        for per_second in [1.0, 7.5, 100.0, 1_000.0, 20_000.0] {
            for batch in [1, 13, 500, 100_000] {
                let sent = delivered(per_second, batch, 10.0);
                let want = per_second * 10.0;
                assert!(
                    (sent - want).abs() <= want * 0.01 + 1.0,
                    "{per_second}/s in batches of {batch}: {sent} in 10 s"
                );
            }
        }
    }

    #[test]
    fn a_slow_writer_is_not_held_back() {
        let start = Instant::now();
        let mut limit = RateLimit::new(100.0, start);
        // Five records every 100 ms: half the rate.
        for i in 0..100 {
            assert_eq!(limit.take(5, start + Duration::from_millis(100 * i)), Ok(5), "at {i}");
        }
    }

    #[test]
    fn chunks_are_bounded_by_the_burst() {
        let now = Instant::now();
        let mut limit = RateLimit::new(1_000.0, now);
        assert_eq!(limit.take(10_000, now), Ok(50));
        let wait = limit.take(10_000, now).unwrap_err();
        assert!(wait.abs_diff(Duration::from_millis(50)) < Duration::from_micros(1), "{wait:?}");
        assert_eq!(limit.take(10_000, now + wait), Ok(50));
    }
}
