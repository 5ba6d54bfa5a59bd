//! The built-in parsers, named like Fluent Bit's (`java`, `python`, `go`):
//! state machines over the usual shapes of a stack trace, in the manner of
//! Fluent Bit's `src/multiline/flb_ml_parser_*.c` (themselves from Google's
//! `fluent-plugin-detect-exceptions`), with these differences:
//!
//! - A line that ends an event is looked at afresh, so a trace that follows
//!   another at once is grouped too (Fluent Bit emits that line alone).
//! - An event stays open until a line does not fit or the timeout: a Python
//!   traceback's chained causes ("During handling of the above exception…",
//!   "The above exception was the direct cause…") join it, and a Java
//!   `nested exception is:` is followed by its exception in the same event.
//! - Shapes Fluent Bit's rules miss: Python 3.11's `~~~^^^` marker lines and
//!   exception groups, an exception with no message (`java.lang.Foo` alone,
//!   `StopIteration`), Go's nested panics (`\tpanic: … [recovered]`), `fatal
//!   error:` blocks and elided frames.

use std::sync::LazyLock;

use super::rules::{Machine, Rule};

/// A built-in parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Parser {
    Java,
    Python,
    Go,
}

impl Parser {
    pub const NAMES: &'static [&'static str] = &["java", "python", "go"];

    pub fn from_name(name: &str) -> Option<Parser> {
        match name {
            "java" => Some(Parser::Java),
            "python" => Some(Parser::Python),
            "go" => Some(Parser::Go),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Parser::Java => "java",
            Parser::Python => "python",
            Parser::Go => "go",
        }
    }

    /// The compiled machine, built once per process.
    #[inline]
    pub fn machine(self) -> &'static Machine {
        static JAVA: LazyLock<Machine> = LazyLock::new(|| Machine::new(JAVA_RULES));
        static PYTHON: LazyLock<Machine> = LazyLock::new(|| Machine::new(PYTHON_RULES));
        static GO: LazyLock<Machine> = LazyLock::new(|| Machine::new(GO_RULES));
        match self {
            Parser::Java => &JAVA,
            Parser::Python => &PYTHON,
            Parser::Go => &GO,
        }
    }
}

// Java (and the JVM's and .NET's relatives). States:
const J_EXCEPTION: u8 = 1; // after an exception line: frames, causes, blank lines
const J_FRAMES: u8 = 2; // after a frame
const J_NESTED: u8 = 3; // after `nested exception is:` (RMI): an exception line follows

const JAVA_RULES: &[Rule] = &[
    // `java.lang.IllegalStateException: message`, `Exception in thread "main" …`,
    // and an exception without a message at the end of its line.
    Rule {
        from: &[0, J_NESTED],
        pattern: r".(?:Exception|Error|Throwable|V8 errors stack trace)(?::|$)",
        to: J_EXCEPTION,
    },
    Rule { from: &[J_EXCEPTION], pattern: r"^[\t ]*nested exception is:[\t ]*", to: J_NESTED },
    Rule { from: &[J_EXCEPTION], pattern: r"^\r?$", to: J_EXCEPTION },
    Rule { from: &[J_EXCEPTION, J_FRAMES], pattern: r"^[\t ]+(?:eval )?at ", to: J_FRAMES },
    // .NET: an inner exception's end, and async frames.
    Rule {
        from: &[J_EXCEPTION, J_FRAMES],
        pattern: r"^[\t ]+--- End of inner exception stack trace ---$",
        to: J_FRAMES,
    },
    Rule {
        from: &[J_EXCEPTION, J_FRAMES],
        pattern: r"^--- End of stack trace from previous location(?: where exception was thrown)? ---$",
        to: J_FRAMES,
    },
    Rule { from: &[J_EXCEPTION, J_FRAMES], pattern: r"^[\t ]*(?:Caused by|Suppressed):", to: J_EXCEPTION },
    Rule { from: &[J_EXCEPTION, J_FRAMES], pattern: r"^[\t ]*\.\.\. \d+ (?:more|common frames omitted)", to: J_FRAMES },
];

// Python. States:
const P_TRACE: u8 = 1; // after `Traceback (most recent call last):`
const P_CODE: u8 = 2; // after a `File …` line: its code and marker lines
const P_RAISED: u8 = 3; // after the exception line
const P_GAP: u8 = 4; // a blank line after it: a chained traceback may follow
const P_CHAIN: u8 = 5; // "During handling…" / "The above exception…"
const P_CHAIN_GAP: u8 = 6; // the blank line before the next traceback
const P_GROUP: u8 = 7; // inside an exception group's box

const PYTHON_RULES: &[Rule] = &[
    Rule { from: &[0, P_CHAIN_GAP], pattern: r"^Traceback \(most recent call last\):$", to: P_TRACE },
    Rule {
        from: &[0, P_CHAIN_GAP],
        pattern: r"^[\t ]*\+ Exception Group Traceback \(most recent call last\):$",
        to: P_GROUP,
    },
    Rule { from: &[P_GROUP], pattern: r"^[\t ]*[|+]", to: P_GROUP },
    Rule { from: &[P_TRACE, P_CODE], pattern: r"^[\t ]+File ", to: P_CODE },
    // The source line, 3.11's `~~~^^^` markers, `[Previous line repeated …]`.
    Rule { from: &[P_CODE], pattern: r"^[\t ]+\S", to: P_CODE },
    // `KeyError: 'x'`, `module.Error: …`, or a bare `StopIteration`.
    Rule { from: &[P_TRACE, P_CODE], pattern: r"^(?:[^\s.():]+\.)*[^\s.():]+(?::|$)", to: P_RAISED },
    Rule { from: &[P_RAISED], pattern: r"^$", to: P_GAP },
    Rule {
        from: &[P_GAP],
        pattern: r"^(?:During handling of the above exception, another exception occurred|The above exception was the direct cause of the following exception):$",
        to: P_CHAIN,
    },
    Rule { from: &[P_CHAIN], pattern: r"^$", to: P_CHAIN_GAP },
];

// Go. States:
const G_PANIC: u8 = 1; // after `panic: …` or `fatal error: …`
const G_SIGNAL: u8 = 2; // after `[signal SIGSEGV: …]`
const G_GOROUTINE: u8 = 3; // a `goroutine N [state]:` line is due
const G_FUNC: u8 = 4; // a function line (or a blank line, or the end) is due
const G_FILE: u8 = 5; // the function's indented file:line is due

const GO_RULES: &[Rule] = &[
    Rule { from: &[0], pattern: r"\bpanic: ", to: G_PANIC },
    Rule { from: &[0], pattern: r"^fatal error: ", to: G_PANIC },
    Rule { from: &[0], pattern: r"http: panic serving", to: G_GOROUTINE },
    // `\tpanic: second` after `panic: first [recovered]`.
    Rule { from: &[G_PANIC], pattern: r"^[\t ]+panic: ", to: G_PANIC },
    Rule { from: &[G_PANIC], pattern: r"^\[signal ", to: G_SIGNAL },
    Rule { from: &[G_PANIC, G_SIGNAL, G_FUNC], pattern: r"^$", to: G_GOROUTINE },
    Rule { from: &[G_GOROUTINE], pattern: r"^goroutine \d+ [^\[]*\[[^\]]+\]:$", to: G_FUNC },
    Rule { from: &[G_FUNC], pattern: r"^(?:[^\s.:]+\.)*[^\s.():]+\(|^created by ", to: G_FILE },
    Rule { from: &[G_FUNC], pattern: r"^\.\.\.(?:\d+|additional) frames elided\.\.\.$", to: G_FUNC },
    Rule { from: &[G_FILE], pattern: r"^\s", to: G_FUNC },
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_parser_compiles_and_is_named() {
        for name in Parser::NAMES {
            let parser = Parser::from_name(name).unwrap();
            assert_eq!(parser.name(), *name);
            let _ = parser.machine();
        }
        assert_eq!(Parser::from_name("ruby"), None);
    }
}
