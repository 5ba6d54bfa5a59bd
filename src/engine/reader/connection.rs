//! One logs request of a reader: opening it, and taking in what it sends.
//! A follow stream (`follow.rs`) and a bounded window (`window.rs`) both
//! read through this.

use std::sync::Arc;

use bytes::BytesMut;

use super::busy::{Taken, ENTRY_OVERHEAD};
use super::error::ReadError;
use super::session::Session;
use super::state::ContainerState;
use super::verify::Verdict;
use super::Reader;
use crate::chain::ChainOptions;
use crate::docker::{
    is_error_body, may_be_error_answer, Body, BodyRead, Docker, DockerError, LogsQuery, Profile, Request, Response,
};
use crate::engine::kinds::ReopenReason;
use crate::engine::shared::Shared;
use crate::engine::shutdown::Cancelled;
use crate::frame::Framing;

/// Initial capacity of the decode buffer (it grows with the stream).
const BUFFER_BYTES: usize = 4 * 1024;

/// One open logs response and what has been read of it.
pub struct Connection {
    body: LogBody,
    pub buf: BytesMut,
    pub session: Session,
    pub query: LogsQuery,
    /// The daemon's profile as it was when the request was made: the
    /// connection is read with it to its end.
    pub profile: Arc<Profile>,
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
    /// The stream's renewal (with the reason of its reopen) is counted
    /// when its headers come (see `headers::answered`).
    pub renewal_due: Option<Option<ReopenReason>>,
}

/// A logs response, or a request whose headers are still to come (see
/// `Profile::follow_headers_wait_for_a_line`).
enum LogBody {
    Waiting(Request),
    /// The response; `suspect` while its first bytes may still turn out to
    /// be an error (see `docker::may_be_error_answer`).
    Open { body: Body, suspect: bool },
}

impl LogBody {
    fn open(response: Response) -> LogBody {
        let suspect = may_be_error_answer(&response.headers);
        LogBody::Open { body: response.body, suspect }
    }
}

/// What one read's bytes did.
pub enum Intake {
    /// Taken in; read on.
    More,
    /// The window does not reach back far enough: ask for a wider one.
    Widen,
    Error(ReadError),
}

/// Sends a logs request for container `id`, to be read with `profile`. A
/// follow request to a daemon that holds its headers until a line comes is
/// not waited for here: that wait is the stream's (bounded like a silent
/// stream). Other responses' headers are their first sign of life: bounded
/// by the read deadline as much as by the request deadline.
pub(super) async fn open_request(
    shared: &Shared,
    id: &str,
    query: LogsQuery,
    framing: Framing,
    profile: Arc<Profile>,
) -> Result<Connection, DockerError> {
    let body = if query.follow && profile.follow_headers_wait_for_a_line {
        LogBody::Waiting(shared.docker.send_logs(id, &query).await?)
    } else {
        let headers = shared.config.read_timeout.min(shared.config.request_timeout);
        LogBody::open(shared.docker.logs(id, &query, headers).await?)
    };
    Ok(Connection {
        body,
        buf: BytesMut::with_capacity(BUFFER_BYTES),
        session: Session::new(framing, chain_options(shared, &profile)),
        query,
        profile,
        verified: false,
        lines: 0,
        bytes: 0,
        paused: false,
        renewal_due: None,
    })
}

/// What shapes a connection's chain: the configuration and the daemon.
fn chain_options(shared: &Shared, profile: &Profile) -> ChainOptions {
    let config = &shared.config;
    ChainOptions {
        merge: config.auto_partial_merge,
        max_line_bytes: config.max_line_bytes,
        pieces: profile.pieces,
        pieces_share_stamp: profile.pieces_share_stamp,
        resends_last_line: profile.resends_last_line,
    }
}

impl Reader {
    /// Sends the logs request that reads on from the position (a follow
    /// stream, or a window); `Ok(Err)` when the daemon refused or failed it.
    pub(super) async fn open(
        &mut self,
        state: &ContainerState,
        follow: bool,
    ) -> Result<Result<Connection, ReadError>, Cancelled> {
        let profile = self.shared.daemon.profile();
        let query = state.query(self.shared.config.streams, follow, &profile);
        self.open_query(state, query, profile).await
    }

    /// Sends `query`, read with `profile` (see `open_request`).
    pub(super) async fn open_query(
        &mut self,
        state: &ContainerState,
        query: LogsQuery,
        profile: Arc<Profile>,
    ) -> Result<Result<Connection, ReadError>, Cancelled> {
        state.tracked.stats.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let shared = self.shared.clone();
        let framing = Framing::of(state.meta.tty);
        let opened = self.shutdown.run(open_request(&shared, &self.id, query, framing, profile)).await?;
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
            match self.verify(state, &conn.query, &conn.profile, first).await? {
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

    /// True while the response headers are still to come.
    pub fn is_waiting(&self) -> bool {
        matches!(self.body, LogBody::Waiting(_))
    }

    /// Waits for the response headers if they are still to come (no
    /// deadline here: the caller bounds it). Cancel-safe.
    pub async fn headers(&mut self) -> Result<(), DockerError> {
        if let LogBody::Waiting(request) = &mut self.body {
            self.body = LogBody::open(request.response().await?);
        }
        Ok(())
    }

    /// Reads once, after the response headers when they are still to come
    /// (no deadline here: the caller bounds it). Cancel-safe.
    pub async fn read(&mut self, docker: &Docker) -> Result<BodyRead, DockerError> {
        self.headers().await?;
        let LogBody::Open { body, suspect } = &mut self.body else {
            unreachable!("the headers were taken above");
        };
        let read = body.read(&mut self.buf).await?;
        if *suspect && !self.buf.is_empty() {
            *suspect = false;
            if is_error_body(&self.buf) {
                return Err(docker.error_answer(&self.buf.split(), body).await);
            }
        }
        Ok(read)
    }
}
