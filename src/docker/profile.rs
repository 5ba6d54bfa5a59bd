//! What differs between daemons for a log follower, in one place: each
//! workaround the reader applies is a field here, chosen from the engine
//! and version the daemon reports (`Profile::for_daemon`). The measurement
//! behind each is in README.md "Engine differences" (and ENGINES.md).

use super::http::DockerError;
use super::version::{DaemonVersion, EngineKind};
use crate::chain::PieceRule;

/// What a container event means to discovery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lifecycle {
    /// The container (re)started: follow it.
    Start,
    /// It no longer exists: forget it.
    Destroy,
    /// It stopped: a reader of its log file is told (an API stream ends
    /// by itself).
    Die,
}

/// How to read one daemon's logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    /// The daemon it was chosen for.
    pub daemon: DaemonVersion,
    /// What ends a line: Docker splits at 16 KiB and its `local` driver
    /// drops the last piece's newline; Podman's conmon splits at 8 KiB
    /// (4 KiB on a TTY) and only a newline ends a line.
    pub pieces: PieceRule,
    /// Every piece of a long line carries the line's stamp (Docker). On
    /// Podman each piece has the stamp of its own read, so a line's pieces
    /// may straddle a second.
    pub pieces_share_stamp: bool,
    /// A 20.10 daemon re-sends the last line of a json-file log that
    /// rotates under a follow stream (dropped when stamp and bytes repeat).
    pub resends_last_line: bool,
    /// The follower skips rotated files of a busy rotating log (json-file
    /// with `max-size`, `local`): such logs are polled with non-follow
    /// reads instead (20.10 skips even when keeping up; 23+ when more than
    /// one rotation behind).
    pub poll_busy_rotating_logs: bool,
    /// Requests may carry a bounded `tail` (cheap: the daemon reads the
    /// log backwards). Not on Podman: with `follow=1` its follower starts
    /// at the file's end once the tail is read, losing what was written in
    /// between; and a tail read joins the pieces of a line still being
    /// written at every request (quadratic in its length) and leaves out
    /// the pieces before its first whole line. Its requests ask `tail=all`
    /// from `since` (the daemon reads the whole file, once, in order).
    pub bounded_tail: bool,
    /// `since` is sent as RFC 3339: Podman reads it exactly (a number goes
    /// through a float64, ±119 ns today); Docker 20.10 rejects it.
    pub since_rfc3339: bool,
    /// Follow response headers come only with the first line (Podman
    /// before 5.3): waiting for them is a quiet stream, bounded like one
    /// (`read_timeout`, rotation), not a request timing out.
    pub follow_headers_wait_for_a_line: bool,
    /// The stamps' resolution in ns: Docker's are exact; Podman's
    /// compatible endpoint sends whole seconds, while its `since` filters
    /// the file's nanoseconds.
    pub stamp_resolution_ns: i64,
    /// `since=T` includes an entry stamped exactly T (Docker); Podman's
    /// filter is strict.
    pub since_inclusive: bool,
    /// The events subscription's filter (JSON), and what the actions mean.
    pub events: EventDialect,
    /// Prefixes the engine puts before image names that Docker leaves out
    /// (Podman names images fully: `localhost/` for local ones,
    /// `docker.io/library/` for Docker Hub's), which image filters may
    /// leave out too. The first that matches is taken off.
    pub image_prefixes: &'static [&'static str],
}

/// How an engine names container events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventDialect {
    /// The `filters` of `GET /events` (JSON). Podman's are filtered here:
    /// its `die` filter matches nothing (`died` does) and a repeated key
    /// ANDs in some versions.
    pub filters: &'static str,
    pub start: &'static [&'static str],
    pub destroy: &'static [&'static str],
    pub die: &'static [&'static str],
}

const DOCKER_EVENTS: EventDialect = EventDialect {
    filters: r#"{"type":["container"],"event":["start","die","destroy"]}"#,
    start: &["start"],
    destroy: &["destroy"],
    die: &["die"],
};

/// Podman: no `destroy`, `remove` instead.
const PODMAN_EVENTS: EventDialect = EventDialect {
    filters: r#"{"type":["container"]}"#,
    start: &["start"],
    destroy: &["remove"],
    die: &["die", "died"],
};

const NS_PER_SECOND: i64 = 1_000_000_000;

impl Profile {
    /// The profile for what the daemon reported.
    pub fn for_daemon(daemon: &DaemonVersion) -> Profile {
        match daemon.kind {
            EngineKind::Docker => Profile::docker(daemon.clone()),
            EngineKind::Podman => Profile::podman(daemon.clone()),
        }
    }

    /// Docker: measured on 20.10.24 and on a 23.0.6 built from source.
    pub fn docker(daemon: DaemonVersion) -> Profile {
        // moby 23.0 follows rotations by count (PR #43294): its follower no
        // longer re-sends or rewinds (measured), but still skips when more
        // than one rotation behind, so busy rotating logs are still polled.
        let rotation_follower = daemon.at_least(23, 0);
        Profile {
            pieces: PieceRule::default(),
            pieces_share_stamp: true,
            resends_last_line: !rotation_follower,
            poll_busy_rotating_logs: true,
            bounded_tail: true,
            since_rfc3339: false,
            follow_headers_wait_for_a_line: false,
            stamp_resolution_ns: 1,
            since_inclusive: true,
            events: DOCKER_EVENTS,
            image_prefixes: &[],
            daemon,
        }
    }

    /// Podman's Docker-compatible API: measured on 4.3.1 (Debian 12).
    pub fn podman(daemon: DaemonVersion) -> Profile {
        Profile {
            pieces: PieceRule::Newline,
            pieces_share_stamp: false,
            resends_last_line: false,
            // k8s-file logs are not rotated (`max-size` truncates them).
            poll_busy_rotating_logs: false,
            bounded_tail: false,
            since_rfc3339: true,
            // Fixed in 5.3 (headers are written before the first line).
            follow_headers_wait_for_a_line: !daemon.at_least(5, 3),
            stamp_resolution_ns: NS_PER_SECOND,
            since_inclusive: false,
            events: PODMAN_EVENTS,
            image_prefixes: &["localhost/", "docker.io/library/", "docker.io/"],
            daemon,
        }
    }

    /// The answer says the container is gone, or going: 404, 409 for one
    /// dead or marked for removal (Docker), or (Podman) a 500 from a
    /// container being removed ("does not exist in database"), or a logs
    /// request to one removed ("has already been removed").
    pub fn is_gone(&self, e: &DockerError) -> bool {
        match e {
            DockerError::Status { code: 404 | 409, .. } => true,
            DockerError::Status { code: 500, message } if self.daemon.kind == EngineKind::Podman => {
                ["no such container", "does not exist in database", "has already been removed"]
                    .iter()
                    .any(|m| message.contains(m))
            }
            _ => false,
        }
    }

    /// The answer says the container's log driver cannot be read: 501
    /// (Docker), or Podman's 500 for the `none` driver.
    pub fn is_unreadable(&self, e: &DockerError) -> bool {
        match e {
            DockerError::Status { code: 501, .. } => true,
            DockerError::Status { code: 500, message } if self.daemon.kind == EngineKind::Podman => {
                message.contains("cannot read logs") || message.contains("not logging output")
            }
            _ => false,
        }
    }

    /// What a container event's action means, if anything.
    pub fn lifecycle(&self, action: &str) -> Option<Lifecycle> {
        if self.events.start.contains(&action) {
            Some(Lifecycle::Start)
        } else if self.events.destroy.contains(&action) {
            Some(Lifecycle::Destroy)
        } else if self.events.die.contains(&action) {
            Some(Lifecycle::Die)
        } else {
            None
        }
    }

    /// `ts_ns` down to the stamps' resolution: the stamp an entry written
    /// at `ts_ns` carries.
    pub fn stamp_floor(&self, ts_ns: i64) -> i64 {
        ts_ns - ts_ns.rem_euclid(self.stamp_resolution_ns)
    }

    /// The `since` that returns every entry written at or after `ts_ns`.
    pub fn since_for_at_least(&self, ts_ns: i64) -> i64 {
        if self.since_inclusive {
            ts_ns
        } else {
            ts_ns - 1
        }
    }

    /// The `since` of a request resuming at `resume_ns` for a reading that
    /// started at `start_ns` (0: none to keep to). Coarse stamps cannot
    /// tell what came before the starting point within its second: the
    /// daemon's finer filter must.
    pub fn since(&self, resume_ns: i64, start_ns: i64) -> i64 {
        if start_ns > 0 && self.stamp_resolution_ns > 1 {
            resume_ns.max(self.since_for_at_least(start_ns))
        } else {
            resume_ns
        }
    }

    /// `image` as Docker would name it, when the engine names it longer.
    pub fn image_alias<'a>(&self, image: &'a str) -> Option<&'a str> {
        self.image_prefixes.iter().find_map(|p| image.strip_prefix(p))
    }
}

impl Default for Profile {
    /// Docker 20.10, what holds until a daemon says otherwise.
    fn default() -> Profile {
        Profile::docker(DaemonVersion { kind: EngineKind::Docker, version: String::new(), api_version: String::new() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::version::tests::recorded;

    fn profile_of(dir: &str, name: &str) -> Profile {
        let (headers, body) = recorded(dir, name);
        Profile::for_daemon(&DaemonVersion::parse(&headers, &body).unwrap())
    }

    #[test]
    fn each_recorded_daemon_gets_its_workarounds() {
        let d20 = profile_of("docker", "version-20.10.24");
        assert!(d20.resends_last_line && d20.poll_busy_rotating_logs && d20.bounded_tail);
        assert_eq!(d20.pieces, PieceRule::default());
        let d23 = profile_of("docker", "version-23.0.6");
        assert!(!d23.resends_last_line && d23.poll_busy_rotating_logs);
        let p = profile_of("podman", "version");
        assert_eq!(p.pieces, PieceRule::Newline);
        assert!(!p.pieces_share_stamp && !p.resends_last_line && !p.bounded_tail && p.since_rfc3339);
        assert!(p.follow_headers_wait_for_a_line && !p.since_inclusive);
        assert_eq!(Profile::default().daemon.kind, EngineKind::Docker);
    }

    #[test]
    fn podman_answers_read_as_gone_or_unreadable() {
        let p = profile_of("podman", "version");
        let d = Profile::default();
        let status = |code, message: &str| DockerError::Status { code, message: message.into() };
        let during_rm = status(500, "container f3ea does not exist in database: no such container");
        assert!(p.is_gone(&during_rm) && !d.is_gone(&during_rm));
        assert!(p.is_gone(&status(404, "no such container")) && d.is_gone(&status(404, "No such container")));
        let none = status(500, "this container is using the 'none' log driver, cannot read logs");
        assert!(p.is_unreadable(&none) && !d.is_unreadable(&none) && !p.is_gone(&none));
        assert!(d.is_unreadable(&status(501, "configured logging driver does not support reading")));
        assert!(!p.is_gone(&status(500, "something else")));
        let logs_after_rm = "failed to obtain logs for Container 'f3ea': container has already been removed";
        assert!(p.is_gone(&status(500, logs_after_rm)) && !d.is_gone(&status(500, logs_after_rm)));
        assert!(d.is_gone(&status(409, "container is marked for removal and cannot be started")));
    }

    #[test]
    fn events_stamps_since_and_images_per_engine() {
        let p = profile_of("podman", "version");
        let d = Profile::default();
        assert_eq!(p.lifecycle("remove"), Some(Lifecycle::Destroy));
        assert_eq!(d.lifecycle("remove"), None);
        assert_eq!(d.lifecycle("destroy"), Some(Lifecycle::Destroy));
        assert_eq!(p.lifecycle("start"), Some(Lifecycle::Start));
        assert_eq!(p.lifecycle("die"), Some(Lifecycle::Die));
        assert_eq!(p.lifecycle("cleanup"), None);
        let t = 1_796_064_983_186_431_799;
        assert_eq!(p.stamp_floor(t), 1_796_064_983_000_000_000);
        assert_eq!(d.stamp_floor(t), t);
        assert_eq!((p.since_for_at_least(t), d.since_for_at_least(t)), (t - 1, t));
        let local = "localhost/log-capturer-test/busybox:latest";
        assert_eq!(p.image_alias(local), Some("log-capturer-test/busybox:latest"));
        assert_eq!(p.image_alias("docker.io/library/nginx:1"), Some("nginx:1"));
        assert_eq!(p.image_alias("docker.io/grafana/loki:3"), Some("grafana/loki:3"));
        assert_eq!(p.image_alias("quay.io/x/y"), None);
        assert_eq!(d.image_alias("localhost/x"), None);
    }
}
