//! One logs request of a reader: opening it, and taking in what it sends.
//! A follow stream (`follow.rs`) and a bounded window (`window.rs`) both
//! read through this.

use bytes::BytesMut;

use super::error::ReadError;
use super::session::Session;
use super::state::ContainerState;
use super::verify::Verdict;
use super::Reader;
use crate::chain::ChainOptions;
use crate::docker::{Body, BodyRead, DockerError, LogsQuery};
use crate::engine::shutdown::Cancelled;
use crate::frame::Framing;

/// Initial capacity of the decode buffer (it grows with the stream).
const BUFFER_BYTES: usize = 4 * 1024;

/// One open logs response and what has been read of it.
pub struct Connection {
    pub body: Body,
    pub buf: BytesMut,
    pub session: Session,
    pub query: LogsQuery,
    /// The window was shown to reach back far enough (see `verify`).
    verified: bool,
    /// Lines delivered from it.
    pub delivered: u64,
}

/// What one read's bytes did.
pub enum Intake {
    /// Taken in; read on.
    More,
    /// The window does not reach back far enough: ask for a wider one.
    Widen,
    Error(ReadError),
}

impl Reader {
    /// Sends a logs request; `Ok(Err)` when the daemon refused or failed it.
    pub(super) async fn open(
        &mut self,
        state: &ContainerState,
        query: LogsQuery,
    ) -> Result<Result<Connection, ReadError>, Cancelled> {
        state.tracked.stats.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let shared = self.shared.clone();
        let response = self.shutdown.run(shared.docker.logs(&self.id, &query)).await?;
        Ok(response.map_err(ReadError::Docker).map(|r| Connection {
            body: r.body,
            buf: BytesMut::with_capacity(BUFFER_BYTES),
            session: Session::new(Framing::of(state.meta.tty), self.chain_options()),
            query,
            verified: false,
            delivered: 0,
        }))
    }

    /// What shapes a connection's chain: the configuration and the daemon.
    pub(super) fn chain_options(&self) -> ChainOptions {
        let config = &self.shared.config;
        let profile = &self.shared.profile;
        ChainOptions {
            merge: config.auto_partial_merge,
            max_line_bytes: config.max_line_bytes,
            pieces: profile.pieces,
            resends_last_line: profile.resends_last_line,
        }
    }

    /// Takes in what the connection's buffer holds after a read: checks
    /// the window first (once), then decodes and delivers. With `finish`
    /// (the container has stopped), a line still waiting for its end at
    /// `eof` will not get one and goes out as it is.
    pub(super) async fn take_in(
        &mut self,
        state: &mut ContainerState,
        conn: &mut Connection,
        eof: bool,
        finish: bool,
    ) -> Result<Intake, Cancelled> {
        if !conn.verified {
            let first = match conn.session.peek_first(&conn.buf, eof) {
                Err(e) => return Ok(Intake::Error(ReadError::Frame(e))),
                Ok(None) if !eof => return Ok(Intake::More),
                Ok(first) => first,
            };
            conn.verified = true;
            match self.verify(state, &conn.query, first).await? {
                Verdict::Continuous => {}
                Verdict::Widen => return Ok(Intake::Widen),
                Verdict::Error(e) => return Ok(Intake::Error(e)),
            }
        }
        // What came before an error is delivered, then the error counts.
        let decoded = conn.session.decode(&mut state.position, &mut conn.buf, eof);
        if finish && eof && decoded.is_ok() {
            conn.session.finish(&mut state.position);
        }
        conn.delivered += self.deliver(state, &mut conn.session.lines).await?;
        Ok(match decoded {
            Ok(()) => Intake::More,
            Err(e) => Intake::Error(e),
        })
    }
}

impl Connection {
    /// Reads once (no deadline here: the caller bounds it).
    pub async fn read(&mut self) -> Result<BodyRead, DockerError> {
        self.body.read(&mut self.buf).await
    }
}
