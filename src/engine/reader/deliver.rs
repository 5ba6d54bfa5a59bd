//! Handing events to the queue: waiting for room as long as the host takes
//! (lossless backpressure), then publishing how far the reader has come.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;
use std::time::Instant;

use super::state::ContainerState;
use super::Reader;
use crate::engine::progress::ReaderState;
use crate::engine::shutdown::Cancelled;
use crate::record::Record;

impl Reader {
    /// Delivers the events the grouper completed (`state.events`, emptied);
    /// returns how many were delivered.
    pub(super) async fn deliver(&mut self, state: &mut ContainerState) -> Result<u64, Cancelled> {
        if state.events.is_empty() {
            return Ok(0);
        }
        let meta = &state.meta;
        let mut bytes = 0u64;
        let mut newest = 0i64;
        let mut records: VecDeque<Record> = state
            .events
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
        let n = records.len() as u64;
        let progress = &state.tracked.progress;
        let mut before = None;
        let mut waiting_since = None;
        let shared = self.shared.clone();
        let push = shared.queue.push_all(&mut records, |waiting| {
            if waiting {
                before = Some(progress.state());
                waiting_since.get_or_insert_with(Instant::now);
                progress.set_state(ReaderState::Backpressure);
            } else if let Some(s) = before {
                progress.set_state(s);
            }
        });
        self.shutdown.run(push).await?.map_err(|_| Cancelled)?;
        self.read_log = true;
        if let Some(since) = waiting_since {
            // The open events' next lines may be waiting unread meanwhile.
            state.grouper.postpone(since.elapsed());
        }
        state.tracked.stats.delivered(n, bytes);
        progress.publish(&state.publishable_position(), newest);
        shared.stats.records.fetch_add(n, Relaxed);
        shared.stats.bytes.fetch_add(bytes, Relaxed);
        Ok(n)
    }
}
