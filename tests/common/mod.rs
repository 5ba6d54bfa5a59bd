//! Helpers for the integration tests: the real-daemon bench, containers
//! made and removed by the test, and a small safe wrapper over the C ABI.
#![allow(dead_code)]

use std::collections::HashMap;
use std::ffi::{CStr, CString};
use std::process::Command;
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Once;
use std::time::{Duration, Instant};

use log_capturer::ffi::*;

pub const IMAGE: &str = "log-capturer-test/busybox:latest";

/// Brings up the bench (dockerd, the test image) once per test process.
pub fn bench() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/bench.sh");
        let status = Command::new("bash").arg(script).status().expect("run scripts/bench.sh");
        assert!(status.success(), "scripts/bench.sh failed");
    });
}

/// Runs `docker` with `args`; panics with its stderr on failure.
pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker").args(args).output().expect("run docker");
    assert!(out.status.success(), "docker {:?} failed: {}", args, String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Like `docker` but returns whether it succeeded.
pub fn docker_ok(args: &[&str]) -> bool {
    Command::new("docker").args(args).output().map(|o| o.status.success()).unwrap_or(false)
}

/// A unique name prefix for the containers of one test.
pub fn prefix(test: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    format!("lct-{}-{}-{}-", std::process::id(), N.fetch_add(1, Ordering::Relaxed), test)
}

/// Containers a test made; removed (`rm -f`) when dropped.
pub struct Containers {
    pub prefix: String,
    names: Vec<String>,
}

impl Containers {
    pub fn new(test: &str) -> Containers {
        bench();
        Containers { prefix: prefix(test), names: Vec::new() }
    }

    /// `docker run -d --network none` of the test image with `extra` options
    /// before the image and `sh -c script` after it. Returns the full id.
    pub fn run(&mut self, name: &str, extra: &[&str], script: &str) -> String {
        let full = format!("{}{}", self.prefix, name);
        let mut args = vec!["run", "-d", "--network", "none", "--label", "log-capturer-test=1", "--name", &full];
        args.extend_from_slice(extra);
        args.extend_from_slice(&[IMAGE, "sh", "-c", script]);
        let id = docker(&args);
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
            let mut args = vec!["rm", "-f"];
            args.extend(self.names.iter().map(String::as_str));
            let _ = Command::new("docker").args(&args).output();
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

    pub fn try_start(config: &serde_json::Value) -> Result<Capture, (capture_result, String)> {
        let text = CString::new(config.to_string()).unwrap();
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
