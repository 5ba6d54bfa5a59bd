//! The watchdog: a followed container whose stream has not been renewed
//! within the rotation interval (with its jitter) plus grace is stuck. It
//! is counted and logged once per episode, flagged in stats and metrics,
//! and its reader is torn down and started again from the position it had
//! delivered.

use std::time::Duration;

use super::{Discovery, Slot};
use crate::config::Config;
use crate::engine::backoff::Backoff;
use crate::engine::events::RotationStuck;
use crate::engine::progress::ReaderState;
use crate::engine::reader::{grouping, ContainerState, Origin};
use crate::timestamp::unix_now_ns;

/// Restarts of one stuck episode: spaced twice as far each time.
#[derive(Debug, Clone, Copy, Default)]
pub struct Episode {
    restarts: u32,
    last_restart_ns: i64,
}

/// Extra time the watchdog allows past a rotation's due time: a reopen may
/// wait for headers (`request_timeout`) and back off once.
pub fn watchdog_grace(config: &Config) -> Duration {
    config.request_timeout.max(config.retry_backoff).max(Duration::from_secs(1))
}

/// How often the watchdog looks.
pub fn watchdog_period(config: &Config) -> Duration {
    (config.rotation_interval / 4).clamp(Duration::from_millis(200), Duration::from_secs(10))
}

impl Discovery {
    pub(super) fn check_rotations(&mut self) {
        let config = &self.shared.config;
        let limit = config.rotation_interval.mul_f64(1.0 + config.rotation_jitter) + watchdog_grace(config);
        let limit_ns = limit.as_nanos() as i64;
        let now = unix_now_ns();
        for (id, slot) in self.slots.iter_mut() {
            let Slot::Reading(r) = slot else { continue };
            let Some(tracked) = self.shared.registry.get(id) else { continue };
            let progress = &tracked.progress;
            // A reader waiting for the host, or reading a backlog, is not
            // stuck; one that has not begun has nothing to rotate.
            let since = progress.last_renewal_ns();
            if r.torn_down || since == 0 || progress.state().is_busy() || now - since <= limit_ns {
                continue;
            }
            if tracked.stats.flag_stuck(progress, now) {
                let rotations = tracked.stats.rotations.load(std::sync::atomic::Ordering::Relaxed);
                RotationStuck { meta: &tracked.meta, since_renewal_ns: now - since, rotations }
                    .emit(&self.shared.log, &tracked.stats);
            }
            // A reader backing off between attempts (the daemon is away) is
            // retrying on its own schedule: restarting it would only reset
            // its backoff. Others are restarted at most once per interval
            // (plus grace), spaced twice as far each time in one episode.
            if progress.state() == ReaderState::Backoff {
                continue;
            }
            if since > r.episode.last_restart_ns {
                r.episode.restarts = 0; // renewed since the last restart
            }
            let spacing = limit_ns.saturating_mul(1 << r.episode.restarts.min(5));
            if now - r.episode.last_restart_ns <= spacing {
                continue;
            }
            r.episode = Episode { restarts: r.episode.restarts + 1, last_restart_ns: now };
            tracked.stats.watchdog_restarts.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            r.torn_down = true;
            r.abort.abort();
        }
    }

    /// Starts a new reader for a container whose reader the watchdog
    /// aborted, from the position it had delivered.
    pub(super) fn restart_torn_down(&mut self, id: String, episode: Episode) {
        let Some(tracked) = self.shared.registry.get(&id) else {
            return;
        };
        let config = &self.shared.config;
        let mut jitter = Backoff::new(config.retry_backoff, config.retry_backoff_max, &id);
        // The published position is held back before the lines the aborted
        // reader's grouper held: the new reader reads them again.
        let position = tracked.progress.position();
        let (grouper, _) = grouping(&tracked.meta, config); // reported when first seen
        let state = ContainerState::new(tracked, position, grouper, config, &mut jitter, true);
        self.spawn_with(id, Some(state), Origin::Listed { at_start: false }, episode);
    }
}
