//! Helpers of the module's unit tests.

use std::time::Instant;

use bytes::Bytes;

use super::{Event, Grouper, MultilineConfig};
use crate::chain::Line;
use crate::frame::Stream;

pub const MAX: usize = 1 << 20;

pub fn line(stream: Stream, ts_ns: i64, count: u32, text: &str) -> Line {
    Line { stream, ts_ns, count, first_count: count, message: Bytes::copy_from_slice(text.as_bytes()), flags: 0 }
}

/// Feeds `texts` as lines of `stream` one ns apart, all at one instant,
/// then finishes.
pub fn group_events(config: MultilineConfig, stream: Stream, texts: &[&str]) -> Vec<Event> {
    let mut grouper = Grouper::new(Some(config), MAX);
    let now = Instant::now();
    let mut out = Vec::new();
    for (i, text) in texts.iter().enumerate() {
        grouper.push(line(stream, i as i64 + 1, 1, text), now, &mut out);
    }
    grouper.finish(&mut out);
    out
}

/// `group_events` on stdout, as the events' messages.
pub fn group(config: MultilineConfig, texts: &[&str]) -> Vec<String> {
    group_events(config, Stream::Stdout, texts).iter().map(|e| String::from_utf8(e.message.to_vec()).unwrap()).collect()
}
