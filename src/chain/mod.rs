//! How one connection's entries become lines, one stage a type:
//!
//! ```text
//! entries ──► de-duplication (vs the position) ──► partial merge ──► lines
//! ```
//!
//! Each stage advances the container's position only past what it has
//! turned into lines or skipped, so a reopen resumes exactly. The lines go
//! on to multiline grouping (`crate::multiline`), which lives per container
//! rather than per connection, since an event may span a reopen.

pub mod dedup;
pub mod merge;

pub use dedup::Dedup;
pub use merge::{Assembler, Line};

use crate::frame::{Entry, PIECE_BYTES};
use crate::position::Position;

/// What ends a line, which depends on the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceRule {
    /// A newline, or a piece shorter than this: the last piece of output
    /// that had no newline, or of a driver that drops it (Docker's `local`
    /// driver and dual-logging cache on 20.10). Docker's pieces are 16 KiB.
    NewlineOrShorterThan(usize),
    /// A newline only.
    Newline,
}

impl Default for PieceRule {
    fn default() -> PieceRule {
        PieceRule::NewlineOrShorterThan(PIECE_BYTES)
    }
}

impl PieceRule {
    #[inline]
    pub fn ends_line(self, payload: &[u8]) -> bool {
        match self {
            PieceRule::NewlineOrShorterThan(piece) => payload.last() == Some(&b'\n') || payload.len() < piece,
            PieceRule::Newline => payload.last() == Some(&b'\n'),
        }
    }
}

/// What shapes a chain: the configuration's merging and line limit, and
/// what the daemon's profile says of its pieces and re-sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainOptions {
    pub merge: bool,
    pub max_line_bytes: usize,
    pub pieces: PieceRule,
    /// Every piece of a line carries the line's stamp (Docker); else each
    /// its own (Podman), and a line goes on across stamps until it ends.
    pub pieces_share_stamp: bool,
    /// The daemon re-sends a stream's last line when its log rotates.
    pub resends_last_line: bool,
}

/// One connection's chain of stages.
pub struct LineChain {
    dedup: Dedup,
    merge: Assembler,
}

impl LineChain {
    pub fn new(options: ChainOptions) -> LineChain {
        LineChain {
            dedup: Dedup::new(options.resends_last_line, options.pieces),
            merge: Assembler::new(options.merge, options.max_line_bytes)
                .with_pieces(options.pieces, options.pieces_share_stamp),
        }
    }

    /// Reading resumes just after the last entry `position` passed (not
    /// before it, as a start by time does): nothing is a replay, see
    /// `Dedup::count_on_from`.
    pub fn resuming_after(mut self, position: &Position) -> LineChain {
        self.dedup.count_on_from(position);
        self
    }

    /// A log file read in its own order from a start point: an entry is
    /// a replay if `position` had passed it now (see `Dedup::replaying`).
    pub fn replaying_up_to(mut self, position: &Position) -> LineChain {
        self.dedup.replaying(position);
        self
    }

    /// One entry in; the lines it completes go to `out`.
    #[inline]
    pub fn push(&mut self, position: &mut Position, entry: Entry, out: &mut Vec<Line>) {
        let (k, new) = self.dedup.check_entry(position, &entry);
        self.merge.lift_others(position, entry.stream, entry.ts_ns);
        if new {
            self.merge.accept(position, entry, k, out);
        }
    }

    /// The log is over for good (the container stopped): lines still
    /// waiting for their end go out as they are.
    pub fn finish(&mut self, position: &mut Position, out: &mut Vec<Line>) {
        self.merge.finish(position, out);
    }
}

#[cfg(test)]
mod tests {
    use bytes::{Bytes, BytesMut};

    use super::*;
    use crate::frame::{decode_multiplexed, Decoded, Stream};
    use crate::position::Watermark;

    const S: i64 = 1_796_065_856_000_000_000;
    const SECOND: i64 = 1_000_000_000;

    /// A merging chain with a daemon's options: Docker's are (default,
    /// true, true), Podman's (Newline, false, false).
    fn chain(max_line_bytes: usize, pieces: PieceRule, pieces_share_stamp: bool, resends_last_line: bool) -> LineChain {
        LineChain::new(ChainOptions { merge: true, max_line_bytes, pieces, pieces_share_stamp, resends_last_line })
    }

    /// Podman's chain (see `Profile::podman`).
    fn podman(max_line_bytes: usize) -> LineChain {
        chain(max_line_bytes, PieceRule::Newline, false, false)
    }

    fn out(stream: Stream, ts_ns: i64, payload: &[u8]) -> Entry {
        Entry { stream, ts_ns, payload: Bytes::copy_from_slice(payload) }
    }

    /// A stdout line of three pieces, two stamped S and one a second later,
    /// its newline alone (it came in a later read), then the line "next".
    fn straddling_line(pieces: [&[u8]; 3]) -> Vec<Entry> {
        vec![
            out(Stream::Stdout, S, pieces[0]),
            out(Stream::Stdout, S, pieces[1]),
            out(Stream::Stdout, S + SECOND, pieces[2]),
            out(Stream::Stdout, S + SECOND, b"\n"),
            out(Stream::Stdout, S + SECOND, b"next\n"),
        ]
    }

    fn feed(chain: &mut LineChain, position: &mut Position, entries: &[Entry]) -> Vec<Line> {
        let mut lines = Vec::new();
        for e in entries {
            chain.push(position, e.clone(), &mut lines);
        }
        lines
    }

    #[test]
    fn podman_pieces_straddling_a_second_are_one_line_and_a_reopen_mid_line_repeats_nothing() {
        let log = straddling_line([&[b'a'; 8192], &[b'b'; 8192], &[b'c'; 100]]);
        let mut position = Position::starting_at(0);
        // A first connection ends inside the line: nothing passed yet.
        assert!(feed(&mut podman(1 << 20), &mut position, &log[..3]).is_empty());
        assert_eq!(position.marks[0], Watermark { ts_ns: 0, count: 0 });
        // The next one reads the log again from before the line.
        let lines = feed(&mut podman(1 << 20), &mut position, &log);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].message.len(), 8192 * 2 + 100);
        assert_eq!((lines[0].ts_ns, lines[0].count, lines[0].flags), (S + SECOND, 2, 0), "stamped by its last piece");
        assert_eq!(&lines[1].message[..], b"next");
        assert_eq!(position.marks[0], Watermark { ts_ns: S + SECOND, count: 3 });
        // And a third passes nothing again.
        assert!(feed(&mut podman(1 << 20), &mut position, &log).is_empty());
    }

    #[test]
    fn podman_identical_lines_in_one_second_all_pass_once() {
        let same: Vec<Entry> = (0..3).map(|_| out(Stream::Stderr, S, b"same\n")).collect();
        let mut position = Position::starting_at(0);
        assert_eq!(feed(&mut podman(1 << 20), &mut position, &same[..2]).len(), 2);
        let lines = feed(&mut podman(1 << 20), &mut position, &same);
        assert_eq!(lines.len(), 1, "the third, once");
        assert_eq!(position.marks[1], Watermark { ts_ns: S, count: 3 });
    }

    #[test]
    fn podman_cut_line_skips_its_pieces_across_seconds_until_its_end() {
        let log = straddling_line([&[b'a'; 8192]; 3]);
        let mut position = Position::starting_at(0);
        let lines = feed(&mut podman(10_000), &mut position, &log[..3]);
        assert_eq!(lines.len(), 1);
        assert_eq!((lines[0].message.len(), lines[0].flags), (10_000, crate::record::flags::TRUNCATED));
        // Reopened: the rest of the cut line is skipped, whatever its stamps.
        let lines = feed(&mut podman(10_000), &mut position, &log);
        assert_eq!(lines.iter().map(|l| &l.message[..]).collect::<Vec<_>>(), [b"next"]);
    }

    #[test]
    fn after_the_last_entry_read_every_entry_is_new_whatever_its_stamp() {
        // Read up to "b" (stamped S + 1 s); then "c" at b's stamp (a coarse
        // clock), and the host clock stepped back a minute: "d" is stamped
        // before all of them.
        let log = [out(Stream::Stdout, S, b"a\n"), out(Stream::Stdout, S + SECOND, b"b\n")];
        let stepped = [out(Stream::Stdout, S + SECOND, b"c\n"), out(Stream::Stdout, S - 60 * SECOND, b"d\n")];
        let docker = || chain(1 << 20, PieceRule::default(), true, false);
        let mut position = Position::starting_at(0);
        assert_eq!(feed(&mut docker(), &mut position, &log).len(), 2);
        // By stamps, both look passed.
        assert!(feed(&mut docker(), &mut position.clone(), &stepped).is_empty());
        // Just after the last entry read, both are new; c counts on from b.
        let lines = feed(&mut docker().resuming_after(&position), &mut position, &stepped);
        assert_eq!(lines.iter().map(|l| &l.message[..]).collect::<Vec<_>>(), [&b"c"[..], b"d"]);
        assert_eq!(position.marks[0], Watermark { ts_ns: S + SECOND, count: 2 });
    }

    #[test]
    fn a_file_read_after_podman_s_api_counts_the_api_s_whole_second() {
        // Podman's API stamps whole seconds: "1" and "2" came as the first
        // two stdout entries of second S. Its file stamps the same entries
        // in nanoseconds; read from before S, "1" and "2" are passed, "3"
        // (the third of S) and "4" are not.
        let api = [out(Stream::Stdout, S, b"1\n"), out(Stream::Stdout, S, b"2\n")];
        let file: Vec<Entry> = [(S - 300_000_000, b"0\n"), (S + 1, b"1\n"), (S + 2, b"2\n"), (S + 3, b"3\n")]
            .into_iter()
            .chain([(S + SECOND + 5, b"4\n")])
            .map(|(ts, text)| out(Stream::Stdout, ts, text))
            .collect();
        let mut position = Position::starting_at(S - 500_000_000);
        position.advance(0, S - 300_000_000, 1);
        assert_eq!(feed(&mut podman(1 << 20), &mut position, &api).len(), 2);
        let lines = feed(&mut podman(1 << 20).replaying_up_to(&position), &mut position, &file);
        assert_eq!(lines.iter().map(|l| &l.message[..]).collect::<Vec<_>>(), [&b"3"[..], b"4"]);
        // And a later read from the file's own marks passes them all.
        assert!(feed(&mut podman(1 << 20).replaying_up_to(&position), &mut position, &file).is_empty());
    }

    #[test]
    fn recorded_podman_pieces_make_the_line_whole() {
        // tests/fixtures/podman/logs-long-ts: a 9,000-byte line as conmon's
        // 8,192-byte piece, the rest, and the newline alone.
        let body = include_bytes!("../../tests/fixtures/podman/logs-long-ts.body");
        let mut buf = BytesMut::from(&body[..]);
        let mut entries = Vec::new();
        while let Some(Decoded::Entry(e)) = decode_multiplexed(&mut buf).unwrap() {
            entries.push(e);
        }
        assert_eq!(entries.iter().map(|e| e.payload.len()).collect::<Vec<_>>(), [8192, 808, 1, 6]);
        let mut position = Position::starting_at(0);
        let lines = feed(&mut podman(1 << 20), &mut position, &entries);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].message, vec![b'a'; 9000]);
        assert_eq!(&lines[1].message[..], b"after");
        // Docker's rule ends a line at every piece shorter than 16 KiB: each
        // piece a line, the newline an empty one.
        let mut docker = chain(1 << 20, PieceRule::default(), true, true);
        assert_eq!(feed(&mut docker, &mut Position::starting_at(0), &entries).len(), 4);
    }

    #[test]
    fn a_resume_just_after_the_last_entry_counts_on_among_equal_stamps() {
        // A file cursor resumes just after the last entry passed, here the
        // second of four stderr lines sharing one stamp (conmon stamps a
        // whole read of its pipe; json-file on a coarse clock) with stdout
        // between them. Counted from 1 again, the third and fourth were
        // taken for the two passed.
        let log: Vec<Entry> = vec![
            out(Stream::Stderr, S, b"1\n"),
            out(Stream::Stdout, S, b"a\n"),
            out(Stream::Stderr, S, b"2\n"),
            out(Stream::Stdout, S, b"b\n"),
            out(Stream::Stderr, S, b"3\n"),
            out(Stream::Stderr, S, b"4\n"),
            out(Stream::Stdout, S + 1, b"c\n"),
        ];
        for options in [(PieceRule::Newline, false, false), (PieceRule::default(), true, false)] {
            let new = || chain(1 << 20, options.0, options.1, options.2);
            let mut position = Position::starting_at(0);
            let mut lines = feed(&mut new(), &mut position, &log[..3]);
            lines.extend(feed(&mut new().resuming_after(&position), &mut position, &log[3..]));
            let texts: Vec<&[u8]> = lines.iter().map(|l| &l.message[..]).collect();
            assert_eq!(texts, [&b"1"[..], b"a", b"2", b"b", b"3", b"4", b"c"], "{options:?}");
        }
    }

    #[test]
    fn a_file_read_in_order_keeps_a_line_stamped_far_before_the_other_stream() {
        // In a log file the order is the daemon's: an entry after the start
        // point is a replay only if the position had passed it when this
        // reading began. Judged against marks lifted during the reading, a
        // stderr line stamped 150 ms before the stdout line written just
        // before it (its copier stalled between stamp and write) was taken
        // for passed and lost.
        let inverted = 150 * 1_000_000;
        let log = vec![
            out(Stream::Stdout, S, b"1\n"),
            out(Stream::Stdout, S + inverted, b"2\n"),
            out(Stream::Stderr, S + 1, b"e1\n"),
            out(Stream::Stdout, S + inverted + 1, b"3\n"),
        ];
        let file = || chain(1 << 20, PieceRule::Newline, false, false);
        let mut position = Position::starting_at(0);
        let lines = feed(&mut file().replaying_up_to(&position), &mut position, &log);
        let texts: Vec<&[u8]> = lines.iter().map(|l| &l.message[..]).collect();
        assert_eq!(texts, [&b"1"[..], b"2", b"e1", b"3"]);
        // Read again from the start: all of it was passed.
        assert!(feed(&mut file().replaying_up_to(&position), &mut position, &log).is_empty());
        // At a cursor, nothing after it was passed, however it is stamped.
        let mut position = Position::starting_at(0);
        feed(&mut file(), &mut position, &log[..2]);
        let lines = feed(&mut file().resuming_after(&position), &mut position, &log[2..]);
        assert_eq!(lines.iter().map(|l| &l.message[..]).collect::<Vec<_>>(), [&b"e1"[..], b"3"]);
    }
}
