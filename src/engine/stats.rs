//! Per-container and engine-wide statistics, updated by the tasks with
//! atomics and read by `capture_stats` as JSON.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use crate::record::ContainerMeta;
use super::metrics::Metrics;
use crate::timestamp::format_rfc3339;
use crate::position::Position;

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

/// A container reader's lifecycle state, as stats show it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReaderState {
    Starting,
    Following,
    Backoff,
    /// Waiting for room in the queue (the host is not polling fast enough).
    Backpressure,
    /// Reading a backlog; the due rotation waits until it has caught up.
    CatchingUp,
    /// A busy rotating log read by polling (non-follow reads).
    Polling,
    Drained,
    Unreadable,
    Excluded,
}

impl ReaderState {
    pub const ALL: [ReaderState; 9] = [
        ReaderState::Starting,
        ReaderState::Following,
        ReaderState::Backoff,
        ReaderState::Backpressure,
        ReaderState::CatchingUp,
        ReaderState::Polling,
        ReaderState::Drained,
        ReaderState::Unreadable,
        ReaderState::Excluded,
    ];

    pub fn name(self) -> &'static str {
        match self {
            ReaderState::Starting => "starting",
            ReaderState::Following => "following",
            ReaderState::Backoff => "backoff",
            ReaderState::Backpressure => "backpressure",
            ReaderState::CatchingUp => "catching_up",
            ReaderState::Polling => "polling",
            ReaderState::Drained => "drained",
            ReaderState::Unreadable => "unreadable",
            ReaderState::Excluded => "excluded",
        }
    }
}

struct Detail {
    state: ReaderState,
    errors: BTreeMap<&'static str, u64>,
    last_error: Option<String>,
    position: Option<Position>,
    gaps: Gaps,
}

/// Places where the log no longer held what the reader had reached (how
/// many: the `log_gap` errors).
#[derive(Default)]
struct Gaps {
    seconds: f64,
    /// The last one: (newest passed entry gone, first entry still there).
    last: Option<(i64, i64)>,
}

/// One container's counters.
pub struct ContainerStats {
    pub meta: Arc<ContainerMeta>,
    metrics: Arc<Metrics>,
    /// When the current reader run began (Unix ns).
    pub followed_since_ns: AtomicI64,
    /// Set by the watchdog while rotations do not advance.
    rotation_stuck: AtomicBool,
    /// When the watchdog last restarted the reader (Unix ns), and how
    /// often in the current stuck episode.
    pub last_restart_ns: AtomicI64,
    pub episode_restarts: AtomicU64,
    /// Readers the watchdog tore down and started again, in all.
    pub watchdog_restarts: AtomicU64,
    pub rotations: AtomicU64,
    pub last_rotation_ns: AtomicI64,
    /// When the current stream opened (Unix ns), 0 when none is open.
    pub stream_opened_ns: AtomicI64,
    pub reopens: [AtomicU64; 6],
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    /// The newest Docker timestamp delivered.
    pub last_ts_ns: AtomicI64,
    pub requests: AtomicU64,
    detail: Mutex<Detail>,
}

impl ContainerStats {
    pub fn new(meta: Arc<ContainerMeta>, metrics: Arc<Metrics>) -> ContainerStats {
        ContainerStats {
            meta,
            metrics,
            followed_since_ns: AtomicI64::new(0),
            rotation_stuck: AtomicBool::new(false),
            last_restart_ns: AtomicI64::new(0),
            episode_restarts: AtomicU64::new(0),
            watchdog_restarts: AtomicU64::new(0),
            rotations: AtomicU64::new(0),
            last_rotation_ns: AtomicI64::new(0),
            stream_opened_ns: AtomicI64::new(0),
            reopens: Default::default(),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            last_ts_ns: AtomicI64::new(0),
            requests: AtomicU64::new(0),
            detail: Mutex::new(Detail {
                state: ReaderState::Starting,
                errors: BTreeMap::new(),
                gaps: Gaps::default(),
                last_error: None,
                position: None,
            }),
        }
    }

    fn detail(&self) -> std::sync::MutexGuard<'_, Detail> {
        self.detail.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn set_state(&self, state: ReaderState) {
        self.detail().state = state;
    }

    pub fn state(&self) -> ReaderState {
        self.detail().state
    }

    /// Counts an error of this kind and keeps its message.
    pub fn error(&self, kind: &'static str, message: impl Into<String>) {
        self.metrics.error(kind);
        let mut d = self.detail();
        *d.errors.entry(kind).or_insert(0) += 1;
        d.last_error = Some(message.into());
    }

    /// The log no longer held entries up to `after_ns`; it resumes at
    /// `before_ns`: what was stamped in between and not yet read is lost.
    pub fn gap(&self, after_ns: i64, before_ns: i64) {
        let span = (before_ns - after_ns).max(0) as f64 / 1e9;
        self.error(
            "log_gap",
            format!(
                "log rotated away before it was read: lines stamped between {} and {} may be lost",
                format_rfc3339(after_ns),
                format_rfc3339(before_ns)
            ),
        );
        let mut d = self.detail();
        d.gaps.seconds += span;
        d.gaps.last = Some((after_ns, before_ns));
    }

    pub fn errors(&self, kind: &str) -> u64 {
        self.detail().errors.get(kind).copied().unwrap_or(0)
    }

    pub fn reopened(&self, reason: ReopenReason) {
        self.reopens[reason as usize].fetch_add(1, Relaxed);
        self.metrics.reopens.with_label_values(&[reason.name()]).inc();
    }

    /// A rotation completed (the stream was renewed) at `now_ns`.
    pub fn rotated(&self, now_ns: i64) {
        self.rotations.fetch_add(1, Relaxed);
        self.last_rotation_ns.store(now_ns, Relaxed);
        self.metrics.rotations.inc();
        self.rotation_stuck.store(false, Relaxed);
        self.episode_restarts.store(0, Relaxed);
    }

    /// A stream opened at `opened_ns` was closed at `now_ns`.
    pub fn stream_closed(&self, now_ns: i64) {
        let opened = self.stream_opened_ns.swap(0, Relaxed);
        if opened > 0 {
            self.metrics.stream_age.observe((now_ns - opened).max(0) as f64 / 1e9);
        }
    }

    /// Records delivered to the queue.
    pub fn delivered(&self, records: u64, bytes: u64, newest_ts_ns: i64) {
        self.records.fetch_add(records, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
        self.last_ts_ns.fetch_max(newest_ts_ns, Relaxed);
        self.metrics.records.inc_by(records);
        self.metrics.bytes.inc_by(bytes);
    }

    /// True while a reader runs for this container.
    pub fn is_followed(&self) -> bool {
        matches!(
            self.state(),
            ReaderState::Starting
                | ReaderState::Following
                | ReaderState::Backoff
                | ReaderState::Backpressure
                | ReaderState::CatchingUp
                | ReaderState::Polling
        )
    }

    pub fn is_rotation_stuck(&self) -> bool {
        self.rotation_stuck.load(Relaxed)
    }

    /// Flags (or clears) a stuck rotation; returns whether the flag changed.
    pub fn set_rotation_stuck(&self, stuck: bool) -> bool {
        self.rotation_stuck.swap(stuck, Relaxed) != stuck
    }

    /// The last rotation, or when reading began if none happened yet.
    pub fn last_rotation_or_follow_ns(&self) -> i64 {
        let last = self.last_rotation_ns.load(Relaxed);
        if last > 0 {
            last.max(self.followed_since_ns.load(Relaxed))
        } else {
            self.followed_since_ns.load(Relaxed)
        }
    }

    pub fn set_position(&self, position: &Position) {
        self.detail().position = Some(position.clone());
    }

    /// The position as of the last delivery (or the reader's start).
    pub fn position(&self) -> Option<Position> {
        self.detail().position.clone()
    }

    pub fn to_json(&self, now_ns: i64) -> Value {
        let d = self.detail();
        let opened = self.stream_opened_ns.load(Relaxed);
        let last_rotation = self.last_rotation_ns.load(Relaxed);
        let last_ts = self.last_ts_ns.load(Relaxed);
        let reopens: BTreeMap<&str, u64> =
            ReopenReason::ALL.iter().map(|r| (r.name(), self.reopens[*r as usize].load(Relaxed))).collect();
        let position = d.position.as_ref().map(|p| {
            json!({
                "stdout": {"ts": format_rfc3339(p.marks[0].ts_ns), "count": p.marks[0].count},
                "stderr": {"ts": format_rfc3339(p.marks[1].ts_ns), "count": p.marks[1].count},
                "console": {"ts": format_rfc3339(p.marks[2].ts_ns), "count": p.marks[2].count},
            })
        });
        json!({
            "id": self.meta.id_str(),
            "name": self.meta.name_str(),
            "image": self.meta.image_str(),
            "state": d.state.name(),
            "rotation_stuck": self.is_rotation_stuck(),
            "watchdog_restarts": self.watchdog_restarts.load(Relaxed),
            "rotations": self.rotations.load(Relaxed),
            "last_rotation": if last_rotation > 0 { Value::from(format_rfc3339(last_rotation)) } else { Value::Null },
            "stream_age_seconds": if opened > 0 { Value::from((now_ns - opened).max(0) as f64 / 1e9) } else { Value::Null },
            "reopens": reopens,
            "errors": d.errors,
            "last_error": d.last_error,
            "records": self.records.load(Relaxed),
            "bytes": self.bytes.load(Relaxed),
            "requests": self.requests.load(Relaxed),
            "last_timestamp": if last_ts > 0 { Value::from(format_rfc3339(last_ts)) } else { Value::Null },
            "lag_seconds": if last_ts > 0 { Value::from((now_ns - last_ts).max(0) as f64 / 1e9) } else { Value::Null },
            "position": position,
            "gaps": {
                "count": d.errors.get("log_gap").copied().unwrap_or(0),
                "seconds": d.gaps.seconds,
                "last": d.gaps.last.map(|(a, b)| json!({"after": format_rfc3339(a), "before": format_rfc3339(b)})),
            },
        })
    }
}

/// Engine-wide counters.
pub struct EngineStats {
    pub metrics: Arc<Metrics>,
    pub daemon_errors: AtomicU64,
    pub events_connects: AtomicU64,
    pub listings: AtomicU64,
    /// Followed containers that were removed.
    pub containers_gone: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub tasks: AtomicI64,
    pub daemon_reachable: AtomicBool,
    last_daemon_error: Mutex<Option<String>>,
    containers: Mutex<BTreeMap<String, Arc<ContainerStats>>>,
    /// Containers the filters left out: id → name.
    excluded: Mutex<BTreeMap<String, String>>,
}

impl EngineStats {
    pub fn new(per_container_metrics: bool) -> EngineStats {
        EngineStats {
            metrics: Arc::new(Metrics::new(per_container_metrics)),
            daemon_errors: AtomicU64::new(0),
            events_connects: AtomicU64::new(0),
            listings: AtomicU64::new(0),
            containers_gone: AtomicU64::new(0),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            tasks: AtomicI64::new(0),
            daemon_reachable: AtomicBool::new(false),
            last_daemon_error: Mutex::new(None),
            containers: Mutex::new(BTreeMap::new()),
            excluded: Mutex::new(BTreeMap::new()),
        }
    }

    pub fn daemon_error(&self, kind: &'static str, message: String) {
        self.metrics.error(kind);
        self.daemon_errors.fetch_add(1, Relaxed);
        self.daemon_reachable.store(false, Relaxed);
        *self.last_daemon_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }

    pub fn container(&self, meta: &Arc<ContainerMeta>) -> Arc<ContainerStats> {
        let mut map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        map.entry(meta.id_str().to_string())
            .or_insert_with(|| Arc::new(ContainerStats::new(meta.clone(), self.metrics.clone())))
            .clone()
    }

    /// Forgets a container (destroyed): its stats, or its exclusion.
    /// A followed container was removed (its logs answered 404).
    pub fn gone(&self) {
        self.containers_gone.fetch_add(1, Relaxed);
        self.metrics.error("not_found");
    }

    pub fn forget(&self, id: &str) {
        self.containers.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
        self.excluded.lock().unwrap_or_else(|e| e.into_inner()).remove(id);
    }

    pub fn exclude(&self, id: &str, name: &str) {
        self.excluded.lock().unwrap_or_else(|e| e.into_inner()).insert(id.to_string(), name.to_string());
    }

    /// The names of the containers the filters left out, sorted.
    pub fn excluded_names(&self) -> Vec<String> {
        let mut names: Vec<String> =
            self.excluded.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect();
        names.sort();
        names
    }

    pub fn get(&self, id: &str) -> Option<Arc<ContainerStats>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner()).get(id).cloned()
    }

    pub fn containers(&self) -> Vec<Arc<ContainerStats>> {
        self.containers.lock().unwrap_or_else(|e| e.into_inner()).values().cloned().collect()
    }

    pub fn find(&self, id_or_name: &str) -> Option<Arc<ContainerStats>> {
        let map = self.containers.lock().unwrap_or_else(|e| e.into_inner());
        map.get(id_or_name).cloned().or_else(|| {
            map.values()
                .find(|c| {
                    c.meta.name_str() == id_or_name
                        || (id_or_name.len() >= 12 && c.meta.id_str().starts_with(id_or_name))
                })
                .cloned()
        })
    }

    pub fn last_daemon_error(&self) -> Option<String> {
        self.last_daemon_error.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

/// Counts this process's open file descriptors (Linux: /proc/self/fd).
pub fn open_fds() -> Option<u64> {
    std::fs::read_dir("/proc/self/fd").ok().map(|d| d.count().saturating_sub(1) as u64)
}

/// Keeps the alive-task gauge: +1 when made, −1 when dropped.
pub struct TaskGuard(Arc<EngineStats>);

impl TaskGuard {
    pub fn new(stats: &Arc<EngineStats>) -> TaskGuard {
        stats.tasks.fetch_add(1, Relaxed);
        TaskGuard(stats.clone())
    }
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        self.0.tasks.fetch_sub(1, Relaxed);
    }
}
