//! Fewer wake-ups while several streams are busy: a read that came part
//! full is followed by a short wait, so the next read takes more at once
//! (one wake-up per tens of KB, not per chunk the daemon writes). Alone, a
//! wait would stall the daemon (a unix socket holds only a few hundred
//! small writes), so it is made only while another reader is busy too.

use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

use tokio::time::Instant;

use crate::docker::{BodyRead, DockerError};

/// Reads between these sizes are "part full": a busy stream, not a quiet
/// one (small) nor one the socket could not keep up with (full).
const COALESCE_MIN: usize = 1024;
const COALESCE_MAX: usize = 32 * 1024;
const COALESCE_WAIT: Duration = Duration::from_millis(1);

/// One reader's part in the count of busy readers.
pub struct Coalescer<'a> {
    busy_readers: &'a AtomicUsize,
    counted: bool,
    wait_until: Option<Instant>,
}

impl<'a> Coalescer<'a> {
    pub fn new(busy_readers: &'a AtomicUsize) -> Coalescer<'a> {
        Coalescer { busy_readers, counted: false, wait_until: None }
    }

    /// The wait due before the next read, if any.
    pub async fn wait(&self) {
        if let Some(at) = self.wait_until {
            tokio::time::sleep_until(at).await;
        }
    }

    /// Notes how a read went, and whether the next one waits.
    pub fn after_read(&mut self, read: &Result<BodyRead, DockerError>) {
        let part_full = matches!(read, Ok(BodyRead::Data(n)) if (COALESCE_MIN..COALESCE_MAX).contains(n));
        self.set_busy(part_full);
        let others_busy = self.busy_readers.load(Relaxed) > usize::from(self.counted);
        self.wait_until = (part_full && others_busy).then(|| Instant::now() + COALESCE_WAIT);
    }

    fn set_busy(&mut self, busy: bool) {
        if busy != self.counted {
            if busy {
                self.busy_readers.fetch_add(1, Relaxed);
            } else {
                self.busy_readers.fetch_sub(1, Relaxed);
            }
            self.counted = busy;
        }
    }
}

impl Drop for Coalescer<'_> {
    fn drop(&mut self) {
        self.set_busy(false);
    }
}
