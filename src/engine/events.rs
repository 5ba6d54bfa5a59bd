//! The engine's internal events that both count and log: each is one type
//! whose `emit` bumps its counters and writes its line, so the kind, the
//! metric label and the message come from one place.

use std::fmt::Display;

use super::kinds::ErrorKind;
use super::stats::{ContainerStats, EngineStats};
use crate::docker::{DaemonVersion, DockerError};
use crate::log::Logger;
use crate::record::ContainerMeta;
use crate::timestamp::format_rfc3339;

/// A log stream failed; the reader reopens it after a backoff.
pub struct StreamFailed<'a> {
    pub meta: &'a ContainerMeta,
    pub kind: ErrorKind,
    pub error: &'a dyn Display,
}

impl StreamFailed<'_> {
    pub fn emit(&self, log: &Logger, stats: &ContainerStats) {
        stats.error(self.kind, self.error.to_string());
        log.warn(
            "Log stream failed; reopening after a backoff.",
            &[("container_id", &self.meta.short_id()), ("error_type", &self.kind.name()), ("error", self.error)],
        );
    }
}

/// The container's log driver cannot be read (501); it is not retried.
pub struct DriverUnreadable<'a> {
    pub meta: &'a ContainerMeta,
    pub message: &'a str,
}

impl DriverUnreadable<'_> {
    pub fn emit(&self, log: &Logger, stats: &ContainerStats) {
        stats.error(ErrorKind::UnreadableDriver, self.message);
        log.warn(
            "Container's log driver cannot be read; it will not be retried.",
            &[
                ("container_id", &self.meta.short_id()),
                ("container_name", &self.meta.name_str()),
                ("log_driver", &self.meta.log_driver),
                ("error", &self.message),
            ],
        );
    }
}

/// The API took over reading from the log file, and its stamps are whole
/// seconds (Podman): the entries of the position's second that came after
/// it cannot be told from those before it, and are taken as read.
pub struct TakeOverGap<'a> {
    pub meta: &'a ContainerMeta,
    /// The position's stamp.
    pub after_ns: i64,
    /// The end of its second.
    pub before_ns: i64,
}

impl TakeOverGap<'_> {
    pub fn emit(&self, log: &Logger, stats: &ContainerStats) {
        let span = (self.after_ns, self.before_ns);
        let why = (
            "the API took over from the log file with stamps of whole seconds",
            "The API took over from the log file; its stamps are whole seconds: lines of the position's second after it may be lost.",
        );
        emit_gap(self.meta, span, why, log, stats);
    }
}

/// Counts a gap over `span` (stats, metric) and logs it, saying why:
/// `(in the stats' message, the log line)`.
fn emit_gap(meta: &ContainerMeta, span: (i64, i64), why: (&str, &str), log: &Logger, stats: &ContainerStats) {
    let (after, before) = (format_rfc3339(span.0), format_rfc3339(span.1));
    stats.gap(span.0, span.1, format!("{}: lines stamped between {after} and {before} may be lost", why.0));
    log.warn(
        why.1,
        &[
            ("container_id", &meta.short_id()),
            ("container_name", &meta.name_str()),
            ("after", &after),
            ("before", &before),
        ],
    );
}

/// The log no longer holds entries the reader had passed: the daemon
/// deleted them (a rotated log file) with whatever followed them that was
/// not read yet.
pub struct LogGap<'a> {
    pub meta: &'a ContainerMeta,
    /// The newest passed entry that is gone.
    pub after_ns: i64,
    /// The first entry still there.
    pub before_ns: i64,
}

impl LogGap<'_> {
    pub fn emit(&self, log: &Logger, stats: &ContainerStats) {
        let why = (
            "log rotated away before it was read",
            "Log rotated away before it was read: lines in between may be lost.",
        );
        emit_gap(self.meta, (self.after_ns, self.before_ns), why, log, stats);
    }
}

/// The host clock is behind a line already read from this container: it
/// was stepped back (NTP, by hand), or a capture restarted from a position
/// file after such a step. Its lines written until the clock reaches that
/// line's stamp are stamped before it, and through the API can be told
/// neither from lines re-sent by the daemon nor by `since`: they are taken
/// as read. Counted as a gap over the stamps such lines can have, and
/// logged, once per episode. Unless `delivered`: the container's log file
/// was read in its own order since before the step, and those lines come
/// all the same (counted as a step, logged, no gap).
pub struct ClockBehind<'a> {
    pub meta: &'a ContainerMeta,
    /// The earliest stamp a line written since the step can carry: the
    /// clock when the step was last known not to have happened.
    pub after_ns: i64,
    /// The newest stamp read.
    pub newest_ns: i64,
    pub now_ns: i64,
    pub delivered: bool,
}

impl ClockBehind<'_> {
    pub fn emit(&self, log: &Logger, stats: &ContainerStats) {
        let behind = format!("{:.3}", (self.newest_ns - self.now_ns) as f64 / 1e9);
        if self.delivered {
            return self.emit_delivered(log, stats, &behind);
        }
        let (after, newest) = (format_rfc3339(self.after_ns), format_rfc3339(self.newest_ns));
        let message = format!(
            "host clock is {behind} s behind a line already read (stamped {newest}): lines written until it gets there are stamped before it and may be lost"
        );
        stats.gap_of(ErrorKind::ClockBehind, self.after_ns, self.newest_ns, message);
        log.warn(
            "Host clock is behind lines already read (stepped back?): lines written until it catches up may be lost.",
            &[
                ("container_id", &self.meta.short_id()),
                ("container_name", &self.meta.name_str()),
                ("behind_seconds", &behind),
                ("after", &after),
                ("until", &newest),
            ],
        );
    }

    fn emit_delivered(&self, log: &Logger, stats: &ContainerStats, behind: &str) {
        let message = format!(
            "host clock stepped {behind} s back behind a line already read: the lines written meanwhile are stamped before it, and delivered in the log file's order"
        );
        stats.error(ErrorKind::ClockStepped, message);
        stats.clock_step_delivered();
        log.warn(
            "Host clock is behind lines already read (stepped back?): lines written meanwhile are delivered in the log file's order.",
            &[
                ("container_id", &self.meta.short_id()),
                ("container_name", &self.meta.name_str()),
                ("behind_seconds", &behind),
            ],
        );
    }
}

/// A followed container's stream has not been renewed within the rotation
/// interval plus grace (counted and logged once per episode).
pub struct RotationStuck<'a> {
    pub meta: &'a ContainerMeta,
    pub since_renewal_ns: i64,
    pub rotations: u64,
}

impl RotationStuck<'_> {
    pub fn emit(&self, log: &Logger, stats: &ContainerStats) {
        stats.error(ErrorKind::RotationStuck, format!("no rotation for {:.1} s", self.since_renewal_ns as f64 / 1e9));
        log.warn(
            "Container stream rotation is stuck; restarting its reader.",
            &[
                ("container_id", &self.meta.short_id()),
                ("container_name", &self.meta.name_str()),
                ("rotations", &self.rotations),
            ],
        );
    }
}

/// A call of discovery's to the daemon failed; it retries with backoff.
pub struct DaemonUnavailable<'a> {
    pub endpoint: &'a str,
    pub error: &'a DockerError,
    /// The daemon was reachable until now (a warning; later ones are debug).
    pub first: bool,
}

impl DaemonUnavailable<'_> {
    pub fn emit(&self, log: &Logger, stats: &EngineStats) {
        stats.daemon_error(ErrorKind::of(self.error), self.error.to_string());
        let fields: &[(&str, &dyn Display)] = &[("docker_host", &self.endpoint), ("error", self.error)];
        if self.first {
            log.warn("Docker daemon unavailable; retrying with backoff.", fields);
        } else {
            log.debug("Docker daemon still unavailable.", fields);
        }
    }
}

/// Discovery found which daemon answers: the first time, or another one
/// (a daemon restarted as another version or engine). Its profile is now
/// the one new connections are read with.
pub struct DaemonFound<'a> {
    pub endpoint: &'a str,
    pub daemon: &'a DaemonVersion,
    /// The daemon found before, if any.
    pub before: Option<&'a DaemonVersion>,
}

impl DaemonFound<'_> {
    pub fn emit(&self, log: &Logger) {
        let d = self.daemon;
        let fields: &[(&str, &dyn Display)] = &[
            ("docker_host", &self.endpoint),
            ("engine", &d.kind.name()),
            ("version", &d.version),
            ("api_version", &d.api_version),
        ];
        match self.before {
            None => log.info("Daemon found; its logs are read with its engine's profile.", fields),
            Some(before) => {
                let mut fields = fields.to_vec();
                fields.push(("before", before));
                log.warn("Daemon changed; new streams are read with its profile.", &fields);
            }
        }
    }
}

/// A followed container was removed (its logs or inspect answered 404).
pub struct ContainerGone<'a> {
    pub id: &'a str,
    /// What said so (the daemon's answer to which call).
    pub answer: &'a str,
}

impl ContainerGone<'_> {
    pub fn emit(&self, log: &Logger, stats: &EngineStats) {
        stats.gone();
        log.info(
            "Container removed; it is no longer followed.",
            &[("container_id", &crate::record::short_id(self.id)), ("answer", &self.answer)],
        );
    }
}

/// A container was removed before any of its log could be read (a
/// short-lived `--rm` container whose removal beat the logs request): what
/// it wrote is lost, and said so.
pub struct ContainerRemovedUnread<'a> {
    pub id: &'a str,
    /// What said so (the daemon's answer to which call).
    pub answer: &'a str,
}

impl ContainerRemovedUnread<'_> {
    pub fn emit(&self, log: &Logger, stats: &EngineStats) {
        stats.removed_unread();
        log.warn(
            "Container removed before its log could be read; its lines are lost.",
            &[("container_id", &crate::record::short_id(self.id)), ("answer", &self.answer)],
        );
    }
}

/// A container's `log_capturer.multiline` label names no parser; the
/// capture's `multiline` setting applies to it (logged when the container
/// is first seen).
pub struct MultilineLabelInvalid<'a> {
    pub meta: &'a ContainerMeta,
    pub error: &'a dyn Display,
}

impl MultilineLabelInvalid<'_> {
    pub fn emit(&self, log: &Logger) {
        log.warn(
            "Container's multiline label is not understood; the capture's multiline setting applies.",
            &[
                ("container_id", &self.meta.short_id()),
                ("container_name", &self.meta.name_str()),
                ("error", self.error),
            ],
        );
    }
}

/// A container's log is read from its file from now on.
pub struct ReadingFile<'a> {
    pub meta: &'a ContainerMeta,
    pub path: &'a std::path::Path,
    pub format: &'a str,
}

impl ReadingFile<'_> {
    pub fn emit(&self, log: &Logger) {
        log.info(
            "Reading the container's log file.",
            &[
                ("container_id", &self.meta.short_id()),
                ("container_name", &self.meta.name_str()),
                ("path", &self.path.display()),
                ("format", &self.format),
            ],
        );
    }
}

/// A container's log file cannot be read: with `log_source: file` it is
/// counted and the container is not read; with `auto` the API takes over
/// (said once per reason).
pub struct FileRefused<'a> {
    pub meta: &'a ContainerMeta,
    pub error: &'a dyn Display,
    pub forced: bool,
}

impl FileRefused<'_> {
    pub fn emit(&self, log: &Logger, stats: &ContainerStats) {
        let fields: &[(&str, &dyn Display)] = &[
            ("container_id", &self.meta.short_id()),
            ("container_name", &self.meta.name_str()),
            ("error", self.error),
        ];
        if self.forced {
            stats.error(ErrorKind::FileUnreadable, self.error.to_string());
            log.warn("Container's log file cannot be read (log_source is file); it will not be read.", fields);
        } else {
            log.info("Container's log file cannot be read; reading it through the API.", fields);
        }
    }
}

/// A line of a log file that is not an entry of its format was skipped.
pub struct FileLineSkipped<'a> {
    pub meta: &'a ContainerMeta,
    pub file: &'a std::path::Path,
    pub offset: u64,
    pub reason: &'a str,
}

impl FileLineSkipped<'_> {
    pub fn emit(&self, log: &Logger, stats: &ContainerStats) {
        stats.error(ErrorKind::Protocol, format!("{} at {}: {}", self.file.display(), self.offset, self.reason));
        log.warn(
            "Skipped a line of a log file that is not a log entry.",
            &[
                ("container_id", &self.meta.short_id()),
                ("file", &self.file.display()),
                ("offset", &self.offset),
                ("reason", &self.reason),
            ],
        );
    }
}
