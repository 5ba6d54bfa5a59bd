//! The position file (`checkpoint_path`): each container's per-stream
//! watermarks, advanced only past records the host has received and freed,
//! written atomically (`file.rs`).
//!
//! A capture started again with the same file resumes every container
//! where the host stopped receiving: nothing written while it was down is
//! lost, nothing before is repeated. A container keeps its entry while it
//! exists, stopped or not, and loses it when it is destroyed (or found
//! gone), for good: records of it that the host acknowledges later do not
//! bring it back.
//!
//! One capture at a time may use a file: it holds an exclusive lock on
//! `<path>.lock` while it runs.

mod entry;
mod file;

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use crate::config::OnCorrupt;
use crate::position::Position;
use crate::record::Record;
use entry::{later, Entry, Mark};

/// How many forgotten containers are remembered as such (what a host may
/// still hold batches of).
const FORGOTTEN_MAX: usize = 4096;

/// The position file of a running capture.
pub struct Checkpoint {
    path: PathBuf,
    entries: Mutex<BTreeMap<String, Entry>>,
    dirty: AtomicBool,
    /// Set after the final write: later acknowledgements are not kept.
    closed: AtomicBool,
    /// Holds `<path>.lock` until `close`.
    lock: Mutex<Option<File>>,
    /// Containers forgotten lately (bounded, oldest dropped first).
    forgotten: Mutex<Forgotten>,
}

/// A bounded set, oldest out first.
#[derive(Default)]
struct Forgotten {
    ids: HashSet<String>,
    order: VecDeque<String>,
}

impl Forgotten {
    fn insert(&mut self, id: &str) {
        if self.ids.insert(id.to_string()) {
            self.order.push_back(id.to_string());
            if self.order.len() > FORGOTTEN_MAX {
                if let Some(old) = self.order.pop_front() {
                    self.ids.remove(&old);
                }
            }
        }
    }

    fn contains(&self, id: &str) -> bool {
        self.ids.contains(id)
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Checkpoint {
    /// Opens (or creates) the position file and takes its lock. Returns
    /// the checkpoint and, when a bad file was set aside, a warning.
    pub fn open(path: &Path, on_corrupt: OnCorrupt) -> Result<(Checkpoint, Option<String>), String> {
        let held = file::lock(path)?;
        let (entries, warning) = file::load(path, on_corrupt)?;
        let checkpoint = Checkpoint {
            path: path.to_path_buf(),
            entries: Mutex::new(entries),
            dirty: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            lock: Mutex::new(Some(held)),
            forgotten: Mutex::new(Forgotten::default()),
        };
        // Fail now, not at the first write, if the directory is not writable.
        checkpoint.write().map_err(|e| format!("checkpoint_path: cannot write {}: {e}", path.display()))?;
        Ok((checkpoint, warning))
    }

    fn entries(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        lock(&self.entries)
    }

    /// The saved position of a container, if any.
    pub fn position(&self, id: &str) -> Option<Position> {
        self.entries().get(id).map(Entry::position)
    }

    /// Forgets a container that was destroyed or found gone, for good.
    pub fn forget(&self, id: &str) {
        lock(&self.forgotten).insert(id);
        if self.entries().remove(id).is_some() {
            self.dirty.store(true, Ordering::Release);
        }
    }

    /// Keeps only the containers that still exist.
    pub fn retain(&self, existing: &HashSet<&str>) {
        let mut entries = self.entries();
        let before = entries.len();
        entries.retain(|id, _| existing.contains(id.as_str()));
        if entries.len() != before {
            self.dirty.store(true, Ordering::Release);
        }
    }

    /// The host has received and freed these records: advance their
    /// containers' positions past them. The other streams of a container
    /// follow (as the reader lifts them) up to what its reader has passed
    /// (`reader_position`, by container id), never beyond
    /// `ts − INVERSION_BOUND_NS` of the records acknowledged.
    pub fn acknowledge(&self, records: &[Record], reader_position: &dyn Fn(&str) -> Option<Position>) {
        if records.is_empty() || self.closed.load(Ordering::Acquire) {
            return;
        }
        let forgotten = lock(&self.forgotten);
        // The newest record per container and stream (and the container's
        // name, for a new entry).
        let mut newest: BTreeMap<&str, (&str, [Option<Mark>; 3])> = BTreeMap::new();
        for r in records {
            let (_, marks) = newest.entry(r.container.id_str()).or_insert((r.container.name_str(), [None; 3]));
            let slot = &mut marks[r.stream.index()];
            let m = Mark { ts: r.mark.ts_ns, count: r.mark.count };
            if slot.map_or(true, |old| later(m, old)) {
                *slot = Some(m);
            }
        }
        let mut entries = self.entries();
        for (id, (name, marks)) in newest {
            if forgotten.contains(id) {
                continue; // destroyed: a late acknowledgement must not bring it back
            }
            let entry =
                entries.entry(id.to_string()).or_insert_with(|| Entry::named(name));
            entry.advance(&marks, reader_position(id).as_ref());
        }
        self.dirty.store(true, Ordering::Release);
    }

    /// Writes the file if anything changed since the last write.
    pub fn flush(&self) -> std::io::Result<()> {
        if self.dirty.swap(false, Ordering::AcqRel) {
            if let Err(e) = self.write() {
                self.dirty.store(true, Ordering::Release);
                return Err(e);
            }
        }
        Ok(())
    }

    /// The last write, at stop: acknowledgements after it are not kept,
    /// and the file is free for another capture.
    pub fn close(&self) -> std::io::Result<()> {
        let result = self.flush();
        self.closed.store(true, Ordering::Release);
        self.lock.lock().unwrap_or_else(|e| e.into_inner()).take();
        result
    }

    fn write(&self) -> std::io::Result<()> {
        file::write(&self.path, self.entries().clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lct-checkpoint-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn corrupt_and_truncated_files_fail_or_reset() {
        let dir = temp_dir("corrupt");
        let path = dir.join("positions.json");
        for bad in [
            &b"{\"version\": 1, \"containers\": {\"abc\": {\"stdout\""[..],
            b"not json",
            b"{\"version\": 9, \"containers\": {}}",
        ] {
            std::fs::write(&path, bad).unwrap();
            let e = Checkpoint::open(&path, OnCorrupt::Fail).err().unwrap();
            assert!(e.contains("checkpoint_path") && e.contains("positions.json"), "{e}");
            let (c, warning) = Checkpoint::open(&path, OnCorrupt::Reset).unwrap();
            assert!(warning.unwrap().contains("started afresh"));
            assert!(c.position("abc").is_none());
            assert_eq!(std::fs::read(file::sibling(&path, "corrupt")).unwrap(), bad);
            drop(c);
        }
    }

    #[test]
    fn a_file_is_locked_by_one_capture() {
        let dir = temp_dir("lock");
        let path = dir.join("positions.json");
        let (first, _) = Checkpoint::open(&path, OnCorrupt::Fail).unwrap();
        let e = Checkpoint::open(&path, OnCorrupt::Fail).err().unwrap();
        assert!(e.contains("in use"), "{e}");
        first.close().unwrap();
        assert!(Checkpoint::open(&path, OnCorrupt::Fail).is_ok());
    }

    #[test]
    fn an_unwritable_directory_fails_at_open() {
        let e = Checkpoint::open(Path::new("/proc/no-such-dir/positions.json"), OnCorrupt::Fail).err().unwrap();
        assert!(e.contains("checkpoint_path"), "{e}");
    }

    fn record(id: &str, ts: i64) -> Record {
        let meta = std::sync::Arc::new(crate::record::ContainerMeta::for_tests(id, "one"));
        Record {
            container: meta,
            stream: crate::frame::Stream::Stdout,
            ts_ns: ts,
            mark: crate::position::Watermark { ts_ns: ts, count: 1 },
            flags: 0,
            message: bytes::Bytes::from_static(b"x"),
        }
    }

    #[test]
    fn late_acknowledgements_of_a_forgotten_container_do_not_bring_it_back() {
        let dir = temp_dir("forgotten");
        let path = dir.join("positions.json");
        let (c, _) = Checkpoint::open(&path, OnCorrupt::Fail).unwrap();
        c.acknowledge(&[record("gone", 10)], &|_| None);
        c.flush().unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains("\"gone\""));
        c.forget("gone");
        // The host frees a batch it held since before the destroy.
        c.acknowledge(&[record("gone", 20)], &|_| None);
        c.flush().unwrap();
        assert!(c.position("gone").is_none());
        assert!(!std::fs::read_to_string(&path).unwrap().contains("\"gone\""));
    }

    #[test]
    fn temp_and_lock_files_are_private_and_never_follow_a_link() {
        use std::os::unix::fs::PermissionsExt;
        let dir = temp_dir("private");
        let path = dir.join("positions.json");
        let elsewhere = dir.join("elsewhere");
        std::fs::write(&elsewhere, b"keep me").unwrap();
        std::os::unix::fs::symlink(&elsewhere, file::sibling(&path, "tmp")).unwrap();
        let (c, _) = Checkpoint::open(&path, OnCorrupt::Fail).unwrap();
        c.acknowledge(&[record("a", 10)], &|_| None);
        c.flush().unwrap();
        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"keep me", "the planted link was followed");
        for f in [path.clone(), file::sibling(&path, "lock")] {
            let mode = std::fs::metadata(&f).unwrap().permissions().mode() & 0o777;
            assert_eq!(mode, 0o600, "{}", f.display());
        }
        c.close().unwrap();
        drop(c);
        // A lock file that is a link is refused, naming it.
        let other = dir.join("other.json");
        std::os::unix::fs::symlink(&elsewhere, file::sibling(&other, "lock")).unwrap();
        let e = Checkpoint::open(&other, OnCorrupt::Fail).err().unwrap();
        assert!(e.contains("other.json.lock"), "{e}");
        assert_eq!(std::fs::read(&elsewhere).unwrap(), b"keep me");
    }
}
