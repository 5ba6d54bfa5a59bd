//! The host clock stepped back behind lines already read (#12): lines the
//! daemon stamps after such a step are stamped before them, and through
//! the API can be told neither from re-sent lines nor by `since`; the
//! capture reports a gap. Read from the log file on from its cursor, they
//! are simply the lines after it: the capture counts a step, no gap.
//!
//! The host's clock is not stepped here (the daemon and everything else on
//! the machine share it): the capture's own clock is put behind the
//! daemon's instead, with libfaketime in a child process of this test, so
//! that what the capture sees is what it sees after a step back: lines
//! read stamped after its clock's now. The daemon and the containers are
//! real.

mod common;

use std::path::PathBuf;
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::*;
use serde_json::json;

const STDOUT: u32 = 1;
/// Set in the child: the file libfaketime reads the capture's clock offset
/// from.
const CHILD: &str = "LCT_CLOCK_OFFSET_FILE";
const STEP_BACK_SECONDS: i64 = 120;

/// Debian's `faketime` package's library (scripts/deps.sh installs it).
fn libfaketime() -> PathBuf {
    let found = std::fs::read_dir("/usr/lib")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("faketime/libfaketime.so.1"))
        .find(|p| p.exists());
    found.expect("libfaketime.so.1 under /usr/lib/*/faketime (Debian's faketime package; scripts/deps.sh installs it)")
}

#[test]
fn a_clock_stepped_back_behind_lines_read_is_reported_once_as_a_gap() {
    in_stepped_child("a_clock_stepped_back_behind_lines_read_is_reported_once_as_a_gap", "api");
}

#[test]
fn a_clock_stepped_back_while_the_file_is_read_in_order_is_a_step_not_a_gap() {
    in_stepped_child("a_clock_stepped_back_while_the_file_is_read_in_order_is_a_step_not_a_gap", "file");
}

/// Runs `test` again in a child whose clock this process steps back, the
/// capture reading with `log_source`.
fn in_stepped_child(test: &str, log_source: &str) {
    if let Some(file) = std::env::var_os(CHILD) {
        return stepped_back_child(PathBuf::from(file), log_source);
    }
    let dir = tempfile_dir(log_source);
    let offset = dir.join("offset");
    std::fs::write(&offset, "+0\n").unwrap();
    let status = Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(CHILD, &offset)
        .env("LD_PRELOAD", libfaketime())
        .env("FAKETIME_TIMESTAMP_FILE", &offset)
        .env("FAKETIME_NO_CACHE", "1")
        // Only the wall clock steps; deadlines keep counting.
        .env("DONT_FAKE_MONOTONIC", "1")
        .status()
        .expect("run the test's child");
    let _ = std::fs::remove_dir_all(&dir);
    assert!(status.success(), "the child (its clock stepped back) failed: {status}");
}

fn tempfile_dir(what: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lct-{}-{what}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn stepped_back_child(offset: PathBuf, log_source: &str) {
    let mut c = Containers::new("clock");
    let name = c.name("w");
    c.run("w", &[], "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done");
    let lines = Arc::new(Mutex::new(Vec::new()));
    let config = json!({ "include_containers": [c.prefix], "rotation_interval": "1s", "log_source": log_source });
    let cap = Capture::start_with_log_lines(&config, lines.clone());
    let mut tally = Tally::default();
    // Renewed twice: a file is read on from its cursor (in its order).
    cap.tally_until(&mut tally, Duration::from_secs(30), "lines and renewals before the step", |t| {
        t.count(&name, STDOUT) >= 20 && cap.stat(&name, &["rotations"]) >= 2
    });
    let errors = |cap: &Capture| cap.container_stats(&name).unwrap()["errors"].clone();
    let kind = if log_source == "file" { "clock_stepped" } else { "clock_behind" };
    assert_eq!(errors(&cap)[kind], serde_json::Value::Null, "no step yet");

    std::fs::write(&offset, format!("-{STEP_BACK_SECONDS}\n")).unwrap();
    cap.tally_until(&mut tally, Duration::from_secs(30), "the step reported", |_| errors(&cap)[kind] == 1);
    let stats = cap.container_stats(&name).unwrap();
    assert_eq!(stats["clock_behind"], true, "{stats}");
    let metrics = cap.metrics_text();
    assert!(metrics.contains(&format!("error_type=\"{kind}\"")), "{metrics}");
    if log_source == "file" {
        // Lines written meanwhile come: a step, no gap.
        assert_eq!(errors(&cap)["clock_behind"], serde_json::Value::Null, "{stats}");
        assert_eq!(stats["gaps"]["count"], 0, "{stats}");
        let said = lines.lock().unwrap().iter().filter(|l| l.contains("delivered in the log file's order")).count();
        assert_eq!(said, 1, "{:?}", lines.lock().unwrap());
    } else {
        assert_reported_as_a_gap(&stats, &lines);
    }

    // Once per episode: later looks of the watchdog say nothing more.
    let before = tally.count(&name, STDOUT);
    cap.tally_until(&mut tally, Duration::from_secs(30), "two more seconds of lines", |t| {
        t.count(&name, STDOUT) >= before + 40
    });
    assert_eq!(errors(&cap)[kind], 1);
    // The daemon's clock did not step: every line comes once, in order
    // (from the first written after the capture started).
    let numbers = tally.lines(&name, STDOUT);
    assert!(numbers.windows(2).all(|w| w[1] == w[0] + 1), "{numbers:?}");
}

/// A gap over the whole step, said once.
fn assert_reported_as_a_gap(stats: &serde_json::Value, lines: &Mutex<Vec<String>>) {
    assert_eq!(stats["gaps"]["count"], 1, "{stats}");
    let gap = &stats["gaps"]["last"];
    let stamp = |key: &str| log_capturer::timestamp::parse_rfc3339(gap[key].as_str().unwrap().as_bytes()).unwrap();
    let span = (stamp("before") - stamp("after")) as f64 / 1e9;
    // From the stepped clock (less the detection's period) to the newest
    // line read: the whole step.
    assert!(
        span >= STEP_BACK_SECONDS as f64 - 1.0 && span < STEP_BACK_SECONDS as f64 + 5.0,
        "gap of {span} s: {stats}"
    );
    let said = lines.lock().unwrap().iter().filter(|l| l.contains("Host clock is behind")).count();
    assert_eq!(said, 1, "{:?}", lines.lock().unwrap());
}
