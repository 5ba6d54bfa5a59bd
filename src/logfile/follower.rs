//! A blocking follower of one container's log files: bounded reads of
//! complete lines, rotations followed without skipping what is on disk.
//!
//! The calls are plain blocking ones, each bounded: [`Follower::read_batch`]
//! reads at most about `max_bytes` of the files and never waits for more;
//! [`Follower::wait`] waits for a change at most a given time. An engine on
//! an async runtime runs them where blocking is fine (a blocking-pool task
//! or a small thread) and may instead wait on [`Follower::watch_fd`] itself.
//! Opening and rotation handling are in `resume.rs` and `rotation.rs`.
//!
//! ```text
//! let (mut follower, opened) = Follower::open(&config, Start::Cursor { cursor, since_ns })?;
//! loop {
//!     let batch = follower.read_batch(1 << 20)?;   // bounded, never waits
//!     // entries → the same de-duplication and merge as the API stream;
//!     // notices (at their entry index) → gaps, rotations, corrupt lines
//!     match batch.state {
//!         ReadState::More => {}
//!         ReadState::AtEnd => { follower.wait(read_timeout); }
//!         ReadState::Gone => break,
//!     }
//! }
//! ```

use std::collections::VecDeque;
use std::os::fd::RawFd;
use std::path::PathBuf;
use std::time::Duration;

use bytes::{Bytes, BytesMut};

use super::files::{Identity, LogDir};
use super::segment::{Chunk, Segment};
use super::watch::{Generation, Watch};
use super::{Error, Format, LineParser};
use crate::frame::{Entry, Stream};

/// Reads of one file are at most this long (and at least `MIN_READ`, so a
/// small budget still reads whole lines).
const READ_CHUNK: u64 = 256 * 1024;
const MIN_READ: u64 = 16 * 1024;

/// What to follow, and how.
#[derive(Debug, Clone)]
pub struct FollowConfig {
    pub format: Format,
    /// The daemon's data root (`DockerRootDir`, or Podman's storage root):
    /// no file outside it is ever opened.
    pub root: PathBuf,
    /// The container's live log file (inspect's `LogPath`).
    pub log_path: PathBuf,
    /// A TTY container: its entries are `Stream::Console`, as the API
    /// stream's are (the file says `stdout`).
    pub tty: bool,
    /// How much earlier than one entry an entry after it in the file may be
    /// stamped (stdout and stderr are stamped by different goroutines):
    /// the engine's inversion bound.
    pub order_slack_ns: i64,
    /// How often to look when inotify is unavailable.
    pub poll_interval: Duration,
    /// Use inotify when the host gives an instance (false: always poll).
    pub inotify: bool,
}

/// Where reading starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// Every entry stamped at or after `since_ns` that is still on disk
    /// (`i64::MIN`: everything on disk). Entries before it may come too.
    Since(i64),
    /// Just after a saved cursor, if its file is still there and still
    /// holds the line it names (then every entry after it comes, whatever
    /// its stamp); otherwise as `Since(since_ns)`.
    Cursor { cursor: Cursor, since_ns: i64 },
    /// Only what is written from now on.
    End,
}

/// A resume point: just after the line stamped `last_ts_ns` that ends at
/// `offset` in the file with identity `file`. Resuming checks that line
/// (identities are reused once a file is deleted); a cursor into a
/// compressed file resumes by its stamp instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cursor {
    pub file: Identity,
    pub offset: u64,
    pub last_ts_ns: i64,
}

/// How reading started.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Opened {
    /// At the saved cursor: nothing after it was lost.
    AtCursor,
    /// After an entry stamped `ts_ns`, earlier than the start by more than
    /// the slack: every entry stamped at or after the start is read.
    After { ts_ns: i64 },
    /// At the oldest entry still on disk (`None`: the log is empty). If a
    /// position passed entries before it, the daemon deleted what followed
    /// them (compare with `Position::passed_entry_gone`).
    Oldest { first: Option<(Stream, i64)> },
    /// At the end of the live file (`Start::End`).
    AtEnd,
}

/// What a batch ended on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadState {
    /// The byte budget was used: call again.
    More,
    /// Everything on disk was read: wait for a change.
    AtEnd,
    /// Everything was read and the live file is gone (the container was
    /// removed, or its log deleted).
    Gone,
}

/// Something the reader should know, between two entries.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notice {
    /// How many of the batch's entries come before it.
    pub at: usize,
    pub kind: NoticeKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NoticeKind {
    /// The live file was rotated `rotations` times (when known) since the
    /// last look.
    Rotated { rotations: Option<u64> },
    /// Files were deleted before they could be read: entries stamped
    /// between `after_ts` and `before_ts` may be lost. `files` is how many,
    /// when known; `certain` is false when the rotation could not be
    /// accounted for (then nothing may be lost at all).
    Gap { after_ts: Option<i64>, before_ts: Option<i64>, files: Option<u64>, certain: bool },
    /// The file being read became shorter than what was read of it (or was
    /// rewritten): reading starts again at its beginning; what was written
    /// between the last read and the truncation is lost.
    Truncated { file: PathBuf, after_ts: Option<i64> },
    /// A line that is not an entry of the format, skipped.
    Corrupt { file: PathBuf, offset: u64, reason: String },
}

/// What one `read_batch` read.
#[derive(Debug)]
pub struct Batch {
    pub entries: Vec<Entry>,
    pub notices: Vec<Notice>,
    /// Where to resume after every entry of this batch (and of the ones
    /// before); `None` until a line was read. Save it only once all these
    /// entries were delivered.
    pub cursor: Option<Cursor>,
    pub state: ReadState,
    /// File bytes consumed (uncompressed).
    pub bytes: u64,
}

/// What waits to be read after the current file.
pub(super) enum Next {
    File(Segment),
    /// Files deleted before they could be opened, between the files around.
    Gap {
        files: Option<u64>,
        certain: bool,
    },
}

/// Follows one container's log files.
pub struct Follower {
    pub(super) dir: LogDir,
    pub(super) format: Format,
    pub(super) tty: bool,
    pub(super) slack_ns: i64,
    /// Entries stamped before this are not delivered (a start point).
    pub(super) since_ns: i64,
    pub(super) watch: Watch,
    pub(super) parser: LineParser,
    pub(super) current: Segment,
    pub(super) next: VecDeque<Next>,
    /// The rotation count when the newest file held was the live one.
    pub(super) tail_generation: Option<Generation>,
    /// True while the live name points to nothing.
    pub(super) gone: bool,
    last_ts: Option<i64>,
    pending_gap: Option<NoticeKind>,
    cursor: Option<Cursor>,
    buf: BytesMut,
}

impl Follower {
    /// A follower reading `current`, then `rest` (the live file last).
    pub(super) fn new(
        dir: LogDir,
        config: &FollowConfig,
        watch: Watch,
        since_ns: i64,
        current: Segment,
        rest: Vec<Segment>,
    ) -> Follower {
        Follower {
            dir,
            format: config.format,
            tty: config.tty,
            slack_ns: config.order_slack_ns,
            since_ns,
            watch,
            parser: LineParser::new(config.format),
            current,
            next: rest.into_iter().map(Next::File).collect(),
            tail_generation: None,
            gone: false,
            last_ts: None,
            pending_gap: None,
            cursor: None,
            buf: BytesMut::new(),
        }
    }

    /// Reads complete lines, about `max_bytes` of them at most, from where
    /// the last call stopped; never waits for more.
    pub fn read_batch(&mut self, max_bytes: usize) -> Result<Batch, Error> {
        let mut batch =
            Batch { entries: Vec::new(), notices: Vec::new(), cursor: None, state: ReadState::More, bytes: 0 };
        // Read the pending events, so `watch_fd` is readable again only
        // after a new change.
        self.watch.drain();
        self.check_rotation(&mut batch)?;
        while batch.bytes < max_bytes as u64 {
            let limit = (max_bytes as u64 - batch.bytes).clamp(MIN_READ, READ_CHUNK) as usize;
            match self.current.next_chunk(limit, &mut self.buf) {
                Ok(Chunk::Lines(lines)) => self.parse(lines, &mut batch),
                Ok(Chunk::End { partial }) => {
                    if self.next.is_empty() {
                        if self.check_rotation(&mut batch)? {
                            continue;
                        }
                        batch.state = if self.gone { ReadState::Gone } else { ReadState::AtEnd };
                        break;
                    }
                    if partial > 0 {
                        let reason = format!("the file ends in an incomplete line of {partial} bytes");
                        self.corrupt(&mut batch, self.current.offset, reason);
                    }
                    self.advance();
                }
                Ok(Chunk::Truncated) => {
                    let kind = NoticeKind::Truncated { file: self.current_path(), after_ts: self.last_ts };
                    batch.notices.push(Notice { at: batch.entries.len(), kind });
                    (self.current.offset, self.current.last_ts) = (0, None);
                }
                Ok(Chunk::TooLong) => {
                    let reason = format!("line longer than {} bytes", super::segment::MAX_LINE_BYTES);
                    self.corrupt(&mut batch, self.current.offset, reason);
                    self.current.skip_line(&mut self.buf).map_err(|e| self.io_error(e))?;
                    // Not all written yet: the next read goes on skipping.
                }
                // A compressed file that cannot be decompressed is skipped
                // (a compressed file is never the live one: more follow).
                Err(e) if self.current.is_compressed() => {
                    self.corrupt(&mut batch, self.current.offset, format!("cannot decompress: {e}"));
                    self.advance();
                }
                Err(e) => return Err(self.io_error(e)),
            }
        }
        self.finish(&mut batch);
        Ok(batch)
    }

    /// Waits until the files changed or `timeout` passed; true: read again.
    pub fn wait(&mut self, timeout: Duration) -> bool {
        self.watch.wait(timeout)
    }

    /// The inotify descriptor, readable when the files changed (`None`:
    /// polled; wait the poll interval instead). `read_batch` reads its
    /// events, so a caller waiting on it (e.g. tokio's `AsyncFd`) clears
    /// readiness and calls `read_batch`.
    pub fn watch_fd(&self) -> Option<RawFd> {
        self.watch.fd()
    }

    /// The format read.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The live file's path.
    pub fn live_path(&self) -> PathBuf {
        self.dir.live_path()
    }

    /// The newest file held: the one that was live when last looked at.
    pub(super) fn tail(&self) -> &Segment {
        self.next
            .iter()
            .rev()
            .find_map(|n| match n {
                Next::File(segment) => Some(segment),
                Next::Gap { .. } => None,
            })
            .unwrap_or(&self.current)
    }

    /// Parses every line of `lines` (complete lines of the current file).
    fn parse(&mut self, lines: Bytes, batch: &mut Batch) {
        batch.bytes += lines.len() as u64;
        self.parser.reserve(lines.len());
        let mut start = 0;
        while let Some(len) = memchr::memchr(b'\n', &lines[start..]) {
            let end = start + len + 1;
            let parsed = self.parser.parse(&lines, start, end);
            let offset = self.current.offset;
            self.current.offset += (end - start) as u64;
            match parsed {
                Ok(entry) => self.accept(entry, batch),
                Err(reason) => self.corrupt(batch, offset, reason),
            }
            start = end;
        }
    }

    #[inline]
    fn accept(&mut self, mut entry: Entry, batch: &mut Batch) {
        if self.tty {
            entry.stream = Stream::Console;
        }
        let segment = &mut self.current;
        segment.last_ts = Some(entry.ts_ns);
        self.last_ts = Some(entry.ts_ns);
        self.cursor = Some(Cursor { file: segment.identity, offset: segment.offset, last_ts_ns: entry.ts_ns });
        if entry.ts_ns < self.since_ns {
            return;
        }
        if let Some(NoticeKind::Gap { after_ts, files, certain, .. }) = self.pending_gap.take() {
            let kind = NoticeKind::Gap { after_ts, before_ts: Some(entry.ts_ns), files, certain };
            batch.notices.push(Notice { at: batch.entries.len(), kind });
        }
        batch.entries.push(entry);
    }

    fn corrupt(&self, batch: &mut Batch, offset: u64, reason: String) {
        let kind = NoticeKind::Corrupt { file: self.current_path(), offset, reason };
        batch.notices.push(Notice { at: batch.entries.len(), kind });
    }

    /// Moves on to the next file held, through the gaps before it.
    fn advance(&mut self) {
        while let Some(next) = self.next.pop_front() {
            match next {
                Next::File(segment) => {
                    self.current = segment;
                    return;
                }
                Next::Gap { files, certain } => {
                    self.pending_gap =
                        Some(NoticeKind::Gap { after_ts: self.last_ts, before_ts: None, files, certain });
                }
            }
        }
    }

    fn finish(&mut self, batch: &mut Batch) {
        if batch.state == ReadState::Gone {
            if let Some(gap) = self.pending_gap.take() {
                batch.notices.push(Notice { at: batch.entries.len(), kind: gap });
            }
        }
        if batch.state != ReadState::More {
            // Idle: hold no buffer (payloads keep what they use).
            self.buf = BytesMut::new();
            self.parser.release();
        }
        batch.cursor = self.cursor;
    }

    fn current_path(&self) -> PathBuf {
        self.dir.path.join(&self.current.name)
    }

    fn io_error(&self, e: std::io::Error) -> Error {
        Error::io(format!("cannot read {}", self.current_path().display()), e)
    }
}

#[cfg(test)]
mod tests {
    /// An engine moves a follower into a blocking task and back.
    #[test]
    fn a_follower_can_move_between_threads() {
        fn send<T: Send>() {}
        send::<super::Follower>();
        send::<super::Batch>();
    }
}
