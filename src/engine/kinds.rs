//! The names the engine counts things by: error kinds and reopen reasons,
//! each one enum whose names are the metric labels and stats keys.

use crate::docker::DockerError;

/// What went wrong, as `log_capturer_container_stream_errors_total{error_type}`
/// and the stats' `errors` name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum ErrorKind {
    /// The watchdog saw no rotation within the interval plus grace.
    RotationStuck,
    /// A read returned nothing within `read_timeout`.
    ReadTimeout,
    /// The daemon's socket could not be reached.
    DaemonUnavailable,
    /// The container's log driver cannot be read (501).
    UnreadableDriver,
    /// The container is gone (404).
    NotFound,
    /// No answer (headers, a body byte) within a request's deadline.
    Timeout,
    /// The connection failed mid-way.
    Io,
    /// Any other error status.
    Status,
    /// Something this client cannot read.
    Protocol,
    /// The daemon's own error, in band in a log stream.
    DaemonError,
    /// The log no longer held what the reader had reached (deleted).
    LogGap,
}

impl ErrorKind {
    pub const ALL: [ErrorKind; 11] = [
        ErrorKind::RotationStuck,
        ErrorKind::ReadTimeout,
        ErrorKind::DaemonUnavailable,
        ErrorKind::UnreadableDriver,
        ErrorKind::NotFound,
        ErrorKind::Timeout,
        ErrorKind::Io,
        ErrorKind::Status,
        ErrorKind::Protocol,
        ErrorKind::DaemonError,
        ErrorKind::LogGap,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ErrorKind::RotationStuck => "rotation_stuck",
            ErrorKind::ReadTimeout => "read_timeout",
            ErrorKind::DaemonUnavailable => "daemon_unavailable",
            ErrorKind::UnreadableDriver => "unreadable_driver",
            ErrorKind::NotFound => "not_found",
            ErrorKind::Timeout => "timeout",
            ErrorKind::Io => "io",
            ErrorKind::Status => "status",
            ErrorKind::Protocol => "protocol",
            ErrorKind::DaemonError => "daemon_error",
            ErrorKind::LogGap => "log_gap",
        }
    }

    /// The kind of a failed call to the daemon.
    pub fn of(e: &DockerError) -> ErrorKind {
        match e {
            DockerError::Connect(_) => ErrorKind::DaemonUnavailable,
            DockerError::Timeout(_) => ErrorKind::Timeout,
            DockerError::Io(_) => ErrorKind::Io,
            DockerError::Status { code: 404, .. } => ErrorKind::NotFound,
            DockerError::Status { code: 501, .. } => ErrorKind::UnreadableDriver,
            DockerError::Status { .. } => ErrorKind::Status,
            DockerError::Protocol(_) => ErrorKind::Protocol,
        }
    }
}

/// Why a stream was closed and opened again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReopenReason {
    /// The rotation interval passed (the stream was healthy).
    Rotation = 0,
    /// Nothing arrived within `read_timeout`.
    Idle = 1,
    /// The daemon ended the stream while the container still ran.
    StreamEnd = 2,
    /// The stream failed (connection error, daemon error frame).
    Error = 3,
    /// The reopened window did not reach back far enough; asked for more.
    Widen = 4,
    /// A busy rotating log is polled with non-follow reads (one per read).
    Poll = 5,
}

impl ReopenReason {
    pub const ALL: [ReopenReason; 6] = [
        ReopenReason::Rotation,
        ReopenReason::Idle,
        ReopenReason::StreamEnd,
        ReopenReason::Error,
        ReopenReason::Widen,
        ReopenReason::Poll,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReopenReason::Rotation => "rotation",
            ReopenReason::Idle => "idle",
            ReopenReason::StreamEnd => "stream_end",
            ReopenReason::Error => "error",
            ReopenReason::Widen => "widen",
            ReopenReason::Poll => "poll",
        }
    }
}
