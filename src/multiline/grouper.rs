//! The grouping stage of one container: lines in, events out, per stream.
//!
//! Synchronous and with explicit time: the reader passes `now` with every
//! call and asks `next_deadline` when to call `flush_due`, so the stage has
//! no timer and no task of its own, and tests drive time by hand.

use std::time::{Duration, Instant};

use crate::chain::Line;
use crate::frame::Stream;
use crate::position::Position;

use super::config::MultilineConfig;
use super::event::{Building, Event};
use super::machine::{Next, State};

/// An event open on one stream.
#[derive(Debug)]
struct Open {
    event: Building,
    state: State,
    /// When it is emitted if no line ends it first: `timeout` after the last
    /// line that joined it (Vector's rule).
    deadline: Instant,
}

/// Groups one container's lines into events, each stream on its own.
#[derive(Debug)]
pub struct Grouper {
    /// `None`: every line is an event (the stage is off).
    config: Option<MultilineConfig>,
    max_bytes: usize,
    open: [Option<Open>; 3],
}

impl Grouper {
    /// `config` `None` passes every line through as an event. `max_bytes`
    /// bounds an event's message (the capture's `max_line_bytes`).
    pub fn new(config: Option<MultilineConfig>, max_bytes: usize) -> Grouper {
        Grouper { config, max_bytes, open: [None, None, None] }
    }

    /// Takes the next line of its stream (lines of one stream in order),
    /// and appends to `out` whatever events it completes. A line joins the
    /// event open on its stream even when that event's deadline has passed
    /// and `flush_due` was not called yet.
    #[inline]
    pub fn push(&mut self, line: Line, now: Instant, out: &mut Vec<Event>) {
        let Some(config) = &self.config else {
            out.push(Event::single(line, self.max_bytes));
            return;
        };
        let i = line.stream.index();
        if let Some(mut open) = self.open[i].take() {
            match config.rules.next(open.state, &line.message) {
                Next::Continue(state) => {
                    open.event.append(&line, self.max_bytes);
                    open.state = state;
                    open.deadline = now + config.timeout;
                    self.open[i] = Some(open);
                    return;
                }
                Next::EndWith => {
                    open.event.append(&line, self.max_bytes);
                    out.push(open.event.finish());
                    return;
                }
                Next::EndBefore => out.push(open.event.finish()),
            }
        }
        match config.rules.begin(&line.message) {
            Some(state) => {
                let deadline = now + config.timeout;
                self.open[i] = Some(Open { event: Building::new(line, self.max_bytes), state, deadline });
            }
            None => out.push(Event::single(line, self.max_bytes)),
        }
    }

    /// When `flush_due` has something to emit: the earliest deadline of an
    /// open event, or `None` when none is open.
    pub fn next_deadline(&self) -> Option<Instant> {
        self.open.iter().flatten().map(|open| open.deadline).min()
    }

    /// Emits every open event whose deadline is at or before `now`.
    pub fn flush_due(&mut self, now: Instant, out: &mut Vec<Event>) {
        for slot in &mut self.open {
            if let Some(open) = slot.take_if(|open| open.deadline <= now) {
                out.push(open.event.finish());
            }
        }
    }

    /// The container stopped: emits every open event.
    pub fn finish(&mut self, out: &mut Vec<Event>) {
        for slot in &mut self.open {
            if let Some(open) = slot.take() {
                out.push(open.event.finish());
            }
        }
    }

    /// The timestamp of the first line held on `stream` (in an event not
    /// emitted yet), if any: that stream's position must not move past it.
    pub fn pending_since(&self, stream: Stream) -> Option<i64> {
        self.open[stream.index()].as_ref().map(|open| open.event.ts_ns)
    }

    /// Moves `position` back to just before the first line held on each
    /// stream: what may be published for others (a checkpoint, a restart
    /// from scratch) while those lines exist only here. The reader's own
    /// position, which this grouper goes with, stays past them.
    pub fn hold_back(&self, position: &mut Position) {
        for (i, open) in self.open.iter().enumerate() {
            if let Some(open) = open {
                let mark = &mut position.marks[i];
                if (open.event.before.ts_ns, open.event.before.count) < (mark.ts_ns, mark.count) {
                    *mark = open.event.before;
                }
            }
        }
    }

    /// How many lines the open events hold.
    pub fn held_lines(&self) -> u32 {
        self.open.iter().flatten().map(|open| open.event.lines).sum()
    }

    /// The reader was kept from reading for `stalled` (waiting for room in
    /// the queue): that time does not count against the open events'
    /// timeouts, since their next lines may be waiting unread.
    pub fn postpone(&mut self, stalled: Duration) {
        for open in self.open.iter_mut().flatten() {
            open.deadline += stalled;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::multiline::testing::{group, line, MAX};
    use crate::multiline::{Mode, Parser, Rules};
    use crate::position::Watermark;
    use crate::record::flags;

    fn patterns(start: &str, condition: &str, mode: Mode, timeout_ms: u64) -> MultilineConfig {
        MultilineConfig {
            rules: Rules::Patterns {
                start: regex::bytes::Regex::new(start).unwrap(),
                condition: regex::bytes::Regex::new(condition).unwrap(),
                mode,
            },
            timeout: Duration::from_millis(timeout_ms),
        }
    }

    // Vector's four modes, each with the sentence of Vector's documentation
    // it shows, on inputs of the same shapes as Vector's own tests.

    #[test]
    fn continue_through_takes_the_matching_lines_after_a_start() {
        // "All consecutive lines matching this pattern are included in the
        // group. The first line (the line that matched the start pattern)
        // does not need to match the ContinueThrough pattern."
        let events = group(
            patterns(r"^[^\s]", r"^[\s]+", Mode::ContinueThrough, 1000),
            &["plain one", "  stray indent", "head", "  part a", "  part b", "plain two", "tail", "  of the last"],
        );
        assert_eq!(
            events,
            ["plain one\n  stray indent", "head\n  part a\n  part b", "plain two", "tail\n  of the last"]
        );
        // A line that matches neither opens nothing: it is an event alone.
        let events = group(patterns(r"^E", r"^\s", Mode::ContinueThrough, 1000), &["  lone", "x", "E", " f", "y"]);
        assert_eq!(events, ["  lone", "x", "E\n f", "y"]);
    }

    #[test]
    fn continue_past_takes_one_line_after_the_matching_ones() {
        // "All consecutive lines matching this pattern, plus one additional
        // line, are included in the group."
        let events = group(
            patterns(r"\\$", r"\\$", Mode::ContinuePast, 1000),
            &["alone", "first \\", "second \\", "last", "after", "open \\", "never closed \\"],
        );
        assert_eq!(events, ["alone", "first \\\nsecond \\\nlast", "after", "open \\\nnever closed \\"]);
    }

    #[test]
    fn halt_before_takes_the_lines_up_to_the_next_match() {
        // "All consecutive lines not matching this pattern are included in
        // the group." The matching line ends the group and starts the next.
        let events = group(
            patterns("", r"^(INFO|ERROR) ", Mode::HaltBefore, 1000),
            &["orphan 1", "orphan 2", "INFO one", "ERROR two", "  detail", "  more", "INFO three", "last words"],
        );
        assert_eq!(events, ["orphan 1\norphan 2", "INFO one", "ERROR two\n  detail\n  more", "INFO three\nlast words"]);
    }

    #[test]
    fn halt_with_takes_the_lines_up_to_and_with_the_next_match() {
        // "All consecutive lines, up to and including the first line
        // matching this pattern, are included in the group."
        let events = group(
            patterns(r"[^;]$", r";$", Mode::HaltWith, 1000),
            &["done;", "select *", "from t", "where x;", "also done;", "unfinished", "still"],
        );
        assert_eq!(events, ["done;", "select *\nfrom t\nwhere x;", "also done;", "unfinished\nstill"]);
    }

    #[test]
    fn the_start_line_is_not_read_against_the_condition() {
        // Vector tests the condition on the lines after the first only.
        let events = group(patterns(r"^BEGIN", r"END$", Mode::HaltWith, 1000), &["BEGIN x END", "y END", "z"]);
        assert_eq!(events, ["BEGIN x END\ny END", "z"]);
    }

    #[test]
    fn a_line_that_ends_an_event_may_start_the_next() {
        // Vector hands the excluded line back to itself (its stash): two
        // traces back to back are two events, not a trace and a line.
        let events = group(patterns(r"^\S", r"^\s", Mode::ContinueThrough, 1000), &["A", " a", "B", " b", "C"]);
        assert_eq!(events, ["A\n a", "B\n b", "C"]);
    }

    #[test]
    fn a_grouper_can_move_into_a_reader_task() {
        fn send<T: Send + 'static>() {}
        send::<Grouper>();
        send::<Event>();
    }

    #[test]
    fn without_rules_every_line_is_an_event_and_is_not_copied() {
        let mut grouper = Grouper::new(None, MAX);
        let mut out = Vec::new();
        let input = line(Stream::Stderr, 5, 2, "\tat x");
        let bytes = input.message.as_ptr();
        grouper.push(input, Instant::now(), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].message.as_ptr(), bytes);
        assert_eq!(
            (out[0].stream, out[0].ts_ns, out[0].mark, out[0].lines),
            (Stream::Stderr, 5, Watermark { ts_ns: 5, count: 2 }, 1)
        );
        assert_eq!(grouper.next_deadline(), None);
        assert_eq!(grouper.pending_since(Stream::Stderr), None);
    }

    #[test]
    fn an_open_event_is_emitted_a_timeout_after_its_last_line() {
        let mut grouper = Grouper::new(Some(patterns(r"^\S", r"^\s", Mode::ContinueThrough, 100)), MAX);
        let mut out = Vec::new();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        grouper.push(line(Stream::Stdout, 1, 1, "head"), t0, &mut out);
        assert_eq!(grouper.next_deadline(), Some(t0 + ms(100)));
        // Each line that joins pushes the deadline back (Vector resets it).
        grouper.push(line(Stream::Stdout, 2, 1, " one"), t0 + ms(60), &mut out);
        assert_eq!(grouper.next_deadline(), Some(t0 + ms(160)));
        grouper.flush_due(t0 + ms(159), &mut out);
        assert!(out.is_empty());
        // A line that comes after the deadline, before `flush_due`, joins.
        grouper.push(line(Stream::Stdout, 3, 1, " two"), t0 + ms(170), &mut out);
        assert!(out.is_empty());
        grouper.flush_due(t0 + ms(270), &mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].message, "head\n one\n two");
        assert_eq!(grouper.next_deadline(), None);
        // A line that opens nothing sets no deadline.
        grouper.push(line(Stream::Stdout, 4, 1, " stray"), t0 + ms(300), &mut out);
        assert_eq!((out.len(), grouper.next_deadline()), (2, None));
    }

    #[test]
    fn the_streams_group_apart_and_keep_their_own_deadlines() {
        let mut grouper = Grouper::new(Some(MultilineConfig::parser(Parser::Java)), MAX);
        let mut out = Vec::new();
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let input = [
            (Stream::Stdout, "java.lang.IllegalStateException: out", 0),
            (Stream::Stderr, "java.io.IOException: err", 10),
            (Stream::Stdout, "\tat A.a(A.java:1)", 20),
            (Stream::Stderr, "\tat B.b(B.java:2)", 30),
            (Stream::Console, "plain tty line", 35),
            (Stream::Stdout, "Caused by: java.lang.Error: inner", 40),
            (Stream::Stderr, "plain stderr line", 50),
            (Stream::Stdout, "\tat C.c(C.java:3)", 60),
        ];
        for (i, (stream, text, at)) in input.iter().enumerate() {
            grouper.push(line(*stream, 100 + i as i64, 1, text), t0 + ms(*at), &mut out);
        }
        let got: Vec<(Stream, &[u8])> = out.iter().map(|e| (e.stream, &e.message[..])).collect();
        assert_eq!(
            got,
            [
                (Stream::Console, &b"plain tty line"[..]),
                (Stream::Stderr, b"java.io.IOException: err\n\tat B.b(B.java:2)"),
                (Stream::Stderr, b"plain stderr line"),
            ]
        );
        assert_eq!(grouper.pending_since(Stream::Stdout), Some(100));
        assert_eq!(grouper.pending_since(Stream::Stderr), None);
        assert_eq!(grouper.next_deadline(), Some(t0 + ms(60 + 1000)));
        out.clear();
        grouper.finish(&mut out);
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].message, "java.lang.IllegalStateException: out\n\tat A.a(A.java:1)\nCaused by: java.lang.Error: inner\n\tat C.c(C.java:3)");
        assert_eq!((out[0].ts_ns, out[0].mark, out[0].lines), (100, Watermark { ts_ns: 107, count: 1 }, 4));
        assert_eq!((grouper.pending_since(Stream::Stdout), grouper.next_deadline()), (None, None));
    }

    #[test]
    fn finish_emits_what_every_stream_holds_and_flush_due_only_what_is_due() {
        let mut grouper = Grouper::new(Some(MultilineConfig::parser(Parser::Python)), MAX);
        let mut out = Vec::new();
        let t0 = Instant::now();
        let traceback = "Traceback (most recent call last):";
        grouper.push(line(Stream::Stdout, 1, 1, traceback), t0, &mut out);
        grouper.push(line(Stream::Stderr, 2, 1, traceback), t0 + Duration::from_millis(500), &mut out);
        grouper.flush_due(t0 + Duration::from_millis(1000), &mut out);
        assert_eq!(out.iter().map(|e| e.stream).collect::<Vec<_>>(), [Stream::Stdout]);
        assert_eq!(grouper.next_deadline(), Some(t0 + Duration::from_millis(1500)));
        grouper.push(line(Stream::Console, 3, 1, traceback), t0, &mut out);
        grouper.finish(&mut out);
        assert_eq!(out.iter().map(|e| e.stream).collect::<Vec<_>>(), [Stream::Stdout, Stream::Stderr, Stream::Console]);
        assert_eq!(grouper.next_deadline(), None);
        grouper.finish(&mut out);
        assert_eq!(out.len(), 3);
    }

    #[test]
    fn an_event_carries_its_first_stamp_and_its_last_lines_mark() {
        // Lines sharing a stamp (a coarse clock) carry increasing counts;
        // the event's mark is its last line's, so a checkpoint taken when it
        // is delivered passes exactly its lines.
        let mut grouper = Grouper::new(Some(MultilineConfig::parser(Parser::Java)), MAX);
        let mut out = Vec::new();
        let now = Instant::now();
        for (ts, count, text) in
            [(10, 1, "before"), (10, 2, "java.lang.Error: x"), (10, 3, "\tat a"), (11, 1, "\tat b"), (11, 2, "after")]
        {
            grouper.push(line(Stream::Stdout, ts, count, text), now, &mut out);
            if text == "\tat a" {
                assert_eq!(grouper.pending_since(Stream::Stdout), Some(10));
            }
        }
        grouper.finish(&mut out);
        let got: Vec<(i64, Watermark, u32)> = out.iter().map(|e| (e.ts_ns, e.mark, e.lines)).collect();
        let mark = |ts_ns, count| Watermark { ts_ns, count };
        assert_eq!(got, [(10, mark(10, 1), 1), (10, mark(11, 1), 3), (11, mark(11, 2), 1)]);
    }

    #[test]
    fn a_published_position_is_held_back_before_the_held_lines() {
        // The reader's position passed every line pushed; what it publishes
        // stops just before the first line of each open event, its count
        // that of the line's first piece (a merged line of pieces 3..=4).
        let mut grouper = Grouper::new(Some(MultilineConfig::parser(Parser::Java)), MAX);
        let mut out = Vec::new();
        let now = Instant::now();
        grouper.push(line(Stream::Stdout, 10, 2, "plain"), now, &mut out);
        let mut opening = line(Stream::Stdout, 10, 4, "java.lang.Error: x");
        opening.first_count = 3;
        grouper.push(opening, now, &mut out);
        grouper.push(line(Stream::Stdout, 11, 1, "\tat a"), now, &mut out);
        grouper.push(line(Stream::Stderr, 12, 1, "java.io.IOException: y"), now, &mut out);
        assert_eq!(grouper.held_lines(), 3);
        let mut position = Position::starting_at(0);
        position.advance(0, 11, 1);
        position.advance(1, 12, 1);
        position.advance(2, 7, 1);
        grouper.hold_back(&mut position);
        let marks: Vec<(i64, u32)> = position.marks.iter().map(|m| (m.ts_ns, m.count)).collect();
        assert_eq!(marks, [(10, 2), (12, 0), (7, 1)]);
        // Never forward: a position already before the held lines stays.
        let mut behind = Position::starting_at(5);
        grouper.hold_back(&mut behind);
        assert_eq!(behind, Position::starting_at(5));
        grouper.finish(&mut out);
        assert_eq!(grouper.held_lines(), 0);
    }

    #[test]
    fn time_stalled_on_the_queue_does_not_count_against_the_timeout() {
        let mut grouper = Grouper::new(Some(patterns(r"^\S", r"^\s", Mode::ContinueThrough, 100)), MAX);
        let mut out = Vec::new();
        let t0 = Instant::now();
        grouper.push(line(Stream::Stdout, 1, 1, "head"), t0, &mut out);
        grouper.postpone(Duration::from_millis(5000));
        assert_eq!(grouper.next_deadline(), Some(t0 + Duration::from_millis(5100)));
        grouper.flush_due(t0 + Duration::from_millis(5099), &mut out);
        assert!(out.is_empty());
    }

    #[test]
    fn an_event_is_cut_at_max_bytes_on_a_character_boundary() {
        let config = patterns(r"^\S", r"^\s", Mode::ContinueThrough, 1000);
        let mut grouper = Grouper::new(Some(config), 12);
        let mut out = Vec::new();
        let now = Instant::now();
        // "head" (4) + "\n é€" (1 + 6) = 11 bytes; the next line has room
        // for one byte: its "\n" would fit but none of it, so none is kept.
        for (i, text) in ["head", " é€", " more", " and more", "next"].iter().enumerate() {
            grouper.push(line(Stream::Stdout, 20 + i as i64, 1, text), now, &mut out);
        }
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].message, "head\n é€");
        assert_eq!(out[0].flags, flags::TRUNCATED);
        // Dropped lines are still passed: the mark is the last line's.
        assert_eq!((out[0].mark, out[0].lines), (Watermark { ts_ns: 23, count: 1 }, 4));

        // A cut inside a character keeps the whole characters before it.
        let mut grouper = Grouper::new(Some(patterns(r"^\S", r"^\s", Mode::ContinueThrough, 1000)), 9);
        out.clear();
        for (i, text) in ["head", " é€"].iter().enumerate() {
            grouper.push(line(Stream::Stdout, i as i64, 1, text), now, &mut out);
        }
        grouper.finish(&mut out);
        assert_eq!(out[0].message, "head\n é");
        assert!(std::str::from_utf8(&out[0].message).is_ok());
        assert_eq!((out[0].flags, out[0].lines), (flags::TRUNCATED, 2));

        // A line longer than the bound by itself, in or out of an event.
        let mut grouper = Grouper::new(Some(patterns(r"^\S", r"^\s", Mode::ContinueThrough, 1000)), 4);
        out.clear();
        grouper.push(line(Stream::Stdout, 1, 1, "€€"), now, &mut out);
        grouper.push(line(Stream::Stdout, 2, 1, " x"), now, &mut out);
        grouper.finish(&mut out);
        assert_eq!((&out[0].message[..], out[0].flags, out[0].lines), ("€".as_bytes(), flags::TRUNCATED, 2));
        let mut off = Grouper::new(None, 4);
        out.clear();
        off.push(line(Stream::Stdout, 1, 1, "abcdef"), now, &mut out);
        assert_eq!((&out[0].message[..], out[0].flags), (&b"abcd"[..], flags::TRUNCATED));
    }

    #[test]
    fn the_flags_of_the_lines_carry_over_to_their_event() {
        let mut grouper = Grouper::new(Some(patterns(r"^\S", r"^\s", Mode::ContinueThrough, 1000)), MAX);
        let mut out = Vec::new();
        let now = Instant::now();
        let mut cut = line(Stream::Stdout, 2, 1, " a long line, cut by the partial merge");
        cut.flags = flags::TRUNCATED;
        let mut unfinished = line(Stream::Stdout, 3, 1, " the container stopped mid-line");
        unfinished.flags = flags::PARTIAL;
        for l in [line(Stream::Stdout, 1, 1, "head"), cut, unfinished] {
            grouper.push(l, now, &mut out);
        }
        grouper.finish(&mut out);
        assert_eq!(out[0].flags, flags::TRUNCATED | flags::PARTIAL);
        assert_eq!(out[0].lines, 3);
    }

    #[test]
    fn a_catastrophic_backtracking_pattern_runs_in_linear_time() {
        // `^(a+)+$` against "aaaa…ab" takes 2^n steps on a backtracking
        // engine; the regex crate's automata take a bounded number of steps
        // per byte. 100,000 bytes: this test finishes (in well under a
        // second); a backtracking engine would not finish at all.
        let long = "a".repeat(100_000) + "b";
        let config = patterns(r"^(a+)+$", r"^(x+x+)+y$", Mode::ContinueThrough, 1000);
        let mut grouper = Grouper::new(Some(config), MAX);
        let mut out = Vec::new();
        let now = Instant::now();
        let opens = "a".repeat(100_000);
        let never = "x".repeat(100_000);
        for (i, text) in [long.as_str(), opens.as_str(), never.as_str(), long.as_str()].iter().enumerate() {
            grouper.push(line(Stream::Stdout, i as i64, 1, text), now, &mut out);
        }
        grouper.finish(&mut out);
        let lines: Vec<u32> = out.iter().map(|e| e.lines).collect();
        assert_eq!(lines, [1, 1, 1, 1]);
        assert_eq!(out[1].message.len(), 100_000);
    }
}
