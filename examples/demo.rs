//! `make demo`: runs the capturer through its C ABI against the demo
//! containers that scripts/demo.sh started (names starting with the prefix
//! given), prints every record as a JSON line, and ends with a rotation
//! table per container.
//!
//! Usage: demo PREFIX SECONDS

use std::ffi::{CStr, CString};
use std::io::Write;
use std::ptr;
use std::time::{Duration, Instant};

use log_capturer::ffi::capture_result::CAPTURE_OK;
use log_capturer::ffi::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let prefix = args.next().expect("usage: demo PREFIX SECONDS");
    let seconds: u64 = args.next().and_then(|s| s.parse().ok()).unwrap_or(30);
    let config = serde_json::json!({
        "include_containers": [prefix],
        "since": "all",
        "rotation_interval": "4s",
        "read_timeout": "3s",
        "log_level": "info",
    });
    let config = CString::new(config.to_string()).unwrap();
    let mut handle = ptr::null_mut();
    let r = unsafe { capture_start(config.as_ptr(), &mut handle) };
    if r != CAPTURE_OK {
        let mut buf = [0u8; 1024];
        unsafe { capture_last_error(ptr::null(), buf.as_mut_ptr() as *mut _, buf.len()) };
        eprintln!("capture_start failed: {}", String::from_utf8_lossy(&buf).trim_end_matches('\0'));
        std::process::exit(1);
    }

    let deadline = Instant::now() + Duration::from_secs(seconds);
    let stdout = std::io::stdout();
    let mut out = stdout.lock();
    let mut total = 0usize;
    while Instant::now() < deadline {
        let mut batch = ptr::null_mut();
        if unsafe { capture_poll(handle, 1024, 250, &mut batch) } != CAPTURE_OK {
            break;
        }
        let b = unsafe { &*batch };
        for i in 0..b.len {
            let r = unsafe { &*b.records.add(i) };
            let text = |p| unsafe { CStr::from_ptr(p) }.to_string_lossy();
            let message = unsafe { std::slice::from_raw_parts(r.message, r.message_len) };
            let shown = String::from_utf8_lossy(&message[..message.len().min(100)]);
            let line = serde_json::json!({
                "container": text(r.container_name),
                "stream": match r.stream { CAPTURE_STREAM_STDOUT => "stdout", CAPTURE_STREAM_STDERR => "stderr", _ => "console" },
                "timestamp": log_capturer::timestamp::format_rfc3339(r.timestamp_ns),
                "message": if message.len() > 100 { format!("{shown}… ({} bytes)", message.len()) } else { shown.into_owned() },
                "partial": r.flags & CAPTURE_FLAG_PARTIAL != 0,
                "truncated": r.flags & CAPTURE_FLAG_TRUNCATED != 0,
            });
            let _ = writeln!(out, "{line}");
        }
        total += b.len;
        unsafe { capture_batch_free(batch) };
    }

    let mut json = ptr::null_mut();
    unsafe { capture_stats(handle, &mut json) };
    let stats: serde_json::Value = serde_json::from_str(&unsafe { CStr::from_ptr(json) }.to_string_lossy()).unwrap();
    unsafe { capture_string_free(json) };
    unsafe {
        capture_stop(handle);
        capture_free(handle);
    }

    let _ = writeln!(out, "\n{total} records in {seconds} s. Per container:\n");
    let _ = writeln!(
        out,
        "{:<28} {:>8} {:>9} {:>10} {:>22} {:>11} {:>6}",
        "container", "records", "rotations", "state", "reopens rot/idle/end/err", "stream age", "errors"
    );
    for c in stats["containers"].as_array().unwrap() {
        let name = c["name"].as_str().unwrap_or("").trim_start_matches(prefix.as_str());
        let r = &c["reopens"];
        let reopens = format!("{}/{}/{}/{}", r["rotation"], r["idle"], r["stream_end"], r["error"]);
        let age = c["stream_age_seconds"].as_f64().map(|a| format!("{a:.1} s")).unwrap_or_else(|| "-".into());
        let errors: u64 = c["errors"].as_object().map(|e| e.values().filter_map(|v| v.as_u64()).sum()).unwrap_or(0);
        let _ = writeln!(
            out,
            "{:<28} {:>8} {:>9} {:>10} {:>22} {:>11} {:>6}",
            name,
            c["records"].as_u64().unwrap_or(0),
            c["rotations"].as_u64().unwrap_or(0),
            c["state"].as_str().unwrap_or(""),
            reopens,
            age,
            errors
        );
    }
    let _ = writeln!(
        out,
        "\nEngine: {} tasks alive, {} file descriptors open, daemon errors {}.",
        stats["tasks"], stats["file_descriptors_open"], stats["daemon"]["errors"]
    );
}
