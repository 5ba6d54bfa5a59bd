//! What can go wrong while reading a log stream.

use std::fmt;

use crate::docker::DockerError;
use crate::engine::kinds::ErrorKind;
use crate::frame::FrameError;

/// A failure while reading a stream.
#[derive(Debug)]
pub enum ReadError {
    Docker(DockerError),
    Frame(FrameError),
    /// A type-3 frame: the daemon's own error, in band.
    Daemon(String),
    Timeout,
}

impl ReadError {
    pub fn kind(&self) -> ErrorKind {
        match self {
            ReadError::Docker(e) => ErrorKind::of(e),
            ReadError::Frame(_) => ErrorKind::Protocol,
            ReadError::Daemon(_) => ErrorKind::DaemonError,
            ReadError::Timeout => ErrorKind::ReadTimeout,
        }
    }
}

impl fmt::Display for ReadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReadError::Docker(e) => e.fmt(f),
            ReadError::Frame(e) => write!(f, "malformed log stream: {e}"),
            ReadError::Daemon(m) => write!(f, "daemon error in the log stream: {m}"),
            ReadError::Timeout => f.write_str("no data within read_timeout"),
        }
    }
}
