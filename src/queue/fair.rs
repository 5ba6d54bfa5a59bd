//! The records waiting for the host, one sub-queue per container, so that
//! a container that writes much cannot delay the others:
//!
//! - **Turns.** The host takes records in deficit round-robin by bytes:
//!   each container with records waiting gets `QUANTUM` bytes a turn, in
//!   turn, so a quiet container's line waits for at most one turn of each
//!   other container, never behind a flood's backlog.
//! - **Shares.** The bounds (records and bytes) are global, and each
//!   container may hold at most its share of them: the bounds divided by
//!   the containers holding records. A sixteenth of the bounds is kept for
//!   the first record of a container that has nothing queued, so however
//!   full a flood keeps the queue, another container's line goes in at
//!   once (and is taken at its next turn); the flood, now over its share,
//!   waits until it is back under it. The first record of a container goes
//!   whenever the global bounds allow, and into an empty queue whatever
//!   its size, so no record can be stuck.
//!
//! Within a container, records leave in the order they came (so each
//! stream's order holds). A sub-queue exists only while it holds records:
//! memory follows what is queued, not how many containers there were.

use std::collections::{HashMap, VecDeque};
use std::hash::{Hash, Hasher};
use std::sync::Arc;

use crate::record::{ContainerMeta, Record};

/// Bytes a container may take in one turn.
const QUANTUM: usize = 16 * 1024;
/// The part of the bounds kept for first records (1/16).
const RESERVE_SHIFT: u32 = 4;
/// What a record costs besides its message (about the size of its entry in
/// a batch), so a flood of empty lines is shared out too.
const RECORD_COST: usize = 64;

fn cost(record: &Record) -> usize {
    record.message.len() + RECORD_COST
}

/// A container, compared and hashed by its id.
#[derive(Clone)]
struct Container(Arc<ContainerMeta>);

impl Container {
    fn is(&self, meta: &Arc<ContainerMeta>) -> bool {
        Arc::ptr_eq(&self.0, meta) || self.0.id == meta.id
    }
}

impl PartialEq for Container {
    fn eq(&self, other: &Container) -> bool {
        self.is(&other.0)
    }
}

impl Eq for Container {}

impl Hash for Container {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.id.hash(state);
    }
}

/// One container's records, in the order they came.
#[derive(Default)]
struct Sub {
    records: VecDeque<Record>,
    bytes: usize,
    /// Bytes it may still take in its turn (kept from one turn to the next
    /// while its first record costs more).
    deficit: usize,
}

/// How serving a container's turn ended.
enum TurnEnd {
    /// It has nothing left.
    Emptied,
    /// Its next record costs more than its deficit: the next one's turn.
    Spent,
    /// The batch is full; its turn goes on at the next take.
    BatchFull,
}

impl Sub {
    /// Moves records into `out` (up to `max` in all) while the deficit
    /// pays for them; `alone`, there is no one to take turns with. Returns
    /// how the turn ended and the message bytes moved.
    fn serve(&mut self, out: &mut Vec<Record>, max: usize, alone: bool) -> (TurnEnd, usize) {
        let before = self.bytes;
        let end = loop {
            let Some(next) = self.records.front() else {
                break TurnEnd::Emptied;
            };
            if out.len() >= max {
                break TurnEnd::BatchFull;
            }
            let cost = cost(next);
            if !alone {
                if cost > self.deficit {
                    break TurnEnd::Spent;
                }
                self.deficit -= cost;
            }
            let record = self.records.pop_front().expect("a first record");
            self.bytes -= record.message.len();
            out.push(record);
        };
        (end, before - self.bytes)
    }
}

/// The bounds a container may fill.
#[derive(Clone, Copy)]
struct Share {
    records: usize,
    bytes: usize,
}

pub struct FairQueue {
    subs: HashMap<Container, Sub>,
    /// The containers holding records, in turn order; the first is served.
    turns: VecDeque<Container>,
    /// The first container's turn has begun (its quantum was given).
    turn_begun: bool,
    records: usize,
    bytes: usize,
    max_records: usize,
    max_bytes: usize,
}

impl FairQueue {
    pub fn new(max_records: usize, max_bytes: usize) -> FairQueue {
        FairQueue {
            subs: HashMap::new(),
            turns: VecDeque::new(),
            turn_begun: false,
            records: 0,
            bytes: 0,
            max_records,
            max_bytes,
        }
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        self.records
    }

    pub fn is_empty(&self) -> bool {
        self.records == 0
    }

    /// Message bytes waiting.
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Containers with records waiting.
    pub fn containers(&self) -> usize {
        self.subs.len()
    }

    /// Moves records from the front of `pending` while their containers
    /// have room (see "Shares"); stops at the first that has none.
    pub fn push_from(&mut self, pending: &mut VecDeque<Record>) {
        while let Some(first) = pending.front() {
            let container = Container(first.container.clone());
            if self.push_run(container, pending) == 0 {
                return;
            }
        }
    }

    /// Moves the records of `container` at the front of `pending` while it
    /// has room. Returns how many moved.
    fn push_run(&mut self, container: Container, pending: &mut VecDeque<Record>) -> usize {
        let existing = self.subs.remove(&container);
        let is_new = existing.is_none();
        let mut sub = existing.unwrap_or_default();
        // The containers holding records once this one does.
        let holders = self.subs.len() + 1;
        let share = Share { records: self.max_records / holders, bytes: self.max_bytes / holders };
        let mut moved = 0;
        while let Some(record) = pending.front() {
            if !container.is(&record.container) || !self.admits(&sub, record.message.len(), share) {
                break;
            }
            let record = pending.pop_front().expect("a first record");
            let len = record.message.len();
            sub.bytes += len;
            self.bytes += len;
            self.records += 1;
            sub.records.push_back(record);
            moved += 1;
        }
        if !sub.records.is_empty() {
            if is_new {
                self.turns.push_back(container.clone());
            }
            self.subs.insert(container, sub);
        }
        moved
    }

    /// Whether a container holding `sub` may add a record of `len` bytes.
    fn admits(&self, sub: &Sub, len: usize, share: Share) -> bool {
        let (records, bytes) = (self.records + 1, self.bytes + len);
        if sub.records.is_empty() {
            // A container's first record goes whenever the bounds allow,
            // and into an empty queue whatever its size.
            return (records <= self.max_records && bytes <= self.max_bytes) || self.records == 0;
        }
        let outside_reserve = records <= self.max_records - (self.max_records >> RESERVE_SHIFT)
            && bytes <= self.max_bytes - (self.max_bytes >> RESERVE_SHIFT);
        outside_reserve && sub.records.len() < share.records && sub.bytes + len <= share.bytes
    }

    /// Takes up to `max` records, container by container in turn.
    pub fn take(&mut self, max: usize) -> Vec<Record> {
        let mut out = Vec::with_capacity(max.min(self.records));
        while out.len() < max {
            let Some(container) = self.turns.front() else {
                break;
            };
            let alone = self.turns.len() == 1;
            let sub = self.subs.get_mut(container).expect("every container in turn has records");
            if !self.turn_begun {
                sub.deficit += QUANTUM;
                self.turn_begun = true;
            }
            let before = out.len();
            let (end, bytes) = sub.serve(&mut out, max, alone);
            self.records -= out.len() - before;
            self.bytes -= bytes;
            match end {
                TurnEnd::Emptied => {
                    let container = self.turns.pop_front().expect("a first container");
                    self.subs.remove(&container);
                    self.turn_begun = false;
                }
                TurnEnd::Spent => {
                    self.turns.rotate_left(1);
                    self.turn_begun = false;
                }
                TurnEnd::BatchFull => break,
            }
        }
        out
    }

    /// Drops every record.
    pub fn clear(&mut self) {
        self.subs.clear();
        self.turns.clear();
        self.turn_begun = false;
        self.records = 0;
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::frame::Stream;
    use bytes::Bytes;

    fn meta(id: &str) -> Arc<ContainerMeta> {
        Arc::new(ContainerMeta::for_tests(id, id))
    }

    /// A record of `len` bytes whose message is `tag` padded with dots.
    fn record(meta: &Arc<ContainerMeta>, stream: Stream, tag: &str, len: usize) -> Record {
        let mut message = tag.as_bytes().to_vec();
        message.resize(len.max(tag.len()), b'.');
        Record { container: meta.clone(), stream, ts_ns: 1, mark: Default::default(), flags: 0, message: Bytes::from(message) }
    }

    fn records(meta: &Arc<ContainerMeta>, n: usize, len: usize) -> VecDeque<Record> {
        (0..n).map(|i| record(meta, Stream::Stdout, &i.to_string(), len)).collect()
    }

    fn tags(records: &[Record]) -> Vec<String> {
        records
            .iter()
            .map(|r| format!("{}:{}", r.container.id_str(), String::from_utf8_lossy(&r.message).trim_end_matches('.')))
            .collect()
    }

    #[test]
    fn a_quiet_container_goes_before_a_floods_backlog() {
        let (flood, quiet) = (meta("flood"), meta("quiet"));
        let mut q = FairQueue::new(100_000, 1 << 30);
        q.push_from(&mut records(&flood, 10_000, 100));
        q.push_from(&mut [record(&quiet, Stream::Stdout, "hello", 5)].into());
        // One turn of the flood (QUANTUM bytes), then the quiet line.
        let first = q.take(1_000);
        let at = first.iter().position(|r| r.container.id_str() == "quiet").expect("the quiet line in the first batch");
        assert_eq!(at, QUANTUM / (100 + RECORD_COST));
    }

    #[test]
    fn turns_share_bytes_equally_whatever_the_record_sizes() {
        let (small, large) = (meta("small"), meta("large"));
        let mut q = FairQueue::new(1 << 20, 1 << 30);
        q.push_from(&mut records(&small, 20_000, 36)); // 100 bytes a record with its cost
        q.push_from(&mut records(&large, 2_000, 936)); // 1000 bytes a record
        let taken = q.take(11_000);
        let bytes = |id: &str| taken.iter().filter(|r| r.container.id_str() == id).map(cost).sum::<usize>() as f64;
        let ratio = bytes("small") / bytes("large");
        assert!((0.9..1.1).contains(&ratio), "small {} vs large {} bytes", bytes("small"), bytes("large"));
    }

    #[test]
    fn order_holds_within_each_container_and_stream() {
        let (a, b) = (meta("a"), meta("b"));
        let mut q = FairQueue::new(1 << 20, 1 << 30);
        let mut want: HashMap<(String, Stream), Vec<String>> = HashMap::new();
        for i in 0..3_000 {
            let (m, stream) = [(&a, Stream::Stdout), (&a, Stream::Stderr), (&b, Stream::Stdout)][i % 3];
            let r = record(m, stream, &i.to_string(), 10 + i % 300);
            want.entry((m.id_str().into(), stream)).or_default().push(i.to_string());
            q.push_from(&mut [r].into());
        }
        let mut got: HashMap<(String, Stream), Vec<String>> = HashMap::new();
        // Odd batch sizes: turns carry over from one take to the next.
        for max in (1..).step_by(7) {
            let batch = q.take(max);
            if batch.is_empty() {
                break;
            }
            for r in batch {
                let text = String::from_utf8_lossy(&r.message).trim_end_matches('.').to_string();
                got.entry((r.container.id_str().into(), r.stream)).or_default().push(text);
            }
        }
        assert_eq!(got, want);
        assert_eq!((q.len(), q.bytes(), q.containers()), (0, 0, 0));
    }

    #[test]
    fn global_bounds_hold_and_a_flood_leaves_room_for_others() {
        let (max_records, max_bytes) = (1_600, 160_000);
        let mut q = FairQueue::new(max_records, max_bytes);
        let flood = meta("flood");
        let mut pending = records(&flood, 5_000, 10);
        q.push_from(&mut pending);
        // Alone, it fills all but the reserve.
        assert_eq!(q.len(), 1_500);
        let others: Vec<_> = (0..100).map(|i| meta(&format!("c{i}"))).collect();
        let mut backlog: Vec<VecDeque<Record>> = others.iter().map(|m| records(m, 5_000, 10)).collect();
        for pending in &mut backlog {
            q.push_from(pending);
            assert!(q.len() <= max_records && q.bytes() <= max_bytes);
        }
        // Each container got its first record in, from the reserve.
        assert!(backlog.iter().all(|p| p.len() == 4_999));
        assert_eq!(q.len(), max_records);
        // The flood, over its share now, waits while the others drain;
        // they go on as there is room.
        let flood_before = pending.len();
        q.take(300);
        for pending in backlog.iter_mut().chain([&mut pending]) {
            q.push_from(pending);
            assert!(q.len() <= max_records && q.bytes() <= max_bytes);
        }
        assert_eq!(pending.len(), flood_before);
        assert!(backlog.iter().any(|p| p.len() < 4_999));
        // The bytes bound too: large records.
        let big = meta("big");
        let mut q = FairQueue::new(max_records, max_bytes);
        q.push_from(&mut records(&big, 100, 10_000));
        assert_eq!(q.bytes(), 150_000);
    }

    #[test]
    fn a_record_larger_than_a_share_still_goes() {
        let (a, b) = (meta("a"), meta("b"));
        let mut q = FairQueue::new(10, 1_000);
        q.push_from(&mut records(&a, 2, 300));
        // `b`'s share is 500 bytes; its first record is bigger and goes
        // because the global bound allows it; its second does not.
        let mut pending = records(&b, 2, 400);
        q.push_from(&mut pending);
        assert_eq!(pending.len(), 1);
        // Into an empty queue, any one record goes.
        q.clear();
        let mut huge = records(&a, 2, 5_000);
        q.push_from(&mut huge);
        assert_eq!((q.len(), huge.len()), (1, 1));
        assert_eq!(q.take(10).len(), 1);
        assert!(q.take(10).is_empty());
    }

    #[test]
    fn a_large_record_waits_for_turns_not_forever() {
        let (big, small) = (meta("big"), meta("small"));
        let mut q = FairQueue::new(1 << 20, 1 << 30);
        q.push_from(&mut records(&small, 100_000, 36));
        q.push_from(&mut [record(&big, Stream::Stdout, "big", 10 * QUANTUM)].into());
        // It needs ten turns' deficit: ten quanta of the small one go first.
        let taken = q.take(100_000);
        let at = taken.iter().position(|r| r.container.id_str() == "big").unwrap();
        let before: usize = taken[..at].iter().map(cost).sum();
        assert!((9 * QUANTUM..=11 * QUANTUM).contains(&before), "{before}");
        assert_eq!(tags(&taken[at..at + 1]), ["big:big"]);
    }
}
