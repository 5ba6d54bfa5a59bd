//! What differs between daemons for a log follower, in one place: each
//! workaround the reader applies is a field here, chosen from the daemon's
//! version (ENGINES.md has the measurements behind each).

use crate::chain::PieceRule;

/// How to read one daemon's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// What the daemon reported itself as (for stats and logs).
    pub engine: String,
    /// What ends a line: Docker splits at 16 KiB and its `local` driver
    /// drops the last piece's newline.
    pub pieces: PieceRule,
    /// A 20.10 daemon re-sends the last line of a json-file log that
    /// rotates under a follow stream.
    pub resends_last_line: bool,
    /// The follower skips rotated files of a busy rotating log (json-file
    /// with `max-size`, `local`): such logs are polled with non-follow
    /// reads instead (20.10 skips even when keeping up; 23+ when more than
    /// one rotation behind).
    pub poll_busy_rotating_logs: bool,
}

impl Profile {
    /// Docker, as measured on 20.10 (what holds until a version says
    /// otherwise).
    pub fn docker() -> Profile {
        Profile {
            engine: "docker".into(),
            pieces: PieceRule::default(),
            resends_last_line: true,
            poll_busy_rotating_logs: true,
        }
    }
}

impl Default for Profile {
    fn default() -> Profile {
        Profile::docker()
    }
}
