//! Handing lines to the queue: waiting for room as long as the host takes
//! (lossless backpressure), then publishing how far the reader has come.

use std::collections::VecDeque;
use std::sync::atomic::Ordering::Relaxed;

use super::state::ContainerState;
use super::Reader;
use crate::chain::Line;
use crate::engine::progress::ReaderState;
use crate::engine::shutdown::Cancelled;
use crate::record::Record;

impl Reader {
    /// Delivers `lines` (emptying it); returns how many were delivered.
    pub(super) async fn deliver(&mut self, state: &mut ContainerState, lines: &mut Vec<Line>) -> Result<u64, Cancelled> {
        if lines.is_empty() {
            return Ok(0);
        }
        let meta = &state.meta;
        let mut bytes = 0u64;
        let mut newest = 0i64;
        let mut records: VecDeque<Record> = lines
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
        let n = records.len() as u64;
        let progress = &state.tracked.progress;
        let mut before = None;
        let shared = self.shared.clone();
        let push = shared.queue.push_all(&mut records, |waiting| {
            if waiting {
                before = Some(progress.state());
                progress.set_state(ReaderState::Backpressure);
            } else if let Some(s) = before {
                progress.set_state(s);
            }
        });
        self.shutdown.run(push).await?.map_err(|_| Cancelled)?;
        self.read_log = true;
        state.tracked.stats.delivered(n, bytes);
        progress.publish(&state.position, newest);
        shared.stats.records.fetch_add(n, Relaxed);
        shared.stats.bytes.fetch_add(bytes, Relaxed);
        Ok(n)
    }
}
