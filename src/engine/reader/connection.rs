//! One logs request of a reader: opening it, and taking in what it sends.
//! A follow stream (`follow.rs`) and a bounded window (`window.rs`) both
//! read through this.

use bytes::BytesMut;

use super::busy::{Taken, ENTRY_OVERHEAD};
use super::error::ReadError;
use super::session::Session;
use super::state::ContainerState;
use super::verify::Verdict;
use super::Reader;
use crate::chain::ChainOptions;
use crate::docker::{Body, BodyRead, DockerError, LogsQuery};
use crate::engine::shared::Shared;
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
    /// Lines taken in from it (delivered, or held in an open multiline
    /// event).
    pub lines: u64,
    /// The log bytes those lines took (see `busy::Taken`).
    pub bytes: u64,
    /// A delivery had to wait (for room or the rate limit): the reader is
    /// behind the daemon.
    pub paused: bool,
}

/// What one read's bytes did.
pub enum Intake {
    /// Taken in; read on.
    More,
    /// The window does not reach back far enough: ask for a wider one.
    Widen,
    Error(ReadError),
}

/// Sends a logs request for container `id`.
pub(super) async fn open_request(
    shared: &Shared,
    id: &str,
    query: LogsQuery,
    framing: Framing,
) -> Result<Connection, DockerError> {
    // A logs response's headers are its first sign of life: bounded by the
    // read deadline as much as by the request deadline.
    let headers = shared.config.read_timeout.min(shared.config.request_timeout);
    let response = shared.docker.logs(id, &query, headers).await?;
    Ok(Connection {
        body: response.body,
        buf: BytesMut::with_capacity(BUFFER_BYTES),
        session: Session::new(framing, chain_options(shared)),
        query,
        verified: false,
        lines: 0,
        bytes: 0,
        paused: false,
    })
}

/// What shapes a connection's chain: the configuration and the daemon.
fn chain_options(shared: &Shared) -> ChainOptions {
    ChainOptions {
        merge: shared.config.auto_partial_merge,
        max_line_bytes: shared.config.max_line_bytes,
        pieces: shared.profile.pieces,
        resends_last_line: shared.profile.resends_last_line,
    }
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
        let framing = Framing::of(state.meta.tty);
        let opened = self.shutdown.run(open_request(&shared, &self.id, query, framing)).await?;
        // The first attempt is over: retries do not hold the start permit.
        self.starting = None;
        Ok(opened.map_err(ReadError::Docker))
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
        if eof && decoded.is_ok() {
            // Read to its end: whatever the log held was had.
            self.read_log = true;
            if finish {
                conn.session.finish(&mut state.position);
            }
        }
        if !conn.session.lines.is_empty() {
            // Lines in hand count as read, even held in an open event.
            self.read_log = true;
        }
        conn.lines += conn.session.lines.len() as u64;
        conn.bytes += conn.session.lines.iter().map(|l| l.message.len() as u64 + ENTRY_OVERHEAD).sum::<u64>();
        state.group(&mut conn.session.lines);
        let delivery = self.deliver(state).await?;
        conn.paused |= delivery.paused;
        Ok(match decoded {
            Ok(()) => Intake::More,
            Err(e) => Intake::Error(e),
        })
    }
}

impl Connection {
    /// What it brought so far.
    pub fn taken(&self) -> Taken {
        Taken { lines: self.lines, bytes: self.bytes }
    }

    /// Reads once (no deadline here: the caller bounds it).
    pub async fn read(&mut self) -> Result<BodyRead, DockerError> {
        self.body.read(&mut self.buf).await
    }
}
