//! A reopened window must be shown to reach back far enough before it is
//! read: by its first entry (`Position::proves_continuity`), or by holding
//! every entry stamped at or after its `since` (asked with `tail=all`, or
//! counted); in the latter case the entries the position passed must still
//! be in it, or the daemon deleted them: a gap, reported.

use std::sync::Arc;

use super::error::ReadError;
use super::session::Session;
use super::state::ContainerState;
use super::Reader;
use crate::docker::{BodyRead, LogsQuery, Profile};
use crate::engine::events::LogGap;
use crate::engine::shutdown::Cancelled;
use crate::frame::{Framing, Stream};
use crate::timestamp::unix_now_ns;

pub enum Verdict {
    /// Nothing undelivered lies before the window.
    Continuous,
    Widen,
    Error(ReadError),
}

impl Reader {
    /// Judges a window of `query` (read with `profile`) whose first entry
    /// is `first` (None: it is empty).
    pub(super) async fn verify(
        &mut self,
        state: &ContainerState,
        query: &LogsQuery,
        profile: &Arc<Profile>,
        first: Option<(Stream, i64)>,
    ) -> Result<Verdict, Cancelled> {
        let streams = state.streams(self.shared.config.streams);
        if first.is_some_and(|f| state.position.proves_continuity(&streams, f)) {
            return Ok(Verdict::Continuous);
        }
        let whole = match (query.tail, first) {
            // Nothing at or after `since` in the window, or it was not
            // bounded: it holds all there is.
            (None, _) | (_, None) => true,
            // The daemon took its tail snapshot before sending the first
            // entry; a count of the same window now covers it. Fewer entries
            // than asked means it reached back before `since`.
            (Some(tail), Some(_)) => {
                let counted = LogsQuery { follow: false, ..*query };
                match self.count_entries(state, counted, profile).await? {
                    Ok(n) => n < tail,
                    Err(e) => return Ok(Verdict::Error(e)),
                }
            }
        };
        if !whole {
            return Ok(Verdict::Widen);
        }
        if let Some(after_ns) = state.position.passed_entry_gone(&streams, first) {
            let before_ns = first.map_or_else(unix_now_ns, |f| f.1).max(after_ns);
            LogGap { meta: &state.meta, after_ns, before_ns }.emit(&self.shared.log, &state.tracked.stats);
        }
        Ok(Verdict::Continuous)
    }

    /// Reads a non-follow response to its end and counts its entries,
    /// delivering nothing.
    pub(super) async fn count_entries(
        &mut self,
        state: &ContainerState,
        query: LogsQuery,
        profile: &Arc<Profile>,
    ) -> Result<Result<u64, ReadError>, Cancelled> {
        debug_assert!(!query.follow);
        let mut conn = match self.open_query(state, query, profile.clone()).await? {
            Ok(c) => c,
            Err(e) => return Ok(Err(e)),
        };
        let framing = Framing::of(state.meta.tty);
        let mut count = 0u64;
        let read_timeout = self.shared.config.read_timeout;
        let shared = self.shared.clone();
        loop {
            let read = self.shutdown.run(tokio::time::timeout(read_timeout, conn.read(&shared.docker))).await?;
            let eof = match read {
                Err(_) => return Ok(Err(ReadError::Timeout)),
                Ok(Err(e)) => return Ok(Err(ReadError::Docker(e))),
                Ok(Ok(read)) => read == BodyRead::End,
            };
            match Session::count(framing, &mut conn.buf, eof) {
                Ok(n) => count += n,
                Err(e) => return Ok(Err(e)),
            }
            if eof {
                return Ok(Ok(count));
            }
        }
    }
}
