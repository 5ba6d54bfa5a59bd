//! The log-file follower on files this test writes and rotates exactly as
//! the writers do (moby `loggerutils/logfile.go` v20.10/v23: rename down,
//! compress `.1` into a new `.1.gz` with the last stamp in its header,
//! delete the oldest; conmon: a fresh file renamed over the live one), with
//! the follower falling behind, files deleted, truncated, resumed.
//! Real files, no daemon: the daemon's own rotation is in `logfile_daemon`.

use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use log_capturer::frame::Stream;
use log_capturer::timestamp::format_rfc3339;
use log_capturer::logfile::json_file::encode_line;
use log_capturer::logfile::{
    Batch, Cursor, Error, FollowConfig, Follower, Format, Notice, NoticeKind, Opened, ReadState, Start,
};

/// A first stamp, in ns.
const T0: i64 = 1_764_500_000_000_000_000;

/// How a writer gets rid of the live file at a rotation.
#[derive(Clone, Copy, PartialEq)]
enum Style {
    /// moby: `.i−1` → `.i`, live → `.1` (20.10 also with max-file 1).
    Moby,
    /// moby 23+ with max-file 1: the live file is unlinked.
    Unlink,
    /// conmon: a fresh `<live>.tmp` renamed over the live file.
    Conmon,
}

/// Writes a container's log as its daemon does: numbered lines, one
/// `write` per entry, rotation when `max_size` is reached.
struct Writer {
    root: PathBuf,
    live: PathBuf,
    format: Format,
    style: Style,
    max_size: u64,
    max_file: u32,
    compress: bool,
    file: File,
    size: u64,
    seq: u64,
    last_ts: i64,
    /// Added to every stamp from now on (a host clock stepped).
    clock_offset: i64,
    /// The line numbers in the live file, and in each rotated one (`.1` first).
    live_seqs: Vec<u64>,
    rotated: Vec<Vec<u64>>,
    /// Line numbers in files deleted by rotation.
    deleted: Vec<u64>,
    rotations: u64,
}

impl Writer {
    fn new(test: &str, format: Format, style: Style, max_size: u64, max_file: u32, compress: bool) -> Writer {
        let root = std::env::temp_dir().join(format!("lct-{}-logfile-{test}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        let dir = root.join("containers/c0ffee");
        fs::create_dir_all(&dir).unwrap();
        let live = dir.join(if format == Format::JsonFile { "c0ffee-json.log" } else { "ctr.log" });
        let file = File::create(&live).unwrap();
        let (live_seqs, rotated, deleted) = (Vec::new(), Vec::new(), Vec::new());
        Writer {
            root,
            live,
            format,
            style,
            max_size,
            max_file,
            compress,
            file,
            size: 0,
            seq: 0,
            last_ts: T0,
            clock_offset: 0,
            live_seqs,
            rotated,
            deleted,
            rotations: 0,
        }
    }

    fn config(&self) -> FollowConfig {
        FollowConfig {
            format: self.format,
            root: self.root.clone(),
            log_path: self.live.clone(),
            tty: false,
            order_slack_ns: 100_000_000,
            poll_interval: Duration::from_millis(10),
            inotify: true,
        }
    }

    fn rotated_path(&self, i: u32) -> PathBuf {
        let gz = if self.compress { ".gz" } else { "" };
        PathBuf::from(format!("{}.{i}{gz}", self.live.display()))
    }

    /// Writes `n` numbered lines (stderr every seventh).
    fn write(&mut self, n: u64) {
        for _ in 0..n {
            if self.size >= self.max_size {
                self.rotate();
            }
            self.seq += 1;
            self.last_ts = T0 + self.seq as i64 * 1_000 + self.clock_offset;
            let stream = if self.seq % 7 == 0 { Stream::Stderr } else { Stream::Stdout };
            let line = self.line(stream, self.last_ts, &format!("{} of the rotation test\n", self.seq));
            self.file.write_all(&line).unwrap();
            self.size += line.len() as u64;
            self.live_seqs.push(self.seq);
        }
    }

    fn line(&self, stream: Stream, ts: i64, text: &str) -> Vec<u8> {
        let mut line = Vec::new();
        match self.format {
            Format::JsonFile => encode_line(stream, &go_rfc3339_nano(ts), text.as_bytes(), &mut line),
            Format::K8sFile => {
                let stamp = format_rfc3339(ts).replace('Z', "+00:00");
                line.extend_from_slice(format!("{stamp} {} F {text}", stream.name()).as_bytes());
            }
        }
        line
    }

    fn rotate(&mut self) {
        let seqs = std::mem::take(&mut self.live_seqs);
        match self.style {
            Style::Moby if self.max_file >= 2 => {
                if self.rotated.len() as u32 == self.max_file - 1 {
                    self.deleted.extend(self.rotated.pop().unwrap());
                }
                let _ = fs::remove_file(self.rotated_path(self.max_file - 1));
                for i in (2..self.max_file).rev() {
                    let _ = fs::rename(self.rotated_path(i - 1), self.rotated_path(i));
                }
                let plain_1 = PathBuf::from(format!("{}.1", self.live.display()));
                fs::rename(&self.live, &plain_1).unwrap();
                self.file = File::create(&self.live).unwrap();
                if self.compress {
                    compress(&plain_1, self.last_ts);
                }
                self.rotated.insert(0, seqs);
            }
            Style::Moby => {
                self.deleted.extend(self.rotated.pop().unwrap_or_default());
                fs::rename(&self.live, format!("{}.1", self.live.display())).unwrap();
                self.file = File::create(&self.live).unwrap();
                self.rotated.insert(0, seqs);
            }
            Style::Unlink => {
                fs::remove_file(&self.live).unwrap();
                self.file = File::create(&self.live).unwrap();
                self.deleted.extend(seqs);
            }
            Style::Conmon => {
                let tmp = PathBuf::from(format!("{}.tmp", self.live.display()));
                self.file = File::create(&tmp).unwrap();
                fs::rename(&tmp, &self.live).unwrap();
                self.deleted.extend(seqs);
            }
        }
        self.size = 0;
        self.rotations += 1;
    }

    /// Writes numbered lines until `n` more rotations happened, then `tail`
    /// lines more.
    fn write_rotations(&mut self, n: u64, tail: u64) {
        let until = self.rotations + n;
        while self.rotations < until {
            self.write(1);
        }
        self.write(tail);
    }

    fn follow(&self, start: Start) -> (Follower, Opened) {
        Follower::open(&self.config(), start).unwrap()
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.root);
    }
}

/// moby's `compressFile`: `.1` → a new `.1.gz` whose header `Extra` holds
/// the last stamp, then `.1` unlinked.
fn compress(plain: &Path, last_ts: i64) {
    let data = fs::read(plain).unwrap();
    let gz = PathBuf::from(format!("{}.gz", plain.display()));
    let extra = format!("{{\"lastTime\":\"{}\"}}", go_rfc3339_nano(last_ts)).into_bytes();
    let mut encoder =
        flate2::GzBuilder::new().extra(extra).write(File::create(&gz).unwrap(), flate2::Compression::default());
    encoder.write_all(&data).unwrap();
    encoder.finish().unwrap();
    fs::remove_file(plain).unwrap();
}

/// Go's RFC3339Nano: trailing zeros of the fraction trimmed.
fn go_rfc3339_nano(ts: i64) -> String {
    let full = format_rfc3339(ts);
    let (head, fraction) = full.trim_end_matches('Z').split_once('.').unwrap();
    let fraction = fraction.trim_end_matches('0');
    if fraction.is_empty() {
        format!("{head}Z")
    } else {
        format!("{head}.{fraction}Z")
    }
}

/// Reads until the follower is at the end; returns the line numbers read
/// and the notices.
fn drain(follower: &mut Follower) -> (Vec<u64>, Vec<Notice>, Option<Cursor>) {
    let (mut seqs, mut notices, mut cursor) = (Vec::new(), Vec::new(), None);
    loop {
        let Batch { entries, notices: batch_notices, cursor: c, state, .. } = follower.read_batch(8 * 1024).unwrap();
        seqs.extend(entries.iter().map(|e| seq_of(&e.payload)));
        notices.extend(batch_notices);
        cursor = c.or(cursor);
        if state != ReadState::More {
            return (seqs, notices, cursor);
        }
    }
}

fn seq_of(payload: &[u8]) -> u64 {
    let text = std::str::from_utf8(payload).unwrap();
    text.split(' ').next().unwrap().parse().unwrap_or_else(|_| panic!("not a numbered line: {text:?}"))
}

fn range(from: u64, to: u64) -> Vec<u64> {
    (from..=to).collect()
}

fn gaps(notices: &[Notice]) -> Vec<&NoticeKind> {
    notices.iter().map(|n| &n.kind).filter(|k| matches!(k, NoticeKind::Gap { .. })).collect()
}

fn unexpected(notices: &[Notice]) -> Vec<&NoticeKind> {
    notices.iter().map(|n| &n.kind).filter(|k| !matches!(k, NoticeKind::Rotated { .. })).collect()
}

#[test]
fn keeping_up_reads_every_line_once_in_order() {
    for (style, max_file, compress) in
        [(Style::Moby, 3, false), (Style::Moby, 4, true), (Style::Moby, 1, false), (Style::Unlink, 1, false)]
    {
        let mut w = Writer::new("keeping-up", Format::JsonFile, style, 2_000, max_file, compress);
        let (mut f, opened) = w.follow(Start::Since(i64::MIN));
        assert_eq!(opened, Opened::Oldest { first: None });
        let mut seqs = Vec::new();
        for _ in 0..40 {
            w.write(17);
            let (read, notices, _) = drain(&mut f);
            assert!(unexpected(&notices).is_empty(), "{:?}", unexpected(&notices));
            seqs.extend(read);
        }
        assert_eq!(seqs, range(1, 680));
    }
}

#[test]
fn three_rotations_behind_loses_nothing_still_on_disk() {
    for (compress, inotify) in [(false, true), (false, false), (true, true), (true, false)] {
        let mut w = Writer::new("behind", Format::JsonFile, Style::Moby, 2_000, 5, compress);
        let mut config = w.config();
        config.inotify = inotify;
        let (mut f, _) = Follower::open(&config, Start::Since(i64::MIN)).unwrap();
        w.write(10);
        assert_eq!(drain(&mut f).0, range(1, 10));
        // Three rotations: the file held is now `.3` (compressed: a new
        // inode, found by its header), and `.2`, `.1` follow it.
        w.write_rotations(3, 5);
        assert!(w.deleted.is_empty());
        let (seqs, notices, _) = drain(&mut f);
        assert_eq!(seqs, range(11, w.seq), "compress={compress} inotify={inotify}");
        assert!(unexpected(&notices).is_empty(), "{:?}", unexpected(&notices));
        let rotated: Vec<_> = notices.iter().map(|n| &n.kind).collect();
        assert_eq!(rotated, [&NoticeKind::Rotated { rotations: Some(3) }]);
    }
}

#[test]
fn files_deleted_before_they_were_read_are_a_gap() {
    let mut w = Writer::new("deleted", Format::JsonFile, Style::Moby, 2_000, 2, false);
    let (mut f, _) = w.follow(Start::Since(i64::MIN));
    w.write(5);
    assert_eq!(drain(&mut f).0, range(1, 5));
    // Four rotations with one rotated file kept: the file held (1…) is
    // deleted, and so are the next two; the third is `.1`.
    w.write_rotations(4, 3);
    let held_then_deleted = w.deleted.clone();
    let (seqs, notices, _) = drain(&mut f);
    let lost: Vec<u64> = held_then_deleted.iter().copied().filter(|s| *s > 5 && !seqs.contains(s)).collect();
    let expected: Vec<u64> = range(6, w.seq).into_iter().filter(|s| !lost.contains(s)).collect();
    assert_eq!(seqs, expected, "everything still on disk, in order");
    assert!(!lost.is_empty());
    let gaps = gaps(&notices);
    assert_eq!(gaps.len(), 1, "{notices:?}");
    let NoticeKind::Gap { after_ts, before_ts, files, certain } = gaps[0].clone() else { unreachable!() };
    assert!(certain, "inotify counted the rotations");
    assert_eq!(files, Some(2));
    let stamp = |seq: u64| Some(T0 + seq as i64 * 1_000);
    assert_eq!((after_ts, before_ts), (stamp(lost[0] - 1), stamp(lost[lost.len() - 1] + 1)), "the stamps either side");
}

#[test]
fn without_a_rotation_count_a_lost_file_is_an_uncertain_gap() {
    let mut w = Writer::new("uncounted", Format::JsonFile, Style::Moby, 2_000, 2, false);
    let mut config = w.config();
    config.inotify = false;
    let (mut f, _) = Follower::open(&config, Start::Since(i64::MIN)).unwrap();
    w.write(5);
    drain(&mut f);
    w.write_rotations(3, 1);
    let (seqs, notices, _) = drain(&mut f);
    assert!(seqs.iter().zip(seqs.iter().skip(1)).all(|(a, b)| a < b), "in order, no repeat");
    let gaps = gaps(&notices);
    assert!(matches!(gaps[..], [NoticeKind::Gap { certain: false, files: None, .. }]), "{notices:?}");
}

#[test]
fn replaced_files_conmon_and_unlink() {
    for (format, style) in [(Format::K8sFile, Style::Conmon), (Format::JsonFile, Style::Unlink)] {
        let mut w = Writer::new("replaced", format, style, 1_500, 1, false);
        let (mut f, _) = w.follow(Start::Since(i64::MIN));
        let mut seqs = Vec::new();
        for _ in 0..10 {
            w.write(13);
            let (read, notices, _) = drain(&mut f);
            assert!(unexpected(&notices).is_empty(), "{:?}", unexpected(&notices));
            seqs.extend(read);
        }
        assert_eq!(seqs, range(1, 130));
        // Two rotations while not looking: the file between is gone.
        w.write_rotations(2, 1);
        let (_, notices, _) = drain(&mut f);
        assert!(matches!(gaps(&notices)[..], [NoticeKind::Gap { certain: true, files: Some(1), .. }]), "{notices:?}");
    }
}

#[test]
fn truncation_starts_again_and_says_so() {
    let mut w = Writer::new("truncated", Format::JsonFile, Style::Moby, 1 << 30, 1, false);
    let (mut f, _) = w.follow(Start::Since(i64::MIN));
    w.write(10);
    assert_eq!(drain(&mut f).0, range(1, 10));
    w.file.set_len(0).unwrap();
    w.file = OpenOptions::new().append(true).open(&w.live).unwrap();
    w.write(20); // longer than before: a size check alone would not see it
    let (seqs, notices, _) = drain(&mut f);
    assert_eq!(seqs, range(11, 30));
    assert!(matches!(&notices[..], [Notice { at: 0, kind: NoticeKind::Truncated { .. } }]), "{notices:?}");
}

#[test]
fn a_line_being_written_is_read_once_complete() {
    let mut w = Writer::new("partial", Format::JsonFile, Style::Moby, 1 << 30, 1, false);
    let (mut f, _) = w.follow(Start::Since(i64::MIN));
    let line = w.line(Stream::Stdout, T0, "1 of the rotation test\n");
    w.file.write_all(&line[..20]).unwrap();
    let batch = f.read_batch(1 << 20).unwrap();
    assert!(batch.entries.is_empty() && batch.state == ReadState::AtEnd);
    w.file.write_all(&line[20..]).unwrap();
    assert_eq!(drain(&mut f).0, [1]);
}

#[test]
fn resuming_from_a_cursor_or_a_timestamp() {
    let mut w = Writer::new("resume", Format::JsonFile, Style::Moby, 3_000, 4, false);
    w.write(50);
    let (mut f, _) = w.follow(Start::Since(i64::MIN));
    let (_, _, cursor) = drain(&mut f);
    let cursor = cursor.unwrap();
    drop(f);
    w.write(50);
    // The cursor's file was rotated (renamed, same inode): O(1) resume.
    let (mut f, opened) = w.follow(Start::Cursor { cursor, since_ns: T0 + 50_000 });
    assert_eq!(opened, Opened::AtCursor);
    assert_eq!(drain(&mut f).0, range(51, 100));
    // A cursor that no longer names its line: the timestamp decides
    // (lines 1 µs apart here, so a slack of 5 µs).
    let stale = Cursor { file: cursor.file, offset: cursor.offset + 7, last_ts_ns: cursor.last_ts_ns };
    let mut config = w.config();
    config.order_slack_ns = 5_000;
    let (mut f, opened) = Follower::open(&config, Start::Cursor { cursor: stale, since_ns: T0 + 70_000 }).unwrap();
    assert!(matches!(opened, Opened::After { ts_ns } if ts_ns < T0 + 65_000), "{opened:?}");
    let seqs = drain(&mut f).0;
    assert!(seqs.starts_with(&[70, 71]) && seqs.ends_with(&[99, 100]), "from the stamp on: {seqs:?}");
}

#[test]
fn after_a_cursor_every_line_comes_whatever_its_stamp() {
    // The host clock stepped back a minute (#12): the lines written since
    // are stamped before those read, and are new all the same.
    let mut w = Writer::new("stepped", Format::JsonFile, Style::Moby, 1 << 30, 1, false);
    w.write(50);
    let (mut f, _) = w.follow(Start::Since(i64::MIN));
    let cursor = drain(&mut f).2.unwrap();
    drop(f);
    w.clock_offset = -60_000_000_000;
    w.write(50);
    let (mut f, opened) = w.follow(Start::Cursor { cursor, since_ns: cursor.last_ts_ns - 200_000_000 });
    assert_eq!(opened, Opened::AtCursor);
    assert_eq!(drain(&mut f).0, range(51, 100));
}

#[test]
fn resuming_by_timestamp_skips_whole_files_and_searches_one() {
    // 0.1 ms between lines, 20,000 lines: a search, not a scan.
    let mut w = Writer::new("search", Format::JsonFile, Style::Moby, 400_000, 5, true);
    for _ in 0..20_000 {
        w.write(1);
        w.last_ts += 99_000;
    }
    let since = T0 + 15_000 * 1_000;
    let (mut f, opened) = w.follow(Start::Since(since));
    let seqs = drain(&mut f).0;
    assert_eq!(seqs.first(), Some(&15_000), "{opened:?}");
    assert_eq!(seqs.len(), 5_001);
}

#[test]
fn start_at_end_reads_only_new_lines() {
    let mut w = Writer::new("end", Format::K8sFile, Style::Conmon, 1 << 30, 1, false);
    w.write(10);
    let (mut f, opened) = w.follow(Start::End);
    assert_eq!(opened, Opened::AtEnd);
    assert!(drain(&mut f).0.is_empty());
    w.write(3);
    assert_eq!(drain(&mut f).0, [11, 12, 13]);
}

#[test]
fn waits_end_at_a_change_or_the_deadline() {
    let mut w = Writer::new("wait", Format::JsonFile, Style::Moby, 1 << 30, 1, false);
    let (mut f, _) = w.follow(Start::Since(i64::MIN));
    assert!(f.watch_fd().is_some());
    drain(&mut f);
    assert!(!f.wait(Duration::from_millis(10)), "nothing written");
    w.write(1);
    assert!(f.wait(Duration::from_secs(10)), "a write wakes the wait");
    assert_eq!(drain(&mut f).0, [1]);
    // Waiting on the descriptor instead (as an async runtime would): it is
    // readable after a write, and reading the batch clears it.
    let readable = |f: &Follower| {
        let mut pfd = libc::pollfd { fd: f.watch_fd().unwrap(), events: libc::POLLIN, revents: 0 };
        // SAFETY: one valid pollfd, no wait.
        unsafe { libc::poll(&mut pfd, 1, 0) == 1 }
    };
    assert!(!readable(&f));
    w.write(1);
    assert!(readable(&f));
    assert_eq!(drain(&mut f).0, [2]);
    assert!(!readable(&f), "read_batch read the events");
}

#[test]
fn corrupt_lines_are_named_and_skipped() {
    let mut w = Writer::new("corrupt", Format::JsonFile, Style::Moby, 1 << 30, 1, false);
    let (mut f, _) = w.follow(Start::Since(i64::MIN));
    w.write(1);
    w.file.write_all(b"{\"log\":\"half a line\n").unwrap();
    w.write(1);
    let (seqs, notices, _) = drain(&mut f);
    assert_eq!(seqs, [1, 2]);
    let [Notice { at: 1, kind: NoticeKind::Corrupt { file, offset, reason } }] = &notices[..] else {
        panic!("{notices:?}")
    };
    assert_eq!((file, *offset), (&w.live, w.line(Stream::Stdout, T0 + 1_000, "1 of the rotation test\n").len() as u64));
    assert!(reason.contains("unterminated"), "{reason}");
}

#[test]
fn only_regular_files_beneath_the_root() {
    let w = Writer::new("refused", Format::JsonFile, Style::Moby, 1 << 30, 1, false);
    let mut config = w.config();
    config.root = PathBuf::from("/var/lib/docker");
    assert!(matches!(Follower::open(&config, Start::End), Err(Error::Refused(_))));
    let link = w.live.with_file_name("link-json.log");
    std::os::unix::fs::symlink("/etc/passwd", &link).unwrap();
    let mut config = w.config();
    config.log_path = link;
    let e = Follower::open(&config, Start::End).err().unwrap();
    assert!(e.to_string().contains("symlink"), "{e}");
}

#[test]
fn an_overlong_line_is_skipped_even_while_being_written() {
    let mut w = Writer::new("overlong", Format::JsonFile, Style::Moby, 1 << 30, 1, false);
    let (mut f, _) = w.follow(Start::Since(i64::MIN));
    w.write(1);
    w.file.write_all(b"{\"log\":\"").unwrap();
    w.file.write_all(&vec![b'x'; 1_200_000]).unwrap();
    let (seqs, notices, _) = drain(&mut f);
    assert_eq!(seqs, [1]);
    let [Notice { kind: NoticeKind::Corrupt { reason, .. }, .. }] = &notices[..] else { panic!("{notices:?}") };
    assert!(reason.contains("longer than"), "{reason}");
    w.file.write_all(&vec![b'x'; 300_000]).unwrap();
    let (seqs, notices, _) = drain(&mut f);
    assert!(seqs.is_empty() && notices.is_empty(), "still skipping, nothing else said: {seqs:?} {notices:?}");
    w.file.write_all(b"\",\"stream\":\"stdout\",\"time\":\"2025-11-30T10:53:20Z\"}\n").unwrap();
    w.write(2);
    let (seqs, notices, _) = drain(&mut f);
    assert_eq!((seqs, notices), (vec![2, 3], vec![]));
}
