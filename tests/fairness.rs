//! Fairness between containers (issue #16): a flood does not delay a quiet
//! container's lines, a container over its share of the queue pauses and
//! resumes exactly, `container_max_records_per_second` holds, and the
//! queue's global bounds hold under a flood of 100 containers.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const STDOUT: u32 = 1;

/// The queue's stats: (records, bytes, containers waiting).
fn queue(cap: &Capture) -> (u64, u64, u64) {
    let q = &cap.stats()["queue"];
    (q["records"].as_u64().unwrap(), q["bytes"].as_u64().unwrap(), q["containers"].as_u64().unwrap())
}

/// A container's paused seconds for `reason`.
fn paused(cap: &Capture, name: &str, reason: &str) -> f64 {
    cap.container_stats(name).and_then(|s| s["paused_seconds"][reason].as_f64()).unwrap_or(0.0)
}

#[test]
fn a_quiet_containers_lines_come_before_a_floods_backlog() {
    let max_records = 10_000;
    let mut c = Containers::new("quietfirst");
    let cap = Capture::start(&json!({ "include_containers": [c.prefix], "queue_max_records": max_records }));
    let (flood, quiet) = (c.name("flood"), c.name("quiet"));
    c.run("flood", &[], "seq 1 300000");
    // Nobody polls: the flood fills the queue and waits.
    wait_until(Duration::from_secs(60), "the flood to fill the queue", || {
        queue(&cap).0 >= max_records * 9 / 10
            && cap.container_stats(&flood).is_some_and(|s| s["state"] == "backpressure")
    });
    let backlog = queue(&cap).0;
    c.run("quiet", &[], "for i in 1 2 3 4 5; do echo $i; done; exec sleep 3600");
    // Its first line goes in at once, though the flood keeps the queue full
    // (its reader counts its lines once all of them are in).
    wait_until(Duration::from_secs(60), "the quiet container's first line queued", || queue(&cap).2 == 2);
    let mut recs = cap.poll(200, 0).unwrap();
    // The flood is over its share now: the quiet container's other lines
    // take the room the poll made.
    wait_until(Duration::from_secs(30), "the quiet container's lines queued", || cap.stat(&quiet, &["records"]) >= 5);
    recs.extend(cap.poll(200, 0).unwrap());
    assert_sequence(&of(&recs, &quiet, STDOUT), 5, "the quiet container's lines");
    let before = of(&recs, &flood, STDOUT).len();
    eprintln!("the quiet container's 5 lines came after {before} of the flood's {backlog} queued records");
    assert!(before <= 400, "{before} flood records came first");
    // The flood's records come in order all the same.
    let mut tally = Tally::default();
    tally.add(recs);
    cap.assert_all_exactly_once(&mut tally, &[flood], 300_000);
}

#[test]
fn containers_over_their_share_pause_and_resume_exactly() {
    let n = 100_000;
    let mut c = Containers::new("share");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "queue_max_records": 2_000,
        "queue_max_bytes": "64KiB",
        "max_line_bytes": "16KiB",
    }));
    let (_, names) = c.run_each("seq", 3, &format!("seq 1 {n}"));
    // Not polled: each fills its share, and waits.
    wait_until(Duration::from_secs(60), "every container paused", || {
        names.iter().all(|name| cap.container_stats(name).is_some_and(|s| s["state"] == "backpressure"))
    });
    let (records, bytes, containers) = queue(&cap);
    assert!(records <= 2_000 && bytes <= 64 * 1024 && containers == 3, "{}", cap.stats()["queue"]);
    // Polled slowly: they pause and resume many times; every line comes once.
    let mut tally = Tally::default();
    let slow = Instant::now();
    while slow.elapsed() < Duration::from_secs(3) {
        tally.add(cap.poll(300, 100).unwrap());
        std::thread::sleep(Duration::from_millis(20));
    }
    cap.assert_all_exactly_once(&mut tally, &names, n);
    for name in &names {
        let s = paused(&cap, name, "backpressure");
        assert!(s > 0.5, "{name}: paused {s} s");
        assert_eq!(paused(&cap, name, "rate_limit"), 0.0);
    }
}

#[test]
fn the_rate_limit_holds_per_container_within_ten_percent_over_ten_seconds() {
    let (rate, window) = (1_000.0, Duration::from_secs(10));
    let mut c = Containers::new("ratelimit");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "container_max_records_per_second": rate,
        "rotation_interval": "2s",
        "request_timeout": "1s",
    }));
    let (_, names) = c.run_each("seq", 2, "seq 1 100000");
    let mut arrivals: std::collections::HashMap<String, Vec<(Instant, u64)>> = Default::default();
    let mut limited = std::collections::HashSet::new();
    let started = Instant::now();
    let mut first: Option<Instant> = None;
    while first.is_none_or(|t| t.elapsed() < window + Duration::from_secs(1)) {
        assert!(started.elapsed() < Duration::from_secs(90), "timed out; got {:?}", arrivals.keys());
        let recs = cap.poll(10_000, 50).unwrap();
        let at = Instant::now();
        for r in recs {
            first.get_or_insert(at);
            arrivals.entry(r.container_name.clone()).or_default().push((at, r.text().parse().unwrap()));
        }
        let stats = cap.stats();
        for c in stats["containers"].as_array().unwrap().iter().filter(|c| c["state"] == "rate_limited") {
            limited.insert(c["name"].as_str().unwrap().to_string());
        }
    }
    let text = cap.metrics_text();
    promtool_check(&text).unwrap_or_else(|e| panic!("promtool: {e}\n{text}"));
    for name in &names {
        let got = &arrivals[name];
        let start = got[0].0;
        let in_window = got.iter().filter(|(at, _)| *at < start + window).count() as f64;
        let want = rate * window.as_secs_f64();
        eprintln!("{name}: {in_window} records in the first {window:?}, limit {want}");
        // The limit holds: never more than 10 % over it. Less is the
        // daemon's doing on a loaded machine (a reopen whose answer takes a
        // second: 8,544 in a full parallel run), not the limiter's; half
        // says the reader was not stuck.
        assert!(in_window <= want * 1.1, "{name}: {in_window} records in {window:?}, over the limit");
        assert!(in_window >= want * 0.5, "{name}: only {in_window} records in {window:?}");
        // Paused, not dropped: what came is 1, 2, 3… exactly.
        let numbers: Vec<u64> = got.iter().map(|(_, n)| *n).collect();
        assert_eq!(numbers, (1..=numbers.len() as u64).collect::<Vec<_>>(), "{name}");
        let s = cap.container_stats(name).unwrap();
        assert!(paused(&cap, name, "rate_limit") > window.as_secs_f64() / 2.0, "{s}");
        // A rate-limited reader is not stuck: the watchdog leaves it be.
        assert_eq!((s["watchdog_restarts"].as_u64(), s["rotation_stuck"].as_bool()), (Some(0), Some(false)), "{s}");
        let metric =
            sample(&text, "log_capturer_container_paused_seconds_total", &format!("{name}\",reason=\"rate_limit\""));
        assert!(metric > Some(0.0), "{text}");
    }
    assert_eq!(limited.len(), 2, "seen rate_limited: {limited:?}");
    assert!(sample(&text, "log_capturer_paused_seconds_total", "reason=\"rate_limit\"") > Some(0.0), "{text}");
}

#[test]
fn global_bounds_hold_under_a_flood_of_100_containers() {
    let (n, count) = (20_000, 100);
    let (max_records, max_bytes) = (4_096, 256 * 1024);
    let mut c = Containers::new("flood100");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "queue_max_records": max_records,
        "queue_max_bytes": max_bytes,
        "max_line_bytes": "64KiB",
    }));
    // Lines of about 100 bytes: both bounds count.
    let script = format!("seq 1 {n} | sed 's/$/ {}/'", "x".repeat(94));
    let (_, names) = c.run_each("seq", count, &script);
    // Not polled while they start and flood: the bounds hold, and the
    // queue holds every container's records, not one's.
    wait_until(Duration::from_secs(180), "a record of every container queued", || {
        let (records, bytes, containers) = queue(&cap);
        assert!(records <= max_records && bytes <= max_bytes, "queue over its bounds: {}", cap.stats()["queue"]);
        containers == count as u64
    });
    eprintln!("queue: {}", cap.stats()["queue"]);
    let mut tally = Tally::default();
    cap.tally_until(&mut tally, Duration::from_secs(300), "every line", |t| {
        let (records, bytes, _) = queue(&cap);
        assert!(records <= max_records && bytes <= max_bytes, "queue over its bounds: {}", cap.stats()["queue"]);
        names.iter().all(|name| t.has(name, STDOUT, n))
    });
    cap.assert_all_exactly_once(&mut tally, &names, n);
}
