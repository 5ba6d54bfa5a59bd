//! Podman's `k8s-file` format (the CRI log format), as conmon writes it
//! (`src/ctr_logging.c`, `write_k8s_log` and `set_k8s_timestamp`, conmon
//! 2.1.6 in Debian 12 through 2.2):
//!
//! ```text
//! 2026-11-30T18:46:08.195901363+00:00 stdout F hello world
//! 2026-11-30T18:46:08.197359239+00:00 stdout P xxxx…(8192 bytes, no newline of its own)
//! ```
//!
//! - The stamp is the local time with a numeric offset and always 9
//!   fraction digits; every line of one read of the pipe shares it.
//! - `F` ends a line: the text is the container's bytes up to and including
//!   its `\n`. `P` is a piece: what one read of the pipe (at most 8 KiB)
//!   held after its last newline, so of any size (2 bytes seen in a burst,
//!   `tests/fixtures/logfile/k8s-burst.log`), or the rest at the end of
//!   output. Conmon adds a `\n` that is not the container's, so the
//!   payload is the text without it; only an `F` ends the line.
//! - The text is written raw: no escaping, invalid UTF-8 kept as it is.
//!
//! The CRI format allows several `:`-separated tags; only the first, `P`
//! or `F`, is read. Podman's own reader (`libpod/logs/log.go`) splits a
//! line the same way, at its first three spaces.

use bytes::Bytes;

use super::stamp::Stamps;
use crate::frame::{Entry, Stream};

/// The longest stamp accepted (`2026-11-30T18:46:08.195901363+00:00` is 35).
const STAMP_MAX: usize = 40;

/// Parses one line, its `\n` included; the payload is a slice of `line`.
pub fn parse_line(line: &Bytes, stamps: &mut Stamps) -> Result<Entry, String> {
    let body = line.strip_suffix(b"\n").ok_or("line has no newline")?;
    let space = memchr::memchr(b' ', &body[..body.len().min(STAMP_MAX + 1)]).ok_or("no timestamp")?;
    let stamp = &body[..space];
    let ts_ns = stamps.parse(stamp).ok_or_else(|| format!("bad time {:?}", String::from_utf8_lossy(stamp)))?;
    let rest = &body[space + 1..];
    let stream = match rest.get(..7) {
        Some(b"stdout ") => Stream::Stdout,
        Some(b"stderr ") => Stream::Stderr,
        _ => return Err(format!("bad stream in {:?}", String::from_utf8_lossy(&rest[..rest.len().min(16)]))),
    };
    let tags = &rest[7..];
    let tags_end = memchr::memchr(b' ', tags).unwrap_or(tags.len());
    let partial = match tags[..tags_end].split(|&b| b == b':').next() {
        Some(b"P") => true,
        Some(b"F") => false,
        _ => return Err(format!("bad tag {:?}", String::from_utf8_lossy(&tags[..tags_end.min(16)]))),
    };
    // Where the text starts in `line` (after the tag's space, if any).
    let text = space + 1 + 7 + (tags_end + 1).min(tags.len());
    let end = if partial { body.len() } else { line.len() };
    Ok(Entry { stream, ts_ns, payload: line.slice(text..end) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::timestamp::parse_rfc3339;

    fn parse(line: &str) -> Result<Entry, String> {
        parse_line(&Bytes::copy_from_slice(line.as_bytes()), &mut Stamps::default())
    }

    #[test]
    fn full_lines_and_pieces() {
        let f = parse("2026-11-30T18:46:08.195901363+00:00 stdout F hello world\n").unwrap();
        assert_eq!((f.stream, &f.payload[..]), (Stream::Stdout, &b"hello world\n"[..]));
        assert_eq!(f.ts_ns, parse_rfc3339(b"2026-11-30T18:46:08.195901363Z").unwrap());
        let p = parse("2026-11-30T19:46:08.197359239+01:00 stderr P xx xx\n").unwrap();
        assert_eq!((p.stream, &p.payload[..]), (Stream::Stderr, &b"xx xx"[..]));
        assert_eq!(p.ts_ns, parse_rfc3339(b"2026-11-30T18:46:08.197359239Z").unwrap());
        assert_eq!(&parse("2026-11-30T18:46:08.1+00:00 stdout F \n").unwrap().payload[..], b"\n");
        assert_eq!(&parse("2026-11-30T18:46:08.1+00:00 stdout F\n").unwrap().payload[..], b"\n");
        assert_eq!(&parse("2026-11-30T18:46:08.1+00:00 stdout P:x \n").unwrap().payload[..], b"");
        assert_eq!(&parse("2026-11-30T18:46:08.1Z stdout F a\r\n").unwrap().payload[..], b"a\r\n");
    }

    #[test]
    fn corrupt_lines_are_errors_not_panics() {
        for case in [
            "",
            "\n",
            "no newline",
            "2026-11-30T18:46:08.1+00:00\n",
            "2026-11-30T18:46:08.1+00:00 stdin F a\n",
            "2026-11-30T18:46:08.1+00:00 stdout X a\n",
            "2026-11-30T18:46:08.1+00:00 stdout \n",
            "yesterday stdout F a\n",
            "2026-11-30T18:46:08.1+00:00stdout F a\n",
        ] {
            assert!(parse(case).is_err(), "{case:?} parsed");
        }
    }
}
