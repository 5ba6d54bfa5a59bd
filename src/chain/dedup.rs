//! De-duplication against the position: a reopened stream replays what was
//! already passed, and a 20.10 daemon may re-send a line within one stream;
//! only entries past the stream's watermark go on. A log file read in its
//! own order is judged against the marks as they were when its reading
//! began, or not at all after a cursor: that also delivers the lines a host
//! clock stepped back stamps before lines already read (#12), which a
//! comparison of stamps takes for replays.

use bytes::Bytes;

use super::PieceRule;
use crate::frame::{Entry, Stream};
use crate::position::{Position, Watermark};

const SECOND_NS: i64 = 1_000_000_000;

/// What an entry is judged a replay (already passed) against.
#[derive(Debug, Clone, Copy)]
enum Replays {
    /// The position's marks as they are: a daemon's stream, replaying a
    /// window from `since` (a connection's entries only move the marks
    /// past what is before them).
    Marks,
    /// The marks when the reading began: a log file read in its own order
    /// from a start point. The marks move on while it is read, and one
    /// stream's lifts another's (`Assembler::lift_others`); an entry after
    /// them in the file is no replay however it is stamped.
    AtStart([Watermark; 3]),
    /// None: the reading resumed just after the last entry passed.
    Nothing,
}

/// Per-connection duplicate filter: counts entries per stream at the same
/// timestamp to compare them with the watermark's count.
#[derive(Debug)]
pub struct Dedup {
    seen: [(i64, u32); 3],
    /// The last entry of each stream that ended a line.
    last_complete: [Option<(i64, Bytes)>; 3],
    /// Whether `check_entry` drops a re-sent last line (see there), and
    /// what ends a line.
    resend_rule: bool,
    pieces: PieceRule,
    replays: Replays,
    /// Per stream: the whole second of the last entry and how many of the
    /// stream's entries came in it (see `check`).
    in_second: [(i64, u32); 3],
}

impl Default for Dedup {
    fn default() -> Dedup {
        Dedup::new(true, PieceRule::default())
    }
}

impl Dedup {
    /// With `resend_rule`, an entry repeating the line just ended on its
    /// stream, stamp and bytes, is a re-send (see `check_entry`).
    pub fn new(resend_rule: bool, pieces: PieceRule) -> Dedup {
        Dedup {
            seen: [(0, 0); 3],
            last_complete: [None, None, None],
            resend_rule,
            pieces,
            replays: Replays::Marks,
            in_second: [(0, 0); 3],
        }
    }

    /// Reading resumes just after the last entry passed (a file cursor):
    /// nothing that follows is a replay, and entries are counted on from
    /// the position's marks (the next entry stamped like a mark is the one
    /// after the `count` passed there). Counting from 1 took it for one
    /// passed: conmon stamps a whole read of its pipe with one stamp, so a
    /// cursor often lands among equal stamps.
    pub fn count_on_from(&mut self, position: &Position) {
        for (seen, mark) in self.seen.iter_mut().zip(position.marks) {
            *seen = (mark.ts_ns, mark.count);
        }
        self.replays = Replays::Nothing;
    }

    /// A log file read in its own order from a start point: an entry is a
    /// replay if `position` has passed it now, at the start.
    pub fn replaying(&mut self, position: &Position) {
        self.replays = Replays::AtStart(position.marks);
    }

    /// Returns the entry's index (from 1) among this stream's entries at its
    /// timestamp on this connection, and whether it is new (not yet passed).
    #[inline]
    pub fn check(&mut self, position: &Position, stream: Stream, ts_ns: i64) -> (u32, bool) {
        let i = stream.index();
        let seen = &mut self.seen[i];
        if seen.0 != ts_ns {
            *seen = (ts_ns, 0);
        }
        seen.1 += 1;
        let k = seen.1;
        let mark = match &self.replays {
            Replays::Marks => position.marks[i],
            // The marks stay as they were: only a mark on a whole second
            // needs the count within a second.
            Replays::AtStart(marks) if marks[i].ts_ns % SECOND_NS == 0 => {
                let mark = marks[i];
                let (second, nth) = self.count_in_second(i, ts_ns);
                return (k, second > mark.ts_ns || (second == mark.ts_ns && nth > mark.count));
            }
            Replays::AtStart(marks) => marks[i],
            Replays::Nothing => return (k, true),
        };
        let new = ts_ns > mark.ts_ns || (ts_ns == mark.ts_ns && k > mark.count);
        (k, new)
    }

    /// Counts the entry among its stream's entries in its whole second.
    /// A mark stamped in whole seconds (Podman's API) counts a stream's
    /// entries of that second, which a file read from before it counts
    /// alike: its entries are in time order, so the `count` first of that
    /// second are the ones passed (with a mark read from a file instead,
    /// the entries stamped exactly on the second are that second's first).
    #[inline]
    fn count_in_second(&mut self, i: usize, ts_ns: i64) -> (i64, u32) {
        let second = ts_ns - ts_ns.rem_euclid(SECOND_NS);
        let slot = &mut self.in_second[i];
        if slot.0 != second {
            *slot = (second, 0);
        }
        slot.1 += 1;
        *slot
    }

    /// Like `check`, and also drops an entry that repeats, stamp and bytes,
    /// the line-ending entry just before it on its stream: a 20.10 daemon
    /// re-sends the last line of a json-file log that rotates under a follow
    /// stream. (Entries sharing a stamp are otherwise the pieces of one long
    /// line, or distinct lines on a coarse clock, which differ in bytes.)
    #[inline]
    pub fn check_entry(&mut self, position: &Position, entry: &Entry) -> (u32, bool) {
        if !self.resend_rule {
            return self.check(position, entry.stream, entry.ts_ns);
        }
        let i = entry.stream.index();
        if let Some((ts, payload)) = &self.last_complete[i] {
            if *ts == entry.ts_ns && *payload == entry.payload {
                return (self.seen[i].1, false);
            }
        }
        let result = self.check(position, entry.stream, entry.ts_ns);
        self.last_complete[i] =
            if self.pieces.ends_line(&entry.payload) { Some((entry.ts_ns, entry.payload.clone())) } else { None };
        result
    }
}
