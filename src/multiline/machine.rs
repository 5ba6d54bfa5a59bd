//! A built-in parser's state machine: per state, rules (pattern, next
//! state) tried in order; the states and decisions the grouper works with.

use regex::bytes::{Regex, RegexBuilder};

/// A state of a parser's machine (0: no event open; Vector's rules use only
/// that state and 1).
pub type State = u8;

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
    pub(super) fn begin(&self, line: &[u8]) -> Option<State> {
        if !self.opens_any.is_match(line) {
            return None;
        }
        // A rule from the start straight to the end is a one-line event.
        self.step(0, line).filter(|&to| to != END)
    }

    #[inline]
    pub(super) fn next(&self, state: State, line: &[u8]) -> Next {
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
