//! The engine: one tokio runtime per capture, on a thread of its own,
//! running discovery and one reader task per container.
//!
//! The runtime is current-thread: every reader and the discovery loop run on
//! the engine's one thread, so a line read from a socket reaches the queue
//! without crossing threads (a multi-thread runtime paid two futex wake-ups
//! per one-line HTTP chunk and read at a third of the daemon's rate). The
//! host's thread only ever touches the queue and the stats.
//!
//! `Engine` is the only door: the C ABI and the Fluent Bit plugin use its
//! methods, never the tasks' shared state.

mod backoff;
mod checkpoint;
mod daemon;
mod discovery;
mod events;
mod kinds;
mod metrics;
mod progress;
mod reader;
mod registry;
mod report;
mod serve;
mod shared;
mod shutdown;
mod stats;

use std::sync::atomic::AtomicUsize;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::{watch, Semaphore};

use crate::config::Config;
use crate::docker::{Docker, Endpoint};
use crate::log::{Logger, Sink};
use crate::queue::{Closed, Queue};
use crate::record::Record;
use crate::timestamp::unix_now_ns;
use checkpoint::Checkpoint;
use registry::Registry;
use shared::Shared;
use shutdown::Shutdown;
use stats::EngineStats;

/// How long `stop` waits for the engine's thread before giving up on it.
pub const STOP_DEADLINE: Duration = Duration::from_secs(5);
/// How long the tasks get to finish after the shutdown signal.
const TASK_DRAIN_DEADLINE: Duration = Duration::from_secs(2);
/// `die` events kept for file readers slower to look (one that misses
/// some asks the daemon instead).
const DIED_BACKLOG: usize = 256;

/// A running capture.
pub struct Engine {
    shared: Arc<Shared>,
    shutdown: watch::Sender<bool>,
    thread: Mutex<Option<(JoinHandle<()>, mpsc::Receiver<()>)>>,
}

/// Why the engine could not start or stop cleanly.
#[derive(Debug)]
pub enum EngineError {
    /// A configured resource could not be had (e.g. `metrics_addr` in use).
    Config(String),
    /// The runtime or its thread could not be made, or did not stop.
    Runtime(String),
}

impl EngineError {
    pub fn message(&self) -> &str {
        match self {
            EngineError::Config(m) | EngineError::Runtime(m) => m,
        }
    }
}

impl std::fmt::Display for EngineError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.message())
    }
}

/// Tells the position file that the host has received records (with
/// `checkpoint_path`). A batch keeps one; it works after the engine
/// stopped (the acknowledgement is then not kept).
#[derive(Clone)]
pub struct Acknowledger {
    checkpoint: Arc<Checkpoint>,
    registry: Arc<Registry>,
}

impl Acknowledger {
    pub fn acknowledge(&self, records: &[Record]) {
        let registry = &self.registry;
        self.checkpoint.acknowledge(records, &|id| registry.get(id).map(|c| c.progress.position()));
    }
}

impl Engine {
    /// Starts the engine's thread and runtime, with the log sink (None:
    /// stderr) in place before anything runs. The daemon need not be up:
    /// discovery retries with backoff and recovers by itself.
    pub fn start(config: Config, sink: Option<Sink>) -> Result<Engine, EngineError> {
        let (shutdown_tx, shutdown) = Shutdown::channel();
        let shared = Arc::new(build_shared(config, sink, shutdown)?);
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| EngineError::Runtime(format!("cannot build the engine's runtime: {e}")))?;
        // Bind here, so a bad `metrics_addr` fails the start with its reason.
        let listener = match shared.config.metrics_addr {
            None => None,
            Some(addr) => Some(
                std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|_| l))
                    .map_err(|e| EngineError::Config(format!("metrics_addr: cannot listen on {addr}: {e}")))?,
            ),
        };
        let (done_tx, done_rx) = mpsc::channel();
        let task_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("log-capturer".into())
            .spawn(move || {
                runtime.block_on(run(task_shared, listener));
                runtime.shutdown_timeout(Duration::from_secs(1));
                let _ = done_tx.send(());
            })
            .map_err(|e| EngineError::Runtime(format!("cannot start the engine's thread: {e}")))?;
        Ok(Engine { shared, shutdown: shutdown_tx, thread: Mutex::new(Some((thread, done_rx))) })
    }

    /// Takes up to `max` records, waiting at most `timeout` for the first.
    pub fn poll(&self, max: usize, timeout: Duration) -> Result<Vec<Record>, Closed> {
        self.shared.queue.pop(max, timeout)
    }

    /// With `checkpoint_path`: what tells the position file that the host
    /// has received records.
    pub fn acknowledger(&self) -> Option<Acknowledger> {
        let checkpoint = self.shared.checkpoint.clone()?;
        Some(Acknowledger { checkpoint, registry: self.shared.registry.clone() })
    }

    /// Wakes every poll blocked now (they return at once, with what is
    /// queued or nothing), without stopping.
    pub fn wake_pollers(&self) {
        self.shared.queue.wake();
    }

    /// Where the library's log lines go from now on (None: stderr).
    pub fn set_log_sink(&self, sink: Option<Sink>) {
        self.shared.log.set_sink(sink);
    }

    /// The daemon's address, as `unix:///…` or `tcp://…`.
    pub fn docker_host(&self) -> String {
        self.shared.docker.endpoint.describe()
    }

    /// Stops the engine: wakes every poll, signals every task, and waits
    /// (at most `STOP_DEADLINE`) for the engine's thread. Idempotent.
    pub fn stop(&self) -> Result<(), EngineError> {
        let _ = self.shutdown.send(true);
        self.shared.queue.close();
        // The lock is held while waiting, so a concurrent stop returns only
        // once the thread is gone (or given up on) too.
        let mut thread = self.thread.lock().unwrap_or_else(|e| e.into_inner());
        let Some((handle, done)) = thread.take() else {
            return Ok(());
        };
        match done.recv_timeout(STOP_DEADLINE) {
            Ok(()) | Err(mpsc::RecvTimeoutError::Disconnected) => {
                let _ = handle.join();
                Ok(())
            }
            Err(mpsc::RecvTimeoutError::Timeout) => Err(EngineError::Runtime(format!(
                "the engine's thread did not stop within {} s; it was left running",
                STOP_DEADLINE.as_secs()
            ))),
        }
    }

    pub fn is_stopped(&self) -> bool {
        *self.shutdown.borrow()
    }

    /// The stats document (JSON).
    pub fn stats_json(&self) -> serde_json::Value {
        report::stats_json(&self.shared)
    }

    /// The Prometheus text exposition of the metrics.
    pub fn metrics_text(&self) -> String {
        report::metrics_text(&self.shared)
    }

    /// A container's identity as JSON (by id, id prefix of 12+, or name).
    pub fn container_json(&self, id_or_name: &str) -> Option<serde_json::Value> {
        self.shared.registry.find(id_or_name).map(|c| c.meta.to_json())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}

/// The tasks' shared state; opens the position file (a warning when a bad
/// one was set aside).
fn build_shared(config: Config, sink: Option<Sink>, shutdown: Shutdown) -> Result<Shared, EngineError> {
    let log = Arc::new(Logger::with_sink(config.log_level, sink));
    let checkpoint = match &config.checkpoint_path {
        None => None,
        Some(path) => {
            let (c, warning) = Checkpoint::open(path, config.checkpoint_on_corrupt).map_err(EngineError::Config)?;
            if let Some(warning) = warning {
                log.warn("Position file could not be read; starting afresh.", &[("error", &warning)]);
            }
            Some(Arc::new(c))
        }
    };
    Ok(Shared {
        checkpoint,
        starting: Arc::new(Semaphore::new(reader::MAX_STARTING)),
        busy_readers: AtomicUsize::new(0),
        daemon_back: tokio::sync::Notify::new(),
        died: tokio::sync::broadcast::channel(DIED_BACKLOG).0,
        data_root: tokio::sync::OnceCell::new(),
        docker: Docker::new(Endpoint::new(config.docker_host.clone()), config.request_timeout),
        daemon: daemon::CurrentDaemon::new(),
        queue: Queue::new(config.queue_max_records, config.queue_max_bytes),
        stats: Arc::new(EngineStats::new(config.metrics_per_container)),
        registry: Arc::new(Registry::default()),
        log,
        shutdown,
        started_ns: unix_now_ns(),
        config: Arc::new(config),
    })
}

/// The engine thread's work: the metrics listener, the queue's flusher and
/// discovery (which owns the readers), until shutdown.
async fn run(shared: Arc<Shared>, listener: Option<std::net::TcpListener>) {
    let server = listener
        .and_then(|l| tokio::net::TcpListener::from_std(l).ok())
        .map(|l| tokio::spawn(serve::serve_metrics(l, shared.clone())));
    let flusher_shared = shared.clone();
    let flusher = tokio::spawn(async move {
        let mut shutdown = flusher_shared.shutdown.clone();
        let _ = shutdown.run(flusher_shared.queue.run_flusher()).await;
    });
    discovery::run(shared, TASK_DRAIN_DEADLINE).await;
    if let Some(server) = server {
        let _ = server.await;
    }
    let _ = flusher.await;
}
