//! The engine: one tokio runtime per capture, on a thread of its own,
//! running discovery and one reader task per container.
//!
//! The runtime is current-thread: every reader and the discovery loop run on
//! the engine's one thread, so a line read from a socket reaches the queue
//! without crossing threads (a multi-thread runtime paid two futex wake-ups
//! per one-line HTTP chunk and read at a third of the daemon's rate). The
//! host's thread only ever touches the queue and the stats.

pub mod checkpoint;
pub mod discovery;
pub mod metrics;
pub mod reader;
pub mod serve;
pub mod stats;

use std::sync::atomic::Ordering::Relaxed;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use tokio::sync::watch;

use crate::config::Config;
use crate::timestamp::unix_now_ns;
use crate::docker::{Docker, Endpoint};
use crate::log::Logger;
use crate::queue::{Closed, Queue, Record};
use stats::EngineStats;

/// How long `stop` waits for the engine's thread before giving up on it.
pub const STOP_DEADLINE: Duration = Duration::from_secs(5);
/// How long the tasks get to finish after the shutdown signal.
const TASK_DRAIN_DEADLINE: Duration = Duration::from_secs(2);

/// What the tasks share.
pub struct Shared {
    pub config: Arc<Config>,
    pub docker: Docker,
    pub queue: Queue,
    pub stats: Arc<EngineStats>,
    pub log: Arc<Logger>,
    pub shutdown: watch::Receiver<bool>,
    /// When the capture started (Unix ns): the `since` of `now`.
    pub started_ns: i64,
    /// The position file, with `checkpoint_path`.
    pub checkpoint: Option<Arc<checkpoint::Checkpoint>>,
    /// Bounds how many readers start (inspect, first open) at once.
    pub starting: Arc<tokio::sync::Semaphore>,
    /// Readers whose streams are busy now (see `Reader::follow`).
    pub busy_readers: std::sync::atomic::AtomicUsize,
}

impl Shared {
    /// The Prometheus text exposition of this capture's metrics.
    pub fn metrics_text(&self) -> String {
        let containers = self.stats.containers();
        let (queue_records, queue_bytes) = self.queue.depth();
        self.stats.metrics.render(&metrics::Snapshot {
            containers: &containers,
            now_ns: unix_now_ns(),
            tasks: self.stats.tasks.load(Relaxed),
            fds: stats::open_fds(),
            queue_records,
            queue_bytes,
            backpressure_seconds: self.queue.backpressure_ns.load(Relaxed) as f64 / 1e9,
            daemon_up: self.stats.daemon_reachable.load(Relaxed),
            rotation_interval_seconds: self.config.rotation_interval.as_secs_f64(),
            rotation_jitter: self.config.rotation_jitter,
        })
    }
}

/// Resolves once the shutdown signal is set (or its sender is gone).
pub async fn cancelled(shutdown: &mut watch::Receiver<bool>) {
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Exponential backoff with jitter, and the jittered rotation interval.
pub struct Backoff {
    base: Duration,
    max: Duration,
    current: Duration,
    rng: u64,
}

impl Backoff {
    pub fn new(base: Duration, max: Duration, seed: &str) -> Backoff {
        let mut rng = unix_now_ns() as u64 ^ 0x9E37_79B9_7F4A_7C15;
        for b in seed.bytes() {
            rng = (rng ^ b as u64).wrapping_mul(0x0100_0000_01B3);
        }
        Backoff { base, max, current: base, rng: rng | 1 }
    }

    fn random_unit(&mut self) -> f64 {
        // xorshift64*
        self.rng ^= self.rng >> 12;
        self.rng ^= self.rng << 25;
        self.rng ^= self.rng >> 27;
        (self.rng.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 11) as f64 / (1u64 << 53) as f64
    }

    /// The next wait: the current step, jittered down by up to half.
    pub fn next_delay(&mut self) -> Duration {
        let step = self.current;
        self.current = (self.current * 2).min(self.max);
        step.mul_f64(0.5 + 0.5 * self.random_unit())
    }

    pub fn reset(&mut self) {
        self.current = self.base;
    }

    /// `interval` scaled by a random factor in `1 ± jitter`.
    pub fn jittered(&mut self, interval: Duration, jitter: f64) -> Duration {
        interval.mul_f64(1.0 + jitter * (2.0 * self.random_unit() - 1.0))
    }
}

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

impl Engine {
    /// Starts the engine's thread and runtime. The daemon need not be up:
    /// discovery retries with backoff and recovers by itself.
    pub fn start(config: Config) -> Result<Engine, EngineError> {
        Engine::start_with_log(config, None)
    }

    /// Like `start`, with the log sink in place before anything runs.
    pub fn start_with_log(config: Config, sink: Option<crate::log::Sink>) -> Result<Engine, EngineError> {
        let config = Arc::new(config);
        let (shutdown_tx, shutdown_rx) = watch::channel(false);
        let stats = Arc::new(EngineStats::new(config.metrics_per_container));
        let (checkpoint, checkpoint_warning) = match &config.checkpoint_path {
            None => (None, None),
            Some(path) => {
                let (c, warning) =
                    checkpoint::Checkpoint::open(path, config.checkpoint_on_corrupt).map_err(EngineError::Config)?;
                (Some(Arc::new(c)), warning)
            }
        };
        let shared = Arc::new(Shared {
            checkpoint,
            starting: Arc::new(tokio::sync::Semaphore::new(reader::MAX_STARTING)),
            busy_readers: std::sync::atomic::AtomicUsize::new(0),
            docker: Docker::new(Endpoint::new(config.docker_host.clone()), config.request_timeout),
            queue: Queue::new(config.queue_max_records, config.queue_max_bytes),
            log: Arc::new(Logger::with_sink(config.log_level, sink)),
            stats,
            shutdown: shutdown_rx,
            started_ns: unix_now_ns(),
            config,
        });
        if let Some(warning) = checkpoint_warning {
            shared.log.warn("Position file could not be read; starting afresh.", &[("error", &warning)]);
        }
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| EngineError::Runtime(format!("cannot build the engine's runtime: {e}")))?;
        // Bind here, so a bad `metrics_addr` fails the start with its reason.
        let listener = match shared.config.metrics_addr {
            None => None,
            Some(addr) => {
                let l = std::net::TcpListener::bind(addr)
                    .and_then(|l| l.set_nonblocking(true).map(|_| l))
                    .map_err(|e| EngineError::Config(format!("metrics_addr: cannot listen on {addr}: {e}")))?;
                Some(l)
            }
        };
        let (done_tx, done_rx) = mpsc::channel();
        let task_shared = shared.clone();
        let thread = std::thread::Builder::new()
            .name("log-capturer".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let server = listener
                        .and_then(|l| tokio::net::TcpListener::from_std(l).ok())
                        .map(|l| tokio::spawn(serve::serve_metrics(l, task_shared.clone())));
                    let flusher_shared = task_shared.clone();
                    let flusher =
                        tokio::spawn(
                            async move { flusher_shared.queue.run_flusher(flusher_shared.shutdown.clone()).await },
                        );
                    discovery::run(task_shared, TASK_DRAIN_DEADLINE).await;
                    if let Some(server) = server {
                        let _ = server.await;
                    }
                    let _ = flusher.await;
                });
                runtime.shutdown_timeout(Duration::from_secs(1));
                let _ = done_tx.send(());
            })
            .map_err(|e| EngineError::Runtime(format!("cannot start the engine's thread: {e}")))?;
        Ok(Engine { shared, shutdown: shutdown_tx, thread: Mutex::new(Some((thread, done_rx))) })
    }

    pub fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Takes up to `max` records, waiting at most `timeout` for the first.
    pub fn poll(&self, max: usize, timeout: Duration) -> Result<Vec<Record>, Closed> {
        self.shared.queue.pop(max, timeout)
    }

    /// The host has received (and, through the C ABI, freed) these
    /// records: with `checkpoint_path`, their positions may be saved.
    pub fn acknowledge(&self, records: &[Record]) {
        checkpoint::acknowledge(&self.shared.checkpoint, records, &self.shared.stats);
    }

    /// Wakes every poll blocked now (they return at once, with what is
    /// queued or nothing), without stopping.
    pub fn wake_pollers(&self) {
        self.shared.queue.wake();
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
        let now = unix_now_ns();
        let shared = &self.shared;
        let s = &shared.stats;
        let (depth, depth_bytes) = shared.queue.depth();
        let (max_records, max_bytes) = shared.queue.limits();
        let mut containers: Vec<_> = s.containers().iter().map(|c| c.to_json(now)).collect();
        containers.sort_by(|a, b| a["name"].as_str().cmp(&b["name"].as_str()));
        serde_json::json!({
            "version": env!("CARGO_PKG_VERSION"),
            "docker_host": shared.docker.endpoint.describe(),
            "uptime_seconds": (now - shared.started_ns) as f64 / 1e9,
            "tasks": s.tasks.load(Relaxed),
            "file_descriptors_open": stats::open_fds(),
            "records": s.records.load(Relaxed),
            "bytes": s.bytes.load(Relaxed),
            "queue": {
                "records": depth,
                "bytes": depth_bytes,
                "max_records": max_records,
                "max_bytes": max_bytes,
                "backpressure_seconds": shared.queue.backpressure_ns.load(Relaxed) as f64 / 1e9,
            },
            "daemon": {
                "reachable": s.daemon_reachable.load(Relaxed),
                "errors": s.daemon_errors.load(Relaxed),
                "last_error": s.last_daemon_error(),
                "event_stream_connects": s.events_connects.load(Relaxed),
                "listings": s.listings.load(Relaxed),
            },
            "excluded_containers": s.excluded_names(),
            "containers_gone": s.containers_gone.load(Relaxed),
            "containers": containers,
        })
    }

    /// The Prometheus text exposition of the metrics.
    pub fn metrics_text(&self) -> String {
        self.shared.metrics_text()
    }

    /// A container's identity as JSON (by id, id prefix of 12+, or name).
    pub fn container_json(&self, id_or_name: &str) -> Option<serde_json::Value> {
        self.shared.stats.find(id_or_name).map(|c| c.meta.to_json())
    }
}

impl Drop for Engine {
    fn drop(&mut self) {
        let _ = self.stop();
    }
}
