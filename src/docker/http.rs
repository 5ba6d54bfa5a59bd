//! A small HTTP/1.1 client for the Docker Engine API: one connection per
//! request, every wait bounded.
//!
//! Why not a general client: a follow stream must be read with a deadline on
//! every read, its bytes handed to the frame decoder without copies through
//! layers of futures, and its socket closed the moment the body is dropped.
//! A connection pool would also hold idle sockets the FD gauge then has to
//! explain. This is the whole client; it speaks only what the daemon sends
//! (Content-Length, chunked, or until close).

use std::io;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::{Buf, BytesMut};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpStream, UnixStream};

use super::{DockerHost, Hosts};

/// What went wrong talking to the daemon.
#[derive(Debug)]
pub enum DockerError {
    /// The socket could not be reached: the daemon is down or away.
    Connect(io::Error),
    /// No answer (headers, or a body byte) within the deadline.
    Timeout(&'static str),
    /// The connection failed mid-way.
    Io(io::Error),
    /// The daemon answered with an error status.
    Status { code: u16, message: String },
    /// The daemon sent something this client cannot read.
    Protocol(String),
}

impl std::fmt::Display for DockerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DockerError::Connect(e) => write!(f, "cannot reach the Docker daemon: {e}"),
            DockerError::Timeout(what) => write!(f, "timed out waiting for {what}"),
            DockerError::Io(e) => write!(f, "connection to the Docker daemon failed: {e}"),
            DockerError::Status { code, message } => {
                write!(f, "Docker daemon answered {code}: {message}")
            }
            DockerError::Protocol(m) => write!(f, "unexpected answer from the Docker daemon: {m}"),
        }
    }
}

impl std::error::Error for DockerError {}

enum Conn {
    Unix(UnixStream),
    Tcp(TcpStream),
}

impl AsyncRead for Conn {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_read(cx, buf),
            Conn::Tcp(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Conn {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_write(cx, buf),
            Conn::Tcp(s) => Pin::new(s).poll_write(cx, buf),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_flush(cx),
            Conn::Tcp(s) => Pin::new(s).poll_flush(cx),
        }
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Conn::Unix(s) => Pin::new(s).poll_shutdown(cx),
            Conn::Tcp(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// Where and how to connect; cheap to clone (clones share the choice made
/// by a search).
#[derive(Debug, Clone)]
pub struct Endpoint {
    hosts: Arc<Hosts>,
    /// The host found by a search (the first that accepted a connection),
    /// kept from then on.
    chosen: Arc<OnceLock<DockerHost>>,
}

/// The largest header block or error body read.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How much a body read asks the socket for at first; it doubles, up to
/// `MAX_READ_CHUNK`, while reads fill it (a busy stream), so an idle stream
/// holds little memory and a busy one makes few syscalls.
const MIN_READ_CHUNK: usize = 4 * 1024;
const MAX_READ_CHUNK: usize = 64 * 1024;

impl Endpoint {
    pub fn new(hosts: impl Into<Hosts>) -> Endpoint {
        let hosts = hosts.into();
        let chosen = OnceLock::new();
        if let Hosts::Configured(host) = &hosts {
            let _ = chosen.set(host.clone());
        }
        Endpoint { hosts: Arc::new(hosts), chosen: Arc::new(chosen) }
    }

    /// A Unix socket: the daemon runs on this host, on its clock (false
    /// while no host is chosen yet).
    pub fn is_local(&self) -> bool {
        matches!(self.chosen.get(), Some(DockerHost::Unix(_)))
    }

    /// The daemon's address as `unix:///…` or `tcp://…` (while a search has
    /// found none yet: the places it tries, joined by "or").
    pub fn describe(&self) -> String {
        match self.chosen.get() {
            Some(host) => host.to_string(),
            None => self.hosts.to_string(),
        }
    }

    /// Connects to the chosen host; while none is chosen, to the first
    /// candidate that accepts, which becomes the chosen one.
    async fn connect(&self) -> io::Result<Conn> {
        if let Some(host) = self.chosen.get() {
            return connect_to(host).await;
        }
        let mut first_error = None;
        for host in self.hosts.candidates() {
            match connect_to(host).await {
                Ok(conn) => {
                    let _ = self.chosen.set(host.clone());
                    return Ok(conn);
                }
                Err(e) => {
                    first_error.get_or_insert(e);
                }
            }
        }
        Err(first_error.unwrap_or_else(|| io::Error::new(io::ErrorKind::NotFound, "no daemon address to try")))
    }

    /// Sends `GET path` and waits (at most `timeout`) for the response
    /// headers. A non-2xx answer becomes `DockerError::Status` with the
    /// daemon's message.
    pub async fn get(&self, path_and_query: &str, timeout: Duration) -> Result<Response, DockerError> {
        let answer = async { self.send(path_and_query, timeout).await?.response().await };
        match tokio::time::timeout(timeout, answer).await {
            Ok(r) => r,
            Err(_) => Err(DockerError::Timeout("response headers")),
        }
    }

    /// Connects and sends `GET path`, without waiting for the answer: for a
    /// request whose headers may take long to come (Podman holds a follow
    /// stream's headers until its first line). `error_timeout` bounds the
    /// reading of an error answer's body once its headers have come.
    pub async fn send(&self, path_and_query: &str, error_timeout: Duration) -> Result<Request, DockerError> {
        let mut conn = self.connect().await.map_err(DockerError::Connect)?;
        let request = format!(
            "GET {path_and_query} HTTP/1.1\r\nHost: docker\r\nUser-Agent: log-capturer/{}\r\nConnection: close\r\n\r\n",
            env!("CARGO_PKG_VERSION")
        );
        conn.write_all(request.as_bytes()).await.map_err(DockerError::Io)?;
        Ok(Request { conn: Some(conn), buf: BytesMut::with_capacity(8 * 1024), error_timeout })
    }

    /// A GET whose whole (bounded) body is returned.
    pub async fn get_bytes(
        &self,
        path_and_query: &str,
        timeout: Duration,
        limit: usize,
    ) -> Result<Vec<u8>, DockerError> {
        self.get_answer(path_and_query, timeout, limit).await.map(|(_, body)| body)
    }

    /// A GET whose headers and whole (bounded) body are returned.
    pub async fn get_answer(
        &self,
        path_and_query: &str,
        timeout: Duration,
        limit: usize,
    ) -> Result<(Headers, Vec<u8>), DockerError> {
        let started = tokio::time::Instant::now();
        let mut response = self.get(path_and_query, timeout).await?;
        let left = timeout.saturating_sub(started.elapsed());
        let body = response.body.read_to_end(limit, left).await?;
        Ok((response.headers, body))
    }
}

fn body_framing(headers: &[httparse::Header<'_>]) -> Result<Framing, DockerError> {
    let mut framing = Framing::UntilClose;
    for h in headers {
        if h.name.eq_ignore_ascii_case("transfer-encoding") {
            if std::str::from_utf8(h.value).map(|v| v.to_ascii_lowercase().contains("chunked")).unwrap_or(false) {
                framing = Framing::Chunked(ChunkState::Size);
            }
        } else if h.name.eq_ignore_ascii_case("content-length") && !matches!(framing, Framing::Chunked(_)) {
            let n = std::str::from_utf8(h.value)
                .ok()
                .and_then(|v| v.trim().parse::<u64>().ok())
                .ok_or_else(|| DockerError::Protocol("bad Content-Length".into()))?;
            framing = Framing::Length(n);
        }
    }
    Ok(framing)
}

/// An error answer sent with a 2xx status: its JSON body's `response`
/// (the status meant; 500 when absent) and `message`.
pub fn error_in_body(body: &[u8]) -> DockerError {
    #[derive(serde::Deserialize)]
    struct Meant {
        #[serde(default)]
        response: Option<u16>,
    }
    let code = serde_json::from_slice::<Meant>(body).ok().and_then(|m| m.response).unwrap_or(500);
    DockerError::Status { code, message: error_message(body) }
}

fn error_message(body: &[u8]) -> String {
    #[derive(serde::Deserialize)]
    struct ErrorBody {
        message: String,
    }
    match serde_json::from_slice::<ErrorBody>(body) {
        Ok(e) => e.message,
        Err(_) => String::from_utf8_lossy(body).trim().to_string(),
    }
}

/// A request sent, its answer still to come.
pub struct Request {
    /// `None` once the response has been taken.
    conn: Option<Conn>,
    /// Header bytes read so far.
    buf: BytesMut,
    error_timeout: Duration,
}

impl Request {
    /// Waits for the response headers (no deadline here: the caller bounds
    /// it). Cancel-safe: header bytes read are kept for the next call. A
    /// non-2xx answer becomes `DockerError::Status` with the daemon's
    /// message. Once it has returned, the request is spent.
    pub async fn response(&mut self) -> Result<Response, DockerError> {
        let Some(conn) = self.conn.as_mut() else {
            return Err(DockerError::Protocol("the response was already taken".into()));
        };
        let (status, framing, head_len, headers) = loop {
            if let Some(head) = parse_head(&self.buf)? {
                break head;
            }
            if conn.read_buf(&mut self.buf).await.map_err(DockerError::Io)? == 0 {
                return Err(DockerError::Protocol("connection closed before the response headers".into()));
            }
        };
        let conn = self.conn.take().expect("checked above");
        let mut raw = std::mem::take(&mut self.buf);
        raw.advance(head_len);
        let mut body = Body { conn, raw, framing, done: false, read_chunk: MIN_READ_CHUNK };
        if !(200..300).contains(&status) {
            let text = body.read_to_end(MAX_HEAD_BYTES, self.error_timeout).await.unwrap_or_default();
            return Err(DockerError::Status { code: status, message: error_message(&text) });
        }
        Ok(Response { status, headers, body })
    }
}

async fn connect_to(host: &DockerHost) -> io::Result<Conn> {
    match host {
        DockerHost::Unix(path) => UnixStream::connect::<&PathBuf>(path).await.map(Conn::Unix),
        DockerHost::Tcp(addr) => {
            let s = TcpStream::connect(addr.as_str()).await?;
            s.set_nodelay(true)?;
            Ok(Conn::Tcp(s))
        }
    }
}

/// The status, body framing, length and headers of a complete header block
/// at the front of `buf`; `None` while it is incomplete.
fn parse_head(buf: &[u8]) -> Result<Option<(u16, Framing, usize, Headers)>, DockerError> {
    let mut headers = [httparse::EMPTY_HEADER; 32];
    let mut response = httparse::Response::new(&mut headers);
    match response.parse(buf) {
        Ok(httparse::Status::Complete(head_len)) => {
            let status = response.code.unwrap_or(0);
            let framing = body_framing(response.headers)?;
            Ok(Some((status, framing, head_len, Headers::of(response.headers))))
        }
        Ok(httparse::Status::Partial) if buf.len() < MAX_HEAD_BYTES => Ok(None),
        Ok(httparse::Status::Partial) => Err(DockerError::Protocol("response headers exceed 64 KiB".into())),
        Err(e) => Err(DockerError::Protocol(format!("bad response headers: {e}"))),
    }
}

/// The headers of a response (names in lower case).
#[derive(Debug, Clone, Default)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    fn of(headers: &[httparse::Header<'_>]) -> Headers {
        Headers(
            headers
                .iter()
                .map(|h| (h.name.to_ascii_lowercase(), String::from_utf8_lossy(h.value).trim().to_string()))
                .collect(),
        )
    }

    /// Headers from (name, value) pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Headers {
        Headers(pairs.into_iter().map(|(n, v)| (n.to_ascii_lowercase(), v)).collect())
    }

    /// The value of header `name` (any case), if sent.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A response whose headers have arrived.
pub struct Response {
    pub status: u16,
    pub headers: Headers,
    pub body: Body,
}

#[derive(Debug, Clone, Copy)]
enum ChunkState {
    /// Expecting a chunk-size line.
    Size,
    /// Inside a chunk with this many bytes left.
    Data(u64),
    /// Expecting the CRLF after a chunk's data.
    DataEnd,
}

#[derive(Debug, Clone, Copy)]
enum Framing {
    Chunked(ChunkState),
    Length(u64),
    UntilClose,
}

/// A response body. Dropping it closes the connection (and frees its FD).
pub struct Body {
    conn: Conn,
    /// Bytes read from the socket, not yet de-chunked.
    raw: BytesMut,
    framing: Framing,
    done: bool,
    /// How much the next socket read asks for.
    read_chunk: usize,
}

/// The outcome of one bounded body read.
#[derive(Debug, PartialEq, Eq)]
pub enum BodyRead {
    /// This many body bytes were appended.
    Data(usize),
    /// The body ended cleanly.
    End,
}

impl Body {
    /// True once the body has ended.
    pub fn is_done(&self) -> bool {
        self.done
    }

    /// Moves body bytes already received into `out` without waiting.
    /// Returns how many were moved.
    pub fn drain_buffered(&mut self, out: &mut BytesMut) -> Result<usize, DockerError> {
        let before = out.len();
        loop {
            match self.framing {
                Framing::UntilClose => {
                    out.extend_from_slice(&self.raw);
                    self.raw.clear();
                    break;
                }
                Framing::Length(left) => {
                    let n = (left as usize).min(self.raw.len());
                    out.extend_from_slice(&self.raw[..n]);
                    self.raw.advance(n);
                    self.framing = Framing::Length(left - n as u64);
                    if left == n as u64 {
                        self.done = true;
                    }
                    break;
                }
                Framing::Chunked(ChunkState::Data(left)) => {
                    if self.raw.is_empty() {
                        break;
                    }
                    let n = (left as usize).min(self.raw.len());
                    out.extend_from_slice(&self.raw[..n]);
                    self.raw.advance(n);
                    let left = left - n as u64;
                    self.framing =
                        Framing::Chunked(if left == 0 { ChunkState::DataEnd } else { ChunkState::Data(left) });
                }
                Framing::Chunked(ChunkState::DataEnd) => {
                    if self.raw.len() < 2 {
                        break;
                    }
                    if &self.raw[..2] != b"\r\n" {
                        return Err(DockerError::Protocol("chunk not followed by CRLF".into()));
                    }
                    self.raw.advance(2);
                    self.framing = Framing::Chunked(ChunkState::Size);
                }
                Framing::Chunked(ChunkState::Size) => {
                    let Some(eol) = self.raw.windows(2).position(|w| w == b"\r\n") else {
                        if self.raw.len() > 1024 {
                            return Err(DockerError::Protocol("chunk size line too long".into()));
                        }
                        break;
                    };
                    let line = std::str::from_utf8(&self.raw[..eol])
                        .map_err(|_| DockerError::Protocol("chunk size is not text".into()))?;
                    let hex = line.split(';').next().unwrap_or("").trim();
                    let size = u64::from_str_radix(hex, 16)
                        .map_err(|_| DockerError::Protocol(format!("bad chunk size {hex:?}")))?;
                    self.raw.advance(eol + 2);
                    if size == 0 {
                        // Trailers are not used by the daemon; the body is over.
                        self.done = true;
                        self.raw.clear();
                        break;
                    }
                    self.framing = Framing::Chunked(ChunkState::Data(size));
                }
            }
            if self.done {
                break;
            }
        }
        Ok(out.len() - before)
    }

    /// Reads once from the socket (no deadline here: the caller selects this
    /// against its own deadline and cancellation) and moves what arrived
    /// into `out`. Cancel-safe: bytes read are kept in the body's buffer.
    pub async fn read(&mut self, out: &mut BytesMut) -> Result<BodyRead, DockerError> {
        loop {
            if self.done {
                return Ok(BodyRead::End);
            }
            let moved = self.drain_buffered(out)?;
            if moved > 0 {
                return Ok(BodyRead::Data(moved));
            }
            if self.done {
                return Ok(BodyRead::End);
            }
            self.raw.reserve(self.read_chunk);
            let room = self.raw.capacity() - self.raw.len();
            let n = self.conn.read_buf(&mut self.raw).await.map_err(DockerError::Io)?;
            if n == room && self.read_chunk < MAX_READ_CHUNK {
                self.read_chunk *= 2;
            }
            if n == 0 {
                return match self.framing {
                    Framing::UntilClose => {
                        self.done = true;
                        Ok(BodyRead::End)
                    }
                    _ => Err(DockerError::Io(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the daemon closed the connection mid-body",
                    ))),
                };
            }
        }
    }

    /// Reads the whole body, at most `limit` bytes, within `timeout`.
    pub async fn read_to_end(&mut self, limit: usize, timeout: Duration) -> Result<Vec<u8>, DockerError> {
        let mut out = BytesMut::new();
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            match tokio::time::timeout_at(deadline, self.read(&mut out)).await {
                Err(_) => return Err(DockerError::Timeout("the response body")),
                Ok(Err(e)) => return Err(e),
                Ok(Ok(BodyRead::End)) => return Ok(out.to_vec()),
                Ok(Ok(BodyRead::Data(_))) if out.len() > limit => {
                    return Err(DockerError::Protocol(format!("response body exceeds {limit} bytes")))
                }
                Ok(Ok(BodyRead::Data(_))) => {}
            }
        }
    }
}
