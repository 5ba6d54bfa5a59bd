//! Start and stop 50 captures in one process against the real daemon: no
//! thread and no file descriptor may be left behind. (Its own test binary,
//! so no other test's threads or sockets move the counts.)

mod common;

use std::time::Duration;

use common::*;
use serde_json::json;

#[test]
fn fifty_start_stop_cycles_leak_no_threads_or_fds() {
    let mut c = Containers::new("cycles");
    c.run("chatty", &[], "while true; do echo tick; sleep 0.05; done");
    let config = json!({ "include_containers": [c.prefix], "since": "all" });
    let cycle = || {
        let cap = Capture::start(&config);
        let mut recs = Vec::new();
        cap.collect_until(&mut recs, Duration::from_secs(30), "a record", |r| !r.is_empty());
        assert_eq!(cap.stop(), log_capturer::ffi::capture_result::CAPTURE_OK);
    };
    cycle(); // warm-up: lazy statics, the first runtime's allocations
    let (fds, threads) = fds_and_threads();
    for _ in 0..50 {
        cycle();
    }
    let (fds_after, threads_after) = fds_and_threads();
    assert_eq!(threads_after, threads, "threads: {threads} before, {threads_after} after");
    assert!(fds_after <= fds + 2, "fds: {fds} before, {fds_after} after");
}
