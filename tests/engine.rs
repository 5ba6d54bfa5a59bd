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

/// Writes 1, 2, 3… (`every` lines, then a `pause`) until /stop exists,
/// then `end <last number written>`.
fn seq_until_stopped(every: usize, pause: &str) -> String {
    format!("i=0; while [ ! -e /stop ]; do i=$((i+1)); echo $i; [ $((i % {every})) -eq 0 ] && sleep {pause}; done; echo end $i")
}

/// Twenty rotations of each stream while its container writes (however
/// long an engine takes to renew a stream), then every line exactly once.
#[test]
fn sequenced_lines_survive_twenty_rotations_exactly_once() {
    let mut c = Containers::new("rot");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "rotation_interval": "250ms",
        "rotation_jitter": 0.2,
    }));
    let names: Vec<String> = (0..3).map(|i| c.name(&format!("seq{i}"))).collect();
    for i in 0..3 {
        c.run(&format!("seq{i}"), &[], &seq_until_stopped(50, "0.1"));
    }
    let mut recs = Vec::new();
    cap.wait_for(&mut recs, Duration::from_secs(90), "20 rotations of each writer", |cap| {
        names.iter().all(|n| cap.container_stats(n).is_some_and(|s| s["rotations"].as_u64() >= Some(20)))
    });
    for name in &names {
        docker(&["exec", name, "sh", "-c", ": > /stop"]);
    }
    let ended = |r: &[Rec], name: &str| of(r, name, STDOUT).last().is_some_and(|r| r.text().starts_with("end "));
    cap.collect_until(&mut recs, Duration::from_secs(60), "each writer's end", |r| names.iter().all(|n| ended(r, n)));
    // Nothing more may come (no repeats after the end).
    cap.wait_for(&mut recs, Duration::from_secs(30), "the containers to be drained", |cap| {
        names.iter().all(|n| cap.container_stats(n).is_some_and(|s| s["state"] == "drained"))
    });
    recs.extend(cap.poll(100_000, 500).unwrap());
    for name in &names {
        let lines = of(&recs, name, STDOUT);
        let (end, lines) = lines.split_last().unwrap();
        let n: usize = end.text().trim_start_matches("end ").parse().unwrap();
        assert_sequence(lines, n, name);
    }
    assert_eq!(cap.stop(), log_capturer::ffi::capture_result::CAPTURE_OK);
}

#[test]
fn stdout_and_stderr_under_load_are_exact_per_stream() {
    let mut c = Containers::new("mix");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "rotation_interval": "300ms",
    }));
    let n = 40_000;
    let name = c.name("both");
    c.run("both", &[], &format!("seq 1 {n} & seq 1 {n} >&2; wait"));
    let mut recs = Vec::new();
    cap.collect_until(&mut recs, Duration::from_secs(120), "both streams", |r| {
        of(r, &name, STDOUT).len() >= n && of(r, &name, STDERR).len() >= n
    });
    cap.wait_for(&mut recs, Duration::from_secs(30), "the container to be drained", |cap| {
        cap.container_stats(&name).is_some_and(|s| s["state"] == "drained")
    });
    recs.extend(cap.poll(100_000, 200).unwrap());
    assert_sequence(&of(&recs, &name, STDOUT), n, "stdout");
    assert_sequence(&of(&recs, &name, STDERR), n, "stderr");
    // Timestamps never go back within one stream.
    for stream in [STDOUT, STDERR] {
        let ts: Vec<i64> = of(&recs, &name, stream).iter().map(|r| r.ts_ns).collect();
        assert!(ts.windows(2).all(|w| w[0] <= w[1]), "stream {stream} went back in time");
    }
}

#[test]
fn an_idle_container_keeps_rotating() {
    let mut c = Containers::new("idle");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "rotation_interval": "400ms",
    }));
    let name = c.name("quiet");
    c.run("quiet", &[], "sleep 600");
    let mut recs = Vec::new();
    cap.wait_for(&mut recs, Duration::from_secs(30), "two rotations of an idle stream", |cap| {
        cap.container_stats(&name).is_some_and(|s| s["rotations"].as_u64() >= Some(2))
    });
    assert!(recs.is_empty(), "an idle container produced records: {recs:?}");
    let s = cap.container_stats(&name).unwrap();
    assert_eq!(s["state"], "following", "{s}");
    assert!(s["stream_age_seconds"].as_f64().is_some(), "{s}");
}

#[test]
fn long_lines_are_merged_whole_or_cut_and_flagged() {
    let mut c = Containers::new("long");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "max_line_bytes": 50_000,
    }));
    let whole = c.name("whole");
    let cut = c.name("cut");
    // 40,000 characters arrive as three pieces of 16 KiB and one line.
    c.run("whole", &[], "head -c 40000 /dev/zero | tr '\\0' a; echo; echo after");
    // 120,000 bytes of two-byte characters: cut at 50,000, on a boundary.
    c.run("cut", &[], "yes é | head -n 60000 | tr -d '\\n'; echo; echo after");
    let mut recs = Vec::new();
    cap.collect_until(&mut recs, Duration::from_secs(60), "both containers' last line", |r| {
        [&whole, &cut].iter().all(|n| of(r, n, STDOUT).iter().any(|r| r.message == b"after"))
    });
    let w = of(&recs, &whole, STDOUT);
    assert_eq!(w.len(), 2, "{:?}", w.iter().map(|r| r.message.len()).collect::<Vec<_>>());
    assert_eq!(w[0].message, vec![b'a'; 40_000]);
    assert_eq!(w[0].flags, 0);

    let k: Vec<_> = of(&recs, &cut, STDOUT).into_iter().filter(|r| !r.message.is_empty()).collect();
    assert_eq!(k.len(), 2, "{:?}", k.iter().map(|r| (r.message.len(), r.flags)).collect::<Vec<_>>());
    assert_eq!(k[0].flags & 2, 2, "the long line is flagged truncated");
    assert!(k[0].message.len() <= 50_000 && k[0].message.len() >= 49_990, "{}", k[0].message.len());
    let text = std::str::from_utf8(&k[0].message).expect("cut on a character boundary");
    assert!(text.chars().all(|ch| ch == 'é'));
    assert_eq!(k[1].message, b"after");
}

#[test]
fn tty_containers_are_console_lines() {
    let mut c = Containers::new("tty");
    let cap = Capture::start(&json!({ "include_containers": [c.prefix] }));
    let name = c.name("term");
    c.run("term", &["-t"], "seq 1 200; echo oops >&2; sleep 600");
    let mut recs = Vec::new();
    cap.collect_until(&mut recs, Duration::from_secs(30), "201 console lines", |r| of(r, &name, CONSOLE).len() >= 201);
    let lines = of(&recs, &name, CONSOLE);
    assert_sequence(&lines[..200], 200, "tty");
    assert_eq!(lines[200].message, b"oops");
    assert!(of(&recs, &name, STDOUT).is_empty() && of(&recs, &name, STDERR).is_empty());
}

#[test]
fn a_restarted_container_is_followed_again() {
    let mut c = Containers::new("restart");
    let cap = Capture::start(&json!({ "include_containers": [c.prefix], "rotation_interval": "1s" }));
    let name = c.name("again");
    // Each run prints its number, kept in the container's filesystem.
    c.run(
        "again",
        &[],
        "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; echo run-$n; exec sleep 600",
    );
    let mut recs = Vec::new();
    cap.collect_until(&mut recs, Duration::from_secs(30), "run-1", |r| {
        of(r, &name, STDOUT).iter().any(|r| r.message == b"run-1")
    });
    docker(&["restart", "-t", "0", &name]);
    cap.collect_until(&mut recs, Duration::from_secs(30), "run-2", |r| {
        of(r, &name, STDOUT).iter().any(|r| r.message == b"run-2")
    });
    docker(&["stop", "-t", "0", &name]);
    docker(&["start", &name]);
    cap.collect_until(&mut recs, Duration::from_secs(30), "run-3", |r| {
        of(r, &name, STDOUT).iter().any(|r| r.message == b"run-3")
    });
    recs.extend(cap.poll(1000, 300).unwrap());
    let texts: Vec<String> = of(&recs, &name, STDOUT).iter().map(|r| r.text()).collect();
    assert_eq!(texts, vec!["run-1", "run-2", "run-3"]);
}

#[test]
fn a_short_lived_container_is_captured_completely() {
    let mut c = Containers::new("short");
    let cap = Capture::start(&json!({ "include_containers": [c.prefix] }));
    let names: Vec<String> = (0..5).map(|i| c.name(&format!("s{i}"))).collect();
    for i in 0..5 {
        c.run(&format!("s{i}"), &[], "seq 1 1000");
    }
    let mut recs = Vec::new();
    cap.collect_until(&mut recs, Duration::from_secs(60), "5 × 1000 lines", |r| {
        names.iter().all(|n| of(r, n, STDOUT).len() >= 1000)
    });
    cap.wait_for(&mut recs, Duration::from_secs(30), "all drained", |cap| {
        names.iter().all(|n| cap.container_stats(n).is_some_and(|s| s["state"] == "drained"))
    });
    recs.extend(cap.poll(10_000, 200).unwrap());
    for n in &names {
        assert_sequence(&of(&recs, n, STDOUT), 1000, n);
    }
}

#[test]
fn an_unreadable_log_driver_is_reported_once() {
    let mut c = Containers::new("nolog");
    let cap = Capture::start(&json!({ "include_containers": [c.prefix], "rotation_interval": "300ms" }));
    let silent = c.name("none");
    let witness = c.name("witness");
    c.run("none", &["--log-driver", "none"], "while true; do echo lost; sleep 0.1; done");
    c.run("witness", &[], "sleep 600");
    let mut recs = Vec::new();
    cap.wait_for(&mut recs, Duration::from_secs(30), "the unreadable driver error", |cap| {
        cap.container_stats(&silent).is_some_and(|s| s["errors"]["unreadable_driver"] == 1)
    });
    let before = cap.container_stats(&silent).unwrap()["requests"].as_u64().unwrap();
    // Let the witness rotate a few times: the unreadable one must stay quiet.
    let start = cap.container_stats(&witness).map(|s| s["rotations"].as_u64().unwrap()).unwrap_or(0);
    cap.wait_for(&mut recs, Duration::from_secs(30), "the witness to rotate 5 times", |cap| {
        cap.container_stats(&witness).is_some_and(|s| s["rotations"].as_u64().unwrap() >= start + 5)
    });
    let s = cap.container_stats(&silent).unwrap();
    assert_eq!(s["requests"].as_u64().unwrap(), before, "requests kept coming: {s}");
    assert_eq!(s["errors"]["unreadable_driver"], 1, "{s}");
    assert_eq!(s["state"], "unreadable", "{s}");
    // Docker answers 501, Podman 500, each with its own words.
    let says = if Engine::under_test().is_podman() { "cannot read logs" } else { "does not support reading" };
    assert!(s["last_error"].as_str().unwrap().contains(says), "{s}");
    assert!(recs.is_empty());
}

#[test]
fn filters_by_name_label_and_image() {
    let mut c = Containers::new("filter");
    let alt_image = format!("log-capturer-test/busybox-alt:{}", std::process::id());
    docker(&["tag", IMAGE, &alt_image]);
    struct Untag(String);
    impl Drop for Untag {
        fn drop(&mut self) {
            let _ = docker_cmd().args(["rmi", &self.0]).output();
        }
    }
    let _untag = Untag(alt_image.clone());

    let by_name = Capture::start(&json!({
        "include_containers": [c.name("keep")],
        "exclude_containers": [c.name("keep-not")],
    }));
    let by_label = Capture::start(&json!({
        "include_containers": [c.prefix],
        "include_labels": ["team=blue"],
        "exclude_labels": ["skip"],
    }));
    let by_image = Capture::start(&json!({
        "include_containers": [c.prefix],
        "include_images": ["log-capturer-test/busybox-alt"],
    }));
    c.run("keep-1", &["--label", "team=blue"], "echo keep-1");
    c.run("keep-not-2", &["--label", "team=blue", "--label", "skip=1"], "echo keep-not-2");
    c.run("other-3", &["--label", "team=red"], "echo other-3");
    let alt = c.name("alt-4");
    docker(&[
        "run",
        "-d",
        "--network",
        "none",
        "--label",
        "log-capturer-test=1",
        "--name",
        &alt,
        &alt_image,
        "sh",
        "-c",
        "echo alt-4",
    ]);
    // Started by hand: make sure the guard removes it too.
    struct Rm(String);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = docker_cmd().args(["rm", "-f", &self.0]).output();
        }
    }
    let _rm = Rm(alt.clone());
    // Once every container is drained in a capture, nothing more will come.
    let settle = |cap: &Capture, expect: &[&str]| -> Vec<String> {
        let mut recs = Vec::new();
        cap.collect_until(&mut recs, Duration::from_secs(30), "the expected lines", |r| {
            expect.iter().all(|e| r.iter().any(|r| r.text() == *e))
        });
        // Wait until all four containers were looked at: followed or left out.
        cap.wait_for(&mut recs, Duration::from_secs(30), "a decision on all four", |cap| {
            let stats = cap.stats();
            let ours = |v: &serde_json::Value| v.as_str().unwrap_or("").starts_with(&c.prefix);
            let followed = stats["containers"].as_array().unwrap().iter().filter(|s| ours(&s["name"])).count();
            let excluded = stats["excluded_containers"].as_array().unwrap().iter().filter(|n| ours(n)).count();
            followed + excluded >= 4
        });
        recs.extend(cap.poll(1000, 300).unwrap());
        let mut texts: Vec<String> = recs.iter().map(|r| r.text()).collect();
        texts.sort();
        texts
    };
    assert_eq!(settle(&by_name, &["keep-1"]), vec!["keep-1"]);
    assert_eq!(settle(&by_label, &["keep-1"]), vec!["keep-1"]);
    assert_eq!(settle(&by_image, &["alt-4"]), vec!["alt-4"]);
}
