//! The position file: a capture started again with the same file resumes
//! every container exactly where the host stopped receiving.

mod common;

use std::path::PathBuf;
use std::time::Duration;

use common::*;
use log_capturer::ffi::capture_result::*;
use serde_json::json;

const STDOUT: u32 = 1;
const STDERR: u32 = 2;

fn temp_file(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("lct-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir.join("positions.json")
}

/// The saved entries of the position file.
fn saved(path: &PathBuf) -> serde_json::Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[test]
fn a_restarted_capture_resumes_exactly_where_the_host_stopped() {
    let mut c = Containers::new("ckpt");
    let path = temp_file("resume");
    let config = json!({
        "include_containers": [c.prefix],
        "checkpoint_path": path,
        "checkpoint_interval": "100ms",
        "rotation_interval": "700ms",
        "since": "all",
    });
    let name = c.name("writer");
    // Both streams, paced: about 3000 lines each over ~6 s.
    c.run(
        "writer",
        &[],
        "i=0; while [ $i -lt 3000 ]; do i=$((i+1)); echo $i; echo $i >&2; [ $((i % 100)) -eq 0 ] && sleep 0.2; done; exec sleep 600",
    );
    let mut first = Vec::new();
    let cap = Capture::start(&config);
    cap.collect_until(&mut first, Duration::from_secs(60), "some lines", |r| of(r, &name, STDOUT).len() >= 500);
    // Polled and freed: received. Stop while the container keeps writing.
    assert_eq!(cap.stop(), CAPTURE_OK);
    drop(cap);
    assert!(saved(&path)["containers"].as_object().unwrap().values().any(|e| e["name"] == name.as_str()));

    // Wait (with the capture down) until the writer has moved on.
    wait_until(Duration::from_secs(60), "the writer to move on", || logged_up_to(&name, 400) >= 2000);
    let cap = Capture::start(&config);
    let mut second = Vec::new();
    cap.collect_until(&mut second, Duration::from_secs(90), "the rest", |r| {
        of(r, &name, STDOUT).last().is_some_and(|r| r.message == b"3000")
            && of(r, &name, STDERR).last().is_some_and(|r| r.message == b"3000")
    });
    second.extend(cap.poll(10_000, 300).unwrap());
    let mut all = first.clone();
    all.extend(second.iter().cloned());
    assert_sequence(&of(&all, &name, STDOUT), 3000, "stdout across two captures");
    assert_sequence(&of(&all, &name, STDERR), 3000, "stderr across two captures");
    assert!(!of(&second, &name, STDOUT).is_empty() && !of(&first, &name, STDOUT).is_empty());
}

/// Waits (without polling) until the queue holds `n` records.
fn wait_queued(cap: &Capture, n: u64) {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while cap.stats()["queue"]["records"].as_u64().unwrap() < n {
        assert!(std::time::Instant::now() < deadline, "never {n} records queued");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn records_not_freed_before_stop_come_again() {
    let mut c = Containers::new("unfreed");
    let path = temp_file("unfreed");
    let config = json!({ "include_containers": [c.prefix], "checkpoint_path": path, "checkpoint_interval": "50ms", "since": "all" });
    let name = c.name("once");
    c.run("once", &[], "seq 1 100; exec sleep 600");
    let cap = Capture::start(&config);
    wait_queued(&cap, 100);
    // 1..60 received and freed; 61..100 polled but still held at stop.
    let first = cap.poll(60, 0).unwrap();
    assert_eq!(first.len(), 60);
    let mut held = std::ptr::null_mut();
    assert_eq!(unsafe { log_capturer::ffi::capture_poll(cap.handle, 40, 0, &mut held) }, CAPTURE_OK);
    assert_eq!(unsafe { (*held).len }, 40);
    assert_eq!(cap.stop(), CAPTURE_OK);
    // Freed after stop: too late to count.
    unsafe { log_capturer::ffi::capture_batch_free(held) };
    drop(cap);

    let cap = Capture::start(&config);
    let mut again = Vec::new();
    cap.collect_until(&mut again, Duration::from_secs(30), "the held lines again", |r| {
        r.iter().any(|r| r.message == b"100")
    });
    again.extend(cap.poll(1000, 300).unwrap());
    let texts: Vec<String> = of(&again, &name, STDOUT).iter().map(|r| r.text()).collect();
    let want: Vec<String> = (61..=100).map(|i| i.to_string()).collect();
    assert_eq!(texts, want);
}

#[test]
fn a_stopped_container_keeps_its_position_until_destroyed() {
    let mut c = Containers::new("keep");
    let path = temp_file("keep");
    let config = json!({ "include_containers": [c.prefix], "checkpoint_path": path, "checkpoint_interval": "50ms", "since": "all" });
    let name = c.name("done");
    let id = c.run("done", &[], "seq 1 50");
    let cap = Capture::start(&config);
    let mut got = Vec::new();
    cap.collect_until(&mut got, Duration::from_secs(30), "50 lines", |r| of(r, &name, STDOUT).len() >= 50);
    assert_eq!(cap.stop(), CAPTURE_OK);
    drop(cap);
    assert!(saved(&path)["containers"].get(&id).is_some(), "the stopped container keeps its position");

    // Started again (with since=all, include_stopped): nothing repeats.
    let mut cfg = config.clone();
    cfg["include_stopped"] = json!(true);
    let cap = Capture::start(&cfg);
    let mut recs = Vec::new();
    cap.wait_for(&mut recs, Duration::from_secs(30), "the container to be drained", |cap| {
        cap.container_stats(&name).is_some_and(|s| s["state"] == "drained")
    });
    recs.extend(cap.poll(1000, 200).unwrap());
    assert!(of(&recs, &name, STDOUT).is_empty(), "repeated: {:?}", recs.len());

    // Destroyed: its entry goes.
    docker(&["rm", "-f", &name]);
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while saved(&path)["containers"].get(&id).is_some() {
        assert!(std::time::Instant::now() < deadline, "the destroyed container's position stayed");
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn a_corrupt_position_file_fails_or_resets_as_configured() {
    let path = temp_file("corrupt");
    std::fs::write(&path, b"{\"version\": 1, \"containers\": {\"abc\": ").unwrap();
    let config = json!({ "docker_host": "unix:///nonexistent.sock", "log_level": "off", "checkpoint_path": path });
    let (code, message) = Capture::try_start(&config).err().unwrap();
    assert_eq!(code, CAPTURE_ERR_INVALID_CONFIG);
    assert!(message.contains("checkpoint_path") && message.contains("positions.json"), "{message}");
    let mut reset = config.clone();
    reset["checkpoint_on_corrupt"] = json!("reset");
    let cap = Capture::start(&reset);
    assert!(path.with_file_name("positions.json.corrupt").exists());
    // A second capture cannot use the same file at once.
    let (code, message) = Capture::try_start(&reset).err().unwrap();
    assert_eq!(code, CAPTURE_ERR_INVALID_CONFIG);
    assert!(message.contains("in use"), "{message}");
    assert_eq!(cap.stop(), CAPTURE_OK);
}

/// While the capture is down, the daemon rotates the json-file log far past
/// the saved position and deletes what was not read: the capture started
/// again reports the gap (count, stats, the `log_gap` error), delivers every
/// line still on disk exactly once and repeats nothing.
#[test]
fn a_log_rotated_away_while_the_capture_was_down_is_reported_as_a_gap() {
    let mut c = Containers::new("gap");
    let path = temp_file("gap");
    let config = json!({ "include_containers": [c.prefix], "checkpoint_path": path, "checkpoint_interval": "50ms", "since": "all" });
    let name = c.name("rot");
    let n: u64 = 100_000;
    // 1..1000, then (when told) up to n: ~7 MB through 2 files of 100 kB.
    c.run(
        "rot",
        &["--log-opt", "max-size=100k", "--log-opt", "max-file=2"],
        &format!("seq 1 1000; while [ ! -e /go ]; do sleep 0.05; done; seq 1001 {n}; exec sleep 600"),
    );
    let cap = Capture::start(&config);
    let mut first = Vec::new();
    cap.collect_until(&mut first, Duration::from_secs(60), "1..1000", |r| of(r, &name, STDOUT).len() >= 1000);
    // The position file holds line 1000 before the capture stops.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while !std::fs::read(&path).is_ok_and(|b| String::from_utf8_lossy(&b).contains("\"count\"")) {
        assert!(std::time::Instant::now() < deadline, "no position saved");
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(cap.stop(), CAPTURE_OK);
    drop(cap);
    assert_sequence(&of(&first, &name, STDOUT), 1000, "before the stop");

    // The rest is written in a later second than line 1000: with stamps of
    // whole seconds (Podman) lines deleted within the position's own second
    // cannot be told from the ones passed (README, "Engine differences").
    let next_second = of(&first, &name, STDOUT)[999].ts_ns / 1_000_000_000 + 1;
    wait_until(Duration::from_secs(2), "the next second", || {
        log_capturer::timestamp::unix_now_ns() / 1_000_000_000 >= next_second
    });
    docker(&["exec", &name, "sh", "-c", ": > /go"]);
    wait_until(Duration::from_secs(120), "the writer to finish", || {
        logged_up_to(&name, 10) >= n
    });
    let on_disk: Vec<u64> = docker(&["logs", &name]).lines().map(|l| l.parse().unwrap()).collect();
    assert!(on_disk[0] > 1001, "the log was not rotated past the position: it starts at {}", on_disk[0]);

    let cap = Capture::start(&config);
    let mut second = Vec::new();
    cap.collect_until(&mut second, Duration::from_secs(60), "the last line", |r| {
        of(r, &name, STDOUT).last().is_some_and(|r| r.message == n.to_string().as_bytes())
    });
    second.extend(cap.poll(10_000, 300).unwrap());
    let got: Vec<u64> = of(&second, &name, STDOUT).iter().map(|r| r.text().parse().unwrap()).collect();
    assert_eq!(got, on_disk, "after the restart: every line still on disk, once, in order");

    let s = cap.container_stats(&name).unwrap();
    assert_eq!(s["gaps"]["count"], 1, "{s}");
    assert_eq!(s["errors"]["log_gap"], 1, "{s}");
    // The gap runs from line 1000 (the last read) to the first line left.
    let stamp = |r: &Rec| log_capturer::timestamp::format_rfc3339(r.ts_ns);
    assert_eq!(s["gaps"]["last"]["after"], stamp(of(&first, &name, STDOUT)[999]), "{s}");
    assert_eq!(s["gaps"]["last"]["before"], stamp(of(&second, &name, STDOUT)[0]), "{s}");
    assert!(s["last_error"].as_str().unwrap().contains("may be lost"), "{s}");
    let metrics = cap.metrics_text();
    assert!(metrics.contains("log_capturer_container_stream_errors_total{error_type=\"log_gap\"} 1"), "{metrics}");
}

#[test]
fn a_container_removed_while_events_were_missed_loses_its_position() {
    // The destroy event never comes (the event stream is frozen behind a
    // proxy): the listing after the stream is renewed finds it gone.
    let proxy = common::proxy::Proxy::start();
    let mut c = Containers::new("gapgone");
    let path = temp_file("gapgone");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "checkpoint_path": path,
        "checkpoint_interval": "50ms",
        "docker_host": proxy.docker_host(),
        "rotation_interval": "1s",
    }));
    cap.baseline();
    let name = c.name("done");
    let id = c.run("done", &[], "echo one");
    let mut recs = Vec::new();
    cap.collect_until(&mut recs, Duration::from_secs(30), "its line", |r| of(r, &name, STDOUT).len() == 1);
    wait_until(Duration::from_secs(30), "its position saved", || saved(&path)["containers"].get(&id).is_some());
    proxy.freeze(common::proxy::Target::Events);
    c.remove(&[name]);
    wait_until(Duration::from_secs(60), "the position of the container gone to go", || {
        cap.poll(100, 0).unwrap();
        saved(&path)["containers"].get(&id).is_none()
    });
}

#[test]
fn a_late_acknowledgement_does_not_bring_a_destroyed_container_back() {
    // Fluent Bit collects once a second: the host may free a batch of a
    // `--rm` container after its destroy event came.
    let mut c = Containers::new("lateack");
    let path = temp_file("lateack");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "checkpoint_path": path,
        "checkpoint_interval": "50ms",
    }));
    cap.baseline();
    let name = c.name("short");
    let id = c.run("short", &[], "echo one");
    let mut held = std::ptr::null_mut();
    wait_until(Duration::from_secs(30), "its line queued", || cap.stats()["queue"]["records"] == 1);
    assert_eq!(unsafe { log_capturer::ffi::capture_poll(cap.handle, 10, 0, &mut held) }, CAPTURE_OK);
    c.remove(&[name.clone()]);
    wait_until(Duration::from_secs(30), "the destroy to be seen", || cap.container_stats(&name).is_none());
    unsafe { log_capturer::ffi::capture_batch_free(held) };
    // A witness's line acknowledged after that: once the file names the
    // witness, it was written after the late acknowledgement.
    let witness = c.run("witness", &[], "echo two; sleep 600");
    let mut recs = Vec::new();
    cap.collect_until(&mut recs, Duration::from_secs(30), "the witness's line", |r| !r.is_empty());
    wait_until(Duration::from_secs(30), "the witness saved", || saved(&path)["containers"].get(&witness).is_some());
    assert!(saved(&path)["containers"].get(&id).is_none(), "{}", saved(&path));
}
