//! Podman (before 5.3) holds a follow response's headers until a line comes:
//! a follow request whose headers have not come soon is either a quiet log
//! (the wait is the stream's, like a silent stream's) or a daemon that does
//! not answer. A window from the same point tells which: an empty one means
//! a quiet log, and the stream counts as renewed at once; otherwise its
//! renewal counts only when the headers come (the daemon may still be
//! reading a long file from its start), so a daemon that never answers
//! leaves the rotations stuck, as on Docker.

use std::time::Duration;

use super::connection::Connection;
use super::error::ReadError;
use super::state::ContainerState;
use super::Reader;
use crate::docker::LogsQuery;
use crate::engine::shutdown::Cancelled;

/// How long a follow request's headers may take before a window is asked.
const HEADER_PATIENCE: Duration = Duration::from_millis(500);

/// What a follow request's answer says so far.
pub enum Answer {
    /// Headers came, or the log is quiet: the stream is renewed.
    Open,
    /// Lines are there and the headers have not come: the renewal waits
    /// for them.
    Later,
    Failed(ReadError),
}

impl Reader {
    /// Waits a little for a follow request's headers, then asks a window
    /// (see the module's notes).
    pub(super) async fn answered(&mut self, state: &ContainerState, conn: &mut Connection) -> Result<Answer, Cancelled> {
        if !conn.is_waiting() {
            return Ok(Answer::Open);
        }
        let patience = HEADER_PATIENCE.min(self.shared.config.request_timeout);
        match self.shutdown.run(tokio::time::timeout(patience, conn.headers())).await? {
            Ok(Ok(())) => return Ok(Answer::Open),
            Ok(Err(e)) => return Ok(Answer::Failed(ReadError::Docker(e))),
            Err(_) => {}
        }
        // The last entry at or after the request's `since`, if any.
        let probe = LogsQuery { follow: false, tail: Some(1), ..conn.query };
        let profile = conn.profile.clone();
        Ok(match self.count_entries(state, probe, &profile).await? {
            Ok(0) => Answer::Open,
            Ok(_) => Answer::Later,
            Err(e) => Answer::Failed(e),
        })
    }
}
