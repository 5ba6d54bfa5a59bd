//! Leaks and rotation gauges: container churn, many containers through many
//! rotations, rotation continuity and an idle stream's rotations. Tasks and
//! FDs are the engine's own gauges (`tasks`, `file_descriptors_open` in
//! stats); nextest runs each test in its own process, so they are this
//! test's alone.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const STDOUT: u32 = 1;

/// Waits until the followed containers are forgotten and tasks and FDs
/// are back at the baseline (± 2); returns them.
fn back_to_baseline(cap: &Capture, prefix: &str, base: (i64, i64)) -> (i64, i64) {
    let mut last = (0, 0);
    let ours = |cap: &Capture| {
        cap.stats()["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|c| c["name"].as_str().unwrap().starts_with(prefix))
            .count()
    };
    let settled = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(Duration::from_secs(60), "tasks and FDs back at the baseline", || {
            last = cap.tasks_and_fds();
            ours(cap) == 0 && (last.0 - base.0).abs() <= 2 && (last.1 - base.1).abs() <= 2
        })
    }));
    assert!(
        settled.is_ok(),
        "baseline tasks {} FDs {}; now tasks {} FDs {}, {} containers still known",
        base.0,
        base.1,
        last.0,
        last.1,
        ours(cap)
    );
    last
}

#[test]
fn container_churn_is_captured_completely_and_leaves_no_tasks_or_fds() {
    let total = env_u64("LCT_CHURN_CONTAINERS", 500);
    let wave = 20;
    let lines = 200;
    let mut c = Containers::new("churn");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "rotation_interval": "2s",
    }));
    let base = cap.baseline();
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut peak = base;
    let mut all = Vec::new();
    for first in (0..total).step_by(wave) {
        let specs: Vec<_> = (first..total.min(first + wave as u64))
            // Some exit at once, some live on for a second or two.
            .map(|i| (format!("c{i}"), vec![], format!("seq 1 {lines}; sleep {}", i % 3)))
            .collect();
        c.run_many(&specs, 4);
        let names: Vec<String> = specs.iter().map(|s| c.name(&s.0)).collect();
        cap.tally_until(&mut tally, Duration::from_secs(120), "a wave's lines", |t| {
            let now = cap.tasks_and_fds();
            peak = (peak.0.max(now.0), peak.1.max(now.1));
            names.iter().all(|n| t.has(n, STDOUT, lines))
        });
        cap.tally_until_drained(&mut tally, &names, Duration::from_secs(60));
        c.remove(&names);
        all.extend(names);
    }
    for name in &all {
        let report = tally.report(name, STDOUT, lines);
        assert!(report.exact() && report.received == lines as usize, "{name}: {report:?}");
    }
    assert!(tally.others.is_empty(), "{:?}", tally.others);
    // Each was drained before its removal: none is reported lost.
    assert_eq!(cap.stats()["containers_removed_unread"], 0);
    let after = back_to_baseline(&cap, &c.prefix, base);
    eprintln!(
        "{total} containers in {:?}: tasks {} → peak {} → {}; FDs {} → peak {} → {}",
        started.elapsed(),
        base.0,
        peak.0,
        after.0,
        base.1,
        peak.1,
        after.1
    );
}

#[test]
fn fifty_containers_through_a_hundred_rotations_leak_no_tasks_or_fds() {
    let count = env_u64("LCT_LEAK_CONTAINERS", 50);
    let rotations = env_u64("LCT_LEAK_ROTATIONS", 100);
    let mut c = Containers::new("leak");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "rotation_interval": "100ms",
    }));
    let base = cap.baseline();
    // One numbered line a second each.
    let (_, names) = c.run_each("t", count as usize, &seq_script(100_000, 1, "1"));
    let started = Instant::now();
    let mut tally = Tally::default();
    let mut peak = base;
    cap.tally_until(&mut tally, Duration::from_secs(240), "the rotations", |_| {
        let now = cap.tasks_and_fds();
        peak = (peak.0.max(now.0), peak.1.max(now.1));
        let stats = cap.stats();
        let ours: Vec<_> = stats["containers"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|s| s["name"].as_str().unwrap().starts_with(&c.prefix))
            .collect();
        ours.len() == names.len() && ours.iter().all(|s| s["rotations"].as_u64().unwrap() >= rotations)
    });
    let rotated_in = started.elapsed();
    let followed = cap.tasks_and_fds();
    eprintln!(
        "{count} containers × {rotations} rotations in {rotated_in:?}: tasks {} → {} (peak {}), FDs {} → {} (peak {})",
        base.0, followed.0, peak.0, base.1, followed.1, peak.1
    );
    // One reader task per container; one socket each, two while a reopen
    // counts its window, plus the event stream's renewals.
    assert!(peak.0 - base.0 <= 2 * count as i64, "tasks grew by {}", peak.0 - base.0);
    assert!(peak.1 - base.1 <= 2 * count as i64 + 8, "FDs grew by {}", peak.1 - base.1);

    // Every line so far, exactly once: stop them, read them to the end.
    c.kill(&names);
    cap.tally_until_drained(&mut tally, &names, Duration::from_secs(60));
    let mut min_rotations = u64::MAX;
    for name in &names {
        let last = c.last_line(name);
        let report = tally.report(name, STDOUT, last);
        assert!(report.exact() && report.received as u64 == last, "{name}: {report:?}");
        min_rotations = min_rotations.min(cap.stat(name, &["rotations"]));
    }
    assert!(tally.others.is_empty(), "{:?}", tally.others);
    c.remove(&names);
    let after = back_to_baseline(&cap, &c.prefix, base);
    eprintln!("at least {min_rotations} rotations each; after removal: tasks {}, FDs {}", after.0, after.1);
}

#[test]
fn ten_writers_rotate_exactly_once_and_an_idle_stream_rotates_too() {
    let mut c = Containers::new("continuity");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "rotation_interval": "1s",
    }));
    let n = 1000;
    let mut specs: Vec<_> = (0..10).map(|i| (format!("w{i}"), vec![], seq_script(n, 10, "0.1"))).collect();
    specs.push(("idle".into(), vec![], "exec sleep 600".into()));
    c.run_many(&specs, 4);
    let writers: Vec<String> = specs[..10].iter().map(|s| c.name(&s.0)).collect();
    let idle = c.name("idle");
    let mut tally = Tally::default();
    cap.assert_all_exactly_once(&mut tally, &writers, n);
    for name in &writers {
        let s = cap.container_stats(name).unwrap();
        assert!(s["rotations"].as_u64().unwrap() >= 3, "{s}");
        assert_eq!(s["reopens"]["rotation"], s["rotations"], "{s}");
        assert_eq!(s["errors"], json!({}), "{s}");
    }
    cap.tally_until(&mut tally, Duration::from_secs(30), "two idle rotations", |_| {
        cap.stat(&idle, &["rotations"]) >= 2
    });
    let s = cap.container_stats(&idle).unwrap();
    assert_eq!(s["state"], "following", "{s}");
    assert_eq!(s["records"], 0, "{s}");
    let rotations: Vec<u64> = writers.iter().map(|n| cap.stat(n, &["rotations"])).collect();
    eprintln!("writer rotations {rotations:?}; idle rotations {}", s["rotations"]);
}
