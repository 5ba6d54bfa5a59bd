//! The log stream's wire format: multiplexed frames or a raw TTY stream,
//! each entry prefixed with Docker's RFC 3339 timestamp.
//!
//! Framing is decided from the container's `Config.Tty`, never guessed from
//! the bytes (a TTY stream may well start with byte 1 or 2).

use bytes::{Buf, Bytes, BytesMut};

use crate::timestamp::{parse_fixed, parse_rfc3339};

/// Which stream an entry came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum Stream {
    Stdout = 1,
    Stderr = 2,
    /// A TTY container: stdout and stderr merged, no framing.
    Console = 3,
}

impl Stream {
    pub const ALL: [Stream; 3] = [Stream::Stdout, Stream::Stderr, Stream::Console];

    pub const fn index(self) -> usize {
        self as usize - 1
    }
    pub const fn name(self) -> &'static str {
        match self {
            Stream::Stdout => "stdout",
            Stream::Stderr => "stderr",
            Stream::Console => "console",
        }
    }
}

/// Docker splits longer output into pieces of exactly this many bytes.
pub const PIECE_BYTES: usize = 16 * 1024;

/// The largest frame accepted; Docker's are at most a piece plus its
/// timestamp, and in-band error messages are short.
pub const MAX_FRAME_BYTES: usize = 1 << 20;

/// One log entry as the daemon sent it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub stream: Stream,
    pub ts_ns: i64,
    /// The payload after the timestamp prefix, newline included if present.
    pub payload: Bytes,
}

/// What the decoder found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    Entry(Entry),
    /// A type-3 frame: the daemon's in-band error ("Error grabbing logs: …").
    DaemonError(String),
}

/// A malformed stream: the connection cannot be trusted past this point.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameError(pub String);

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// How a logs response frames its entries: decided from the container's
/// `Config.Tty` (a TTY's raw output may well start with byte 1 or 2), or,
/// when the container could not be inspected (removed already), from the
/// first byte: with `timestamps=1` a raw stream starts with a digit of its
/// timestamp, a multiplexed one with a stream type (0 to 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// 8-byte headers naming stdout, stderr or an in-band error.
    Multiplexed,
    /// A TTY's raw stream: one `console` stream, no headers.
    Raw,
    /// Not known yet: decided by the first byte.
    Detect,
}

impl Framing {
    pub fn of(tty: bool) -> Framing {
        if tty {
            Framing::Raw
        } else {
            Framing::Multiplexed
        }
    }

    /// What `Detect` becomes once `buf` holds a byte (itself otherwise).
    pub fn resolved(self, buf: &[u8]) -> Framing {
        match (self, buf.first()) {
            (Framing::Detect, Some(b)) if b.is_ascii_digit() => Framing::Raw,
            (Framing::Detect, Some(_)) => Framing::Multiplexed,
            (framing, _) => framing,
        }
    }

    /// Takes the next entry off the front of `buf`; `Ok(None)` means more
    /// bytes are needed. At `eof`, a raw stream's rest is its last entry.
    #[inline]
    pub fn next(self, buf: &mut BytesMut, eof: bool) -> Result<Option<Decoded>, FrameError> {
        match self.resolved(buf) {
            Framing::Multiplexed => decode_multiplexed(buf),
            Framing::Raw => decode_raw(buf, eof),
            Framing::Detect => Ok(None),
        }
    }
}

/// Takes the next complete entry off the front of a multiplexed stream.
/// `Ok(None)` means more bytes are needed.
pub fn decode_multiplexed(buf: &mut BytesMut) -> Result<Option<Decoded>, FrameError> {
    if buf.len() < 8 {
        return Ok(None);
    }
    let kind = buf[0];
    let len = u32::from_be_bytes([buf[4], buf[5], buf[6], buf[7]]) as usize;
    if buf[1] != 0 || buf[2] != 0 || buf[3] != 0 || kind > 3 {
        return Err(FrameError(format!("bad frame header {:02x?}: not a multiplexed log stream", &buf[..8])));
    }
    if len > MAX_FRAME_BYTES {
        return Err(FrameError(format!("frame of {len} bytes exceeds the {MAX_FRAME_BYTES}-byte limit")));
    }
    if buf.len() < 8 + len {
        buf.reserve(8 + len - buf.len());
        return Ok(None);
    }
    buf.advance(8);
    let frame = buf.split_to(len).freeze();
    let stream = match kind {
        1 => Stream::Stdout,
        2 => Stream::Stderr,
        3 => {
            let text = String::from_utf8_lossy(&frame);
            return Ok(Some(Decoded::DaemonError(text.trim_end().to_string())));
        }
        // Type 0 (stdin) never carries logs; treat it as stdout like Docker's
        // own stdcopy does.
        _ => Stream::Stdout,
    };
    split_timestamp(stream, frame).map(|e| Some(Decoded::Entry(e)))
}

/// Takes the next entry off the front of a raw (TTY) stream: `<ts> <text>\n`,
/// or a 16 KiB piece without newline. At `eof`, whatever remains is the last
/// entry.
///
/// A raw stream has no frame lengths, so an entry without a newline (the
/// last output of a run that did not end its line) runs straight into the
/// next entry: `…Z no-newline2026-…Z first-…\n` when a restarted TTY
/// container's runs are read in one response. A timestamp inside the text,
/// stamped no earlier than the entry itself, starts the next entry (a line
/// that prints a time prints one from before the daemon stamped it).
pub fn decode_raw(buf: &mut BytesMut, eof: bool) -> Result<Option<Decoded>, FrameError> {
    if buf.is_empty() {
        return Ok(None);
    }
    let Some(space) = buf.iter().take(TIMESTAMP_MAX + 1).position(|&b| b == b' ') else {
        if buf.len() > TIMESTAMP_MAX || eof {
            return Err(FrameError(format!(
                "raw stream entry has no timestamp prefix: {:?}",
                String::from_utf8_lossy(&buf[..buf.len().min(40)])
            )));
        }
        return Ok(None);
    };
    let ts_ns = stamp(&buf[..space])
        .ok_or_else(|| FrameError(format!("bad timestamp {:?}", String::from_utf8_lossy(&buf[..space]))))?;
    let body_start = space + 1;
    let limit = (buf.len() - body_start).min(PIECE_BYTES);
    let line = &buf[body_start..body_start + limit];
    let newline = memchr(b'\n', line).map(|i| i + 1);
    let glued = next_entry_inside(&line[..newline.unwrap_or(line.len())], ts_ns);
    let end = match (glued, newline) {
        (Some(i), _) | (None, Some(i)) => body_start + i,
        (None, None) if limit == PIECE_BYTES => body_start + PIECE_BYTES,
        (None, None) if eof => buf.len(),
        (None, None) => return Ok(None),
    };
    let mut frame = buf.split_to(end).freeze();
    frame.advance(body_start);
    Ok(Some(Decoded::Entry(Entry { stream: Stream::Console, ts_ns, payload: frame })))
}

/// Where, in an entry's text, the next entry begins: a timestamp
/// (`YYYY-MM-DDThh:mm:ss[.frac]Z `) stamped at or after `ts_ns`, not at the
/// start of the text.
fn next_entry_inside(text: &[u8], ts_ns: i64) -> Option<usize> {
    let mut from = 0;
    while let Some(z) = memchr(b'Z', &text[from..]).map(|i| from + i) {
        from = z + 1;
        if text.get(z + 1) != Some(&b' ') || z < 19 {
            continue;
        }
        // The date begins 19 bytes (no fraction) to 29 bytes (9 digits)
        // before the `Z`.
        for start in z.saturating_sub(29).max(1)..=z - 19 {
            if text[start].is_ascii_digit() && parse_rfc3339(&text[start..=z]).is_some_and(|t| t >= ts_ns) {
                return Some(start);
            }
        }
    }
    None
}

/// The longest timestamp prefix accepted (RFC 3339 with 9 digits and an
/// offset is 35 bytes).
const TIMESTAMP_MAX: usize = 40;

fn split_timestamp(stream: Stream, mut frame: Bytes) -> Result<Entry, FrameError> {
    // Fast path: Docker's fixed format, `2006-01-02T15:04:05.000000000Z `.
    if frame.len() >= 31 && frame[30] == b' ' && frame[29] == b'Z' {
        if let Some(ts_ns) = parse_fixed(&frame[..30]) {
            frame.advance(31);
            return Ok(Entry { stream, ts_ns, payload: frame });
        }
    }
    let space = frame
        .iter()
        .take(TIMESTAMP_MAX + 1)
        .position(|&b| b == b' ')
        .ok_or_else(|| FrameError("log entry has no timestamp prefix".into()))?;
    let ts_ns = stamp(&frame[..space])
        .ok_or_else(|| FrameError(format!("bad timestamp {:?}", String::from_utf8_lossy(&frame[..space]))))?;
    frame.advance(space + 1);
    Ok(Entry { stream, ts_ns, payload: frame })
}

/// An entry's timestamp prefix: Docker's fixed form (fast), else any
/// RFC 3339.
#[inline]
fn stamp(prefix: &[u8]) -> Option<i64> {
    if prefix.len() == 30 && prefix[29] == b'Z' {
        if let Some(ts) = parse_fixed(prefix) {
            return Some(ts);
        }
    }
    parse_rfc3339(prefix)
}

fn memchr(needle: u8, haystack: &[u8]) -> Option<usize> {
    haystack.iter().position(|&b| b == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(kind: u8, payload: &[u8]) -> Vec<u8> {
        let mut v = vec![kind, 0, 0, 0];
        v.extend_from_slice(&(payload.len() as u32).to_be_bytes());
        v.extend_from_slice(payload);
        v
    }

    #[test]
    fn multiplexed_frames_decode_incrementally() {
        let mut wire = frame(1, b"2024-01-02T03:04:05.000000001Z hello\n");
        wire.extend(frame(2, b"2024-01-02T03:04:05.000000002Z oops\n"));
        wire.extend(frame(3, b"Error grabbing logs: boom\n"));
        let mut buf = BytesMut::new();
        let mut out = Vec::new();
        for byte in wire {
            buf.extend_from_slice(&[byte]);
            while let Some(d) = decode_multiplexed(&mut buf).unwrap() {
                out.push(d);
            }
        }
        assert_eq!(out.len(), 3);
        assert_eq!(
            out[0],
            Decoded::Entry(Entry {
                stream: Stream::Stdout,
                ts_ns: 1_704_164_645_000_000_001,
                payload: Bytes::from_static(b"hello\n")
            })
        );
        assert!(matches!(&out[1], Decoded::Entry(e) if e.stream == Stream::Stderr && &e.payload[..] == b"oops\n"));
        assert_eq!(out[2], Decoded::DaemonError("Error grabbing logs: boom".into()));
    }

    #[test]
    fn a_raw_entry_without_newline_ends_where_the_next_entry_begins() {
        // A restarted TTY container: the first run's last output had no
        // newline, the next run's first line is glued to it.
        let mut buf = BytesMut::from(
            &b"2026-11-30T10:00:00.000000001Z first-1\r\n2026-11-30T10:00:00.000000002Z no-newline2026-11-30T10:05:00.000000003Z first-2\r\n"[..],
        );
        let mut texts = Vec::new();
        while let Some(Decoded::Entry(e)) = decode_raw(&mut buf, false).unwrap() {
            texts.push((e.ts_ns % 1_000, String::from_utf8_lossy(&e.payload).into_owned()));
        }
        assert_eq!(texts, vec![(1, "first-1\r\n".into()), (2, "no-newline".into()), (3, "first-2\r\n".into())]);
        // Podman's whole-second stamps too; and a fragment waits for no newline.
        let mut buf = BytesMut::from(&b"2026-11-30T10:00:00Z piece2026-11-30T10:00:01Z rest"[..]);
        assert!(matches!(decode_raw(&mut buf, false), Ok(Some(Decoded::Entry(e))) if &e.payload[..] == b"piece"));
        // A time the line printed, from before its own stamp, is text.
        let mut buf = BytesMut::from(&b"2026-11-30T10:00:00.000000005Z at 2026-11-30T09:59:59.999999999Z ok\n"[..]);
        assert!(matches!(decode_raw(&mut buf, false), Ok(Some(Decoded::Entry(e))) if e.payload.len() == 37));
    }

    #[test]
    fn framing_is_detected_from_the_first_byte_with_timestamps() {
        let raw = b"2024-01-02T03:04:05.000000001Z \x01\x00 tty text\n";
        assert_eq!(Framing::Detect.resolved(raw), Framing::Raw);
        assert_eq!(Framing::Detect.resolved(&frame(2, b"2024-01-02T03:04:05.000000001Z x\n")), Framing::Multiplexed);
        assert_eq!(Framing::Detect.resolved(b""), Framing::Detect);
        assert_eq!(Framing::Raw.resolved(&frame(1, b"x")), Framing::Raw, "a known framing stays");
        let mut buf = BytesMut::from(&raw[..]);
        assert!(matches!(Framing::Detect.next(&mut buf, false), Ok(Some(Decoded::Entry(e))) if e.stream == Stream::Console));
    }

    #[test]
    fn bad_header_is_an_error_not_a_hang() {
        let mut buf = BytesMut::from(&b"2024-01-02T03:04:05.000000001Z raw tty text\n"[..]);
        assert!(decode_multiplexed(&mut buf).is_err());
        let mut buf = BytesMut::from(&[1u8, 0, 0, 0, 0xff, 0xff, 0xff, 0xff][..]);
        assert!(decode_multiplexed(&mut buf).unwrap_err().0.contains("exceeds"));
    }

    #[test]
    fn raw_stream_splits_on_newlines_and_pieces() {
        let mut buf = BytesMut::from(&b"2024-01-02T03:04:05.000000001Z one\r\n2024-01-02T03:04:05.000000002Z tw"[..]);
        let first = decode_raw(&mut buf, false).unwrap().unwrap();
        assert!(matches!(first, Decoded::Entry(ref e) if &e.payload[..] == b"one\r\n" && e.stream == Stream::Console));
        assert_eq!(decode_raw(&mut buf, false).unwrap(), None);
        let last = decode_raw(&mut buf, true).unwrap().unwrap();
        assert!(matches!(last, Decoded::Entry(ref e) if &e.payload[..] == b"tw"));

        let mut long = b"2024-01-02T03:04:05.000000001Z ".to_vec();
        long.extend(std::iter::repeat(b'x').take(PIECE_BYTES));
        long.extend(b"2024-01-02T03:04:05.000000001Z end\r\n");
        let mut buf = BytesMut::from(&long[..]);
        let piece = decode_raw(&mut buf, false).unwrap().unwrap();
        assert!(matches!(piece, Decoded::Entry(ref e) if e.payload.len() == PIECE_BYTES));
        let end = decode_raw(&mut buf, false).unwrap().unwrap();
        assert!(matches!(end, Decoded::Entry(ref e) if &e.payload[..] == b"end\r\n"));
    }
}
