//! One connection's decoding: framing, then the chain of stages that turns
//! entries into lines (`crate::chain`).

use bytes::BytesMut;

use super::error::ReadError;
use crate::chain::{ChainOptions, Line, LineChain};
use crate::frame::{Decoded, FrameError, Framing, Stream};
use crate::position::Position;

pub struct Session {
    framing: Framing,
    chain: LineChain,
    /// Lines decoded and not yet delivered.
    pub lines: Vec<Line>,
}

impl Session {
    pub fn new(framing: Framing, options: ChainOptions) -> Session {
        Session { framing, chain: LineChain::new(options), lines: Vec::new() }
    }

    /// The stream and timestamp of the first entry in `buf`, without
    /// consuming it.
    pub fn peek_first(&self, buf: &BytesMut, eof: bool) -> Result<Option<(Stream, i64)>, FrameError> {
        let mut copy = buf.clone();
        loop {
            match self.framing.next(&mut copy, eof)? {
                None => return Ok(None),
                Some(Decoded::Entry(e)) => return Ok(Some((e.stream, e.ts_ns))),
                Some(Decoded::DaemonError(_)) => continue,
            }
        }
    }

    /// Decodes every complete entry into lines, advancing the position. A
    /// daemon error frame ends decoding with an error.
    pub fn decode(&mut self, position: &mut Position, buf: &mut BytesMut, eof: bool) -> Result<(), ReadError> {
        self.framing = self.framing.resolved(buf);
        while let Some(decoded) = self.framing.next(buf, eof).map_err(ReadError::Frame)? {
            match decoded {
                Decoded::DaemonError(message) => return Err(ReadError::Daemon(message)),
                Decoded::Entry(entry) => self.chain.push(position, entry, &mut self.lines),
            }
        }
        if eof && !buf.is_empty() {
            return Err(ReadError::Frame(FrameError(format!("stream ended inside a frame ({} bytes left)", buf.len()))));
        }
        Ok(())
    }

    /// The log is over for good: lines still waiting for their end go out.
    pub fn finish(&mut self, position: &mut Position) {
        self.chain.finish(position, &mut self.lines);
    }

    /// Counts the entries in `buf`, consuming them (a window's size).
    pub fn count(framing: Framing, buf: &mut BytesMut, eof: bool) -> Result<u64, ReadError> {
        let mut n = 0;
        while let Some(decoded) = framing.next(buf, eof).map_err(ReadError::Frame)? {
            match decoded {
                Decoded::Entry(_) => n += 1,
                Decoded::DaemonError(m) => return Err(ReadError::Daemon(m)),
            }
        }
        Ok(n)
    }
}
