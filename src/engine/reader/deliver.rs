//! Handing events to the queue: at the container's rate limit if it has one
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
use crate::engine::kinds::PauseReason;
use crate::multiline::Event;
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

/// The records of `events` (emptying it), their message bytes and the
/// newest mark's timestamp.
fn records_of(meta: &Arc<ContainerMeta>, events: &mut Vec<Event>) -> (VecDeque<Record>, u64, i64) {
    let (mut bytes, mut newest) = (0u64, 0i64);
    let records = events
        .drain(..)
        .map(|event| {
            bytes += event.message.len() as u64;
            newest = newest.max(event.mark.ts_ns);
            Record {
                container: meta.clone(),
                stream: event.stream,
                ts_ns: event.ts_ns,
                mark: event.mark,
                flags: event.flags,
                message: event.message,
            }
        })
        .collect();
    (records, bytes, newest)
}

impl Reader {
    /// Delivers the events the grouper completed (`state.events`, emptied).
    pub(super) async fn deliver(&mut self, state: &mut ContainerState) -> Result<Delivery, Cancelled> {
        if state.events.is_empty() {
            return Ok(Delivery::default());
        }
        let began = Instant::now();
        let (mut records, bytes, newest) = records_of(&state.meta, &mut state.events);
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
        self.read_log = true;
        if delivery.paused {
            // The open events' next lines may be waiting unread meanwhile.
            state.grouper.postpone(began.elapsed());
        }
        state.tracked.stats.delivered(delivery.records, bytes);
        state.tracked.progress.publish(&state.publishable_position(), newest);
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
