//! An event: one or more consecutive lines of one stream, joined.

use bytes::{Bytes, BytesMut};

use crate::chain::Line;
use crate::frame::Stream;
use crate::position::Watermark;
use crate::record::flags;

/// What the grouper hands on: one record for the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub stream: Stream,
    /// The first line's timestamp: the event's own.
    pub ts_ns: i64,
    /// The position of the last line: once this event is delivered, the
    /// stream's watermark may advance here (never past a line held in an
    /// event not yet emitted).
    pub mark: Watermark,
    /// The lines joined with `\n`, at most the grouper's `max_bytes`.
    pub message: Bytes,
    /// `TRUNCATED` when the event was cut at `max_bytes` (its later lines
    /// then dropped) or a line was cut before; `PARTIAL` when a line was.
    pub flags: u32,
    /// How many lines it holds, dropped ones included.
    pub lines: u32,
}

/// An event being built: its first line is kept as it came (no copy) until
/// a second one joins.
#[derive(Debug)]
pub(super) struct Building {
    pub stream: Stream,
    pub ts_ns: i64,
    /// The stream's watermark just before its first line: as far as a
    /// position may go while this event is held.
    pub before: Watermark,
    pub mark: Watermark,
    first: Bytes,
    /// The joined text once a second line came; empty before.
    joined: BytesMut,
    pub flags: u32,
    pub lines: u32,
    /// The event reached `max_bytes`: further lines are counted, not kept.
    cut: bool,
}

impl Building {
    pub fn new(line: Line, max_bytes: usize) -> Building {
        let mut first = line.message;
        let mut flags = line.flags;
        let mut cut = false;
        if first.len() > max_bytes {
            first.truncate(char_boundary(&first, max_bytes));
            flags |= flags::TRUNCATED;
            cut = true;
        }
        Building {
            stream: line.stream,
            ts_ns: line.ts_ns,
            before: Watermark { ts_ns: line.ts_ns, count: line.first_count.saturating_sub(1) },
            mark: Watermark { ts_ns: line.ts_ns, count: line.count },
            first,
            joined: BytesMut::new(),
            flags,
            lines: 1,
            cut,
        }
    }

    pub fn len(&self) -> usize {
        if self.joined.is_empty() {
            self.first.len()
        } else {
            self.joined.len()
        }
    }

    /// Joins `line`: as much of it as fits in `max_bytes`, cut on a UTF-8
    /// boundary; past that, the line only moves the mark.
    pub fn append(&mut self, line: &Line, max_bytes: usize) {
        self.mark = Watermark { ts_ns: line.ts_ns, count: line.count };
        self.flags |= line.flags;
        self.lines += 1;
        if self.cut {
            return;
        }
        let room = max_bytes.saturating_sub(self.len());
        let keep = if line.message.len() < room {
            line.message.len()
        } else {
            self.cut = true;
            self.flags |= flags::TRUNCATED;
            // What fits after the "\n"; nothing at all when not one
            // character of the line does.
            match char_boundary(&line.message, room.saturating_sub(1)) {
                0 => return,
                n => n,
            }
        };
        if self.joined.is_empty() {
            self.joined.reserve(self.first.len() + 1 + keep);
            self.joined.extend_from_slice(&self.first);
        }
        self.joined.extend_from_slice(b"\n");
        self.joined.extend_from_slice(&line.message[..keep]);
    }

    pub fn finish(self) -> Event {
        let message = if self.joined.is_empty() { self.first } else { self.joined.freeze() };
        Event { stream: self.stream, ts_ns: self.ts_ns, mark: self.mark, message, flags: self.flags, lines: self.lines }
    }
}

impl Event {
    /// A line that is an event by itself.
    #[inline]
    pub fn single(line: Line, max_bytes: usize) -> Event {
        Building::new(line, max_bytes).finish()
    }
}

/// Where to cut `bytes` to keep at most `limit` of them without splitting
/// a UTF-8 character: `limit`, moved back to the start of the character it
/// falls in (bytes that are not UTF-8 are cut at `limit`).
fn char_boundary(bytes: &[u8], limit: usize) -> usize {
    if limit >= bytes.len() {
        return bytes.len();
    }
    let is_continuation = |b: u8| b & 0xC0 == 0x80;
    let mut at = limit;
    while at > 0 && limit - at < 3 && is_continuation(bytes[at]) {
        at -= 1;
    }
    if is_continuation(bytes[at]) {
        limit
    } else {
        at
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_fall_on_character_boundaries() {
        let text = "aé€😀b".as_bytes(); // 1, 2, 3, 4, 1 bytes
        let cuts: Vec<usize> = (0..=text.len()).map(|limit| char_boundary(text, limit)).collect();
        assert_eq!(cuts, [0, 1, 1, 3, 3, 3, 6, 6, 6, 6, 10, 11]);
        for cut in cuts {
            assert!(std::str::from_utf8(&text[..cut]).is_ok());
        }
        // Not UTF-8: four continuation bytes in a row are cut where asked.
        assert_eq!(char_boundary(&[0x80, 0x80, 0x80, 0x80, 0x80, 0x80], 5), 5);
    }
}
