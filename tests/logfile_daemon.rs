//! The log-file follower on real containers of the real dockerd, whose
//! json-file logs rotate (`max-size`, `max-file`, `compress`): every
//! numbered line arrives once, in order, and every line still on disk
//! when the container ends (what `docker logs` then serves) is read, even
//! by a follower that stopped reading while the log rotated many times.
//! Lines missing are exactly those of files deleted unread, and the
//! follower says so.

mod common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use common::{docker, Containers};
use log_capturer::logfile::{FollowConfig, Follower, Format, Notice, NoticeKind, ReadState, Start};

const LINES: u64 = 60_000;

fn config(id: &str) -> FollowConfig {
    FollowConfig {
        format: Format::JsonFile,
        root: PathBuf::from(docker(&["info", "-f", "{{.DockerRootDir}}"])),
        log_path: PathBuf::from(docker(&["inspect", "-f", "{{.LogPath}}", id])),
        tty: false,
        order_slack_ns: 100_000_000,
        poll_interval: Duration::from_millis(50),
        inotify: true,
    }
}

/// A container writing `LINES` numbered lines as fast as it can, its log
/// rotating with `opts`, once `go` lets it (so the follower is there
/// first); before that it writes `ready`.
fn writer(containers: &mut Containers, name: &str, opts: &[&str]) -> String {
    let mut extra = vec!["--log-driver", "json-file"];
    for opt in opts {
        extra.extend(["--log-opt", opt]);
    }
    let script = format!("echo ready; while [ ! -e /tmp/go ]; do sleep 0.05; done; seq 1 {LINES}");
    containers.run(name, &extra, &script)
}

fn go(id: &str) {
    docker(&["exec", id, "sh", "-c", ": > /tmp/go"]);
}

/// Reads until line `LINES` came (or the deadline); `pause` first waits,
/// without reading, for the container to finish writing.
fn follow(id: &str, pause: bool) -> (Follower, Vec<u64>, Vec<Notice>) {
    let (mut follower, _) = open_when_there(id);
    go(id);
    let (mut seqs, mut notices) = (Vec::new(), Vec::new());
    let deadline = Instant::now() + Duration::from_secs(180);
    let mut paused = !pause;
    while seqs.last() != Some(&LINES) {
        assert!(Instant::now() < deadline, "line {LINES} never came; last {:?}", seqs.last());
        let batch = follower.read_batch(1 << 20).unwrap();
        for e in batch.entries.iter().filter(|e| &e.payload[..] != b"ready\n") {
            let text = std::str::from_utf8(&e.payload).unwrap();
            seqs.push(text.trim_end().parse().unwrap_or_else(|_| panic!("not a number: {text:?}")));
        }
        notices.extend(batch.notices);
        if !paused && !batch.entries.is_empty() {
            docker(&["wait", id]);
            paused = true;
        }
        if batch.state == ReadState::AtEnd {
            follower.wait(Duration::from_millis(500));
        }
    }
    (follower, seqs, notices)
}

fn open_when_there(id: &str) -> (Follower, log_capturer::logfile::Opened) {
    let config = config(id);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match Follower::open(&config, Start::Since(i64::MIN)) {
            Ok(opened) => return opened,
            Err(e) if Instant::now() < deadline && e.kind() == "not_found" => {
                std::thread::sleep(Duration::from_millis(20))
            }
            Err(e) => panic!("{e}"),
        }
    }
}

/// The numbers `docker logs` serves once the container ended: every line
/// still on disk.
fn on_disk(id: &str) -> BTreeSet<u64> {
    docker(&["wait", id]);
    docker(&["logs", id]).lines().filter(|l| *l != "ready").map(|l| l.parse().unwrap()).collect()
}

/// Every line once, in order; every line on disk read; what is missing is
/// inside a gap the follower reported.
fn check(seqs: &[u64], notices: &[Notice], on_disk: &BTreeSet<u64>) -> usize {
    assert!(seqs.windows(2).all(|w| w[0] < w[1]), "a line repeated or out of order");
    let read: BTreeSet<u64> = seqs.iter().copied().collect();
    let unread: Vec<&u64> = on_disk.difference(&read).collect();
    assert!(unread.is_empty(), "{} lines on disk were not read, first {:?}", unread.len(), unread.first());
    let gaps = notices.iter().filter(|n| matches!(n.kind, NoticeKind::Gap { .. })).count();
    let holes = seqs.windows(2).filter(|w| w[1] != w[0] + 1).count() + usize::from(seqs.first() != Some(&1));
    assert_eq!(holes, gaps, "each hole in the numbers is a reported gap: {notices:?}");
    for notice in notices {
        assert!(
            matches!(notice.kind, NoticeKind::Rotated { .. } | NoticeKind::Gap { certain: true, .. }),
            "{notice:?}"
        );
    }
    notices.iter().filter(|n| matches!(n.kind, NoticeKind::Rotated { .. })).count()
}

#[test]
fn follows_a_rotating_log_keeping_up() {
    let mut containers = Containers::new("logfile-live");
    let plain = writer(&mut containers, "plain", &["max-size=100k", "max-file=5"]);
    let compressed = writer(&mut containers, "gz", &["max-size=100k", "max-file=5", "compress=true"]);
    for (id, name) in [(plain, "plain"), (compressed, "gz")] {
        let (mut follower, seqs, notices) = follow(&id, false);
        let rotations = check(&seqs, &notices, &on_disk(&id));
        assert!(rotations > 0, "the log rotated");
        // Removed: the files it held are read to their end, then it is gone.
        containers.remove(&[containers.name(name)]);
        let batch = follower.read_batch(1 << 20).unwrap();
        assert!(batch.entries.is_empty() && batch.state == ReadState::Gone, "{:?}", batch.state);
    }
}

#[test]
fn a_follower_that_stopped_reading_reads_everything_still_on_disk() {
    let mut containers = Containers::new("logfile-paused");
    // 60,000 lines are ~4.4 MB of json-file: with 300k files, 14 rotations,
    // all kept (max-file 20), or most deleted (max-file 3).
    let kept = writer(&mut containers, "kept", &["max-size=300k", "max-file=20", "compress=true"]);
    let (_, seqs, notices) = follow(&kept, true);
    check(&seqs, &notices, &on_disk(&kept));
    assert_eq!(seqs.len() as u64, LINES, "nothing was deleted, nothing is missing");
    let rotated: Vec<_> = notices
        .iter()
        .filter_map(|n| match n.kind {
            NoticeKind::Rotated { rotations } => rotations,
            _ => None,
        })
        .collect();
    assert!(rotated.iter().sum::<u64>() >= 10, "many rotations at once: {rotated:?}");

    let deleting = writer(&mut containers, "deleting", &["max-size=300k", "max-file=3"]);
    let (_, seqs, notices) = follow(&deleting, true);
    check(&seqs, &notices, &on_disk(&deleting));
    assert!(seqs.len() < LINES as usize, "files were deleted before they were read");
}
