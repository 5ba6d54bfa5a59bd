//! Property tests of the multiline stage (no daemon needed): whatever the
//! lines, the rules, the timing and the size bound, every line comes out
//! once, in order, in its stream's events, and the position marks the
//! events carry never go back.

use std::time::{Duration, Instant};

use bytes::Bytes;
use log_capturer::frame::Stream;
use log_capturer::multiline::{Event, Grouper, Mode, MultilineConfig, Parser, Rules};
use log_capturer::chain::Line;
use log_capturer::position::Watermark;
use log_capturer::record::flags;
use proptest::prelude::*;
use regex::bytes::Regex;

const STREAMS: [Stream; 3] = [Stream::Stdout, Stream::Stderr, Stream::Console];

/// Lines the rules react to, and some they do not.
const SHAPES: &[&str] = &[
    "java.lang.IllegalStateException: boom",
    "\tat a.B.c(B.java:1)",
    "Caused by: java.io.IOException: x",
    "\t... 3 more",
    "Traceback (most recent call last):",
    "  File \"/app/x.py\", line 1, in f",
    "    return f()",
    "KeyError: 'k'",
    "During handling of the above exception, another exception occurred:",
    "panic: boom",
    "goroutine 1 [running]:",
    "main.main()",
    "\t/app/main.go:5 +0x25",
    "",
    "plain line",
    "continued \\",
    "statement;",
    "INFO next",
    "é€ wide",
];

fn config(choice: u8) -> Option<MultilineConfig> {
    let patterns = |start: &str, condition: &str, mode| MultilineConfig {
        rules: Rules::Patterns { start: Regex::new(start).unwrap(), condition: Regex::new(condition).unwrap(), mode },
        timeout: Duration::from_millis(1000),
    };
    match choice {
        0 => None,
        1 => Some(MultilineConfig::parser(Parser::Java)),
        2 => Some(MultilineConfig::parser(Parser::Python)),
        3 => Some(MultilineConfig::parser(Parser::Go)),
        4 => Some(patterns(r"^\S", r"^\s", Mode::ContinueThrough)),
        5 => Some(patterns(r"\\$", r"\\$", Mode::ContinuePast)),
        6 => Some(patterns("", r"^INFO ", Mode::HaltBefore)),
        _ => Some(patterns(r"[^;]$", r";$", Mode::HaltWith)),
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(SHAPES).prop_map(String::from),
        1 => "[a-z \t:;\\\\é]{0,12}",
    ]
}

/// One step: a line of a stream (its stamp the previous one's, or later),
/// the time since the last step, and whether the reader's timer fired.
fn step() -> impl Strategy<Value = (usize, bool, String, u64, bool)> {
    (0usize..3, any::<bool>(), text(), 0u64..1500, any::<bool>())
}

/// Checks one stream's events against its lines: in order, each line once,
/// the first line's stamp, the last line's mark, cut only at `max_bytes`.
fn check_stream(lines: &[Line], events: &[&Event], max_bytes: usize) {
    let mut at = 0;
    let mut last_mark: Option<Watermark> = None;
    for event in events {
        let n = event.lines as usize;
        assert!(n >= 1 && at + n <= lines.len(), "an event holds lines that came");
        let held = &lines[at..at + n];
        assert_eq!(event.ts_ns, held[0].ts_ns);
        let last = &held[n - 1];
        assert_eq!(event.mark, Watermark { ts_ns: last.ts_ns, count: last.count });
        assert!(last_mark.map_or(true, |m| (m.ts_ns, m.count) < (event.mark.ts_ns, event.mark.count)));
        last_mark = Some(event.mark);

        let joined = held.iter().map(|l| &l.message[..]).collect::<Vec<_>>().join(&b'\n');
        assert!(event.message.len() <= max_bytes);
        assert!(joined.starts_with(&event.message), "an event is its lines joined, or a prefix of them");
        assert!(std::str::from_utf8(&event.message).is_ok(), "cut on a character boundary");
        let cut = event.message.len() < joined.len();
        assert_eq!(event.flags & flags::TRUNCATED != 0, cut);
        at += n;
    }
    assert_eq!(at, lines.len(), "every line is in an event");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn every_line_comes_out_once_in_order_and_marks_never_go_back(
        choice in 0u8..8,
        steps in prop::collection::vec(step(), 0..80),
        small in any::<bool>(),
    ) {
        let max_bytes = if small { 24 } else { 1 << 20 };
        let mut grouper = Grouper::new(config(choice), max_bytes);
        let mut now = Instant::now();
        let mut lines: [Vec<Line>; 3] = Default::default();
        let mut out = Vec::new();
        let mut stamp = [(1_000i64, 0u32); 3];
        for (s, same_stamp, text, wait_ms, timer) in steps {
            now += Duration::from_millis(wait_ms);
            if timer {
                grouper.flush_due(now, &mut out);
                prop_assert!(grouper.next_deadline().map_or(true, |d| d > now), "nothing due is left");
            }
            let (ts, count) = &mut stamp[s];
            if same_stamp {
                *count += 1;
            } else {
                *ts += 1 + wait_ms as i64;
                *count = 1;
            }
            let line = Line { stream: STREAMS[s], ts_ns: *ts, count: *count, first_count: *count, message: Bytes::from(text), flags: 0 };
            lines[s].push(line.clone());
            grouper.push(line, now, &mut out);

            // What is held is exactly what has not come out, and it is what
            // holds the stream's position back.
            for (i, stream) in STREAMS.iter().enumerate() {
                let emitted: usize = out.iter().filter(|e| e.stream == *stream).map(|e| e.lines as usize).sum();
                let held = lines[i].get(emitted).map(|l| l.ts_ns);
                prop_assert_eq!(grouper.pending_since(*stream), held);
            }
            prop_assert_eq!(grouper.next_deadline().is_some(), STREAMS.iter().any(|s| grouper.pending_since(*s).is_some()));
        }
        grouper.finish(&mut out);
        prop_assert_eq!(grouper.next_deadline(), None);
        for (i, stream) in STREAMS.iter().enumerate() {
            let events: Vec<&Event> = out.iter().filter(|e| e.stream == *stream).collect();
            check_stream(&lines[i], &events, max_bytes);
        }
    }
}
