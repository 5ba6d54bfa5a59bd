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
//!   `StopIteration`), Node's `Error: …` at the start of a line (Fluent Bit
//!   wants a character before `Error`), Go's nested panics (`\tpanic: …
//!   [recovered]`), `fatal error:` blocks and elided frames.
//! - The patterns are ASCII-only (see `machine::Machine`).

use std::sync::LazyLock;

use super::machine::{Machine, Rule};

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
const J_NESTED: u8 = 3; // after a line ending `nested exception is:` (RMI): its exception follows

const JAVA_RULES: &[Rule] = &[
    // The frequent continuations first: each line takes the first rule of
    // its state that matches.
    Rule { from: &[J_EXCEPTION, J_FRAMES], pattern: r"^[\t ]+(?:eval )?at ", to: J_FRAMES },
    Rule { from: &[J_EXCEPTION, J_FRAMES], pattern: r"^[\t ]*\.\.\. \d+ (?:more|common frames omitted)", to: J_FRAMES },
    Rule { from: &[0, J_EXCEPTION, J_FRAMES], pattern: r"nested exception is:[\t ]*$", to: J_NESTED },
    // `java.lang.IllegalStateException: message`, `Exception in thread "main" …`,
    // an exception without a message at the end of its line, and Node's
    // `Error: message`.
    Rule {
        from: &[0, J_NESTED],
        pattern: r"(?:Exception|Error|Throwable|V8 errors stack trace)(?::|$)",
        to: J_EXCEPTION,
    },
    Rule { from: &[J_EXCEPTION], pattern: r"^[\t ]*nested exception is:", to: J_EXCEPTION },
    Rule { from: &[J_EXCEPTION], pattern: r"^\r?$", to: J_EXCEPTION },
    Rule { from: &[J_EXCEPTION, J_FRAMES], pattern: r"^[\t ]*(?:Caused by|Suppressed):", to: J_EXCEPTION },
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
    use crate::frame::Stream;
    use crate::multiline::testing::{group, group_events};
    use crate::multiline::MultilineConfig;

    /// Real stderr of the programs in `tests/fixtures/multiline/gen/`.
    const JAVA: &str = include_str!("../../tests/fixtures/multiline/java.txt");
    const PYTHON: &str = include_str!("../../tests/fixtures/multiline/python.txt");
    const GO_ALL: &str = include_str!("../../tests/fixtures/multiline/go_all.txt");
    const GO_NESTED: &str = include_str!("../../tests/fixtures/multiline/go_nested.txt");
    const GO_NIL: &str = include_str!("../../tests/fixtures/multiline/go_nil.txt");

    /// Groups a fixture's lines (stderr) and returns each event's first and
    /// last line numbers (from 1), checking that the events hold every line
    /// in order. Twice: ending with the container's stop, and with an
    /// ordinary line after the fixture (the last trace then ends there).
    fn spans(parser: Parser, fixture: &str) -> Vec<(usize, usize)> {
        let lines: Vec<&str> = fixture.lines().collect();
        let config = MultilineConfig::parser(parser);
        let events = group_events(config.clone(), Stream::Stderr, &lines);
        let joined: Vec<&str> = events.iter().map(|e| std::str::from_utf8(&e.message).unwrap()).collect();
        assert_eq!(joined.join("\n"), lines.join("\n"));
        let mut spans = Vec::new();
        let mut first = 1;
        for e in &events {
            spans.push((first, first + e.lines as usize - 1));
            first += e.lines as usize;
        }
        let mut followed = lines.clone();
        followed.push("2024-05-06 07:08:10 INFO after the trace");
        let events = group_events(config, Stream::Stderr, &followed);
        assert_eq!(events.len(), spans.len() + 1, "a line after the last trace is its own event");
        assert_eq!(events.last().unwrap().message, "2024-05-06 07:08:10 INFO after the trace");
        spans
    }

    #[test]
    fn every_parser_compiles_and_is_named() {
        for name in Parser::NAMES {
            let parser = Parser::from_name(name).unwrap();
            assert_eq!(parser.name(), *name);
            let _ = parser.machine();
        }
        assert_eq!(Parser::from_name("ruby"), None);
    }

    #[test]
    fn java_traces_of_a_real_jvm() {
        // A cause chain with `... 8 more`; suppressed exceptions; an
        // exception without a message; three traces back to back; an
        // uncaught exception (`Exception in thread "main"`).
        assert_eq!(
            spans(Parser::Java, JAVA),
            [(1, 1), (2, 18), (19, 19), (20, 33), (34, 42), (43, 51), (52, 52), (53, 54)]
        );
    }

    #[test]
    fn python_tracebacks_of_a_real_python_3_11() {
        // Caret lines; an implicit and an explicit chain (one event each,
        // chain and all); a bare `StopIteration`; an exception group; an
        // uncaught exception.
        assert_eq!(
            spans(Parser::Python, PYTHON),
            [(1, 1), (2, 8), (9, 9), (10, 23), (24, 40), (41, 44), (45, 53), (54, 54), (55, 61)]
        );
    }

    #[test]
    fn go_panics_of_a_real_go_runtime() {
        // All goroutines (GOTRACEBACK=all), blank lines between blocks.
        assert_eq!(spans(Parser::Go, GO_ALL), [(1, 1), (2, 20)]);
        // A panic while recovering from another: `[recovered]`, `\tpanic:`.
        assert_eq!(spans(Parser::Go, GO_NESTED), [(1, 1), (2, 13)]);
        // A nil dereference: its `[signal SIGSEGV …]` line.
        assert_eq!(spans(Parser::Go, GO_NIL), [(1, 1), (2, 11)]);
    }

    #[test]
    fn java_shapes_of_loggers_rmi_and_dotnet() {
        let java = || MultilineConfig::parser(Parser::Java);
        // Logback: the message line stands alone, the trace follows.
        let events = group(
            java(),
            &[
                "2024-05-06 07:08:09.001 ERROR [main] c.e.App - request failed",
                "java.lang.IllegalStateException: boom",
                "\tat c.e.App.handle(App.java:10)",
                "Caused by: java.io.IOException: reset",
                "\tat c.e.Net.read(Net.java:20)",
                "\t... 12 common frames omitted",
                "2024-05-06 07:08:09.002 INFO  [main] c.e.App - next request",
            ],
        );
        assert_eq!(events.len(), 3);
        assert!(events[1].starts_with("java.lang.IllegalStateException") && events[1].ends_with("omitted"));
        // RMI: the nested exception belongs to the trace, on its own line
        // or on the line that announces it.
        let events = group(
            java(),
            &[
                "java.rmi.ServerException: RemoteException occurred in server thread; nested exception is:",
                "\tjava.rmi.RemoteException: backend down",
                "\tat sun.rmi.server.UnicastServerRef.dispatch(UnicastServerRef.java:389)",
            ],
        );
        assert_eq!(events.len(), 1, "{events:?}");
        for nested in [
            &["\tnested exception is:", "java.net.ConnectException: Connection refused"][..],
            &["\tnested exception is: java.net.ConnectException: Connection refused"],
        ] {
            let mut lines = vec!["org.springframework.remoting.RemoteAccessException: failed"];
            lines.extend_from_slice(nested);
            lines.extend(["\tat java.net.PlainSocketImpl.connect(PlainSocketImpl.java:100)", "next"]);
            assert_eq!(group(java(), &lines).len(), 2, "{lines:?}");
        }
        // .NET: inner exceptions and async frames.
        let events = group(
            java(),
            &[
                "System.InvalidOperationException: outer ---> System.IO.IOException: inner",
                "   at App.Read() in /src/App.cs:line 10",
                "   --- End of inner exception stack trace ---",
                "   at App.Main() in /src/App.cs:line 3",
                "--- End of stack trace from previous location ---",
                "   at App.Run() in /src/App.cs:line 30",
                "done",
            ],
        );
        assert_eq!(events.len(), 2, "{events:?}");
        // Node (V8): `Error:` opens at the start of a line too.
        let events = group(java(), &["Error: boom", "    at f (/app/x.js:1:2)", "    at g (/app/x.js:5:3)", "next"]);
        assert_eq!(events, ["Error: boom\n    at f (/app/x.js:1:2)\n    at g (/app/x.js:5:3)", "next"]);
        // A line that looks like an exception and has no trace is alone.
        assert_eq!(group(java(), &["Got Error: timeout", "next line"]), ["Got Error: timeout", "next line"]);
    }

    #[test]
    fn python_shapes_of_logging_and_recursion() {
        let events = group(
            MultilineConfig::parser(Parser::Python),
            &[
                "ERROR:root:request failed",
                "Traceback (most recent call last):",
                "  File \"/app/x.py\", line 3, in f",
                "    return f()",
                "           ^^^",
                "  [Previous line repeated 996 more times]",
                "RecursionError: maximum recursion depth exceeded",
                "",
                "INFO:root:next",
            ],
        );
        // A blank line after the exception is held in case a chained
        // traceback follows; a plain line after it ends the event.
        assert_eq!(events.len(), 3, "{events:?}");
        assert_eq!(events[0], "ERROR:root:request failed");
        assert!(events[1].ends_with("exceeded\n"));
    }

    #[test]
    fn go_shapes_of_net_http_and_fatal_errors() {
        let go = || MultilineConfig::parser(Parser::Go);
        let events = group(
            go(),
            &[
                "2024/05/06 07:08:09 http: panic serving 10.0.0.1:40000: boom",
                "goroutine 7 [running]:",
                "net/http.(*conn).serve.func1()",
                "\t/usr/lib/go/src/net/http/server.go:1850 +0xbf",
                "...additional frames elided...",
                "created by net/http.(*Server).Serve in goroutine 1",
                "\t/usr/lib/go/src/net/http/server.go:3086 +0x5cb",
                "2024/05/06 07:08:10 next request",
            ],
        );
        assert_eq!(events.len(), 2, "{events:?}");
        let events = group(
            go(),
            &[
                "fatal error: all goroutines are asleep - deadlock!",
                "",
                "goroutine 1 [chan receive]:",
                "main.main()",
                "\t/app/main.go:5 +0x25",
                "exit status 2",
            ],
        );
        assert_eq!(events.len(), 2, "{events:?}");
        // `goroutine N [running]:` alone (debug.PrintStack) opens nothing.
        assert_eq!(group(go(), &["goroutine 1 [running]:", "main.main()"]).len(), 2);
    }
}
