//! The C ABI used wrongly on purpose: NULL arguments, bad configs, double
//! stop, poll after stop, stop waking a poll blocked in another thread.
//! These need no containers; the daemon address is often a socket that does
//! not exist, which the capture must survive.

mod common;

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use common::*;
use log_capturer::ffi::capture_result::*;
use log_capturer::ffi::*;
use serde_json::json;

/// `capture_last_error(NULL, …)` is process-wide: tests that read it take
/// turns (they run as threads of one process under `cargo test`).
static START_ERRORS: Mutex<()> = Mutex::new(());

fn nowhere() -> serde_json::Value {
    json!({ "docker_host": "unix:///nonexistent/docker.sock", "retry_backoff_secs": 0.05, "log_level": "off" })
}

#[test]
fn null_arguments_are_refused_everywhere() {
    let _turn = START_ERRORS.lock().unwrap_or_else(|e| e.into_inner());
    unsafe {
        let mut handle = ptr::null_mut();
        assert_eq!(capture_start(ptr::null(), &mut handle), CAPTURE_ERR_NULL_ARGUMENT);
        let cfg = CString::new("{}").unwrap();
        assert_eq!(capture_start(cfg.as_ptr(), ptr::null_mut()), CAPTURE_ERR_NULL_ARGUMENT);
        assert!(start_error().contains("NULL"), "{}", start_error());

        let mut batch = ptr::null_mut();
        assert_eq!(capture_poll(ptr::null_mut(), 10, 0, &mut batch), CAPTURE_ERR_NULL_ARGUMENT);
        let mut json = ptr::null_mut();
        assert_eq!(capture_stats(ptr::null_mut(), &mut json), CAPTURE_ERR_NULL_ARGUMENT);
        assert_eq!(capture_container_info(ptr::null_mut(), cfg.as_ptr(), &mut json), CAPTURE_ERR_NULL_ARGUMENT);
        assert_eq!(capture_stop(ptr::null_mut()), CAPTURE_ERR_NULL_ARGUMENT);
        assert_eq!(capture_set_log_callback(ptr::null_mut(), None, ptr::null_mut()), CAPTURE_ERR_NULL_ARGUMENT);
        capture_free(ptr::null_mut());
        capture_batch_free(ptr::null_mut());
        capture_string_free(ptr::null_mut());
        assert_eq!(capture_last_error(ptr::null(), ptr::null_mut(), 0) > 0, true);

        let cap = Capture::start(&nowhere());
        assert_eq!(capture_poll(cap.handle, 10, 0, ptr::null_mut()), CAPTURE_ERR_NULL_ARGUMENT);
        assert_eq!(capture_stats(cap.handle, ptr::null_mut()), CAPTURE_ERR_NULL_ARGUMENT);
        assert_eq!(capture_container_info(cap.handle, ptr::null(), &mut json), CAPTURE_ERR_NULL_ARGUMENT);
        assert_eq!(capture_container_info(cap.handle, cfg.as_ptr(), ptr::null_mut()), CAPTURE_ERR_NULL_ARGUMENT);
    }
}

#[test]
fn bad_configs_name_the_key() {
    let _turn = START_ERRORS.lock().unwrap_or_else(|e| e.into_inner());
    for (doc, key) in [
        (json!({"rotation_intreval": "5m"}), "rotation_intreval"),
        (json!({"read_timeout": [1]}), "read_timeout"),
        (json!({"read_timeout": "-3s"}), "read_timeout"),
        (json!({"rotation_interval": -1}), "rotation_interval"),
        (json!({"include_containers": 7}), "include_containers"),
        (json!({"max_line_bytes": "huge"}), "max_line_bytes"),
    ] {
        let err = Capture::try_start(&doc).err().expect("refused");
        assert_eq!(err.0, CAPTURE_ERR_INVALID_CONFIG, "{doc}");
        assert!(err.1.contains(key), "{doc}: {}", err.1);
    }
    let err = Capture::try_start(&json!("not an object")).err().unwrap();
    assert_eq!(err.0, CAPTURE_ERR_INVALID_CONFIG);
    // Not JSON at all, and not UTF-8.
    unsafe {
        let mut h = ptr::null_mut();
        let text = CString::new("{rotation_interval: 5m").unwrap();
        assert_eq!(capture_start(text.as_ptr(), &mut h), CAPTURE_ERR_INVALID_CONFIG);
        assert!(h.is_null(), "no handle on failure");
        let bytes = CString::new(vec![b'{', 0xff, b'}']).unwrap();
        assert_eq!(capture_start(bytes.as_ptr(), &mut h), CAPTURE_ERR_INVALID_ARGUMENT);
        assert!(start_error().contains("UTF-8"), "{}", start_error());
    }
}

#[test]
fn last_error_reports_full_length_and_truncates() {
    let _turn = START_ERRORS.lock().unwrap_or_else(|e| e.into_inner());
    let err = Capture::try_start(&json!({"no_such_key": 1})).err().unwrap();
    let full = err.1.len();
    let mut small = [0x55u8; 8];
    let n = unsafe { capture_last_error(ptr::null(), small.as_mut_ptr() as *mut c_char, small.len()) };
    assert_eq!(n, full);
    assert_eq!(small[7], 0, "NUL-terminated within the buffer");
    assert_eq!(&small[..7], &err.1.as_bytes()[..7]);
    let msg = unsafe { CStr::from_ptr(capture_result_message(12345)) };
    assert_eq!(msg.to_str().unwrap(), "unknown result code");
    let msg = unsafe { CStr::from_ptr(capture_result_message(CAPTURE_ERR_STOPPED as i32)) };
    assert_eq!(msg.to_str().unwrap(), "the capture is stopped");
    let v = unsafe { CStr::from_ptr(capture_version()) };
    assert_eq!(v.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
}

#[test]
fn stop_twice_poll_after_stop_and_stats_after_stop() {
    let cap = Capture::start(&nowhere());
    assert_eq!(cap.poll(10, 0).unwrap().len(), 0, "nothing to read, no wait");
    assert_eq!(cap.poll(0, 0).unwrap_err(), CAPTURE_ERR_INVALID_ARGUMENT);
    assert!(cap.last_error().contains("max_records"), "{}", cap.last_error());
    let mut json = ptr::null_mut();
    let name = CString::new("nothing-here").unwrap();
    assert_eq!(unsafe { capture_container_info(cap.handle, name.as_ptr(), &mut json) }, CAPTURE_ERR_NOT_FOUND);
    assert_eq!(cap.stop(), CAPTURE_OK);
    assert_eq!(cap.stop(), CAPTURE_OK);
    assert_eq!(cap.poll(10, 1000).unwrap_err(), CAPTURE_ERR_STOPPED);
    let stats = cap.stats();
    assert_eq!(stats["daemon"]["reachable"], false, "{stats}");
}

#[test]
fn a_missing_daemon_is_retried_and_reported_not_fatal() {
    let cap = Capture::start(&nowhere());
    let mut recs = Vec::new();
    cap.wait_for(&mut recs, Duration::from_secs(10), "three failed attempts", |cap| {
        cap.stats()["daemon"]["errors"].as_u64().unwrap_or(0) >= 3
    });
    let stats = cap.stats();
    assert!(stats["daemon"]["last_error"].as_str().unwrap().contains("cannot reach the Docker daemon"), "{stats}");
    let started = Instant::now();
    assert_eq!(cap.stop(), CAPTURE_OK);
    assert!(started.elapsed() < Duration::from_secs(2), "stop took {:?}", started.elapsed());
}

#[test]
fn stop_wakes_a_poll_blocked_in_another_thread() {
    let cap = Capture::start(&nowhere());
    let started = Instant::now();
    std::thread::scope(|s| {
        let poller = s.spawn(|| cap.poll(10, 60_000));
        // Stop whether or not the poll is already waiting: either way it
        // must return STOPPED long before its 60 s timeout.
        while started.elapsed() < Duration::from_millis(50) {
            std::thread::yield_now();
        }
        assert_eq!(cap.stop(), CAPTURE_OK);
        assert_eq!(poller.join().unwrap().unwrap_err(), CAPTURE_ERR_STOPPED);
    });
    assert!(started.elapsed() < Duration::from_secs(5), "woke after {:?}", started.elapsed());
}

#[test]
fn free_waits_for_a_poll_in_another_thread() {
    let cap = Capture::start(&nowhere());
    let handle = cap.handle as usize;
    std::mem::forget(cap); // freed below, by hand
    let poller = std::thread::spawn(move || {
        let mut batch = ptr::null_mut();
        unsafe { capture_poll(handle as *mut capture_handle, 10, 30_000, &mut batch) }
    });
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(50) {
        std::thread::yield_now();
    }
    unsafe { capture_free(handle as *mut capture_handle) };
    assert_eq!(poller.join().unwrap(), CAPTURE_ERR_STOPPED);
}

static LOG_LINES: Mutex<Vec<(i32, String)>> = Mutex::new(Vec::new());
static LOG_CALLS: AtomicUsize = AtomicUsize::new(0);

unsafe extern "C" fn on_log(user_data: *mut c_void, level: i32, message: *const c_char) {
    assert_eq!(user_data as usize, 0xfeed);
    LOG_CALLS.fetch_add(1, Ordering::SeqCst);
    let text = CStr::from_ptr(message).to_string_lossy().into_owned();
    LOG_LINES.lock().unwrap().push((level, text));
}

#[test]
fn log_lines_reach_a_host_callback() {
    let mut cfg = nowhere();
    cfg["log_level"] = json!("debug");
    let cap = Capture::start(&cfg);
    assert_eq!(unsafe { capture_set_log_callback(cap.handle, Some(on_log), 0xfeed as *mut c_void) }, CAPTURE_OK);
    let mut recs = Vec::new();
    cap.wait_for(&mut recs, Duration::from_secs(10), "a log line about the daemon", |_| {
        LOG_LINES
            .lock()
            .unwrap()
            .iter()
            .any(|(_, l)| l.contains("Docker daemon") && l.contains("docker_host=unix:///nonexistent"))
    });
    let (level, _) = LOG_LINES.lock().unwrap().iter().find(|(_, l)| l.contains("Docker daemon")).cloned().unwrap();
    assert!(level == CAPTURE_LOG_WARN || level == CAPTURE_LOG_DEBUG, "level {level}");
    assert_eq!(unsafe { capture_set_log_callback(cap.handle, None, ptr::null_mut()) }, CAPTURE_OK);
    assert_eq!(cap.stop(), CAPTURE_OK);
    let after_stop = LOG_CALLS.load(Ordering::SeqCst);
    // Nothing calls it once it is unset and the capture is stopped.
    assert_eq!(LOG_CALLS.load(Ordering::SeqCst), after_stop);
}

#[test]
fn wake_returns_a_blocked_poll_without_stopping() {
    let cap = Capture::start(&nowhere());
    let started = Instant::now();
    std::thread::scope(|s| {
        let poller = s.spawn(|| cap.poll(10, 60_000));
        while started.elapsed() < Duration::from_millis(50) {
            std::thread::yield_now();
        }
        // Wake until the poll has returned (a wake before it waits is lost,
        // by design: it wakes polls blocked *now*).
        while !poller.is_finished() {
            assert_eq!(unsafe { capture_wake(cap.handle) }, CAPTURE_OK);
            std::thread::sleep(Duration::from_millis(5));
            assert!(started.elapsed() < Duration::from_secs(5), "wake did not wake the poll");
        }
        assert_eq!(poller.join().unwrap().unwrap().len(), 0);
    });
    // Still running: polls keep working.
    assert_eq!(cap.poll(10, 0).unwrap().len(), 0);
    assert_eq!(unsafe { capture_wake(ptr::null_mut()) }, CAPTURE_ERR_NULL_ARGUMENT);
}

static FIRST_LINES: Mutex<Vec<String>> = Mutex::new(Vec::new());

unsafe extern "C" fn on_first_log(_: *mut c_void, _: i32, message: *const c_char) {
    FIRST_LINES.lock().unwrap().push(CStr::from_ptr(message).to_string_lossy().into_owned());
}

#[test]
fn start_with_log_sends_even_the_first_line_to_the_callback() {
    let mut cfg = nowhere();
    cfg["log_level"] = json!("warn");
    let text = CString::new(cfg.to_string()).unwrap();
    let mut handle = ptr::null_mut();
    assert_eq!(
        unsafe { capture_start_with_log(text.as_ptr(), Some(on_first_log), ptr::null_mut(), &mut handle,) },
        CAPTURE_OK
    );
    let cap = Capture { handle };
    let mut recs = Vec::new();
    cap.wait_for(&mut recs, Duration::from_secs(10), "the first warning", |_| !FIRST_LINES.lock().unwrap().is_empty());
    // The very first attempt's warning is the one that arrived.
    assert!(
        FIRST_LINES.lock().unwrap()[0].starts_with("Docker daemon unavailable"),
        "{:?}",
        FIRST_LINES.lock().unwrap()
    );
}
