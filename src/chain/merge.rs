//! Partial-line merging: the daemon splits long output into pieces
//! (Docker: 16 KiB, all with the line's stamp; Podman: wherever a read of
//! its pipe ended, each with its own); they are joined back into lines per
//! stream, cut at `max_line_bytes` on a UTF-8 boundary, and the position
//! advances past every entry that became a line or was skipped.

use bytes::{Bytes, BytesMut};

use super::PieceRule;
use crate::frame::{Entry, Stream};
use crate::position::{Position, Watermark, INVERSION_BOUND_NS};
use crate::record::flags;

/// A line ready for the queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Line {
    pub stream: Stream,
    /// Its last piece's stamp (the line's stamp where pieces share one):
    /// with `count`, the watermark that passes it.
    pub ts_ns: i64,
    /// The stream's watermark count once this line is passed: how many
    /// entries stamped `ts_ns` it and the lines before it took.
    pub count: u32,
    /// The count of its first entry (its pieces are counted from here to
    /// `count`): the stream's watermark just before this line is
    /// `(ts_ns, first_count − 1)`.
    pub first_count: u32,
    pub message: Bytes,
    pub flags: u32,
}

/// A line whose end has not come yet.
struct Pending {
    /// The first piece's stamp.
    ts_ns: i64,
    buf: BytesMut,
    /// The last piece's stamp and index among its stamp's entries.
    last_ts: i64,
    first_k: u32,
    last_k: u32,
    truncated: bool,
}

/// Merges pieces back into lines (per stream).
pub struct Assembler {
    merge: bool,
    max_line_bytes: usize,
    pieces: PieceRule,
    share_stamp: bool,
    pending: [Option<Pending>; 3],
}

impl Assembler {
    /// With `merge` off, every piece is its own line (flagged partial).
    pub fn new(merge: bool, max_line_bytes: usize) -> Assembler {
        Assembler {
            merge,
            max_line_bytes,
            pieces: PieceRule::default(),
            share_stamp: true,
            pending: [None, None, None],
        }
    }

    /// What ends a line on this daemon, and whether a line's pieces share
    /// its stamp (else a new stamp goes on with the line held).
    pub fn with_pieces(mut self, pieces: PieceRule, share_stamp: bool) -> Assembler {
        self.pieces = pieces;
        self.share_stamp = share_stamp;
        self
    }

    /// Takes one new entry (`k` from `Dedup::check`).
    pub fn accept(&mut self, position: &mut Position, entry: Entry, k: u32, out: &mut Vec<Line>) {
        let i = entry.stream.index();
        self.accept_piece(position, entry, k, out);
        position.unfinished[i] = self.pending[i].as_ref().map(|p| p.ts_ns);
    }

    fn accept_piece(&mut self, position: &mut Position, entry: Entry, k: u32, out: &mut Vec<Line>) {
        let i = entry.stream.index();
        let complete = self.pieces.ends_line(&entry.payload);
        if self.skip_discarded(position, &entry, k, complete) || self.held_already(position, &entry, k, out) {
            return;
        }
        if !self.merge {
            return self.pass_piece(position, entry, k, complete, out);
        }
        match self.pending[i].as_mut() {
            None if complete && entry.payload.len() <= self.max_line_bytes => {
                // The common case: a whole line in one entry, no copy.
                position.advance(i, entry.ts_ns, k);
                let message = strip_newline(entry.stream, entry.payload);
                out.push(Line {
                    stream: entry.stream,
                    ts_ns: entry.ts_ns,
                    count: k,
                    first_count: k,
                    message,
                    flags: 0,
                });
            }
            None => {
                let (ts_ns, buf) = (entry.ts_ns, BytesMut::new());
                self.pending[i] = Some(Pending { ts_ns, buf, last_ts: ts_ns, first_k: k, last_k: k, truncated: false });
                self.append(position, entry, complete, out);
            }
            Some(p) => {
                (p.last_ts, p.last_k) = (entry.ts_ns, k);
                self.append(position, entry, complete, out);
            }
        }
    }

    /// The rest of a line already cut and delivered is skipped (and
    /// passed). True when `entry` was such a piece.
    fn skip_discarded(&mut self, position: &mut Position, entry: &Entry, k: u32, complete: bool) -> bool {
        let i = entry.stream.index();
        let Some(ts) = position.discarding[i] else {
            return false;
        };
        // Pieces of their own stamps: only a line's end ends the skipping.
        if self.share_stamp && ts != entry.ts_ns {
            position.discarding[i] = None;
            return false;
        }
        position.advance(i, entry.ts_ns, k);
        if complete {
            position.discarding[i] = None;
        }
        true
    }

    /// Checks `entry` against the line held for its stream: a piece
    /// re-sent (a rewinding stream) is dropped (true). Where pieces share
    /// their line's stamp, a new stamp means the held line never got its
    /// end, and it is delivered as it is; elsewhere it is the line's next
    /// piece.
    fn held_already(&mut self, position: &mut Position, entry: &Entry, k: u32, out: &mut Vec<Line>) -> bool {
        let i = entry.stream.index();
        let Some(p) = &self.pending[i] else {
            return false;
        };
        if !self.share_stamp {
            return (entry.ts_ns, k) <= (p.last_ts, p.last_k);
        }
        if p.ts_ns == entry.ts_ns {
            return k <= p.last_k;
        }
        let p = self.pending[i].take().expect("checked above");
        self.emit(position, entry.stream, p, flags::PARTIAL, out);
        false
    }

    /// Merging off: the piece is a line of its own.
    fn pass_piece(&mut self, position: &mut Position, entry: Entry, k: u32, complete: bool, out: &mut Vec<Line>) {
        let mut message = entry.payload;
        let mut flag = if complete { 0 } else { flags::PARTIAL };
        if message.len() > self.max_line_bytes {
            message.truncate(self.max_line_bytes);
            message.truncate(utf8_complete_len(&message));
            flag |= flags::TRUNCATED;
        }
        position.advance(entry.stream.index(), entry.ts_ns, k);
        let message = strip_newline(entry.stream, message);
        out.push(Line { stream: entry.stream, ts_ns: entry.ts_ns, count: k, first_count: k, message, flags: flag });
    }

    /// Adds a piece to its stream's pending line; delivers the line when it
    /// is complete or full (then its remaining pieces are skipped).
    fn append(&mut self, position: &mut Position, entry: Entry, complete: bool, out: &mut Vec<Line>) {
        let i = entry.stream.index();
        let p = self.pending[i].as_mut().expect("a pending line");
        let room = self.max_line_bytes - p.buf.len();
        if entry.payload.len() > room {
            // Keep what fits, cut on a character boundary, deliver now and
            // skip the line's remaining pieces.
            p.buf.extend_from_slice(&entry.payload[..room]);
            let whole = utf8_complete_len(&p.buf);
            p.buf.truncate(whole);
            p.truncated = true;
            let p = self.pending[i].take().expect("a pending line");
            let ts = p.ts_ns;
            self.emit(position, entry.stream, p, flags::TRUNCATED, out);
            if !complete {
                position.discarding[i] = Some(ts);
            }
            return;
        }
        p.buf.extend_from_slice(&entry.payload);
        if complete {
            let p = self.pending[i].take().expect("a pending line");
            self.emit(position, entry.stream, p, 0, out);
        }
    }

    /// Having read an entry of `stream` stamped `ts_ns`, the other streams
    /// can have nothing undelivered before `ts_ns − INVERSION_BOUND_NS`
    /// earlier in the log: lift their watermarks there (count 0), so a
    /// silent stream does not hold every reopen back at its last line (or at
    /// the beginning). Never past a line still being assembled (here, or
    /// on the connection before: its first piece is still to come again).
    #[inline]
    pub fn lift_others(&self, position: &mut Position, stream: Stream, ts_ns: i64) {
        let floor = ts_ns - INVERSION_BOUND_NS;
        for other in Stream::ALL {
            if other == stream {
                continue;
            }
            let i = other.index();
            // A line begun on an earlier connection counts until it is read
            // again (its stamp is the same as a pending one's).
            let limit = position.unfinished[i].map_or(floor, |u| u.min(floor));
            if position.marks[i].ts_ns < limit {
                position.marks[i] = Watermark { ts_ns: limit, count: 0 };
                position.anchored[i] = true;
            }
        }
    }

    /// The stream is over for good (the container stopped): deliver any
    /// line still waiting for its end.
    pub fn finish(&mut self, position: &mut Position, out: &mut Vec<Line>) {
        for stream in Stream::ALL {
            if let Some(p) = self.pending[stream.index()].take() {
                self.emit(position, stream, p, flags::PARTIAL, out);
            }
            position.unfinished[stream.index()] = None;
        }
    }

    fn emit(&mut self, position: &mut Position, stream: Stream, p: Pending, flag: u32, out: &mut Vec<Line>) {
        position.advance(stream.index(), p.last_ts, p.last_k);
        let flag = if p.truncated { flags::TRUNCATED } else { flag };
        let message = strip_newline(stream, p.buf.freeze());
        // Pieces with stamps of their own (Podman) straddling a second: the
        // watermark before the line is not expressible at `last_ts`; counted
        // from the first entry there.
        let first_count = if p.ts_ns == p.last_ts { p.first_k } else { 1 };
        out.push(Line { stream, ts_ns: p.last_ts, count: p.last_k, first_count, message, flags: flag });
    }
}

#[inline]
fn strip_newline(stream: Stream, mut message: Bytes) -> Bytes {
    if message.last() == Some(&b'\n') {
        message.truncate(message.len() - 1);
        if stream == Stream::Console && message.last() == Some(&b'\r') {
            message.truncate(message.len() - 1);
        }
    }
    message
}

/// The length of `bytes` without a trailing, incomplete UTF-8 character
/// (bytes that are not UTF-8 at all are left as they are).
fn utf8_complete_len(bytes: &[u8]) -> usize {
    let len = bytes.len();
    for back in 1..=len.min(4) {
        let b = bytes[len - back];
        if b & 0xC0 == 0x80 {
            continue; // a continuation byte: keep looking for the lead
        }
        let width = match b {
            0x00..=0x7F => 1,
            0xC0..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF7 => 4,
            _ => return len,
        };
        return if back < width { len - back } else { len };
    }
    len
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::chain::Dedup;
    use crate::frame::PIECE_BYTES;

    fn entry(stream: Stream, ts: i64, payload: &[u8]) -> Entry {
        Entry { stream, ts_ns: ts, payload: Bytes::copy_from_slice(payload) }
    }

    fn feed(asm: &mut Assembler, pos: &mut Position, dedup: &mut Dedup, entries: Vec<Entry>) -> Vec<Line> {
        let mut out = Vec::new();
        for e in entries {
            let (k, new) = dedup.check(pos, e.stream, e.ts_ns);
            if new {
                asm.accept(pos, e, k, &mut out);
            }
        }
        out
    }

    #[test]
    fn watermark_drops_exactly_what_was_delivered() {
        let mut pos = Position::starting_at(0);
        let mut asm = Assembler::new(true, 1 << 20);
        let first = vec![
            entry(Stream::Stdout, 10, b"a\n"),
            entry(Stream::Stdout, 10, b"b\n"),
            entry(Stream::Stderr, 9, b"e1\n"),
            entry(Stream::Stdout, 11, b"c\n"),
        ];
        let out = feed(&mut asm, &mut pos, &mut Dedup::default(), first.clone());
        assert_eq!(out.len(), 4);
        assert_eq!(pos.marks[0], Watermark { ts_ns: 11, count: 1 });
        assert_eq!(pos.marks[1], Watermark { ts_ns: 9, count: 1 });

        // A reopen replays the window plus new entries, one of them stamped
        // like a delivered one.
        let mut replay = first;
        replay.push(entry(Stream::Stdout, 11, b"d\n"));
        replay.push(entry(Stream::Stderr, 9, b"e2\n"));
        let out = feed(&mut asm, &mut pos, &mut Dedup::default(), replay);
        let texts: Vec<_> = out.iter().map(|l| l.message.clone()).collect();
        assert_eq!(texts, vec![Bytes::from_static(b"d"), Bytes::from_static(b"e2")]);
    }

    #[test]
    fn pieces_merge_and_cut_on_character_boundaries() {
        let mut pos = Position::starting_at(0);
        let mut asm = Assembler::new(true, 20_000);
        let piece = vec![b'x'; PIECE_BYTES];
        let mut tail = "é".repeat(3000).into_bytes(); // 6000 bytes
        tail.push(b'\n');
        let out = feed(
            &mut asm,
            &mut pos,
            &mut Dedup::default(),
            vec![
                entry(Stream::Stdout, 5, &piece),
                entry(Stream::Stdout, 5, &tail),
                entry(Stream::Stdout, 6, b"next\n"),
            ],
        );
        assert_eq!(out.len(), 2);
        assert_eq!(out[0].flags, flags::TRUNCATED);
        assert!(out[0].message.len() <= 20_000);
        assert!(std::str::from_utf8(&out[0].message[PIECE_BYTES..]).is_ok(), "cut inside a character");
        assert_eq!(&out[1].message[..], b"next");
    }

    #[test]
    fn a_merged_line_knows_the_count_of_its_first_piece() {
        // Lines on a coarse clock share a stamp: a line of two pieces after
        // a line of one, all stamped 5. Re-reading from just before the
        // second line, `(5, first_count − 1)`, gives that line whole.
        let piece = vec![b'x'; PIECE_BYTES];
        let entries = || {
            vec![
                entry(Stream::Stdout, 5, b"one\n"),
                entry(Stream::Stdout, 5, &piece),
                entry(Stream::Stdout, 5, b"end\n"),
            ]
        };
        let mut pos = Position::starting_at(0);
        let out = feed(&mut Assembler::new(true, 1 << 20), &mut pos, &mut Dedup::default(), entries());
        let counts: Vec<(u32, u32)> = out.iter().map(|l| (l.first_count, l.count)).collect();
        assert_eq!(counts, [(1, 1), (2, 3)]);
        let mut before = Position::starting_at(0);
        before.marks[0] = Watermark { ts_ns: 5, count: out[1].first_count - 1 };
        let again = feed(&mut Assembler::new(true, 1 << 20), &mut before, &mut Dedup::default(), entries());
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].message, out[1].message);
    }

    #[test]
    fn long_line_cut_skips_its_remaining_pieces_across_reopens() {
        let mut pos = Position::starting_at(0);
        let mut asm = Assembler::new(true, 16_384);
        let piece = vec![b'y'; PIECE_BYTES];
        let entries =
            vec![entry(Stream::Stdout, 7, &piece), entry(Stream::Stdout, 7, &piece), entry(Stream::Stdout, 7, &piece)];
        let out = feed(&mut asm, &mut pos, &mut Dedup::default(), entries[..2].to_vec());
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].flags, flags::TRUNCATED);
        // Reopen: all three pieces again, then the end of the line.
        let mut replay = entries;
        replay.push(entry(Stream::Stdout, 7, b"end\n"));
        replay.push(entry(Stream::Stdout, 8, b"after\n"));
        let out = feed(&mut Assembler::new(true, 16_384), &mut pos, &mut Dedup::default(), replay);
        assert_eq!(out.len(), 1);
        assert_eq!(&out[0].message[..], b"after");
    }

    #[test]
    fn unfinished_line_is_delivered_partial_at_the_end() {
        let mut pos = Position::starting_at(0);
        let mut asm = Assembler::new(true, 1 << 20);
        let piece = vec![b'z'; PIECE_BYTES];
        let mut out = feed(&mut asm, &mut pos, &mut Dedup::default(), vec![entry(Stream::Stderr, 3, &piece)]);
        assert!(out.is_empty());
        assert_eq!(pos.marks[1].count, 0, "an unfinished line is not passed");
        asm.finish(&mut pos, &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].flags, flags::PARTIAL);
        assert_eq!(pos.marks[1], Watermark { ts_ns: 3, count: 1 });
    }

    #[test]
    fn a_stream_that_rewinds_past_a_pending_line_never_moves_its_watermark_back() {
        // Found by the `assembler` fuzz target: a piece held, an older new
        // entry, then a newer one flushing the older line.
        let mut pos = Position::starting_at(1_000);
        let mut asm = Assembler::new(true, 1 << 20);
        let piece = vec![b'p'; PIECE_BYTES];
        let mut dedup = Dedup::default();
        let mut out = Vec::new();
        for ts in [1_300, 1_200, 1_500] {
            let (k, new) = dedup.check(&pos, Stream::Console, ts);
            let before = pos.marks[2];
            if new {
                asm.accept(&mut pos, entry(Stream::Console, ts, &piece), k, &mut out);
            }
            assert!((pos.marks[2].ts_ns, pos.marks[2].count) >= (before.ts_ns, before.count));
        }
    }

    #[test]
    fn incomplete_characters_are_trimmed() {
        assert_eq!(utf8_complete_len("aé".as_bytes()), 3);
        assert_eq!(utf8_complete_len(&"aé".as_bytes()[..2]), 1);
        assert_eq!(utf8_complete_len(&"a€".as_bytes()[..3]), 1);
        assert_eq!(utf8_complete_len(&[0xff, 0x80]), 2);
        assert_eq!(utf8_complete_len(b""), 0);
    }

    #[test]
    fn console_lines_lose_crlf() {
        let mut pos = Position::starting_at(0);
        let mut asm = Assembler::new(true, 1 << 20);
        let out = feed(&mut asm, &mut pos, &mut Dedup::default(), vec![entry(Stream::Console, 3, b"tty\r\n")]);
        assert_eq!(&out[0].message[..], b"tty");
    }

    #[test]
    fn silent_streams_are_lifted_but_not_past_a_pending_line() {
        let mut pos = Position::starting_at(0);
        let mut asm = Assembler::new(true, 1 << 20);
        let mut out = Vec::new();
        let t = 100 * INVERSION_BOUND_NS;
        asm.accept(&mut pos, entry(Stream::Stderr, t, &vec![b'p'; PIECE_BYTES]), 1, &mut out);
        asm.lift_others(&mut pos, Stream::Stdout, t + 10 * INVERSION_BOUND_NS);
        assert_eq!(pos.marks[1], Watermark { ts_ns: t, count: 0 }, "held back by the pending stderr line");
        assert_eq!(pos.marks[2], Watermark { ts_ns: t + 9 * INVERSION_BOUND_NS, count: 0 });
        assert_eq!(pos.marks[0], Watermark { ts_ns: 0, count: 0 }, "its own stream is not lifted");
        // Lifting never lowers a mark.
        asm.lift_others(&mut pos, Stream::Stdout, INVERSION_BOUND_NS);
        assert_eq!(pos.marks[2], Watermark { ts_ns: t + 9 * INVERSION_BOUND_NS, count: 0 });
    }
}
