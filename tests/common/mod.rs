//! Helpers for the integration tests: the real-daemon bench, containers
//! made and removed by the test, and a small safe wrapper over the C ABI.
#![allow(dead_code)]

pub mod dockerd;
pub mod engine;
pub mod proxy;

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::process::Command;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Once};
use std::time::{Duration, Instant};

use log_capturer::ffi::*;

pub use engine::Engine;

pub const IMAGE: &str = "log-capturer-test/busybox:latest";

/// Brings up the bench (the engine under test, the test image) once per
/// test process.
pub fn bench() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| Engine::under_test().bring_up());
}

/// The docker CLI on the engine under test, under a deadline: a wedged
/// daemon fails the test instead of hanging it.
pub fn docker_cmd() -> Command {
    Engine::under_test().cli()
}

/// The `docker_host` of the engine under test.
pub fn engine_host() -> &'static str {
    &Engine::under_test().host
}

/// `config` aimed at the engine under test unless it names a `docker_host`.
pub fn on_engine_under_test(config: &serde_json::Value) -> serde_json::Value {
    let mut config = config.clone();
    if let Some(keys) = config.as_object_mut() {
        keys.entry("docker_host").or_insert_with(|| engine_host().into());
    }
    config
}

/// Runs `docker` with `args`; panics with its stderr on failure.
pub fn docker(args: &[&str]) -> String {
    let out = docker_cmd().args(args).output().expect("run docker");
    assert!(out.status.success(), "docker {:?} failed: {}", args, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// The highest number on the last `tail` lines `docker logs` has for a
/// container, stdout's and stderr's alike (0 when none, or when the engine
/// cannot say now): the engine's file may end in a run of one stream's
/// lines (Podman's conmon writes each pipe read whole, so a burst of
/// stderr can follow a burst of stdout), and Podman 4.3 fails the request
/// while a line is half written ("is not a valid container log line").
/// For a wait's condition.
pub fn logged_up_to(name: &str, tail: usize) -> u64 {
    let out = docker_cmd().args(["logs", "--tail", &tail.to_string(), name]).output().expect("run docker");
    if !out.status.success() {
        return 0;
    }
    let text = [out.stdout, out.stderr].concat();
    String::from_utf8_lossy(&text).lines().filter_map(|l| l.trim().parse().ok()).max().unwrap_or(0)
}

/// Like `docker` but returns whether it succeeded.
pub fn docker_ok(args: &[&str]) -> bool {
    docker_cmd().args(args).output().map(|o| o.status.success()).unwrap_or(false)
}

/// A unique name prefix for the containers of one test.
pub fn prefix(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("lct-{}-{}-{}-", std::process::id(), N.fetch_add(1, Ordering::Relaxed), test)
}

/// The docker CLI on `host` (the engine under test when `None`).
fn docker_cmd_at(host: Option<&str>) -> Command {
    match host {
        Some(host) => engine::docker_cli(host),
        None => docker_cmd(),
    }
}

/// Runs `docker -H host` (the engine under test when `host` is `None`)
/// with `args`; panics with its stderr on failure.
pub fn docker_at(host: Option<&str>, args: &[&str]) -> String {
    let out = docker_cmd_at(host).args(args).output().expect("run docker");
    assert!(out.status.success(), "docker {:?} failed: {}", args, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// `docker run -d --network none --label log-capturer-test=1 --name full`
/// of the test image with `extra` options and `sh -c script`, on `host`.
fn run_container(host: Option<&str>, full: &str, extra: &[&str], script: &str) -> String {
    let mut args = vec!["run", "-d", "--network", "none", "--label", "log-capturer-test=1", "--name", full];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[IMAGE, "sh", "-c", script]);
    docker_at(host, &args)
}

/// Containers a test made; removed with their anonymous volumes (`rm -fv`)
/// when dropped.
pub struct Containers {
    pub prefix: String,
    names: Vec<String>,
    /// The daemon they run on (`docker -H`); `None` is the engine under test.
    host: Option<String>,
}

impl Containers {
    pub fn new(test: &str) -> Containers {
        bench();
        Containers { prefix: prefix(test), names: Vec::new(), host: None }
    }

    /// Containers on the daemon at `host` (e.g. `unix:///tmp/x/docker.sock`).
    pub fn on(test: &str, host: &str) -> Containers {
        Containers { prefix: prefix(test), names: Vec::new(), host: Some(host.to_string()) }
    }

    /// `docker` on this set's daemon.
    pub fn docker(&self, args: &[&str]) -> String {
        docker_at(self.host.as_deref(), args)
    }

    /// Runs every `(name, extra options, script)` as `run` does, `parallel`
    /// `docker run`s at a time. Returns the ids in the order given.
    pub fn run_many(&mut self, specs: &[(String, Vec<String>, String)], parallel: usize) -> Vec<String> {
        let next = AtomicUsize::new(0);
        let ids: Vec<std::sync::Mutex<String>> = specs.iter().map(|_| Default::default()).collect();
        let fulls: Vec<String> = specs.iter().map(|(n, _, _)| self.name(n)).collect();
        self.names.extend(fulls.iter().cloned());
        let host = self.host.as_deref();
        std::thread::scope(|scope| {
            for _ in 0..parallel.max(1) {
                scope.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    let Some((_, extra, script)) = specs.get(i) else {
                        break;
                    };
                    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
                    *ids[i].lock().unwrap() = run_container(host, &fulls[i], &extra, script);
                });
            }
        });
        ids.into_iter().map(|m| m.into_inner().unwrap()).collect()
    }

    /// Starts `count` containers named `{name}0`, `{name}1`… running
    /// `script`, four `docker run`s at a time. Returns their ids and full
    /// names.
    pub fn run_each(&mut self, name: &str, count: usize, script: &str) -> (Vec<String>, Vec<String>) {
        let specs: Vec<_> = (0..count).map(|i| (format!("{name}{i}"), vec![], script.to_string())).collect();
        let ids = self.run_many(&specs, 4);
        (ids, specs.iter().map(|s| self.name(&s.0)).collect())
    }

    /// `docker kill` of these containers (full names).
    pub fn kill(&self, names: &[String]) {
        let mut args = vec!["kill"];
        args.extend(names.iter().map(String::as_str));
        self.docker(&args);
    }

    /// The number on the last line `docker logs` has for a container.
    pub fn last_line(&self, name: &str) -> u64 {
        self.docker(&["logs", "--tail", "1", name]).parse().unwrap_or_else(|_| panic!("{name}: no numbered last line"))
    }

    /// `docker rm -fv` of these containers (full names), now.
    pub fn remove(&mut self, names: &[String]) {
        let mut args = vec!["rm", "-fv"];
        args.extend(names.iter().map(String::as_str));
        self.docker(&args);
        self.names.retain(|n| !names.contains(n));
    }

    /// `docker run -d --network none` of the test image with `extra` options
    /// before the image and `sh -c script` after it. Returns the full id.
    pub fn run(&mut self, name: &str, extra: &[&str], script: &str) -> String {
        let full = format!("{}{}", self.prefix, name);
        let id = run_container(self.host.as_deref(), &full, extra, script);
        self.names.push(full);
        id
    }

    pub fn name(&self, name: &str) -> String {
        format!("{}{}", self.prefix, name)
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        if !self.names.is_empty() {
            let _ = docker_cmd_at(self.host.as_deref()).args(["rm", "-fv"]).args(&self.names).output();
        }
    }
}

/// A record copied out of its batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rec {
    pub container_id: String,
    pub container_name: String,
    pub image: String,
    pub stream: u32,
    pub ts_ns: i64,
    pub flags: u32,
    pub message: Vec<u8>,
}

impl Rec {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.message).into_owned()
    }
}

/// `config` with a `log_source` when it names none: the suites written
/// for the API stream (its faults, windows, proxies) keep reading through
/// it, unless `LOG_CAPTURER_TEST_SOURCE` says otherwise (`auto` runs them
/// on log files where the host allows). tests/logfile_source.rs sets its own.
pub fn with_source(config: &serde_json::Value) -> serde_json::Value {
    let mut config = config.clone();
    if let Some(map) = config.as_object_mut() {
        if !map.contains_key("log_source") {
            let source = std::env::var("LOG_CAPTURER_TEST_SOURCE").unwrap_or_else(|_| "api".into());
            map.insert("log_source".into(), source.into());
        }
        // A flaky run, again with the capture's log: `LCT_LOG_LEVEL=debug`.
        if let (false, Ok(level)) = (map.contains_key("log_level"), std::env::var("LCT_LOG_LEVEL")) {
            map.insert("log_level".into(), level.into());
        }
    }
    config
}

/// A capture through the C ABI.
pub struct Capture {
    pub handle: *mut capture_handle,
}

unsafe impl Send for Capture {}
unsafe impl Sync for Capture {}

pub fn start_error() -> String {
    let mut buf = vec![0u8; 4096];
    let n = unsafe { capture_last_error(ptr::null(), buf.as_mut_ptr() as *mut _, buf.len()) };
    String::from_utf8_lossy(&buf[..n.min(buf.len() - 1)]).into_owned()
}

impl Capture {
    pub fn start(config: &serde_json::Value) -> Capture {
        Capture::try_start(config).unwrap_or_else(|(code, msg)| panic!("capture_start: {code:?}: {msg}"))
    }

    /// A capture whose log lines (level word, then the line) are pushed to
    /// `lines` from the first, through `capture_start_with_log`.
    pub fn start_with_log_lines(config: &serde_json::Value, lines: Arc<Mutex<Vec<String>>>) -> Capture {
        unsafe extern "C" fn on_log(user: *mut std::ffi::c_void, level: i32, line: *const std::ffi::c_char) {
            // SAFETY: `user` is the `Mutex` leaked below (it outlives the
            // capture); `line` is valid during the call.
            let lines = unsafe { &*(user as *const Mutex<Vec<String>>) };
            let text = unsafe { CStr::from_ptr(line) }.to_string_lossy().into_owned();
            lines.lock().unwrap().push(format!("{level} {text}"));
        }
        // Leaked on purpose: the callback may run until capture_free returns.
        let user = Arc::into_raw(lines) as *mut std::ffi::c_void;
        let text = CString::new(on_engine_under_test(&with_source(config)).to_string()).unwrap();
        let mut handle = ptr::null_mut();
        let r = unsafe { capture_start_with_log(text.as_ptr(), Some(on_log), user, &mut handle) };
        assert_eq!(r, capture_result::CAPTURE_OK, "capture_start_with_log: {}", start_error());
        Capture { handle }
    }

    /// Starts a capture of `config`, on the engine under test unless it
    /// names a `docker_host`.
    pub fn try_start(config: &serde_json::Value) -> Result<Capture, (capture_result, String)> {
        let text = CString::new(on_engine_under_test(&with_source(config)).to_string()).unwrap();
        let mut handle = ptr::null_mut();
        let r = unsafe { capture_start(text.as_ptr(), &mut handle) };
        if r != capture_result::CAPTURE_OK {
            return Err((r, start_error()));
        }
        Ok(Capture { handle })
    }

    pub fn poll(&self, max: usize, timeout_ms: u32) -> Result<Vec<Rec>, capture_result> {
        let mut batch = ptr::null_mut();
        let r = unsafe { capture_poll(self.handle, max, timeout_ms, &mut batch) };
        if r != capture_result::CAPTURE_OK {
            return Err(r);
        }
        let b = unsafe { &*batch };
        let mut out = Vec::with_capacity(b.len);
        for i in 0..b.len {
            let r = unsafe { &*b.records.add(i) };
            let s = |p: *const std::ffi::c_char| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned();
            out.push(Rec {
                container_id: s(r.container_id),
                container_name: s(r.container_name),
                image: s(r.container_image),
                stream: r.stream,
                ts_ns: r.timestamp_ns,
                flags: r.flags,
                message: unsafe { std::slice::from_raw_parts(r.message, r.message_len) }.to_vec(),
            });
        }
        unsafe { capture_batch_free(batch) };
        Ok(out)
    }

    pub fn stats(&self) -> serde_json::Value {
        let mut json = ptr::null_mut();
        let r = unsafe { capture_stats(self.handle, &mut json) };
        assert_eq!(r, capture_result::CAPTURE_OK);
        let text = unsafe { CStr::from_ptr(json) }.to_string_lossy().into_owned();
        unsafe { capture_string_free(json) };
        serde_json::from_str(&text).unwrap()
    }

    /// What a failed wait prints: the capture's tasks and daemon, and each
    /// container not yet drained (a container missing here has no reader
    /// past its start).
    pub fn digest(&self) -> String {
        let stats = self.stats();
        let mut out = format!(
            "capture: tasks {} fds {} queue {} daemon {} gone {} removed_unread {}\n",
            stats["tasks"],
            stats["file_descriptors_open"],
            stats["queue"],
            stats["daemon"],
            stats["containers_gone"],
            stats["containers_removed_unread"]
        );
        let containers = stats["containers"].as_array().cloned().unwrap_or_default();
        out += &format!("{} containers tracked; not drained:\n", containers.len());
        for c in containers.iter().filter(|c| c["state"] != "drained") {
            let keys = ["state", "source", "records", "requests", "reopens", "errors", "last_error", "position"];
            let fields: Vec<String> = keys.iter().map(|k| format!("{k}={}", c[*k])).collect();
            out += &format!("  {} {}\n", c["name"], fields.join(" "));
        }
        out
    }

    /// The stats entry of the container with this name.
    pub fn container_stats(&self, name: &str) -> Option<serde_json::Value> {
        self.stats()["containers"].as_array()?.iter().find(|c| c["name"] == name).cloned()
    }

    pub fn last_error(&self) -> String {
        let mut buf = vec![0u8; 4096];
        let n = unsafe { capture_last_error(self.handle, buf.as_mut_ptr() as *mut _, buf.len()) };
        String::from_utf8_lossy(&buf[..n.min(buf.len() - 1)]).into_owned()
    }

    pub fn stop(&self) -> capture_result {
        unsafe { capture_stop(self.handle) }
    }

    /// Polls into `into` until `done(into)` holds; panics with `what` after
    /// `timeout`.
    /// The check runs at most every 50 ms (and whenever a poll came back
    /// empty), so a check that scans every record stays cheap.
    pub fn collect_until(
        &self,
        into: &mut Vec<Rec>,
        timeout: Duration,
        what: &str,
        mut done: impl FnMut(&[Rec]) -> bool,
    ) {
        let deadline = Instant::now() + timeout;
        while !done(into) {
            let checked = Instant::now();
            loop {
                assert!(
                    Instant::now() < deadline,
                    "timed out after {timeout:?} waiting for {what}; got {} records",
                    into.len()
                );
                let batch = self.poll(4096, 200).expect("poll");
                let empty = batch.is_empty();
                into.extend(batch);
                if empty || checked.elapsed() >= Duration::from_millis(50) {
                    break;
                }
            }
        }
    }

    /// Polls (keeping the records) until `cond(self)` holds.
    pub fn wait_for(&self, into: &mut Vec<Rec>, timeout: Duration, what: &str, mut cond: impl FnMut(&Capture) -> bool) {
        let deadline = Instant::now() + timeout;
        while !cond(self) {
            assert!(Instant::now() < deadline, "timed out after {timeout:?} waiting for {what}");
            into.extend(self.poll(4096, 100).expect("poll"));
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        unsafe { capture_free(self.handle) };
    }
}

/// Records of one container and stream, in order.
pub fn of<'a>(recs: &'a [Rec], name: &str, stream: u32) -> Vec<&'a Rec> {
    recs.iter().filter(|r| r.container_name == name && r.stream == stream).collect()
}

/// Checks that `recs` are exactly the lines "1".."n" in order; reports the
/// first difference.
pub fn assert_sequence(recs: &[&Rec], n: usize, what: &str) {
    let got: Vec<String> = recs.iter().map(|r| r.text()).collect();
    let want: Vec<String> = (1..=n).map(|i| i.to_string()).collect();
    if got != want {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for g in &got {
            *counts.entry(g.as_str()).or_default() += 1;
        }
        let dups: Vec<_> = counts.iter().filter(|(_, c)| **c > 1).map(|(k, _)| *k).take(5).collect();
        let missing: Vec<_> = want.iter().filter(|w| !counts.contains_key(w.as_str())).take(5).collect();
        let first_diff = got.iter().zip(&want).position(|(a, b)| a != b);
        panic!(
            "{what}: {} lines, want {n}; duplicated e.g. {dups:?}; missing e.g. {missing:?}; first out of order at {first_diff:?}",
            got.len()
        );
    }
}

/// Counts this process's open file descriptors and threads.
pub fn fds_and_threads() -> (usize, usize) {
    let fds = std::fs::read_dir("/proc/self/fd").unwrap().count();
    let threads = std::fs::read_dir("/proc/self/task").unwrap().count();
    (fds, threads)
}

/// Waits (checking every 20 ms) until `cond` holds; panics with `what`
/// after `timeout`. Returns how long it took.
pub fn wait_until(timeout: Duration, what: &str, mut cond: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < timeout, "timed out after {timeout:?} waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
    start.elapsed()
}

/// A whole-number knob from the environment, or its default.
pub fn env_u64(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(v) => v.parse().unwrap_or_else(|_| panic!("{name}={v:?} is not a whole number")),
        Err(_) => default,
    }
}

/// This process's resident memory, in bytes.
pub fn rss_bytes() -> u64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/self/status");
    kib * 1024
}

impl Capture {
    /// `capture_metrics_text`: the Prometheus exposition.
    pub fn metrics_text(&self) -> String {
        let mut out = ptr::null_mut();
        let r = unsafe { capture_metrics_text(self.handle, &mut out) };
        assert_eq!(r, capture_result::CAPTURE_OK);
        let text = unsafe { CStr::from_ptr(out) }.to_string_lossy().into_owned();
        unsafe { capture_string_free(out) };
        text
    }

    /// Waits until discovery has subscribed, listed and set aside every
    /// container the filters leave out (on a shared daemon, other tests'),
    /// then returns the engine's tasks and FDs: the baseline with no
    /// container followed.
    pub fn baseline(&self) -> (i64, i64) {
        wait_until(Duration::from_secs(60), "the first listing", || {
            let s = self.stats();
            s["daemon"]["listings"].as_u64() >= Some(1) && s["tasks"] == 1
        });
        self.tasks_and_fds()
    }

    /// The engine's alive tasks and open file descriptors, from stats.
    pub fn tasks_and_fds(&self) -> (i64, i64) {
        let s = self.stats();
        (s["tasks"].as_i64().unwrap(), s["file_descriptors_open"].as_i64().unwrap())
    }

    /// A number in a container's stats (`path` of keys), 0 when absent.
    pub fn stat(&self, name: &str, path: &[&str]) -> u64 {
        let Some(mut v) = self.container_stats(name) else {
            return 0;
        };
        for p in path {
            v = v[*p].clone();
        }
        v.as_u64().unwrap_or(0)
    }

    /// Reads until every container printed `1..=n` to stdout and was
    /// drained (so nothing more can come), then checks each got every line
    /// exactly once and nothing else came.
    pub fn assert_all_exactly_once(&self, tally: &mut Tally, names: &[String], n: u64) {
        self.assert_all_exactly_once_on(tally, names, 1, n)
    }

    /// `assert_all_exactly_once` on `stream` (1 stdout, 2 stderr, 3 console).
    pub fn assert_all_exactly_once_on(&self, tally: &mut Tally, names: &[String], stream: u32, n: u64) {
        self.tally_until(tally, Duration::from_secs(120), "every line", |t| {
            names.iter().all(|name| t.has(name, stream, n))
        });
        self.tally_until_drained(tally, names, Duration::from_secs(30));
        for name in names {
            let report = tally.report(name, stream, n);
            assert!(report.exact(), "{name}: {report:?}");
            assert_eq!(report.received as u64, n, "{name}: {report:?}");
        }
        assert!(tally.others.is_empty(), "unexpected records: {:?}", tally.others);
    }

    /// Polls into `tally` until every named container has at least `lines`
    /// lines on stdout.
    pub fn tally_each(&self, tally: &mut Tally, names: &[String], lines: usize, timeout: Duration) {
        self.tally_until(tally, timeout, &format!("{lines} lines from each"), |t| {
            names.iter().all(|n| t.count(n, 1) >= lines)
        });
    }

    /// Polls into `tally` until every named container is drained (its log
    /// read to the end: nothing more can come), then takes what is left.
    pub fn tally_until_drained(&self, tally: &mut Tally, names: &[String], timeout: Duration) {
        self.tally_until(tally, timeout, "every container drained", |_| {
            names.iter().all(|name| self.container_stats(name).is_some_and(|s| s["state"] == "drained"))
        });
        tally.add(self.poll(100_000, 300).unwrap());
    }

    /// Polls into `tally` until `done(tally)` holds; panics with `what`
    /// after `timeout`. Records are folded as they come, so millions of
    /// lines cost little memory.
    pub fn tally_until(&self, tally: &mut Tally, timeout: Duration, what: &str, mut done: impl FnMut(&Tally) -> bool) {
        let deadline = Instant::now() + timeout;
        while !done(tally) {
            if Instant::now() >= deadline {
                eprintln!("{}", self.digest());
                panic!("timed out after {timeout:?} waiting for {what}; got {} records", tally.records);
            }
            tally.add(self.poll(4096, 100).expect("poll"));
        }
    }
}

/// What came of a container's sequenced lines `1..=n`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SeqReport {
    pub received: usize,
    /// Numbers in `1..=n` never received.
    pub lost: usize,
    /// Receptions beyond the first of a number.
    pub repeated: usize,
    /// Lines whose number is below the one before.
    pub out_of_order: usize,
    /// The highest number received.
    pub max: u64,
}

impl SeqReport {
    pub fn of(numbers: &[u64], n: u64) -> SeqReport {
        let mut seen = vec![false; n as usize + 1];
        let mut repeated = 0;
        for &x in numbers {
            if let Some(s) = seen.get_mut(x as usize) {
                if *s {
                    repeated += 1;
                }
                *s = true;
            }
        }
        SeqReport {
            received: numbers.len(),
            lost: seen[1..].iter().filter(|s| !**s).count(),
            repeated,
            out_of_order: numbers.windows(2).filter(|w| w[1] < w[0]).count(),
            max: numbers.iter().copied().max().unwrap_or(0),
        }
    }

    pub fn exact(&self) -> bool {
        self.lost == 0 && self.repeated == 0 && self.out_of_order == 0
    }
}

/// The line numbers (leading digits of each message) received per
/// container and stream, without keeping the records.
#[derive(Debug, Default)]
pub struct Tally {
    /// (container name, stream) → numbers in arrival order.
    pub numbers: HashMap<(String, u32), Vec<u64>>,
    /// The Docker timestamps of those lines, in the same order.
    pub stamps: HashMap<(String, u32), Vec<i64>>,
    /// Records whose message does not start with a number.
    pub others: Vec<Rec>,
    pub records: usize,
}

impl Tally {
    pub fn add(&mut self, recs: Vec<Rec>) {
        self.records += recs.len();
        for r in recs {
            let digits = r.message.iter().take_while(|b| b.is_ascii_digit()).count();
            let number = std::str::from_utf8(&r.message[..digits]).ok().and_then(|d| d.parse().ok());
            match number {
                Some(n) => {
                    let key = (r.container_name, r.stream);
                    self.stamps.entry(key.clone()).or_default().push(r.ts_ns);
                    self.numbers.entry(key).or_default().push(n);
                }
                None => self.others.push(r),
            }
        }
    }

    pub fn lines(&self, name: &str, stream: u32) -> &[u64] {
        self.numbers.get(&(name.to_string(), stream)).map(Vec::as_slice).unwrap_or(&[])
    }

    pub fn count(&self, name: &str, stream: u32) -> usize {
        self.lines(name, stream).len()
    }

    pub fn has(&self, name: &str, stream: u32, number: u64) -> bool {
        self.lines(name, stream).contains(&number)
    }

    pub fn report(&self, name: &str, stream: u32, n: u64) -> SeqReport {
        SeqReport::of(self.lines(name, stream), n)
    }

    /// For a failure message: the first `most` lines received more than
    /// once, each as (number, [(arrival index, Docker timestamp)]).
    pub fn repeats(&self, name: &str, stream: u32, most: usize) -> Vec<(u64, Vec<(usize, i64)>)> {
        let key = (name.to_string(), stream);
        let (Some(numbers), Some(stamps)) = (self.numbers.get(&key), self.stamps.get(&key)) else {
            return Vec::new();
        };
        let mut at: HashMap<u64, Vec<(usize, i64)>> = HashMap::new();
        for (i, (n, ts)) in numbers.iter().zip(stamps).enumerate() {
            at.entry(*n).or_default().push((i, *ts));
        }
        let mut out: Vec<_> = at.into_iter().filter(|(_, v)| v.len() > 1).collect();
        out.sort();
        out.truncate(most);
        out
    }
}

/// A script that prints 1..=n, pausing `pause` seconds after every `every`
/// lines (to stdout).
pub fn seq_script(n: u64, every: u64, pause: &str) -> String {
    format!(
        "i=0; while [ $i -lt {n} ]; do i=$((i+1)); echo $i; [ $((i % {every})) -eq 0 ] && sleep {pause}; done; true"
    )
}

/// Runs `promtool check metrics` on `text`; returns its complaints.
pub fn promtool_check(text: &str) -> Result<(), String> {
    use std::io::Write;
    use std::process::Stdio;
    let mut child = Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("promtool is installed by scripts/deps.sh");
    child.stdin.take().unwrap().write_all(text.as_bytes()).unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr)))
    }
}

/// The value of the first sample of `name` whose line contains `needle`.
pub fn sample(text: &str, name: &str, needle: &str) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter(|l| l.starts_with(name) && l[name.len()..].starts_with([' ', '{']) && l.contains(needle))
        .find_map(|l| l.rsplit(' ').next()?.parse().ok())
}
