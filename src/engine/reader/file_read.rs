//! Reading an open log file: batches through the chain to the queue, the
//! follower's notices reported, and waiting for more with every end in
//! view (renewal, the container's `die` event, shutdown).
//!
//! A log file never ends by itself: a stopped container's file just stops
//! growing. Its end is the `die` event discovery passes on; a file idle
//! for `read_timeout` asks the daemon (an event missed), so the container
//! is drained within that, at worst.

use tokio::sync::broadcast::{self, error::RecvError};
use tokio::time::Instant;

use super::file::FileEnd;
use super::file_source::FileSource;

use super::state::ContainerState;
use super::{Reader, ReaderExit};
use crate::chain::{ChainOptions, LineChain, PieceRule};
use crate::engine::events::{ClockBehind, FileLineSkipped, LogGap};
use crate::engine::shutdown::Cancelled;
use crate::frame::{Entry, Stream, PIECE_BYTES};
use crate::logfile::{Batch, Format, NoticeKind, ReadState};
use crate::timestamp::unix_now_ns;

/// What ended a wait for more.
enum Wake {
    /// Read again.
    Read,
    /// The rotation interval passed.
    Rotation,
    /// The container stopped: read to the end and finish.
    Stopped,
    /// The container is gone (what said so).
    Gone(String),
    /// Idle for `read_timeout`, or `die` events were missed: ask.
    Ask,
    /// An open multiline event's timeout passed.
    Flush,
}

impl Reader {
    /// Reads the open file until it is renewed, unreadable or ends;
    /// `at_cursor`: it was opened just after the last entry passed.
    pub(super) async fn read_file(
        &mut self,
        state: &mut ContainerState,
        source: &mut FileSource,
        at_cursor: bool,
        mut drain: bool,
    ) -> Result<FileEnd, Cancelled> {
        let chain = LineChain::new(self.file_chain_options(source.format));
        // Read in the file's order: a replay is only what was passed before.
        let mut chain = if at_cursor {
            state.tracked.progress.file_order_held(std::time::Instant::now());
            chain.resuming_after(&state.position)
        } else {
            self.file_order_lost(state);
            chain.replaying_up_to(&state.position)
        };
        let mut lines = Vec::new();
        let mut last_data = *self.file_data_at.get_or_insert_with(Instant::now);
        loop {
            if !drain && Instant::now() >= state.next_rotation {
                return Ok(FileEnd::Rotation);
            }
            let batch = match self.shutdown.run(source.next()).await? {
                Ok(batch) => batch,
                Err(e) => return Ok(FileEnd::Unreadable(e)),
            };
            if !batch.entries.is_empty() {
                last_data = Instant::now();
                self.file_data_at = Some(last_data);
            }
            let Batch { entries, notices, cursor, state: read_state, .. } = batch;
            let mut notices = notices.into_iter().peekable();
            for (i, entry) in entries.into_iter().enumerate() {
                while let Some(notice) = notices.next_if(|n| n.at <= i) {
                    self.file_notice(state, notice.kind);
                }
                if self.wants(&entry) {
                    chain.push(&mut state.position, entry, &mut lines);
                }
            }
            notices.for_each(|notice| self.file_notice(state, notice.kind));
            let ended = read_state == ReadState::Gone || (drain && read_state == ReadState::AtEnd);
            if ended {
                chain.finish(&mut state.position, &mut lines);
            }
            if let Some(cursor) = cursor {
                state.file_cursor = Some((cursor, state.position.clone()));
            }
            state.group(&mut lines);
            self.deliver(state).await?;
            if read_state != ReadState::More {
                // Read to its end: whatever the log held was had.
                self.read_log = true;
            }
            match read_state {
                ReadState::More => continue,
                ReadState::Gone => {
                    let answer = "its log file's directory is gone".to_string();
                    return Ok(FileEnd::Exit(ReaderExit::Gone { read: self.read_log, answer }));
                }
                ReadState::AtEnd if drain => return Ok(FileEnd::Exit(self.drained(state))),
                ReadState::AtEnd => {}
            }
            match self.wait_file(state, source, last_data).await? {
                Wake::Read | Wake::Ask => {}
                Wake::Flush => {
                    state.flush_events(false);
                    self.deliver(state).await?;
                }
                Wake::Rotation => return Ok(FileEnd::Rotation),
                Wake::Stopped => drain = true,
                Wake::Gone(answer) => return Ok(FileEnd::Exit(ReaderExit::Gone { read: self.read_log, answer })),
            }
            if Instant::now() >= last_data + self.shared.config.read_timeout {
                // Asked once per idle spell.
                last_data = Instant::now();
                self.file_data_at = Some(last_data);
            }
        }
    }

    /// Reading starts again by time: entries stamped before the position
    /// are taken as read until the next start at the cursor. If the host
    /// clock is behind lines read, with their delivery said, lines it
    /// stamps before them from here on are not: reported as a gap.
    pub(super) fn file_order_lost(&self, state: &ContainerState) {
        let (progress, stats) = (&state.tracked.progress, &state.tracked.stats);
        progress.file_order_lost();
        let now_ns = unix_now_ns();
        if let Some(newest_ns) = stats.clock_step_undelivered(now_ns) {
            let meta = &state.meta;
            ClockBehind { meta, after_ns: now_ns, newest_ns, now_ns, delivered: false }.emit(&self.shared.log, stats);
        }
    }

    /// Waits for the file to change, the renewal, or the container's end.
    async fn wait_file(
        &mut self,
        state: &ContainerState,
        source: &mut FileSource,
        last_data: Instant,
    ) -> Result<Wake, Cancelled> {
        let idle_at = last_data + self.shared.config.read_timeout;
        let flush_at = state.grouper.next_deadline().map(Instant::from_std);
        let (id, died) = (&self.id, &mut self.died);
        let wake = self
            .shutdown
            .run(async {
                tokio::select! {
                    _ = source.changed() => Wake::Read,
                    _ = tokio::time::sleep_until(state.next_rotation) => Wake::Rotation,
                    _ = tokio::time::sleep_until(idle_at) => Wake::Ask,
                    _ = sleep_until_some(flush_at) => Wake::Flush,
                    stopped = died_event(died, id) => if stopped { Wake::Stopped } else { Wake::Ask },
                }
            })
            .await?;
        match wake {
            Wake::Ask => self.still_running().await,
            wake => Ok(wake),
        }
    }

    /// Whether the container still runs (a file idle for `read_timeout`).
    async fn still_running(&mut self) -> Result<Wake, Cancelled> {
        let shared = self.shared.clone();
        Ok(match self.shutdown.run(shared.docker.inspect(&self.id)).await? {
            Err(e) if shared.daemon.profile().is_gone(&e) => Wake::Gone(format!("inspect: {e}")),
            Ok(inspect) if !inspect.state.running => Wake::Stopped,
            // Running, or the daemon cannot say now: read on.
            _ => Wake::Read,
        })
    }

    /// The container stopped and its file was read to the end.
    fn drained(&self, state: &ContainerState) -> ReaderExit {
        self.shared.log.info(
            "Container stopped; its log file was read to the end.",
            &[("container_id", &state.meta.short_id()), ("container_name", &state.meta.name_str())],
        );
        ReaderExit::Drained
    }

    /// What the follower noticed between two entries.
    fn file_notice(&self, state: &ContainerState, notice: NoticeKind) {
        let (log, stats) = (&self.shared.log, &state.tracked.stats);
        match notice {
            NoticeKind::Gap { after_ts, before_ts, .. } => {
                let before_ns = before_ts.unwrap_or_else(unix_now_ns);
                let after_ns = after_ts.unwrap_or(before_ns).min(before_ns);
                LogGap { meta: &state.meta, after_ns, before_ns }.emit(log, stats);
            }
            NoticeKind::Truncated { after_ts, .. } => {
                let before_ns = unix_now_ns();
                LogGap { meta: &state.meta, after_ns: after_ts.unwrap_or(before_ns), before_ns }.emit(log, stats);
            }
            NoticeKind::Corrupt { file, offset, reason } => {
                FileLineSkipped { meta: &state.meta, file: &file, offset, reason: &reason }.emit(log, stats);
            }
            NoticeKind::Rotated { .. } => {}
        }
    }

    /// The file holds both streams; only those configured are read (a TTY
    /// container's one stream always).
    fn wants(&self, entry: &Entry) -> bool {
        let streams = self.shared.config.streams;
        match entry.stream {
            Stream::Stdout => streams.stdout,
            Stream::Stderr => streams.stderr,
            Stream::Console => true,
        }
    }

    /// The chain of a file, with the configuration's merging and limit.
    fn file_chain_options(&self, format: Format) -> ChainOptions {
        let config = &self.shared.config;
        file_chain_options(format, config.auto_partial_merge, config.max_line_bytes)
    }
}

/// The chain of a file: its pieces are the format's, and no line is ever
/// sent twice.
fn file_chain_options(format: Format, merge: bool, max_line_bytes: usize) -> ChainOptions {
    let pieces = match format {
        // A json-file piece is 16 KiB; only the last of output left
        // without a newline is shorter.
        Format::JsonFile => PieceRule::NewlineOrShorterThan(PIECE_BYTES),
        // A `P` piece is whatever one read of conmon's pipe held after its
        // last newline: any size (2 and 41 bytes in tests/fixtures/logfile/
        // k8s-burst.log), so only the `F` line's newline ends a line.
        Format::K8sFile => PieceRule::Newline,
    };
    ChainOptions {
        merge,
        max_line_bytes,
        pieces,
        // json-file stamps every piece with its line's stamp; conmon
        // stamps each piece when it reads it.
        pieces_share_stamp: format == Format::JsonFile,
        resends_last_line: false,
    }
}

/// Sleeps until `at`, or for ever without one.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// Resolves with true once a `die` event names `id`; with false when
/// events were missed (the caller asks the daemon).
async fn died_event(died: &mut broadcast::Receiver<String>, id: &str) -> bool {
    loop {
        match died.recv().await {
            Ok(dead) if dead == id => return true,
            Ok(_) => {}
            Err(RecvError::Lagged(_)) => return false,
            Err(RecvError::Closed) => std::future::pending::<()>().await,
        }
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;
    use crate::chain::Line;
    use crate::logfile::{k8s_file, stamp::Stamps};
    use crate::position::Position;

    /// The lines of a k8s-file as the file source's chain makes them.
    fn k8s_lines(file: &[u8]) -> Vec<Line> {
        let file = Bytes::copy_from_slice(file);
        let mut chain = LineChain::new(file_chain_options(Format::K8sFile, true, 1 << 20));
        let (mut position, mut stamps, mut lines) = (Position::starting_at(0), Stamps::default(), Vec::new());
        let mut start = 0;
        while let Some(len) = memchr::memchr(b'\n', &file[start..]) {
            let entry = k8s_file::parse_line(&file.slice(start..start + len + 1), &mut stamps).unwrap();
            chain.push(&mut position, entry, &mut lines);
            start += len + 1;
        }
        lines
    }

    #[test]
    fn short_k8s_file_pieces_are_joined_up_to_their_full_line() {
        // Recorded from conmon 2.1.6 in a burst (tests/fixtures/logfile/
        // README.md): one read of each pipe ended inside a line, leaving
        // `P` pieces of 41 (stdout) and 2 (stderr) bytes, their `F` rest
        // 184 and 79 lines further on.
        let file = include_bytes!(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/logfile/k8s-burst.log"));
        let lines = k8s_lines(file);
        for (stream, first, last, text) in [
            (Stream::Stdout, 311, 399, "0123456789abcdefghijklmnopqrstuvwxyz0123456789"),
            (Stream::Stderr, 178, 367, "0123456789abcdefghijklmnopqrstuvwxyz"),
        ] {
            let prefix = if stream == Stream::Stdout { "burst" } else { "err" };
            let got: Vec<String> = lines
                .iter()
                .filter(|l| l.stream == stream)
                .map(|l| String::from_utf8_lossy(&l.message).into_owned())
                .collect();
            let want: Vec<String> = (first..=last).map(|n| format!("{prefix}-{n}-{text}")).collect();
            let wrong: Vec<&String> = got.iter().filter(|l| !want.contains(l)).collect();
            assert!(got == want, "{stream:?}: {} lines for {}, not written: {wrong:?}", got.len(), want.len());
            assert!(lines.iter().all(|l| l.flags == 0), "a line flagged partial");
        }
    }
}
