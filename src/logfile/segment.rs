//! One file of the set, read as complete lines in bounded chunks.
//!
//! A plain file is read with `pread` from the offset of the next unread
//! line, so nothing of it is held between calls (an idle follower keeps no
//! buffer) and a partly written last line is simply read again later. A
//! compressed file can only be read forward, so its leftover bytes are kept
//! until its next read.

use std::ffi::OsString;
use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::FileExt;

use bytes::{Buf, Bytes, BytesMut};
use flate2::read::GzDecoder;

use super::files::Identity;

/// The longest line accepted. Docker's longest is a 16 KiB piece with every
/// byte escaped as `\u00XX` (~96 KiB) plus its fields; conmon's is 8 KiB.
pub const MAX_LINE_BYTES: usize = 1 << 20;

/// What one read of a segment gave.
#[derive(Debug)]
pub enum Chunk {
    /// Complete lines, each ending in `\n`.
    Lines(Bytes),
    /// Nothing more for now; `partial` bytes of an unfinished line follow.
    End { partial: usize },
    /// A plain file is shorter than the offset reached, or its bytes before
    /// the offset no longer end a line: it was truncated (and maybe written
    /// again) under the reader.
    Truncated,
    /// A line longer than `MAX_LINE_BYTES` starts at the offset.
    TooLong,
}

enum Source {
    Plain(File),
    Gz { decoder: Box<GzDecoder<File>>, carry: BytesMut, eof: bool },
}

/// A file being read, and where.
pub struct Segment {
    pub name: OsString,
    pub identity: Identity,
    source: Source,
    /// Where the next unread line starts (in the uncompressed bytes).
    pub offset: u64,
    /// The stamp of the last line parsed in this file.
    pub last_ts: Option<i64>,
    /// `offset` is inside an over-long line being skipped: the next read
    /// first moves past its `\n`.
    skipping: bool,
}

impl Segment {
    pub fn plain(name: OsString, identity: Identity, file: File, offset: u64) -> Segment {
        Segment { name, identity, source: Source::Plain(file), offset, last_ts: None, skipping: false }
    }

    pub fn gz(name: OsString, identity: Identity, file: File) -> Segment {
        let decoder = Box::new(GzDecoder::new(file));
        Segment {
            name,
            identity,
            source: Source::Gz { decoder, carry: BytesMut::new(), eof: false },
            offset: 0,
            last_ts: None,
            skipping: false,
        }
    }

    pub fn is_compressed(&self) -> bool {
        matches!(self.source, Source::Gz { .. })
    }

    /// The open file, if plain.
    pub fn file(&self) -> Option<&File> {
        match &self.source {
            Source::Plain(file) => Some(file),
            Source::Gz { .. } => None,
        }
    }

    /// Reads the next complete lines after `offset`: about `limit` bytes
    /// (more only to complete one line), through `buf`.
    pub fn next_chunk(&mut self, limit: usize, buf: &mut BytesMut) -> io::Result<Chunk> {
        if self.skipping && !self.skip_line(buf)? {
            return Ok(Chunk::End { partial: 0 });
        }
        match &mut self.source {
            Source::Plain(file) => plain_chunk(file, self.offset, limit, buf),
            Source::Gz { decoder, carry, eof } => gz_chunk(decoder, carry, eof, limit),
        }
    }

    /// Moves past the over-long line at `offset`, to just after its `\n`;
    /// false if that is not written yet (the next read goes on skipping).
    pub fn skip_line(&mut self, buf: &mut BytesMut) -> io::Result<bool> {
        self.skipping = true;
        loop {
            let found = match &mut self.source {
                Source::Plain(file) => {
                    let n = read_at(file, self.offset, MAX_LINE_BYTES, buf)?;
                    let found = memchr::memchr(b'\n', buf);
                    self.offset += found.map_or(n, |i| i + 1) as u64;
                    if found.is_none() && n == 0 {
                        return Ok(false);
                    }
                    found.is_some()
                }
                Source::Gz { decoder, carry, eof } => {
                    let found = memchr::memchr(b'\n', carry);
                    let skipped = carry.split_to(found.map_or(carry.len(), |i| i + 1));
                    self.offset += skipped.len() as u64;
                    if found.is_none() && (*eof || fill(decoder, carry, eof, MAX_LINE_BYTES)? == 0) {
                        return Ok(false);
                    }
                    found.is_some()
                }
            };
            if found {
                self.skipping = false;
                return Ok(true);
            }
        }
    }
}

fn plain_chunk(file: &File, offset: u64, limit: usize, buf: &mut BytesMut) -> io::Result<Chunk> {
    // One byte before the offset is read too: it must be the `\n` that
    // ended the last line read, or the file was truncated under us.
    let before = offset.min(1);
    let size = file.metadata()?.len();
    if size < offset {
        return Ok(Chunk::Truncated);
    }
    // Read no more than is there (plus a byte, to see the end): an idle
    // follower's buffer stays small.
    let mut want = limit.min((size - offset) as usize + 1);
    loop {
        let n = read_at(file, offset - before, want + before as usize, buf)?;
        if before == 1 && (n == 0 || buf[0] != b'\n') {
            return Ok(Chunk::Truncated);
        }
        let data = &buf[before as usize..];
        if let Some(last) = memchr::memrchr(b'\n', data) {
            buf.advance(before as usize);
            buf.truncate(last + 1);
            return Ok(Chunk::Lines(buf.split().freeze()));
        }
        if data.len() < want {
            return Ok(Chunk::End { partial: data.len() });
        }
        if want >= MAX_LINE_BYTES {
            return Ok(Chunk::TooLong);
        }
        want = (want.max(4096) * 4).min(MAX_LINE_BYTES);
    }
}

/// `pread` of up to `len` bytes at `offset` into `buf` (cleared first);
/// returns how many were read (fewer only at the end of the file).
fn read_at(file: &File, offset: u64, len: usize, buf: &mut BytesMut) -> io::Result<usize> {
    buf.clear();
    buf.resize(len, 0);
    let mut n = 0;
    while n < len {
        match file.read_at(&mut buf[n..], offset + n as u64) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(n);
    Ok(n)
}

fn gz_chunk(decoder: &mut GzDecoder<File>, carry: &mut BytesMut, eof: &mut bool, limit: usize) -> io::Result<Chunk> {
    loop {
        if let Some(last) = memchr::memrchr(b'\n', carry) {
            return Ok(Chunk::Lines(carry.split_to(last + 1).freeze()));
        }
        if *eof {
            return Ok(Chunk::End { partial: carry.len() });
        }
        if carry.len() >= MAX_LINE_BYTES {
            return Ok(Chunk::TooLong);
        }
        fill(decoder, carry, eof, limit)?;
    }
}

/// Appends up to `limit` decompressed bytes to `carry`.
fn fill(decoder: &mut GzDecoder<File>, carry: &mut BytesMut, eof: &mut bool, limit: usize) -> io::Result<usize> {
    let start = carry.len();
    carry.resize(start + limit, 0);
    let result = loop {
        match decoder.read(&mut carry[start..]) {
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            other => break other,
        }
    };
    let n = *result.as_ref().unwrap_or(&0);
    carry.truncate(start + n);
    *eof = n == 0;
    result
}

/// The line (with its `\n`) that ends just before `offset` in a plain
/// file, if `offset` follows a `\n` and the line is not over-long.
pub fn line_before(file: &File, offset: u64, buf: &mut BytesMut) -> io::Result<Option<Bytes>> {
    let mut span = 4096u64;
    loop {
        let start = offset.saturating_sub(span);
        let n = read_at(file, start, (offset - start) as usize, buf)?;
        if n as u64 != offset - start || buf.last() != Some(&b'\n') {
            return Ok(None);
        }
        match memchr::memrchr(b'\n', &buf[..n - 1]) {
            Some(i) => return Ok(Some(Bytes::copy_from_slice(&buf[i + 1..n]))),
            None if start == 0 => return Ok(Some(Bytes::copy_from_slice(&buf[..n]))),
            None if span as usize >= MAX_LINE_BYTES => return Ok(None),
            None => span *= 4,
        }
    }
}

/// The first complete line (with its `\n`) starting at or after `offset`
/// in a plain file, and where it starts.
pub fn line_from(file: &File, offset: u64, buf: &mut BytesMut) -> io::Result<Option<(u64, Bytes)>> {
    let n = read_at(file, offset, 64 * 1024, buf)?;
    let Some(start) = (if offset == 0 { Some(0) } else { memchr::memchr(b'\n', &buf[..n]).map(|i| i + 1) }) else {
        return Ok(None);
    };
    if let Some(len) = memchr::memchr(b'\n', &buf[start..n]) {
        return Ok(Some((offset + start as u64, Bytes::copy_from_slice(&buf[start..start + len + 1]))));
    }
    // A long line: read it whole from its start.
    let at = offset + start as u64;
    let n = read_at(file, at, MAX_LINE_BYTES, buf)?;
    Ok(memchr::memchr(b'\n', &buf[..n]).map(|len| (at, Bytes::copy_from_slice(&buf[..len + 1]))))
}

/// The first complete line of a compressed file.
pub fn gz_first_line(file: &File) -> io::Result<Option<Bytes>> {
    let mut decoder = GzDecoder::new(file);
    let mut carry = BytesMut::new();
    let mut eof = false;
    while !eof && carry.len() < MAX_LINE_BYTES {
        if let Some(i) = memchr::memchr(b'\n', &carry) {
            return Ok(Some(carry.split_to(i + 1).freeze()));
        }
        let start = carry.len();
        carry.resize(start + 16 * 1024, 0);
        let n = decoder.read(&mut carry[start..])?;
        carry.truncate(start + n);
        eof = n == 0;
    }
    Ok(memchr::memchr(b'\n', &carry).map(|i| carry.split_to(i + 1).freeze()))
}
