//! The bounded queue between the readers (async, on the engine's runtime)
//! and the host's poll (a plain blocking call on the host's thread).
//!
//! Bounded by records and by message bytes, and fair between containers
//! (`fair.rs`): the host takes them in turn, and a container holding more
//! than its share waits while the others go on. A reader without room
//! waits instead of reading: the daemon keeps the log on disk, so nothing
//! is lost (lossless backpressure). A poll waits at most its timeout, and
//! closing the queue wakes every waiter on both sides. The async waits
//! here are cancel-safe: the engine ends them by dropping them at shutdown.

mod fair;

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use tokio::sync::Notify;

use crate::record::Record;
use fair::FairQueue;

struct State {
    records: FairQueue,
    pollers_waiting: usize,
    /// Bumped by `wake`: waiting polls return empty.
    wakes: u64,
    /// Records came for a waiting poll that was not woken yet.
    wake_pending: bool,
    closed: bool,
}

/// A waiting poll is woken at once when this many records are queued.
const WAKE_BATCH: usize = 1024;
/// Fewer records wake a waiting poll this long after the first of them
/// (`run_flusher`): one wake-up per batch, not per chunk the daemon writes.
const WAKE_LINGER: Duration = Duration::from_millis(1);

/// Why a push or poll ended without its records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Closed;

pub struct Queue {
    state: Mutex<State>,
    not_empty: Condvar,
    room: Notify,
    /// Records wait for a poll: the flusher wakes it after `WAKE_LINGER`.
    linger: Notify,
    max_records: usize,
    max_bytes: usize,
    /// Nanoseconds readers spent waiting for room.
    pub backpressure_ns: AtomicU64,
}

impl Queue {
    pub fn new(max_records: usize, max_bytes: usize) -> Queue {
        let state = State {
            records: FairQueue::new(max_records, max_bytes),
            pollers_waiting: 0,
            wakes: 0,
            wake_pending: false,
            closed: false,
        };
        Queue {
            state: Mutex::new(state),
            not_empty: Condvar::new(),
            room: Notify::new(),
            linger: Notify::new(),
            max_records,
            max_bytes,
            backpressure_ns: AtomicU64::new(0),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Nothing here panics on any input; should a panic happen anyway
        // while the lock is held, later calls go on rather than fail.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Moves records from the front of `pending` while there is room for
    /// their container. Returns true when `pending` is empty.
    fn try_push(&self, pending: &mut VecDeque<Record>) -> Result<bool, Closed> {
        let mut state = self.lock();
        if state.closed {
            return Err(Closed);
        }
        state.records.push_from(pending);
        // Wake a waiting poll once there is a batch worth taking; smaller
        // amounts wait `WAKE_LINGER` for more (the flusher), so a poll takes
        // what a busy stream produced meanwhile in one wake-up.
        if state.pollers_waiting > 0 && !state.records.is_empty() {
            if state.records.len() >= WAKE_BATCH.min(self.max_records) {
                state.wake_pending = false;
                self.not_empty.notify_all();
            } else if !state.wake_pending {
                state.wake_pending = true;
                self.linger.notify_one();
            }
        }
        Ok(pending.is_empty())
    }

    /// Pushes every record, waiting for room as long as needed (room in
    /// the queue, and under its container's share); returns `Closed` when
    /// the queue closes first. `waiting` is told when a wait
    /// for room begins (true) and ends (false). Records pushed before the
    /// future is dropped stay pushed; the rest stay in `pending`.
    pub async fn push_all(&self, pending: &mut VecDeque<Record>, mut waiting: impl FnMut(bool)) -> Result<(), Closed> {
        let mut waited_since: Option<Instant> = None;
        let result = loop {
            let room = self.room.notified();
            tokio::pin!(room);
            room.as_mut().enable();
            match self.try_push(pending) {
                Err(Closed) => break Err(Closed),
                Ok(true) => break Ok(()),
                Ok(false) => {}
            }
            if waited_since.is_none() {
                waited_since = Some(Instant::now());
                waiting(true);
            }
            room.as_mut().await;
        };
        if let Some(t) = waited_since {
            self.backpressure_ns.fetch_add(t.elapsed().as_nanos() as u64, Ordering::Relaxed);
            waiting(false);
        }
        result
    }

    /// Takes up to `max` records, waiting at most `timeout` for the first;
    /// containers take turns (`fair.rs`). An empty vector means the
    /// timeout passed; `Closed` means stopped.
    pub fn pop(&self, max: usize, timeout: Duration) -> Result<Vec<Record>, Closed> {
        let deadline = Instant::now().checked_add(timeout);
        let mut state = self.lock();
        let wakes = state.wakes;
        loop {
            if state.closed {
                return Err(Closed);
            }
            if state.wakes != wakes {
                return Ok(Vec::new());
            }
            if !state.records.is_empty() {
                let taken = state.records.take(max);
                drop(state);
                self.room.notify_waiters();
                return Ok(taken);
            }
            let left = match deadline {
                Some(d) => d.saturating_duration_since(Instant::now()),
                None => Duration::from_secs(3600),
            };
            if left.is_zero() {
                return Ok(Vec::new());
            }
            state.pollers_waiting += 1;
            let (next, _) = self.not_empty.wait_timeout(state, left).unwrap_or_else(|e| e.into_inner());
            state = next;
            state.pollers_waiting -= 1;
        }
    }

    /// Wakes, `WAKE_LINGER` after the first of them, a poll waiting for
    /// records that did not make a whole batch. Runs on the engine's runtime
    /// until dropped.
    pub async fn run_flusher(&self) {
        loop {
            self.linger.notified().await;
            tokio::time::sleep(WAKE_LINGER).await;
            let mut state = self.lock();
            if std::mem::take(&mut state.wake_pending) && state.pollers_waiting > 0 && !state.records.is_empty() {
                self.not_empty.notify_all();
            }
        }
    }

    /// Wakes every poll waiting now: each returns what is queued, or
    /// nothing, at once. The queue stays open.
    pub fn wake(&self) {
        let mut state = self.lock();
        state.wakes += 1;
        drop(state);
        self.not_empty.notify_all();
    }

    /// Closes the queue: waiting polls and pushes return at once, and the
    /// records still queued are dropped.
    pub fn close(&self) {
        let mut state = self.lock();
        state.closed = true;
        state.records.clear();
        drop(state);
        self.not_empty.notify_all();
        self.room.notify_waiters();
    }

    pub fn is_closed(&self) -> bool {
        self.lock().closed
    }

    /// (records, bytes) waiting for the host.
    pub fn depth(&self) -> (usize, usize) {
        let state = self.lock();
        (state.records.len(), state.records.bytes())
    }

    /// How many containers have records waiting.
    pub fn containers_waiting(&self) -> usize {
        self.lock().records.containers()
    }

    pub fn limits(&self) -> (usize, usize) {
        (self.max_records, self.max_bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Stream;
    use crate::record::ContainerMeta;
    use bytes::Bytes;
    use std::sync::Arc;

    fn record(meta: &Arc<ContainerMeta>, len: usize) -> Record {
        Record {
            container: meta.clone(),
            stream: Stream::Stdout,
            ts_ns: 1,
            mark: Default::default(),
            flags: 0,
            message: Bytes::from(vec![b'x'; len]),
        }
    }

    #[test]
    fn bounds_hold_and_an_empty_queue_takes_one_large_record() {
        let meta = Arc::new(ContainerMeta::for_tests("c1", "one"));
        let q = Queue::new(3, 100);
        let mut pending: VecDeque<Record> = (0..5).map(|_| record(&meta, 10)).collect();
        assert_eq!(q.try_push(&mut pending), Ok(false));
        assert_eq!(q.depth(), (3, 30));
        let got = q.pop(2, Duration::ZERO).unwrap();
        assert_eq!(got.len(), 2);
        assert_eq!(q.try_push(&mut pending), Ok(true));
        assert_eq!(q.depth(), (3, 30));
        q.pop(10, Duration::ZERO).unwrap();
        let mut big: VecDeque<Record> = [record(&meta, 500)].into_iter().collect();
        assert_eq!(q.try_push(&mut big), Ok(true));
    }

    #[test]
    fn a_container_over_its_share_waits_while_another_goes_on_and_close_ends_the_wait() {
        let (flood, quiet) =
            (Arc::new(ContainerMeta::for_tests("f", "flood")), Arc::new(ContainerMeta::for_tests("q", "quiet")));
        let q = Arc::new(Queue::new(160, 1 << 20));
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        rt.block_on(async {
            let waits = Arc::new(Mutex::new(Vec::new()));
            let flooding = {
                let (q, waits, flood) = (q.clone(), waits.clone(), flood.clone());
                tokio::spawn(async move {
                    let mut pending: VecDeque<Record> = (0..1_000).map(|_| record(&flood, 10)).collect();
                    let result = q.push_all(&mut pending, |w| waits.lock().unwrap().push(w)).await;
                    (result, pending.len())
                })
            };
            while q.depth().0 < 150 {
                tokio::task::yield_now().await;
            }
            assert_eq!(*waits.lock().unwrap(), [true]);
            // The queue is full but for its reserve: another container's
            // record goes in at once, and the flood stays over its share.
            let mut one: VecDeque<Record> = [record(&quiet, 10)].into_iter().collect();
            q.push_all(&mut one, |_| panic!("the quiet container waited")).await.unwrap();
            assert_eq!((q.depth().0, q.containers_waiting()), (151, 2));
            let taken = q.pop(200, Duration::ZERO).unwrap();
            assert!(taken.iter().any(|r| r.container.name_str() == "quiet"));
            // Room again: the flood goes on, then waits again.
            while q.depth().0 < 150 {
                tokio::task::yield_now().await;
            }
            q.close();
            let (result, left) = flooding.await.unwrap();
            assert_eq!(result, Err(Closed));
            assert_eq!(left, 1_000 - 150 - 150);
            assert_eq!(*waits.lock().unwrap(), [true, false]);
        });
    }

    #[test]
    fn wake_returns_a_waiting_poll_empty_and_keeps_the_queue_open() {
        let q = Arc::new(Queue::new(10, 1000));
        let q2 = q.clone();
        let waiter = std::thread::spawn(move || q2.pop(10, Duration::from_secs(60)));
        while q.lock().pollers_waiting == 0 {
            std::thread::yield_now();
        }
        q.wake();
        assert_eq!(waiter.join().unwrap().map(|r| r.len()), Ok(0));
        assert!(!q.is_closed());
    }

    #[test]
    fn pop_times_out_and_close_wakes_it() {
        let q = Arc::new(Queue::new(10, 1000));
        let started = Instant::now();
        assert!(q.pop(10, Duration::from_millis(50)).unwrap().is_empty());
        assert!(started.elapsed() >= Duration::from_millis(50));
        let q2 = q.clone();
        let waiter = std::thread::spawn(move || q2.pop(10, Duration::from_secs(60)));
        while q.lock().pollers_waiting == 0 {
            std::thread::yield_now();
        }
        q.close();
        assert!(matches!(waiter.join().unwrap(), Err(Closed)));
    }
    #[test]
    fn a_waiting_poll_gets_a_few_records_from_the_flusher_and_a_batch_at_once() {
        let meta = Arc::new(ContainerMeta::for_tests("c1", "one"));
        let q = Arc::new(Queue::new(10_000, 1 << 20));
        let sizes = [3, WAKE_BATCH];
        // The engine's side: a runtime with the flusher, pushing each batch
        // once a poll waits.
        let engine = {
            let q = q.clone();
            std::thread::spawn(move || {
                let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
                rt.block_on(async {
                    let flusher = {
                        let q = q.clone();
                        tokio::spawn(async move { q.run_flusher().await })
                    };
                    for n in sizes {
                        while q.lock().pollers_waiting == 0 {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                        let mut pending: VecDeque<Record> = (0..n).map(|_| record(&meta, 10)).collect();
                        assert_eq!(q.try_push(&mut pending), Ok(true));
                        while q.depth().0 > 0 {
                            tokio::time::sleep(Duration::from_millis(1)).await;
                        }
                    }
                    flusher.abort();
                    assert!(flusher.await.unwrap_err().is_cancelled());
                });
            })
        };
        for n in sizes {
            let started = Instant::now();
            let got = q.pop(usize::MAX, Duration::from_secs(30)).unwrap().len();
            // Not the poll's 30 s timeout: woken by the flusher (a few
            // records) or by the push itself (a batch).
            let waited = started.elapsed();
            assert!(got == n && waited < Duration::from_secs(10), "{n}: got {got} after {waited:?}");
        }
        engine.join().unwrap();
    }
}
