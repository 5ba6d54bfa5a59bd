//! Discovery: the engine's main loop. Subscribes to container events first,
//! then lists containers, and keeps one reader task per followed container.
//! After any error or gap in the event stream it subscribes and lists again;
//! while the daemon is away it retries with backoff and recovers by itself.
//!
//! Discovery owns every container's state by value: a reader task holds it
//! while it runs (`Slot::Reading`) and hands it back when it ends.

mod clock;
mod event_stream;
mod gone;
mod listing;
mod position_writer;
mod watchdog;

use std::collections::HashMap;
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::time::Duration;

use tokio::task::{AbortHandle, Id, JoinError, JoinSet};

use super::backoff::Backoff;
use super::events::{ContainerGone, ContainerRemovedUnread, DaemonUnavailable};
use super::progress::ReaderState;
use super::reader::{ContainerState, Origin, Reader, ReaderExit};
use super::shared::Shared;
use super::shutdown::{Cancelled, Shutdown};
use super::stats::TaskGuard;
use crate::config::filter::Candidate;
use crate::docker::profile::Lifecycle;
use crate::docker::{ContainerSummary, DockerError, Event};
use crate::timestamp::unix_now_ns;
use clock::ClockWatch;
use event_stream::EventStream;
use gone::GoneIds;
use position_writer::PositionWriter;
use watchdog::{watchdog_period, Episode};

/// The shortest time between event-stream renewals (each renewal re-lists).
const MIN_EVENTS_ROTATION: Duration = Duration::from_secs(10);
/// The longest wait between discovery's tries while the daemon is away: one
/// request, and readers backing off longer are woken when it succeeds.
const MAX_PROBE_INTERVAL: Duration = Duration::from_secs(5);

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
    /// The watchdog's restarts in the current stuck episode.
    episode: Episode,
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
    /// Destroyed or found gone: never read again.
    gone: GoneIds,
    clock: ClockWatch,
}

/// Runs discovery and every reader until shutdown, then joins them all
/// within `drain_deadline` (aborting what is left after it).
pub async fn run(shared: Arc<Shared>, drain_deadline: Duration) {
    let _guard = TaskGuard::new(&shared.stats);
    let mut shutdown = shared.shutdown.clone();
    let config = shared.config.clone();
    let mut d = Discovery {
        backoff: Backoff::new(
            config.retry_backoff.min(MAX_PROBE_INTERVAL),
            config.retry_backoff_max.min(MAX_PROBE_INTERVAL),
            "discovery",
        ),
        slots: HashMap::new(),
        readers: JoinSet::new(),
        task_ids: HashMap::new(),
        first_listing: true,
        // Containers born just before the first subscription are looked at
        // like those born in a gap.
        events_lost_ns: Some(shared.started_ns),
        subscribed_ns: None,
        daemon_down: false,
        gone: GoneIds::default(),
        clock: ClockWatch::new(),
        shared,
    };
    let mut events = EventStream::new(config.rotation_interval.max(MIN_EVENTS_ROTATION));
    let mut watchdog = tokio::time::interval(watchdog_period(&config));
    watchdog.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut writer = PositionWriter::new(d.shared.checkpoint.clone(), config.checkpoint_interval);
    loop {
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            Some(done) = d.readers.join_next_with_id(), if !d.readers.is_empty() => d.on_reader_exit(done),
            next = events.next() => match next {
                event_stream::Next::Events(lines) => lines.into_iter().for_each(|event| d.on_event(event)),
                event_stream::Next::Ended(e) => {
                    d.shared.log.info("Event stream ended; subscribing again.", &[("reason", &e)]);
                    d.events_lost(&mut events);
                }
                event_stream::Next::Renew => d.events_lost(&mut events),
                event_stream::Next::Subscribe => {
                    if d.subscribe(&mut events, &mut shutdown).await.is_err() {
                        break;
                    }
                }
            },
            _ = watchdog.tick() => {
                d.check_rotations();
                d.check_clock();
            }
            step = writer.next() => match step {
                position_writer::Step::Due => writer.start(),
                position_writer::Step::Written(result) => writer.on_written(result, &d.shared.log),
            },
        }
    }
    drop(events);
    d.join_readers(drain_deadline).await;
    writer.close(&d.shared.log, drain_deadline).await;
}

impl Discovery {
    /// Joins every reader within `deadline`, then aborts what is left.
    async fn join_readers(&mut self, deadline: Duration) {
        let readers = &mut self.readers;
        let joined = tokio::time::timeout(deadline, async { while readers.join_next().await.is_some() {} }).await;
        if joined.is_err() {
            self.shared.log.warn("Readers did not stop in time; aborting them.", &[("left", &self.readers.len())]);
            self.readers.abort_all();
            while self.readers.join_next().await.is_some() {}
        }
    }

    /// Subscribes to events and lists containers (or backs off).
    async fn subscribe(&mut self, events: &mut EventStream, shutdown: &mut Shutdown) -> Result<(), Cancelled> {
        let shared = self.shared.clone();
        let attempt_ns = unix_now_ns();
        match shutdown.run(events.subscribe_and_list(&shared)).await? {
            Ok(list) => {
                self.on_connected(list);
                self.subscribed_ns = Some(attempt_ns);
            }
            Err(e) => {
                events.drop_stream(self.backoff.next_delay());
                self.on_daemon_error(&e);
            }
        }
        Ok(())
    }

    /// The event stream is gone (or renewed): events since it was
    /// subscribed are in doubt; subscribe and list again at once.
    fn events_lost(&mut self, events: &mut EventStream) {
        events.drop_stream(Duration::ZERO);
        self.events_lost_ns = self.subscribed_ns.or(Some(unix_now_ns()));
    }

    fn spawn(&mut self, id: String, state: Option<ContainerState>, origin: Origin) {
        self.spawn_with(id, state, origin, Episode::default());
    }

    fn spawn_with(&mut self, id: String, state: Option<ContainerState>, origin: Origin, episode: Episode) {
        if let Some(state) = &state {
            state.tracked.progress.set_state(ReaderState::Starting);
        }
        let reader = Reader::new(self.shared.clone(), id.clone());
        let guard = TaskGuard::new(&self.shared.stats);
        let abort = self.readers.spawn(async move {
            let _guard = guard;
            reader.run(state, origin).await
        });
        self.task_ids.insert(abort.id(), id.clone());
        let running = Running { abort, restart_pending: false, destroyed: false, torn_down: false, episode };
        self.slots.insert(id, Slot::Reading(running));
    }

    /// Takes the state of a stopped, drained container (None otherwise).
    fn take_idle(&mut self, id: &str) -> Option<ContainerState> {
        match self.slots.remove(id) {
            Some(Slot::Idle(state)) => Some(state),
            Some(other) => {
                self.slots.insert(id.to_string(), other);
                None
            }
            None => None,
        }
    }

    /// A container destroyed, or found gone, loses its saved position.
    fn forget_position(&self, id: &str) {
        if let Some(c) = &self.shared.checkpoint {
            c.forget(id);
        }
    }

    fn exclude(&mut self, id: String, name: &str) {
        self.shared.registry.exclude(&id, name);
        self.slots.insert(id, Slot::Excluded);
    }

    fn on_daemon_error(&mut self, e: &DockerError) {
        let endpoint = self.shared.docker.endpoint.describe();
        let first = !self.daemon_down;
        DaemonUnavailable { endpoint: &endpoint, error: e, first }.emit(&self.shared.log, &self.shared.stats);
        self.daemon_down = true;
    }

    fn on_event(&mut self, event: Event) {
        if event.kind != "container" {
            return;
        }
        let Some(actor) = event.actor else { return };
        let id = actor.id.clone();
        // A dying container's reader sees its stream end and drains it:
        // only starts and removals matter here.
        match self.shared.daemon.profile().lifecycle(&event.action) {
            // A start replayed after the container's removal (a renewed
            // subscription asks from the last one on).
            Some(Lifecycle::Start) if self.gone.replays(&id, event.time_nano) => {}
            Some(Lifecycle::Start) => {
                self.gone.revive(&id);
                if let Some(state) = self.take_idle(&id) {
                    return self.spawn(id, Some(state), Origin::Listed { at_start: false });
                }
                match self.slots.get_mut(&id) {
                    Some(Slot::Reading(r)) => r.restart_pending = true,
                    Some(_) => {}
                    None => {
                        // The attributes mix labels with `name`, `image`…: only
                        // the name is filtered on here, the rest after inspect.
                        let name = actor.attributes.get("name").map(String::as_str).unwrap_or("");
                        let candidate = Candidate { id: &id, name, image: None, image_alias: None, labels: None };
                        if self.shared.config.filters.wants(&candidate) {
                            let time_ns = event.time_nano;
                            self.spawn(id, None, Origin::Started { actor, time_ns });
                        } else {
                            let name = name.to_string();
                            self.exclude(id, &name);
                        }
                    }
                }
            }
            Some(Lifecycle::Destroy) => self.on_destroyed(&id),
            // A dying container's API reader sees its stream end and drains
            // it; a file reader is told (none listening is fine). Only the
            // containers read: others' deaths (a busy host's hundreds) would
            // make every reader's receiver lag, and a lagging reader asks
            // the daemon (an inspect each).
            Some(Lifecycle::Die) => {
                if matches!(self.slots.get(&id), Some(Slot::Reading(_))) {
                    let _ = self.shared.died.send(id);
                }
            }
            None => {}
        }
    }

    /// A destroyed container is forgotten (once its reader ends), and its
    /// saved position goes with it.
    fn on_destroyed(&mut self, id: &str) {
        self.gone.insert(id, unix_now_ns());
        self.forget_position(id);
        match self.slots.get_mut(id) {
            Some(Slot::Reading(r)) => r.destroyed = true,
            Some(_) => {
                self.slots.remove(id);
                self.shared.registry.forget(id);
            }
            None => {}
        }
    }

    fn on_reader_exit(&mut self, done: Result<(Id, ReaderResult), JoinError>) {
        let (id, state, exit) = match done {
            Ok((task, result)) => {
                self.task_ids.remove(&task);
                result
            }
            Err(e) => return self.on_reader_aborted(e),
        };
        let (restart_pending, destroyed) = match self.slots.remove(&id) {
            Some(Slot::Reading(r)) => (r.restart_pending, r.destroyed),
            _ => (false, false),
        };
        if destroyed && !matches!(exit, ReaderExit::Gone { .. }) {
            self.shared.registry.forget(&id);
            return;
        }
        match exit {
            ReaderExit::Drained => match state {
                Some(state) if restart_pending => self.spawn(id, Some(state), Origin::Listed { at_start: false }),
                Some(state) => {
                    self.slots.insert(id, Slot::Idle(state));
                }
                None => {}
            },
            ReaderExit::Gone { read, answer } => {
                self.gone.insert(&id, unix_now_ns());
                // A reader started again for a container read before (drained,
                // or lines delivered) that finds it gone has lost nothing.
                let read_before = state
                    .as_ref()
                    .is_some_and(|s| s.drained_run.is_some() || s.tracked.stats.records.load(Relaxed) > 0);
                let read = read || read_before;
                // Removed: counted once (as lost if nothing could be read of
                // it), then forgotten.
                if read {
                    ContainerGone { id: &id, answer: &answer }.emit(&self.shared.log, &self.shared.stats);
                } else {
                    ContainerRemovedUnread { id: &id, answer: &answer }.emit(&self.shared.log, &self.shared.stats);
                }
                self.shared.registry.forget(&id);
                self.forget_position(&id);
            }
            ReaderExit::Unreadable(_) => {
                self.slots.insert(id, Slot::Unreadable);
            }
            ReaderExit::Excluded(name) => self.exclude(id, &name),
            ReaderExit::Cancelled => {}
        }
    }

    /// A reader task that did not return: it panicked (the container is no
    /// longer followed), or the watchdog aborted it (a new one starts).
    fn on_reader_aborted(&mut self, e: JoinError) {
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
                self.restart_torn_down(id, r.episode);
            }
        }
    }
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

/// `ContainerSummary` states that mean the container runs.
fn is_running(c: &ContainerSummary) -> bool {
    c.state == "running" || c.state == "restarting"
}
