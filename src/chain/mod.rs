//! How one connection's entries become lines, one stage a type:
//!
//! ```text
//! entries ──► de-duplication (vs the position) ──► partial merge ──► lines
//! ```
//!
//! Each stage advances the container's position only past what it has
//! turned into lines or skipped, so a reopen resumes exactly. A new stage
//! (multiline grouping) goes after the merge.

pub mod dedup;
pub mod merge;

pub use dedup::Dedup;
pub use merge::{Assembler, Line};

use crate::frame::{Entry, PIECE_BYTES};
use crate::position::Position;

/// What ends a line, which depends on the daemon.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PieceRule {
    /// A newline, or a piece shorter than this: the last piece of output
    /// that had no newline, or of a driver that drops it (Docker's `local`
    /// driver and dual-logging cache on 20.10). Docker's pieces are 16 KiB.
    NewlineOrShorterThan(usize),
    /// A newline only.
    Newline,
}

impl Default for PieceRule {
    fn default() -> PieceRule {
        PieceRule::NewlineOrShorterThan(PIECE_BYTES)
    }
}

impl PieceRule {
    #[inline]
    pub fn ends_line(self, payload: &[u8]) -> bool {
        match self {
            PieceRule::NewlineOrShorterThan(piece) => payload.last() == Some(&b'\n') || payload.len() < piece,
            PieceRule::Newline => payload.last() == Some(&b'\n'),
        }
    }
}

/// What shapes a chain: the configuration's merging and line limit, and
/// what the daemon's profile says of its pieces and re-sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChainOptions {
    pub merge: bool,
    pub max_line_bytes: usize,
    pub pieces: PieceRule,
    /// The daemon re-sends a stream's last line when its log rotates.
    pub resends_last_line: bool,
}

/// One connection's chain of stages.
pub struct LineChain {
    dedup: Dedup,
    merge: Assembler,
}

impl LineChain {
    pub fn new(options: ChainOptions) -> LineChain {
        LineChain {
            dedup: Dedup::new(options.resends_last_line, options.pieces),
            merge: Assembler::new(options.merge, options.max_line_bytes).with_pieces(options.pieces),
        }
    }

    /// One entry in; the lines it completes go to `out`.
    #[inline]
    pub fn push(&mut self, position: &mut Position, entry: Entry, out: &mut Vec<Line>) {
        let (k, new) = self.dedup.check_entry(position, &entry);
        self.merge.lift_others(position, entry.stream, entry.ts_ns);
        if new {
            self.merge.accept(position, entry, k, out);
        }
    }

    /// The log is over for good (the container stopped): lines still
    /// waiting for their end go out as they are.
    pub fn finish(&mut self, position: &mut Position, out: &mut Vec<Line>) {
        self.merge.finish(position, out);
    }
}
