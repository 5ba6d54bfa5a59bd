//! Where a follower starts: at a saved cursor (O(1) while its file is on
//! disk), at a timestamp (whole files skipped by their last stamp, then a
//! binary search), or at the end.

use std::fs::File;
use std::io;

use bytes::BytesMut;

use super::files::{LogDir, Member};
use super::follower::{Cursor, FollowConfig, Follower, Opened, Start};
use super::rotation::{entry_of, last_stamp, open_member, stamp, Snapshot};
use super::segment::{gz_first_line, line_before, line_from, Segment};
use super::watch::Watch;
use super::{Error, Format};
use crate::frame::Stream;

/// A binary search stops when the span left is this short and reads it.
const SEARCH_SPAN: u64 = 64 * 1024;

/// Where in the snapshot reading starts: the member's position in the
/// list, the offset in it, and what that means.
struct StartPoint {
    member: usize,
    offset: u64,
    opened: Opened,
}

impl Follower {
    /// Opens the log of `config` for reading from `start`.
    pub fn open(config: &FollowConfig, start: Start) -> Result<(Follower, Opened), Error> {
        let dir = LogDir::open(&config.root, &config.log_path)?;
        let mut watch = if config.inotify {
            Watch::new(&dir.proc_path(), &dir.live, config.poll_interval)
        } else {
            Watch::polling(&dir.live, config.poll_interval)
        };
        let mut tries = 0;
        let (snapshot, point, files) = loop {
            let snapshot = Snapshot::take(&dir, &mut watch)?;
            if snapshot.member(0).is_none() {
                // Not a regular file, or not there: say which.
                dir.open_file(&dir.live)?;
                let e = io::Error::from(io::ErrorKind::NotFound);
                return Err(Error::io(format!("cannot open {}", dir.live_path().display()), e));
            }
            let point = start_point(&dir, config, &snapshot, start)?;
            if let Some(files) = open_from(&dir, &snapshot.members, &point)? {
                break (snapshot, point, files);
            }
            tries += 1;
            if tries == 5 {
                let e = io::Error::from(io::ErrorKind::Interrupted);
                return Err(Error::io(format!("the files of {} kept moving", dir.live_path().display()), e));
            }
        };
        let since_ns = match (start, point.opened) {
            // Everything after the cursor is new, however it is stamped
            // (the other stream's entries may be stamped later).
            (_, Opened::AtCursor) | (Start::End, _) => i64::MIN,
            (Start::Since(ts) | Start::Cursor { since_ns: ts, .. }, _) => ts,
        };
        let (current, rest) = files;
        let mut follower = Follower::new(dir, config, watch, since_ns, current, rest);
        follower.tail_generation = snapshot.generation;
        Ok((follower, point.opened))
    }
}

/// Opens the members from the start point on: the first, and the rest.
/// `None` if one moved.
fn open_from(dir: &LogDir, members: &[Member], point: &StartPoint) -> Result<Option<(Segment, Vec<Segment>)>, Error> {
    let Some(current) = open_member(dir, &members[point.member], point.offset)? else { return Ok(None) };
    let mut rest = Vec::new();
    for member in &members[point.member + 1..] {
        match open_member(dir, member, 0)? {
            Some(segment) => rest.push(segment),
            None => return Ok(None),
        }
    }
    Ok(Some((current, rest)))
}

fn start_point(dir: &LogDir, config: &FollowConfig, snapshot: &Snapshot, start: Start) -> Result<StartPoint, Error> {
    let members = &snapshot.members;
    match start {
        Start::End => {
            let live = members.len() - 1;
            let (file, meta) = dir.open_file(&members[live].name)?;
            let offset = line_end_before(&file, meta.size).map_err(|e| read_error(dir, &members[live], e))?;
            Ok(StartPoint { member: live, offset, opened: Opened::AtEnd })
        }
        Start::Cursor { cursor, since_ns } => match at_cursor(dir, config.format, members, cursor) {
            Some(member) => Ok(StartPoint { member, offset: cursor.offset, opened: Opened::AtCursor }),
            None => since_point(dir, config, members, since_ns),
        },
        Start::Since(since_ns) => since_point(dir, config, members, since_ns),
    }
}

/// The member the cursor points into, if it is a plain file still holding
/// the line the cursor names just before its offset.
fn at_cursor(dir: &LogDir, format: Format, members: &[Member], cursor: Cursor) -> Option<usize> {
    let i = members.iter().position(|m| !m.compressed && m.meta.identity == cursor.file)?;
    if cursor.offset == 0 || cursor.offset > members[i].meta.size {
        return None;
    }
    let (file, _) = dir.open_file(&members[i].name).ok()?;
    let line = line_before(&file, cursor.offset, &mut BytesMut::new()).ok()??;
    (stamp(format, &line) == Some(cursor.last_ts_ns)).then_some(i)
}

/// The start for `since_ns`: past every rotated file whose last entry is
/// stamped before it by more than the slack, then, in a plain file, at a
/// line stamped so.
fn since_point(dir: &LogDir, config: &FollowConfig, members: &[Member], since_ns: i64) -> Result<StartPoint, Error> {
    let key = since_ns.saturating_sub(config.order_slack_ns);
    let live = members.len() - 1;
    let mut skipped_ts = None;
    let mut first = 0;
    if since_ns != i64::MIN {
        while first < live {
            match last_stamp(dir, &members[first], config.format) {
                Some(ts) if ts < key => skipped_ts = Some(ts),
                _ => break,
            }
            first += 1;
        }
    }
    let member = &members[first];
    let (file, meta) = dir.open_file(&member.name)?;
    let (offset, line) = if member.compressed {
        let line = gz_first_line(&file).map_err(|e| read_error(dir, member, e))?;
        (0, line.and_then(|l| entry_of(config.format, &l)).map(|e| (e.stream, e.ts_ns)))
    } else {
        search(&file, meta.size, key, config.format).map_err(|e| read_error(dir, member, e))?
    };
    let opened = match (offset, skipped_ts, line) {
        (0, Some(ts), _) => Opened::After { ts_ns: ts },
        (0, None, first) => Opened::Oldest { first },
        // The search only moves to lines that parsed, stamped before `key`.
        (_, _, line) => Opened::After { ts_ns: line.map_or(key, |(_, ts)| ts) },
    };
    Ok(StartPoint { member: first, offset, opened })
}

/// Binary search in a plain file for a line stamped before `key`, as late
/// as cheaply found: every line before it is stamped before `key + slack`.
/// Returns its offset (0 if the first line is not before `key`) and the
/// line's stream and stamp.
fn search(file: &File, size: u64, key: i64, format: Format) -> io::Result<(u64, Option<(Stream, i64)>)> {
    let mut buf = BytesMut::new();
    let parse = |line: &bytes::Bytes| entry_of(format, line).map(|e| (e.stream, e.ts_ns));
    let first = line_from(file, 0, &mut buf)?.and_then(|(_, line)| parse(&line));
    if !first.is_some_and(|(_, ts)| ts < key) {
        return Ok((0, first));
    }
    let (mut lo, mut lo_line, mut hi) = (0, first, size);
    while hi - lo > SEARCH_SPAN {
        let mid = lo + (hi - lo) / 2;
        match line_from(file, mid, &mut buf)? {
            Some((at, line)) if at < hi => match parse(&line) {
                Some(found) if found.1 < key => (lo, lo_line) = (at, Some(found)),
                _ => hi = at,
            },
            _ => hi = mid,
        }
    }
    Ok((lo, lo_line))
}

/// The offset just after the last complete line of a plain file.
fn line_end_before(file: &File, size: u64) -> io::Result<u64> {
    let mut buf = BytesMut::new();
    let mut end = size;
    while end > 0 {
        let start = end.saturating_sub(64 * 1024);
        buf.resize((end - start) as usize, 0);
        std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, start)?;
        if let Some(i) = memchr::memrchr(b'\n', &buf) {
            return Ok(start + i as u64 + 1);
        }
        end = start;
    }
    Ok(0)
}

fn read_error(dir: &LogDir, member: &Member, e: io::Error) -> Error {
    Error::io(format!("cannot read {}", dir.path.join(&member.name).display()), e)
}
