//! What decides whether a line starts, continues or ends an event: Vector's
//! four modes over a start and a condition pattern, or a built-in parser's
//! state machine (`machine`). Both answer the same two questions, so the
//! grouper does not care which one it holds.

use regex::bytes::Regex;

use super::machine::{Next, State};
use super::parsers::Parser;

/// How Vector's `condition_pattern` is read once an event is open (the same
/// names and meanings as Vector's `multiline.mode`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Every following line that matches joins the event; the first that
    /// does not ends it and is looked at afresh (e.g. indented frames).
    ContinueThrough,
    /// Every following line that matches joins the event, and so does the
    /// first that does not, which ends it (e.g. a trailing backslash).
    ContinuePast,
    /// Every following line that does not match joins the event; the first
    /// that does ends it and is looked at afresh (e.g. a line that starts
    /// with a log level begins the next message).
    HaltBefore,
    /// Every following line joins the event, up to and including the first
    /// that matches (e.g. a terminating semicolon).
    HaltWith,
}

impl Mode {
    pub const NAMES: &'static [&'static str] = &["continue_through", "continue_past", "halt_before", "halt_with"];

    pub fn from_name(name: &str) -> Option<Mode> {
        match name {
            "continue_through" => Some(Mode::ContinueThrough),
            "continue_past" => Some(Mode::ContinuePast),
            "halt_before" => Some(Mode::HaltBefore),
            "halt_with" => Some(Mode::HaltWith),
            _ => None,
        }
    }
}

/// The grouping rules of one configuration.
#[derive(Debug, Clone)]
pub enum Rules {
    /// Vector's `start_pattern`, `condition_pattern` and `mode`.
    Patterns { start: Regex, condition: Regex, mode: Mode },
    /// A built-in parser (`java`, `python`, `go`).
    Parser(Parser),
}

impl Rules {
    /// With no event open: `Some(state)` when the line opens an event,
    /// `None` when it is an event by itself.
    #[inline]
    pub fn begin(&self, line: &[u8]) -> Option<State> {
        match self {
            Rules::Patterns { start, .. } => start.is_match(line).then_some(1),
            Rules::Parser(parser) => parser.machine().begin(line),
        }
    }

    /// With an event open in `state`: what `line` does to it.
    #[inline]
    pub fn next(&self, state: State, line: &[u8]) -> Next {
        match self {
            Rules::Patterns { condition, mode, .. } => {
                let matched = condition.is_match(line);
                match (mode, matched) {
                    (Mode::ContinueThrough, true) | (Mode::ContinuePast, true) => Next::Continue(state),
                    (Mode::ContinueThrough, false) | (Mode::HaltBefore, true) => Next::EndBefore,
                    (Mode::ContinuePast, false) | (Mode::HaltWith, true) => Next::EndWith,
                    (Mode::HaltBefore, false) | (Mode::HaltWith, false) => Next::Continue(state),
                }
            }
            Rules::Parser(parser) => parser.machine().next(state, line),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn patterns(mode: Mode) -> Rules {
        Rules::Patterns { start: Regex::new("^start").unwrap(), condition: Regex::new("^c").unwrap(), mode }
    }

    #[test]
    fn each_mode_reads_the_condition_as_vector_does() {
        // (mode, condition matched) → decision, the table of Vector's
        // `line_agg` documentation.
        let cases = [
            (Mode::ContinueThrough, true, Next::Continue(1)),
            (Mode::ContinueThrough, false, Next::EndBefore),
            (Mode::ContinuePast, true, Next::Continue(1)),
            (Mode::ContinuePast, false, Next::EndWith),
            (Mode::HaltBefore, true, Next::EndBefore),
            (Mode::HaltBefore, false, Next::Continue(1)),
            (Mode::HaltWith, true, Next::EndWith),
            (Mode::HaltWith, false, Next::Continue(1)),
        ];
        for (mode, matched, expected) in cases {
            let line: &[u8] = if matched { b"c line" } else { b"other" };
            assert_eq!(patterns(mode).next(1, line), expected, "{mode:?} matched={matched}");
        }
    }

    #[test]
    fn only_the_start_pattern_opens_an_event() {
        let rules = patterns(Mode::HaltWith);
        assert_eq!(rules.begin(b"start here"), Some(1));
        assert_eq!(rules.begin(b"c is the condition, not the start"), None);
    }
}
