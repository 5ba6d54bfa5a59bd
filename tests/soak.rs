//! The soak: many containers with sequenced writers, followed for a long
//! time with periodic rotation. Prints a report and fails when a check does:
//! rotations per container, task and FD growth per minute, deadline errors,
//! lost or repeated lines.
//!
//! Not part of the default suite. Knobs (environment): `SOAK_MINUTES`
//! (default 30), `SOAK_CONTAINERS` (55), `SOAK_ROTATION` (`5m`).
//!
//!     SOAK_MINUTES=30 cargo nextest run --release --test soak --run-ignored only --no-capture
//!     SOAK_MINUTES=2 SOAK_ROTATION=10s SOAK_CONTAINERS=10 cargo nextest run --release --test soak --run-ignored only --no-capture

mod common;

use std::time::{Duration, Instant};

use common::*;
use serde_json::json;

const STDOUT: u32 = 1;

/// Least-squares slope of `(t, y)` in y per minute.
fn per_minute(samples: &[(f64, f64)]) -> f64 {
    let n = samples.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mt, my) = samples.iter().fold((0.0, 0.0), |(a, b), (t, y)| (a + t / n, b + y / n));
    let (num, den) =
        samples.iter().fold((0.0, 0.0), |(num, den), (t, y)| (num + (t - mt) * (y - my), den + (t - mt) * (t - mt)));
    if den == 0.0 {
        0.0
    } else {
        num / den * 60.0
    }
}

/// The soak's knobs, read from the environment (see the file's header).
struct Knobs {
    minutes: f64,
    count: u64,
    /// As given, for the capturer's `rotation_interval`.
    rotation_text: String,
    rotation: Duration,
    duration: Duration,
    expected_rotations: u64,
}

impl Knobs {
    /// Reads `SOAK_MINUTES`, `SOAK_CONTAINERS` and `SOAK_ROTATION`, with their defaults.
    fn from_env() -> Knobs {
        let minutes: f64 = std::env::var("SOAK_MINUTES")
            .ok()
            .map(|v| v.parse().expect("SOAK_MINUTES is a number of minutes"))
            .unwrap_or(30.0);
        let count = env_u64("SOAK_CONTAINERS", 55);
        let rotation_text = std::env::var("SOAK_ROTATION").unwrap_or_else(|_| "5m".into());
        let rotation = log_capturer::config::parse_duration(&rotation_text)
            .expect("SOAK_ROTATION is a duration such as 5m or 10s");
        let duration = Duration::from_secs_f64(minutes * 60.0);
        // No jitter: the expected count of rotations is then exact.
        let expected_rotations = (duration.as_secs_f64() / rotation.as_secs_f64()).floor() as u64;
        Knobs { minutes, count, rotation_text, rotation, duration, expected_rotations }
    }
}

/// One look at the capturer: (seconds since the soak started, tasks, FDs).
type Sample = (f64, f64, f64);

/// What the per-container rows add up to, for the checks.
#[derive(Default)]
struct Totals {
    /// Deadline errors and stuck rotations.
    deadline_errors: u64,
    lost: usize,
    /// Repeated and out-of-order lines.
    repeated: usize,
    /// Containers with fewer rotations than expected.
    few_rotations: usize,
}

/// A check's name, the value measured, and whether it passed.
type Check = (String, String, bool);

#[test]
#[ignore = "soak: run with --run-ignored only (see the file's header for the knobs)"]
fn soak() {
    let knobs = Knobs::from_env();
    let mut c = Containers::new("soak");
    let cap = Capture::start(&json!({
        "include_containers": [c.prefix],
        "rotation_interval": knobs.rotation_text,
        "rotation_jitter": 0,
    }));
    let base = cap.baseline();
    // Five numbered lines a second each, until killed.
    let (_, names) = c.run_each("w", knobs.count as usize, &seq_script(1_000_000_000, 1, "0.2"));
    let mut tally = Tally::default();
    cap.tally_each(&mut tally, &names, 1, Duration::from_secs(120));

    let samples = follow(&cap, &names, &mut tally, &knobs);
    wait_for_last_rotations(&cap, &names, &mut tally, knobs.expected_rotations);
    let stats: Vec<serde_json::Value> = names.iter().map(|n| cap.container_stats(n).expect("followed")).collect();

    // Stop the writers and read them to the end.
    c.kill(&names);
    cap.tally_until_drained(&mut tally, &names, Duration::from_secs(120));

    let task_slope = per_minute(&samples.iter().map(|s| (s.0, s.1)).collect::<Vec<_>>());
    let fd_slope = per_minute(&samples.iter().map(|s| (s.0, s.2)).collect::<Vec<_>>());
    let totals = print_table(&c, &names, &stats, &tally, knobs.expected_rotations);
    let checks = checks(&totals, knobs.expected_rotations, task_slope, fd_slope, &tally);
    print_summary(&samples, base, &checks);
    let failed: Vec<&String> = checks.iter().filter(|c| !c.2).map(|c| &c.0).collect();
    assert!(failed.is_empty(), "soak checks failed: {failed:?}");
}

/// Follows for the soak's duration, sampling tasks and FDs every 10 s and reporting every minute.
fn follow(cap: &Capture, names: &[String], tally: &mut Tally, knobs: &Knobs) -> Vec<Sample> {
    let Knobs { count, rotation, minutes, expected_rotations, duration, .. } = knobs;
    eprintln!(
        "soak: {count} containers, rotation every {rotation:?}, for {minutes} min (expecting ≥ {expected_rotations} rotations each)"
    );
    let started = Instant::now();
    let mut samples: Vec<Sample> = Vec::new();
    let mut next_sample = started;
    let mut next_report = started + Duration::from_secs(60);
    while started.elapsed() < *duration {
        tally.add(cap.poll(4096, 200).unwrap());
        if Instant::now() >= next_sample {
            let (tasks, fds) = cap.tasks_and_fds();
            samples.push((started.elapsed().as_secs_f64(), tasks as f64, fds as f64));
            next_sample += Duration::from_secs(10);
        }
        if Instant::now() >= next_report {
            let min_rotations = names.iter().map(|n| cap.stat(n, &["rotations"])).min().unwrap_or(0);
            let (tasks, fds) = cap.tasks_and_fds();
            eprintln!(
                "soak: {:>5.1} min  tasks {tasks}  FDs {fds}  records {}  fewest rotations {min_rotations}",
                started.elapsed().as_secs_f64() / 60.0,
                tally.records
            );
            next_report += Duration::from_secs(60);
        }
    }
    samples
}

/// Reads on for up to 10 s more, until every container has its expected rotations.
fn wait_for_last_rotations(cap: &Capture, names: &[String], tally: &mut Tally, expected_rotations: u64) {
    // Each reader started before the clock did: its last expected rotation
    // is due by now, give or take the time a reopen takes.
    let grace = Instant::now() + Duration::from_secs(10);
    while Instant::now() < grace && names.iter().any(|n| cap.stat(n, &["rotations"]) < expected_rotations) {
        tally.add(cap.poll(4096, 200).unwrap());
    }
}

/// Prints the per-container table; returns its totals.
fn print_table(
    c: &Containers,
    names: &[String],
    stats: &[serde_json::Value],
    tally: &Tally,
    expected_rotations: u64,
) -> Totals {
    println!();
    println!(
        "{:<28} {:>9} {:>9} {:>6} {:>8} {:>9} {:>6}",
        "container", "rotations", "lines", "lost", "repeated", "deadline", "stuck"
    );
    let mut totals = Totals::default();
    for (name, s) in names.iter().zip(stats) {
        let last = c.last_line(name);
        let report = tally.report(name, STDOUT, last);
        let rotations = s["rotations"].as_u64().unwrap();
        let deadline = ["timeout", "read_timeout"].iter().map(|k| s["errors"][k].as_u64().unwrap_or(0)).sum::<u64>();
        let stuck = s["errors"]["rotation_stuck"].as_u64().unwrap_or(0);
        totals.deadline_errors += deadline + stuck;
        totals.lost += report.lost;
        totals.repeated += report.repeated + report.out_of_order;
        totals.few_rotations += (rotations < expected_rotations) as usize;
        println!(
            "{:<28} {:>9} {:>9} {:>6} {:>8} {:>9} {:>6}",
            name.strip_prefix(&c.prefix).unwrap_or(name),
            rotations,
            report.received,
            report.lost,
            report.repeated + report.out_of_order,
            deadline,
            stuck
        );
    }
    totals
}

/// The soak's pass/fail checks.
fn checks(totals: &Totals, expected_rotations: u64, task_slope: f64, fd_slope: f64, tally: &Tally) -> [Check; 7] {
    let Totals { deadline_errors, lost, repeated, few_rotations } = *totals;
    [
        (
            format!("rotations ≥ {expected_rotations} per container"),
            format!("{few_rotations} below"),
            few_rotations == 0,
        ),
        ("task growth < 2/min".into(), format!("{task_slope:+.3}/min"), task_slope < 2.0),
        ("FD growth < 1/min".into(), format!("{fd_slope:+.3}/min"), fd_slope < 1.0),
        ("deadline errors = 0".into(), deadline_errors.to_string(), deadline_errors == 0),
        ("lost lines = 0".into(), lost.to_string(), lost == 0),
        ("repeated lines = 0".into(), repeated.to_string(), repeated == 0),
        ("nothing but sequenced lines".into(), tally.others.len().to_string(), tally.others.is_empty()),
    ]
}

/// Prints the tasks and FDs first to last, then each check.
fn print_summary(samples: &[Sample], base: (i64, i64), checks: &[Check]) {
    println!();
    println!(
        "tasks {} → {} (baseline {}), FDs {} → {} (baseline {}), over {} samples",
        samples.first().map_or(0.0, |s| s.1),
        samples.last().map_or(0.0, |s| s.1),
        base.0,
        samples.first().map_or(0.0, |s| s.2),
        samples.last().map_or(0.0, |s| s.2),
        base.1,
        samples.len()
    );
    for (check, value, ok) in checks {
        println!("{:<4} {check:<32} {value}", if *ok { "ok" } else { "FAIL" });
    }
}
