//! The value types of the configuration, each parsed and checked on its
//! own: a bad value is refused where it is read, with a message saying what
//! was expected (serde adds the key). Every value can also be written as
//! text, as Fluent Bit properties are.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

use super::filter::LabelFilter;
use crate::docker::DockerHost;
use crate::log::LogLevel;

/// The longest duration accepted (a year): far beyond any sensible setting,
/// and far from where adding it to a clock could overflow.
pub const MAX_DURATION: Duration = Duration::from_secs(365 * 86_400);

/// A string, or a JSON number given where text is also accepted.
#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    String(String),
    Number(serde_json::Number),
}

impl StringOrNumber {
    fn text(self) -> String {
        match self {
            StringOrNumber::String(s) => s,
            StringOrNumber::Number(n) => n.to_string(),
        }
    }
}

/// A duration greater than zero and at most `MAX_DURATION`: `"30s"`,
/// `"5m"`, `"250ms"`, `"1.5h"`, or a number of seconds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Positive(pub Duration);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Positive, D::Error> {
        let (duration, text) = match StringOrNumber::deserialize(d)? {
            StringOrNumber::Number(n) => {
                let secs = n.as_f64().unwrap_or(f64::NAN);
                if secs < 0.0 {
                    return Err(de::Error::custom(format!("duration {n} is negative")));
                }
                (Duration::try_from_secs_f64(secs).ok(), n.to_string())
            }
            StringOrNumber::String(s) => {
                if s.trim_start().starts_with('-') {
                    return Err(de::Error::custom(format!("duration {s:?} is negative")));
                }
                let d = parse_duration(&s).ok_or_else(|| {
                    de::Error::custom(format!("{s:?} is not a duration (e.g. \"30s\", \"5m\", \"250ms\")"))
                })?;
                (Some(d), format!("{s:?}"))
            }
        };
        match duration {
            Some(d) if d.is_zero() => Err(de::Error::custom("must be greater than zero")),
            Some(d) if d <= MAX_DURATION => Ok(Positive(d)),
            _ => Err(de::Error::custom(format!("{text} is longer than the maximum of 365 days"))),
        }
    }
}

/// A size of at least `MIN`: `65536`, `"64KiB"`, `"1MiB"`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Size<const MIN: u64>(pub u64);

impl<'de, const MIN: u64> Deserialize<'de> for Size<MIN> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Size<MIN>, D::Error> {
        let n = match StringOrNumber::deserialize(d)? {
            StringOrNumber::Number(n) => n
                .as_u64()
                .ok_or_else(|| de::Error::custom(format!("{n} is not a non-negative whole number")))?,
            StringOrNumber::String(s) => parse_size(&s).ok_or_else(|| {
                de::Error::custom(format!("{s:?} is not a size (e.g. 65536, \"64KiB\", \"1MiB\")"))
            })?,
        };
        if n < MIN {
            return Err(de::Error::custom(format!("{n} is below the minimum of {MIN}")));
        }
        Ok(Size(n))
    }
}

/// The highest rate accepted: far beyond what a daemon can write.
pub const MAX_RATE: f64 = 1e9;

/// A rate per second greater than zero (fractions allowed): `500`,
/// `"2.5"`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rate(pub f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Rate, D::Error> {
        let value = match StringOrNumber::deserialize(d)? {
            StringOrNumber::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            StringOrNumber::String(s) => {
                s.trim().parse::<f64>().map_err(|_| de::Error::custom(format!("{s:?} is not a number")))?
            }
        };
        if !(value > 0.0 && value <= MAX_RATE) {
            return Err(de::Error::custom(format!(
                "{value} is out of range (greater than 0, at most {MAX_RATE}; leave the key out for no limit)"
            )));
        }
        Ok(Rate(value))
    }
}

/// The rotation jitter: a fraction from 0 to 0.5.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Jitter(pub f64);

impl<'de> Deserialize<'de> for Jitter {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Jitter, D::Error> {
        let value = match StringOrNumber::deserialize(d)? {
            StringOrNumber::Number(n) => n.as_f64().unwrap_or(f64::NAN),
            StringOrNumber::String(s) => {
                s.trim().parse::<f64>().map_err(|_| de::Error::custom(format!("{s:?} is not a number")))?
            }
        };
        if !(0.0..=0.5).contains(&value) {
            return Err(de::Error::custom(format!("{value} is out of range (0 to 0.5)")));
        }
        Ok(Jitter(value))
    }
}

/// A boolean: `true`/`false`, or the words `on`/`off`, `yes`/`no`, `1`/`0`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flag(pub bool);

/// The words a boolean may be written as (Fluent Bit's included).
pub fn parse_bool(text: &str) -> Option<bool> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "on" | "yes" | "1" => Some(true),
        "false" | "off" | "no" | "0" => Some(false),
        _ => None,
    }
}

impl<'de> Deserialize<'de> for Flag {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Flag, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum BoolOrString {
            Bool(bool),
            String(String),
        }
        match BoolOrString::deserialize(d)? {
            BoolOrString::Bool(b) => Ok(Flag(b)),
            BoolOrString::String(s) => parse_bool(&s)
                .map(Flag)
                .ok_or_else(|| de::Error::custom(format!("{s:?} is not a boolean (true/false, on/off)"))),
        }
    }
}

/// A list given as a JSON array of strings, or as one comma-separated string
/// (the form Fluent Bit properties take).
fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        String(String),
    }
    match ListOrString::deserialize(d) {
        Err(_) => Err(de::Error::custom("expected a list of strings or a comma-separated string")),
        Ok(ListOrString::List(v)) => Ok(v),
        Ok(ListOrString::String(s)) => {
            Ok(s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect())
        }
    }
}

/// Name, id or image prefixes; an empty one (which would match everything)
/// is refused.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Prefixes(pub Vec<String>);

impl<'de> Deserialize<'de> for Prefixes {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Prefixes, D::Error> {
        let list = string_list(d)?;
        if list.iter().any(String::is_empty) {
            return Err(de::Error::custom("an empty entry would match every container"));
        }
        Ok(Prefixes(list))
    }
}

/// Label filters: `key=value` or `key`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Labels(pub Vec<LabelFilter>);

impl<'de> Deserialize<'de> for Labels {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Labels, D::Error> {
        let list = string_list(d)?;
        list.iter().map(|entry| LabelFilter::parse(entry).map_err(de::Error::custom)).collect::<Result<_, _>>().map(Labels)
    }
}

/// Which streams to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    pub stdout: bool,
    pub stderr: bool,
}

impl Default for Streams {
    fn default() -> Streams {
        Streams { stdout: true, stderr: true }
    }
}

impl<'de> Deserialize<'de> for Streams {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Streams, D::Error> {
        let mut streams = Streams { stdout: false, stderr: false };
        for name in string_list(d)? {
            match name.as_str() {
                "stdout" => streams.stdout = true,
                "stderr" => streams.stderr = true,
                other => {
                    return Err(de::Error::custom(format!("unknown stream {other:?} (expected stdout or stderr)")))
                }
            }
        }
        if !streams.stdout && !streams.stderr {
            return Err(de::Error::custom("at least one of stdout, stderr is needed"));
        }
        Ok(streams)
    }
}

/// Where the first read of a container found at start-up begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum SincePolicy {
    /// Only lines written after the capture started (Vector's behaviour).
    #[default]
    Now,
    /// The container's whole log.
    All,
    /// Lines stamped at or after this Unix time, in nanoseconds.
    Time(i64),
}

impl<'de> Deserialize<'de> for SincePolicy {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<SincePolicy, D::Error> {
        let text = StringOrNumber::deserialize(d)?.text();
        match text.as_str() {
            "now" => Ok(SincePolicy::Now),
            "all" | "beginning" => Ok(SincePolicy::All),
            _ => parse_time(&text).map(SincePolicy::Time).ok_or_else(|| {
                de::Error::custom(format!("{text:?} is not `now`, `all`, an RFC 3339 time or Unix seconds"))
            }),
        }
    }
}

/// What to do with a position file that cannot be read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnCorrupt {
    /// Refuse to start, naming the file and the problem.
    #[default]
    Fail,
    /// Log it, keep the bad file aside as `<path>.corrupt`, start afresh
    /// (containers then start at the `since` policy).
    Reset,
}

impl<'de> Deserialize<'de> for OnCorrupt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<OnCorrupt, D::Error> {
        from_text(d, |text| match text {
            "fail" => Ok(OnCorrupt::Fail),
            "reset" => Ok(OnCorrupt::Reset),
            other => Err(format!("{other:?} is not `fail` or `reset`")),
        })
    }
}

impl<'de> Deserialize<'de> for LogLevel {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<LogLevel, D::Error> {
        from_text(d, str::parse)
    }
}

/// The daemon's address; empty means the default.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host(pub Option<DockerHost>);

impl<'de> Deserialize<'de> for Host {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Host, D::Error> {
        from_text(d, |text| optional(text, DockerHost::parse)).map(Host)
    }
}

/// A listening address with a port; empty means none.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Address(pub Option<SocketAddr>);

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Address, D::Error> {
        let parse = |text: &str| {
            text.parse().map_err(|_| format!("{text:?} is not an address with a port (e.g. \"127.0.0.1:9323\")"))
        };
        from_text(d, |text| optional(text, parse)).map(Address)
    }
}

/// A file path; empty is refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilePath(pub PathBuf);

impl<'de> Deserialize<'de> for FilePath {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<FilePath, D::Error> {
        from_text(d, |text| match text {
            "" => Err("must not be empty".to_string()),
            path => Ok(FilePath(PathBuf::from(path))),
        })
    }
}

/// A value written as a string, parsed by `parse` (whose error says what
/// was expected).
fn from_text<'de, D: Deserializer<'de>, T>(d: D, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<T, D::Error> {
    parse(&String::deserialize(d)?).map_err(de::Error::custom)
}

/// Empty text is no value.
fn optional<T>(text: &str, parse: impl FnOnce(&str) -> Result<T, String>) -> Result<Option<T>, String> {
    if text.is_empty() {
        Ok(None)
    } else {
        parse(text).map(Some)
    }
}

/// Parses `"5m"`, `"30s"`, `"250ms"`, `"1h"`, `"1.5s"` or a bare number of
/// seconds (up to a billion).
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    let secs = value * scale;
    if !secs.is_finite() || secs < 0.0 || secs > 1e9 {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

/// Parses `"64MiB"`, `"256k"`, `"1M"` or `"1000"`.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().ok()?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    value.checked_mul(scale)
}

/// Parses an RFC 3339 time or Unix seconds (with a fraction) into Unix ns.
pub fn parse_time(text: &str) -> Option<i64> {
    if let Ok(secs) = text.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some((secs * 1e9) as i64);
        }
        return None;
    }
    crate::timestamp::parse_rfc3339(text.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_sizes_parse() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2000000000"), None);
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("-1"), None);
    }

    #[test]
    fn bool_words() {
        for (word, value) in [("on", true), ("TRUE", true), ("1", true), ("off", false), ("No", false)] {
            assert_eq!(parse_bool(word), Some(value), "{word}");
        }
        assert_eq!(parse_bool("maybe"), None);
    }
}
