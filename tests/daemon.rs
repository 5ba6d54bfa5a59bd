//! The daemon killed (SIGKILL) and started again while sequenced containers
//! keep writing. On a dockerd of the test's own (`--live-restore`, so the
//! containers outlive it): the shared daemon is never touched.

mod common;

use std::collections::HashMap;
use std::time::{Duration, Instant};

use common::dockerd::TestDaemon;
use common::*;
use serde_json::json;

const STDOUT: u32 = 1;

#[test]
fn a_killed_and_restarted_daemon_is_recovered_from_with_every_line_once() {
    let mut daemon = TestDaemon::start().unwrap_or_else(|e| panic!("a second dockerd cannot run here: {e}"));
    daemon.load_test_image();
    let host = daemon.host();
    let mut c = Containers::on("dkill", &host);
    let cap = Capture::start(&json!({
        "docker_host": host,
        "include_containers": [c.prefix],
        "rotation_interval": "2s",
        "read_timeout": "3s",
        "request_timeout": "2s",
        "retry_backoff_secs": 0.25,
        "retry_backoff_max_secs": 1,
    }));
    // About 100 lines/s each, for 25 s.
    let n = 2500;
    let (_, names) = c.run_each("seq", 3, &seq_script(n, 10, "0.1"));
    let mut tally = Tally::default();
    cap.tally_each(&mut tally, &names, 100, Duration::from_secs(60));

    daemon.kill();
    let killed_at = Instant::now();
    // A capture started while the daemon is away finds it by itself.
    let late = Capture::start(&json!({
        "docker_host": host,
        "include_containers": [c.prefix],
        "retry_backoff_secs": 0.25,
        "retry_backoff_max_secs": 1,
    }));
    let mut late_tally = Tally::default();
    // Down for 3 s; the containers keep writing into their pipes.
    while killed_at.elapsed() < Duration::from_secs(3) {
        tally.add(cap.poll(4096, 100).unwrap());
        late_tally.add(late.poll(4096, 10).unwrap());
    }
    let stats = cap.stats();
    eprintln!("daemon down: {}", stats["daemon"]);
    let startup = daemon.restart().unwrap_or_else(|e| panic!("the test dockerd did not come back: {e}"));
    let up_at = Instant::now();
    let at_up: HashMap<&String, usize> = names.iter().map(|n| (n, tally.count(n, STDOUT))).collect();
    cap.tally_until(&mut tally, Duration::from_secs(60), "new lines from every container", |t| {
        names.iter().all(|n| t.count(n, STDOUT) > at_up[n])
    });
    let recovered = up_at.elapsed();
    eprintln!(
        "daemon answered {startup:?} after its restart; every container delivered again {recovered:?} after that"
    );
    assert!(recovered < Duration::from_secs(15), "recovery took {recovered:?}");
    cap.assert_all_exactly_once(&mut tally, &names, n);
    let stats = cap.stats();
    assert_eq!(stats["daemon"]["reachable"], true, "{}", stats["daemon"]);
    for name in &names {
        let s = cap.container_stats(name).unwrap();
        eprintln!("{name}: reopens {} errors {}", s["reopens"], s["errors"]);
    }
    // The late capture read each container from some line on to its end,
    // without a gap or a repeat.
    late.tally_until_drained(&mut late_tally, &names, Duration::from_secs(30));
    for name in &names {
        let lines = late_tally.lines(name, STDOUT);
        let first = *lines.first().unwrap_or_else(|| panic!("{name}: nothing"));
        assert_eq!(lines, (first..=n).collect::<Vec<_>>(), "{name}: late capture");
    }
    eprintln!(
        "the capture started while the daemon was down read from lines {:?} on",
        names.iter().map(|n| late_tally.lines(n, STDOUT)[0]).collect::<Vec<_>>()
    );

    // Stopping while the daemon is away never hangs.
    daemon.kill();
    for capture in [&cap, &late] {
        let started = Instant::now();
        assert_eq!(capture.stop(), log_capturer::ffi::capture_result::CAPTURE_OK);
        let took = started.elapsed();
        eprintln!("stop with the daemon down took {took:?}");
        assert!(took < Duration::from_secs(3), "stop took {took:?}");
    }
    // The containers are removed through the daemon.
    daemon.restart().unwrap_or_else(|e| panic!("the test dockerd did not come back: {e}"));
}

#[test]
fn a_long_daemon_outage_is_retried_with_backoff_not_at_every_watchdog_tick() {
    let mut daemon = TestDaemon::start().unwrap_or_else(|e| panic!("a second dockerd cannot run here: {e}"));
    daemon.load_test_image();
    let host = daemon.host();
    // Through a proxy, to count the attempts while the daemon is away.
    let proxy = common::proxy::Proxy::start_to(&daemon.socket);
    let mut c = Containers::on("outage", &host);
    let cap = Capture::start(&json!({
        "docker_host": proxy.docker_host(),
        "include_containers": [c.prefix],
        "rotation_interval": "1s",
        "request_timeout": "1s",
        "retry_backoff_secs": 0.5,
        "retry_backoff_max_secs": 4,
    }));
    let (ids, names) = c.run_each("t", 3, &seq_script(100_000, 1, "0.1"));
    let mut tally = Tally::default();
    cap.tally_each(&mut tally, &names, 10, Duration::from_secs(60));
    daemon.kill();
    let outage = Duration::from_secs(15);
    let from = proxy.requests().len();
    let killed_at = Instant::now();
    while killed_at.elapsed() < outage {
        tally.add(cap.poll(4096, 100).unwrap());
    }
    let requests = proxy.requests()[from..].to_vec();
    let per_container: Vec<usize> =
        ids.iter().map(|id| requests.iter().filter(|r| r.container() == Some(id.as_str())).count()).collect();
    let stuck: Vec<u64> = names.iter().map(|n| cap.stat(n, &["errors", "rotation_stuck"])).collect();
    eprintln!(
        "{outage:?} outage: attempts per container {per_container:?}, {} in all; rotation_stuck {stuck:?}",
        requests.len()
    );
    daemon.restart().unwrap_or_else(|e| panic!("the test dockerd did not come back: {e}"));
    // Backoff from 0.5 s doubling to 4 s: about 7 attempts in 15 s; allow
    // twice that.
    for (name, n) in names.iter().zip(&per_container) {
        assert!(*n <= 15, "{name}: {n} attempts in {outage:?}");
    }
}

#[test]
fn readers_backing_off_through_an_outage_resume_when_the_daemon_answers() {
    // Readers back off long (40 s at first); discovery probes the daemon at
    // least every 5 s and wakes them once it answers again.
    let mut daemon = TestDaemon::start().unwrap_or_else(|e| panic!("a second dockerd cannot run here: {e}"));
    daemon.load_test_image();
    let host = daemon.host();
    let mut c = Containers::on("dwake", &host);
    let cap = Capture::start(&json!({
        "docker_host": host,
        "include_containers": [c.prefix],
        "read_timeout": "2s",
        "request_timeout": "2s",
        "retry_backoff_secs": 40,
        "retry_backoff_max_secs": 80,
    }));
    let n = 3000;
    let (_, names) = c.run_each("seq", 2, &seq_script(n, 10, "0.1"));
    let mut tally = Tally::default();
    cap.tally_each(&mut tally, &names, 50, Duration::from_secs(60));
    daemon.kill();
    let killed_at = Instant::now();
    while killed_at.elapsed() < Duration::from_secs(3) {
        tally.add(cap.poll(4096, 100).unwrap());
    }
    daemon.restart().unwrap_or_else(|e| panic!("the test dockerd did not come back: {e}"));
    let up_at = Instant::now();
    let at_up: HashMap<&String, usize> = names.iter().map(|n| (n, tally.count(n, STDOUT))).collect();
    cap.tally_until(&mut tally, Duration::from_secs(90), "new lines from every container", |t| {
        names.iter().all(|n| t.count(n, STDOUT) > at_up[n])
    });
    let recovered = up_at.elapsed();
    eprintln!("every container delivered again {recovered:?} after the daemon answered");
    // The readers' own backoff was 20 to 40 s; woken, they are back well
    // within discovery's probing interval.
    assert!(recovered < Duration::from_secs(12), "recovery took {recovered:?}");
    cap.assert_all_exactly_once(&mut tally, &names, n);
}
