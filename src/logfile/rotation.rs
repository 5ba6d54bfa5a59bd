//! Following the live file into its rotations.
//!
//! The newest file the follower holds (the "tail") was the live file when
//! it was opened. When the live name points elsewhere, the tail is final
//! (the writers never append to a file once it left the live name) and the
//! files that came after it are found in a snapshot of the set:
//!
//! 1. the tail itself, by identity, at `.k`: its successors are `.k−1` …
//!    `.1` and the live file;
//! 2. or, compressed, the `.k.gz` whose header stamp and size are the
//!    tail's last entry's and length;
//! 3. or, the tail being deleted, the rotations inotify counted since it
//!    was live: `n` rotations put it at `.n`, so `.n−1` … `.1` follow it;
//! 4. otherwise the rotation cannot be accounted for: every rotated file
//!    not ending before the tail's last entry is read, after an uncertain
//!    gap.
//!
//! Successors missing from the snapshot were deleted unread: a gap of that
//! many files. Everything found is opened at once, so it stays readable
//! however long the follower takes to reach it.

use std::io;
use std::time::Duration;

use bytes::BytesMut;

use super::files::{gz_metadata, LogDir, Member};
use super::follower::{Batch, Follower, Next, Notice, NoticeKind};
use super::segment::{line_before, Segment};
use super::watch::{Generation, Watch};
use super::{Error, Format, LineParser};

/// How often a listing caught mid-rotation is taken again (1 ms apart).
const SNAPSHOT_TRIES: u32 = 20;
/// How often pinning is tried again when a file moved between the listing
/// and its opening.
const PIN_TRIES: u32 = 5;

/// The set at one moment, and the rotation count then (if counted and no
/// rotation happened while listing).
pub(super) struct Snapshot {
    pub members: Vec<Member>,
    pub generation: Option<Generation>,
}

impl Snapshot {
    pub fn member(&self, index: u32) -> Option<&Member> {
        self.members.iter().find(|m| m.index == index)
    }

    /// Lists `dir` until the listing is one the writer left (live file
    /// present, rotated files numbered without holes, no file twice) and no
    /// rotation was counted meanwhile; after `SNAPSHOT_TRIES`, takes what
    /// it has (a removed container has no live file for good).
    pub fn take(dir: &LogDir, watch: &mut Watch) -> Result<Snapshot, Error> {
        let mut tries = 0;
        loop {
            let before = watch.generation();
            let members = dir.list()?;
            let stable = before == watch.generation();
            if (stable && settled(&members)) || tries == SNAPSHOT_TRIES {
                return Ok(Snapshot { members, generation: if stable { before } else { None } });
            }
            tries += 1;
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

fn settled(members: &[Member]) -> bool {
    let live = members.last().is_some_and(|m| m.index == 0);
    let numbered = members.iter().rev().enumerate().all(|(i, m)| m.index == i as u32);
    let mut ids: Vec<_> = members.iter().map(|m| m.meta.identity).collect();
    ids.sort_by_key(|id| (id.dev, id.ino));
    ids.dedup();
    live && numbered && ids.len() == members.len()
}

/// Where the tail went.
enum Located {
    /// At `.k`, found by identity or compressed copy, or counted.
    At(u32),
    /// Gone, and rotations were not counted.
    Unknown,
}

impl Follower {
    /// Looks whether the live name still points to the tail; if not, holds
    /// the files after it. True if it took new files.
    pub(super) fn check_rotation(&mut self, batch: &mut Batch) -> Result<bool, Error> {
        let tail = self.tail().identity;
        let live = self.dir.stat(&self.dir.live).map_err(|e| self.stat_error(e))?;
        match live {
            Some(meta) if meta.identity == tail => return Ok(false),
            None if self.gone => return Ok(false),
            _ => {}
        }
        for _ in 0..PIN_TRIES {
            let snapshot = Snapshot::take(&self.dir, &mut self.watch)?;
            let Some(live) = snapshot.member(0) else {
                self.gone = true;
                return Ok(false);
            };
            self.gone = false;
            if live.meta.identity == tail {
                return Ok(false);
            }
            let located = self.locate_tail(&snapshot);
            let Some(files) = self.open_after(&snapshot, &located)? else { continue };
            let rotations = match located {
                Located::At(k) => Some(k as u64),
                Located::Unknown => None,
            };
            batch.notices.push(Notice { at: batch.entries.len(), kind: NoticeKind::Rotated { rotations } });
            self.next.extend(files);
            self.tail_generation = snapshot.generation;
            return Ok(true);
        }
        Err(Error::io(
            format!("the files of {} kept moving while being opened", self.dir.live_path().display()),
            io::ErrorKind::Interrupted.into(),
        ))
    }

    fn locate_tail(&self, snapshot: &Snapshot) -> Located {
        let tail = self.tail();
        let plain = snapshot.members.iter().find(|m| !m.compressed && m.meta.identity == tail.identity);
        if let Some(m) = plain {
            return Located::At(m.index);
        }
        if let Some(k) = self.find_compressed_tail(snapshot) {
            return Located::At(k);
        }
        let counted = self.tail_generation.zip(snapshot.generation).and_then(|(then, now)| then.rotations_until(now));
        match counted {
            Some(n) if n > 0 => Located::At(n.min(u32::MAX as u64) as u32),
            _ => Located::Unknown,
        }
    }

    /// The `.k.gz` holding the tail's bytes: moby stamps the header with
    /// the last entry's time, and the trailer holds the length.
    fn find_compressed_tail(&self, snapshot: &Snapshot) -> Option<u32> {
        let file = self.tail().file()?;
        let size = file.metadata().ok()?.len();
        let line = line_before(file, size, &mut BytesMut::new()).ok()??;
        let last_ts = stamp(self.format, &line)?;
        snapshot.members.iter().filter(|m| m.compressed).find_map(|m| {
            let (file, _) = self.dir.open_file(&m.name).ok()?;
            let (header_ts, isize) = gz_metadata(&file);
            (header_ts == Some(last_ts) && isize == Some(size as u32)).then_some(m.index)
        })
    }

    /// Opens the files after the tail, oldest first, with the gaps where
    /// some are missing. `None`: a file moved before it could be opened.
    fn open_after(&self, snapshot: &Snapshot, located: &Located) -> Result<Option<Vec<Next>>, Error> {
        let mut files = Vec::new();
        let mut missing = 0;
        let wanted: Vec<u32> = match located {
            Located::At(k) => (0..*k).rev().collect(),
            Located::Unknown => {
                files.push(Next::Gap { files: None, certain: false });
                self.rotated_not_before_tail(snapshot)
            }
        };
        for index in wanted {
            let Some(member) = snapshot.member(index) else {
                missing += 1;
                continue;
            };
            if missing > 0 {
                files.push(Next::Gap { files: Some(missing), certain: true });
                missing = 0;
            }
            match open_member(&self.dir, member, 0)? {
                Some(segment) => files.push(Next::File(segment)),
                None => return Ok(None),
            }
        }
        Ok(Some(files))
    }

    /// The indices (oldest first, live last) of the files that may hold
    /// entries after the tail's last: rotated files ending before it (less
    /// the slack) are older ones.
    fn rotated_not_before_tail(&self, snapshot: &Snapshot) -> Vec<u32> {
        let after = self.tail().last_ts.unwrap_or(i64::MIN);
        snapshot
            .members
            .iter()
            .filter(|m| {
                m.index == 0
                    || last_stamp(&self.dir, m, self.format)
                        .map_or(true, |ts| ts.saturating_add(self.slack_ns) >= after)
            })
            .map(|m| m.index)
            .collect()
    }

    fn stat_error(&self, e: io::Error) -> Error {
        Error::io(format!("cannot stat {}", self.dir.live_path().display()), e)
    }
}

/// Opens a member of a snapshot at `offset`; `None` if the name no longer
/// holds the file listed (it moved on: take a new snapshot).
pub(super) fn open_member(dir: &LogDir, member: &Member, offset: u64) -> Result<Option<Segment>, Error> {
    let (file, meta) = match dir.open_file(&member.name) {
        Ok(opened) => opened,
        Err(Error::Io { source, .. }) if source.kind() == io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    if meta.identity != member.meta.identity {
        return Ok(None);
    }
    let name = member.name.clone();
    Ok(Some(if member.compressed {
        Segment::gz(name, meta.identity, file)
    } else {
        Segment::plain(name, meta.identity, file, offset)
    }))
}

/// The stamp of a member's last entry: a plain file's last line, a
/// compressed one's header. `None` if unknown.
pub(super) fn last_stamp(dir: &LogDir, member: &Member, format: Format) -> Option<i64> {
    let (file, meta) = dir.open_file(&member.name).ok()?;
    if member.compressed {
        return gz_metadata(&file).0;
    }
    let line = line_before(&file, meta.size, &mut BytesMut::new()).ok()??;
    stamp(format, &line)
}

/// The stamp of a line (with its `\n`), if it parses.
pub(super) fn stamp(format: Format, line: &bytes::Bytes) -> Option<i64> {
    entry_of(format, line).map(|e| e.ts_ns)
}

/// A line (with its `\n`) as an entry, if it parses.
pub(super) fn entry_of(format: Format, line: &bytes::Bytes) -> Option<crate::frame::Entry> {
    LineParser::new(format).parse(line, 0, line.len()).ok()
}
