//! Metrics: the exposition passes a real `promtool check metrics`, with and
//! without per-container series, and the optional listener serves it.

mod common;

use std::ffi::CStr;
use std::io::{Read, Write};
use std::ptr;
use std::time::Duration;

use common::*;
use log_capturer::ffi::capture_result::*;
use log_capturer::ffi::*;
use serde_json::json;

fn metrics_text(cap: &Capture) -> String {
    let mut out = ptr::null_mut();
    assert_eq!(unsafe { capture_metrics_text(cap.handle, &mut out) }, CAPTURE_OK);
    let text = unsafe { CStr::from_ptr(out) }.to_string_lossy().into_owned();
    unsafe { capture_string_free(out) };
    text
}

#[test]
fn exposition_passes_promtool_with_and_without_container_labels() {
    let mut c = Containers::new("metrics");
    c.run("ticker", &[], "while true; do echo tick; sleep 0.1; done");
    let name = c.name("ticker");
    for per_container in [true, false] {
        let cap = Capture::start(&json!({
            "include_containers": [c.prefix],
            "since": "all",
            "rotation_interval": "300ms",
            "metrics_per_container": per_container,
        }));
        let mut recs = Vec::new();
        cap.wait_for(&mut recs, Duration::from_secs(30), "two rotations", |cap| {
            cap.container_stats(&name).is_some_and(|s| s["rotations"].as_u64() >= Some(2))
        });
        let text = metrics_text(&cap);
        promtool_check(&text).unwrap_or_else(|e| panic!("promtool: {e}\n{text}"));
        let rotations =
            sample(&text, "log_capturer_container_stream_rotations_total", if per_container { &name } else { "" });
        assert!(rotations >= Some(2.0), "{text}");
        assert_eq!(sample(&text, "log_capturer_container_streams_active", ""), Some(1.0), "{text}");
        assert!(sample(&text, "log_capturer_tasks", "") >= Some(2.0), "{text}");
        assert!(sample(&text, "log_capturer_file_descriptors_open", "").is_some(), "{text}");
        assert!(sample(&text, "log_capturer_records_total", "") >= Some(1.0), "{text}");
        assert_eq!(sample(&text, "log_capturer_container_stream_errors_total", "rotation_stuck"), Some(0.0), "{text}");
        assert!(
            sample(&text, "log_capturer_container_stream_reopens_total", "reason=\"rotation\"") >= Some(2.0),
            "{text}"
        );
        assert!(sample(&text, "log_capturer_container_stream_age_seconds_count", "") >= Some(1.0), "{text}");
        for reason in ["backpressure", "rate_limit"] {
            let reason = format!("reason=\"{reason}\"");
            assert_eq!(sample(&text, "log_capturer_container_paused_seconds_total", &reason), Some(0.0), "{text}");
            assert_eq!(sample(&text, "log_capturer_paused_seconds_total", &reason), Some(0.0), "{text}");
        }
        assert_eq!(text.contains("container_id="), per_container, "{text}");
    }
}

#[test]
fn the_listener_serves_metrics_on_loopback() {
    // Find a free port and give it to the capture; another process may take
    // it in between, so try a few.
    let (cap, addr) = (0..10)
        .find_map(|_| {
            let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
            let addr = format!("127.0.0.1:{port}");
            let config =
                json!({ "docker_host": "unix:///nonexistent/docker.sock", "log_level": "off", "metrics_addr": addr });
            Capture::try_start(&config).ok().map(|cap| (cap, addr))
        })
        .expect("a free loopback port");
    let get = |path: &str| {
        let mut s = std::net::TcpStream::connect(&addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        write!(s, "GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut out = String::new();
        s.read_to_string(&mut out).unwrap();
        out
    };
    let page = get("/metrics");
    assert!(page.starts_with("HTTP/1.1 200"), "{page}");
    let body = page.split("\r\n\r\n").nth(1).unwrap();
    promtool_check(body).unwrap();
    assert_eq!(sample(body, "log_capturer_daemon_up", ""), Some(0.0));
    assert!(get("/other").starts_with("HTTP/1.1 404"));

    // A second capture cannot take the same address, and says why.
    let err = Capture::try_start(&json!({ "metrics_addr": addr })).err().unwrap();
    assert_eq!(err.0, CAPTURE_ERR_INVALID_CONFIG);
    assert!(err.1.contains("metrics_addr") && err.1.contains(&addr), "{}", err.1);
    let err = Capture::try_start(&json!({ "metrics_addr": "localhost" })).err().unwrap();
    assert!(err.1.contains("metrics_addr"), "{}", err.1);

    assert_eq!(cap.stop(), CAPTURE_OK);
    assert!(std::net::TcpStream::connect(&addr).is_err(), "the listener closes with the capture");
}
