//! A fault-injecting Unix-socket proxy between the capturer and the real
//! Docker daemon.
//!
//! It runs in the test process on one thread of its own (a current-thread
//! tokio runtime): one task per connection, all of them ended, and the
//! thread joined, when the `Proxy` is dropped. Every connection goes on to
//! the real daemon; the proxy only withholds, delays or cuts what comes back:
//!
//! - `freeze`: the connections open now stop forwarding mid-body (after
//!   half of the next piece of data, so usually inside a frame) and stay
//!   open, silent, until `unfreeze` — or until the client closes them.
//! - `cut`: the connections open now are closed at once (mid-body);
//!   `cut_mid_frame` closes them after half of their next piece of data.
//! - `delay_headers`: requests arriving while the rule is set get no
//!   response bytes until the delay has passed (or the rule is cleared).
//! - `hold_requests`: requests arriving while the rule is set reach the
//!   daemon only once the hold has passed (or the rule is cleared): a
//!   client that asks late.
//! - `requests`: every request seen (method, path, query); `live`: the
//!   connections open now.
//!
//! Rules select connections by `Target`: all, every logs stream, one
//! container's logs streams, or the event stream.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::unix::{ReadHalf, WriteHalf};
use tokio::net::{UnixListener, UnixStream};
use tokio::sync::watch;
use tokio::task::JoinSet;

/// The largest request head the proxy reads.
const MAX_HEAD_BYTES: usize = 64 * 1024;
/// How much is read from the daemon at once.
const CHUNK_BYTES: usize = 64 * 1024;

/// Which requests a rule applies to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// Every request.
    All,
    /// Every `/containers/{id}/logs` request.
    AllLogs,
    /// The `/events` requests.
    Events,
    /// The `/containers/{id}/logs` requests of the container whose id
    /// starts with this.
    Logs(String),
}

/// One request the proxy saw.
#[derive(Debug, Clone)]
pub struct Request {
    pub method: String,
    /// Without the query, as sent (an API version prefix is kept).
    pub path: String,
    /// Without the `?`; empty when there is none.
    pub query: String,
    /// Since the proxy started.
    pub at: Duration,
}

impl Request {
    /// The path without an API version prefix (`/v1.41/…` → `/…`).
    pub fn endpoint(&self) -> &str {
        let p = self.path.as_str();
        if let Some(rest) = p.strip_prefix("/v") {
            if let Some(slash) = rest.find('/') {
                if rest[..slash].chars().all(|c| c.is_ascii_digit() || c == '.') {
                    return &rest[slash..];
                }
            }
        }
        p
    }

    /// The container id of a `/containers/{id}/…` request.
    pub fn container(&self) -> Option<&str> {
        let rest = self.endpoint().strip_prefix("/containers/")?;
        let (id, _) = rest.split_once('/')?;
        Some(id)
    }

    pub fn is_logs(&self) -> bool {
        self.container().is_some() && self.endpoint().ends_with("/logs")
    }

    fn matches(&self, target: &Target) -> bool {
        match target {
            Target::All => true,
            Target::AllLogs => self.is_logs(),
            Target::Events => self.endpoint() == "/events",
            Target::Logs(id) => self.is_logs() && self.container().unwrap().starts_with(id.as_str()),
        }
    }

    /// A query parameter's value.
    pub fn param(&self, key: &str) -> Option<&str> {
        self.query.split('&').filter_map(|kv| kv.split_once('=')).find(|(k, _)| *k == key).map(|(_, v)| v)
    }
}

#[derive(Default)]
struct Rules {
    frozen: HashSet<u64>,
    cut: HashSet<u64>,
    /// Frozen connections to close once their partial write is done.
    cut_after_split: HashSet<u64>,
    delay: Option<(Target, Duration)>,
    hold: Option<(Target, Duration)>,
}

#[derive(Default)]
struct State {
    rules: Mutex<Rules>,
    live: Mutex<HashMap<u64, Request>>,
    /// The most connections open at once.
    peak_live: AtomicUsize,
    log: Mutex<Vec<Request>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A running proxy; dropping it ends every connection and joins its thread.
pub struct Proxy {
    dir: PathBuf,
    socket: PathBuf,
    state: Arc<State>,
    /// Bumped on every rule change: connections look at the rules again.
    changed: watch::Sender<u64>,
    shutdown: watch::Sender<bool>,
    thread: Option<JoinHandle<()>>,
}

impl Proxy {
    /// A proxy in front of the engine under test.
    pub fn start() -> Proxy {
        Proxy::start_to(super::Engine::under_test().socket())
    }

    /// A proxy in front of the daemon listening on `upstream`.
    pub fn start_to(upstream: &Path) -> Proxy {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "lct-proxy-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the proxy's directory");
        let socket = dir.join("proxy.sock");
        let state = Arc::new(State::default());
        let (changed, changed_rx) = watch::channel(0u64);
        let (shutdown, shutdown_rx) = watch::channel(false);
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("the proxy's runtime");
        let listener = {
            let _enter = runtime.enter();
            UnixListener::bind(&socket).expect("bind the proxy socket")
        };
        let upstream = upstream.to_path_buf();
        let task_state = state.clone();
        let thread = std::thread::Builder::new()
            .name("lct-proxy".into())
            .spawn(move || {
                runtime.block_on(accept_loop(listener, upstream, task_state, changed_rx, shutdown_rx));
            })
            .expect("start the proxy's thread");
        Proxy { dir, socket, state, changed, shutdown, thread: Some(thread) }
    }

    /// The `docker_host` that reaches the daemon through this proxy.
    pub fn docker_host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn notify(&self) {
        self.changed.send_modify(|g| *g += 1);
    }

    /// The open connections whose request matches `target`.
    fn live_ids(&self, target: &Target) -> Vec<u64> {
        lock(&self.state.live).iter().filter(|(_, r)| r.matches(target)).map(|(id, _)| *id).collect()
    }

    /// Freezes the matching connections open now; returns how many.
    pub fn freeze(&self, target: Target) -> usize {
        let ids = self.live_ids(&target);
        lock(&self.state.rules).frozen.extend(ids.iter().copied());
        self.notify();
        ids.len()
    }

    /// Lets every frozen connection go on.
    pub fn unfreeze(&self) {
        let mut rules = lock(&self.state.rules);
        rules.frozen.clear();
        rules.cut_after_split.clear();
        drop(rules);
        self.notify();
    }

    /// Closes the matching connections open now; returns how many.
    pub fn cut(&self, target: Target) -> usize {
        let ids = self.live_ids(&target);
        lock(&self.state.rules).cut.extend(ids.iter().copied());
        self.notify();
        ids.len()
    }

    /// Closes the matching connections open now once they have forwarded
    /// half of their next piece of data: a cut inside a frame. Returns how
    /// many. A connection that gets no more data stays frozen.
    pub fn cut_mid_frame(&self, target: Target) -> usize {
        let ids = self.live_ids(&target);
        let mut rules = lock(&self.state.rules);
        rules.frozen.extend(ids.iter().copied());
        rules.cut_after_split.extend(ids.iter().copied());
        drop(rules);
        self.notify();
        ids.len()
    }

    /// Holds the response of every matching request that arrives from now
    /// on for `delay` (or until `clear_delay`).
    pub fn delay_headers(&self, target: Target, delay: Duration) {
        lock(&self.state.rules).delay = Some((target, delay));
        self.notify();
    }

    /// Holds every matching request that arrives from now on for `hold`
    /// (or until `clear_hold`) before it goes to the daemon.
    pub fn hold_requests(&self, target: Target, hold: Duration) {
        lock(&self.state.rules).hold = Some((target, hold));
        self.notify();
    }

    pub fn clear_hold(&self) {
        lock(&self.state.rules).hold = None;
        self.notify();
    }

    pub fn clear_delay(&self) {
        lock(&self.state.rules).delay = None;
        self.notify();
    }

    /// Every request seen so far, in arrival order.
    pub fn requests(&self) -> Vec<Request> {
        lock(&self.state.log).clone()
    }

    /// The most connections open at once so far.
    pub fn peak_live(&self) -> usize {
        self.state.peak_live.load(Ordering::Relaxed)
    }

    /// How many connections matching `target` are open now.
    pub fn live(&self, target: &Target) -> usize {
        self.live_ids(target).len()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

async fn accept_loop(
    listener: UnixListener,
    upstream: PathBuf,
    state: Arc<State>,
    changed: watch::Receiver<u64>,
    mut shutdown: watch::Receiver<bool>,
) {
    let started = Instant::now();
    let mut connections = JoinSet::new();
    let mut next_id = 0u64;
    loop {
        tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => break,
            // Reap finished connections as they end.
            Some(_) = connections.join_next(), if !connections.is_empty() => {}
            accepted = listener.accept() => {
                let Ok((client, _)) = accepted else { continue };
                next_id += 1;
                connections.spawn(serve(
                    next_id,
                    client,
                    upstream.clone(),
                    state.clone(),
                    changed.clone(),
                    started,
                ));
            }
        }
    }
    // Dropping the set aborts every connection (and closes its sockets).
    connections.shutdown().await;
}

/// Removes a connection from the live table when its task ends.
struct LiveGuard(Arc<State>, u64);

impl Drop for LiveGuard {
    fn drop(&mut self) {
        lock(&self.0.live).remove(&self.1);
        let mut rules = lock(&self.0.rules);
        rules.frozen.remove(&self.1);
        rules.cut.remove(&self.1);
        rules.cut_after_split.remove(&self.1);
    }
}

/// Reads the request head; `None` when the client went away first.
async fn read_head(client: &mut UnixStream) -> Option<Vec<u8>> {
    let mut head = Vec::with_capacity(1024);
    let mut buf = [0u8; 4096];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        if head.len() > MAX_HEAD_BYTES {
            return None;
        }
        let n = client.read(&mut buf).await.ok()?;
        if n == 0 {
            return None;
        }
        head.extend_from_slice(&buf[..n]);
    }
    Some(head)
}

fn parse_request(head: &[u8], at: Duration) -> Request {
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut parts = line.split(' ');
    let method = parts.next().unwrap_or("").to_string();
    let target = parts.next().unwrap_or("");
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    Request { method, path: path.to_string(), query: query.to_string(), at }
}

/// Serves one connection: hold, then the daemon, then delay, then the byte pump.
async fn serve(
    id: u64,
    mut client: UnixStream,
    upstream: PathBuf,
    state: Arc<State>,
    mut changed: watch::Receiver<u64>,
    started: Instant,
) {
    let Some(head) = read_head(&mut client).await else {
        return;
    };
    let arrived = tokio::time::Instant::now();
    let (request, _live) = register(id, &head, &state, started);
    // The delay in force when the request arrived (re-checked on changes:
    // clearing the rule releases it).
    let delay = lock(&state.rules).delay.as_ref().filter(|(t, _)| request.matches(t)).map(|(_, d)| *d);
    let hold = lock(&state.rules).hold.as_ref().filter(|(t, _)| request.matches(t)).map(|(_, d)| *d);
    if let Some(hold) = hold {
        if !wait_hold(&state, &request, arrived + hold, &mut changed, &mut client).await {
            return;
        }
    }

    let Ok(mut daemon) = UnixStream::connect(&upstream).await else {
        return;
    };
    if daemon.write_all(&head).await.is_err() {
        return;
    }
    let (daemon_rx, daemon_tx) = daemon.split();
    let (client_rx, client_tx) = client.split();
    let mut halves = Halves { client_rx, client_tx, daemon_rx, daemon_tx };

    if let Some(delay) = delay {
        if !wait_delay(id, &state, &request, arrived + delay, &mut changed, &mut halves).await {
            return;
        }
    }
    pump(id, &state, &mut changed, &mut halves).await;
}

/// Both ends of a proxied connection, each split into its read and write halves.
struct Halves<'a> {
    client_rx: ReadHalf<'a>,
    client_tx: WriteHalf<'a>,
    daemon_rx: ReadHalf<'a>,
    daemon_tx: WriteHalf<'a>,
}

/// Logs the request and enters the connection in the live table, until the returned guard drops.
fn register(id: u64, head: &[u8], state: &Arc<State>, started: Instant) -> (Request, LiveGuard) {
    let request = parse_request(head, started.elapsed());
    lock(&state.log).push(request.clone());
    {
        let mut live = lock(&state.live);
        live.insert(id, request.clone());
        state.peak_live.fetch_max(live.len(), Ordering::Relaxed);
    }
    (request, LiveGuard(state.clone(), id))
}

/// Withholds the response until `until` or the delay rule is cleared; false when cut or gone.
async fn wait_delay(
    id: u64,
    state: &State,
    request: &Request,
    until: tokio::time::Instant,
    changed: &mut watch::Receiver<u64>,
    halves: &mut Halves<'_>,
) -> bool {
    let Halves { client_rx, daemon_tx, .. } = halves;
    let mut from_client = [0u8; 1024];
    loop {
        if lock(&state.rules).cut.contains(&id) {
            return false;
        }
        let still = lock(&state.rules).delay.as_ref().is_some_and(|(t, _)| request.matches(t));
        if !still || tokio::time::Instant::now() >= until {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {}
            r = changed.changed() => if r.is_err() { return false },
            r = client_rx.read(&mut from_client) => match r {
                Ok(0) | Err(_) => return false,
                Ok(n) => if daemon_tx.write_all(&from_client[..n]).await.is_err() { return false },
            },
        }
    }
}

/// Forwards bytes both ways until an end or a cut, under the freeze, split and cut rules.
async fn pump(id: u64, state: &State, changed: &mut watch::Receiver<u64>, halves: &mut Halves<'_>) {
    let Halves { client_rx, client_tx, daemon_rx, daemon_tx } = halves;
    let mut from_client = [0u8; 1024];
    // Bytes from the daemon not yet written to the client.
    let mut out: Vec<u8> = Vec::with_capacity(CHUNK_BYTES);
    let mut chunk = vec![0u8; CHUNK_BYTES];
    let mut daemon_done = false;
    // While frozen: what may still be written (half of the next data).
    let mut budget = 0usize;
    let mut split_done = false;
    loop {
        let (frozen, cut, cut_after_split) = {
            let rules = lock(&state.rules);
            (rules.frozen.contains(&id), rules.cut.contains(&id), rules.cut_after_split.contains(&id))
        };
        if cut || (frozen && cut_after_split && split_done && budget == 0) {
            return;
        }
        if !frozen {
            split_done = false;
            if daemon_done && out.is_empty() {
                let _ = client_tx.shutdown().await;
                return;
            }
        } else if !split_done && !out.is_empty() {
            budget = out.len() / 2;
            split_done = true;
        }
        let writable = if frozen { budget.min(out.len()) } else { out.len() };
        let readable = out.is_empty() && !daemon_done && !(frozen && split_done);
        tokio::select! {
            r = changed.changed() => if r.is_err() { return },
            r = client_rx.read(&mut from_client) => match r {
                // The client closed: so does the proxy, on both sides.
                Ok(0) | Err(_) => return,
                Ok(n) => if daemon_tx.write_all(&from_client[..n]).await.is_err() { return },
            },
            r = client_tx.write(&out[..writable]), if writable > 0 => match r {
                Ok(n) if n > 0 => {
                    out.drain(..n);
                    if frozen {
                        budget -= n;
                    }
                }
                _ => return,
            },
            r = daemon_rx.read(&mut chunk), if readable => match r {
                Ok(0) | Err(_) => daemon_done = true,
                Ok(n) => {
                    out.extend_from_slice(&chunk[..n]);
                    if frozen && !split_done {
                        budget = n / 2;
                        split_done = true;
                    }
                }
            },
        }
    }
}

/// Waits until `until` or until the hold rule no longer applies; false
/// when the client went away meanwhile.
async fn wait_hold(
    state: &State,
    request: &Request,
    until: tokio::time::Instant,
    changed: &mut watch::Receiver<u64>,
    client: &mut UnixStream,
) -> bool {
    let mut probe = [0u8; 1];
    loop {
        let still = lock(&state.rules).hold.as_ref().is_some_and(|(t, _)| request.matches(t));
        if !still || tokio::time::Instant::now() >= until {
            return true;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(until) => {}
            r = changed.changed() => if r.is_err() { return false },
            r = client.read(&mut probe) => if matches!(r, Ok(0) | Err(_)) { return false },
        }
    }
}
