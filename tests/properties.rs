//! Property tests of the parsers and of exact resume (no daemon needed):
//! the frame decoders, the timestamp parser, and the watermark/merge logic
//! replayed across arbitrary reopen points.

use bytes::{Bytes, BytesMut};
use log_capturer::frame::{
    decode_multiplexed, decode_raw, format_rfc3339, parse_rfc3339, Decoded, Entry, Stream, PIECE_BYTES,
};
use log_capturer::position::{Assembler, Dedup, Line, Position, INVERSION_BOUND_NS, RESUME_MARGIN_NS};
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

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn multiplexed_decoding_survives_any_split(
        entries in prop::collection::vec((1u8..=2, 0i64..4_000_000_000_000_000_000, prop::collection::vec(any::<u8>(), 0..300)), 0..40),
        cuts in prop::collection::vec(1usize..97, 0..30),
    ) {
        let wire = encode(&entries);
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        let mut at: usize = 0;
        for c in cuts.iter().chain(std::iter::once(&usize::MAX)) {
            let end = at.saturating_add(*c).min(wire.len());
            buf.extend_from_slice(&wire[at..end]);
            at = end;
            while let Some(d) = decode_multiplexed(&mut buf).unwrap() {
                out.push(d);
            }
        }
        prop_assert!(buf.is_empty());
        let want: Vec<Decoded> = entries.iter().map(|(k, ts, p)| Decoded::Entry(Entry {
            stream: if *k == 1 { Stream::Stdout } else { Stream::Stderr },
            ts_ns: *ts,
            payload: Bytes::copy_from_slice(p),
        })).collect();
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
/// by less than the inversion bound; long lines are several pieces with one
/// timestamp.
fn arbitrary_log() -> impl Strategy<Value = Vec<(Stream, i64, Vec<u8>)>> {
    let line = prop_oneof![
        8 => (1usize..40).prop_map(|n| vec![1usize; 1].into_iter().map(|_| n).collect::<Vec<_>>()),
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
        let mut n = 0u32;
        for (err, advance_ms, pieces, lag) in steps {
            let s = err as usize;
            // Time moves on for this stream (often not at all: equal stamps).
            clock[s] += advance_ms * 7_000_000;
            // The other stream may be a little behind in file order.
            let other = 1 - s;
            clock[other] = clock[other].max(clock[s] - lag);
            n += 1;
            let stream = if err { Stream::Stderr } else { Stream::Stdout };
            let count = pieces.len();
            for (i, len) in pieces.into_iter().enumerate() {
                let mut p = format!("{n}:{i}:").into_bytes();
                p.resize(len.max(p.len()), b'x');
                if i + 1 == count {
                    p.push(b'\n');
                } else {
                    p.truncate(PIECE_BYTES);
                    p.resize(PIECE_BYTES, b'x');
                }
                log.push((stream, clock[s], p));
            }
        }
        log
    })
}

/// Reads `log[..upto]` from `position` as a reopened stream does: every
/// entry stamped at or after the reopen's `since`, in file order.
fn read(log: &[(Stream, i64, Vec<u8>)], upto: usize, position: &mut Position, out: &mut Vec<Line>, finish: bool) {
    let streams = [Stream::Stdout, Stream::Stderr];
    let since = position.resume_since_ns(&streams);
    let mut dedup = Dedup::default();
    let mut asm = Assembler::new(true, 1 << 20);
    for (stream, ts, payload) in &log[..upto] {
        if *ts < since {
            continue;
        }
        let entry = Entry { stream: *stream, ts_ns: *ts, payload: Bytes::copy_from_slice(payload) };
        // Like a 20.10 daemon whose json-file log rotates, now and then
        // re-send a line just sent.
        let resend = payload.last() == Some(&b'\n') && payload.len() % 3 == 0;
        for _ in 0..=resend as usize {
            let (k, new) = dedup.check_entry(position, &entry);
            asm.lift_others(position, *stream, *ts);
            if new {
                asm.accept(position, entry.clone(), k, out);
            }
        }
    }
    if finish {
        asm.finish(position, out);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// Reading a growing log through any number of reopens (each resuming
    /// from the position) gives exactly the lines of one uninterrupted read.
    #[test]
    fn resume_across_reopens_is_exact(log in arbitrary_log(), reopens in prop::collection::vec(0.0f64..1.0, 0..12)) {
        // What the log holds, line by line (pieces joined), per stream.
        let mut whole: Vec<(Stream, Bytes)> = Vec::new();
        let mut open: [Vec<u8>; 2] = [Vec::new(), Vec::new()];
        for (stream, _, payload) in &log {
            let i = stream.index();
            open[i].extend_from_slice(payload);
            if payload.last() == Some(&b'\n') {
                open[i].pop();
                whole.push((*stream, Bytes::from(std::mem::take(&mut open[i]))));
            }
        }

        let mut points: Vec<usize> = reopens.iter().map(|f| (f * log.len() as f64) as usize).collect();
        points.sort();
        points.push(log.len());
        let mut position = Position::starting_at(0);
        let mut pieces = Vec::new();
        for (i, upto) in points.iter().enumerate() {
            read(&log, *upto, &mut position, &mut pieces, i + 1 == points.len());
        }
        let got: Vec<(Stream, Bytes)> = pieces.iter().map(|l| (l.stream, l.message.clone())).collect();
        let want = whole;
        // Per stream, exactly the same lines in the same order.
        for s in [Stream::Stdout, Stream::Stderr] {
            let g: Vec<_> = got.iter().filter(|(st, _)| *st == s).collect();
            let w: Vec<_> = want.iter().filter(|(st, _)| *st == s).collect();
            prop_assert_eq!(g, w);
        }
    }
}
