//! Pressure: a host that stops polling under chatty containers, a line of
//! hundreds of MiB with no newline, and json-file logs rotating under load.
//! Memory is bounded by the configured limits, not by what containers write.

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const STDOUT: u32 = 1;
const MIB: u64 = 1 << 20;

#[test]
fn a_host_that_stops_polling_keeps_memory_bounded_and_loses_nothing() {
    let pause = Duration::from_secs(env_u64("LCT_NO_POLL_SECS", 10));
    let (max_records, max_bytes) = (4096u64, 256 * 1024u64);
    let mut c = Containers::new("nopoll");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "queue_max_records": max_records,
        "queue_max_bytes": max_bytes,
        "max_line_bytes": "64KiB",
        "rotation_interval": "1s",
    }));
    // Four containers, 50,000 numbered lines of 200 bytes each: 40 MB,
    // most of it written while nobody polls.
    let n = 50_000;
    let script = format!(
        "p=$(head -c 200 /dev/zero | tr '\\0' x); i=0; while [ $i -lt {n} ]; do i=$((i+1)); echo \"$i $p\"; done"
    );
    let specs: Vec<_> = (0..4)
        .map(|i| (format!("chatty{i}"), vec![], script.clone()))
        .collect();
    c.run_many(&specs, 4);
    let names: Vec<String> = specs.iter().map(|s| c.name(&s.0)).collect();
    let mut tally = Tally::default();
    cap.tally_until(
        &mut tally,
        Duration::from_secs(60),
        "a line from each",
        |t| names.iter().all(|n| t.count(n, STDOUT) > 0),
    );

    // The host goes away.
    let rss_before = rss_bytes();
    let stopped = Instant::now();
    let (mut peak_records, mut peak_bytes, mut peak_rss) = (0, 0, rss_before);
    let mut backpressured = false;
    while stopped.elapsed() < pause {
        let s = cap.stats();
        let (records, bytes) = (
            s["queue"]["records"].as_u64().unwrap(),
            s["queue"]["bytes"].as_u64().unwrap(),
        );
        assert!(
            records <= max_records && bytes <= max_bytes,
            "queue over its bounds: {}",
            s["queue"]
        );
        peak_records = peak_records.max(records);
        peak_bytes = peak_bytes.max(bytes);
        peak_rss = peak_rss.max(rss_bytes());
        backpressured |= s["containers"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["state"] == "backpressure");
        std::thread::sleep(Duration::from_millis(100));
    }
    let growth = peak_rss.saturating_sub(rss_before);
    eprintln!(
        "{pause:?} without polling: queue peak {peak_records} records / {peak_bytes} bytes (bounds {max_records} / {max_bytes}); RSS {} MiB → peak {} MiB (+{:.1} MiB)",
        rss_before / MIB,
        peak_rss / MIB,
        growth as f64 / MIB as f64
    );
    assert!(backpressured, "the readers never waited for room");
    assert!(
        peak_records > max_records / 2 || peak_bytes > max_bytes / 2,
        "the queue never filled"
    );
    assert!(growth < 24 * MIB, "memory grew by {growth} bytes");

    // The host is back: everything comes, once.
    let resumed = Instant::now();
    cap.assert_all_exactly_once(&mut tally, &names, n);
    eprintln!("caught up {:?} after polling resumed", resumed.elapsed());
    for name in &names {
        let s = cap.container_stats(name).unwrap();
        assert_eq!(s["errors"], json!({}), "{s}");
    }
}

#[test]
fn a_huge_line_without_newline_is_cut_at_max_line_bytes_in_bounded_memory() {
    let bytes = env_u64("LCT_LONG_LINE_BYTES", 64 * MIB);
    let max_line = MIB;
    let mut c = Containers::new("huge");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "max_line_bytes": max_line,
        "queue_max_bytes": "4MiB",
    }));
    let name = c.name("y");
    let rss_before = rss_bytes();
    let started = Instant::now();
    c.run(
        "y",
        &[],
        &format!("yes | tr -d '\\n' | head -c {bytes}; echo; echo after"),
    );
    let mut recs = Vec::new();
    let mut peak_rss = rss_before;
    let timeout = Duration::from_secs(60 + bytes / (8 * MIB));
    cap.collect_until(&mut recs, timeout, "the line after the huge one", |r| {
        peak_rss = peak_rss.max(rss_bytes());
        r.iter().any(|r| r.message == b"after")
    });
    cap.wait_for(&mut recs, Duration::from_secs(60), "drained", |cap| {
        cap.container_stats(&name)
            .is_some_and(|s| s["state"] == "drained")
    });
    recs.extend(cap.poll(1000, 200).unwrap());
    let growth = peak_rss.saturating_sub(rss_before);
    eprintln!(
        "{} MiB line read in {:?}; RSS +{:.1} MiB; records {:?}",
        bytes / MIB,
        started.elapsed(),
        growth as f64 / MIB as f64,
        recs.iter()
            .map(|r| (r.message.len(), r.flags))
            .collect::<Vec<_>>()
    );
    assert_eq!(
        recs.len(),
        2,
        "{:?}",
        recs.iter()
            .map(|r| (r.message.len(), r.flags))
            .collect::<Vec<_>>()
    );
    let cut = &recs[0];
    assert_eq!(cut.flags & 2, 2, "the cut line is flagged truncated");
    assert!(cut.message.len() as u64 <= max_line && cut.message.len() as u64 > max_line - 4);
    assert!(cut.message.iter().all(|&b| b == b'y'));
    assert_eq!(recs[1].message, b"after");
    assert_eq!(recs[1].flags, 0);
    assert!(growth < 32 * MIB, "memory grew by {growth} bytes");
}

/// The first `most` gaps in an increasing sequence, as (last before, first after).
fn gaps(numbers: &[u64], most: usize) -> Vec<(u64, u64)> {
    let mut prev = 0;
    let mut out = Vec::new();
    for &x in numbers {
        if x > prev + 1 && out.len() < most {
            out.push((prev, x));
        }
        prev = prev.max(x);
    }
    out
}

#[test]
fn json_file_rotation_under_load_repeats_nothing() {
    let fast_lines = env_u64("LCT_ROTATE_LINES", 300_000);
    let paced_lines = 100_000;
    let mut c = Containers::new("jsonrot");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "rotation_interval": "2s",
    }));
    let opts = vec![
        "--log-opt".to_string(),
        "max-size=1m".to_string(),
        "--log-opt".to_string(),
        "max-file=3".to_string(),
    ];
    let specs = vec![
        (
            "fast".to_string(),
            opts.clone(),
            format!("seq 1 {fast_lines}"),
        ),
        // About 20,000 lines a second.
        (
            "paced".to_string(),
            opts,
            seq_script(paced_lines, 1000, "0.05"),
        ),
    ];
    let started = Instant::now();
    c.run_many(&specs, 2);
    let runs = [(c.name("fast"), fast_lines), (c.name("paced"), paced_lines)];
    let mut tally = Tally::default();
    let names: Vec<String> = runs.iter().map(|r| r.0.clone()).collect();
    cap.tally_until_drained(&mut tally, &names, Duration::from_secs(180));
    for (name, n) in &runs {
        let report = tally.report(name, STDOUT, *n);
        let s = cap.container_stats(name).unwrap();
        eprintln!(
            "{name}: {n} lines written in {:?}, {} received, {} lost, {} repeated, {} out of order; reopens {} errors {}",
            started.elapsed(),
            report.received,
            report.lost,
            report.repeated,
            report.out_of_order,
            s["reopens"],
            s["errors"]
        );
        // What the daemon still has on disk was all delivered: whatever was
        // lost, the daemon had deleted (or its follow stream skipped and
        // then deleted).
        let on_disk: Vec<u64> = c
            .docker(&["logs", name])
            .lines()
            .map(|l| l.parse().unwrap())
            .collect();
        let received: std::collections::HashSet<u64> =
            tally.lines(name, STDOUT).iter().copied().collect();
        let missing = on_disk.iter().filter(|x| !received.contains(x)).count();
        eprintln!(
            "{name}: {} lines still on disk (from {}), {missing} of them not delivered; gaps {:?}",
            on_disk.len(),
            on_disk.first().unwrap_or(&0),
            gaps(tally.lines(name, STDOUT), 5)
        );
        assert_eq!(missing, 0, "{name}: lines on disk were not delivered");
        assert_eq!(report.repeated, 0, "{name}: {report:?}");
        assert_eq!(report.out_of_order, 0, "{name}: {report:?}");
        assert!(
            tally.has(name, STDOUT, *n),
            "{name}: the last line is missing: {report:?}"
        );
    }
    assert!(tally.others.is_empty(), "{:?}", tally.others);
}
