//! The engine against the real daemon: exact delivery across rotations,
//! interleaved streams, idle rotation, long lines, TTY, restarts,
//! short-lived containers, unreadable drivers and filters.

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

const STDOUT: u32 = 1;
const STDERR: u32 = 2;
const CONSOLE: u32 = 3;

/// A script that prints 1..=n, pausing `pause` seconds after every `every`
/// lines, to `fd` (1 or 2).
fn paced_seq(n: usize, every: usize, pause: &str, fd: u8) -> String {
    format!("i=0; while [ $i -lt {n} ]; do i=$((i+1)); echo $i >&{fd}; [ $((i % {every})) -eq 0 ] && sleep {pause}; done; true")
}

#[test]
fn sequenced_lines_survive_twenty_rotations_exactly_once() {
    let mut c = Containers::new("rot");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "rotation_interval": "250ms",
        "rotation_jitter": 0.2,
    }));
    let n = 3000;
    let names: Vec<String> = (0..3).map(|i| c.name(&format!("seq{i}"))).collect();
    for i in 0..3 {
        c.run(&format!("seq{i}"), &[], &paced_seq(n, 50, "0.1", 1));
    }
    let mut recs = Vec::new();
    cap.collect_until(&mut recs, Duration::from_secs(90), "3 × 3000 lines", |r| {
        names.iter().all(|name| of(r, name, STDOUT).len() >= n)
    });
    // Nothing more may come (no repeats after the end).
    cap.wait_for(&mut recs, Duration::from_secs(30), "the containers to be drained", |cap| {
        names.iter().all(|n| cap.container_stats(n).is_some_and(|s| s["state"] == "drained"))
    });
    recs.extend(cap.poll(100_000, 500).unwrap());
    for name in &names {
        assert_sequence(&of(&recs, name, STDOUT), n, name);
        let stats = cap.container_stats(name).unwrap();
        let rotations = stats["rotations"].as_u64().unwrap();
        assert!(rotations >= 20, "{name}: only {rotations} rotations: {stats}");
    }
    assert_eq!(cap.stop(), log_capturer::ffi::capture_result::CAPTURE_OK);
}
