//! The names the engine counts things by: error kinds, reopen reasons and
//! pause reasons, each one enum whose names are the metric labels and stats
//! keys.

use crate::docker::DockerError;
use crate::named::named_enum;

named_enum! {
    /// What went wrong, as `log_capturer_container_stream_errors_total{error_type}`
    /// and the stats' `errors` name it.
    pub enum ErrorKind {
        /// The watchdog saw no rotation within the interval plus grace.
        RotationStuck = "rotation_stuck",
        /// A read returned nothing within `read_timeout`.
        ReadTimeout = "read_timeout",
        /// The daemon's socket could not be reached.
        DaemonUnavailable = "daemon_unavailable",
        /// The container's log driver cannot be read (501).
        UnreadableDriver = "unreadable_driver",
        /// The container is gone (404).
        NotFound = "not_found",
        /// No answer (headers, a body byte) within a request's deadline.
        Timeout = "timeout",
        /// The connection failed mid-way.
        Io = "io",
        /// Any other error status.
        Status = "status",
        /// Something this client cannot read.
        Protocol = "protocol",
        /// The daemon's own error, in band in a log stream.
        DaemonError = "daemon_error",
        /// The log no longer held what the reader had reached (deleted).
        LogGap = "log_gap",
        /// A container was removed before any of its log could be read.
        RemovedUnread = "removed_unread",
        /// The host clock went back behind lines already read: lines written
        /// until it catches up are stamped before them and taken as read.
        ClockBehind = "clock_behind",
        /// The host clock went back behind lines already read while the log
        /// file was read in its own order: the lines written meanwhile are
        /// delivered all the same (a step counted, not a gap).
        ClockStepped = "clock_stepped",
        /// Its log file cannot be read (`log_source: file`), or failed while
        /// being read (then the API takes over, with `auto`).
        FileUnreadable = "file_unreadable",
    }
}

named_enum! {
    /// Where a container's log is being read from.
    pub enum ReadSource {
        /// The Docker API's logs endpoint.
        Api = "api",
        /// The container's log file.
        File = "file",
    }
}

impl ErrorKind {
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

named_enum! {
    /// Why a stream was closed and opened again.
    pub enum ReopenReason {
        /// The rotation interval passed (the stream was healthy).
        Rotation = "rotation",
        /// Nothing arrived within `read_timeout`.
        Idle = "idle",
        /// The daemon ended the stream while the container still ran.
        StreamEnd = "stream_end",
        /// The stream failed (connection error, daemon error frame).
        Error = "error",
        /// The reopened window did not reach back far enough; asked for more.
        Widen = "widen",
        /// A busy rotating log is polled with non-follow reads (one per read).
        Poll = "poll",
    }
}

named_enum! {
    /// Why a reader stopped reading for a while (the daemon keeps the log).
    pub enum PauseReason {
        /// Waiting for room in the queue: the host is not polling fast
        /// enough, or this container holds its share of the queue.
        Backpressure = "backpressure",
        /// Over `container_max_records_per_second`.
        RateLimit = "rate_limit",
    }
}
