//! Cancellation: one value every wait of the engine selects on.
//!
//! A task holds a `Shutdown`; any wait it makes goes through `run` (or
//! `sleep`), which gives `Err(Cancelled)` as soon as the capture stops, and
//! `?` carries that out of the task.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;

/// The capture is stopping; the task should end.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancelled;

/// The receiving side of the engine's stop signal.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

impl Shutdown {
    /// A signal and the shutdown that hears it.
    pub fn channel() -> (watch::Sender<bool>, Shutdown) {
        let (tx, rx) = watch::channel(false);
        (tx, Shutdown(rx))
    }

    pub fn is_set(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the capture stops (or the signal's sender is gone).
    pub async fn wait(&mut self) {
        let _ = self.0.wait_for(|stop| *stop).await;
    }

    /// Runs `work` unless the capture stops first (checked first, so a
    /// stopping capture starts nothing new).
    pub async fn run<F: Future>(&mut self, work: F) -> Result<F::Output, Cancelled> {
        tokio::select! {
            biased;
            _ = self.wait() => Err(Cancelled),
            out = work => Ok(out),
        }
    }

    /// Sleeps `duration` unless the capture stops first.
    pub async fn sleep(&mut self, duration: Duration) -> Result<(), Cancelled> {
        self.run(tokio::time::sleep(duration)).await
    }
}
