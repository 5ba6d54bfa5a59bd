//! The capturer's side of each measurement, run in a child process of its
//! own so its CPU time and memory are the capturer's alone. Everything goes
//! through the C ABI (`capture_start`, `capture_poll`, `capture_stats`),
//! exactly as a host uses it. Each mode prints one JSON line.

use std::ffi::{CStr, CString};
use std::ptr;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use log_capturer::ffi::capture_result::CAPTURE_OK;
use log_capturer::ffi::*;

use crate::probe;

/// The most records one `capture_poll` takes.
const POLL_MAX_RECORDS: usize = 8192;

/// A capture through the C ABI; stopped and freed when dropped.
pub struct Capture(*mut capture_handle);

impl Capture {
    pub fn start(config: Value) -> Result<Capture, String> {
        let text = CString::new(config.to_string()).map_err(|e| e.to_string())?;
        let mut handle = ptr::null_mut();
        // SAFETY: a valid C string and out pointer.
        let r = unsafe { capture_start(text.as_ptr(), &mut handle) };
        if r != CAPTURE_OK {
            let mut buf = vec![0u8; 1024];
            unsafe { capture_last_error(ptr::null(), buf.as_mut_ptr().cast(), buf.len()) };
            let message =
                CStr::from_bytes_until_nul(&buf).map(|m| m.to_string_lossy().into_owned()).unwrap_or_default();
            return Err(format!("capture_start: {r:?}: {message}"));
        }
        Ok(Capture(handle))
    }

    /// One poll: calls `each` with (timestamp_ns, message_len) of every
    /// record; returns the batch's record count, or None once stopped.
    fn poll(&self, timeout_ms: u32, mut each: impl FnMut(i64, usize)) -> Option<usize> {
        self.poll_records(POLL_MAX_RECORDS, timeout_ms, |r| each(r.timestamp_ns, r.message_len))
    }

    /// One poll of at most `max` records: calls `each` with every record
    /// (valid only during the call); returns the batch's record count, or
    /// None once stopped.
    pub fn poll_records(&self, max: usize, timeout_ms: u32, mut each: impl FnMut(&capture_record)) -> Option<usize> {
        let mut batch = ptr::null_mut();
        // SAFETY: a live handle and an out pointer; the batch is freed below.
        if unsafe { capture_poll(self.0, max, timeout_ms, &mut batch) } != CAPTURE_OK {
            return None;
        }
        let b = unsafe { &*batch };
        for i in 0..b.len {
            each(unsafe { &*b.records.add(i) });
        }
        let n = b.len;
        unsafe { capture_batch_free(batch) };
        Some(n)
    }

    pub fn stats(&self) -> Value {
        let mut text = ptr::null_mut();
        // SAFETY: a live handle; the string is freed below.
        if unsafe { capture_stats(self.0, &mut text) } != CAPTURE_OK {
            return Value::Null;
        }
        let value = serde_json::from_slice(unsafe { CStr::from_ptr(text) }.to_bytes()).unwrap_or(Value::Null);
        unsafe { capture_string_free(text) };
        value
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        // SAFETY: the handle is live and freed exactly once, here.
        unsafe {
            capture_stop(self.0);
            capture_free(self.0);
        }
    }
}

/// `--key value` options of a child mode.
pub struct Args(std::collections::HashMap<String, String>);

impl Args {
    pub fn parse(args: impl Iterator<Item = String>) -> Args {
        let mut map = std::collections::HashMap::new();
        let mut args = args.peekable();
        while let Some(key) = args.next() {
            let key = key.trim_start_matches("--").to_string();
            let value = args.next().unwrap_or_default();
            map.insert(key, value);
        }
        Args(map)
    }

    pub fn text(&self, key: &str) -> String {
        self.0.get(key).cloned().unwrap_or_else(|| panic!("missing --{key}"))
    }

    pub fn optional<T: std::str::FromStr>(&self, key: &str) -> Option<T> {
        self.0.get(key).map(|v| v.parse().unwrap_or_else(|_| panic!("--{key} is not a number")))
    }

    pub fn number<T: std::str::FromStr>(&self, key: &str) -> T {
        self.text(key).parse().unwrap_or_else(|_| panic!("--{key} is not a number"))
    }
}

pub fn dockerd_cpu(args: &Args) -> f64 {
    probe::cpu_seconds(args.number("dockerd")).unwrap_or(f64::NAN)
}

pub fn self_cpu() -> f64 {
    probe::cpu_seconds(std::process::id()).unwrap_or(f64::NAN)
}

pub fn now_ns() -> i64 {
    log_capturer::timestamp::unix_now_ns()
}

/// Reads finished containers (`include_stopped`, `since` all) until
/// `--expect` records came or `--timeout` passed. The measured interval
/// runs from just before `capture_start` to the last record polled.
///
/// `--poll-pause-ms N` (default 0: poll again at once) makes the host
/// sleep N ms after a batch of fewer than 1024 records, as a host polling
/// on a timer would: it shows what the poller's wake-ups cost.
pub fn drain(args: &Args) -> Result<Value, String> {
    let expect: usize = args.number("expect");
    let timeout = Duration::from_secs(args.number("timeout"));
    let pause = Duration::from_millis(args.optional("poll-pause-ms").unwrap_or(0));
    let mut config = json!({
        "include_containers": [args.text("prefix")],
        "include_stopped": true,
        "since": "all",
    });
    if let Some(multiline) = args.optional::<String>("multiline") {
        config["multiline"] = serde_json::from_str(&multiline).map_err(|e| format!("--multiline: {e}"))?;
    }
    let (cpu0, dockerd0, busy0) = (self_cpu(), dockerd_cpu(args), probe::machine_busy_seconds());
    let started = Instant::now();
    let capture = Capture::start(config)?;
    let (mut records, mut bytes) = (0usize, 0usize);
    let mut last = started;
    while records < expect && started.elapsed() < timeout {
        let Some(n) = capture.poll(200, |_, len| bytes += len) else {
            break;
        };
        if n > 0 {
            records += n;
            last = Instant::now();
        }
        if n < 1024 && !pause.is_zero() && records < expect {
            std::thread::sleep(pause);
        }
    }
    let (cpu1, dockerd1, busy1) = (self_cpu(), dockerd_cpu(args), probe::machine_busy_seconds());
    let seconds = last.duration_since(started).as_secs_f64();
    let requests: u64 = containers(&capture.stats()).iter().map(|c| c["requests"].as_u64().unwrap_or(0)).sum();
    drop(capture);
    Ok(json!({
        "records": records,
        "bytes": bytes,
        "seconds": seconds,
        "cpu_seconds": cpu1 - cpu0,
        "dockerd_cpu_seconds": dockerd1 - dockerd0,
        "other_cpu_seconds": (busy1 - busy0) - (dockerd1 - dockerd0) - (cpu1 - cpu0),
        "peak_rss_kib": probe::self_status_kib("VmHWM"),
        "requests": requests,
    }))
}

/// Follows live writers (`since` now): after `--warmup` seconds, for
/// `--seconds`, each record's latency is the time its batch was polled
/// minus its Docker timestamp (the time the daemon read the line).
pub fn latency(args: &Args) -> Result<Value, String> {
    let warmup = Duration::from_secs_f64(args.number("warmup"));
    let window = Duration::from_secs_f64(args.number("seconds"));
    let config = json!({ "include_containers": [args.text("prefix")] });
    let capture = Capture::start(config)?;
    let started = Instant::now();
    while started.elapsed() < warmup {
        capture.poll(100, |_, _| {}).ok_or("capture stopped during the warm-up")?;
    }
    let (cpu0, dockerd0, busy0) = (self_cpu(), dockerd_cpu(args), probe::machine_busy_seconds());
    let measuring = Instant::now();
    let mut latencies_ms: Vec<f64> = Vec::with_capacity(1 << 20);
    let mut batches = 0u64;
    while measuring.elapsed() < window {
        let mut stamps: Vec<i64> = Vec::new();
        let polled = capture.poll(100, |ts, _| stamps.push(ts));
        let at = now_ns();
        polled.ok_or("capture stopped while measuring")?;
        if !stamps.is_empty() {
            batches += 1;
        }
        latencies_ms.extend(stamps.iter().map(|ts| (at - ts) as f64 / 1e6));
    }
    let seconds = measuring.elapsed().as_secs_f64();
    let (cpu1, dockerd1, busy1) = (self_cpu(), dockerd_cpu(args), probe::machine_busy_seconds());
    let followed = containers(&capture.stats()).iter().filter(|c| c["state"] == "following").count();
    drop(capture);
    latencies_ms.sort_by(|a, b| a.total_cmp(b));
    Ok(json!({
        "records": latencies_ms.len(),
        "seconds": seconds,
        "lines_per_second": latencies_ms.len() as f64 / seconds,
        "batches": batches,
        "followed": followed,
        "p50_ms": probe::quantile(&latencies_ms, 0.50),
        "p90_ms": probe::quantile(&latencies_ms, 0.90),
        "p99_ms": probe::quantile(&latencies_ms, 0.99),
        "max_ms": latencies_ms.last().copied().unwrap_or(f64::NAN),
        "cpu_seconds": cpu1 - cpu0,
        "dockerd_cpu_seconds": dockerd1 - dockerd0,
        "other_cpu_seconds": (busy1 - busy0) - (dockerd1 - dockerd0) - (cpu1 - cpu0),
    }))
}

/// Follows `--count` idle containers; once every one has an open stream
/// and `--settle` seconds have passed, reports the process's RSS (and the
/// RSS after `malloc_trim`, which tells live memory from allocator slack).
///
/// Readiness is first judged by the open FDs (one socket per followed
/// container), which allocates nothing; the stats document, whose JSON for
/// hundreds of containers would itself weigh on the RSS, is read only
/// after the RSS, to confirm every container is followed.
pub fn idle(args: &Args) -> Result<Value, String> {
    let count: usize = args.number("count");
    let timeout = Duration::from_secs(args.number("timeout"));
    let settle = Duration::from_secs_f64(args.number("settle"));
    let rss_before = probe::self_status_kib("VmRSS");
    let fds_before = open_fds();
    let capture = Capture::start(json!({ "include_containers": [args.text("prefix")] }))?;
    let started = Instant::now();
    loop {
        let left = timeout.saturating_sub(started.elapsed());
        probe::wait_for(left, Duration::from_millis(200), || open_fds() >= fds_before + count);
        std::thread::sleep(settle);
        let rss = probe::self_status_kib("VmRSS");
        // SAFETY: malloc_trim only returns free memory to the system.
        unsafe { libc::malloc_trim(0) };
        let rss_trimmed = probe::self_status_kib("VmRSS");
        let stats = capture.stats();
        let following = containers(&stats)
            .iter()
            .filter(|c| c["state"] == "following" && !c["stream_age_seconds"].is_null())
            .count();
        let listed = stats["daemon"]["listings"].as_u64().unwrap_or(0) > 0;
        if listed && following == count {
            return Ok(json!({
                "followed": following,
                "ready_seconds": started.elapsed().as_secs_f64() - settle.as_secs_f64(),
                "rss_before_start_kib": rss_before,
                "rss_kib": rss,
                "rss_trimmed_kib": rss_trimmed,
                "file_descriptors_open": stats["file_descriptors_open"],
            }));
        }
        if started.elapsed() >= timeout {
            return Err(format!("{following} of {count} idle containers were followed after {timeout:?}"));
        }
    }
}

/// The process's open file descriptors.
fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

/// Reads one running container's whole log (`since` all), then lets its
/// stream rotate every second for `--seconds`: what each reopen cost the
/// daemon, how many requests it took, and whether any record came twice.
pub fn rotate(args: &Args) -> Result<Value, String> {
    let expect: usize = args.number("expect");
    let window = Duration::from_secs_f64(args.number("seconds"));
    let config = json!({
        "include_containers": [args.text("prefix")],
        "since": "all",
        "rotation_interval": "1s",
        "rotation_jitter": 0.0,
    });
    let capture = Capture::start(config)?;
    let started = Instant::now();
    let mut records = 0usize;
    while records < expect && started.elapsed() < Duration::from_secs(300) {
        records += capture.poll(200, |_, _| {}).ok_or("capture stopped")?;
    }
    if records < expect {
        return Err(format!("read {records} of {expect} records"));
    }
    let drain_seconds = started.elapsed().as_secs_f64();
    let before = containers(&capture.stats()).first().cloned().unwrap_or_default();
    let (cpu0, dockerd0) = (self_cpu(), dockerd_cpu(args));
    let measuring = Instant::now();
    let mut again = 0usize;
    while measuring.elapsed() < window {
        again += capture.poll(100, |_, _| {}).ok_or("capture stopped")?;
    }
    let (cpu1, dockerd1) = (self_cpu(), dockerd_cpu(args));
    let after = containers(&capture.stats()).first().cloned().unwrap_or_default();
    drop(capture);
    let delta = |key: &str| after[key].as_u64().unwrap_or(0) as i64 - before[key].as_u64().unwrap_or(0) as i64;
    let reopens: serde_json::Map<String, Value> = after["reopens"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| {
                    let was = before["reopens"][k].as_u64().unwrap_or(0);
                    (k.clone(), json!(v.as_u64().unwrap_or(0) - was))
                })
                .collect()
        })
        .unwrap_or_default();
    Ok(json!({
        "drain_seconds": drain_seconds,
        "seconds": window.as_secs_f64(),
        "rotations": delta("rotations"),
        "requests": delta("requests"),
        "reopens": reopens,
        "records_again": again,
        "cpu_seconds": cpu1 - cpu0,
        "dockerd_cpu_seconds": dockerd1 - dockerd0,
    }))
}

pub fn containers(stats: &Value) -> Vec<Value> {
    stats["containers"].as_array().cloned().unwrap_or_default()
}
