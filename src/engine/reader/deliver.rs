//! Handing lines to the queue: at the container's rate limit if it has one
//! (`rate_limit.rs`), waiting for room as long as the host takes (lossless
//! backpressure), then publishing how far the reader has come. Either wait
//! pauses the reader: the daemon keeps the log meanwhile.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Instant;

use super::rate_limit::RateLimit;
use super::state::ContainerState;
use super::Reader;
use crate::chain::Line;
use crate::engine::kinds::PauseReason;
use crate::engine::progress::ReaderState;
use crate::engine::registry::Tracked;
use crate::engine::shutdown::Cancelled;
use crate::record::{ContainerMeta, Record};

/// What one delivery did.
#[derive(Debug, Default, Clone, Copy)]
pub struct Delivery {
    pub records: u64,
    /// The reader had to wait (for room or for its rate limit).
    pub paused: bool,
}

/// A pause of the reader: its state shows it, and its length is counted.
struct Pause<'a> {
    tracked: &'a Tracked,
    reason: PauseReason,
    before: ReaderState,
    since: Instant,
}

impl<'a> Pause<'a> {
    fn begin(tracked: &'a Tracked, reason: PauseReason, state: ReaderState) -> Pause<'a> {
        let before = tracked.progress.state();
        tracked.progress.set_state(state);
        Pause { tracked, reason, before, since: Instant::now() }
    }

    fn end(self) {
        self.tracked.progress.set_state(self.before);
        self.tracked.stats.paused(self.reason, self.since.elapsed().as_nanos() as u64);
    }
}

/// The records of `lines` (emptying it), their message bytes and their
/// newest timestamp.
fn records_of(meta: &Arc<ContainerMeta>, lines: &mut Vec<Line>) -> (VecDeque<Record>, u64, i64) {
    let (mut bytes, mut newest) = (0u64, 0i64);
    let records = lines
        .drain(..)
        .map(|line| {
            bytes += line.message.len() as u64;
            newest = newest.max(line.ts_ns);
            Record {
                container: meta.clone(),
                stream: line.stream,
                ts_ns: line.ts_ns,
                count: line.count,
                flags: line.flags,
                message: line.message,
            }
        })
        .collect();
    (records, bytes, newest)
}

impl Reader {
    /// Delivers `lines` (emptying it).
    pub(super) async fn deliver(
        &mut self,
        state: &mut ContainerState,
        lines: &mut Vec<Line>,
    ) -> Result<Delivery, Cancelled> {
        if lines.is_empty() {
            return Ok(Delivery::default());
        }
        let (mut records, bytes, newest) = records_of(&state.meta, lines);
        let mut delivery = Delivery { records: records.len() as u64, paused: false };
        while !records.is_empty() {
            let chunk = match state.limit.as_mut() {
                None => records.len(),
                Some(limit) => self.wait_for_rate(limit, &state.tracked, records.len(), &mut delivery).await?,
            };
            let rest = if chunk < records.len() { records.split_off(chunk) } else { VecDeque::new() };
            self.push(&state.tracked, &mut records, &mut delivery).await?;
            records = rest;
        }
        state.tracked.stats.delivered(delivery.records, bytes);
        state.tracked.progress.publish(&state.position, newest);
        self.shared.stats.records.fetch_add(delivery.records, Relaxed);
        self.shared.stats.bytes.fetch_add(bytes, Relaxed);
        Ok(delivery)
    }

    /// Waits until `limit` lets records go; returns how many of `wanted`.
    async fn wait_for_rate(
        &mut self,
        limit: &mut RateLimit,
        tracked: &Tracked,
        wanted: usize,
        delivery: &mut Delivery,
    ) -> Result<usize, Cancelled> {
        let mut pause: Option<Pause<'_>> = None;
        loop {
            match limit.take(wanted, tokio::time::Instant::now()) {
                Ok(n) => {
                    if let Some(pause) = pause {
                        pause.end();
                    }
                    return Ok(n);
                }
                Err(wait) => {
                    if pause.is_none() {
                        pause = Some(Pause::begin(tracked, PauseReason::RateLimit, ReaderState::RateLimited));
                        delivery.paused = true;
                    }
                    self.shutdown.sleep(wait).await?;
                }
            }
        }
    }

    /// Pushes every record, waiting for room (in the queue, and under the
    /// container's share of it) as long as the host takes.
    async fn push(
        &mut self,
        tracked: &Tracked,
        records: &mut VecDeque<Record>,
        delivery: &mut Delivery,
    ) -> Result<(), Cancelled> {
        let shared = self.shared.clone();
        let (mut pause, mut waited) = (None, false);
        let push = shared.queue.push_all(records, |waiting| {
            if waiting {
                pause = Some(Pause::begin(tracked, PauseReason::Backpressure, ReaderState::Backpressure));
                waited = true;
            } else if let Some(pause) = pause.take() {
                pause.end();
            }
        });
        let pushed = self.shutdown.run(push).await;
        delivery.paused |= waited;
        pushed?.map_err(|_| Cancelled)
    }
}
