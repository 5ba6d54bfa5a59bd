//! Prometheus metrics: one registry per capture.
//!
//! Counters that must survive a container being forgotten (errors, reopens,
//! rotations, records) live in the registry and are bumped as things
//! happen. Everything that describes the present (per-container series,
//! tasks, FDs, queue depth, lag) is computed at scrape time from the stats
//! the tasks already keep, so the hot path pays nothing for it.
//!
//! The names continue the capturer the dashboards were written for.

use std::collections::HashMap;

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry, TextEncoder};

use super::stats::{ContainerStats, ReaderState};

/// The error types counted in `log_capturer_container_stream_errors_total`,
/// exported at 0 from the start so rate() and alerts see them.
pub const ERROR_TYPES: &[&str] = &[
    "rotation_stuck",
    "read_timeout",
    "daemon_unavailable",
    "unreadable_driver",
    "not_found",
    "timeout",
    "io",
    "status",
    "protocol",
    "daemon_error",
    "log_gap",
];

pub struct Metrics {
    pub registry: Registry,
    pub errors: IntCounterVec,
    pub reopens: IntCounterVec,
    pub rotations: IntCounter,
    pub stream_age: Histogram,
    pub records: IntCounter,
    pub bytes: IntCounter,
    per_container: bool,
}

impl Metrics {
    pub fn new(per_container: bool) -> Metrics {
        let registry = Registry::new();
        let errors = IntCounterVec::new(
            Opts::new("log_capturer_container_stream_errors_total", "Errors of container log streams, by type."),
            &["error_type"],
        )
        .unwrap();
        let reopens = IntCounterVec::new(
            Opts::new("log_capturer_container_stream_reopens_total", "Log streams closed and opened again, by reason."),
            &["reason"],
        )
        .unwrap();
        let rotations = IntCounter::new(
            "log_capturer_stream_rotations_total",
            "Rotations of all containers' log streams (the per-container series may be turned off).",
        )
        .unwrap();
        let stream_age = Histogram::with_opts(
            HistogramOpts::new(
                "log_capturer_container_stream_age_seconds",
                "How long log streams stayed open before they were closed.",
            )
            .buckets(vec![1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 360.0, 600.0, 1800.0, 3600.0]),
        )
        .unwrap();
        let records = IntCounter::new("log_capturer_records_total", "Log records handed to the queue.").unwrap();
        let bytes = IntCounter::new("log_capturer_bytes_total", "Message bytes handed to the queue.").unwrap();
        for e in ERROR_TYPES {
            errors.with_label_values(&[e]);
        }
        for r in super::stats::ReopenReason::ALL {
            reopens.with_label_values(&[r.name()]);
        }
        for c in [
            Box::new(errors.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(reopens.clone()),
            Box::new(rotations.clone()),
            Box::new(stream_age.clone()),
            Box::new(records.clone()),
            Box::new(bytes.clone()),
        ] {
            registry.register(c).unwrap();
        }
        Metrics { registry, errors, reopens, rotations, stream_age, records, bytes, per_container }
    }

    pub fn error(&self, kind: &str) {
        self.errors.with_label_values(&[kind]).inc();
    }
}

/// The present, read off the engine at scrape time.
pub struct Snapshot<'a> {
    pub containers: &'a [std::sync::Arc<ContainerStats>],
    pub now_ns: i64,
    pub tasks: i64,
    pub fds: Option<u64>,
    pub queue_records: usize,
    pub queue_bytes: usize,
    pub backpressure_seconds: f64,
    pub daemon_up: bool,
    pub rotation_interval_seconds: f64,
    pub rotation_jitter: f64,
}

fn label(name: &str, value: &str) -> LabelPair {
    let mut l = LabelPair::default();
    l.set_name(name.to_string());
    l.set_value(value.to_string());
    l
}

fn family(name: &str, help: &str, kind: MetricType, metrics: Vec<Metric>) -> MetricFamily {
    let mut f = MetricFamily::default();
    f.set_name(name.to_string());
    f.set_help(help.to_string());
    f.set_field_type(kind);
    f.set_metric(metrics);
    f
}

fn gauge(labels: Vec<LabelPair>, value: f64) -> Metric {
    let mut g = Gauge::default();
    g.set_value(value);
    let mut m = Metric::from_gauge(g);
    m.set_label(labels);
    m
}

fn counter(labels: Vec<LabelPair>, value: f64) -> Metric {
    let mut c = Counter::default();
    c.set_value(value);
    let mut m = Metric::default();
    m.set_counter(c);
    m.set_label(labels);
    m
}

impl Metrics {
    /// The text exposition (format 0.0.4) of every metric.
    pub fn render(&self, snap: &Snapshot<'_>) -> String {
        use std::sync::atomic::Ordering::Relaxed;
        let mut families = self.registry.gather();
        let following: Vec<_> = snap.containers.iter().filter(|c| c.stream_opened_ns.load(Relaxed) > 0).collect();
        let alive: Vec<_> = snap.containers.iter().filter(|c| c.is_followed()).collect();

        let g = |name: &str, help: &str, value: f64| family(name, help, MetricType::GAUGE, vec![gauge(vec![], value)]);
        families.push(g(
            "log_capturer_container_streams_active",
            "Container log streams open now.",
            following.len() as f64,
        ));
        families.push(g(
            "log_capturer_containers_followed",
            "Containers with a reader (streaming, reopening or in backoff).",
            alive.len() as f64,
        ));
        families.push(g(
            "log_capturer_tasks",
            "Alive tasks of the capture: discovery, one reader per followed container, and with metrics_addr the listener and the connections being answered.",
            snap.tasks as f64,
        ));
        families.push(g(
            "log_capturer_rotation_interval_seconds",
            "The configured rotation interval.",
            snap.rotation_interval_seconds,
        ));
        families.push(g(
            "log_capturer_rotation_jitter_ratio",
            "The configured rotation jitter (fraction of the interval).",
            snap.rotation_jitter,
        ));
        let mut by_state: std::collections::BTreeMap<&str, f64> =
            ReaderState::ALL.iter().map(|s| (s.name(), 0.0)).collect();
        for c in snap.containers {
            *by_state.entry(c.state().name()).or_default() += 1.0;
        }
        families.push(family(
            "log_capturer_readers",
            "Containers by reader state (following, backoff, backpressure, catching_up, drained, ...).",
            MetricType::GAUGE,
            by_state.into_iter().map(|(state, n)| gauge(vec![label("state", state)], n)).collect(),
        ));
        if let Some(fds) = snap.fds {
            families.push(g(
                "log_capturer_file_descriptors_open",
                "File descriptors open in this process.",
                fds as f64,
            ));
        }
        families.push(g("log_capturer_queue_records", "Records waiting for the host.", snap.queue_records as f64));
        families.push(g("log_capturer_queue_bytes", "Message bytes waiting for the host.", snap.queue_bytes as f64));
        families.push(family(
            "log_capturer_queue_backpressure_seconds_total",
            "Time readers spent waiting for room in the queue.",
            MetricType::COUNTER,
            vec![counter(vec![], snap.backpressure_seconds)],
        ));
        families.push(g(
            "log_capturer_daemon_up",
            "1 when the Docker daemon answered the last attempt.",
            if snap.daemon_up { 1.0 } else { 0.0 },
        ));
        let stuck = alive.iter().filter(|c| c.is_rotation_stuck()).count();

        if self.per_container {
            let ids = |c: &ContainerStats| {
                vec![label("container_id", c.meta.id_str()), label("container_name", c.meta.name_str())]
            };
            let mut rotations = Vec::new();
            let mut last = Vec::new();
            let mut records = Vec::new();
            let mut bytes = Vec::new();
            let mut lag = Vec::new();
            let mut stuck_series = Vec::new();
            for c in &alive {
                rotations.push(counter(ids(c), c.rotations.load(Relaxed) as f64));
                last.push(gauge(ids(c), c.last_rotation_or_follow_ns() as f64 / 1e9));
                records.push(counter(ids(c), c.records.load(Relaxed) as f64));
                bytes.push(counter(ids(c), c.bytes.load(Relaxed) as f64));
                let newest = c.last_ts_ns.load(Relaxed);
                if newest > 0 {
                    lag.push(gauge(ids(c), ((snap.now_ns - newest).max(0)) as f64 / 1e9));
                }
                stuck_series.push(gauge(ids(c), if c.is_rotation_stuck() { 1.0 } else { 0.0 }));
            }
            families.push(family(
                "log_capturer_container_stream_rotations_total",
                "Rotations of a container's log stream.",
                MetricType::COUNTER,
                rotations,
            ));
            families.push(family(
                "log_capturer_container_last_rotation_timestamp",
                "Unix time of a container's last rotation (or of when its reading began).",
                MetricType::GAUGE,
                last,
            ));
            families.push(family(
                "log_capturer_container_records_total",
                "Records read from a container.",
                MetricType::COUNTER,
                records,
            ));
            families.push(family(
                "log_capturer_container_bytes_total",
                "Message bytes read from a container.",
                MetricType::COUNTER,
                bytes,
            ));
            families.push(family(
                "log_capturer_container_lag_seconds",
                "Now minus the Docker timestamp of the newest line read from a container.",
                MetricType::GAUGE,
                lag,
            ));
            families.push(family(
                "log_capturer_container_rotation_stuck",
                "1 while a container's rotations have not advanced within the rotation interval plus grace.",
                MetricType::GAUGE,
                stuck_series,
            ));
        } else {
            // Aggregates only: the same names without container labels.
            families.push(family(
                "log_capturer_container_stream_rotations_total",
                "Rotations of all containers' log streams.",
                MetricType::COUNTER,
                vec![counter(vec![], self.rotations.get() as f64)],
            ));
            let oldest = alive.iter().map(|c| c.last_rotation_or_follow_ns()).min();
            if let Some(oldest) = oldest {
                families.push(g(
                    "log_capturer_container_last_rotation_timestamp",
                    "Unix time of the stalest followed container's last rotation.",
                    oldest as f64 / 1e9,
                ));
            }
            let max_lag = alive
                .iter()
                .map(|c| c.last_ts_ns.load(Relaxed))
                .filter(|t| *t > 0)
                .map(|t| (snap.now_ns - t).max(0))
                .max();
            if let Some(lag) = max_lag {
                families.push(g(
                    "log_capturer_container_lag_seconds",
                    "The largest lag over followed containers.",
                    lag as f64 / 1e9,
                ));
            }
            families.push(g(
                "log_capturer_container_rotation_stuck",
                "Containers whose rotations have not advanced within the rotation interval plus grace.",
                stuck as f64,
            ));
        }
        // Families must be unique, not empty, and sorted for a stable
        // exposition.
        let mut seen = HashMap::new();
        families.retain(|f| !f.get_metric().is_empty() && seen.insert(f.name().to_string(), ()).is_none());
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::new();
        match TextEncoder::new().encode(&families, &mut out) {
            Ok(()) => String::from_utf8(out).unwrap_or_default(),
            Err(e) => format!("# log-capturer could not encode its metrics: {e}\n"),
        }
    }
}
