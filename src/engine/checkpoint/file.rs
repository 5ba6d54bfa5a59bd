//! The position file on disk: its format, its lock, and writing it
//! atomically (temp file, fsync, rename, fsync of the directory). The temp
//! and lock files are created without following a symbolic link and
//! readable by their owner only (positions name every container).

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::entry::Entry;
use crate::config::OnCorrupt;

const VERSION: u32 = 1;
/// Owner read and write only.
const MODE: u32 = 0o600;

#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct File1 {
    version: u32,
    containers: BTreeMap<String, Entry>,
}

/// `<path>.<suffix>`.
pub fn sibling(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.file_name().map(|n| n.to_os_string()).unwrap_or_default();
    name.push(".");
    name.push(suffix);
    path.with_file_name(name)
}

/// Takes the exclusive lock on `<path>.lock` (held while the file lives).
pub fn lock(path: &Path) -> Result<File, String> {
    let lock_path = sibling(path, "lock");
    let lock = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .mode(MODE)
        .custom_flags(libc::O_NOFOLLOW)
        .open(&lock_path)
        .map_err(|e| format!("checkpoint_path: cannot open {}: {e}", lock_path.display()))?;
    // SAFETY: `lock` is an open file that outlives the call; flock only
    // reads its descriptor.
    if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
        return Err(format!("checkpoint_path: {} is in use by another running capture", path.display()));
    }
    Ok(lock)
}

/// The entries of the file at `path` (none when it does not exist), and a
/// warning when a bad file was set aside (`OnCorrupt::Reset`).
pub fn load(path: &Path, on_corrupt: OnCorrupt) -> Result<(BTreeMap<String, Entry>, Option<String>), String> {
    let bytes = match std::fs::read(path) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok((BTreeMap::new(), None)),
        Err(e) => return Err(format!("checkpoint_path: cannot read {}: {e}", path.display())),
        Ok(bytes) => bytes,
    };
    let problem = match parse(&bytes) {
        Ok(entries) => return Ok((entries, None)),
        Err(problem) => problem,
    };
    let message = format!("checkpoint_path: {} is not a valid position file: {problem}", path.display());
    match on_corrupt {
        OnCorrupt::Fail => Err(format!("{message} (set checkpoint_on_corrupt to \"reset\" to start afresh)")),
        OnCorrupt::Reset => {
            let aside = sibling(path, "corrupt");
            std::fs::rename(path, &aside)
                .map_err(|e| format!("{message}; cannot move it aside to {}: {e}", aside.display()))?;
            Ok((BTreeMap::new(), Some(format!("{message}; moved it to {} and started afresh", aside.display()))))
        }
    }
}

fn parse(bytes: &[u8]) -> Result<BTreeMap<String, Entry>, String> {
    let doc: File1 = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
    if doc.version != VERSION {
        return Err(format!("version {} is not supported (expected {VERSION})", doc.version));
    }
    Ok(doc.containers)
}

/// Replaces the file at `path` with `entries`, atomically. A temp file
/// left behind (or planted: a symbolic link) is removed first, never
/// followed.
pub fn write(path: &Path, entries: BTreeMap<String, Entry>) -> std::io::Result<()> {
    let doc = File1 { version: VERSION, containers: entries };
    let mut text = serde_json::to_vec_pretty(&doc).map_err(std::io::Error::other)?;
    text.push(b'\n');
    let temp = sibling(path, "tmp");
    match std::fs::remove_file(&temp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    {
        let mut f = OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(MODE)
            .custom_flags(libc::O_NOFOLLOW)
            .open(&temp)?;
        f.write_all(&text)?;
        f.sync_all()?;
    }
    std::fs::rename(&temp, path)?;
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty()).unwrap_or(Path::new("."));
    File::open(dir)?.sync_all()
}
