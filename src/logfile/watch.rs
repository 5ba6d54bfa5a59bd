//! Waiting for a log directory to change, with a deadline: inotify where the
//! host gives an instance, else a poll interval.
//!
//! One inotify watch on the container's directory reports both growth
//! (`IN_MODIFY` of the live file) and rotations. Every rotation, whatever
//! the writer, ends with a new file appearing under the live name: moby
//! renames the live file away and creates it again (`IN_MOVED_FROM`, then
//! `IN_CREATE`), or unlinks it first (`max-file=1` on 23+); conmon renames a
//! fresh file over it (`IN_MOVED_TO`). Counting those events gives the
//! number of rotations, which the follower uses to know which rotated file
//! came right after one that is gone. The count is exact while no event is
//! lost; a queue overflow starts a new epoch, and counts are only compared
//! within one.
//!
//! Instances are a per-user resource (`fs.inotify.max_user_instances`,
//! 128 by default, shared with dockerd's own log followers): when none can
//! be had the watch polls instead, and rotations are then accounted for by
//! file identity alone.

use std::ffi::{CString, OsStr, OsString};
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, Instant};

/// A generation of the live file: the rotations counted so far, and the
/// epoch they were counted in (a new one after every lost event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation {
    pub epoch: u32,
    pub rotations: u64,
}

impl Generation {
    /// How many rotations separate `self` from a later generation, if both
    /// were counted in the same epoch.
    pub fn rotations_until(self, later: Generation) -> Option<u64> {
        (self.epoch == later.epoch).then(|| later.rotations.saturating_sub(self.rotations))
    }
}

/// Changes of one log directory.
#[derive(Debug)]
pub struct Watch {
    inotify: Option<OwnedFd>,
    live: OsString,
    poll_interval: Duration,
    generation: Generation,
}

const MASK: u32 = libc::IN_MODIFY
    | libc::IN_CREATE
    | libc::IN_MOVED_TO
    | libc::IN_MOVED_FROM
    | libc::IN_DELETE
    | libc::IN_DELETE_SELF
    | libc::IN_MOVE_SELF
    | libc::IN_ONLYDIR;

impl Watch {
    /// Watches `dir` (a path resolving to the directory) for changes to the
    /// file named `live` and its rotations. Falls back to polling every
    /// `poll_interval` when inotify cannot be used.
    pub fn new(dir: &Path, live: &OsStr, poll_interval: Duration) -> Watch {
        let inotify = add_watch(dir).ok();
        Watch { inotify, live: live.to_os_string(), poll_interval, generation: Generation { epoch: 0, rotations: 0 } }
    }

    /// A watch that only polls (for tests of the fallback).
    pub fn polling(live: &OsStr, poll_interval: Duration) -> Watch {
        Watch {
            inotify: None,
            live: live.to_os_string(),
            poll_interval,
            generation: Generation { epoch: 0, rotations: 0 },
        }
    }

    /// True when changes are reported by inotify, false when polled.
    pub fn is_notified(&self) -> bool {
        self.inotify.is_some()
    }

    /// The inotify descriptor, readable when something changed, for a
    /// caller that waits on many watches at once (e.g. tokio's `AsyncFd`);
    /// `None` when polling.
    pub fn fd(&self) -> Option<RawFd> {
        self.inotify.as_ref().map(AsRawFd::as_raw_fd)
    }

    /// The rotations counted up to now (pending events read first); `None`
    /// when polling.
    pub fn generation(&mut self) -> Option<Generation> {
        self.drain();
        self.inotify.is_some().then_some(self.generation)
    }

    /// Waits until the directory changed or `timeout` passed. True: look
    /// again (something changed, or the poll interval passed).
    pub fn wait(&mut self, timeout: Duration) -> bool {
        let Some(fd) = self.inotify.as_ref().map(AsRawFd::as_raw_fd) else {
            std::thread::sleep(timeout.min(self.poll_interval));
            return true;
        };
        if self.drain() {
            return true;
        }
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let mut pfd = libc::pollfd { fd, events: libc::POLLIN, revents: 0 };
            let ms = left.as_millis().min(i32::MAX as u128) as libc::c_int;
            // SAFETY: one valid pollfd, count 1.
            let r = unsafe { libc::poll(&mut pfd, 1, ms) };
            if r > 0 {
                return self.drain();
            }
            if r == 0 || left.is_zero() || io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                return false;
            }
        }
    }

    /// Reads every pending event; true if there was any.
    pub fn drain(&mut self) -> bool {
        let Some(fd) = self.inotify.as_ref().map(AsRawFd::as_raw_fd) else { return false };
        let mut any = false;
        let mut buf = [0u8; 8192];
        loop {
            // SAFETY: `buf` is writable for its length; the result is checked.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            if n <= 0 {
                return any;
            }
            any = true;
            self.count(&buf[..n as usize]);
        }
    }

    /// Counts the rotations among the events in `buf`.
    fn count(&mut self, mut buf: &[u8]) {
        const HEADER: usize = std::mem::size_of::<libc::inotify_event>();
        while buf.len() >= HEADER {
            let field = |at: usize| u32::from_ne_bytes([buf[at], buf[at + 1], buf[at + 2], buf[at + 3]]);
            let (mask, len) = (field(4), field(12) as usize);
            let name = buf.get(HEADER..HEADER + len).unwrap_or(&[]);
            let name = &name[..name.iter().position(|&b| b == 0).unwrap_or(name.len())];
            if mask & libc::IN_Q_OVERFLOW != 0 {
                self.generation = Generation { epoch: self.generation.epoch + 1, rotations: 0 };
            } else if mask & (libc::IN_CREATE | libc::IN_MOVED_TO) != 0 && name == self.live.as_bytes() {
                self.generation.rotations += 1;
            }
            buf = buf.get(HEADER + len..).unwrap_or(&[]);
        }
    }
}

fn add_watch(dir: &Path) -> io::Result<OwnedFd> {
    // SAFETY: plain syscall; the result is checked.
    let fd = unsafe { libc::inotify_init1(libc::IN_NONBLOCK | libc::IN_CLOEXEC) };
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by inotify_init1 and is owned by no one else.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    let path = CString::new(dir.as_os_str().as_bytes()).map_err(|_| io::Error::from(io::ErrorKind::InvalidInput))?;
    // SAFETY: valid inotify fd and NUL-terminated path; the result is checked.
    if unsafe { libc::inotify_add_watch(fd.as_raw_fd(), path.as_ptr(), MASK) } < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(fd)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_new_live_files_and_wakes_on_growth() {
        let dir = std::env::temp_dir().join(format!("lct-logfile-watch-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let live = dir.join("x.log");
        std::fs::write(&live, b"").unwrap();
        let mut watch = Watch::new(&dir, OsStr::new("x.log"), Duration::from_millis(50));
        assert!(watch.is_notified(), "inotify is available on the test machine");
        let g0 = watch.generation().unwrap();
        assert!(!watch.wait(Duration::from_millis(20)), "nothing changed");
        std::fs::write(&live, b"more\n").unwrap();
        assert!(watch.wait(Duration::from_secs(5)), "growth wakes the wait");
        // moby's rotation: rename away, create anew; twice.
        for _ in 0..2 {
            std::fs::rename(&live, dir.join("x.log.1")).unwrap();
            std::fs::write(&live, b"").unwrap();
        }
        // conmon's: a fresh file renamed over the live one.
        std::fs::write(dir.join("x.log.tmp"), b"").unwrap();
        std::fs::rename(dir.join("x.log.tmp"), &live).unwrap();
        assert_eq!(g0.rotations_until(watch.generation().unwrap()), Some(3));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn polling_waits_at_most_the_interval() {
        let mut watch = Watch::polling(OsStr::new("x.log"), Duration::from_millis(10));
        assert!(watch.generation().is_none());
        let started = Instant::now();
        assert!(watch.wait(Duration::from_secs(10)));
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
