//! Docker's `json-file` format: one JSON object per line.
//!
//! moby writes every entry with its own marshaller (`jsonlog.JSONLogs.
//! MarshalJSONBuf`, unchanged from v20.10 to v28), always in this field
//! order, without spaces:
//!
//! ```text
//! {"log":"<text>","stream":"stdout","attrs":{…},"time":"2026-11-30T18:45:41.80490426Z"}
//! ```
//!
//! - `log` is the bytes the container wrote, as a JSON string: `\"`, `\\`,
//!   `\n` and `\r` escaped by name, every other byte below 0x20 and `<`, `>`,
//!   `&` as `\u00XX`, U+2028/U+2029 as `\u2028`/`\u2029`, and each byte of
//!   invalid UTF-8 as `\ufffd` (so the file, like the API, holds U+FFFD for
//!   it); all else verbatim. A complete line ends in `\n` inside `log`; a
//!   piece of a line over 16 KiB (the copier's buffer) does not, and every
//!   piece of one line carries the first piece's timestamp.
//! - `stream` is `stdout` or `stderr` (a TTY container's output is
//!   `stdout`). `log` and `stream` are left out when empty.
//! - `attrs` (only with the `labels`, `env` or `tag` log options) is an
//!   object of strings.
//! - `time` is Go's RFC3339Nano in UTC: trailing zeros of the fraction are
//!   trimmed, so its length varies.
//!
//! The scanner below reads exactly that layout without a general JSON
//! parser (the common case, several million lines a second); anything else
//! (other field order, spaces, another writer) goes to `serde_json`.

use std::borrow::Cow;

use bytes::{BufMut, BytesMut};
use serde::Deserialize;

use super::stamp::Stamps;
use crate::frame::{Entry, Stream};

/// The arena a payload is unescaped into is renewed in blocks of this size,
/// so entries of one batch share a few allocations.
const ARENA_BLOCK: usize = 256 * 1024;

/// Parses one line (without its `\n`) into an entry; the payload is
/// unescaped into `arena` and split off it.
pub fn parse_line(line: &[u8], arena: &mut BytesMut, stamps: &mut Stamps) -> Result<Entry, String> {
    if arena.capacity() - arena.len() < line.len() {
        *arena = BytesMut::with_capacity(ARENA_BLOCK.max(line.len()));
    }
    arena.clear();
    let parsed = match scan_docker_layout(line, arena, stamps) {
        Some(result) => result,
        None => {
            arena.clear();
            parse_general(line, arena, stamps)
        }
    };
    match parsed {
        Ok((stream, ts_ns)) => Ok(Entry { stream, ts_ns, payload: arena.split().freeze() }),
        Err(reason) => {
            arena.clear();
            Err(reason)
        }
    }
}

/// Docker's exact layout. `None`: the line is laid out otherwise (try the
/// general parser); `Some(Err)`: it has Docker's layout and is broken.
fn scan_docker_layout(line: &[u8], out: &mut BytesMut, stamps: &mut Stamps) -> Option<Result<(Stream, i64), String>> {
    let mut rest = line.strip_prefix(b"{\"log\":\"")?;
    let end = match unescape_string(rest, out) {
        Ok(end) => end,
        Err(reason) => return Some(Err(reason)),
    };
    rest = rest[end..].strip_prefix(b",\"stream\":\"")?;
    let stream = match rest.get(..7)? {
        b"stdout\"" => Stream::Stdout,
        b"stderr\"" => Stream::Stderr,
        _ => return None,
    };
    rest = &rest[7..];
    if let Some(attrs) = rest.strip_prefix(b",\"attrs\":") {
        rest = &attrs[skip_object(attrs)?..];
    }
    let time = rest.strip_prefix(b",\"time\":\"")?.strip_suffix(b"\"}")?;
    Some(match stamps.parse(time) {
        Some(ts_ns) => Ok((stream, ts_ns)),
        None => Err(format!("bad time {:?}", String::from_utf8_lossy(time))),
    })
}

/// Unescapes the JSON string starting at `s` (after its opening quote) into
/// `out`; returns the index just past its closing quote.
fn unescape_string(s: &[u8], out: &mut BytesMut) -> Result<usize, String> {
    let mut i = 0;
    loop {
        let Some(j) = memchr::memchr2(b'"', b'\\', &s[i..]).map(|j| i + j) else {
            return Err("unterminated string".into());
        };
        out.extend_from_slice(&s[i..j]);
        if s[j] == b'"' {
            return Ok(j + 1);
        }
        i = j + 1 + unescape_one(&s[j + 1..], out)?;
    }
}

/// Decodes the escape after a backslash into `out`; returns its length.
fn unescape_one(s: &[u8], out: &mut BytesMut) -> Result<usize, String> {
    let byte = match s.first() {
        Some(b'n') => b'\n',
        Some(b'"') => b'"',
        Some(b'\\') => b'\\',
        Some(b'/') => b'/',
        Some(b'r') => b'\r',
        Some(b't') => b'\t',
        Some(b'b') => 0x08,
        Some(b'f') => 0x0c,
        Some(b'u') => return unescape_unicode(s, out),
        Some(&other) => return Err(format!("bad escape \\{}", other as char)),
        None => return Err("unterminated string".into()),
    };
    out.put_u8(byte);
    Ok(1)
}

/// `uXXXX` (after the backslash), with a following `\uXXXX` when the first
/// is a high surrogate. A lone surrogate becomes U+FFFD, as Go's decoder
/// (which serves the API) makes it.
fn unescape_unicode(s: &[u8], out: &mut BytesMut) -> Result<usize, String> {
    let unit = hex4(s.get(1..5)).ok_or("bad \\u escape")?;
    let mut used = 5;
    let c = match unit {
        0xd800..=0xdbff => match (s.get(5..7), hex4(s.get(7..11))) {
            (Some(b"\\u"), Some(low @ 0xdc00..=0xdfff)) => {
                used = 11;
                char::from_u32(0x10000 + ((unit - 0xd800) << 10) + (low - 0xdc00))
            }
            _ => None,
        },
        _ => char::from_u32(unit),
    };
    let mut utf8 = [0u8; 4];
    out.extend_from_slice(c.unwrap_or('\u{fffd}').encode_utf8(&mut utf8).as_bytes());
    Ok(used)
}

fn hex4(s: Option<&[u8]>) -> Option<u32> {
    let s = s?;
    let mut v = 0u32;
    for &b in s {
        v = v * 16 + (b as char).to_digit(16)?;
    }
    Some(v)
}

/// The length of the JSON object at the start of `s` (`attrs`: strings in
/// an object), or `None` if it is not one.
fn skip_object(s: &[u8]) -> Option<usize> {
    if s.first() != Some(&b'{') {
        return None;
    }
    let (mut depth, mut in_string, mut i) = (0usize, false, 0);
    while i < s.len() {
        match (in_string, s[i]) {
            (true, b'\\') => i += 1,
            (true, b'"') | (false, b'"') => in_string = !in_string,
            (false, b'{') => depth += 1,
            (false, b'}') => {
                depth -= 1;
                if depth == 0 {
                    return Some(i + 1);
                }
            }
            _ => {}
        }
        i += 1;
    }
    None
}

/// Any JSON object with the same fields, for lines not in Docker's layout.
#[derive(Deserialize)]
struct GeneralEntry<'a> {
    #[serde(borrow, default)]
    log: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    stream: Option<Cow<'a, str>>,
    #[serde(borrow)]
    time: Cow<'a, str>,
}

fn parse_general(line: &[u8], out: &mut BytesMut, stamps: &mut Stamps) -> Result<(Stream, i64), String> {
    let entry: GeneralEntry = serde_json::from_slice(line).map_err(|e| format!("not a json-file entry: {e}"))?;
    let stream = match entry.stream.as_deref() {
        Some("stdout") => Stream::Stdout,
        Some("stderr") => Stream::Stderr,
        other => return Err(format!("bad stream {other:?}")),
    };
    let ts_ns = stamps.parse(entry.time.as_bytes()).ok_or_else(|| format!("bad time {:?}", entry.time))?;
    out.extend_from_slice(entry.log.as_deref().unwrap_or("").as_bytes());
    Ok((stream, ts_ns))
}

/// Docker's own encoding of a payload as a json-file line (the inverse of
/// `parse_line`), for tests and benchmarks that write logs as dockerd does.
pub fn encode_line(stream: Stream, ts: &str, payload: &[u8], out: &mut Vec<u8>) {
    out.extend_from_slice(b"{\"log\":\"");
    for chunk in payload.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '"' => out.extend_from_slice(b"\\\""),
                '\\' => out.extend_from_slice(b"\\\\"),
                '\n' => out.extend_from_slice(b"\\n"),
                '\r' => out.extend_from_slice(b"\\r"),
                '\u{2028}' | '\u{2029}' => out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes()),
                c if (c as u32) < 0x20 || matches!(c, '<' | '>' | '&') => {
                    out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes())
                }
                c => out.extend_from_slice(c.encode_utf8(&mut [0; 4]).as_bytes()),
            }
        }
        for _ in chunk.invalid() {
            out.extend_from_slice(b"\\ufffd");
        }
    }
    let name = if stream == Stream::Stderr { "stderr" } else { "stdout" };
    out.extend_from_slice(format!("\",\"stream\":\"{name}\",\"time\":\"{ts}\"}}\n").as_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse_rfc3339;

    fn parse(line: &str) -> Result<Entry, String> {
        parse_line(line.as_bytes(), &mut BytesMut::new(), &mut Stamps::default())
    }

    #[test]
    fn docker_layout_with_escapes() {
        let e = parse(r#"{"log":"tab\u0009\"q\" \\ \u003ctag\u003e \u0026 caf\u00e9 \ufffd\u2028\r\n","stream":"stderr","time":"2026-11-30T18:45:41.80490426Z"}"#)
            .unwrap();
        assert_eq!(e.stream, Stream::Stderr);
        assert_eq!(e.ts_ns, parse_rfc3339(b"2026-11-30T18:45:41.804904260Z").unwrap());
        assert_eq!(&e.payload[..], "tab\t\"q\" \\ <tag> & café \u{fffd}\u{2028}\r\n".as_bytes());
    }

    #[test]
    fn pieces_attrs_and_empty_lines() {
        let piece = parse(r#"{"log":"xxxx","stream":"stdout","time":"2026-11-30T18:45:41Z"}"#).unwrap();
        assert_eq!(&piece.payload[..], b"xxxx", "a piece has no newline");
        let attrs = parse(r#"{"log":"one\n","stream":"stdout","attrs":{"tag":"a\"}b","team":"core"},"time":"2026-11-30T18:45:47.93808806Z"}"#)
            .unwrap();
        assert_eq!(&attrs.payload[..], b"one\n");
        assert_eq!(
            &parse(r#"{"log":"\n","stream":"stdout","time":"2026-11-30T18:45:41Z"}"#).unwrap().payload[..],
            b"\n"
        );
    }

    #[test]
    fn surrogates_as_go_decodes_them() {
        let e = parse(r#"{"log":"\ud83d\ude00 \ud800x","stream":"stdout","time":"2026-11-30T18:45:41Z"}"#).unwrap();
        assert_eq!(&e.payload[..], "😀 \u{fffd}x".as_bytes());
    }

    #[test]
    fn other_layouts_take_the_general_path() {
        let e =
            parse(r#"{ "time": "2026-11-30T18:45:41.5+01:00", "stream": "stdout", "log": "hi\n", "x": [1] }"#).unwrap();
        assert_eq!((e.stream, &e.payload[..]), (Stream::Stdout, &b"hi\n"[..]));
        assert_eq!(e.ts_ns, parse_rfc3339(b"2026-11-30T17:45:41.5Z").unwrap());
        let no_log = parse(r#"{"stream":"stdout","time":"2026-11-30T18:45:41Z"}"#).unwrap();
        assert!(no_log.payload.is_empty());
    }

    #[test]
    fn corrupt_lines_are_errors_not_panics() {
        let cases = [
            "",
            "{",
            r#"{"log":"abc"#,
            r#"{"log":"abc\"#,
            r#"{"log":"a\q","stream":"stdout","time":"2026-11-30T18:45:41Z"}"#,
            r#"{"log":"a\u12","stream":"stdout","time":"2026-11-30T18:45:41Z"}"#,
            r#"{"log":"a","stream":"stdin","time":"2026-11-30T18:45:41Z"}"#,
            r#"{"log":"a","stream":"stdout","time":"yesterday"}"#,
            r#"{"log":"a","stream":"stdout","attrs":{"x":"}"#,
            r#"{"log":"a","stream":"stdout"}"#,
            "\u{0}\u{ff}garbage",
        ];
        for case in cases {
            assert!(parse(case).is_err(), "{case:?} parsed");
        }
    }

    #[test]
    fn encode_is_parse_inverse() {
        let payload = b"a\"b\\c\t\x01<>&\xff\xfe caf\xc3\xa9 \xe2\x80\xa8\r\n";
        let mut line = Vec::new();
        encode_line(Stream::Stdout, "2026-11-30T18:45:41.1Z", payload, &mut line);
        let e = parse_line(&line[..line.len() - 1], &mut BytesMut::new(), &mut Stamps::default()).unwrap();
        assert_eq!(&e.payload[..], "a\"b\\c\t\x01<>&\u{fffd}\u{fffd} café \u{2028}\r\n".as_bytes());
    }
}
