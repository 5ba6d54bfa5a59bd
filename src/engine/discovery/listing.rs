//! What discovery makes of a listing (at the first subscription, and after
//! every gap in the event stream): readers for running containers and for
//! those born during the gap, forgetting those gone meanwhile, and telling
//! readers of containers that stopped meanwhile.

use std::collections::HashSet;
use std::sync::atomic::Ordering::Relaxed;

use super::{is_running, Discovery, Slot};
use crate::engine::reader::Origin;
use crate::config::filter::Candidate;
use crate::docker::ContainerSummary;
use crate::timestamp::unix_now_ns;

/// Containers created this long before the event stream broke are looked
/// at again when listing after the gap.
const GAP_MARGIN_NS: i64 = 5_000_000_000;

impl Discovery {
    pub(super) fn on_connected(&mut self, list: Vec<ContainerSummary>) {
        if self.daemon_down {
            let endpoint = self.shared.docker.endpoint.describe();
            self.shared.log.warn("Docker daemon reachable again.", &[("docker_host", &endpoint)]);
            self.shared.daemon_back.notify_waiters();
        }
        self.daemon_down = false;
        self.backoff.reset();
        self.shared.stats.daemon_reachable.store(true, Relaxed);
        let first = std::mem::take(&mut self.first_listing);
        let listed: HashSet<&str> = list.iter().map(|c| c.id.as_str()).collect();
        if first {
            // Containers destroyed while no capture ran lose their positions.
            if let Some(c) = &self.shared.checkpoint {
                c.retain(&listed);
            }
        } else {
            self.forget_unlisted(&listed);
        }
        for c in &list {
            self.on_listed(c, first);
        }
    }

    /// Gone during the gap: forget what no reader holds.
    fn forget_unlisted(&mut self, listed: &HashSet<&str>) {
        let gone: Vec<String> = self
            .slots
            .iter()
            .filter(|(id, slot)| !listed.contains(id.as_str()) && !matches!(slot, Slot::Reading(_)))
            .map(|(id, _)| id.clone())
            .collect();
        for id in gone {
            self.gone.insert(&id, unix_now_ns());
            self.slots.remove(&id);
            self.shared.registry.forget(&id);
            self.forget_position(&id);
        }
    }

    fn on_listed(&mut self, c: &ContainerSummary, first: bool) {
        // Running ones are read; stopped ones with `include_stopped` at
        // start, and those born during a gap (or since the start).
        let running = is_running(c) || (first && self.shared.config.include_stopped);
        match self.slots.get_mut(&c.id) {
            // Still listed while it is being removed (Podman).
            None if self.gone.contains(&c.id) => {}
            None => {
                let gap_start = self.events_lost_ns.map(|t| t - GAP_MARGIN_NS);
                let born_in_gap = gap_start.is_some_and(|g| c.created.saturating_mul(1_000_000_000) >= g);
                let name = c.names.first().map(|n| n.trim_start_matches('/')).unwrap_or("");
                let labels = c.labels.clone().unwrap_or_default();
                let candidate = Candidate { id: &c.id, name, image: None, image_alias: None, labels: Some(&labels) };
                if !self.shared.config.filters.wants(&candidate) {
                    // Left out by name or label: no reader, no inspect.
                    self.exclude(c.id.clone(), name);
                } else if (running || born_in_gap) && !never_started(c) {
                    self.spawn(c.id.clone(), None, Origin::Listed { at_start: first });
                }
            }
            // It may have restarted during the gap; the reader checks again
            // when its stream ends. Stopped: its `die` may have been lost
            // with the gap (a subscription replays nothing), and a file
            // reader learns of the end only from it, or after `read_timeout`
            // idle: it is told now (an API stream ends by itself).
            Some(Slot::Reading(r)) => {
                r.restart_pending |= running;
                if !is_running(c) && !first {
                    let _ = self.shared.died.send(c.id.clone());
                }
            }
            // Stopped and drained: it may have run again (and stopped again)
            // while events were missed; its reader looks (an inspect) and
            // reads only what is new.
            Some(Slot::Idle(_)) if running || !first => {
                if let Some(state) = self.take_idle(&c.id) {
                    self.spawn(c.id.clone(), Some(state), Origin::Listed { at_start: false });
                }
            }
            Some(_) => {}
        }
    }
}

/// Created and never started: it has no log yet, and its start comes as an
/// event (the subscription is made before the listing). Docker lists a
/// container while it is still being created, before it can be inspected
/// (moby's create checkpoints the listing's view before it registers the
/// container): an inspect then answers 404 and would call it gone.
fn never_started(c: &ContainerSummary) -> bool {
    // Podman's libpod states before a start, should one pass through.
    matches!(c.state.as_str(), "created" | "configured" | "initialized")
}
