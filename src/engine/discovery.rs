//! Discovery: the engine's main loop. Subscribes to container events first,
//! then lists containers, and keeps one reader task per followed container.
//! After any error or gap in the event stream it subscribes and lists again;
//! while the daemon is away it retries with backoff and recovers by itself.

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use tokio::task::{AbortHandle, Id, JoinError, JoinHandle, JoinSet};
use tokio::time::Instant;

use super::reader::{ContainerState, Reader, ReaderExit};
use super::stats::{ReaderState, TaskGuard};
use super::{cancelled, Backoff, Shared};
use crate::timestamp::unix_now_ns;
use crate::config::filter::Candidate;
use crate::docker::{Body, BodyRead, ContainerSummary, DockerError, Event};

/// The shortest time between event-stream renewals (each renewal re-lists).
const MIN_EVENTS_ROTATION: Duration = Duration::from_secs(10);
/// The longest event line accepted.
const MAX_EVENT_BYTES: usize = 1 << 20;
/// Containers created this long before the event stream broke are looked
/// at again when listing after the gap.
const GAP_MARGIN_NS: i64 = 5_000_000_000;

/// What discovery knows of a container.
enum Slot {
    /// A reader task owns the container's state.
    Reading(Running),
    /// Stopped and drained; waiting for a start.
    Idle(ContainerState),
    Excluded,
    Unreadable,
    /// Its reader panicked; not retried (logged).
    Failed,
}

/// A container whose reader task runs.
struct Running {
    abort: AbortHandle,
    /// A start was seen while the reader ran: run it again when it drains.
    restart_pending: bool,
    /// The container was destroyed: forget it when the reader ends.
    destroyed: bool,
    /// The watchdog aborted the reader: start a new one.
    torn_down: bool,
}

type ReaderResult = (String, Option<ContainerState>, ReaderExit);

struct Discovery {
    shared: Arc<Shared>,
    slots: HashMap<String, Slot>,
    readers: JoinSet<ReaderResult>,
    task_ids: HashMap<Id, String>,
    backoff: Backoff,
    first_listing: bool,
    /// From when events may have been missed (Unix ns): a silent event
    /// stream looks the same as a dead one, so when it is renewed or lost,
    /// everything since its subscription is in doubt.
    events_lost_ns: Option<i64>,
    /// When the current event stream was subscribed (Unix ns).
    subscribed_ns: Option<i64>,
    daemon_down: bool,
}

/// Runs discovery and every reader until shutdown, then joins them all
/// within `drain_deadline` (aborting what is left after it).
pub async fn run(shared: Arc<Shared>, drain_deadline: Duration) {
    let _guard = TaskGuard::new(&shared.stats);
    let mut shutdown = shared.shutdown.clone();
    let config = shared.config.clone();
    let shared_started_ns = shared.started_ns;
    let mut d = Discovery {
        backoff: Backoff::new(config.retry_backoff, config.retry_backoff_max, "discovery"),
        shared,
        slots: HashMap::new(),
        readers: JoinSet::new(),
        task_ids: HashMap::new(),
        first_listing: true,
        // Containers born just before the first subscription are looked at
        // like those born in a gap.
        events_lost_ns: Some(shared_started_ns),
        subscribed_ns: None,
        daemon_down: false,
    };
    let mut events: Option<Body> = None;
    let mut buf = BytesMut::new();
    let mut reconnect_at = Instant::now();
    let events_rotation = config.rotation_interval.max(MIN_EVENTS_ROTATION);
    let mut rotate_at = Instant::now() + events_rotation;
    let watchdog_period = (config.rotation_interval / 4).clamp(Duration::from_millis(200), Duration::from_secs(10));
    let mut watchdog = tokio::time::interval(watchdog_period);
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let checkpoint = d.shared.checkpoint.clone();
    let mut flush_tick = tokio::time::interval(config.checkpoint_interval);
    flush_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut flushing: Option<JoinHandle<std::io::Result<()>>> = None;
    let mut flush_failing = false;

    loop {
        tokio::select! {
            biased;
            _ = cancelled(&mut shutdown) => break,
            Some(done) = d.readers.join_next_with_id(), if !d.readers.is_empty() => d.on_reader_exit(done),
            read = next_events(&mut events, &mut buf) => match read {
                Ok(lines) => {
                    for event in lines {
                        d.on_event(event);
                    }
                }
                Err(e) => {
                    d.shared.log.info("Event stream ended; subscribing again.", &[("reason", &e)]);
                    events = None;
                    d.events_lost_ns = d.subscribed_ns.or(Some(unix_now_ns()));
                    reconnect_at = Instant::now();
                }
            },
            _ = watchdog.tick() => d.check_rotations(),
            _ = flush_tick.tick(), if checkpoint.is_some() && flushing.is_none() => {
                // fsync may take a while: off the runtime's thread.
                let c = checkpoint.clone().unwrap();
                flushing = Some(tokio::task::spawn_blocking(move || c.flush()));
            }
            done = join_flush(&mut flushing) => {
                flushing = None;
                match done {
                    Ok(()) => flush_failing = false,
                    Err(e) => {
                        if !flush_failing {
                            d.shared.log.error("Cannot write the position file; retrying.", &[("error", &e)]);
                        }
                        flush_failing = true;
                    }
                }
            }
            _ = tokio::time::sleep_until(rotate_at), if events.is_some() => {
                // A silent event stream looks the same as a dead one: renew
                // it (and list again) from time to time.
                events = None;
                d.events_lost_ns = d.subscribed_ns.or(Some(unix_now_ns()));
                reconnect_at = Instant::now();
            }
            _ = tokio::time::sleep_until(reconnect_at), if events.is_none() => {
                let shared = d.shared.clone();
                let attempt_ns = unix_now_ns();
                let connected = tokio::select! {
                    biased;
                    _ = cancelled(&mut shutdown) => break,
                    r = subscribe_and_list(&shared) => r,
                };
                match connected {
                    Ok((body, list)) => {
                        buf.clear();
                        events = Some(body);
                        rotate_at = Instant::now() + events_rotation;
                        d.on_connected(list);
                        d.subscribed_ns = Some(attempt_ns);
                    }
                    Err(e) => {
                        reconnect_at = Instant::now() + d.backoff.next_delay();
                        d.on_daemon_error(&e);
                    }
                }
            }
        }
    }

    drop(events);
    let readers = &mut d.readers;
    let joined = tokio::time::timeout(drain_deadline, async { while readers.join_next().await.is_some() {} }).await;
    if joined.is_err() {
        d.shared.log.warn("Readers did not stop in time; aborting them.", &[("left", &d.readers.len())]);
        d.readers.abort_all();
        while d.readers.join_next().await.is_some() {}
    }
    // The last write, once every reader is done.
    if let Some(c) = checkpoint {
        if flushing.is_some() {
            let _ = join_flush(&mut flushing).await;
        }
        let closing = tokio::task::spawn_blocking(move || c.close());
        match tokio::time::timeout(drain_deadline, closing).await {
            Ok(Ok(Ok(()))) => {}
            Ok(Ok(Err(e))) => d.shared.log.error("Cannot write the position file at stop.", &[("error", &e)]),
            _ => d.shared.log.error("Writing the position file at stop did not finish in time.", &[]),
        }
    }
}

/// Waits for a position-file write in progress; pends forever when there
/// is none.
async fn join_flush(flushing: &mut Option<JoinHandle<std::io::Result<()>>>) -> std::io::Result<()> {
    match flushing.as_mut() {
        None => std::future::pending().await,
        Some(handle) => handle.await.unwrap_or_else(|e| Err(std::io::Error::other(e.to_string()))),
    }
}

async fn subscribe_and_list(shared: &Shared) -> Result<(Body, Vec<ContainerSummary>), DockerError> {
    // Subscribe first, then list: a container that starts in between is in
    // one or the other (or both; duplicates are harmless).
    let events = shared.docker.events().await?;
    shared.stats.events_connects.fetch_add(1, Relaxed);
    // Always all of them: exited ones may be short-lived containers whose
    // whole life fell into a gap, or into the time before the first
    // subscription (`capture_start` returns before it is made).
    let list = shared.docker.list(true).await?;
    shared.stats.listings.fetch_add(1, Relaxed);
    Ok((events.body, list))
}

/// Reads the event stream until at least one event line is complete.
/// Pends forever when there is no stream.
async fn next_events(events: &mut Option<Body>, buf: &mut BytesMut) -> Result<Vec<Event>, String> {
    let Some(body) = events.as_mut() else {
        return std::future::pending().await;
    };
    loop {
        let mut out = Vec::new();
        while let Some(eol) = buf.iter().position(|&b| b == b'\n') {
            let line = buf.split_to(eol + 1);
            let line = &line[..eol];
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            match serde_json::from_slice::<Event>(line) {
                Ok(e) => out.push(e),
                Err(e) => return Err(format!("bad event: {e}")),
            }
        }
        if !out.is_empty() {
            return Ok(out);
        }
        if buf.len() > MAX_EVENT_BYTES {
            return Err("event line exceeds 1 MiB".into());
        }
        match body.read(buf).await {
            Ok(BodyRead::Data(_)) => {}
            Ok(BodyRead::End) => return Err("the daemon closed the event stream".into()),
            Err(e) => return Err(e.to_string()),
        }
    }
}

impl Discovery {
    fn spawn(&mut self, id: String, state: Option<ContainerState>, found_at_start: bool) {
        if let Some(state) = &state {
            state.stats.set_state(ReaderState::Starting);
        }
        let reader = Reader::new(self.shared.clone(), id.clone());
        let guard = TaskGuard::new(&self.shared.stats);
        let abort = self.readers.spawn(async move {
            let _guard = guard;
            reader.run(state, found_at_start).await
        });
        self.task_ids.insert(abort.id(), id.clone());
        self.slots
            .insert(id, Slot::Reading(Running { abort, restart_pending: false, destroyed: false, torn_down: false }));
    }

    fn on_connected(&mut self, list: Vec<ContainerSummary>) {
        if self.daemon_down {
            self.shared
                .log
                .warn("Docker daemon reachable again.", &[("docker_host", &self.shared.docker.endpoint.describe())]);
        }
        self.daemon_down = false;
        self.backoff.reset();
        self.shared.stats.daemon_reachable.store(true, Relaxed);
        let first = self.first_listing;
        self.first_listing = false;
        let gap_start = self.events_lost_ns.map(|t| t - GAP_MARGIN_NS);

        let listed: std::collections::HashSet<&str> = list.iter().map(|c| c.id.as_str()).collect();
        if first {
            // Containers destroyed while no capture ran lose their positions.
            if let Some(c) = &self.shared.checkpoint {
                c.retain(&listed);
            }
        }
        if !first {
            // Gone during the gap: forget what no reader holds.
            let gone: Vec<String> = self
                .slots
                .iter()
                .filter(|(id, slot)| !listed.contains(id.as_str()) && !matches!(slot, Slot::Reading(_)))
                .map(|(id, _)| id.clone())
                .collect();
            for id in gone {
                self.slots.remove(&id);
                self.shared.stats.forget(&id);
            }
        }
        for c in &list {
            // Running ones are read; stopped ones with `include_stopped` at
            // start, and those born during a gap (or since the start).
            let running =
                c.state == "running" || c.state == "restarting" || (first && self.shared.config.include_stopped);
            match self.slots.get(&c.id) {
                None => {
                    let created_ns = c.created.saturating_mul(1_000_000_000);
                    let born_in_gap = gap_start.is_some_and(|g| created_ns >= g);
                    let name = c.names.first().map(|n| n.trim_start_matches('/')).unwrap_or("");
                    let labels = c.labels.clone().unwrap_or_default();
                    let candidate = Candidate { id: &c.id, name, image: None, labels: Some(&labels) };
                    if !self.shared.config.filters.wants(&candidate) {
                        // Left out by name or label: no reader, no inspect.
                        self.exclude(c.id.clone(), name);
                    } else if running || born_in_gap {
                        self.spawn(c.id.clone(), None, first);
                    }
                }
                // Stopped and drained: it may have run again (and stopped
                // again) while events were missed; its reader looks (an
                // inspect) and reads only what is new.
                Some(Slot::Idle(_)) if running || !first => {
                    let Some(Slot::Idle(state)) = self.slots.remove(&c.id) else { unreachable!() };
                    self.spawn(c.id.clone(), Some(state), false);
                }
                Some(Slot::Reading(_)) => {
                    if let Some(Slot::Reading(r)) = self.slots.get_mut(&c.id) {
                        // It may have restarted during the gap; the reader
                        // checks again when its stream ends.
                        r.restart_pending |= running;
                    }
                }
                _ => {}
            }
        }
    }

    fn exclude(&mut self, id: String, name: &str) {
        self.shared.stats.exclude(&id, name);
        self.slots.insert(id, Slot::Excluded);
    }

    /// A destroyed container's saved position goes with it.
    fn forget_position(&self, id: &str) {
        if let Some(c) = &self.shared.checkpoint {
            c.forget(id);
        }
    }

    fn on_daemon_error(&mut self, e: &DockerError) {
        self.shared.stats.daemon_error(e.kind(), e.to_string());
        let endpoint = self.shared.docker.endpoint.describe();
        if !self.daemon_down {
            self.shared
                .log
                .warn("Docker daemon unavailable; retrying with backoff.", &[("docker_host", &endpoint), ("error", e)]);
        } else {
            self.shared.log.debug("Docker daemon still unavailable.", &[("docker_host", &endpoint), ("error", e)]);
        }
        self.daemon_down = true;
    }

    fn on_event(&mut self, event: Event) {
        if event.kind != "container" {
            return;
        }
        let Some(actor) = event.actor else { return };
        let id = actor.id;
        match event.action.as_str() {
            "start" => match self.slots.get_mut(&id) {
                None => {
                    // The attributes mix labels with `name`, `image`…: only
                    // the name is filtered on here, the rest after inspect.
                    let name = actor.attributes.get("name").map(String::as_str).unwrap_or("");
                    if !self.shared.config.filters.wants(&Candidate { id: &id, name, image: None, labels: None }) {
                        let name = name.to_string();
                        self.exclude(id, &name);
                    } else {
                        self.spawn(id, None, false);
                    }
                }
                Some(Slot::Reading(r)) => r.restart_pending = true,
                Some(Slot::Idle(_)) => {
                    let Some(Slot::Idle(state)) = self.slots.remove(&id) else { unreachable!() };
                    self.spawn(id, Some(state), false);
                }
                Some(Slot::Excluded | Slot::Unreadable | Slot::Failed) => {}
            },
            "destroy" => {
                self.forget_position(&id);
                match self.slots.get_mut(&id) {
                    Some(Slot::Reading(r)) => r.destroyed = true,
                    Some(_) => {
                        self.slots.remove(&id);
                        self.shared.stats.forget(&id);
                    }
                    None => {}
                }
            }
            // A dying container's reader sees its stream end and drains it.
            _ => {}
        }
    }

    fn on_reader_exit(&mut self, done: Result<(Id, ReaderResult), JoinError>) {
        let (id, state, exit) = match done {
            Ok((task, result)) => {
                self.task_ids.remove(&task);
                result
            }
            Err(e) => {
                let id = self.task_ids.remove(&e.id()).unwrap_or_default();
                let slot = self.slots.remove(&id);
                if e.is_panic() {
                    self.shared.log.error(
                        "Container reader panicked; the container is no longer followed.",
                        &[("container_id", &id), ("error", &panic_message(e))],
                    );
                    self.slots.insert(id, Slot::Failed);
                } else if let Some(Slot::Reading(r)) = slot {
                    if r.torn_down && !r.destroyed {
                        self.restart_torn_down(id);
                    }
                }
                return;
            }
        };
        let (restart_pending, destroyed) = match self.slots.remove(&id) {
            Some(Slot::Reading(r)) => (r.restart_pending, r.destroyed),
            _ => (false, false),
        };
        if destroyed {
            self.shared.stats.forget(&id);
            return;
        }
        match exit {
            ReaderExit::Drained => match state {
                Some(state) if restart_pending => self.spawn(id, Some(state), false),
                Some(state) => {
                    self.slots.insert(id, Slot::Idle(state));
                }
                None => {}
            },
            ReaderExit::Gone => {
                // Removed while followed: counted once, then forgotten.
                self.shared.stats.gone();
                self.shared.stats.forget(&id);
            }
            ReaderExit::Unreadable(_) => {
                self.slots.insert(id, Slot::Unreadable);
            }
            ReaderExit::Excluded(name) => self.exclude(id, &name),
            ReaderExit::Cancelled => {}
        }
    }

    /// The watchdog: a followed container whose rotations have not advanced
    /// within the rotation interval (with its jitter) plus grace is stuck.
    /// It is counted and logged once per episode, flagged in stats and
    /// metrics, and its reader is torn down and started again from the
    /// position it had delivered.
    fn check_rotations(&mut self) {
        let config = &self.shared.config;
        let limit_ns =
            (config.rotation_interval.mul_f64(1.0 + config.rotation_jitter) + watchdog_grace(config)).as_nanos() as i64;
        let now = unix_now_ns();
        let mut stuck = Vec::new();
        for (id, slot) in &self.slots {
            let Slot::Reading(r) = slot else { continue };
            if r.torn_down {
                continue;
            }
            let Some(stats) = self.shared.stats.get(id) else {
                continue;
            };
            // A reader waiting for the host to poll, or reading a backlog,
            // is not stuck; one that has not begun has nothing to rotate.
            let since = stats.last_rotation_or_follow_ns();
            let busy =
                matches!(stats.state(), ReaderState::Backpressure | ReaderState::CatchingUp | ReaderState::Polling);
            if since == 0 || busy || now - since <= limit_ns {
                continue;
            }
            stuck.push((id.clone(), stats));
        }
        for (id, stats) in stuck {
            if stats.set_rotation_stuck(true) {
                stats.error(
                    "rotation_stuck",
                    format!("no rotation for {:.1} s", (now - stats.last_rotation_or_follow_ns()) as f64 / 1e9),
                );
                self.shared.log.warn(
                    "Container stream rotation is stuck; restarting its reader.",
                    &[
                        ("container_id", &stats.meta.short_id()),
                        ("container_name", &stats.meta.name_str()),
                        ("rotations", &stats.rotations.load(Relaxed)),
                    ],
                );
            }
            // A reader backing off between attempts (the daemon is away) is
            // retrying on its own schedule: restarting it would only reset
            // its backoff. Others are restarted at most once per interval
            // (plus grace), spaced twice as far each time in one episode.
            if stats.state() == ReaderState::Backoff {
                continue;
            }
            let restarts = stats.episode_restarts.load(Relaxed).min(5);
            if now - stats.last_restart_ns.load(Relaxed) <= limit_ns << restarts {
                continue;
            }
            if let Some(Slot::Reading(r)) = self.slots.get_mut(&id) {
                stats.last_restart_ns.store(now, Relaxed);
                stats.episode_restarts.fetch_add(1, Relaxed);
                stats.watchdog_restarts.fetch_add(1, Relaxed);
                r.torn_down = true;
                r.abort.abort();
            }
        }
    }

    /// Starts a new reader for a container whose reader the watchdog
    /// aborted, from the position its stats last recorded.
    fn restart_torn_down(&mut self, id: String) {
        let Some(stats) = self.shared.stats.get(&id) else {
            return;
        };
        let Some(position) = stats.position() else {
            return;
        };
        let config = &self.shared.config;
        let mut backoff = Backoff::new(config.retry_backoff, config.retry_backoff_max, &id);
        let state = ContainerState {
            meta: stats.meta.clone(),
            position,
            stats: stats.clone(),
            tail: config.reopen_tail,
            next_rotation: Instant::now() + backoff.jittered(config.rotation_interval, config.rotation_jitter),
            resumed: true,
            drained_run: None,
        };
        self.spawn(id, Some(state), false);
    }
}

/// Extra time the watchdog allows past a rotation's due time: a reopen may
/// wait for headers (`request_timeout`) and back off once.
pub fn watchdog_grace(config: &crate::config::Config) -> Duration {
    config.request_timeout.max(config.retry_backoff).max(Duration::from_secs(1))
}

fn panic_message(e: JoinError) -> String {
    match e.try_into_panic() {
        Ok(payload) => payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "unknown panic".into()),
        Err(e) => e.to_string(),
    }
}
