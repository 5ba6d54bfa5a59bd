//! What decides whether a line starts, continues or ends an event: Vector's
//! four modes over a start and a condition pattern, or a built-in parser's
//! state machine. Both answer the same two questions, so the grouper does
//! not care which one it holds.

use regex::bytes::{Regex, RegexBuilder};

use super::parsers::Parser;

/// A state of a parser's machine (0: no event open; Vector's rules use only
/// that state and 1).
pub type State = u8;

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

/// What a line does to the event open on its stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// It joins the event, which stays open in this state.
    Continue(State),
    /// It joins the event and ends it.
    EndWith,
    /// It ends the event without joining it; it is then looked at as a
    /// line with no event open.
    EndBefore,
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

/// The end state: a transition into it ends the event with its line.
pub const END: State = State::MAX;

/// A built-in parser: in any state of `from`, a line matching `pattern`
/// moves the event to state `to` (the first such rule wins); a line no
/// rule of the current state takes ends the event before it. The rules
/// from state 0 are the ones that open an event.
///
/// The patterns are ASCII-only (`(?-u)`: `\s`, `\d`, `.` and classes
/// match bytes, not Unicode characters), which keeps the regex crate on
/// its fastest paths; a trace's syntax is ASCII.
#[derive(Debug)]
pub struct Machine {
    /// Per state, its rules in order: (pattern, next state).
    states: Vec<Vec<(Regex, State)>>,
    /// The rules from state 0 as one alternation: most lines open nothing,
    /// and this tells so in one search.
    opens_any: Regex,
}

/// One rule of a machine, as written in `parsers.rs`.
pub struct Rule {
    pub from: &'static [State],
    pub pattern: &'static str,
    pub to: State,
}

impl Machine {
    /// Compiles the rules. The patterns are the library's own, so a bad one
    /// is a bug caught by the tests, not an input error.
    pub fn new(rules: &[Rule]) -> Machine {
        let ascii = |pattern: &str| {
            RegexBuilder::new(pattern).unicode(false).build().expect("a built-in multiline pattern compiles")
        };
        let count = rules.iter().flat_map(|r| r.from.iter().copied()).max().map_or(1, |s| s as usize + 1);
        let mut states = vec![Vec::new(); count];
        for rule in rules {
            let pattern = ascii(rule.pattern);
            for &from in rule.from {
                states[from as usize].push((pattern.clone(), rule.to));
            }
        }
        let openers: Vec<String> =
            rules.iter().filter(|r| r.from.contains(&0)).map(|r| format!("(?:{})", r.pattern)).collect();
        Machine { states, opens_any: ascii(&openers.join("|")) }
    }

    #[inline]
    fn step(&self, state: State, line: &[u8]) -> Option<State> {
        let rules = self.states.get(state as usize)?;
        rules.iter().find(|(pattern, _)| pattern.is_match(line)).map(|(_, to)| *to)
    }

    #[inline]
    fn begin(&self, line: &[u8]) -> Option<State> {
        if !self.opens_any.is_match(line) {
            return None;
        }
        // A rule from the start straight to the end is a one-line event.
        self.step(0, line).filter(|&to| to != END)
    }

    #[inline]
    fn next(&self, state: State, line: &[u8]) -> Next {
        match self.step(state, line) {
            Some(END) => Next::EndWith,
            Some(to) => Next::Continue(to),
            None => Next::EndBefore,
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

    #[test]
    fn a_machine_takes_the_first_rule_of_its_state() {
        let machine = Machine::new(&[
            Rule { from: &[0], pattern: "^open", to: 1 },
            Rule { from: &[0], pattern: "^whole", to: END },
            Rule { from: &[1], pattern: "^x", to: 2 },
            Rule { from: &[1, 2], pattern: "^x|^y", to: 1 },
            Rule { from: &[2], pattern: "^close", to: END },
        ]);
        assert_eq!(machine.begin(b"open"), Some(1));
        assert_eq!(machine.begin(b"whole"), None);
        assert_eq!(machine.begin(b"x"), None);
        assert_eq!(machine.next(1, b"x"), Next::Continue(2));
        assert_eq!(machine.next(2, b"x"), Next::Continue(1));
        assert_eq!(machine.next(1, b"y"), Next::Continue(1));
        assert_eq!(machine.next(2, b"close"), Next::EndWith);
        assert_eq!(machine.next(1, b"close"), Next::EndBefore);
    }
}
