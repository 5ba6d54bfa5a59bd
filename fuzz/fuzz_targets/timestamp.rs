//! The RFC 3339 parser on arbitrary bytes: no panic, and what it accepts
//! formats back to a time it parses to the same instant.
#![no_main]

use libfuzzer_sys::fuzz_target;
use log_capturer::timestamp::{format_rfc3339, parse_rfc3339};

fuzz_target!(|data: &[u8]| {
    if let Some(ts) = parse_rfc3339(data) {
        assert_eq!(parse_rfc3339(format_rfc3339(ts).as_bytes()), Some(ts));
    }
});
