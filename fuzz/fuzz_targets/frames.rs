//! Both log stream decoders on arbitrary bytes, fed in arbitrary pieces:
//! no panic, no endless loop, every decoded entry consumed bytes.
#![no_main]

use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;
use log_capturer::frame::{decode_multiplexed, decode_raw};

fuzz_target!(|data: &[u8]| {
    let Some((&split, data)) = data.split_first() else { return };
    let step = (split as usize % 64) + 1;
    for raw in [false, true] {
        let mut buf = BytesMut::new();
        for (i, chunk) in data.chunks(step).enumerate() {
            buf.extend_from_slice(chunk);
            let eof = (i + 1) * step >= data.len();
            loop {
                let before = buf.len();
                let r = if raw { decode_raw(&mut buf, eof) } else { decode_multiplexed(&mut buf) };
                match r {
                    Ok(Some(_)) => assert!(buf.len() < before, "an entry consumed nothing"),
                    Ok(None) => break,
                    Err(_) => return,
                }
            }
        }
    }
});
