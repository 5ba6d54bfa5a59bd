//! Property tests of the parsers and of exact resume (no daemon needed):
//! the frame decoders, the timestamp parser, and the watermark/merge logic
//! replayed across arbitrary reopen points.

use bytes::{Bytes, BytesMut};
use log_capturer::frame::{decode_multiplexed, decode_raw, Decoded, Entry, Stream, PIECE_BYTES};
use log_capturer::timestamp::{format_rfc3339, parse_rfc3339};
use log_capturer::chain::{ChainOptions, Line, LineChain};
use log_capturer::position::{Position, INVERSION_BOUND_NS, RESUME_MARGIN_NS};
use proptest::prelude::*;

fn encode(entries: &[(u8, i64, Vec<u8>)]) -> Vec<u8> {
    let mut wire = Vec::new();
    for (kind, ts, payload) in entries {
        let mut body = format_rfc3339(*ts).into_bytes();
        body.push(b' ');
        body.extend_from_slice(payload);
        wire.extend_from_slice(&[*kind, 0, 0, 0]);
        wire.extend_from_slice(&(body.len() as u32).to_be_bytes());
        wire.extend_from_slice(&body);
    }
    wire
}

/// Feeds `wire` to a decoder in pieces cut at `cuts` (then the rest, with
/// `eof` true), decoding all it can after each piece. Returns what was
/// decoded and what is left in the buffer.
fn decode_in_cuts(
    wire: &[u8],
    cuts: &[usize],
    mut decode: impl FnMut(&mut BytesMut, bool) -> Option<Decoded>,
) -> (Vec<Decoded>, BytesMut) {
    let mut buf = BytesMut::new();
    let mut out = Vec::new();
    let mut at: usize = 0;
    for c in cuts.iter().chain(std::iter::once(&usize::MAX)) {
        let end = at.saturating_add(*c).min(wire.len());
        buf.extend_from_slice(&wire[at..end]);
        at = end;
        let eof = at == wire.len() && *c == usize::MAX;
        while let Some(d) = decode(&mut buf, eof) {
            out.push(d);
        }
    }
    (out, buf)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn multiplexed_decoding_survives_any_split(
        entries in prop::collection::vec((1u8..=2, 0i64..4_000_000_000_000_000_000, prop::collection::vec(any::<u8>(), 0..300)), 0..40),
        cuts in prop::collection::vec(1usize..97, 0..30),
    ) {
        let wire = encode(&entries);
        let (out, buf) = decode_in_cuts(&wire, &cuts, |buf, _| decode_multiplexed(buf).unwrap());
        prop_assert!(buf.is_empty());
        let want: Vec<Decoded> = entries.iter().map(|(k, ts, p)| Decoded::Entry(Entry {
            stream: if *k == 1 { Stream::Stdout } else { Stream::Stderr },
            ts_ns: *ts,
            payload: Bytes::copy_from_slice(p),
        })).collect();
        prop_assert_eq!(out, want);
    }

    #[test]
    fn raw_decoding_survives_any_split_and_glued_entries(
        entries in prop::collection::vec(("[a-z :.]{1,40}", any::<bool>(), 0i64..5_000_000_000), 1..30),
        cuts in prop::collection::vec(1usize..60, 0..30),
    ) {
        // A TTY stream: entries ending in a newline or not (the last output
        // of a run), each stamped no earlier than the one before.
        let mut ts = 1_700_000_000_000_000_000i64;
        let mut wire = Vec::new();
        let mut want = Vec::new();
        for (text, newline, step) in &entries {
            ts += step;
            let mut payload = text.clone().into_bytes();
            if *newline {
                payload.extend_from_slice(b"\r\n");
            }
            wire.extend_from_slice(format_rfc3339(ts).as_bytes());
            wire.push(b' ');
            wire.extend_from_slice(&payload);
            want.push(Decoded::Entry(Entry { stream: Stream::Console, ts_ns: ts, payload: Bytes::from(payload) }));
        }
        let (out, buf) = decode_in_cuts(&wire, &cuts, |buf, eof| decode_raw(buf, eof).unwrap());
        prop_assert!(buf.is_empty());
        prop_assert_eq!(out, want);
    }

    #[test]
    fn decoders_never_panic_or_spin_on_garbage(bytes in prop::collection::vec(any::<u8>(), 0..2000), eof in any::<bool>()) {
        for raw in [false, true] {
            let mut buf = BytesMut::from(&bytes[..]);
            // Each step consumes bytes, asks for more, or fails: never loops.
            for _ in 0..=bytes.len() {
                let before = buf.len();
                let r = if raw { decode_raw(&mut buf, eof) } else { decode_multiplexed(&mut buf) };
                match r {
                    Ok(Some(_)) => prop_assert!(buf.len() < before),
                    Ok(None) | Err(_) => break,
                }
            }
        }
    }

    #[test]
    fn timestamps_round_trip(ts in -2_000_000_000_000_000_000i64..9_000_000_000_000_000_000i64) {
        prop_assert_eq!(parse_rfc3339(format_rfc3339(ts).as_bytes()), Some(ts));
    }

    #[test]
    fn timestamp_parser_never_panics(text in "\\PC{0,40}", bytes in prop::collection::vec(any::<u8>(), 0..40)) {
        let _ = parse_rfc3339(text.as_bytes());
        let _ = parse_rfc3339(&bytes);
    }
}

/// A log as the daemon keeps it, in file order: entries of stdout (0) and
/// stderr (1); per stream timestamps never go back; across streams they may,
/// by less than the inversion bound, where lines begin; long lines are
/// several pieces with one timestamp (the first piece's), and a long line
/// may pause between pieces while the other stream writes on (its later
/// pieces then come after entries stamped well after them).
fn arbitrary_log() -> impl Strategy<Value = Vec<(Stream, i64, Vec<u8>)>> {
    let line = prop_oneof![
        8 => (1usize..40).prop_map(|n| vec![n]),
        1 => (1usize..4, 0usize..100).prop_map(|(pieces, tail)| {
            let mut v = vec![PIECE_BYTES; pieces];
            v.push(tail);
            v
        }),
    ];
    let step = (any::<bool>(), 0i64..3, line, 0i64..(INVERSION_BOUND_NS / 2));
    prop::collection::vec(step, 1..120).prop_map(|steps| {
        let mut clock = [10 * RESUME_MARGIN_NS; 2];
        let mut log = Vec::new();
        // Per stream: a long line begun, (its number, its stamp, pieces left).
        let mut open: [Option<(u32, i64, Vec<usize>)>; 2] = [None, None];
        let mut n = 0u32;
        for (err, advance_ms, pieces, lag) in steps {
            let s = err as usize;
            let stream = if err { Stream::Stderr } else { Stream::Stdout };
            if let Some((line, ts, mut left)) = open[s].take() {
                // The paused line goes on: its next piece (the last one ends it).
                let len = left.remove(0);
                log.push((stream, ts, piece(line, left.len(), len, left.is_empty())));
                if !left.is_empty() {
                    open[s] = Some((line, ts, left));
                }
                continue;
            }
            // Time moves on for this stream (often not at all: equal stamps).
            clock[s] += advance_ms * 7_000_000;
            // The other stream may be a little behind in file order.
            let other = 1 - s;
            clock[other] = clock[other].max(clock[s] - lag);
            n += 1;
            let mut left = pieces;
            let len = left.remove(0);
            log.push((stream, clock[s], piece(n, left.len(), len, left.is_empty())));
            if !left.is_empty() {
                open[s] = Some((n, clock[s], left));
            }
        }
        // Lines still open end.
        for (s, line) in open.iter_mut().enumerate() {
            let stream = if s == 1 { Stream::Stderr } else { Stream::Stdout };
            if let Some((line, ts, left)) = line.take() {
                for (i, len) in left.iter().enumerate() {
                    log.push((stream, ts, piece(line, left.len() - i - 1, *len, i + 1 == left.len())));
                }
            }
        }
        log
    })
}

/// A piece of line `line` (`left` pieces follow it): a full 16 KiB piece,
/// or its last, ending in a newline.
fn piece(line: u32, left: usize, len: usize, last: bool) -> Vec<u8> {
    let mut p = format!("{line}:{left}:").into_bytes();
    p.resize(len.max(p.len()), b'x');
    if last {
        p.push(b'\n');
    } else {
        p.truncate(PIECE_BYTES);
        p.resize(PIECE_BYTES, b'x');
    }
    p
}

/// Reads `log[..upto]` from `position` as a reopened stream does: every
/// entry stamped at or after the reopen's `since`, in file order.
fn read(log: &[(Stream, i64, Vec<u8>)], upto: usize, position: &mut Position, out: &mut Vec<Line>, finish: bool) {
    let streams = [Stream::Stdout, Stream::Stderr];
    let since = position.resume_since_ns(&streams);
    feed(log[..upto].iter().filter(|(_, ts, _)| *ts >= since), position, out, finish, true);
}

/// Passes one connection's entries through de-duplication and merging, as
/// the reader does; with `resend`, like a 20.10 daemon whose json-file log
/// rotates, now and then re-sends a line just sent.
fn feed<'a>(
    entries: impl Iterator<Item = &'a (Stream, i64, Vec<u8>)>,
    position: &mut Position,
    out: &mut Vec<Line>,
    finish: bool,
    resend: bool,
) {
    let options =
        ChainOptions { merge: true, max_line_bytes: 1 << 20, pieces: Default::default(), resends_last_line: true };
    let mut chain = LineChain::new(options);
    for (stream, ts, payload) in entries {
        let entry = Entry { stream: *stream, ts_ns: *ts, payload: Bytes::copy_from_slice(payload) };
        let again = resend && payload.last() == Some(&b'\n') && payload.len() % 3 == 0;
        for _ in 0..=again as usize {
            chain.push(position, entry.clone(), out);
        }
    }
    if finish {
        chain.finish(position, out);
    }
}

/// The same lines in the same order, stream by stream.
fn assert_same_per_stream(got: &[(Stream, Bytes)], want: &[(Stream, Bytes)]) -> Result<(), TestCaseError> {
    for s in [Stream::Stdout, Stream::Stderr] {
        let g: Vec<_> = got.iter().filter(|(st, _)| *st == s).collect();
        let w: Vec<_> = want.iter().filter(|(st, _)| *st == s).collect();
        prop_assert_eq!(g, w);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Reading a growing log through any number of reopens (each resuming
    /// from the position) gives exactly the lines of one uninterrupted read.
    #[test]
    fn resume_across_reopens_is_exact(log in arbitrary_log(), reopens in prop::collection::vec(0.0f64..1.0, 0..12)) {
        // What the log holds, line by line (pieces joined), per stream.
        let mut points: Vec<usize> = reopens.iter().map(|f| (f * log.len() as f64) as usize).collect();
        points.sort();
        points.push(log.len());
        let mut position = Position::starting_at(0);
        let mut pieces = Vec::new();
        for (i, upto) in points.iter().enumerate() {
            read(&log, *upto, &mut position, &mut pieces, i + 1 == points.len());
        }
        let got: Vec<(Stream, Bytes)> = pieces.iter().map(|l| (l.stream, l.message.clone())).collect();
        // Per stream, exactly the lines the log holds, in order.
        assert_same_per_stream(&got, &lines_of(&log))?;
    }
}

/// Reopens over `file` (what the log holds now, in file order) as the reader
/// does with a bounded `tail`: the last `tail` entries stamped at or after
/// `since`, widened ×8 until the first entry proves continuity or the window
/// holds everything at or after `since` (then the passed entries must be in
/// it). Reads the window; returns the gap found, if any.
fn read_bounded(
    file: &[(Stream, i64, Vec<u8>)],
    mut tail: usize,
    position: &mut Position,
    out: &mut Vec<Line>,
    finish: bool,
) -> Option<i64> {
    let streams = [Stream::Stdout, Stream::Stderr];
    let since = position.resume_since_ns(&streams);
    let mut gap = None;
    let window = loop {
        let bounded = since != 0;
        let raw = if bounded { &file[file.len().saturating_sub(tail)..] } else { file };
        let window: Vec<_> = raw.iter().filter(|(_, ts, _)| *ts >= since).collect();
        let first = window.first().map(|(s, ts, _)| (*s, *ts));
        if !first.is_some_and(|f| position.proves_continuity(&streams, f)) {
            let whole = !bounded || first.is_none() || window.len() < tail;
            if !whole {
                tail *= 8;
                continue;
            }
            gap = position.passed_entry_gone(&streams, first);
        }
        break window;
    };
    feed(window.into_iter(), position, out, finish, false);
    gap
}

/// The lines of a log (pieces joined), per stream, in order.
fn lines_of(log: &[(Stream, i64, Vec<u8>)]) -> Vec<(Stream, Bytes)> {
    let mut whole = Vec::new();
    let mut open: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
    for (stream, _, payload) in log {
        let i = stream.index();
        open[i].extend_from_slice(payload);
        if payload.last() == Some(&b'\n') {
            open[i].pop();
            whole.push((*stream, Bytes::from(std::mem::take(&mut open[i]))));
        }
    }
    whole
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, ..ProptestConfig::default() })]

    /// Bounded reopens (any starting `tail`, widened when the window is too
    /// short, proved by the first entry's stamp or identity) read a growing
    /// log exactly once, and never report a gap in a log that lost nothing.
    #[test]
    fn bounded_reopens_are_exact_and_find_no_gap(
        log in arbitrary_log(),
        reopens in prop::collection::vec(0.0f64..1.0, 0..12),
        tail in 1usize..40,
        start in 0.0f64..1.0,
    ) {
        // Start either at the beginning or at a point in time (`since`).
        let since = if start < 0.3 { 0 } else { log[((start * log.len() as f64) as usize).min(log.len() - 1)].1 };
        let mut points: Vec<usize> = reopens.iter().map(|f| (f * log.len() as f64) as usize).collect();
        points.sort();
        points.push(log.len());
        let mut position = Position::starting_at(since);
        let mut pieces = Vec::new();
        for (i, upto) in points.iter().enumerate() {
            let gap = read_bounded(&log[..*upto], tail, &mut position, &mut pieces, i + 1 == points.len());
            prop_assert_eq!(gap, None);
        }
        // Exactly the lines an uninterrupted read from `since` gives.
        let mut want_pos = Position::starting_at(since);
        let mut want_pieces = Vec::new();
        read(&log, log.len(), &mut want_pos, &mut want_pieces, true);
        let got: Vec<(Stream, Bytes)> = pieces.iter().map(|l| (l.stream, l.message.clone())).collect();
        let want: Vec<(Stream, Bytes)> = want_pieces.iter().map(|l| (l.stream, l.message.clone())).collect();
        if since == 0 {
            prop_assert_eq!(&want, &lines_of(&log));
        }
        assert_same_per_stream(&got, &want)?;
    }

    /// When the daemon deletes the start of the log past what was read, a
    /// reopen that finds it gone says so; it never cries wolf.
    #[test]
    fn a_log_rotated_past_the_position_is_a_gap(
        log in arbitrary_log(),
        read_to in 0.0f64..1.0,
        deleted_to in 0.0f64..1.0,
        tail in 1usize..40,
    ) {
        let a = (read_to * log.len() as f64) as usize;
        let d = (deleted_to * log.len() as f64) as usize;
        let mut position = Position::starting_at(0);
        let mut pieces = Vec::new();
        read_bounded(&log[..a], tail, &mut position, &mut pieces, false);
        let read_marks = position.marks;
        let read_unfinished = position.unfinished;
        let gap = read_bounded(&log[d..], tail, &mut position, &mut pieces, true);
        // The newest entry read per stream, by (stamp, count): is it still
        // in the log? And the first piece of a line left unfinished: is it?
        let still_there = |i: usize| {
            let m = read_marks[i];
            m.count == 0 || log[d..].iter().any(|(s, ts, _)| s.index() == i && *ts == m.ts_ns)
        };
        let first_piece_gone = |i: usize| read_unfinished[i].is_some() && open_line_start(&log[..a], i) < d;
        if let Some(after) = gap {
            // Only a read entry (or a line's start) that is really gone is
            // reported.
            let counted = (0..2).any(|i| read_marks[i].count > 0 && read_marks[i].ts_ns == after && !still_there(i));
            let line_start = (0..2).any(|i| read_unfinished[i] == Some(after) && first_piece_gone(i));
            prop_assert!(counted || line_start, "gap after {after}");
        }
        // Everything read is gone and the log now starts clearly later.
        let counted = read_marks[..2].iter().filter(|m| m.count > 0).map(|m| m.ts_ns);
        let newest = counted.chain(read_unfinished[..2].iter().flatten().copied()).max();
        if let (Some(newest), true) = (newest, d >= a && d < log.len()) {
            if log[d].1 > newest + INVERSION_BOUND_NS {
                prop_assert_eq!(gap, Some(newest));
            }
        }
    }
}

/// The index of the first piece of the line stream `i` left open at the end
/// of `read` (the line its last entry belongs to).
fn open_line_start(read: &[(Stream, i64, Vec<u8>)], i: usize) -> usize {
    let line_of = |p: &[u8]| p.split(|b| *b == b':').next().map(<[u8]>::to_vec);
    let last = read.iter().rposition(|(s, _, _)| s.index() == i).expect("an entry of the open line");
    let line = line_of(&read[last].2);
    read.iter().position(|(s, _, p)| s.index() == i && line_of(p) == line).expect("its first piece")
}
