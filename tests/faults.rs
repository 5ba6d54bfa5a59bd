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
        assert!(
            r.method == "GET" && allowed,
            "a write or unknown call: {r:?}"
        );
    }
}

/// Waits for the freeze to be noticed: the container's idle reopens pass
/// `before`. Returns the time since `frozen_at`.
fn wait_idle_reopen(cap: &Capture, tally: &mut Tally, name: &str, frozen_at: Instant) -> Duration {
    cap.tally_until(tally, Duration::from_secs(20), "an idle reopen", |_| {
        cap.stat(name, &["reopens", "idle"]) >= 1
    });
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
    cap.tally_until(&mut tally, Duration::from_secs(60), "100 lines", |t| {
        t.count(&name, STDOUT) >= 100
    });
    let frozen_at = Instant::now();
    assert_eq!(proxy.freeze(Target::Logs(id.clone())), 1);
    let at_freeze = tally.count(&name, STDOUT);
    let detected = wait_idle_reopen(&cap, &mut tally, &name, frozen_at);
    eprintln!("frozen stream noticed after {detected:?} (read_timeout 2 s)");
    assert!(
        detected <= Duration::from_secs(3),
        "noticed only after {detected:?}"
    );
    // The frozen connection was closed by the capturer: one stream is left.
    wait_until(Duration::from_secs(10), "one live logs connection", || {
        proxy.live(&Target::Logs(id.clone())) == 1
    });
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
    let specs: Vec<_> = names
        .iter()
        .map(|s| (s.clone(), vec![], seq_script(n, 10, "0.1")))
        .collect();
    c.run_many(&specs, 4);
    let names: Vec<String> = names.iter().map(|s| c.name(s)).collect();
    let mut tally = Tally::default();
    cap.tally_until(&mut tally, Duration::from_secs(60), "50 lines each", |t| {
        names.iter().all(|name| t.count(name, STDOUT) >= 50)
    });
    let frozen_at = Instant::now();
    let frozen = proxy.freeze(Target::AllLogs);
    assert!(frozen >= names.len(), "froze only {frozen} streams");
    let mut slowest = Duration::ZERO;
    for name in &names {
        slowest = slowest.max(wait_idle_reopen(&cap, &mut tally, name, frozen_at));
    }
    eprintln!("{frozen} frozen streams all noticed within {slowest:?} (read_timeout 2 s)");
    assert!(
        slowest <= Duration::from_secs(3),
        "noticed only after {slowest:?}"
    );
    cap.assert_all_exactly_once(&mut tally, &names, n);
    assert_read_only(&proxy);
}

#[test]
fn connections_cut_mid_stream_again_and_again_lose_and_repeat_nothing() {
    let proxy = Proxy::start();
    let mut c = Containers::new("cut");
    let cap = Capture::start(&config(
        &proxy,
        &c,
        json!({ "retry_backoff_secs": 0.1, "retry_backoff_max_secs": 0.5 }),
    ));
    let n = 2000;
    let specs: Vec<_> = (0..3)
        .map(|i| (format!("seq{i}"), vec![], seq_script(n, 20, "0.1")))
        .collect();
    c.run_many(&specs, 3);
    let names: Vec<String> = specs.iter().map(|s| c.name(&s.0)).collect();
    let mut tally = Tally::default();
    cap.tally_until(&mut tally, Duration::from_secs(60), "50 lines each", |t| {
        names.iter().all(|name| t.count(name, STDOUT) >= 50)
    });
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
    cap.assert_all_exactly_once(&mut tally, &names, n);
    for name in &names {
        let s = cap.container_stats(name).unwrap();
        eprintln!("{name}: reopens {} errors {}", s["reopens"], s["errors"]);
        assert!(
            s["reopens"]["error"].as_u64().unwrap() >= 3,
            "the cuts did not reach {name}: {s}"
        );
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
    cap.tally_until(
        &mut tally,
        Duration::from_secs(60),
        "100 lines and a rotation",
        |t| t.count(&name, STDOUT) >= 100 && cap.stat(&name, &["rotations"]) >= 1,
    );
    // New logs requests get no headers; the open stream goes silent.
    proxy.delay_headers(Target::AllLogs, Duration::from_secs(3600));
    assert_eq!(proxy.freeze(Target::Logs(id.clone())), 1);
    let episode = Instant::now();
    cap.tally_until(
        &mut tally,
        Duration::from_secs(20),
        "rotation_stuck",
        |_| {
            cap.container_stats(&name)
                .is_some_and(|s| s["rotation_stuck"] == true)
        },
    );
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

    proxy.clear_delay();
    proxy.unfreeze();
    let released = Instant::now();
    cap.tally_until(&mut tally, Duration::from_secs(30), "recovery", |_| {
        cap.container_stats(&name).is_some_and(|s| {
            s["rotation_stuck"] == false && s["rotations"].as_u64().unwrap() > stuck_rotations
        })
    });
    eprintln!("recovered {:?} after the release", released.elapsed());
    assert!(metric("0"), "{}", cap.metrics_text());
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
    let unreadable_id = c.run(
        "none",
        &["--log-driver", "none"],
        "while true; do echo lost; sleep 0.1; done",
    );
    let removed_id = c.run(
        "gone",
        &[],
        &format!("{}; sleep 600", seq_script(100, 100, "0")),
    );
    c.run("witness", &[], "sleep 600");
    let mut tally = Tally::default();
    cap.tally_until(
        &mut tally,
        Duration::from_secs(30),
        "the unreadable error and 100 lines",
        |t| {
            t.has(&removed, STDOUT, 100)
                && cap.stat(&unreadable, &["errors", "unreadable_driver"]) == 1
        },
    );
    c.remove(&["gone".to_string()]);
    let removed_at = proxy.requests().len();
    cap.tally_until(
        &mut tally,
        Duration::from_secs(30),
        "the removed one forgotten",
        |_| cap.container_stats(&removed).is_none(),
    );
    let about = |id: &str| {
        proxy
            .requests()
            .iter()
            .filter(|r| r.container() == Some(id))
            .count()
    };
    let (unreadable_before, removed_before) = (about(&unreadable_id), about(&removed_id));
    // Ten rotations of the witness later, neither has cost a request more.
    let start = cap.stat(&witness, &["rotations"]);
    cap.tally_until(
        &mut tally,
        Duration::from_secs(30),
        "10 witness rotations",
        |_| cap.stat(&witness, &["rotations"]) >= start + 10,
    );
    let (unreadable_after, removed_after) = (about(&unreadable_id), about(&removed_id));
    let after_removal = proxy.requests()[removed_at..]
        .iter()
        .filter(|r| r.container() == Some(removed_id.as_str()))
        .count();
    eprintln!(
        "requests: unreadable {unreadable_after}, removed {removed_after} ({after_removal} after its removal)"
    );
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
    let cap = Capture::start(&config(
        &proxy,
        &c,
        json!({ "rotation_interval": "300ms", "read_timeout": "1s" }),
    ));
    let ticker = c.name("ticker");
    let again = c.name("again");
    let short = c.name("short");
    let ticker_id = c.run(
        "ticker",
        &[],
        "i=0; while true; do i=$((i+1)); echo $i; sleep 0.05; done",
    );
    c.run("again", &[], "echo run; exec sleep 600");
    c.run("none", &["--log-driver", "none"], "sleep 600");
    let mut tally = Tally::default();
    let rotations = |name: &str| cap.stat(name, &["rotations"]);
    cap.tally_until(&mut tally, Duration::from_secs(30), "rotations", |_| {
        rotations(&ticker) >= 3 && rotations(&again) >= 3
    });
    // A reopen after a freeze (idle, or rotation when that comes first),
    // after a cut (error), and a renewed event stream.
    let reopens =
        || cap.stat(&ticker, &["reopens", "idle"]) + cap.stat(&ticker, &["reopens", "rotation"]);
    let before = reopens();
    proxy.freeze(Target::Logs(ticker_id.clone()));
    cap.tally_until(
        &mut tally,
        Duration::from_secs(20),
        "a reopen of the frozen stream",
        |_| reopens() > before,
    );
    proxy.cut(Target::All);
    cap.tally_until(
        &mut tally,
        Duration::from_secs(20),
        "a reopen after the cut",
        |_| cap.stat(&ticker, &["reopens", "error"]) >= 1,
    );
    // A restart, a short-lived container, and a removal.
    c.docker(&["restart", "-t", "0", &again]);
    c.run("short", &[], "echo short");
    cap.tally_until(
        &mut tally,
        Duration::from_secs(30),
        "the second run and the short one",
        |t| {
            t.others
                .iter()
                .filter(|r| r.container_name == again)
                .count()
                >= 2
                && t.others.iter().any(|r| r.container_name == short)
        },
    );
    c.remove(&["again".to_string(), "ticker".to_string()]);
    cap.tally_until(
        &mut tally,
        Duration::from_secs(30),
        "the removed ones forgotten",
        |_| cap.container_stats(&again).is_none() && cap.container_stats(&ticker).is_none(),
    );
    let requests = proxy.requests();
    let seen = |e: &str| requests.iter().any(|r| r.endpoint().ends_with(e));
    for e in ["/containers/json", "/json", "/logs", "/events"] {
        assert!(seen(e), "the run never called …{e}");
    }
    eprintln!("{} requests, all read-only", requests.len());
    assert_read_only(&proxy);
}
