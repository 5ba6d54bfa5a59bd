//! A follow stream's deadlines: its rotation, and the read deadline that
//! ends a silent stream. A stream working through a backlog is plainly
//! alive, and reopening it would replay part of that backlog: its due
//! rotation waits until it has caught up.

use std::time::Duration;

use tokio::time::Instant;

/// A stream whose newest line is older than this is working through a
/// backlog; its rotation waits until it has caught up.
pub const CATCH_UP_LAG: Duration = Duration::from_secs(2);
/// How often a deferred rotation looks again.
const CATCH_UP_CHECK: Duration = Duration::from_secs(1);

pub struct Deadlines {
    rotation_at: Instant,
    last_data: Instant,
    read_timeout: Duration,
}

/// What a passed deadline means.
pub enum Due {
    Rotation,
    Idle,
    /// The rotation was deferred (the stream is catching up).
    CatchingUp,
    /// Nothing yet: wait for `Deadlines::next` again.
    Nothing,
}

impl Deadlines {
    pub fn new(rotation_at: Instant, read_timeout: Duration, now: Instant) -> Deadlines {
        Deadlines { rotation_at, last_data: now, read_timeout }
    }

    /// When to look again.
    pub fn next(&self) -> Instant {
        self.rotation_at.min(self.last_data + self.read_timeout)
    }

    pub fn on_data(&mut self, now: Instant) {
        self.last_data = now;
    }

    /// At `now`, with the stream `behind` (its newest line older than
    /// `CATCH_UP_LAG`): what is due.
    pub fn due(&mut self, now: Instant, behind: bool) -> Due {
        if now >= self.rotation_at {
            if behind && now.duration_since(self.last_data) < CATCH_UP_CHECK {
                self.rotation_at = now + CATCH_UP_CHECK;
                return Due::CatchingUp;
            }
            return Due::Rotation;
        }
        if now >= self.last_data + self.read_timeout {
            return Due::Idle;
        }
        Due::Nothing
    }
}
