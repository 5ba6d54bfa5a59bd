//! One container's log files, opened safely: the live file and the files
//! it was rotated into.
//!
//! Safety rules (issue #14): read-only, never a symlink, only beneath the
//! daemon's data root. The directory is reached from the root one component
//! at a time with `O_NOFOLLOW | O_DIRECTORY`, so no symlink anywhere on the
//! way is followed, and every file is opened relative to that directory
//! with `O_NOFOLLOW` and must be a regular file. Nothing here writes,
//! truncates, renames or deletes.
//!
//! Names (moby `loggerutils/logfile.go`, `rotate` and `compressFile`; conmon
//! `rotate_k8s_file`): the live file `<name>`, rotated files `<name>.1`
//! (newest) … `<name>.N` (oldest), or `<name>.N.gz` when compressed. While
//! `.1` is being compressed both `.1` and a growing `.1.gz` exist; the
//! uncompressed one is complete, so it is the one used (as moby's own
//! reader does). Other names (`.gz.tmp` decompressed copies made by 20.10's
//! reader, conmon's `.tmp`/`.new`) are not members.

use std::ffi::{CString, OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{FileExt, MetadataExt};
use std::path::{Component, Path, PathBuf};

use super::Error;

/// A file's identity: it survives renames, not copies (compression).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct Identity {
    pub dev: u64,
    pub ino: u64,
}

/// What `stat` tells of a member.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Meta {
    pub identity: Identity,
    pub size: u64,
}

impl Meta {
    fn of(m: &std::fs::Metadata) -> Meta {
        Meta { identity: Identity { dev: m.dev(), ino: m.ino() }, size: m.size() }
    }
}

/// One file of the set. `index` 0 is the live file, 1 the newest rotated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub name: OsString,
    pub index: u32,
    pub compressed: bool,
    pub meta: Meta,
}

/// The directory holding a container's log, opened beneath the data root.
#[derive(Debug)]
pub struct LogDir {
    fd: OwnedFd,
    /// The directory's path, for messages.
    pub path: PathBuf,
    /// The live file's name.
    pub live: OsString,
}

impl LogDir {
    /// Opens the directory of `log_path` (the daemon's `LogPath`), which
    /// must lie beneath `root` (the daemon's data root).
    pub fn open(root: &Path, log_path: &Path) -> Result<LogDir, Error> {
        let relative = beneath(root, log_path)?;
        let mut components: Vec<&OsStr> = relative.components().map(|c| c.as_os_str()).collect();
        let live = components.pop().ok_or_else(|| refused(log_path, "names no file"))?.to_os_string();
        let root_c = cstring(root.as_os_str())?;
        // SAFETY: `root_c` is a valid NUL-terminated path; the result is checked.
        let fd = unsafe { libc::open(root_c.as_ptr(), libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC) };
        let mut dir = owned(fd).map_err(|e| Error::io(format!("cannot open the data root {}", root.display()), e))?;
        for name in components {
            let fd = openat(&dir, name, libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW)
                .map_err(|e| dir_error(log_path, name, e))?;
            dir = fd;
        }
        let path = log_path.parent().unwrap_or(root).to_path_buf();
        Ok(LogDir { fd: dir, path, live })
    }

    /// The live file's full path, for messages.
    pub fn live_path(&self) -> PathBuf {
        self.path.join(&self.live)
    }

    /// The directory as a path that resolves to this very directory even
    /// if it is renamed (for listing it and watching it).
    pub fn proc_path(&self) -> PathBuf {
        PathBuf::from(format!("/proc/self/fd/{}", self.fd.as_raw_fd()))
    }

    /// `stat` of a member without following symlinks; `None` if it is gone
    /// or not a regular file.
    pub fn stat(&self, name: &OsStr) -> io::Result<Option<Meta>> {
        let c = cstring_io(name)?;
        // SAFETY: an all-zero `stat` is a valid value for the call to fill.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: valid fd, NUL-terminated name, `st` is writable.
        let r = unsafe { libc::fstatat(self.fd.as_raw_fd(), c.as_ptr(), &mut st, libc::AT_SYMLINK_NOFOLLOW) };
        if r != 0 {
            let e = io::Error::last_os_error();
            return if e.kind() == io::ErrorKind::NotFound { Ok(None) } else { Err(e) };
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFREG {
            return Ok(None);
        }
        Ok(Some(Meta { identity: Identity { dev: st.st_dev, ino: st.st_ino }, size: st.st_size as u64 }))
    }

    /// Opens a member read-only; refuses anything but a regular file.
    pub fn open_file(&self, name: &OsStr) -> Result<(File, Meta), Error> {
        let path = self.path.join(name);
        let fd = openat(&self.fd, name, libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_NOCTTY)
            .map_err(|e| match e.raw_os_error() {
                Some(libc::ELOOP) => refused(&path, "is a symlink"),
                _ => Error::io(format!("cannot open {}", path.display()), e),
            })?;
        let file = File::from(fd);
        let meta = file.metadata().map_err(|e| Error::io(format!("cannot stat {}", path.display()), e))?;
        if !meta.file_type().is_file() {
            return Err(refused(&path, "is not a regular file"));
        }
        Ok((file, Meta::of(&meta)))
    }

    /// The members present now, oldest first (the live file last).
    pub fn list(&self) -> Result<Vec<Member>, Error> {
        let entries = std::fs::read_dir(self.proc_path())
            .map_err(|e| Error::io(format!("cannot list {}", self.path.display()), e))?;
        let mut members: Vec<Member> = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(format!("cannot list {}", self.path.display()), e))?;
            let name = entry.file_name();
            let Some((index, compressed)) = member_index(&self.live, &name) else { continue };
            let stat =
                self.stat(&name).map_err(|e| Error::io(format!("cannot stat {}", self.path.join(&name).display()), e));
            let Some(meta) = stat? else { continue };
            members.push(Member { name, index, compressed, meta });
        }
        // Oldest first; for the same index the uncompressed copy first, so
        // the dedup below keeps it (a `.gz` beside it is still being written).
        members.sort_by_key(|m| (std::cmp::Reverse(m.index), m.compressed));
        members.dedup_by_key(|m| m.index);
        Ok(members)
    }
}

/// Where `name` stands in the set of `live`: `(index, compressed)`.
pub fn member_index(live: &OsStr, name: &OsStr) -> Option<(u32, bool)> {
    let rest = name.as_bytes().strip_prefix(live.as_bytes())?;
    if rest.is_empty() {
        return Some((0, false));
    }
    let rest = rest.strip_prefix(b".")?;
    let (digits, compressed) = match rest.strip_suffix(b".gz") {
        Some(digits) => (digits, true),
        None => (rest, false),
    };
    if digits.is_empty() || digits.len() > 9 || !digits.iter().all(u8::is_ascii_digit) || digits[0] == b'0' {
        return None;
    }
    let index = std::str::from_utf8(digits).ok()?.parse().ok()?;
    Some((index, compressed))
}

/// `log_path` relative to `root`, refusing any path that is not plainly
/// beneath it (relative, with `..`, or elsewhere).
fn beneath<'a>(root: &Path, log_path: &'a Path) -> Result<&'a Path, Error> {
    if !root.is_absolute() || !log_path.is_absolute() {
        return Err(refused(log_path, "is not an absolute path"));
    }
    if log_path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(refused(log_path, "has `..` components"));
    }
    let relative = log_path
        .strip_prefix(root)
        .map_err(|_| refused(log_path, &format!("is not beneath the data root {}", root.display())))?;
    if relative.components().count() < 2 {
        return Err(refused(log_path, "is not in a directory beneath the data root"));
    }
    Ok(relative)
}

fn refused(path: &Path, why: &str) -> Error {
    Error::Refused(format!("{} {why}", path.display()))
}

fn dir_error(log_path: &Path, name: &OsStr, e: io::Error) -> Error {
    match e.raw_os_error() {
        Some(libc::ELOOP) | Some(libc::ENOTDIR) => {
            refused(log_path, &format!("goes through {:?}, which is a symlink or not a directory", name))
        }
        _ => Error::io(format!("cannot open the directory of {}", log_path.display()), e),
    }
}

fn openat(dir: &OwnedFd, name: &OsStr, flags: libc::c_int) -> io::Result<OwnedFd> {
    let c = cstring_io(name)?;
    // SAFETY: valid directory fd and NUL-terminated name; the result is checked.
    let fd = unsafe { libc::openat(dir.as_raw_fd(), c.as_ptr(), flags | libc::O_CLOEXEC) };
    owned(fd)
}

fn owned(fd: libc::c_int) -> io::Result<OwnedFd> {
    if fd < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `fd` was just returned by open(2)/openat(2) and is owned by no one else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

fn cstring_io(s: &OsStr) -> io::Result<CString> {
    CString::new(s.as_bytes()).map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "NUL in a file name"))
}

fn cstring(s: &OsStr) -> Result<CString, Error> {
    CString::new(s.as_bytes()).map_err(|_| Error::Refused(format!("{s:?} holds a NUL byte")))
}

/// The stamp moby puts in a compressed file's gzip header (`Extra` holds
/// `{"lastTime":"<RFC 3339>"}`, the last entry's time), and the
/// uncompressed size from its trailer (modulo 2³²). `None` for what is
/// missing or unreadable (an older or foreign file, or one still being
/// written).
pub fn gz_metadata(file: &File) -> (Option<i64>, Option<u32>) {
    let mut head = [0u8; 12];
    let last_time = match file.read_exact_at(&mut head, 0) {
        Ok(()) if head[..3] == [0x1f, 0x8b, 8] && head[3] & 0x04 != 0 => {
            let mut extra = vec![0u8; u16::from_le_bytes([head[10], head[11]]) as usize];
            file.read_exact_at(&mut extra, 12).ok().and_then(|()| last_time_of(&extra))
        }
        _ => None,
    };
    let mut trailer = [0u8; 4];
    let size = file.metadata().map(|m| m.size()).unwrap_or(0);
    let isize = (size >= 18 && file.read_exact_at(&mut trailer, size - 4).is_ok()).then(|| u32::from_le_bytes(trailer));
    (last_time, isize)
}

fn last_time_of(extra: &[u8]) -> Option<i64> {
    const KEY: &[u8] = b"\"lastTime\":\"";
    let at = memchr::memmem::find(extra, KEY)? + KEY.len();
    let end = memchr::memchr(b'"', &extra[at..])? + at;
    crate::timestamp::parse_rfc3339(&extra[at..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names() {
        let live = OsStr::new("abc-json.log");
        let index = |n: &str| member_index(live, OsStr::new(n));
        assert_eq!(index("abc-json.log"), Some((0, false)));
        assert_eq!(index("abc-json.log.1"), Some((1, false)));
        assert_eq!(index("abc-json.log.12.gz"), Some((12, true)));
        for other in [
            "abc-json.log.1.gz.tmp",
            "abc-json.log.tmp",
            "abc-json.log.",
            "abc-json.log.01",
            "abc-json.log.x",
            "config.v2.json",
            "abc-json.logs",
        ] {
            assert_eq!(index(other), None, "{other}");
        }
    }

    #[test]
    fn only_paths_beneath_the_root() {
        let root = Path::new("/var/lib/docker");
        assert!(beneath(root, Path::new("/var/lib/docker/containers/x/x-json.log")).is_ok());
        for bad in [
            "/var/lib/dockerx/c/x.log",
            "/etc/passwd",
            "/var/lib/docker/x.log",
            "/var/lib/docker/c/../../../etc/shadow",
            "relative/x.log",
        ] {
            let e = beneath(root, Path::new(bad)).unwrap_err();
            assert!(matches!(e, Error::Refused(_)), "{bad}: {e}");
        }
    }

    #[test]
    fn symlinks_are_refused_everywhere() {
        let root = tempdir("symlinks");
        std::fs::create_dir_all(root.join("real")).unwrap();
        std::fs::write(root.join("real/c-json.log"), b"x\n").unwrap();
        std::os::unix::fs::symlink(root.join("real"), root.join("link")).unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("real/evil-json.log")).unwrap();
        let dir = LogDir::open(&root, &root.join("real/c-json.log")).unwrap();
        assert!(dir.open_file(OsStr::new("c-json.log")).is_ok());
        let e = dir.open_file(OsStr::new("evil-json.log")).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        let e = LogDir::open(&root, &root.join("link/c-json.log")).unwrap_err();
        assert!(e.to_string().contains("symlink"), "{e}");
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn listing_is_oldest_first_and_prefers_uncompressed() {
        let root = tempdir("listing");
        let c = root.join("c");
        std::fs::create_dir_all(&c).unwrap();
        for name in ["x.log", "x.log.1", "x.log.1.gz", "x.log.2.gz", "x.log.3.gz", "x.log.3.gz.tmp", "other"] {
            std::fs::write(c.join(name), name).unwrap();
        }
        let dir = LogDir::open(&root, &c.join("x.log")).unwrap();
        let names: Vec<_> = dir.list().unwrap().into_iter().map(|m| m.name.into_string().unwrap()).collect();
        assert_eq!(names, ["x.log.3.gz", "x.log.2.gz", "x.log.1", "x.log"]);
        std::fs::remove_dir_all(&root).unwrap();
    }

    pub(crate) fn tempdir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("lct-logfile-{}-{name}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }
}
