//! Exponential backoff with jitter, and the jittered rotation interval.

use std::time::Duration;

use crate::timestamp::unix_now_ns;

/// A backoff schedule with its own small random source.
pub struct Backoff {
    base: Duration,
    max: Duration,
    current: Duration,
    rng: u64,
}

impl Backoff {
    /// `seed` (a container id) keeps readers started at once apart.
    pub fn new(base: Duration, max: Duration, seed: &str) -> Backoff {
        let mut rng = unix_now_ns() as u64 ^ 0x9E37_79B9_7F4A_7C15;
        for b in seed.bytes() {
            rng = (rng ^ b as u64).wrapping_mul(0x0100_0000_01B3);
        }
        Backoff { base, max, current: base, rng: rng | 1 }
    }

    fn random_unit(&mut self) -> f64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The next wait: the current step, jittered down by up to half.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.current;
        self.current = (self.current * 2).min(self.max);
        step.mul_f64(0.5 + 0.5 * self.random_unit())
    }

    pub fn reset(&mut self) {
        self.current = self.base;
    }

    /// `interval` scaled by a random factor in `1 ± jitter`.
    pub fn jittered(&mut self, interval: Duration, jitter: f64) -> Duration {
        interval.mul_f64(1.0 + jitter * (2.0 * self.random_unit() - 1.0))
    }
}
