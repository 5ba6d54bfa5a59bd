//! Writing the position file (`checkpoint_path`) every
//! `checkpoint_interval` when it changed, off the runtime's thread (fsync
//! may take a while), and once more at stop.

use std::sync::Arc;
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::{Interval, MissedTickBehavior};

use crate::engine::checkpoint::Checkpoint;
use crate::log::Logger;

/// What the writer needs next.
pub enum Step {
    Due,
    Written(std::io::Result<()>),
}

pub struct PositionWriter {
    checkpoint: Option<Arc<Checkpoint>>,
    tick: Interval,
    writing: Option<JoinHandle<std::io::Result<()>>>,
    /// The last write failed (logged once until one works again).
    failing: bool,
}

impl PositionWriter {
    pub fn new(checkpoint: Option<Arc<Checkpoint>>, every: Duration) -> PositionWriter {
        let mut tick = tokio::time::interval(every);
        tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
        PositionWriter { checkpoint, tick, writing: None, failing: false }
    }

    /// Resolves when a write is due (`Due`: call `start`) or the one in
    /// progress is done; pends without a file.
    pub async fn next(&mut self) -> Step {
        if self.checkpoint.is_none() {
            return std::future::pending().await;
        }
        match self.writing.as_mut() {
            None => {
                self.tick.tick().await;
                Step::Due
            }
            Some(handle) => {
                let done = handle.await.unwrap_or_else(|e| Err(std::io::Error::other(e.to_string())));
                self.writing = None;
                Step::Written(done)
            }
        }
    }

    pub fn start(&mut self) {
        if let Some(c) = self.checkpoint.clone() {
            self.writing = Some(tokio::task::spawn_blocking(move || c.flush()));
        }
    }

    pub fn on_written(&mut self, result: std::io::Result<()>, log: &Logger) {
        match result {
            Ok(()) => self.failing = false,
            Err(e) => {
                if !self.failing {
                    log.error("Cannot write the position file; retrying.", &[("error", &e)]);
                }
                self.failing = true;
            }
        }
    }

    /// The last write, once every reader is done, within `deadline`.
    pub async fn close(mut self, log: &Logger, deadline: Duration) {
        let Some(c) = self.checkpoint.clone() else {
            return;
        };
        if let Some(handle) = self.writing.take() {
            let _ = handle.await;
        }
        let closing = tokio::task::spawn_blocking(move || c.close());
        match tokio::time::timeout(deadline, closing).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => log.error("Cannot write the position file at stop.", &[("error", &e)]),
            _ => log.error("Writing the position file at stop did not finish in time.", &[]),
        }
    }
}
