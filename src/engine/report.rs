//! The engine as the host sees it: the stats document and the metrics
//! text, rendered from what the tasks keep.

use std::sync::atomic::Ordering::Relaxed;

use serde_json::{json, Value};

use super::metrics::{ContainerSample, Snapshot};
use super::shared::Shared;
use crate::chain::PieceRule;
use crate::docker::Profile;
use super::stats::open_fds;
use crate::timestamp::unix_now_ns;

/// The stats document (JSON).
pub(super) fn stats_json(shared: &Shared) -> Value {
    let now = unix_now_ns();
    let s = &shared.stats;
    let (depth, depth_bytes) = shared.queue.depth();
    let (max_records, max_bytes) = shared.queue.limits();
    let mut containers: Vec<Value> =
        shared.registry.all().iter().map(|c| c.stats.to_json(&c.meta, &c.progress, now)).collect();
    let detected = shared.daemon.detected();
    containers.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
    json!({
        "version": env!("CARGO_PKG_VERSION"),
        "docker_host": shared.docker.endpoint.describe(),
        "uptime_seconds": (now - shared.started_ns) as f64 / 1e9,
        "tasks": s.tasks.load(Relaxed),
        "file_descriptors_open": open_fds(),
        "records": s.records.load(Relaxed),
        "bytes": s.bytes.load(Relaxed),
        "queue": {
            "records": depth,
            "bytes": depth_bytes,
            "max_records": max_records,
            "max_bytes": max_bytes,
            "containers": shared.queue.containers_waiting(),
            "backpressure_seconds": shared.queue.backpressure_ns.load(Relaxed) as f64 / 1e9,
        },
        "daemon": {
            "reachable": s.daemon_reachable.load(Relaxed),
            "engine": detected.as_ref().map(|d| d.kind.name()),
            "version": detected.as_ref().map(|d| d.version.as_str()),
            "api_version": detected.as_ref().map(|d| d.api_version.as_str()),
            "profile": profile_json(&shared.daemon.profile()),
            "errors": s.daemon_errors.load(Relaxed),
            "last_error": s.last_daemon_error(),
            "event_stream_connects": s.events_connects.load(Relaxed),
            "listings": s.listings.load(Relaxed),
        },
        "excluded_containers": shared.registry.excluded_names(),
        "containers_gone": s.containers_gone.load(Relaxed),
        "containers_removed_unread": s.containers_removed_unread.load(Relaxed),
        "containers": containers,
    })
}

/// The workarounds in force for the daemon (see `Profile`).
fn profile_json(p: &Profile) -> Value {
    let pieces = match p.pieces {
        PieceRule::NewlineOrShorterThan(bytes) => format!("newline_or_shorter_than_{bytes}"),
        PieceRule::Newline => "newline".to_string(),
    };
    json!({
        "pieces": pieces,
        "pieces_share_stamp": p.pieces_share_stamp,
        "resends_last_line": p.resends_last_line,
        "poll_busy_rotating_logs": p.poll_busy_rotating_logs,
        "bounded_tail": p.bounded_tail,
        "follow_headers_wait_for_a_line": p.follow_headers_wait_for_a_line,
        "stamp_resolution_ns": p.stamp_resolution_ns,
        "since_inclusive": p.since_inclusive,
    })
}

/// The Prometheus text exposition of the capture's metrics.
pub(super) fn metrics_text(shared: &Shared) -> String {
    let tracked = shared.registry.all();
    let containers = tracked
        .iter()
        .map(|c| ContainerSample {
            id: c.meta.id_str(),
            name: c.meta.name_str(),
            state: c.progress.state(),
            source: c.progress.source(),
            stream_open: c.stats.stream_opened_ns.load(Relaxed) > 0,
            rotations: c.stats.rotations.load(Relaxed),
            last_renewal_ns: c.progress.last_renewal_ns(),
            records: c.stats.records.load(Relaxed),
            bytes: c.stats.bytes.load(Relaxed),
            newest_ts_ns: c.progress.newest_ts_ns(),
            rotation_stuck: c.stats.is_stuck(&c.progress),
            paused_seconds: c.stats.paused_seconds(),
        })
        .collect();
    let (queue_records, queue_bytes) = shared.queue.depth();
    shared.stats.metrics.render(&Snapshot {
        containers,
        now_ns: unix_now_ns(),
        tasks: shared.stats.tasks.load(Relaxed),
        fds: open_fds(),
        queue_records,
        queue_bytes,
        backpressure_seconds: shared.queue.backpressure_ns.load(Relaxed) as f64 / 1e9,
        daemon_up: shared.stats.daemon_reachable.load(Relaxed),
        daemon: shared.daemon.detected(),
        rotation_interval_seconds: shared.config.rotation_interval.as_secs_f64(),
        rotation_jitter: shared.config.rotation_jitter,
    })
}
