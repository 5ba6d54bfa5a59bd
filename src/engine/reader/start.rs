//! A reader's start: a permit (at most `MAX_STARTING` starting at once),
//! the container's inspect, and its state if it is new.
//!
//! A container a start event announced may be short-lived: a `--rm`
//! container can be gone (409 "marked for removal", then 404) before an
//! inspect and a logs request in turn are done. So for those the logs
//! request goes first, with the inspect beside it: the framing can wait
//! for the inspect (or be told by the first byte), the request cannot.

use std::sync::Arc;

use super::connection::{open_request, Connection};
use super::state::{grouping, ContainerState};
use super::{Origin, Reader, ReaderExit};
use crate::config::filter::Candidate;
use crate::docker::{ContainerInspect, EventActor, LogsQuery, Profile};
use crate::engine::events::MultilineLabelInvalid;
use crate::engine::shutdown::Cancelled;
use crate::frame::Framing;
use crate::position::Position;
use crate::record::ContainerMeta;
use crate::timestamp::unix_now_ns;

/// What a reader starts with.
pub struct Started {
    pub state: ContainerState,
    /// Whether the container runs, and since when (`State.StartedAt`).
    pub running: bool,
    pub started_at: String,
    /// A follow stream opened before the inspect came back.
    pub early: Option<Connection>,
}

type Failed = (Option<ContainerState>, ReaderExit);

/// Where a new container's reading starts: its position, and the starting
/// point the daemon must filter on (0 when the position says it all).
struct Start {
    position: Position,
    start_ns: i64,
}

impl Start {
    /// The `since` that asks for everything from the start on (as
    /// `ContainerState::query` does).
    fn since_ns(&self, profile: &Profile) -> i64 {
        profile.since(self.position.resume_since_ns(&crate::frame::Stream::ALL), self.start_ns)
    }
}

impl Reader {
    /// Waits for a start permit, then inspects the container (and, for one
    /// a start event announced, opens its stream at once). The permit
    /// covers the first attempt at each (inspect, first open) only: a
    /// failing container retries without it, so it never keeps new ones
    /// waiting.
    pub(super) async fn start(&mut self, state: Option<ContainerState>, origin: Origin) -> Result<Started, Failed> {
        let permits = self.shared.starting.clone();
        match self.shutdown.run(permits.acquire_owned()).await {
            Ok(permit) => self.starting = permit.ok(),
            Err(Cancelled) => return Err((state, ReaderExit::Cancelled)),
        };
        let started = match (state, origin) {
            (None, Origin::Started { actor, time_ns }) => self.start_early(&actor, time_ns).await,
            (state, origin) => self.start_inspected(state, origin.at_start()).await,
        };
        let mut started = started?;
        if !std::mem::take(&mut started.state.resumed) {
            started.state.tracked.progress.began(unix_now_ns());
        }
        started.state.tracked.progress.publish(&started.state.publishable_position(), 0);
        Ok(started)
    }

    /// Inspect first, then the state (new, or from an earlier run).
    async fn start_inspected(&mut self, state: Option<ContainerState>, at_start: bool) -> Result<Started, Failed> {
        let first = self.inspect_once().await;
        let inspect = match first {
            Ok(Some(inspect)) => inspect,
            Ok(None) => {
                self.starting = None;
                self.inspect_with_retry().await.map_err(|exit| (None, exit))?
            }
            Err(exit) => return Err((state, exit)),
        };
        let mut state = match state {
            Some(state) => state,
            None => {
                let meta = Arc::new(inspect.meta());
                let start = self.initial_position(&meta, at_start);
                self.new_state(meta, start, Some(inspect.state.running)).map_err(|exit| (None, exit))?
            }
        };
        state.log_path = log_path(&inspect);
        Ok(Started { state, running: inspect.state.running, started_at: inspect.state.started_at, early: None })
    }

    /// The logs request and the inspect at once, for a container a start
    /// event announced (read from the capture's start: it began after it).
    async fn start_early(&mut self, actor: &EventActor, time_ns: i64) -> Result<Started, Failed> {
        let provisional = self.start_from(self.shared.started_ns);
        let wanted = self.shared.config.streams;
        let profile = self.shared.daemon.profile();
        let query = LogsQuery {
            follow: true,
            stdout: wanted.stdout,
            stderr: wanted.stderr,
            since_ns: provisional.since_ns(&profile),
            tail: None,
            since_rfc3339: profile.since_rfc3339,
        };
        let shared = self.shared.clone();
        let both = async {
            let open = open_request(&shared, &self.id, query, Framing::Detect, profile.clone());
            tokio::join!(open, shared.docker.inspect(&self.id))
        };
        let (opened, inspected) = self.shutdown.run(both).await.map_err(|_| (None, ReaderExit::Cancelled))?;
        self.starting = None;
        let early = match opened {
            Ok(conn) => Some(conn),
            Err(e) => {
                let id = crate::record::short_id(&self.id);
                self.shared.log.debug("Early logs request failed.", &[("container_id", &id), ("error", &e)]);
                None
            }
        };
        let inspect = match inspected {
            Ok(inspect) => inspect,
            Err(e) if profile.is_gone(&e) => return self.start_gone(actor, time_ns, provisional, early, e),
            Err(_) => self.inspect_with_retry().await.map_err(|exit| (None, exit))?,
        };
        let meta = Arc::new(inspect.meta());
        let created_ns = meta.created_ns;
        let start = self.initial_position(&meta, false);
        let running = inspect.state.running;
        let mut state = self.new_state(meta, start, Some(running)).map_err(|exit| (None, exit))?;
        state.log_path = log_path(&inspect);
        // The early stream serves if it asked for what this state needs:
        // both streams, and everything since the position (nothing is
        // stamped before the container was created).
        let needed = state.query(wanted, true, &profile);
        let serves = (query.stdout || !needed.stdout) && query.since_ns <= needed.since_ns.max(created_ns);
        let early = early.filter(|_| serves);
        if early.is_some() {
            state.tracked.stats.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(Started { state, running, started_at: inspect.state.started_at, early })
    }

    /// The container was gone before it could be inspected: read what the
    /// early stream has (its identity from the start event), or give up.
    fn start_gone(
        &mut self,
        actor: &EventActor,
        time_ns: i64,
        start: Start,
        early: Option<Connection>,
        inspected: crate::docker::DockerError,
    ) -> Result<Started, Failed> {
        let Some(conn) = early else {
            return Err((None, ReaderExit::Gone { read: false, answer: format!("inspect: {inspected}") }));
        };
        let state = self.new_state(Arc::new(actor.meta(time_ns)), start, None).map_err(|exit| (None, exit))?;
        state.tracked.stats.requests.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        Ok(Started { state, running: true, started_at: String::new(), early: Some(conn) })
    }

    /// A container seen for the first time: filtered on what is known of
    /// it (all of it after an inspect), then read from `start`.
    fn new_state(&mut self, meta: Arc<ContainerMeta>, start: Start, running: Option<bool>) -> Result<ContainerState, ReaderExit> {
        let profile = self.shared.daemon.profile();
        let candidate = Candidate {
            id: meta.id_str(),
            name: meta.name_str(),
            image: Some(meta.image_str()),
            image_alias: profile.image_alias(meta.image_str()),
            labels: Some(&meta.labels),
        };
        let config = &self.shared.config;
        if !config.filters.wants(&candidate) {
            return Err(ReaderExit::Excluded(meta.name_str().to_string()));
        }
        let tracked = self.shared.registry.track(&meta, &start.position, &self.shared.stats.metrics);
        let running = running.map_or("unknown (removed)", |r| if r { "yes" } else { "no" });
        self.shared.log.info(
            "Following container.",
            &[("container_id", &meta.short_id()), ("container_name", &meta.name_str()), ("running", &running)],
        );
        let (grouper, problem) = grouping(&meta, config);
        if let Some(error) = &problem {
            MultilineLabelInvalid { meta: &meta, error }.emit(&self.shared.log);
        }
        let mut state = ContainerState::new(tracked, start.position, grouper, config, &mut self.backoff, false);
        state.start_ns = start.start_ns;
        Ok(state)
    }

    /// Where a new container's reading starts: its saved position, else
    /// the `since` policy (for one found at start, or created before the
    /// capture), else its beginning (it began after the capture started).
    /// A starting point is a stamp the daemon may write coarser (Podman:
    /// whole seconds): entries stamped from its second on pass, and the
    /// requests ask the daemon for nothing before `since` itself (see
    /// `ContainerState::query`).
    fn initial_position(&self, meta: &ContainerMeta, at_start: bool) -> Start {
        let since = if !at_start && meta.created_ns >= self.shared.started_ns {
            0
        } else {
            self.shared.config.initial_since_ns(self.shared.started_ns)
        };
        self.start_from(since)
    }

    /// The saved position, else `since_ns`.
    fn start_from(&self, since_ns: i64) -> Start {
        match self.saved_position() {
            Some(position) => Start { position, start_ns: 0 },
            None => {
                let profile = self.shared.daemon.profile();
                Start { position: Position::starting_at(profile.stamp_floor(since_ns)), start_ns: since_ns }
            }
        }
    }

    /// The position file's entry for this container (it wins over `since`).
    fn saved_position(&self) -> Option<Position> {
        self.shared.checkpoint.as_ref().and_then(|c| c.position(&self.id))
    }

    /// One inspect: `Ok(None)` when it failed in a way worth retrying.
    async fn inspect_once(&mut self) -> Result<Option<ContainerInspect>, ReaderExit> {
        let shared = self.shared.clone();
        match self.shutdown.run(shared.docker.inspect(&self.id)).await? {
            Ok(i) => Ok(Some(i)),
            Err(e) if shared.daemon.profile().is_gone(&e) => {
                Err(ReaderExit::Gone { read: self.read_log, answer: format!("inspect: {e}") })
            }
            Err(e) => {
                let id = crate::record::short_id(&self.id);
                self.shared.log.debug("Inspect failed; retrying.", &[("container_id", &id), ("error", &e)]);
                Ok(None)
            }
        }
    }

    pub(super) async fn inspect_with_retry(&mut self) -> Result<ContainerInspect, ReaderExit> {
        loop {
            if let Some(inspect) = self.inspect_once().await? {
                return Ok(inspect);
            }
            self.sleep_backoff().await?;
        }
    }
}

/// The log file inspect names, if any.
fn log_path(inspect: &ContainerInspect) -> Option<std::path::PathBuf> {
    (!inspect.log_path.is_empty()).then(|| std::path::PathBuf::from(&inspect.log_path))
}
