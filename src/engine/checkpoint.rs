//! The position file (`checkpoint_path`): each container's per-stream
//! watermarks, advanced only past records the host has received and freed,
//! written atomically (temp file, fsync, rename, fsync of the directory).
//!
//! A capture started again with the same file resumes every container
//! where the host stopped receiving: nothing written while it was down is
//! lost, nothing before is repeated. A container keeps its entry while it
//! exists, stopped or not, and loses it when it is destroyed.
//!
//! One capture at a time may use a file: it holds an exclusive lock on
//! `<path>.lock` while it runs.

use std::collections::{BTreeMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, MutexGuard};

use serde::{Deserialize, Serialize};

use crate::config::OnCorrupt;
use crate::frame::Stream;
use crate::position::{Position, Watermark, INVERSION_BOUND_NS};
use crate::record::Record;

const VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, Serialize, Deserialize, PartialEq, Eq, Default)]
struct Mark {
    ts: i64,
    count: u32,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, Default)]
#[serde(deny_unknown_fields)]
struct Entry {
    #[serde(default)]
    name: String,
    stdout: Mark,
    stderr: Mark,
    console: Mark,
}

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File1 {
    version: u32,
    containers: BTreeMap<String, Entry>,
}

impl Entry {
    fn marks(&self) -> [Mark; 3] {
        [self.stdout, self.stderr, self.console]
    }

    fn set(&mut self, i: usize, m: Mark) {
        match i {
            0 => self.stdout = m,
            1 => self.stderr = m,
            _ => self.console = m,
        }
    }

    /// Moves the marks past the newest acknowledged record of each stream;
    /// the other streams follow up to what the reader has `passed`.
    fn advance(&mut self, newest: &[Option<Mark>; 3], passed: Option<&Position>) {
        for (i, m) in newest.iter().enumerate() {
            let Some(m) = *m else { continue };
            if later(m, self.marks()[i]) {
                self.set(i, m);
            }
            let Some(pos) = passed else {
                continue;
            };
            for other in Stream::ALL.iter().map(|s| s.index()).filter(|&j| j != i) {
                let floor = Mark { ts: m.ts - INVERSION_BOUND_NS, count: 0 };
                let reached = Mark { ts: pos.marks[other].ts_ns, count: pos.marks[other].count };
                let lift = if later(reached, floor) { floor } else { reached };
                if later(lift, self.marks()[other]) {
                    self.set(other, lift);
                }
            }
        }
    }

    fn position(&self) -> Position {
        let mut p = Position::starting_at(0);
        for (i, m) in self.marks().iter().enumerate() {
            p.marks[i] = Watermark { ts_ns: m.ts, count: m.count };
        }
        p
    }
}

fn later(a: Mark, b: Mark) -> bool {
    (a.ts, a.count) > (b.ts, b.count)
}

/// The position file of a running capture.
pub struct Checkpoint {
    path: PathBuf,
    entries: Mutex<BTreeMap<String, Entry>>,
    dirty: AtomicBool,
    /// Set after the final write: later acknowledgements are not kept.
    closed: AtomicBool,
    /// Holds `<path>.lock` until `close`.
    lock: Mutex<Option<File>>,
}

impl Checkpoint {
    /// Opens (or creates) the position file and takes its lock. Returns
    /// the checkpoint and, when a bad file was set aside, a warning.
    pub fn open(path: &Path, on_corrupt: OnCorrupt) -> Result<(Checkpoint, Option<String>), String> {
        let lock_path = sibling(path, "lock");
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| format!("checkpoint_path: cannot open {}: {e}", lock_path.display()))?;
        // SAFETY: `lock` is an open file that outlives the call; flock only
        // reads its descriptor.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            return Err(format!("checkpoint_path: {} is in use by another running capture", path.display()));
        }
        let mut warning = None;
        let entries = match std::fs::read(path) {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => BTreeMap::new(),
            Err(e) => return Err(format!("checkpoint_path: cannot read {}: {e}", path.display())),
            Ok(bytes) => match parse(&bytes) {
                Ok(entries) => entries,
                Err(problem) => {
                    let message =
                        format!("checkpoint_path: {} is not a valid position file: {problem}", path.display());
                    match on_corrupt {
                        OnCorrupt::Fail => {
                            return Err(format!("{message} (set checkpoint_on_corrupt to \"reset\" to start afresh)"))
                        }
                        OnCorrupt::Reset => {
                            let aside = sibling(path, "corrupt");
                            std::fs::rename(path, &aside)
                                .map_err(|e| format!("{message}; cannot move it aside to {}: {e}", aside.display()))?;
                            warning = Some(format!("{message}; moved it to {} and started afresh", aside.display()));
                            BTreeMap::new()
                        }
                    }
                }
            },
        };
        let checkpoint = Checkpoint {
            path: path.to_path_buf(),
            entries: Mutex::new(entries),
            dirty: AtomicBool::new(false),
            closed: AtomicBool::new(false),
            lock: Mutex::new(Some(lock)),
        };
        // Fail now, not at the first write, if the directory is not writable.
        checkpoint.write().map_err(|e| format!("checkpoint_path: cannot write {}: {e}", path.display()))?;
        Ok((checkpoint, warning))
    }

    fn entries(&self) -> MutexGuard<'_, BTreeMap<String, Entry>> {
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The saved position of a container, if any.
    pub fn position(&self, id: &str) -> Option<Position> {
        self.entries().get(id).map(Entry::position)
    }

    /// Forgets a destroyed container.
    pub fn forget(&self, id: &str) {
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
        // The newest record per container and stream (and the container's
        // name, for a new entry).
        let mut newest: BTreeMap<&str, (&str, [Option<Mark>; 3])> = BTreeMap::new();
        for r in records {
            let (_, marks) = newest.entry(r.container.id_str()).or_insert((r.container.name_str(), [None; 3]));
            let slot = &mut marks[r.stream.index()];
            let m = Mark { ts: r.ts_ns, count: r.count };
            if slot.map_or(true, |old| later(m, old)) {
                *slot = Some(m);
            }
        }
        let mut entries = self.entries();
        for (id, (name, marks)) in newest {
            let entry =
                entries.entry(id.to_string()).or_insert_with(|| Entry { name: name.to_string(), ..Entry::default() });
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
        let doc = File1 { version: VERSION, containers: self.entries().clone() };
        let text = serde_json::to_vec_pretty(&doc).map_err(std::io::Error::other)?;
        let temp = sibling(&self.path, "tmp");
        {
            let mut f = File::create(&temp)?;
            f.write_all(&text)?;
            f.write_all(b"\n")?;
            f.sync_all()?;
        }
        std::fs::rename(&temp, &self.path)?;
        let dir = self.path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
        File::open(dir)?.sync_all()
    }
}

fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

fn parse(bytes: &[u8]) -> Result<BTreeMap<String, Entry>, String> {
    let doc: File1 = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if doc.version != VERSION {
        return Err(format!("version {} is not supported (expected {VERSION})", doc.version));
    }
    Ok(doc.containers)
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
            assert_eq!(std::fs::read(sibling(&path, "corrupt")).unwrap(), bad);
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
}
