//! Counters: per container and engine-wide. They observe what the tasks do
//! and are rendered by `capture_stats` (JSON) and the metrics; no decision
//! of the engine reads them.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value};

use super::kinds::{ErrorKind, PauseReason, ReopenReason};
use super::metrics::Metrics;
use super::progress::Progress;
use crate::record::ContainerMeta;
use crate::timestamp::format_rfc3339;

/// Errors by kind, the last message, and the gaps found.
#[derive(Default)]
struct Detail {
    errors: BTreeMap<ErrorKind, u64>,
    last_error: Option<String>,
    gap_seconds: f64,
    /// The last gap: (newest passed entry gone, first entry still there).
    last_gap: Option<(i64, i64)>,
}

/// One container's counters.
pub struct ContainerStats {
    metrics: Arc<Metrics>,
    pub rotations: AtomicU64,
    /// When the current stream opened (Unix ns), 0 when none is open.
    pub stream_opened_ns: AtomicI64,
    pub reopens: [AtomicU64; ReopenReason::ALL.len()],
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub requests: AtomicU64,
    /// Nanoseconds its reader was paused, by reason (counted as each pause
    /// ends).
    pub paused_ns: [AtomicU64; PauseReason::ALL.len()],
    /// Readers the watchdog tore down and started again, in all.
    pub watchdog_restarts: AtomicU64,
    /// When the watchdog last found the rotations stuck (Unix ns): they are
    /// stuck until the next renewal after it.
    stuck_since_ns: AtomicI64,
    /// While the host clock is behind lines already read: the stamp it
    /// must reach to end the episode (Unix ns; 0: none).
    clock_behind_until_ns: AtomicI64,
    /// The current episode's lines were being delivered (see `ClockBehind`).
    clock_step_delivered: AtomicBool,
    detail: Mutex<Detail>,
}

impl ContainerStats {
    pub fn new(metrics: Arc<Metrics>) -> ContainerStats {
        ContainerStats {
            metrics,
            rotations: AtomicU64::new(0),
            stream_opened_ns: AtomicI64::new(0),
            reopens: Default::default(),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            requests: AtomicU64::new(0),
            paused_ns: Default::default(),
            watchdog_restarts: AtomicU64::new(0),
            stuck_since_ns: AtomicI64::new(0),
            clock_behind_until_ns: AtomicI64::new(0),
            clock_step_delivered: AtomicBool::new(false),
            detail: Mutex::new(Detail::default()),
        }
    }

    fn detail(&self) -> std::sync::MutexGuard<'_, Detail> {
        self.detail.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts an error of this kind and keeps its message.
    pub fn error(&self, kind: ErrorKind, message: impl Into<String>) {
        self.metrics.error(kind);
        let mut d = self.detail();
        *d.errors.entry(kind).or_insert(0) += 1;
        d.last_error = Some(message.into());
    }

    /// The log no longer held entries up to `after_ns`; it resumes at
    /// `before_ns`: what was stamped in between and not yet read is lost.
    pub fn gap(&self, after_ns: i64, before_ns: i64, message: String) {
        self.gap_of(ErrorKind::LogGap, after_ns, before_ns, message);
    }

    /// A gap whose cause is `kind` (the log's rotation, the host's clock).
    pub fn gap_of(&self, kind: ErrorKind, after_ns: i64, before_ns: i64, message: String) {
        self.error(kind, message);
        let mut d = self.detail();
        d.gap_seconds += (before_ns - after_ns).max(0) as f64 / 1e9;
        d.last_gap = Some((after_ns, before_ns));
    }

    pub fn reopened(&self, reason: ReopenReason) {
        self.reopens[reason as usize].fetch_add(1, Relaxed);
        self.metrics.reopens.with_label_values(&[reason.name()]).inc();
    }

    pub fn rotated(&self) {
        self.rotations.fetch_add(1, Relaxed);
        self.metrics.rotations.inc();
    }

    pub fn stream_opened(&self, now_ns: i64) {
        self.stream_opened_ns.store(now_ns, Relaxed);
    }

    /// The stream open (if any) was closed at `now_ns`.
    pub fn stream_closed(&self, now_ns: i64) {
        let opened = self.stream_opened_ns.swap(0, Relaxed);
        if opened > 0 {
            self.metrics.stream_age.observe((now_ns - opened).max(0) as f64 / 1e9);
        }
    }

    /// The reader was paused for `ns` nanoseconds.
    pub fn paused(&self, reason: PauseReason, ns: u64) {
        self.paused_ns[reason as usize].fetch_add(ns, Relaxed);
        self.metrics.paused.with_label_values(&[reason.name()]).inc_by(ns as f64 / 1e9);
    }

    /// Seconds paused, by reason.
    pub fn paused_seconds(&self) -> [f64; PauseReason::ALL.len()] {
        std::array::from_fn(|i| self.paused_ns[i].load(Relaxed) as f64 / 1e9)
    }

    /// Records delivered to the queue.
    pub fn delivered(&self, records: u64, bytes: u64) {
        self.records.fetch_add(records, Relaxed);
        self.bytes.fetch_add(bytes, Relaxed);
        self.metrics.records.inc_by(records);
        self.metrics.bytes.inc_by(bytes);
    }

    /// The watchdog found the rotations stuck at `now_ns`. Returns whether
    /// this begins an episode (they were not stuck already).
    pub fn flag_stuck(&self, progress: &Progress, now_ns: i64) -> bool {
        let begins = !self.is_stuck(progress);
        if begins {
            self.stuck_since_ns.store(now_ns, Relaxed);
        }
        begins
    }

    /// The host clock at `now_ns` is behind `newest_ns`, a stamp already
    /// read. Returns whether this begins an episode (it ends once the
    /// clock has passed the stamp an earlier one began behind).
    pub fn flag_clock_behind(&self, now_ns: i64, newest_ns: i64) -> bool {
        let until = self.clock_behind_until_ns.load(Relaxed);
        let begins = now_ns >= until;
        if begins {
            self.clock_behind_until_ns.store(newest_ns, Relaxed);
            self.clock_step_delivered.store(false, Relaxed);
        }
        begins
    }

    fn clock_behind(&self, now_ns: i64) -> bool {
        now_ns < self.clock_behind_until_ns.load(Relaxed)
    }

    /// The episode begun by `flag_clock_behind` was reported with its lines
    /// delivered (the file read in its order).
    pub fn clock_step_delivered(&self) {
        self.clock_step_delivered.store(true, Relaxed);
    }

    /// Reading no longer goes on in the file's order: if an episode whose
    /// lines were being delivered is still on, returns until when (the
    /// lines written before the clock gets there are now taken as read),
    /// once.
    pub fn clock_step_undelivered(&self, now_ns: i64) -> Option<i64> {
        let delivered = self.clock_step_delivered.swap(false, Relaxed);
        (delivered && self.clock_behind(now_ns)).then(|| self.clock_behind_until_ns.load(Relaxed))
    }

    /// Stuck until a renewal after the watchdog said so.
    pub fn is_stuck(&self, progress: &Progress) -> bool {
        let since = self.stuck_since_ns.load(Relaxed);
        since > 0 && progress.last_renewal_ns() < since
    }

    pub fn to_json(&self, meta: &ContainerMeta, progress: &Progress, now_ns: i64) -> Value {
        let d = self.detail();
        let time = |ns: i64| if ns > 0 { Value::from(format_rfc3339(ns)) } else { Value::Null };
        let seconds_since = |ns: i64| if ns > 0 { Value::from((now_ns - ns).max(0) as f64 / 1e9) } else { Value::Null };
        let reopens: BTreeMap<&str, u64> =
            ReopenReason::ALL.iter().map(|r| (r.name(), self.reopens[*r as usize].load(Relaxed))).collect();
        let errors: BTreeMap<&str, u64> = d.errors.iter().map(|(k, n)| (k.name(), *n)).collect();
        let paused = self.paused_seconds();
        let paused: BTreeMap<&str, f64> = PauseReason::ALL.iter().map(|r| (r.name(), paused[*r as usize])).collect();
        let p = progress.position();
        let mark = |i: usize| json!({"ts": format_rfc3339(p.marks[i].ts_ns), "count": p.marks[i].count});
        let newest = progress.newest_ts_ns();
        let gaps: u64 = [ErrorKind::LogGap, ErrorKind::ClockBehind].iter().filter_map(|k| d.errors.get(k)).sum();
        json!({
            "id": meta.id_str(),
            "name": meta.name_str(),
            "image": meta.image_str(),
            "state": progress.state().name(),
            "source": progress.source().name(),
            "rotation_stuck": self.is_stuck(progress),
            "clock_behind": self.clock_behind(now_ns),
            "watchdog_restarts": self.watchdog_restarts.load(Relaxed),
            "rotations": self.rotations.load(Relaxed),
            "last_rotation": time(progress.last_rotation_ns()),
            "stream_age_seconds": seconds_since(self.stream_opened_ns.load(Relaxed)),
            "reopens": reopens,
            "errors": errors,
            "last_error": d.last_error,
            "records": self.records.load(Relaxed),
            "bytes": self.bytes.load(Relaxed),
            "requests": self.requests.load(Relaxed),
            "paused_seconds": paused,
            "last_timestamp": time(newest),
            "lag_seconds": seconds_since(newest),
            "position": {"stdout": mark(0), "stderr": mark(1), "console": mark(2)},
            "held_lines": progress.held_lines(),
            "gaps": {
                "count": gaps,
                "seconds": d.gap_seconds,
                "last": d.last_gap.map(|(a, b)| json!({"after": format_rfc3339(a), "before": format_rfc3339(b)})),
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
    /// Containers removed before any of their log could be read.
    pub containers_removed_unread: AtomicU64,
    pub records: AtomicU64,
    pub bytes: AtomicU64,
    pub tasks: AtomicI64,
    pub daemon_reachable: AtomicBool,
    last_daemon_error: Mutex<Option<String>>,
}

impl EngineStats {
    pub fn new(per_container_metrics: bool) -> EngineStats {
        EngineStats {
            metrics: Arc::new(Metrics::new(per_container_metrics)),
            daemon_errors: AtomicU64::new(0),
            events_connects: AtomicU64::new(0),
            listings: AtomicU64::new(0),
            containers_gone: AtomicU64::new(0),
            containers_removed_unread: AtomicU64::new(0),
            records: AtomicU64::new(0),
            bytes: AtomicU64::new(0),
            tasks: AtomicI64::new(0),
            daemon_reachable: AtomicBool::new(false),
            last_daemon_error: Mutex::new(None),
        }
    }

    /// A call to the daemon failed.
    pub fn daemon_error(&self, kind: ErrorKind, message: String) {
        self.metrics.error(kind);
        self.daemon_errors.fetch_add(1, Relaxed);
        self.daemon_reachable.store(false, Relaxed);
        *self.last_daemon_error.lock().unwrap_or_else(|e| e.into_inner()) = Some(message);
    }

    /// A followed container was removed (its logs answered 404).
    pub fn gone(&self) {
        self.containers_gone.fetch_add(1, Relaxed);
        self.metrics.error(ErrorKind::NotFound);
    }

    /// A container was removed before any of its log could be read.
    pub fn removed_unread(&self) {
        self.containers_removed_unread.fetch_add(1, Relaxed);
        self.metrics.error(ErrorKind::RemovedUnread);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_clock_behind_begins_one_episode_until_it_passes_the_stamp() {
        let stats = ContainerStats::new(Arc::new(Metrics::new(true)));
        let newest = 1_000_000_000_000;
        assert!(stats.flag_clock_behind(newest - 120_000_000_000, newest), "begins");
        assert!(stats.clock_behind(newest - 100_000_000_000));
        assert!(!stats.flag_clock_behind(newest - 60_000_000_000, newest), "the same episode");
        assert!(!stats.clock_behind(newest));
        assert!(stats.flag_clock_behind(newest + 5_000_000_000, newest + 90_000_000_000), "a later step");
    }
}
