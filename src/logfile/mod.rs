//! Reading a container's log file itself, where the host allows it
//! (issue #14): Docker's `json-file` and Podman's `k8s-file`, followed
//! across rotations without skipping anything still on disk.
//!
//! A lower module: it knows files, formats and [`crate::frame::Entry`],
//! nothing of the engine, the configuration or the C ABI. Its entries are
//! the API stream's: a complete line's payload ends in `\n`, a piece's does
//! not, so the same per-stream watermarks and the same 16 KiB / 8 KiB merge
//! apply whichever source a container is read from.
//!
//! # Formats
//!
//! - [`json_file`]: one JSON object per entry, `{"log":…,"stream":…,
//!   "time":…}`, written by moby's own marshaller.
//! - [`k8s_file`]: `<RFC 3339 ns> <stdout|stderr> <P|F> <text>`, written by
//!   conmon.
//!
//! # Rotation, as the writers do it
//!
//! Read in moby `daemon/logger/loggerutils/logfile.go` (v20.10.24 and
//! v23.0.6, unchanged in what follows through v28) and conmon
//! `src/ctr_logging.c` (2.1.6, Debian 12's, and 2.2):
//!
//! - moby, `max-size` reached before a write: delete `<live>.<max-file−1>`,
//!   rename `.i−1` → `.i` from the oldest down, rename the live file to
//!   `.1`, create the live file anew, all while writes wait. Rotated files
//!   keep their identity (device, inode) as they move down the list; the
//!   file the live name points to is always the newest.
//! - `compress=true`: afterwards a goroutine writes `.1.gz` (a new inode,
//!   its gzip header's `Extra` holding `{"lastTime":…}`, the last entry's
//!   stamp) and unlinks `.1` only once the copy is complete; the next
//!   rotation waits for it. So `.N.gz` for N ≥ 2 is always complete, and
//!   while `.1.gz` is being written `.1` is still there.
//! - `max-file=1` (the default with `max-size` alone): 20.10 still renames
//!   the live file to `.1` (replacing the previous one); 23+ unlinks it.
//! - conmon 2.1.x: a fresh `<live>.tmp` is renamed over the live file, so
//!   the old one is deleted at once; with `--log-rotate` (2.2) it keeps
//!   `.1`…`.N` like moby, uncompressed.
//! - Neither writer ever appends to a file after it left the live name,
//!   and each writes an entry in one `write`, so a reader may see a line's
//!   beginning before its end, never a line split across files.
//!
//! # Following (see [`Follower`])
//!
//! The follower holds open every file it has not finished, so nothing it
//! has seen can vanish under it. When the live name points to a new file,
//! it lists the set, finds where the newest file it holds went (by
//! identity; compressed: by the gzip header's `lastTime` and size; or by
//! the number of rotations inotify counted), and opens every file newer
//! than it, oldest first: however far behind it fell, it reads everything
//! still on disk, in order (moby's own follower skips files when two or
//! more rotations pass, ENGINES.md). Files deleted before it opened them
//! are a reported gap with the stamps either side; a rotation it cannot
//! account for (no rotation count and the file gone) is reported as an
//! uncertain gap, never guessed away.
//!
//! # Resuming
//!
//! A [`Cursor`] (identity, offset, stamp of the line ending there) resumes
//! at O(1) cost while that file is still on disk: one `stat` per member and
//! one read of the line before the offset proves it. Otherwise the file set
//! is searched for a timestamp: whole files ending before it are skipped,
//! and a binary search finds a line stamped before it, allowing for stdout
//! and stderr stamps that run out of order by up to a given slack. Reading
//! from there delivers every entry stamped at or after it; what comes
//! before is harmless to the engine's watermarks, what is missed would not
//! be, so every bound errs on the early side.

pub mod files;
pub mod follower;
pub mod json_file;
pub mod k8s_file;
mod resume;
mod rotation;
mod segment;
pub mod stamp;
pub mod watch;

use std::fmt;
use std::io;

use bytes::{Bytes, BytesMut};

use crate::frame::Entry;

pub use files::{Identity, LogDir};
pub use follower::{Batch, Cursor, FollowConfig, Follower, Notice, NoticeKind, Opened, ReadState, Start};

/// The on-disk format of a container's log file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// Docker's `json-file` driver.
    JsonFile,
    /// Podman's (conmon's) `k8s-file` driver, the CRI log format.
    K8sFile,
}

impl Format {
    pub const fn name(self) -> &'static str {
        match self {
            Format::JsonFile => "json-file",
            Format::K8sFile => "k8s-file",
        }
    }

    /// The format of a log whose first bytes are `head` (`None`: empty, or
    /// neither). The driver's name cannot tell: Podman's inspect says
    /// `json-file` for what conmon writes as k8s-file.
    pub fn of_content(head: &[u8]) -> Option<Format> {
        match head.first()? {
            b'{' => Some(Format::JsonFile),
            b'0'..=b'9' => Some(Format::K8sFile),
            _ => None,
        }
    }

    /// The format of an empty log, by its file's name: moby names its
    /// json-file `<id>-json.log`; conmon's name is Podman's choice.
    pub fn of_name(log_path: &std::path::Path) -> Format {
        match log_path.file_name() {
            Some(name) if name.as_encoded_bytes().ends_with(b"-json.log") => Format::JsonFile,
            _ => Format::K8sFile,
        }
    }

    /// The format of the log at `log_path` (beneath `root`, opened as the
    /// follower opens it): by its first bytes; by its name while it is
    /// empty. A file of neither format is refused.
    pub fn detect(root: &std::path::Path, log_path: &std::path::Path) -> Result<Format, Error> {
        use std::os::unix::fs::FileExt;
        let dir = LogDir::open(root, log_path)?;
        let (file, _) = dir.open_file(&dir.live)?;
        let mut head = [0u8; 1];
        let n = file.read_at(&mut head, 0).map_err(|e| Error::io(format!("cannot read {}", log_path.display()), e))?;
        if n == 0 {
            return Ok(Format::of_name(log_path));
        }
        Format::of_content(&head[..n]).ok_or_else(|| {
            Error::Refused(format!("{} is neither json-file nor k8s-file (first byte {:#04x})", log_path.display(), head[0]))
        })
    }
}

/// Parses the lines of one file format, keeping what consecutive lines
/// share: the block json-file payloads are unescaped into, and the last
/// stamp's converted seconds.
#[derive(Debug)]
pub struct LineParser {
    format: Format,
    arena: BytesMut,
    stamps: stamp::Stamps,
}

impl LineParser {
    pub fn new(format: Format) -> LineParser {
        LineParser { format, arena: BytesMut::new(), stamps: stamp::Stamps::default() }
    }

    pub fn format(&self) -> Format {
        self.format
    }

    /// Parses the line `lines[start..end]` (its `\n` included). A
    /// json-file payload is unescaped into the parser's block; a k8s-file
    /// one is a slice of `lines`.
    #[inline]
    pub fn parse(&mut self, lines: &Bytes, start: usize, end: usize) -> Result<Entry, String> {
        match self.format {
            Format::JsonFile => json_file::parse_line(&lines[start..end - 1], &mut self.arena, &mut self.stamps),
            Format::K8sFile => k8s_file::parse_line(&lines.slice(start..end), &mut self.stamps),
        }
    }

    /// Makes room for the payloads of `bytes` of lines in one allocation
    /// (payloads are never longer than their lines).
    pub fn reserve(&mut self, bytes: usize) {
        if self.format == Format::JsonFile && self.arena.capacity() - self.arena.len() < bytes {
            self.arena = BytesMut::with_capacity(bytes);
        }
    }

    /// Holds no memory until the next line (payloads keep what they use).
    pub fn release(&mut self) {
        self.arena = BytesMut::new();
    }
}

/// Why a log file cannot be read.
#[derive(Debug)]
pub enum Error {
    /// The path is not one this module may open: outside the data root, a
    /// symlink on the way, or not a regular file.
    Refused(String),
    /// A system call failed.
    Io { what: String, source: io::Error },
}

impl Error {
    pub fn io(what: String, source: io::Error) -> Error {
        Error::Io { what, source }
    }

    /// A short, stable name for metrics and stats.
    pub fn kind(&self) -> &'static str {
        match self {
            Error::Refused(_) => "refused",
            Error::Io { source, .. } if source.kind() == io::ErrorKind::NotFound => "not_found",
            Error::Io { source, .. } if source.kind() == io::ErrorKind::PermissionDenied => "permission_denied",
            Error::Io { .. } => "io",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Refused(why) => write!(f, "refused to read log file: {why}"),
            Error::Io { what, source } => write!(f, "{what}: {source}"),
        }
    }
}

impl std::error::Error for Error {}

#[cfg(test)]
mod tests;
