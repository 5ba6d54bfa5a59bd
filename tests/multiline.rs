//! Multiline grouping against the real daemon: containers print recorded
//! Java, Python and Go traces (tests/fixtures/multiline, from real runtimes)
//! and every trace arrives as one record, per container and per stream,
//! stamped with its first line's time; across stream rotations, a
//! watchdog restart of the reader, a restart of the daemon and a restart
//! of the capture with a position file; flushed after its timeout while the
//! container runs on; chosen per container by label.

mod common;

use std::collections::HashMap;
use std::ffi::{c_char, c_void, CStr};
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use common::dockerd::TestDaemon;
use common::*;
use log_capturer::ffi::capture_result::CAPTURE_OK;
use log_capturer::ffi::capture_set_log_callback;
use log_capturer::timestamp::parse_rfc3339;
use serde_json::json;

const STDOUT: u32 = 1;
const STDERR: u32 = 2;
const CONSOLE: u32 = 3;

const JAVA: &str = include_str!("fixtures/multiline/java.txt");
const PYTHON: &str = include_str!("fixtures/multiline/python.txt");
const GO_ALL: &str = include_str!("fixtures/multiline/go_all.txt");
const GO_NIL: &str = include_str!("fixtures/multiline/go_nil.txt");

/// The events of each fixture as line spans (from 1, inclusive): what the
/// parser's unit tests establish (src/multiline/parsers.rs).
const JAVA_SPANS: &[(usize, usize)] = &[(1, 1), (2, 18), (19, 19), (20, 33), (34, 42), (43, 51), (52, 52), (53, 54)];
const PYTHON_SPANS: &[(usize, usize)] =
    &[(1, 1), (2, 8), (9, 9), (10, 23), (24, 40), (41, 44), (45, 53), (54, 54), (55, 61)];
const GO_ALL_SPANS: &[(usize, usize)] = &[(1, 1), (2, 20)];

/// The messages a fixture's events should arrive as: their lines joined
/// with `\n`.
fn events(text: &str, spans: &[(usize, usize)]) -> Vec<String> {
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(spans.last().unwrap().1, lines.len(), "the spans cover the fixture");
    spans.iter().map(|&(a, b)| lines[a - 1..b].join("\n")).collect()
}

/// A shell command printing `text` as it is (a quoted here-document),
/// `to` a redirection such as `>&2` or empty.
fn print(text: &str, to: &str) -> String {
    print_then(text, to, "")
}

/// `print`, with `after` ending its command line (e.g. `&`).
fn print_then(text: &str, to: &str, after: &str) -> String {
    assert!(!text.contains("LCT_END"));
    format!("cat {to} <<'LCT_END' {after}\n{text}LCT_END\n")
}

/// The first `n` lines of a fixture, with their newline.
fn first_lines(text: &str, n: usize) -> String {
    text.lines().take(n).map(|l| format!("{l}\n")).collect()
}

/// Lines `from..=to` (from 1) of a fixture, with their newline.
fn line_range(text: &str, from: usize, to: usize) -> String {
    text.lines().skip(from - 1).take(to + 1 - from).map(|l| format!("{l}\n")).collect()
}

/// A capture of this test's containers, read from their first line.
fn config(c: &Containers, multiline: serde_json::Value) -> serde_json::Value {
    json!({ "include_containers": [c.prefix], "since": "all", "multiline": multiline })
}

/// Polls until every named container is drained (its open events flushed
/// and delivered before it says so), then takes what is left.
fn collect_drained(cap: &Capture, names: &[&str]) -> Vec<Rec> {
    let mut recs = Vec::new();
    cap.wait_for(&mut recs, Duration::from_secs(120), "every container drained", |cap| {
        names.iter().all(|n| cap.container_stats(n).is_some_and(|s| s["state"] == "drained"))
    });
    recs.extend(cap.poll(100_000, 300).unwrap());
    recs
}

fn texts(recs: &[&Rec]) -> Vec<String> {
    recs.iter().map(|r| r.text()).collect()
}

/// Docker's own stamps of a container's lines, per stream (`docker logs
/// -t` writes stdout lines to its stdout, stderr lines to its stderr).
fn docker_stamps(name: &str) -> HashMap<u32, Vec<i64>> {
    let out = docker_cmd().args(["logs", "-t", name]).output().unwrap();
    assert!(out.status.success());
    let stamps = |bytes: &[u8]| -> Vec<i64> {
        bytes
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| parse_rfc3339(&l[..l.iter().position(|b| *b == b' ').unwrap()]).unwrap())
            .collect()
    };
    HashMap::from([(STDOUT, stamps(&out.stdout)), (STDERR, stamps(&out.stderr))])
}

/// Checks that a stream of a container brought exactly `want`, each record
/// stamped with its first line's time and flagged nothing.
fn assert_events(recs: &[Rec], name: &str, stream: u32, want: &[String], spans: &[(usize, usize)]) {
    let got = of(recs, name, stream);
    assert_eq!(texts(&got), want, "{name}, stream {stream}");
    let stamps = &docker_stamps(name)[&stream];
    for (rec, (first, _)) in got.iter().zip(spans) {
        assert_eq!(rec.ts_ns, stamps[first - 1], "{name}: the event's stamp is its first line's");
        assert_eq!(rec.flags, 0);
    }
}

#[test]
fn each_languages_traces_are_one_record_each_on_both_streams_of_three_containers_at_once() {
    // The capture's parser is java; the python and go containers choose
    // theirs by label. Each prints its traces to stdout and stderr at once.
    let mut c = Containers::new("ml-lang");
    let cap = Capture::start(&config(&c, json!({"parser": "java"})));
    let both = |text: &str| format!("{}{}wait\n", print_then(text, "", "&"), print(text, ">&2"));
    let specs = [
        ("java", vec![], both(JAVA)),
        ("python", vec!["--label".to_string(), "log_capturer.multiline=python".into()], both(PYTHON)),
        ("go", vec!["--label".to_string(), "log_capturer.multiline=go".into()], both(GO_ALL)),
    ];
    let specs: Vec<(String, Vec<String>, String)> =
        specs.into_iter().map(|(n, extra, script)| (n.to_string(), extra, script)).collect();
    c.run_many(&specs, 3);
    let names = [c.name("java"), c.name("python"), c.name("go")];
    let recs = collect_drained(&cap, &names.iter().map(String::as_str).collect::<Vec<_>>());
    for (name, text, spans) in
        [(&names[0], JAVA, JAVA_SPANS), (&names[1], PYTHON, PYTHON_SPANS), (&names[2], GO_ALL, GO_ALL_SPANS)]
    {
        let want = events(text, spans);
        assert_events(&recs, name, STDOUT, &want, spans);
        assert_events(&recs, name, STDERR, &want, spans);
    }
    assert_eq!(recs.len(), 2 * (JAVA_SPANS.len() + PYTHON_SPANS.len() + GO_ALL_SPANS.len()), "nothing else came");
}

#[test]
fn a_tty_containers_console_lines_group_too() {
    let mut c = Containers::new("ml-tty");
    let cap = Capture::start(&config(&c, json!({"parser": "go"})));
    let name = c.name("tty");
    c.run("tty", &["-t"], &print(GO_NIL, ""));
    let recs = collect_drained(&cap, &[&name]);
    // A terminal ends lines with "\r\n"; the records do not.
    assert_eq!(texts(&of(&recs, &name, CONSOLE)), events(GO_NIL, &[(1, 1), (2, 11)]));
    assert_eq!(recs.len(), 2);
}

static LOG_LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn keep_log_line(_: *mut c_void, _: i32, message: *const c_char) {
    // SAFETY: the library passes a NUL-terminated string valid for the call.
    let text = unsafe { CStr::from_ptr(message) }.to_string_lossy().into_owned();
    LOG_LINES.lock().unwrap().push(text);
}

#[test]
fn a_label_chooses_a_parser_or_turns_grouping_off_and_a_bad_one_is_logged_once() {
    let mut c = Containers::new("ml-label");
    let cap = Capture::start(&config(&c, json!({"parser": "java"})));
    // SAFETY: a valid handle and a callback that outlives the capture.
    assert_eq!(unsafe { capture_set_log_callback(cap.handle, Some(keep_log_line), std::ptr::null_mut()) }, CAPTURE_OK);
    let label = |value: &str| vec!["--label".to_string(), format!("log_capturer.multiline={value}")];
    let specs: Vec<(String, Vec<String>, String)> = vec![
        ("python".into(), label("python"), print(PYTHON, "")),
        ("off".into(), label("off"), print(JAVA, "")),
        ("ruby".into(), label("ruby"), print(JAVA, "")),
    ];
    let ids = c.run_many(&specs, 3);
    let names = [c.name("python"), c.name("off"), c.name("ruby")];
    let recs = collect_drained(&cap, &names.iter().map(String::as_str).collect::<Vec<_>>());
    assert_eq!(texts(&of(&recs, &names[0], STDOUT)), events(PYTHON, PYTHON_SPANS));
    assert_eq!(texts(&of(&recs, &names[1], STDOUT)), JAVA.lines().collect::<Vec<_>>(), "off: a record a line");
    assert_eq!(texts(&of(&recs, &names[2], STDOUT)), events(JAVA, JAVA_SPANS), "a bad label: the capture's parser");
    let short = &ids[2][..12];
    let lines = LOG_LINES.lock().unwrap();
    let about: Vec<&String> = lines.iter().filter(|l| l.contains("multiline label") && l.contains(short)).collect();
    assert_eq!(about.len(), 1, "{lines:?}");
    assert!(about[0].contains(r#"log_capturer.multiline=\"ruby\""#) || about[0].contains("ruby"), "{}", about[0]);
    assert!(!lines.iter().any(|l| l.contains("multiline label") && !l.contains(short)), "{lines:?}");
}

#[test]
fn an_open_event_goes_out_after_its_timeout_while_the_container_runs_on() {
    let mut c = Containers::new("ml-timeout");
    let cap = Capture::start(&config(&c, json!({"parser": "java", "timeout_ms": 300})));
    let name = c.name("quiet");
    // The first trace, then nothing: no line ends it, the container runs.
    c.run("quiet", &[], &format!("{}exec sleep 600", print(&first_lines(JAVA, 18), "")));
    let mut recs = Vec::new();
    cap.collect_until(&mut recs, Duration::from_secs(60), "the trace", |r| of(r, &name, STDOUT).len() >= 2);
    assert_eq!(texts(&of(&recs, &name, STDOUT)), &events(JAVA, JAVA_SPANS)[..2]);
    let stats = cap.container_stats(&name).unwrap();
    assert_eq!(stats["state"], "following", "flushed by its timeout, not by the container's end");
    assert_eq!(stats["held_lines"], 0);
}

/// Waits (polling into `recs`) until the container's reader holds `lines`
/// lines in open events.
fn wait_held(cap: &Capture, recs: &mut Vec<Rec>, name: &str, lines: u64) {
    cap.wait_for(recs, Duration::from_secs(60), &format!("{lines} held lines"), |cap| {
        cap.stat(name, &["held_lines"]) == lines
    });
}

/// A script printing lines `1..=split` of the Java fixture, then
/// `meanwhile`, waiting for `/tmp/go` (made with `docker exec`), then the
/// rest, then staying up.
fn split_trace_script(split: usize, meanwhile: &str) -> String {
    let total = JAVA.lines().count();
    split_script(split, meanwhile, &print(&line_range(JAVA, split + 1, total), ""))
}

/// `split_trace_script`, with the rest written 8 lines at a time, 50 ms
/// apart. (Written at once, into files of 2 KiB, it can fill and rotate a
/// whole file while the reader is following: 20.10's follower skips such a
/// file, and its lines were lost unreported when the machine was loaded.)
fn paced_split_trace_script(split: usize, meanwhile: &str) -> String {
    let lines: Vec<&str> = JAVA.lines().skip(split).collect();
    let rest: String =
        lines.chunks(8).map(|chunk| print(&format!("{}\n", chunk.join("\n")), "") + "sleep 0.05\n").collect();
    split_script(split, meanwhile, &rest)
}

/// The first `split` lines, `meanwhile`, the wait for `/tmp/go`, then the
/// commands `rest` that write the others, then staying up.
fn split_script(split: usize, meanwhile: &str, rest: &str) -> String {
    format!(
        "{}{meanwhile}\nwhile [ ! -e /tmp/go ]; do sleep 0.05; done\n{rest}exec sleep 600",
        print(&first_lines(JAVA, split), "")
    )
}

#[test]
fn a_trace_spanning_stream_rotations_arrives_whole() {
    let mut c = Containers::new("ml-rotate");
    let mut cfg = config(&c, json!({"parser": "java", "timeout_ms": 60_000}));
    cfg["rotation_interval"] = json!("1s");
    cfg["rotation_jitter"] = json!(0);
    let cap = Capture::start(&cfg);
    let name = c.name("split");
    // Line 1 is an event; lines 2..10 open the first trace and wait.
    c.run("split", &[], &split_trace_script(10, ""));
    let mut recs = Vec::new();
    wait_held(&cap, &mut recs, &name, 9);
    let rotations = cap.stat(&name, &["rotations"]);
    cap.wait_for(&mut recs, Duration::from_secs(30), "two rotations with the trace held", |cap| {
        cap.stat(&name, &["rotations"]) >= rotations + 2
    });
    assert_eq!(cap.stat(&name, &["held_lines"]), 9, "held across the rotations");
    c.docker(&["exec", &name, "sh", "-c", ": > /tmp/go"]);
    // The last event (53..54) has no line after it to end it: it stays held.
    let want = events(JAVA, JAVA_SPANS);
    cap.collect_until(&mut recs, Duration::from_secs(60), "the rest", |r| of(r, &name, STDOUT).len() >= want.len() - 1);
    assert_eq!(texts(&of(&recs, &name, STDOUT)), &want[..want.len() - 1]);
}

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lct-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("positions.json")
}

#[test]
fn a_trace_spanning_a_capture_restart_arrives_once_and_whole() {
    let mut c = Containers::new("ml-restart");
    let path = temp_file("ml-restart");
    let mut cfg = config(&c, json!({"parser": "java", "timeout_ms": 60_000}));
    cfg["checkpoint_path"] = json!(path);
    cfg["checkpoint_interval"] = json!("50ms");
    let name = c.name("split");
    // A line on stderr well after the held ones: when it is received, the
    // position file may lift stdout up to it, but not past a held line.
    c.run("split", &[], &split_trace_script(10, "sleep 0.3; echo marker >&2"));

    // The first capture delivers line 1 and the marker, and holds the
    // trace's first 9 lines when it stops: they are in no record, and its
    // position file keeps them ahead.
    let cap = Capture::start(&cfg);
    let mut first = Vec::new();
    wait_held(&cap, &mut first, &name, 9);
    cap.collect_until(&mut first, Duration::from_secs(30), "the marker", |r| !of(r, &name, STDERR).is_empty());
    first.extend(cap.poll(1000, 200).unwrap());
    assert_eq!(cap.stop(), CAPTURE_OK);
    drop(cap);
    assert_eq!(texts(&of(&first, &name, STDOUT)), [JAVA.lines().next().unwrap()]);
    assert_eq!(texts(&of(&first, &name, STDERR)), ["marker"]);

    // The rest of the trace is written while no capture runs.
    c.docker(&["exec", &name, "sh", "-c", ": > /tmp/go"]);
    let cap = Capture::start(&cfg);
    let want = events(JAVA, JAVA_SPANS);
    let mut second = Vec::new();
    cap.collect_until(&mut second, Duration::from_secs(60), "the rest", |r| {
        of(r, &name, STDOUT).len() >= want.len() - 2
    });
    second.extend(cap.poll(1000, 300).unwrap());
    assert_eq!(texts(&of(&second, &name, STDOUT)), &want[1..want.len() - 1], "once, whole, nothing repeated");
    assert!(of(&second, &name, STDERR).is_empty(), "the marker came again");
}

#[test]
fn a_trace_held_when_the_watchdog_restarts_its_reader_arrives_whole() {
    // The reader's stream is frozen behind a proxy until the watchdog
    // restarts it: the new reader starts from the published position,
    // which must not pass the lines the old one held.
    let proxy = common::proxy::Proxy::start();
    let mut c = Containers::new("ml-watchdog");
    let mut cfg = config(&c, json!({"parser": "java", "timeout_ms": 60_000}));
    for (key, value) in [
        ("docker_host", json!(proxy.docker_host())),
        ("rotation_interval", json!("1s")),
        ("rotation_jitter", json!(0)),
        ("request_timeout", json!("1s")),
        ("read_timeout", json!("5s")),
        ("retry_backoff_secs", json!(0.2)),
        ("retry_backoff_max_secs", json!(1)),
    ] {
        cfg[key] = value;
    }
    let cap = Capture::start(&cfg);
    let name = c.name("split");
    let id = c.run("split", &[], &split_trace_script(10, ""));
    let mut recs = Vec::new();
    wait_held(&cap, &mut recs, &name, 9);
    proxy.delay_headers(common::proxy::Target::AllLogs, Duration::from_secs(3600));
    proxy.freeze(common::proxy::Target::Logs(id));
    cap.wait_for(&mut recs, Duration::from_secs(30), "a watchdog restart", |cap| {
        cap.stat(&name, &["watchdog_restarts"]) >= 1
    });
    proxy.clear_delay();
    proxy.unfreeze();
    c.docker(&["exec", &name, "sh", "-c", ": > /tmp/go"]);
    let want = events(JAVA, JAVA_SPANS);
    cap.collect_until(&mut recs, Duration::from_secs(60), "the rest", |r| of(r, &name, STDOUT).len() >= want.len() - 1);
    recs.extend(cap.poll(1000, 300).unwrap());
    assert_eq!(texts(&of(&recs, &name, STDOUT)), &want[..want.len() - 1]);
}

#[test]
fn a_trace_held_across_a_daemon_restart_arrives_whole() {
    // A dockerd of the test's own (`--live-restore`: the container outlives
    // it) is killed and started again while the reader holds a trace.
    let mut daemon = TestDaemon::start().unwrap_or_else(|e| panic!("a second dockerd cannot run here: {e}"));
    daemon.load_test_image();
    let host = daemon.host();
    let mut c = Containers::on("ml-daemon", &host);
    let mut cfg = config(&c, json!({"parser": "java", "timeout_ms": 60_000}));
    for (key, value) in [
        ("docker_host", json!(host)),
        ("read_timeout", json!("3s")),
        ("request_timeout", json!("2s")),
        ("retry_backoff_secs", json!(0.25)),
        ("retry_backoff_max_secs", json!(1)),
    ] {
        cfg[key] = value;
    }
    let cap = Capture::start(&cfg);
    let name = c.name("split");
    c.run("split", &[], &split_trace_script(10, ""));
    let mut recs = Vec::new();
    wait_held(&cap, &mut recs, &name, 9);
    let reopens = |cap: &Capture| -> u64 {
        cap.container_stats(&name).unwrap()["reopens"].as_object().unwrap().values().filter_map(|v| v.as_u64()).sum()
    };
    let before = reopens(&cap);
    daemon.kill();
    daemon.restart().unwrap_or_else(|e| panic!("the test dockerd did not come back: {e}"));
    c.docker(&["exec", &name, "sh", "-c", ": > /tmp/go"]);
    let want = events(JAVA, JAVA_SPANS);
    cap.collect_until(&mut recs, Duration::from_secs(90), "the rest", |r| of(r, &name, STDOUT).len() >= want.len() - 1);
    recs.extend(cap.poll(1000, 300).unwrap());
    assert_eq!(texts(&of(&recs, &name, STDOUT)), &want[..want.len() - 1], "once and whole");
    assert!(reopens(&cap) > before, "the log was opened again after the restart");
}
#[test]
fn a_trace_cut_by_a_log_file_rotation_arrives_whole() {
    // The trace's first lines are in a json-file that the daemon rotates
    // while they are held; the rest is written to a later file. Files of
    // 2 KiB, written in bursts of 20 lines (2.3 KiB): 20.10's follower
    // never reads a file written and rotated whole within one burst (lines
    // 181..197 of the filler, here), so such a log must be polled.
    let mut c = Containers::new("ml-logrot");
    let mut cfg = config(&c, json!({"parser": "java", "timeout_ms": 60_000}));
    // Renewed while the trace is held (with `auto`, the rest comes from
    // the files).
    cfg["rotation_interval"] = json!("2s");
    cfg["rotation_jitter"] = json!(0);
    let cap = Capture::start(&cfg);
    let name = c.name("split");
    // Paced, and enough files kept, that nothing is deleted unread.
    let filler = "i=0; while [ $i -lt 200 ]; do echo filler-$i-abcdefghijklmnopqrstuvwxyz0123456789 >&2; \
                  i=$((i+1)); [ $((i % 20)) = 0 ] && sleep 0.05; done";
    let opts = ["--log-opt", "max-size=2k", "--log-opt", "max-file=50"];
    c.run("split", &opts, &paced_split_trace_script(10, filler));
    let filler: Vec<String> = (0..200).map(|i| format!("filler-{i}-abcdefghijklmnopqrstuvwxyz0123456789")).collect();
    let mut recs = Vec::new();
    cap.collect_until(&mut recs, Duration::from_secs(60), "the last filler line", |r| {
        of(r, &name, STDERR).iter().any(|r| r.text() == filler[199])
    });
    recs.extend(cap.poll(1000, 300).unwrap());
    assert_eq!(texts(&of(&recs, &name, STDERR)), filler, "every filler line once, in order");
    assert_eq!(cap.stat(&name, &["gaps", "count"]), 0);
    if with_source(&cfg)["log_source"] == "api" {
        assert!(cap.stat(&name, &["reopens", "poll"]) > 0, "the busy log of small files was polled");
    }
    assert_eq!(cap.stat(&name, &["held_lines"]), 9, "held while the file rotated");
    let log_path = c.docker(&["inspect", "-f", "{{.LogPath}}", &name]);
    assert!(PathBuf::from(format!("{log_path}.2")).exists(), "the log rotated twice or more");
    c.docker(&["exec", &name, "sh", "-c", ": > /tmp/go"]);
    let want = events(JAVA, JAVA_SPANS);
    cap.collect_until(&mut recs, Duration::from_secs(60), "the rest", |r| of(r, &name, STDOUT).len() >= want.len() - 1);
    recs.extend(cap.poll(1000, 300).unwrap());
    assert_eq!(texts(&of(&recs, &name, STDOUT)), &want[..want.len() - 1], "once and whole");
    assert_eq!(texts(&of(&recs, &name, STDERR)), filler, "and no filler line again");
}
