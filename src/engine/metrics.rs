//! Prometheus metrics: one registry per capture.
//!
//! Counters that must survive a container being forgotten (errors, reopens,
//! rotations, records) live in the registry and are bumped as things
//! happen. Everything that describes the present (per-container series,
//! tasks, FDs, queue depth, lag) is rendered at scrape time from a
//! snapshot the engine takes of what the tasks already keep, so the hot
//! path pays nothing for it.
//!
//! The names continue the capturer the dashboards were written for.

use std::collections::{BTreeMap, HashSet};

use prometheus::proto::{Counter, Gauge, LabelPair, Metric, MetricFamily, MetricType};
use prometheus::{
    CounterVec, Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

use super::kinds::{ErrorKind, PauseReason, ReadSource, ReopenReason};
use super::progress::ReaderState;
use crate::docker::DaemonVersion;

pub struct Metrics {
    pub registry: Registry,
    pub errors: IntCounterVec,
    pub reopens: IntCounterVec,
    pub rotations: IntCounter,
    pub stream_age: Histogram,
    pub records: IntCounter,
    pub bytes: IntCounter,
    /// Seconds readers were paused, by reason, all containers.
    pub paused: CounterVec,
    per_container: bool,
}

impl Metrics {
    pub fn new(per_container: bool) -> Metrics {
        // The names and help texts are fixed: these cannot fail.
        let errors = IntCounterVec::new(
            Opts::new("log_capturer_container_stream_errors_total", "Errors of container log streams, by type."),
            &["error_type"],
        )
        .expect("valid metric");
        let reopens = IntCounterVec::new(
            Opts::new("log_capturer_container_stream_reopens_total", "Log streams closed and opened again, by reason."),
            &["reason"],
        )
        .expect("valid metric");
        let rotations = IntCounter::new(
            "log_capturer_stream_rotations_total",
            "Rotations of all containers' log streams (the per-container series may be turned off).",
        )
        .expect("valid metric");
        let stream_age = Histogram::with_opts(
            HistogramOpts::new(
                "log_capturer_container_stream_age_seconds",
                "How long log streams stayed open before they were closed.",
            )
            .buckets(vec![1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 360.0, 600.0, 1800.0, 3600.0]),
        )
        .expect("valid metric");
        let records = IntCounter::new("log_capturer_records_total", "Log records handed to the queue.").expect("valid");
        let bytes = IntCounter::new("log_capturer_bytes_total", "Message bytes handed to the queue.").expect("valid");
        let paused = CounterVec::new(
            Opts::new(
                "log_capturer_paused_seconds_total",
                "Time readers were paused (not reading), by reason: backpressure (the queue or the container's share of it full) or rate_limit (container_max_records_per_second). All containers; counted as each pause ends.",
            ),
            &["reason"],
        )
        .expect("valid metric");
        // Exported at 0 from the start, so rate() and alerts see them.
        for e in ErrorKind::ALL {
            errors.with_label_values(&[e.name()]);
        }
        for r in ReopenReason::ALL {
            reopens.with_label_values(&[r.name()]);
        }
        for r in PauseReason::ALL {
            paused.with_label_values(&[r.name()]);
        }
        let registry = Registry::new();
        for c in [
            Box::new(errors.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(reopens.clone()),
            Box::new(rotations.clone()),
            Box::new(stream_age.clone()),
            Box::new(records.clone()),
            Box::new(bytes.clone()),
            Box::new(paused.clone()),
        ] {
            registry.register(c).expect("unique metric names");
        }
        Metrics { registry, errors, reopens, rotations, stream_age, records, bytes, paused, per_container }
    }

    pub fn error(&self, kind: ErrorKind) {
        self.errors.with_label_values(&[kind.name()]).inc();
    }
}

/// One container as the metrics show it.
pub struct ContainerSample<'a> {
    pub id: &'a str,
    pub name: &'a str,
    pub state: ReaderState,
    /// Where its log is read from.
    pub source: ReadSource,
    pub stream_open: bool,
    pub rotations: u64,
    /// The last rotation, or when reading began (Unix ns).
    pub last_renewal_ns: i64,
    pub records: u64,
    pub bytes: u64,
    /// The newest Docker timestamp read (0: none).
    pub newest_ts_ns: i64,
    pub rotation_stuck: bool,
    /// Seconds its reader was paused, by `PauseReason`.
    pub paused_seconds: [f64; PauseReason::ALL.len()],
}

/// The present, read off the engine at scrape time.
pub struct Snapshot<'a> {
    pub containers: Vec<ContainerSample<'a>>,
    pub now_ns: i64,
    pub tasks: i64,
    pub fds: Option<u64>,
    pub queue_records: usize,
    pub queue_bytes: usize,
    pub backpressure_seconds: f64,
    pub daemon_up: bool,
    /// The daemon found, once it has answered.
    pub daemon: Option<DaemonVersion>,
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

/// A family of one unlabelled gauge.
fn single(name: &str, help: &str, value: f64) -> MetricFamily {
    family(name, help, MetricType::GAUGE, vec![gauge(vec![], value)])
}

impl Metrics {
    /// The text exposition (format 0.0.4) of every metric.
    pub fn render(&self, snap: &Snapshot<'_>) -> String {
        let mut families = self.registry.gather();
        families.extend(engine_families(snap));
        let alive: Vec<&ContainerSample<'_>> = snap.containers.iter().filter(|c| c.state.is_reading()).collect();
        if self.per_container {
            families.extend(per_container_families(&alive, snap.now_ns));
        } else {
            families.extend(self.aggregate_families(&alive, snap.now_ns));
        }
        // Families must be unique, not empty, and sorted for a stable
        // exposition.
        let mut seen = HashSet::new();
        families.retain(|f| !f.get_metric().is_empty() && seen.insert(f.name().to_string()));
        families.sort_by(|a, b| a.name().cmp(b.name()));
        let mut out = Vec::new();
        match TextEncoder::new().encode(&families, &mut out) {
            Ok(()) => String::from_utf8(out).unwrap_or_default(),
            Err(e) => format!("# log-capturer could not encode its metrics: {e}\n"),
        }
    }

    /// Aggregates only: the per-container names without container labels.
    fn aggregate_families(&self, alive: &[&ContainerSample<'_>], now_ns: i64) -> Vec<MetricFamily> {
        let mut families = vec![family(
            "log_capturer_container_stream_rotations_total",
            "Rotations of all containers' log streams.",
            MetricType::COUNTER,
            vec![counter(vec![], self.rotations.get() as f64)],
        )];
        if let Some(oldest) = alive.iter().map(|c| c.last_renewal_ns).min() {
            families.push(single(
                "log_capturer_container_last_rotation_timestamp",
                "Unix time of the stalest followed container's last rotation.",
                oldest as f64 / 1e9,
            ));
        }
        let newest = alive.iter().map(|c| c.newest_ts_ns).filter(|t| *t > 0);
        if let Some(lag) = newest.map(|t| (now_ns - t).max(0)).max() {
            families.push(single(
                "log_capturer_container_lag_seconds",
                "The largest lag over followed containers.",
                lag as f64 / 1e9,
            ));
        }
        families.push(single(
            "log_capturer_container_rotation_stuck",
            "Containers whose rotations have not advanced within the rotation interval plus grace.",
            alive.iter().filter(|c| c.rotation_stuck).count() as f64,
        ));
        families.push(family(
            PAUSED_NAME,
            "Time the readers of all containers were paused, by reason.",
            MetricType::COUNTER,
            PauseReason::ALL
                .iter()
                .map(|r| counter(vec![label("reason", r.name())], self.paused.with_label_values(&[r.name()]).get()))
                .collect(),
        ));
        families
    }
}

/// The per-container pause series' name (aggregated without the container
/// labels when those are off).
const PAUSED_NAME: &str = "log_capturer_container_paused_seconds_total";

/// What describes the engine as a whole.
fn engine_families(snap: &Snapshot<'_>) -> Vec<MetricFamily> {
    let open = snap.containers.iter().filter(|c| c.stream_open).count();
    let alive = snap.containers.iter().filter(|c| c.state.is_reading()).count();
    let mut by_state: BTreeMap<&str, f64> = ReaderState::ALL.iter().map(|s| (s.name(), 0.0)).collect();
    for c in &snap.containers {
        *by_state.entry(c.state.name()).or_default() += 1.0;
    }
    let mut by_source: BTreeMap<&str, f64> = ReadSource::ALL.iter().map(|s| (s.name(), 0.0)).collect();
    for c in snap.containers.iter().filter(|c| c.state.is_reading()) {
        *by_source.entry(c.source.name()).or_default() += 1.0;
    }
    let mut families = vec![
        family(
            "log_capturer_readers_by_source",
            "Followed containers by where their log is read from (api, file).",
            MetricType::GAUGE,
            by_source.into_iter().map(|(source, n)| gauge(vec![label("source", source)], n)).collect(),
        ),
        single("log_capturer_container_streams_active", "Container log streams open now.", open as f64),
        single(
            "log_capturer_containers_followed",
            "Containers with a reader (streaming, reopening or in backoff).",
            alive as f64,
        ),
        single(
            "log_capturer_tasks",
            "Alive tasks of the capture: discovery, one reader per followed container, and with metrics_addr the listener and the connections being answered.",
            snap.tasks as f64,
        ),
        single(
            "log_capturer_rotation_interval_seconds",
            "The configured rotation interval.",
            snap.rotation_interval_seconds,
        ),
        single(
            "log_capturer_rotation_jitter_ratio",
            "The configured rotation jitter (fraction of the interval).",
            snap.rotation_jitter,
        ),
        family(
            "log_capturer_readers",
            "Containers by reader state (following, backoff, backpressure, catching_up, drained, ...).",
            MetricType::GAUGE,
            by_state.into_iter().map(|(state, n)| gauge(vec![label("state", state)], n)).collect(),
        ),
        single("log_capturer_queue_records", "Records waiting for the host.", snap.queue_records as f64),
        single("log_capturer_queue_bytes", "Message bytes waiting for the host.", snap.queue_bytes as f64),
        family(
            "log_capturer_queue_backpressure_seconds_total",
            "Time readers spent waiting for room in the queue.",
            MetricType::COUNTER,
            vec![counter(vec![], snap.backpressure_seconds)],
        ),
        single(
            "log_capturer_daemon_up",
            "1 when the Docker daemon answered the last attempt.",
            if snap.daemon_up { 1.0 } else { 0.0 },
        ),
    ];
    if let Some(d) = &snap.daemon {
        let labels =
            vec![label("engine", d.kind.name()), label("version", &d.version), label("api_version", &d.api_version)];
        families.push(family(
            "log_capturer_daemon_info",
            "The engine and version the daemon reported (1); its profile is what the capture applies.",
            MetricType::GAUGE,
            vec![gauge(labels, 1.0)],
        ));
    }
    if let Some(fds) = snap.fds {
        families.push(single("log_capturer_file_descriptors_open", "File descriptors open in this process.", fds as f64));
    }
    families
}

/// The per-container series of the followed containers.
fn per_container_families(alive: &[&ContainerSample<'_>], now_ns: i64) -> Vec<MetricFamily> {
    let ids = |c: &ContainerSample<'_>| vec![label("container_id", c.id), label("container_name", c.name)];
    let series = |name: &str, help: &str, kind: MetricType, value: &dyn Fn(&ContainerSample<'_>) -> Option<f64>| {
        let metrics = alive
            .iter()
            .filter_map(|c| {
                value(c).map(|v| if kind == MetricType::COUNTER { counter(ids(c), v) } else { gauge(ids(c), v) })
            })
            .collect();
        family(name, help, kind, metrics)
    };
    let sources = alive
        .iter()
        .map(|c| {
            let mut labels = ids(c);
            labels.push(label("source", c.source.name()));
            gauge(labels, 1.0)
        })
        .collect();
    vec![
        family(
            "log_capturer_container_source",
            "1 for a followed container, labelled with where its log is read from (api, file).",
            MetricType::GAUGE,
            sources,
        ),
        series(
            "log_capturer_container_stream_rotations_total",
            "Rotations of a container's log stream.",
            MetricType::COUNTER,
            &|c| Some(c.rotations as f64),
        ),
        series(
            "log_capturer_container_last_rotation_timestamp",
            "Unix time of a container's last rotation (or of when its reading began).",
            MetricType::GAUGE,
            &|c| Some(c.last_renewal_ns as f64 / 1e9),
        ),
        series(
            "log_capturer_container_records_total",
            "Records read from a container.",
            MetricType::COUNTER,
            &|c| Some(c.records as f64),
        ),
        series(
            "log_capturer_container_bytes_total",
            "Message bytes read from a container.",
            MetricType::COUNTER,
            &|c| Some(c.bytes as f64),
        ),
        series(
            "log_capturer_container_lag_seconds",
            "Now minus the Docker timestamp of the newest line read from a container.",
            MetricType::GAUGE,
            &|c| (c.newest_ts_ns > 0).then(|| (now_ns - c.newest_ts_ns).max(0) as f64 / 1e9),
        ),
        series(
            "log_capturer_container_rotation_stuck",
            "1 while a container's rotations have not advanced within the rotation interval plus grace.",
            MetricType::GAUGE,
            &|c| Some(if c.rotation_stuck { 1.0 } else { 0.0 }),
        ),
        paused_family(alive),
    ]
}

/// Seconds each container's reader was paused, by reason.
fn paused_family(alive: &[&ContainerSample<'_>]) -> MetricFamily {
    let metrics = alive
        .iter()
        .flat_map(|c| {
            PauseReason::ALL.iter().map(move |r| {
                let labels =
                    vec![label("container_id", c.id), label("container_name", c.name), label("reason", r.name())];
                counter(labels, c.paused_seconds[*r as usize])
            })
        })
        .collect();
    family(
        PAUSED_NAME,
        "Time a container's reader was paused (not reading; the daemon keeps the log), by reason: backpressure (the queue, or the container's share of it, full) or rate_limit (container_max_records_per_second). Counted as each pause ends.",
        MetricType::COUNTER,
        metrics,
    )
}
