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

/// Conmon's pieces (k8s-file `P` lines) are 8 KiB.
const K8S_PIECE_BYTES: usize = 8192;

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
    /// Reads the open file until it is renewed, unreadable or ends.
    pub(super) async fn read_file(
        &mut self,
        state: &mut ContainerState,
        source: &mut FileSource,
        mut drain: bool,
        at_cursor: bool,
    ) -> Result<FileEnd, Cancelled> {
        let mut chain = LineChain::new(self.file_chain_options(source.format));
        if at_cursor {
            chain.resume_after_last_read(&state.position);
            state.tracked.progress.file_order_held(std::time::Instant::now());
        } else {
            self.file_order_lost(state);
        }
        let mut lines = Vec::new();
        let mut last_data = Instant::now();
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

    /// The chain of a file: its pieces are the format's, and no line is
    /// ever sent twice.
    fn file_chain_options(&self, format: Format) -> ChainOptions {
        let pieces = match format {
            Format::JsonFile => PieceRule::NewlineOrShorterThan(PIECE_BYTES),
            Format::K8sFile => PieceRule::NewlineOrShorterThan(K8S_PIECE_BYTES),
        };
        let config = &self.shared.config;
        ChainOptions {
            merge: config.auto_partial_merge,
            max_line_bytes: config.max_line_bytes,
            pieces,
            // json-file stamps every piece with its line's stamp; conmon
            // stamps each piece when it reads it.
            pieces_share_stamp: format == Format::JsonFile,
            resends_last_line: false,
        }
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
