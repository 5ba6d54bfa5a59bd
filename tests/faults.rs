//! Faults between the capturer and the real daemon, injected by a proxy on
//! the socket: frozen streams, cut connections, response headers that never
//! come, unreadable and removed containers. Each test also checks that only
//! read-only endpoints were called.

mod common;

use std::time::{Duration, Instant};

use common::proxy::{Proxy, Target};
use common::*;
use serde_json::{json, Value};

const STDOUT: u32 = 1;
const STDERR: u32 = 2;
const CONSOLE: u32 = 3;

/// The capture config of these tests: through `proxy`, only `c`'s
/// containers, short deadlines; `extra` keys override.
fn config(proxy: &Proxy, c: &Containers, extra: Value) -> Value {
    let mut config = json!({
        "docker_host": proxy.docker_host(),
        "include_containers": [c.prefix],
        "read_timeout": "2s",
        "request_timeout": "2s",
        "rotation_interval": "5m",
        "retry_backoff_secs": 0.2,
        "retry_backoff_max_secs": 1,
    });
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    config
}

/// Every request the proxy saw was a GET of a read-only endpoint.
fn assert_read_only(proxy: &Proxy) {
    for r in proxy.requests() {
        let e = r.endpoint();
        let allowed = match e {
            "/_ping" | "/version" | "/containers/json" | "/events" => true,
            _ => {
                r.container().is_some_and(|id| !id.is_empty())
                    && (e.ends_with("/json") || e.ends_with("/logs"))
                    && e.matches('/').count() == 3
            }
        };
        assert!(r.method == "GET" && allowed, "a write or unknown call: {r:?}");
    }
}

/// Waits for the freeze to be noticed: the container's idle reopens pass
/// `before`. Returns the time since `frozen_at`.
fn wait_idle_reopen(cap: &Capture, tally: &mut Tally, name: &str, frozen_at: Instant) -> Duration {
    cap.tally_until(tally, Duration::from_secs(20), "an idle reopen", |_| cap.stat(name, &["reopens", "idle"]) >= 1);
    frozen_at.elapsed()
}

#[test]
fn a_frozen_stream_is_noticed_within_read_timeout_and_resumed_exactly_once() {
    let proxy = Proxy::start();
    let mut c = Containers::new("freeze");
    let cap = Capture::start(&config(&proxy, &c, json!({})));
    let n = 1000;
    let name = c.name("seq");
    let id = c.run("seq", &[], &seq_script(n, 10, "0.1"));
    let mut tally = Tally::default();
    cap.tally_until(&mut tally, Duration::from_secs(60), "100 lines", |t| t.count(&name, STDOUT) >= 100);
    let frozen_at = Instant::now();
    assert_eq!(proxy.freeze(Target::Logs(id.clone())), 1);
    let at_freeze = tally.count(&name, STDOUT);
    let detected = wait_idle_reopen(&cap, &mut tally, &name, frozen_at);
    eprintln!("frozen stream noticed after {detected:?} (read_timeout 2 s)");
    assert!(detected <= Duration::from_secs(3), "noticed only after {detected:?}");
    // The frozen connection was closed by the capturer: one stream is left.
    wait_until(Duration::from_secs(10), "one live logs connection", || proxy.live(&Target::Logs(id.clone())) == 1);
    cap.assert_all_exactly_once(&mut tally, &[name.clone()], n);
    let s = cap.container_stats(&name).unwrap();
    eprintln!(
        "{} lines arrived after the freeze; stats: reopens {} errors {}",
        n as usize - at_freeze,
        s["reopens"],
        s["errors"]
    );
    assert_eq!(s["reopens"]["idle"], 1, "{s}");
    assert_read_only(&proxy);
}

#[test]
fn every_stream_frozen_at_once_is_noticed_and_resumed_exactly_once() {
    let proxy = Proxy::start();
    let mut c = Containers::new("freezeall");
    let cap = Capture::start(&config(&proxy, &c, json!({})));
    let n = 800;
    let names: Vec<String> = (0..4).map(|i| format!("seq{i}")).collect();
    let specs: Vec<_> = names.iter().map(|s| (s.clone(), vec![], seq_script(n, 10, "0.1"))).collect();
    // And a TTY container: a raw stream, no frames to cut inside.
    let mut specs = specs;
    specs.push(("tty".into(), vec!["-t".into()], seq_script(n, 10, "0.1")));
    c.run_many(&specs, 5);
    let names: Vec<String> = names.iter().map(|s| c.name(s)).collect();
    let tty = c.name("tty");
    let mut tally = Tally::default();
    cap.tally_until(&mut tally, Duration::from_secs(60), "50 lines each", |t| {
        names.iter().all(|name| t.count(name, STDOUT) >= 50) && t.count(&tty, CONSOLE) >= 50
    });
    let frozen_at = Instant::now();
    let frozen = proxy.freeze(Target::AllLogs);
    assert!(frozen > names.len(), "froze only {frozen} streams");
    let mut slowest = Duration::ZERO;
    for name in names.iter().chain([&tty]) {
        slowest = slowest.max(wait_idle_reopen(&cap, &mut tally, name, frozen_at));
    }
    eprintln!("{frozen} frozen streams all noticed within {slowest:?} (read_timeout 2 s)");
    assert!(slowest <= Duration::from_secs(3), "noticed only after {slowest:?}");
    cap.assert_all_exactly_once_on(&mut tally, &[tty], CONSOLE, n);
    cap.assert_all_exactly_once(&mut tally, &names, n);
    assert_read_only(&proxy);
}

#[test]
fn connections_cut_mid_stream_again_and_again_lose_and_repeat_nothing() {
    let proxy = Proxy::start();
    let mut c = Containers::new("cut");
    let cap = Capture::start(&config(&proxy, &c, json!({ "retry_backoff_secs": 0.1, "retry_backoff_max_secs": 0.5 })));
    // Each container writes 1..=n to stdout and to stderr at once: the
    // streams' timestamps interleave out of order, each needs its own mark.
    let n = 2000;
    let writer = seq_script(n, 20, "0.1");
    let script = format!("({writer}) & ({writer}) >&2; wait");
    let (_, names) = c.run_each("seq", 3, &script);
    let mut tally = Tally::default();
    cap.tally_each(&mut tally, &names, 50, Duration::from_secs(60));
    // Twelve rounds, one every 500 ms: plain cuts, cuts inside a frame, and
    // every fourth round everything, the event stream too.
    let (mut cut, mut mid_frame) = (0, 0);
    for round in 0..12 {
        let next = Instant::now() + Duration::from_millis(500);
        match round % 4 {
            0 | 2 => cut += proxy.cut(Target::AllLogs),
            1 => mid_frame += proxy.cut_mid_frame(Target::AllLogs),
            _ => cut += proxy.cut(Target::All),
        }
        while Instant::now() < next {
            tally.add(cap.poll(4096, 50).unwrap());
        }
    }
    eprintln!("cut {cut} connections at once and {mid_frame} inside a frame");
    cap.assert_all_exactly_once_on(&mut tally, &names, STDERR, n);
    cap.assert_all_exactly_once(&mut tally, &names, n);
    for name in &names {
        let s = cap.container_stats(name).unwrap();
        eprintln!("{name}: reopens {} errors {}", s["reopens"], s["errors"]);
        assert!(s["reopens"]["error"].as_u64().unwrap() >= 3, "the cuts did not reach {name}: {s}");
    }
    let stats = cap.stats();
    assert!(
        stats["daemon"]["event_stream_connects"].as_u64().unwrap() >= 2,
        "the event stream was not cut and renewed: {}",
        stats["daemon"]
    );
    assert_read_only(&proxy);
}

#[test]
fn a_rotation_that_cannot_reopen_is_flagged_stuck_once_and_recovers() {
    let proxy = Proxy::start();
    let mut c = Containers::new("stuck");
    let cap = Capture::start(&config(
        &proxy,
        &c,
        json!({
            "rotation_interval": "1s",
            "rotation_jitter": 0,
            "request_timeout": "1s",
            "read_timeout": "5s",
        }),
    ));
    let n = 1500;
    let name = c.name("seq");
    let id = c.run("seq", &[], &seq_script(n, 10, "0.1"));
    let mut tally = Tally::default();
    cap.tally_until(&mut tally, Duration::from_secs(60), "100 lines and a rotation", |t| {
        t.count(&name, STDOUT) >= 100 && cap.stat(&name, &["rotations"]) >= 1
    });
    // New logs requests get no headers; the open stream goes silent.
    proxy.delay_headers(Target::AllLogs, Duration::from_secs(3600));
    assert_eq!(proxy.freeze(Target::Logs(id.clone())), 1);
    let episode = Instant::now();
    cap.tally_until(&mut tally, Duration::from_secs(20), "rotation_stuck", |_| {
        cap.container_stats(&name).is_some_and(|s| s["rotation_stuck"] == true)
    });
    let flagged = episode.elapsed();
    let stuck_rotations = cap.stat(&name, &["rotations"]);
    let metric = |value: &str| {
        let text = cap.metrics_text();
        text.lines().any(|l| {
            l.starts_with("log_capturer_container_rotation_stuck{")
                && l.contains(&format!("container_id=\"{id}\""))
                && l.contains(&format!("container_name=\"{name}\""))
                && l.ends_with(&format!("}} {value}"))
        })
    };
    assert!(metric("1"), "no stuck series:\n{}", cap.metrics_text());
    // The episode goes on for a few watchdog periods: still counted once.
    let until = Instant::now() + Duration::from_secs(3);
    while Instant::now() < until {
        tally.add(cap.poll(4096, 100).unwrap());
    }
    let s = cap.container_stats(&name).unwrap();
    eprintln!("stuck flagged after {flagged:?}; during the episode: {s}");
    assert_eq!(s["rotation_stuck"], true, "{s}");
    assert_eq!(s["errors"]["rotation_stuck"], 1, "{s}");
    assert!(metric("1"));
    // Its reader was torn down and started again (by the watchdog).
    assert!(s["watchdog_restarts"].as_u64() >= Some(1), "{s}");

    proxy.clear_delay();
    proxy.unfreeze();
    let released = Instant::now();
    cap.tally_until(&mut tally, Duration::from_secs(30), "recovery", |_| {
        cap.container_stats(&name)
            .is_some_and(|s| s["rotation_stuck"] == false && s["rotations"].as_u64().unwrap() > stuck_rotations)
    });
    eprintln!("recovered {:?} after the release", released.elapsed());
    assert!(metric("0"), "{}", cap.metrics_text());
    // The torn-down readers left nothing behind: one reader, one stream.
    wait_until(Duration::from_secs(10), "one reader and one stream", || {
        cap.tasks_and_fds().0 == 2 && proxy.live(&Target::Logs(id.clone())) == 1
    });
    cap.assert_all_exactly_once(&mut tally, &[name.clone()], n);
    let s = cap.container_stats(&name).unwrap();
    assert_eq!(s["errors"]["rotation_stuck"], 1, "{s}");
    assert_read_only(&proxy);
}

#[test]
fn unreadable_and_removed_containers_cost_a_bounded_number_of_requests() {
    let proxy = Proxy::start();
    let mut c = Containers::new("bounded");
    let cap = Capture::start(&config(&proxy, &c, json!({ "rotation_interval": "300ms" })));
    let unreadable = c.name("none");
    let removed = c.name("gone");
    let witness = c.name("witness");
    let unreadable_id = c.run("none", &["--log-driver", "none"], "while true; do echo lost; sleep 0.1; done");
    let removed_id = c.run("gone", &[], &format!("{}; sleep 600", seq_script(100, 100, "0")));
    c.run("witness", &[], "sleep 600");
    let mut tally = Tally::default();
    cap.tally_until(&mut tally, Duration::from_secs(30), "the unreadable error and 100 lines", |t| {
        t.has(&removed, STDOUT, 100) && cap.stat(&unreadable, &["errors", "unreadable_driver"]) == 1
    });
    c.remove(&[removed.clone()]);
    let removed_at = proxy.requests().len();
    cap.tally_until(&mut tally, Duration::from_secs(30), "the removed one forgotten", |_| {
        cap.container_stats(&removed).is_none()
    });
    let about = |id: &str| proxy.requests().iter().filter(|r| r.container() == Some(id)).count();
    let (unreadable_before, removed_before) = (about(&unreadable_id), about(&removed_id));
    // Ten rotations of the witness later, neither has cost a request more.
    let start = cap.stat(&witness, &["rotations"]);
    cap.tally_until(&mut tally, Duration::from_secs(30), "10 witness rotations", |_| {
        cap.stat(&witness, &["rotations"]) >= start + 10
    });
    let (unreadable_after, removed_after) = (about(&unreadable_id), about(&removed_id));
    let after_removal =
        proxy.requests()[removed_at..].iter().filter(|r| r.container() == Some(removed_id.as_str())).count();
    eprintln!("requests: unreadable {unreadable_after}, removed {removed_after} ({after_removal} after its removal)");
    assert_eq!(unreadable_after, unreadable_before);
    assert_eq!(removed_after, removed_before);
    assert!(unreadable_after <= 3, "{unreadable_after} requests");
    assert!(after_removal <= 3, "{after_removal} requests after removal");
    let s = cap.container_stats(&unreadable).unwrap();
    assert_eq!(s["errors"], json!({ "unreadable_driver": 1 }), "{s}");
    assert_eq!(s["state"], "unreadable", "{s}");
    let report = tally.report(&removed, STDOUT, 100);
    assert!(report.exact() && report.received == 100, "{report:?}");
    assert!(tally.others.is_empty(), "{:?}", tally.others);
    assert_read_only(&proxy);
}

#[test]
fn only_read_only_endpoints_are_called() {
    let proxy = Proxy::start();
    let mut c = Containers::new("readonly");
    let cap = Capture::start(&config(&proxy, &c, json!({ "rotation_interval": "300ms", "read_timeout": "1s" })));
    let ticker = c.name("ticker");
    let again = c.name("again");
    let short = c.name("short");
    let ticker_id = c.run("ticker", &[], "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done");
    c.run("again", &[], "echo run; exec sleep 600");
    c.run("none", &["--log-driver", "none"], "sleep 600");
    let mut tally = Tally::default();
    let rotations = |name: &str| cap.stat(name, &["rotations"]);
    cap.tally_until(&mut tally, Duration::from_secs(30), "rotations", |_| {
        rotations(&ticker) >= 3 && rotations(&again) >= 3
    });
    // A reopen after a freeze (idle, or rotation when that comes first),
    // after a cut (error), and a renewed event stream.
    let reopens = || cap.stat(&ticker, &["reopens", "idle"]) + cap.stat(&ticker, &["reopens", "rotation"]);
    let before = reopens();
    proxy.freeze(Target::Logs(ticker_id.clone()));
    cap.tally_until(&mut tally, Duration::from_secs(20), "a reopen of the frozen stream", |_| reopens() > before);
    proxy.cut(Target::All);
    cap.tally_until(&mut tally, Duration::from_secs(20), "a reopen after the cut", |_| {
        cap.stat(&ticker, &["reopens", "error"]) >= 1
    });
    // A restart, a short-lived container, and a removal.
    c.docker(&["restart", "-t", "0", &again]);
    c.run("short", &[], "echo short");
    cap.tally_until(&mut tally, Duration::from_secs(30), "the second run and the short one", |t| {
        t.others.iter().filter(|r| r.container_name == again).count() >= 2
            && t.others.iter().any(|r| r.container_name == short)
    });
    c.remove(&[again.clone(), ticker.clone()]);
    cap.tally_until(&mut tally, Duration::from_secs(30), "the removed ones forgotten", |_| {
        cap.container_stats(&again).is_none() && cap.container_stats(&ticker).is_none()
    });
    let requests = proxy.requests();
    let seen = |e: &str| requests.iter().any(|r| r.endpoint().ends_with(e));
    for e in ["/containers/json", "/json", "/logs", "/events"] {
        assert!(seen(e), "the run never called …{e}");
    }
    eprintln!("{} requests, all read-only", requests.len());
    assert_read_only(&proxy);
}

#[test]
fn a_long_freeze_of_a_fast_writer_widens_the_reopen_window_and_stays_exact() {
    let proxy = Proxy::start();
    let mut c = Containers::new("widen");
    let cap = Capture::start(&config(&proxy, &c, json!({ "read_timeout": "3s" })));
    // Thousands of lines a second: the freeze leaves far more than the
    // first reopen's window (`reopen_tail`, 256) behind.
    let n = 30_000;
    let name = c.name("fast");
    let id = c.run("fast", &[], &seq_script(n, 500, "0.1"));
    let mut tally = Tally::default();
    cap.tally_until(&mut tally, Duration::from_secs(60), "1000 lines", |t| t.count(&name, STDOUT) >= 1000);
    assert_eq!(proxy.freeze(Target::Logs(id)), 1);
    let at_freeze = tally.count(&name, STDOUT);
    cap.assert_all_exactly_once(&mut tally, &[name.clone()], n);
    let s = cap.container_stats(&name).unwrap();
    eprintln!("frozen at line {at_freeze}; reopens {} errors {}", s["reopens"], s["errors"]);
    if Engine::under_test().is_podman() {
        // Podman's reopens read from `since` with no bounded tail (one there
        // skips lines): nothing to widen.
        let follows: Vec<_> = proxy.requests().into_iter().filter(|r| r.param("follow") == Some("1")).collect();
        assert!(follows.len() >= 2 && follows.iter().all(|r| r.param("tail") == Some("all")), "{s}");
    } else {
        assert!(s["reopens"]["widen"].as_u64().unwrap() >= 1, "{s}");
    }
    assert_read_only(&proxy);
}

/// Prints `run-N` (N counts the container's runs) and exits.
const RUN_COUNTER: &str = "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; echo run-$n";

fn messages(tally: &Tally, name: &str) -> Vec<String> {
    tally.others.iter().filter(|r| r.container_name == name).map(Rec::text).collect()
}

/// Freezes the event stream just after the capturer subscribed: no event
/// arrives until its renewal (10 s later with these configs) finds the
/// stream silent and subscribes and lists again.
fn freeze_fresh_event_stream(proxy: &Proxy) -> Instant {
    wait_until(Duration::from_secs(30), "a fresh event subscription", || {
        let requests = proxy.requests();
        let newest = requests.iter().rev().find(|r| r.endpoint() == "/events");
        let now = proxy.requests().last().map_or(Duration::ZERO, |r| r.at);
        proxy.live(&Target::Events) == 1
            && newest.is_some_and(|r| now.saturating_sub(r.at) < Duration::from_millis(500))
    });
    assert_eq!(proxy.freeze(Target::Events), 1);
    Instant::now()
}

#[test]
fn a_container_born_and_gone_while_the_event_stream_is_silent_is_still_read() {
    let proxy = Proxy::start();
    let mut c = Containers::new("evgap");
    // Event stream renewals come every 10 s (the shortest).
    let cap = Capture::start(&config(&proxy, &c, json!({ "rotation_interval": "2s" })));
    let mut tally = Tally::default();
    let frozen_at = freeze_fresh_event_stream(&proxy);
    let fresh = c.name("fresh");
    c.run("fresh", &[], "echo fresh");
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cap.tally_until(&mut tally, Duration::from_secs(30), "fresh", |t| !messages(t, &fresh).is_empty())
    }));
    eprintln!(
        "{:?} after the event stream went silent: {:?}; event stream connects {}, listings {}",
        frozen_at.elapsed(),
        messages(&tally, &fresh),
        cap.stats()["daemon"]["event_stream_connects"],
        cap.stats()["daemon"]["listings"]
    );
    assert!(found.is_ok(), "the container was never read");
    cap.tally_until_drained(&mut tally, &[fresh.clone()], Duration::from_secs(30));
    assert_eq!(messages(&tally, &fresh), ["fresh"]);
    assert_read_only(&proxy);
}

#[test]
fn a_stopped_container_run_again_while_the_event_stream_is_silent_is_read_again() {
    let proxy = Proxy::start();
    let mut c = Containers::new("evrerun");
    let cap = Capture::start(&config(&proxy, &c, json!({ "rotation_interval": "2s" })));
    let again = c.name("again");
    c.run("again", &[], RUN_COUNTER);
    let mut tally = Tally::default();
    cap.tally_until(&mut tally, Duration::from_secs(30), "run-1", |t| messages(t, &again) == ["run-1"]);
    cap.tally_until_drained(&mut tally, &[again.clone()], Duration::from_secs(30));
    let frozen_at = freeze_fresh_event_stream(&proxy);
    c.docker(&["start", &again]);
    wait_until(Duration::from_secs(30), "run-2 to exit", || {
        c.docker(&["inspect", "-f", "{{.State.Running}}", &again]) == "false"
    });
    let found = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        cap.tally_until(&mut tally, Duration::from_secs(30), "run-2", |t| messages(t, &again).len() >= 2)
    }));
    eprintln!(
        "{:?} after the event stream went silent: {:?}; event stream connects {}",
        frozen_at.elapsed(),
        messages(&tally, &again),
        cap.stats()["daemon"]["event_stream_connects"]
    );
    assert!(found.is_ok(), "the second run was never read");
    cap.tally_until_drained(&mut tally, &[again.clone()], Duration::from_secs(30));
    assert_eq!(messages(&tally, &again), ["run-1", "run-2"]);
    assert_read_only(&proxy);
}

#[test]
fn stop_returns_promptly_while_every_connection_is_frozen_or_delayed() {
    let proxy = Proxy::start();
    let mut c = Containers::new("stopfrozen");
    // Nothing times out by itself during the test.
    let cap = Capture::start(&config(&proxy, &c, json!({ "read_timeout": "60s", "request_timeout": "60s" })));
    let (ids, names) = c.run_each("t", 3, &seq_script(100_000, 1, "0.1"));
    let mut tally = Tally::default();
    cap.tally_each(&mut tally, &names, 1, Duration::from_secs(30));
    // One reader reopens into headers that never come; the rest is frozen.
    proxy.delay_headers(Target::All, Duration::from_secs(3600));
    proxy.cut(Target::Logs(ids[0].clone()));
    wait_until(Duration::from_secs(10), "the delayed reopen", || proxy.live(&Target::Logs(ids[0].clone())) == 1);
    let frozen = proxy.freeze(Target::All);
    assert!(frozen >= 4, "froze {frozen}");
    let (_, fds_frozen) = cap.tasks_and_fds();
    let started = Instant::now();
    assert_eq!(cap.stop(), log_capturer::ffi::capture_result::CAPTURE_OK);
    let took = started.elapsed();
    let closed = wait_until(Duration::from_secs(5), "every connection closed", || proxy.live(&Target::All) == 0);
    eprintln!(
        "stop took {took:?} with {frozen} frozen connections and 1 delayed; the proxy saw them all closed {closed:?} later; FDs {fds_frozen} while frozen"
    );
    assert!(took < Duration::from_secs(3), "stop took {took:?}");
    assert_read_only(&proxy);
}

/// A script writing one line of `pieces` × 16 KiB, a piece every 50 ms,
/// then `after`.
fn slow_long_line(pieces: u32) -> String {
    format!("i=0; while [ $i -lt {pieces} ]; do head -c 16384 /dev/zero | tr '\\0' y; i=$((i+1)); sleep 0.05; done; echo; echo after")
}

#[test]
fn a_long_line_written_slowly_survives_reopens_whole_or_cut_once() {
    let proxy = Proxy::start();
    let mut c = Containers::new("slowline");
    let max_line = 2u64 << 20;
    let cap = Capture::start(&config(&proxy, &c, json!({ "read_timeout": "1s", "max_line_bytes": max_line })));
    // 1.5 MiB (kept whole) and 3 MiB (cut at 2 MiB), each over seconds.
    let whole = c.name("whole");
    let cut = c.name("cut");
    let whole_id = c.run("whole", &[], &slow_long_line(96));
    let cut_id = c.run("cut", &[], &slow_long_line(192));
    let mut recs = Vec::new();
    // Both streams are frozen inside their line...
    cap.wait_for(&mut recs, Duration::from_secs(30), "streams a second old", |cap| {
        [&whole, &cut]
            .iter()
            .all(|n| cap.container_stats(n).is_some_and(|s| s["stream_age_seconds"].as_f64() >= Some(1.0)))
    });
    assert_eq!(proxy.freeze(Target::Logs(whole_id)), 1);
    assert_eq!(proxy.freeze(Target::Logs(cut_id.clone())), 1);
    // ...and the long one again once its cut part was delivered (its
    // remaining pieces are then being skipped).
    cap.collect_until(&mut recs, Duration::from_secs(60), "the cut line", |r| {
        r.iter().any(|r| r.container_name == cut)
    });
    let frozen_again = proxy.freeze(Target::Logs(cut_id));
    cap.collect_until(&mut recs, Duration::from_secs(60), "both `after`s", |r| {
        [&whole, &cut].iter().all(|n| r.iter().any(|r| &r.container_name == *n && r.message == b"after"))
    });
    cap.wait_for(&mut recs, Duration::from_secs(30), "both drained", |cap| {
        [&whole, &cut].iter().all(|n| cap.container_stats(n).is_some_and(|s| s["state"] == "drained"))
    });
    recs.extend(cap.poll(100, 300).unwrap());
    let shape = |name: &str| -> Vec<(usize, u32)> {
        recs.iter().filter(|r| r.container_name == name).map(|r| (r.message.len(), r.flags)).collect()
    };
    for name in [&whole, &cut] {
        let s = cap.container_stats(name).unwrap();
        eprintln!("{name}: records {:?}; reopens {}", shape(name), s["reopens"]);
        assert!(s["reopens"]["idle"].as_u64().unwrap() >= 1, "{s}");
    }
    assert_eq!(shape(&whole), [(96 * 16384, 0), (5, 0)]);
    assert_eq!(shape(&cut), [(max_line as usize, 2), (5, 0)]);
    assert!(recs.iter().filter(|r| r.message != b"after").all(|r| r.message.iter().all(|&b| b == b'y')));
    eprintln!("second freeze of the cut line: {frozen_again} stream(s)");
    assert_read_only(&proxy);
}

#[test]
fn the_reopen_window_narrows_back_after_a_widened_reopen() {
    let proxy = Proxy::start();
    let mut c = Containers::new("narrow");
    let cap = Capture::start(&config(&proxy, &c, json!({ "rotation_interval": "1s" })));
    // A burst of 20,000 lines (frozen in the middle: the reopen after it
    // must widen), then two lines a second while the stream keeps rotating.
    let n = 20_000;
    let name = c.name("burst");
    let id = c.run(
        "burst",
        &[],
        &format!("{}; i={n}; while true; do i=$((i+1)); echo $i; sleep 0.5; done", seq_script(n, 500, "0.1")),
    );
    let mut tally = Tally::default();
    cap.tally_until(&mut tally, Duration::from_secs(60), "1000 lines", |t| t.count(&name, STDOUT) >= 1000);
    assert_eq!(proxy.freeze(Target::Logs(id.clone())), 1);
    cap.tally_until(&mut tally, Duration::from_secs(60), "the burst", |t| t.has(&name, STDOUT, n));
    assert!(cap.stat(&name, &["reopens", "widen"]) >= 1);
    // Six rotations into the slow part...
    let slow_from = proxy.requests().len();
    let rotations = cap.stat(&name, &["rotations"]);
    cap.tally_until(&mut tally, Duration::from_secs(30), "six more rotations", |_| {
        cap.stat(&name, &["rotations"]) >= rotations + 6
    });
    let tails: Vec<String> = proxy.requests()[slow_from..]
        .iter()
        .filter(|r| r.container() == Some(id.as_str()) && r.param("follow") == Some("1"))
        .map(|r| r.param("tail").unwrap_or("").to_string())
        .collect();
    eprintln!("`tail` of the reopens in the slow part: {tails:?}");
    let lines = tally.lines(&name, STDOUT);
    let report = SeqReport::of(lines, *lines.iter().max().unwrap());
    assert!(report.exact(), "{report:?}");
    // ...a reopen asks for the configured window again.
    assert!(tails.iter().rev().take(3).all(|t| t == "256"), "the reopen window stayed wide: {tails:?}");
    assert_read_only(&proxy);
}

#[test]
fn a_crash_looping_container_is_read_run_after_run_without_a_request_storm() {
    let proxy = Proxy::start();
    let mut c = Containers::new("crashloop");
    let cap = Capture::start(&config(&proxy, &c, json!({})));
    // Run k prints k*1000+1 ..= k*1000+100 and fails; run 6 succeeds and
    // ends the loop (the daemon restarts it after 0.1, 0.2, 0.4 … s; in
    // between it is "restarting", and a follow stream ends at once).
    let runs = 6;
    let name = c.name("loop");
    let started = Instant::now();
    let id = c.run(
        "loop",
        &["--restart", "on-failure"],
        &format!(
            "k=$(cat /tmp/k 2>/dev/null || echo 0); k=$((k+1)); echo $k > /tmp/k; i=0; while [ $i -lt 100 ]; do i=$((i+1)); echo $((k*1000+i)); done; [ $k -ge {runs} ]"
        ),
    );
    let mut tally = Tally::default();
    cap.tally_until(&mut tally, Duration::from_secs(90), "every run's lines", |t| {
        t.has(&name, STDOUT, runs * 1000 + 100)
    });
    cap.tally_until_drained(&mut tally, &[name.clone()], Duration::from_secs(30));
    let took = started.elapsed();
    let want: Vec<u64> = (1..=runs).flat_map(|k| (1..=100).map(move |i| k * 1000 + i)).collect();
    let requests = proxy.requests().iter().filter(|r| r.container() == Some(id.as_str())).count();
    let rate = requests as f64 / took.as_secs_f64();
    eprintln!("{runs} runs in {took:?}: {requests} requests about the container ({rate:.1}/s)");
    assert_eq!(tally.lines(&name, STDOUT), want.as_slice());
    // Three requests (follow, window count, inspect) per retry backoff
    // (0.5 to 1 s here once grown): a few a second, not a loop.
    assert!(rate <= 8.0, "{requests} requests in {took:?}");
    assert_read_only(&proxy);
}

#[test]
fn a_restart_while_the_stream_is_frozen_loses_and_repeats_nothing() {
    let proxy = Proxy::start();
    let mut c = Containers::new("frozenrestart");
    let cap = Capture::start(&config(&proxy, &c, json!({})));
    // Run k prints k*1000+1 ..= k*1000+500, ten lines every 0.1 s.
    let name = c.name("again");
    let id = c.run(
        "again",
        &[],
        "k=$(cat /tmp/k 2>/dev/null || echo 0); k=$((k+1)); echo $k > /tmp/k; i=0; while [ $i -lt 500 ]; do i=$((i+1)); echo $((k*1000+i)); [ $((i % 10)) -eq 0 ] && sleep 0.1; done",
    );
    let mut tally = Tally::default();
    cap.tally_until(&mut tally, Duration::from_secs(60), "100 lines", |t| t.count(&name, STDOUT) >= 100);
    assert_eq!(proxy.freeze(Target::Logs(id.clone())), 1);
    // Killed mid-run; the second run goes to its end.
    c.docker(&["restart", "-t", "0", &name]);
    cap.tally_until(&mut tally, Duration::from_secs(60), "the second run", |t| t.has(&name, STDOUT, 2500));
    cap.tally_until_drained(&mut tally, &[name.clone()], Duration::from_secs(30));
    let on_disk: Vec<u64> = c.docker(&["logs", &name]).lines().map(|l| l.parse().unwrap()).collect();
    let got = tally.lines(&name, STDOUT);
    eprintln!(
        "{} lines on disk, {} received; first run ended at {:?}; reopens {}",
        on_disk.len(),
        got.len(),
        on_disk.iter().filter(|x| **x < 2000).max(),
        cap.container_stats(&name).unwrap()["reopens"]
    );
    assert_eq!(got, on_disk.as_slice());
    assert!(tally.others.is_empty(), "{:?}", tally.others);
    assert_read_only(&proxy);
}

#[test]
fn containers_left_out_by_name_cost_no_connection_at_start_up() {
    let bystanders = env_u64("LCT_BYSTANDERS", 150) as usize;
    let mut others = Containers::new("bystander");
    others.run_each("b", bystanders, "exec sleep 600");
    let proxy = Proxy::start();
    let c = Containers::new("wanted");
    let cap = Capture::start(&config(&proxy, &c, json!({})));
    let base = cap.baseline();
    let inspected =
        proxy.requests().iter().filter(|r| r.endpoint().ends_with("/json") && r.container().is_some()).count();
    eprintln!(
        "{bystanders} containers left out by name: {inspected} inspects, at most {} connections open at once; then tasks {} FDs {}",
        proxy.peak_live(),
        base.0,
        base.1
    );
    // The list names every container: the name filter needs no inspect.
    assert!(proxy.peak_live() <= 10, "{} connections at once", proxy.peak_live());
    assert_read_only(&proxy);
}
