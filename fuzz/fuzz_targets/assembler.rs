//! De-duplication and partial-line merging driven by arbitrary entries:
//! no panic, lines never longer than the limit, watermarks never go back.
#![no_main]

use bytes::Bytes;
use libfuzzer_sys::fuzz_target;
use log_capturer::frame::{Entry, Stream, PIECE_BYTES};
use log_capturer::chain::{Assembler, Dedup};
use log_capturer::position::Position;

const MAX_LINE: usize = 40_000;

fuzz_target!(|data: &[u8]| {
    let mut position = Position::starting_at(1_000_000_000);
    let mut dedup = Dedup::default();
    let mut asm = Assembler::new(data.first().is_some_and(|b| b & 1 == 0), MAX_LINE);
    let mut clock = [1_000_000_000i64; 3];
    let mut out = Vec::new();
    for op in data.chunks(3) {
        let [a, b, c] = [op[0], *op.get(1).unwrap_or(&0), *op.get(2).unwrap_or(&0)];
        let stream = [Stream::Stdout, Stream::Stderr, Stream::Console][(a % 3) as usize];
        // Mostly forward, sometimes a step back (a rewinding daemon).
        let i = stream.index();
        clock[i] += (b as i64 % 5 - 1) * 100_000_000;
        let len = match c % 4 {
            0 => PIECE_BYTES,
            1 => c as usize,
            2 => PIECE_BYTES - 1,
            _ => 0,
        };
        let mut payload = vec![b'x'; len];
        if c & 0x80 != 0 {
            payload.push(b'\n');
        }
        let before = position.marks;
        let (k, new) = dedup.check(&position, stream, clock[i]);
        asm.lift_others(&mut position, stream, clock[i]);
        if new {
            asm.accept(&mut position, Entry { stream, ts_ns: clock[i], payload: Bytes::from(payload) }, k, &mut out);
        }
        for (m, was) in position.marks.iter().zip(before.iter()) {
            assert!((m.ts_ns, m.count) >= (was.ts_ns, was.count), "a watermark went back");
        }
    }
    asm.finish(&mut position, &mut out);
    for line in &out {
        assert!(line.message.len() <= MAX_LINE, "line of {} bytes", line.message.len());
    }
});
