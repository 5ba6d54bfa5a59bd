//! What the engine's tasks share. Private to the engine: the C ABI and the
//! Fluent Bit plugin go through `Engine`'s methods.

use std::sync::atomic::AtomicUsize;
use std::sync::Arc;

use std::path::PathBuf;

use tokio::sync::{broadcast, Notify, OnceCell, Semaphore};

use super::checkpoint::Checkpoint;
use super::daemon::CurrentDaemon;
use super::registry::Registry;
use super::shutdown::Shutdown;
use super::stats::EngineStats;
use crate::config::Config;
use crate::docker::Docker;
use crate::log::Logger;
use crate::queue::Queue;

pub(in crate::engine) struct Shared {
    pub config: Arc<Config>,
    pub docker: Docker,
    /// The daemon as last detected, and how its logs are read.
    pub daemon: CurrentDaemon,
    pub queue: Queue,
    pub stats: Arc<EngineStats>,
    pub registry: Arc<Registry>,
    pub log: Arc<Logger>,
    pub shutdown: Shutdown,
    /// When the capture started (Unix ns): the `since` of `now`.
    pub started_ns: i64,
    /// The position file, with `checkpoint_path`.
    pub checkpoint: Option<Arc<Checkpoint>>,
    /// Bounds how many readers start (inspect, first open) at once.
    pub starting: Arc<Semaphore>,
    /// Readers whose streams are busy now (see `reader::coalesce`).
    pub busy_readers: AtomicUsize,
    /// Told when discovery finds the daemon answering again after a
    /// failure: readers backing off retry at once.
    pub daemon_back: Notify,
    /// The ids of containers a `die` event announced: a reader of a log
    /// file (which never ends by itself) drains it and ends.
    pub died: broadcast::Sender<String>,
    /// The daemon's data root (`/info`), asked once when a log file is
    /// first wanted: no file outside it is read.
    pub data_root: OnceCell<PathBuf>,
}
