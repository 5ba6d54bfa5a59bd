//! Drains finished containers through the C ABI and prints lines/s: the
//! capturer's side of the throughput comparison with curl (see `make bench`).
//!
//! Usage: drain NAME_PREFIX EXPECTED_RECORDS

use std::ffi::CString;
use std::ptr;
use std::time::{Duration, Instant};

use log_capturer::ffi::capture_result::CAPTURE_OK;
use log_capturer::ffi::*;

fn main() {
    let mut args = std::env::args().skip(1);
    let prefix = args.next().expect("usage: drain NAME_PREFIX EXPECTED_RECORDS");
    let expected: usize = args.next().and_then(|s| s.parse().ok()).expect("EXPECTED_RECORDS");
    let config = serde_json::json!({
        "include_containers": [prefix],
        "include_stopped": true,
        "since": "all",
    });
    let config = CString::new(config.to_string()).unwrap();
    let mut handle = ptr::null_mut();
    assert_eq!(unsafe { capture_start(config.as_ptr(), &mut handle) }, CAPTURE_OK);
    let started = Instant::now();
    let mut first: Option<Instant> = None;
    let (mut records, mut bytes) = (0usize, 0usize);
    while records < expected && started.elapsed() < Duration::from_secs(600) {
        let mut batch = ptr::null_mut();
        if unsafe { capture_poll(handle, 8192, 1000, &mut batch) } != CAPTURE_OK {
            break;
        }
        let b = unsafe { &*batch };
        if b.len > 0 && first.is_none() {
            first = Some(Instant::now());
        }
        records += b.len;
        bytes += b.message_bytes;
        unsafe { capture_batch_free(batch) };
    }
    let elapsed = started.elapsed().as_secs_f64();
    unsafe {
        capture_stop(handle);
        capture_free(handle);
    }
    println!(
        "{{\"records\": {records}, \"bytes\": {bytes}, \"seconds\": {elapsed:.3}, \"lines_per_second\": {:.0}}}",
        records as f64 / elapsed
    );
    if records < expected {
        std::process::exit(1);
    }
}
