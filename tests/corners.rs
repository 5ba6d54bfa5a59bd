//! The corners where a line used to slip silently, against the real daemon:
//! short-lived `--rm` containers, a TTY container restarted after output
//! without a newline, a long line paused across a reopen, a daemon outage.

mod common;

use std::time::{Duration, Instant};

use common::proxy::{Proxy, Target};
use common::*;
use serde_json::json;

const STDOUT: u32 = 1;
const CONSOLE: u32 = 3;

/// `docker run --rm` (in the foreground: it returns once the container is
/// gone) of the test image printing `line-<i>`.
fn run_rm(c: &Containers, name: &str, i: usize) {
    let full = c.name(name);
    let line = format!("echo line-{i}");
    c.docker(&[
        "run", "--rm", "--network", "none", "--label", "log-capturer-test=1", "--name", &full, IMAGE, "sh", "-c", &line,
    ]);
}

#[test]
fn twenty_short_lived_rm_containers_each_deliver_their_line() {
    let c = Containers::new("rm");
    let cap = Capture::start(&json!({ "include_containers": [c.prefix] }));
    cap.baseline();
    let n = 20;
    for i in 0..n {
        run_rm(&c, &format!("r{i}"), i);
    }
    let mut recs = Vec::new();
    let want: Vec<String> = (0..n).map(|i| format!("line-{i}")).collect();
    let deadline = Instant::now() + Duration::from_secs(60);
    // Every line, or every missing one accounted for as removed unread:
    // the test wants all of them, and says which were counted as lost.
    while Instant::now() < deadline {
        recs.extend(cap.poll(1000, 200).unwrap());
        let got = recs.iter().filter(|r| r.stream == STDOUT).count();
        let lost = cap.stats()["containers_removed_unread"].as_u64().unwrap_or(0) as usize;
        if got + lost >= n {
            break;
        }
    }
    // Nothing silent: every line arrived once, or its container was
    // counted as removed unread. And the race is won nearly always (the
    // daemon removes a `--rm` container within milliseconds of its exit:
    // before, 4 to 6 of 20 arrived). A loaded machine may lose one.
    let mut got: Vec<String> = recs.iter().map(Rec::text).collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), recs.len(), "repeated lines: {recs:?}");
    assert!(got.iter().all(|g| want.contains(g)), "{got:?}");
    let lost = cap.stats()["containers_removed_unread"].as_u64().unwrap() as usize;
    assert_eq!(got.len() + lost, n, "got {} lines, {lost} counted lost", got.len());
    // Podman 4.3.1 loses the race far more often (13 to 17 of 20 measured
    // alone, 9 of 20 in a loaded full run): its follow stream ends with the
    // container before it has sent the log, and the log goes with the
    // container (README, "Engine differences"). Each loss is counted above.
    let won = if Engine::under_test().is_podman() { n / 4 } else { n - 2 };
    assert!(got.len() >= won, "only {} of {n} lines", got.len());
}

#[test]
fn a_container_removed_before_its_log_could_be_read_is_counted_and_logged() {
    // The capture asks for the logs only after the container is gone (its
    // logs requests are held back by the proxy): what it wrote is lost,
    // and that must show.
    let proxy = Proxy::start();
    proxy.hold_requests(Target::AllLogs, Duration::from_secs(3));
    let c = Containers::new("rmlost");
    let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let cap = Capture::start_with_log_lines(
        &json!({ "include_containers": [c.prefix], "docker_host": proxy.docker_host() }),
        lines.clone(),
    );
    cap.baseline();
    run_rm(&c, "gone", 0);
    let mut recs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while cap.stats()["containers_removed_unread"] != 1 {
        assert!(Instant::now() < deadline, "not counted: {}\n{:?}", cap.stats(), lines.lock().unwrap());
        recs.extend(cap.poll(100, 100).unwrap());
    }
    assert!(recs.is_empty(), "{recs:?}");
    let text = cap.metrics_text();
    assert!(
        text.lines().any(|l| l.starts_with("log_capturer_container_stream_errors_total{error_type=\"removed_unread\"} 1")),
        "{text}"
    );
    let logged = lines.lock().unwrap().iter().any(|l: &String| l.contains("removed before its log could be read"));
    assert!(logged, "{:?}", lines.lock().unwrap());
}

/// Docker lists a container while it is still being created, before it
/// can inspect it: its anonymous volumes are made in between (1,500 make
/// that a second or more here). A capture that lists it then must not take
/// the inspect's 404 for a removal: once the container starts, its lines
/// come. (Before: counted as removed unread; with the capture's memory of
/// removed containers, its start was then ignored and every line lost.)
#[test]
fn a_container_listed_while_it_is_being_created_is_read_once_it_starts() {
    let mut c = Containers::new("creating");
    let (prefix, name) = (c.prefix.clone(), c.name("v"));
    let volumes: Vec<String> = (0..1500).flat_map(|i| ["-v".to_string(), format!("/v{i}")]).collect();
    let extra: Vec<&str> = volumes.iter().map(String::as_str).collect();
    std::thread::scope(|s| {
        s.spawn(|| c.run("v", &extra, "seq 1 100"));
        let id = listed_but_not_inspectable(&name);
        let cap = Capture::start(&json!({ "include_containers": [prefix] }));
        wait_until(Duration::from_secs(10), "the capture's first listing", || {
            cap.stats()["daemon"]["listings"].as_u64().unwrap_or(0) > 0
        });
        assert!(!docker_ok(&["inspect", &id]), "created before the capture listed it: the test proves nothing");
        let mut tally = Tally::default();
        cap.tally_until(&mut tally, Duration::from_secs(60), "its lines", |t| t.has(&name, STDOUT, 100));
        cap.tally_until_drained(&mut tally, std::slice::from_ref(&name), Duration::from_secs(30));
        let report = tally.report(&name, STDOUT, 100);
        assert!(report.exact() && report.received == 100, "{report:?}");
        let stats = cap.stats();
        assert_eq!((stats["containers_removed_unread"].as_u64(), stats["containers_gone"].as_u64()), (Some(0), Some(0)));
    });
}

/// The id of the container named `name` once a listing shows it while an
/// inspect cannot find it yet (it is being created).
fn listed_but_not_inspectable(name: &str) -> String {
    let mut id = String::new();
    wait_until(Duration::from_secs(60), &format!("{name} listed"), || {
        id = docker(&["ps", "-aq", "--no-trunc", "--filter", &format!("name=^/{name}$")]);
        !id.is_empty()
    });
    assert!(!docker_ok(&["inspect", &id]), "{name} could be inspected as soon as listed: the test proves nothing");
    id
}

#[test]
fn a_tty_container_restarted_after_output_without_newline_loses_nothing() {
    let mut c = Containers::new("ttyre");
    let cap = Capture::start(&json!({ "include_containers": [c.prefix] }));
    let name = c.name("t");
    // Each run prints a numbered line, then a fragment without a newline.
    let script = "n=$(cat /tmp/n 2>/dev/null || echo 0); n=$((n+1)); echo $n > /tmp/n; echo first-$n; printf no-newline-$n";
    c.run("t", &["-t"], script);
    let mut recs = Vec::new();
    cap.collect_until(&mut recs, Duration::from_secs(30), "the first run", |r| {
        of(r, &name, CONSOLE).iter().any(|r| r.text() == "no-newline-1")
    });
    for run in 2..=4 {
        wait_until(Duration::from_secs(30), "the container to exit", || {
            c.docker(&["inspect", "-f", "{{.State.Running}}", &name]) == "false"
        });
        c.docker(&["start", &name]);
        cap.collect_until(&mut recs, Duration::from_secs(30), &format!("run {run}"), |r| {
            of(r, &name, CONSOLE).iter().any(|r| r.text() == format!("no-newline-{run}"))
        });
    }
    let texts: Vec<String> = of(&recs, &name, CONSOLE).iter().map(|r| r.text()).collect();
    let want: Vec<String> =
        (1..=4).flat_map(|run| [format!("first-{run}"), format!("no-newline-{run}")]).collect();
    assert_eq!(texts, want);
}

#[test]
fn sixteen_failing_containers_do_not_keep_a_new_one_from_starting() {
    // Every logs request gets no answer (request_timeout 1 s): sixteen
    // readers keep failing and retrying. A seventeenth container must still
    // be inspected and read once its requests are answered: the start
    // permit covers a first attempt, not the retries.
    let proxy = Proxy::start();
    let mut c = Containers::new("permits");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "docker_host": proxy.docker_host(),
        "request_timeout": "1s",
        "retry_backoff_secs": 1,
        "retry_backoff_max_secs": 2,
    }));
    cap.baseline();
    proxy.delay_headers(Target::AllLogs, Duration::from_secs(600));
    let (ids, _) = c.run_each("stuck", 16, "sleep 600");
    wait_until(Duration::from_secs(60), "sixteen failed first attempts", || {
        let requests = proxy.requests();
        ids.iter().all(|id| requests.iter().filter(|r| r.is_logs() && r.container() == Some(id.as_str())).count() >= 2)
    });
    let late = c.run("late", &[], "echo late-line; sleep 600");
    let mut recs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    let late_logs = |proxy: &Proxy| proxy.requests().iter().any(|r| r.is_logs() && r.container() == Some(late.as_str()));
    while !late_logs(&proxy) {
        assert!(Instant::now() < deadline, "the late container's logs were never asked for: {}", cap.stats());
        recs.extend(cap.poll(100, 100).unwrap());
    }
    proxy.clear_delay();
    cap.collect_until(&mut recs, Duration::from_secs(30), "the late container's line", |r| {
        r.iter().any(|r| r.text() == "late-line")
    });
}

#[test]
fn a_long_line_paused_across_a_reopen_while_the_other_stream_is_busy_arrives_whole() {
    // stdout writes one 16 KiB piece of a line and pauses; stderr writes
    // more than `reopen_tail` lines; the stream rotates; then stdout ends
    // the line.
    let mut c = Containers::new("paused");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "rotation_interval": "1s",
        "rotation_jitter": 0,
        "reopen_tail": 100,
    }));
    let name = c.name("p");
    let script = "head -c 16384 /dev/zero | tr '\\0' a; \
        i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo err-$i >&2; done; \
        sleep 4; echo tail; echo after";
    c.run("p", &[], script);
    let mut recs = Vec::new();
    cap.collect_until(&mut recs, Duration::from_secs(60), "the line after the long one", |r| {
        of(r, &name, STDOUT).iter().any(|r| r.text() == "after")
    });
    let rotations = cap.stat(&name, &["rotations"]);
    assert!(rotations >= 2, "the stream did not rotate while the line was paused: {rotations}");
    let out: Vec<(usize, u32)> = of(&recs, &name, STDOUT).iter().map(|r| (r.message.len(), r.flags)).collect();
    assert_eq!(out, vec![(16_388, 0), (5, 0)], "the long line must arrive whole, once");
    let long = &of(&recs, &name, STDOUT)[0].message;
    assert!(long[..16_384].iter().all(|b| *b == b'a') && &long[16_384..] == b"tail");
    assert_eq!(of(&recs, &name, 2).len(), 600);
    assert_eq!(cap.stat(&name, &["gaps", "count"]), 0);
}

#[test]
fn polling_a_busy_rotating_log_never_splits_a_line_still_being_written() {
    // A busy json-file log with max-size is polled with bounded windows; a
    // window that ends inside a long line must leave it for the next one.
    let mut c = Containers::new("pollsplit");
    let cap = Capture::start(&json!({ "include_containers": [c.prefix] }));
    let name = c.name("p");
    let rounds = 300;
    let script = format!(
        "i=0; while [ $i -lt {rounds} ]; do seq 1 200; head -c 17000 /dev/zero | tr '\\0' a; sleep 0.05; echo; i=$((i+1)); done"
    );
    c.run("p", &["--log-driver", "json-file", "--log-opt", "max-size=1m", "--log-opt", "max-file=100"], &script);
    let (mut long, mut short, mut bad) = (0usize, 0usize, Vec::new());
    let deadline = Instant::now() + Duration::from_secs(120);
    while long < rounds || short < rounds * 200 {
        assert!(Instant::now() < deadline, "{long} long, {short} short lines; {}", cap.stats());
        for r in cap.poll(4096, 200).unwrap() {
            match (r.message.len(), r.flags) {
                (17_000, 0) => long += 1,
                (n, 0) if n <= 3 => short += 1,
                (n, flags) => bad.push((n, flags)),
            }
        }
        assert!(bad.is_empty(), "split or flagged records: {bad:?}");
    }
    let polls = cap.stat(&name, &["reopens", "poll"]);
    assert!(polls > 0, "the log was never polled; the test did not test polling");
    assert_eq!((long, short), (rounds, rounds * 200));
    assert_eq!(cap.stat(&name, &["gaps", "count"]), 0);
}

#[test]
fn a_logs_request_whose_headers_never_come_is_given_up_after_read_timeout() {
    // A hung logs request (its headers withheld) is a silent stream: it
    // ends after read_timeout (1 s), not request_timeout (30 s).
    let proxy = Proxy::start();
    let mut c = Containers::new("hung");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "docker_host": proxy.docker_host(),
        "read_timeout": "1s",
        "request_timeout": "30s",
        "retry_backoff_secs": 0.5,
        "retry_backoff_max_secs": 1,
    }));
    cap.baseline();
    proxy.delay_headers(Target::AllLogs, Duration::from_secs(600));
    let id = c.run("h", &[], "sleep 600");
    let mut recs = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    let asked = |proxy: &Proxy| proxy.requests().iter().filter(|r| r.is_logs() && r.container() == Some(id.as_str())).count();
    while asked(&proxy) < 3 {
        assert!(Instant::now() < deadline, "a hung logs request was waited on: {} requests", asked(&proxy));
        recs.extend(cap.poll(100, 100).unwrap());
    }
}
