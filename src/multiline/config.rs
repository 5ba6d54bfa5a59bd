//! The `multiline` option: a JSON object, Fluent Bit's dotted properties,
//! or a container's label. Every field's doc comment is its user
//! documentation; every error names the key and the problem.

use std::time::Duration;

use regex::bytes::Regex;
use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::parsers::Parser;
use super::rules::{Mode, Rules};

/// The container label that chooses a built-in parser for that container,
/// or turns grouping off for it, whatever the capture's `multiline` says:
/// `log_capturer.multiline=java` (or `python`, `go`, `off`).
pub const LABEL: &str = "log_capturer.multiline";

/// The Fluent Bit properties of the option (`multiline.<field>`).
pub const PROPERTY_KEYS: &[&str] = &[
    "multiline.parser",
    "multiline.start_pattern",
    "multiline.condition_pattern",
    "multiline.mode",
    "multiline.timeout_ms",
];

/// How long an open event waits for its next line when `timeout_ms` is not
/// given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_millis(1000);
/// The longest `timeout_ms` accepted (one hour).
pub const MAX_TIMEOUT_MS: u64 = 3_600_000;

/// A validated `multiline` option: the rules, compiled, and the timeout.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawMultiline")]
pub struct MultilineConfig {
    pub rules: Rules,
    /// An open event is emitted this long after its last line if no line
    /// ended it.
    pub timeout: Duration,
}

/// A `multiline` error, naming the key and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultilineError(pub String);

impl std::fmt::Display for MultilineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for MultilineError {}

/// The `multiline` object as written by the user: either `parser`, or
/// `start_pattern`, `condition_pattern` and `mode` (Vector's
/// `docker_logs.multiline`); `timeout_ms` with either.
#[derive(Deserialize)]
#[serde(deny_unknown_fields, expecting = "an object such as {\"parser\": \"java\"}")]
struct RawMultiline {
    /// A built-in parser: `java`, `python` or `go` (named like Fluent Bit's).
    #[serde(default, deserialize_with = "parser_opt")]
    parser: Option<Parser>,
    /// A regular expression: a line matching it, with no event open on its
    /// stream, opens one.
    #[serde(default, deserialize_with = "regex_opt")]
    start_pattern: Option<Regex>,
    /// A regular expression read, per `mode`, on each line after the first
    /// to decide whether the event goes on.
    #[serde(default, deserialize_with = "regex_opt")]
    condition_pattern: Option<Regex>,
    /// `continue_through`, `continue_past`, `halt_before` or `halt_with`
    /// (Vector's meanings).
    #[serde(default, deserialize_with = "mode_opt")]
    mode: Option<Mode>,
    /// How long an open event waits for its next line before it is emitted
    /// as it is, in milliseconds. Default 1000.
    #[serde(default, deserialize_with = "millis_opt")]
    timeout_ms: Option<Duration>,
}

impl TryFrom<RawMultiline> for MultilineConfig {
    type Error = MultilineError;

    fn try_from(raw: RawMultiline) -> Result<MultilineConfig, MultilineError> {
        let timeout = raw.timeout_ms.unwrap_or(DEFAULT_TIMEOUT);
        let explicit = [
            ("start_pattern", raw.start_pattern.is_some()),
            ("condition_pattern", raw.condition_pattern.is_some()),
            ("mode", raw.mode.is_some()),
        ];
        if let Some(parser) = raw.parser {
            let given: Vec<&str> = explicit.iter().filter(|(_, set)| *set).map(|(key, _)| *key).collect();
            if !given.is_empty() {
                return Err(MultilineError(format!(
                    "`parser` cannot be combined with `{}`: give a parser or the patterns, not both",
                    given.join("`, `")
                )));
            }
            return Ok(MultilineConfig { rules: Rules::Parser(parser), timeout });
        }
        let missing: Vec<&str> = explicit.iter().filter(|(_, set)| !*set).map(|(key, _)| *key).collect();
        match (raw.start_pattern, raw.condition_pattern, raw.mode) {
            (Some(start), Some(condition), Some(mode)) => {
                Ok(MultilineConfig { rules: Rules::Patterns { start, condition, mode }, timeout })
            }
            _ => Err(MultilineError(format!(
                "`{}` missing: give `parser`, or `start_pattern`, `condition_pattern` and `mode`",
                missing.join("`, `")
            ))),
        }
    }
}

impl MultilineConfig {
    /// A built-in parser with the default timeout.
    pub fn parser(parser: Parser) -> MultilineConfig {
        MultilineConfig { rules: Rules::Parser(parser), timeout: DEFAULT_TIMEOUT }
    }

    /// Reads the value of the `multiline` key (`null`: off). Errors read as
    /// the capture's configuration reports them, `multiline.<field>: …`.
    pub fn from_value(value: serde_json::Value) -> Result<Option<MultilineConfig>, MultilineError> {
        /// The option as a field of the capture's configuration.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Document {
            #[serde(default)]
            multiline: Option<MultilineConfig>,
        }
        let document = serde_json::Value::Object([("multiline".to_string(), value)].into_iter().collect());
        serde_path_to_error::deserialize::<_, Document>(document)
            .map(|d| d.multiline)
            .map_err(|e| MultilineError(format!("{}: {}", e.path(), e.inner())))
    }

    /// Reads the JSON text of the `multiline` object, e.g.
    /// `{"parser": "java"}`.
    pub fn from_json(text: &str) -> Result<Option<MultilineConfig>, MultilineError> {
        let value = serde_json::from_str(text).map_err(|e| MultilineError(format!("multiline: {e}")))?;
        MultilineConfig::from_value(value)
    }

    /// Reads Fluent Bit's properties (`multiline.parser`, …; values as
    /// text). Pairs whose key does not start with `multiline.` are not this
    /// option's and are passed over; `None` when none is set.
    pub fn from_properties<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Option<MultilineConfig>, MultilineError> {
        let mut object = serde_json::Map::new();
        for (key, text) in pairs {
            let Some(field) = key.strip_prefix("multiline.") else { continue };
            if !PROPERTY_KEYS.contains(&key) {
                return Err(MultilineError(format!(
                    "{key}: unknown property (expected one of {})",
                    PROPERTY_KEYS.join(", ")
                )));
            }
            object.insert(field.to_string(), serde_json::Value::String(text.to_string()));
        }
        if object.is_empty() {
            return Ok(None);
        }
        MultilineConfig::from_value(serde_json::Value::Object(object))
    }

    /// The grouping of one container: its label (`LABEL`'s value, if it
    /// carries one) overrides the capture's option. A parser chosen by label
    /// keeps the capture's timeout. An unknown label value is an error the
    /// caller reports (once) before falling back to `global`.
    pub fn for_container(
        global: Option<&MultilineConfig>,
        label: Option<&str>,
    ) -> Result<Option<MultilineConfig>, MultilineError> {
        let Some(value) = label else { return Ok(global.cloned()) };
        match value.trim() {
            "off" => Ok(None),
            name => match Parser::from_name(name) {
                Some(parser) => {
                    let timeout = global.map_or(DEFAULT_TIMEOUT, |g| g.timeout);
                    Ok(Some(MultilineConfig { rules: Rules::Parser(parser), timeout }))
                }
                None => Err(MultilineError(format!(
                    "label {LABEL}={value:?}: unknown value (expected {} or off)",
                    Parser::NAMES.join(", ")
                ))),
            },
        }
    }
}

// ---- field deserializers: each error says what was expected; the path
// (`multiline.<field>`) is added by the caller.

fn parser_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Parser>, D::Error> {
    let Some(name) = Option::<String>::deserialize(d)? else { return Ok(None) };
    Parser::from_name(name.trim())
        .map(Some)
        .ok_or_else(|| de::Error::custom(format!("unknown parser {name:?} (expected {})", one_of(Parser::NAMES))))
}

fn mode_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Mode>, D::Error> {
    let Some(name) = Option::<String>::deserialize(d)? else { return Ok(None) };
    Mode::from_name(name.trim())
        .map(Some)
        .ok_or_else(|| de::Error::custom(format!("unknown mode {name:?} (expected {})", one_of(Mode::NAMES))))
}

fn regex_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Regex>, D::Error> {
    let Some(pattern) = Option::<String>::deserialize(d)? else { return Ok(None) };
    Regex::new(&pattern).map(Some).map_err(|e| {
        // The regex crate's message spans lines (the pattern, a caret, the
        // error); its last line says what is wrong.
        let text = e.to_string();
        let what = text.lines().last().unwrap_or("").trim().trim_start_matches("error: ");
        de::Error::custom(format!("invalid regular expression {pattern:?}: {what}"))
    })
}

fn millis_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum NumberOrText {
        Number(serde_json::Number),
        Text(String),
    }
    let ms = match Option::<NumberOrText>::deserialize(d)? {
        None => return Ok(None),
        Some(NumberOrText::Number(n)) => n.as_u64().ok_or_else(|| n.to_string()),
        Some(NumberOrText::Text(t)) => t.trim().parse::<u64>().map_err(|_| format!("{t:?}")),
    }
    .map_err(|shown| de::Error::custom(format!("{shown} is not a whole number of milliseconds")))?;
    if ms == 0 || ms > MAX_TIMEOUT_MS {
        return Err(de::Error::custom(format!("{ms} is out of range (1 to {MAX_TIMEOUT_MS} milliseconds)")));
    }
    Ok(Some(Duration::from_millis(ms)))
}

/// `a, b or c`.
fn one_of(names: &[&str]) -> String {
    match names.split_last() {
        Some((last, [])) => last.to_string(),
        Some((last, rest)) => format!("{} or {last}", rest.join(", ")),
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(json: &str) -> String {
        MultilineConfig::from_json(json).unwrap_err().0
    }

    #[test]
    fn a_parser_or_vectors_three_fields() {
        let c = MultilineConfig::from_json(r#"{"parser": "python"}"#).unwrap().unwrap();
        assert!(matches!(c.rules, Rules::Parser(Parser::Python)));
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);
        let c = MultilineConfig::from_json(
            r#"{"start_pattern": "^[^\\s]", "condition_pattern": "^[\\s]+at", "mode": "continue_through", "timeout_ms": 250}"#,
        )
        .unwrap()
        .unwrap();
        match c.rules {
            Rules::Patterns { start, condition, mode } => {
                assert_eq!(start.as_str(), r"^[^\s]");
                assert_eq!(condition.as_str(), r"^[\s]+at");
                assert_eq!(mode, Mode::ContinueThrough);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(c.timeout, Duration::from_millis(250));
        for (name, mode) in
            Mode::NAMES.iter().zip([Mode::ContinueThrough, Mode::ContinuePast, Mode::HaltBefore, Mode::HaltWith])
        {
            assert_eq!(Mode::from_name(name), Some(mode));
        }
        assert!(MultilineConfig::from_json("null").unwrap().is_none());
    }

    #[test]
    fn bad_values_name_the_key_and_the_problem() {
        for (json, expected) in [
            (r#"{"parser": "ruby"}"#, r#"multiline.parser: unknown parser "ruby" (expected java, python or go)"#),
            (r#"{"parser": 3}"#, "multiline.parser: invalid type: integer `3`, expected a string"),
            (r#"{"start_pattern": "(a", "condition_pattern": "b", "mode": "halt_with"}"#, r#"multiline.start_pattern: invalid regular expression "(a": unclosed group"#),
            (r#"{"start_pattern": "a", "condition_pattern": "[b", "mode": "halt_with"}"#, r#"multiline.condition_pattern: invalid regular expression "[b": unclosed character class"#),
            (r#"{"start_pattern": "a", "condition_pattern": "b", "mode": "halt"}"#, r#"multiline.mode: unknown mode "halt" (expected continue_through, continue_past, halt_before or halt_with)"#),
            (r#"{"parser": "java", "timeout_ms": "5s"}"#, r#"multiline.timeout_ms: "5s" is not a whole number of milliseconds"#),
            (r#"{"parser": "java", "timeout_ms": -3}"#, "multiline.timeout_ms: -3 is not a whole number of milliseconds"),
            (r#"{"parser": "java", "timeout_ms": 0}"#, "multiline.timeout_ms: 0 is out of range (1 to 3600000 milliseconds)"),
            (r#"{"parser": "java", "timeout_ms": 3600001}"#, "multiline.timeout_ms: 3600001 is out of range (1 to 3600000 milliseconds)"),
            (r#"{"parsr": "java"}"#, "multiline.parsr: unknown field `parsr`, expected one of `parser`, `start_pattern`, `condition_pattern`, `mode`, `timeout_ms`"),
            (r#""java""#, r#"multiline: invalid type: string "java", expected an object such as {"parser": "java"}"#),
        ] {
            assert_eq!(err(json), expected, "{json}");
        }
        // The regex crate's size limit: a pattern too large to compile.
        let e = err(r#"{"start_pattern": "a{100}{100}{100}", "condition_pattern": "b", "mode": "halt_with"}"#);
        assert!(
            e.starts_with("multiline.start_pattern: invalid regular expression") && e.contains("size limit"),
            "{e}"
        );
    }

    #[test]
    fn a_parser_and_patterns_do_not_mix_and_patterns_come_in_threes() {
        assert_eq!(
            err(r#"{"parser": "java", "start_pattern": "x", "mode": "halt_with"}"#),
            "multiline: `parser` cannot be combined with `start_pattern`, `mode`: give a parser or the patterns, not both"
        );
        assert_eq!(
            err(r#"{"start_pattern": "^\\S", "timeout_ms": 10}"#),
            "multiline: `condition_pattern`, `mode` missing: give `parser`, or `start_pattern`, `condition_pattern` and `mode`"
        );
        assert_eq!(
            err("{}"),
            "multiline: `start_pattern`, `condition_pattern`, `mode` missing: give `parser`, or `start_pattern`, `condition_pattern` and `mode`"
        );
    }

    #[test]
    fn embeds_as_a_field_of_the_capture_configuration() {
        // How `Config` takes it: `#[serde(default)] multiline:
        // Option<MultilineConfig>`, its errors located by serde_path_to_error.
        #[derive(Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Capture {
            #[serde(default)]
            multiline: Option<MultilineConfig>,
            #[serde(default)]
            since: Option<String>,
        }
        let read =
            |text: &str| serde_path_to_error::deserialize::<_, Capture>(&mut serde_json::Deserializer::from_str(text));
        let capture = read(r#"{"since": "all", "multiline": {"parser": "go", "timeout_ms": 50}}"#).unwrap();
        assert_eq!(capture.since.as_deref(), Some("all"));
        assert!(matches!(capture.multiline.unwrap().rules, Rules::Parser(Parser::Go)));
        assert!(read("{}").unwrap().multiline.is_none());
        let e = read(r#"{"multiline": {"parser": "ruby"}}"#).err().unwrap();
        assert_eq!(e.path().to_string(), "multiline.parser");
        assert!(e.inner().to_string().starts_with(r#"unknown parser "ruby" (expected java, python or go)"#), "{e}");
        let e = read(r#"{"multiline": {"parser": "java", "mode": "halt_with"}}"#).err().unwrap();
        assert_eq!(e.path().to_string(), "multiline");
        assert!(e.inner().to_string().starts_with("`parser` cannot be combined with `mode`"), "{e}");
    }

    #[test]
    fn fluent_bit_properties_are_the_dotted_keys() {
        assert!(MultilineConfig::from_properties([("since", "all")]).unwrap().is_none());
        let c = MultilineConfig::from_properties([
            ("since", "all"),
            ("multiline.parser", "go"),
            ("multiline.timeout_ms", "4000"),
        ])
        .unwrap()
        .unwrap();
        assert!(matches!(c.rules, Rules::Parser(Parser::Go)));
        assert_eq!(c.timeout, Duration::from_millis(4000));
        let c = MultilineConfig::from_properties([
            ("multiline.start_pattern", r"\\$"),
            ("multiline.condition_pattern", r"\\$"),
            ("multiline.mode", "continue_past"),
        ])
        .unwrap()
        .unwrap();
        assert!(matches!(c.rules, Rules::Patterns { mode: Mode::ContinuePast, .. }));
        assert_eq!(c.timeout, DEFAULT_TIMEOUT);

        for (pairs, expected) in [
            (vec![("multiline.parser", "jav")], r#"multiline.parser: unknown parser "jav" (expected java, python or go)"#),
            (vec![("multiline.parser", "")], r#"multiline.parser: unknown parser "" (expected java, python or go)"#),
            (vec![("multiline.parser", "java"), ("multiline.timeout_ms", "soon")], r#"multiline.timeout_ms: "soon" is not a whole number of milliseconds"#),
            (vec![("multiline.start_pattern", "*")], r#"multiline.start_pattern: invalid regular expression "*": repetition operator missing expression"#),
            (vec![("multiline.mode", "halt_with")], "multiline: `start_pattern`, `condition_pattern` missing: give `parser`, or `start_pattern`, `condition_pattern` and `mode`"),
            (vec![("multiline.parsers", "java")], "multiline.parsers: unknown property (expected one of multiline.parser, multiline.start_pattern, multiline.condition_pattern, multiline.mode, multiline.timeout_ms)"),
        ] {
            assert_eq!(MultilineConfig::from_properties(pairs).unwrap_err().0, expected);
        }
    }

    #[test]
    fn a_label_chooses_a_parser_or_turns_grouping_off() {
        let global = MultilineConfig::from_json(
            r#"{"start_pattern": "^\\S", "condition_pattern": "^\\s", "mode": "continue_through", "timeout_ms": 300}"#,
        )
        .unwrap()
        .unwrap();
        // No label: the capture's option, whatever it is.
        assert!(matches!(
            MultilineConfig::for_container(Some(&global), None).unwrap().unwrap().rules,
            Rules::Patterns { .. }
        ));
        assert!(MultilineConfig::for_container(None, None).unwrap().is_none());
        // A parser by label keeps the capture's timeout, or the default.
        let java = MultilineConfig::for_container(Some(&global), Some("java")).unwrap().unwrap();
        assert!(matches!(java.rules, Rules::Parser(Parser::Java)));
        assert_eq!(java.timeout, Duration::from_millis(300));
        let go = MultilineConfig::for_container(None, Some(" go ")).unwrap().unwrap();
        assert!(matches!(go.rules, Rules::Parser(Parser::Go)));
        assert_eq!(go.timeout, DEFAULT_TIMEOUT);
        // `off` wins over the capture's option.
        assert!(MultilineConfig::for_container(Some(&global), Some("off")).unwrap().is_none());
        assert_eq!(
            MultilineConfig::for_container(Some(&global), Some("Java")).unwrap_err().0,
            r#"label log_capturer.multiline="Java": unknown value (expected java, python, go or off)"#
        );
    }
}
