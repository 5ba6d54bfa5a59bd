//! `make bench`: measures the capturer next to its references in one run,
//! and prints a table with the issue's targets marked met or MISSED.
//!
//! - Drain throughput of finished containers (1, 10, 100): N concurrent
//!   `curl`s on the raw socket, N concurrent `docker logs`, and the
//!   capturer through its C ABI (`capture_poll`) reading through the API
//!   and from the log files (`log_source`), with client and dockerd CPU
//!   from `/proc/<pid>/stat` over each run; and one container whose log
//!   holds Java traces, drained with the `java` multiline parser next to
//!   without.
//!   With `FLUENT_BIT=/path/to/fluent-bit` (built with `tail` and
//!   `counter`; not in CI), Fluent Bit's `tail` over the same log files too.
//! - Reopen cost on a 1,000,000-line and a 1,000-line log: the reader's
//!   bounded request next to the naive `since=`-only one, and the engine's
//!   own rotations.
//! - Write → poll latency of live writers at about 10k lines/s.
//! - A noisy neighbour: a quiet container's write → poll latency while
//!   another floods and the host drains at half the flood's rate (`fair`).
//! - Resident memory per followed idle container (500 vs 0).
//!
//! Usage: `bench_run run [--smoke] [--prefix lct-<pid>-]` (what
//! `scripts/bench-run.sh` calls; `BENCH_SMOKE=1` is `--smoke`). The other
//! modes (`drain`, `latency`, `idle`, `rotate`, `fair`) are the capturer's side of
//! one measurement, run by `run` as a child process; `rawread` is a
//! reference reader for `scripts/bench-profile.sh`.
//!
//! Exits 0 when every figure was measured (targets missed or not), 1 when
//! a measurement failed, 2 when the bench could not start.

mod capture;
mod containers;
mod fair;
mod fluentbit;
mod probe;
mod rawread;
mod reopen;
mod report;

use std::process::Command;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use containers::{docker, Containers};
use report::Report;

/// Every drain line is this long with its newline: the issue's 100 bytes.
const LINE_BYTES: usize = 100;
/// One drain line on the wire: frame header, timestamp and space, line.
const WIRE_BYTES_PER_LINE: usize = 8 + 31 + LINE_BYTES;

/// The issue's targets.
const TARGET_THROUGHPUT_RATIO: f64 = 0.95;
const TARGET_CPU_RATIO: f64 = 0.25;
const TARGET_IDLE_KIB: f64 = 64.0;
const TARGET_REOPEN_RATIO: f64 = 2.0;
const TARGET_P99_MS: f64 = 20.0;
/// The drain with a multiline parser on, over the same drain with it off.
const TARGET_MULTILINE_RATIO: f64 = 0.9;
/// A quiet container's lines behind a flood (issue #16).
const TARGET_FAIR_P99_MS: f64 = 100.0;
/// Issue #14: the file source's host CPU (capturer + dockerd) at most this
/// fraction of the API path's, and its throughput at least this many
/// times curl's.
const TARGET_FILE_HOST_CPU_RATIO: f64 = 0.1;
const TARGET_FILE_THROUGHPUT_RATIO: f64 = 5.0;

static INTERRUPTED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_signal(_: libc::c_int) {
    INTERRUPTED.store(true, Ordering::SeqCst);
}

fn interrupted() -> Result<(), String> {
    if INTERRUPTED.load(Ordering::SeqCst) {
        Err("interrupted".into())
    } else {
        Ok(())
    }
}

/// What one run measures, and how hard.
struct Plan {
    smoke: bool,
    /// Phases to run (`BENCH_PHASES`, comma-separated; default all).
    phases: Vec<String>,
    /// Repetitions of each drain (the noisiest figure).
    drain_reps: usize,
    /// Repetitions of the latency and memory measurements.
    reps: usize,
    /// (containers, lines per container) of each drain case.
    drains: Vec<(usize, usize)>,
    /// Lines of the one container drained with the multiline parser on
    /// and off.
    multiline_lines: usize,
    reopen_big: usize,
    reopen_small: usize,
    rotate_seconds: f64,
    writers: usize,
    /// Each writer loops `seq 1 <burst>; sleep <pause>`.
    writer_burst: usize,
    writer_pause: &'static str,
    latency_warmup: f64,
    latency_seconds: f64,
    /// The noisy neighbour: how long the flood writes (at its own rate),
    /// and the bursts of the run that measures that rate.
    fair_flood_seconds: f64,
    fair_calibration_bursts: usize,
    idle: usize,
    max_load: f64,
    load_wait: Duration,
}

impl Plan {
    fn new(smoke: bool) -> Plan {
        let env = |key: &str| std::env::var(key).ok().and_then(|v| v.parse::<f64>().ok());
        let phases = std::env::var("BENCH_PHASES")
            .unwrap_or_else(|_| "drain,multiline,reopen,latency,fair,idle".into())
            .split(',')
            .map(|p| p.trim().to_string())
            .collect();
        if smoke {
            Plan {
                smoke,
                phases,
                drain_reps: env("BENCH_REPS").map_or(1, |v| v as usize),
                reps: env("BENCH_REPS").map_or(1, |v| v as usize),
                drains: vec![(2, 10_000), (5, 4_000)],
                multiline_lines: 20_000,
                reopen_big: 20_000,
                reopen_small: 1_000,
                rotate_seconds: 3.0,
                writers: 2,
                writer_burst: 25,
                writer_pause: "0.02",
                latency_warmup: 1.0,
                latency_seconds: 3.0,
                fair_flood_seconds: 3.0,
                fair_calibration_bursts: 10,
                idle: 20,
                max_load: env("BENCH_MAX_LOAD").unwrap_or(f64::INFINITY),
                load_wait: Duration::from_secs_f64(env("BENCH_LOAD_WAIT").unwrap_or(0.0)),
            }
        } else {
            Plan {
                smoke,
                phases,
                drain_reps: env("BENCH_REPS").map_or(5, |v| v as usize),
                reps: env("BENCH_REPS").map_or(3, |v| v as usize),
                drains: vec![(1, 1_000_000), (10, 100_000), (100, 10_000)],
                multiline_lines: 1_000_000,
                reopen_big: 1_000_000,
                reopen_small: 1_000,
                rotate_seconds: 10.0,
                writers: 10,
                writer_burst: 25,
                writer_pause: "0.02",
                latency_warmup: 2.0,
                latency_seconds: 15.0,
                fair_flood_seconds: 10.0,
                fair_calibration_bursts: 30,
                idle: env("BENCH_IDLE").map_or(500, |v| v as usize),
                max_load: env("BENCH_MAX_LOAD").unwrap_or(1.0),
                load_wait: Duration::from_secs_f64(env("BENCH_LOAD_WAIT").unwrap_or(900.0)),
            }
        }
    }
}

/// One part of the run.
type Phase = fn(&mut Bench) -> Result<(), String>;

/// What every phase needs.
struct Bench {
    plan: Plan,
    containers: Containers,
    socket: String,
    dockerd: u32,
    report: Report,
    /// Every raw measurement, written as JSON at the end.
    raw: Vec<Value>,
}

fn main() {
    let mut args = std::env::args().skip(1);
    let mode = args.next().unwrap_or_else(|| "run".into());
    let child = |f: fn(&capture::Args) -> Result<Value, String>, args| match f(&capture::Args::parse(args)) {
        Ok(v) => println!("{v}"),
        Err(e) => {
            eprintln!("bench {mode}: {e}");
            std::process::exit(1);
        }
    };
    match mode.as_str() {
        "drain" => child(capture::drain, args),
        "latency" => child(capture::latency, args),
        "idle" => child(capture::idle, args),
        "rotate" => child(capture::rotate, args),
        "fair" => child(fair::fair, args),
        "rawread" => child(rawread::rawread, args),
        "run" => std::process::exit(run(args.collect())),
        other => {
            eprintln!("bench: unknown mode {other:?} (run, drain, latency, idle, rotate, fair, rawread)");
            std::process::exit(2);
        }
    }
}

fn say(message: impl AsRef<str>) {
    eprintln!("bench: {}", message.as_ref());
}

fn run(args: Vec<String>) -> i32 {
    // SAFETY: the handler only stores to an atomic.
    unsafe {
        libc::signal(libc::SIGINT, on_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGTERM, on_signal as *const () as libc::sighandler_t);
    }
    let smoke =
        args.iter().any(|a| a == "--smoke") || std::env::var("BENCH_SMOKE").is_ok_and(|v| !v.is_empty() && v != "0");
    let prefix = args
        .iter()
        .position(|a| a == "--prefix")
        .and_then(|i| args.get(i + 1).cloned())
        .unwrap_or_else(|| format!("lct-{}-", std::process::id()));
    let socket = std::env::var("LOG_CAPTURER_DOCKER_SOCK").unwrap_or_else(|_| "/var/run/docker.sock".into());
    let dockerd = match probe::dockerd_pid() {
        Ok(pid) => pid,
        Err(e) => {
            say(format!("cannot measure: {e}"));
            return 2;
        }
    };
    if let Err(e) = docker(&["image", "inspect", "-f", "{{.Id}}", containers::IMAGE]) {
        say(format!("cannot measure: the test image is missing (run scripts/bench.sh): {e}"));
        return 2;
    }
    let plan = Plan::new(smoke);
    let mut bench = Bench {
        report: Report::new(smoke, machine(), prefix.clone()),
        containers: Containers::new(prefix),
        plan,
        socket,
        dockerd,
        raw: Vec::new(),
    };
    let started = Instant::now();
    bench.wait_for_quiet();
    match bench.dockerd_rate(if bench.plan.smoke { 2.0 } else { 5.0 }) {
        Ok(rate) => bench.report.dockerd_at_rest(rate),
        Err(e) => {
            say(format!("cannot measure: {e}"));
            return 2;
        }
    }
    let phases: [(&str, &str, Phase); 6] = [
        ("drain", "drain throughput", Bench::drains),
        ("multiline", "multiline drain", Bench::drain_multiline),
        ("reopen", "reopen cost", Bench::reopens),
        ("latency", "write → poll latency", Bench::latency),
        ("fair", "noisy neighbour", Bench::fairness),
        ("idle", "idle memory", Bench::idle_memory),
    ];
    let mut failed = false;
    for (key, name, phase) in phases {
        if !bench.plan.phases.iter().any(|p| p == key) {
            continue;
        }
        if interrupted().is_err() {
            failed = true;
            break;
        }
        say(format!("{name} (load {:.2})", probe::load1()));
        if let Err(e) = phase(&mut bench) {
            say(format!("{name}: could not measure: {e}"));
            bench.report.failure(name, &e);
            failed = true;
        }
        bench.containers.remove_all();
    }
    bench.report.finish(started.elapsed());
    print!("{}", bench.report.render());
    let out = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/bench");
    let _ = std::fs::create_dir_all(&out);
    let file = out.join(if bench.plan.smoke { "bench-smoke.json" } else { "bench.json" });
    let doc = json!({"machine": bench.report.machine, "runs": bench.raw});
    match std::fs::write(&file, serde_json::to_string_pretty(&doc).unwrap_or_default()) {
        Ok(()) => say(format!("raw measurements: {}", file.display())),
        Err(e) => say(format!("cannot write {}: {e}", file.display())),
    }
    if failed || bench.report.has_failures() {
        1
    } else {
        0
    }
}

/// The machine, as the README's table describes it.
fn machine() -> Value {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_string())
        })
        .unwrap_or_default();
    let memory = Command::new("free")
        .arg("-h")
        .output()
        .ok()
        .and_then(|o| {
            String::from_utf8_lossy(&o.stdout)
                .lines()
                .find(|l| l.starts_with("Mem:"))
                .map(|l| l.split_whitespace().nth(1).unwrap_or("").to_string())
        })
        .unwrap_or_default();
    json!({
        "nproc": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
        "memory": memory,
        "cpu": cpu,
        "kernel": std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default().trim(),
        "docker": docker(&["version", "-f", "{{.Server.Version}} (API {{.Server.APIVersion}})"]).unwrap_or_default(),
        "date": utc_now_text(),
    })
}

fn utc_now_text() -> String {
    Command::new("date")
        .args(["-u", "+%Y-%m-%d %H:%M UTC"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default()
}

/// The line every drain container writes, 99 characters and a newline.
fn drain_line() -> String {
    let mut line = String::from("log-capturer bench line ");
    while line.len() < LINE_BYTES - 1 {
        line.push((b'a' + (line.len() % 26) as u8) as char);
    }
    line
}

/// `N` lines of `LINE_BYTES`, then exit.
fn drain_script(lines: usize) -> String {
    format!("yes {} | head -n {lines}", drain_line())
}

/// The lines of a traced log repeat in blocks of this many: a 10-line Java
/// trace, then plain lines (each of `LINE_BYTES` with its newline).
const TRACE_BLOCK_LINES: usize = 100;
/// How many events the java parser makes of one block.
const TRACE_BLOCK_EVENTS: usize = TRACE_BLOCK_LINES - 9;

/// One block of a traced log, without its last newline.
fn trace_block() -> String {
    let pad = |line: String| {
        let mut line = line;
        while line.len() < LINE_BYTES - 1 {
            line.push((b'a' + (line.len() % 26) as u8) as char);
        }
        line
    };
    let mut lines = vec![pad("java.lang.IllegalStateException: request failed ".into())];
    for i in 0..6 {
        lines.push(pad(format!("\tat com.example.app.Handler{i}.handle(Handler{i}.java:{}) ", 40 + i)));
    }
    lines.push(pad("Caused by: java.io.IOException: connection reset by peer ".into()));
    lines.push(pad("\tat com.example.net.Channel.read(Channel.java:77) ".into()));
    lines.push(pad("\t... 6 more ".into()));
    lines.extend((lines.len()..TRACE_BLOCK_LINES).map(|_| drain_line()));
    lines.join("\n")
}

/// `N` lines (a multiple of `TRACE_BLOCK_LINES`) of traced log, then exit.
fn traced_script(lines: usize) -> String {
    format!("yes '{}' | head -n {lines}", trace_block())
}

/// `N` lines, a last marker line, then idle (the container keeps running).
fn reopen_script(lines: usize) -> String {
    format!("yes {} | head -n {}; echo end-of-log; exec sleep 3600", drain_line(), lines - 1)
}

impl Bench {
    /// Before a full run: waits (up to `BENCH_LOAD_WAIT`) for the 1-minute
    /// load to drop under `BENCH_MAX_LOAD`; notes it either way.
    fn wait_for_quiet(&mut self) {
        let (max, limit) = (self.plan.max_load, self.plan.load_wait);
        let started = Instant::now();
        let quiet = limit.is_zero()
            || probe::wait_for(limit, Duration::from_secs(5), || {
                if INTERRUPTED.load(Ordering::SeqCst) {
                    return true;
                }
                let load = probe::load1();
                if load >= max {
                    say(format!(
                        "load {load:.2} ≥ {max}: waiting (at most {} s more)",
                        limit.saturating_sub(started.elapsed()).as_secs()
                    ));
                }
                load < max
            });
        self.report.load_gate(max, probe::load1(), started.elapsed(), quiet);
    }

    fn dockerd_cpu(&self) -> Result<f64, String> {
        probe::cpu_seconds(self.dockerd).ok_or_else(|| "dockerd is gone".into())
    }

    /// dockerd's CPU seconds per second over `seconds` of waiting.
    fn dockerd_rate(&self, seconds: f64) -> Result<f64, String> {
        let cpu0 = self.dockerd_cpu()?;
        std::thread::sleep(Duration::from_secs_f64(seconds));
        Ok((self.dockerd_cpu()? - cpu0) / seconds)
    }

    /// Runs a child mode of this binary; returns its JSON line.
    fn child(&self, mode: &str, args: &[(&str, String)]) -> Result<Value, String> {
        interrupted()?;
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut command = Command::new(exe);
        command.arg(mode);
        for (key, value) in args {
            command.arg(format!("--{key}")).arg(value);
        }
        command.arg("--dockerd").arg(self.dockerd.to_string()).env("DOCKER_HOST", format!("unix://{}", self.socket));
        let finished = probe::run_concurrently(vec![command], probe::Output::Capture);
        let line = finished.stdouts.first().map(|s| s.trim()).unwrap_or("");
        if !finished.all_ok || line.is_empty() {
            return Err(format!(
                "bench {mode} failed{}",
                finished.failure.map(|f| format!(": {f}")).unwrap_or_default()
            ));
        }
        let mut value: Value = serde_json::from_str(line).map_err(|e| format!("bench {mode}: {e}: {line}"))?;
        value["process_cpu_seconds"] = json!(finished.cpu_seconds);
        value["process_peak_rss_kib"] = json!(finished.max_rss_kib);
        Ok(value)
    }

    // ---- Drain throughput -------------------------------------------------

    fn drains(&mut self) -> Result<(), String> {
        let line = drain_line();
        debug_assert_eq!(line.len() + 1, LINE_BYTES);
        let mut sets = Vec::new();
        for &(count, lines) in &self.plan.drains.clone() {
            let group = format!("drain{count}");
            say(format!("starting {count} containers of {lines} lines"));
            let names = self.containers.run(&group, count, &drain_script(lines))?;
            sets.push((group, names, lines));
        }
        for (_, names, _) in &sets {
            self.containers.wait_exited(names)?;
        }
        for (group, names, lines) in sets {
            let result = self.drain_set(&group, &names, lines);
            self.containers.remove(&names);
            result?;
        }
        Ok(())
    }

    /// One container whose log holds a Java trace every `TRACE_BLOCK_LINES`
    /// lines, drained by the capturer with the `java` parser and without,
    /// in turns (the order alternating between repetitions).
    fn drain_multiline(&mut self) -> Result<(), String> {
        let lines = self.plan.multiline_lines / TRACE_BLOCK_LINES * TRACE_BLOCK_LINES;
        say(format!("starting 1 container of {lines} lines with Java traces"));
        let names = self.containers.run("traced", 1, &traced_script(lines))?;
        let result = self.containers.wait_exited(&names).and_then(|()| self.drain_multiline_runs(lines));
        self.containers.remove(&names);
        result
    }

    fn drain_multiline_runs(&mut self, lines: usize) -> Result<(), String> {
        let events = lines / TRACE_BLOCK_LINES * TRACE_BLOCK_EVENTS;
        let mut runs: [Vec<report::DrainRun>; 2] = [Vec::new(), Vec::new()];
        for rep in 0..self.plan.drain_reps {
            for k in 0..2 {
                let on = (rep + k) % 2 == 1;
                let load = probe::load1();
                let (multiline, expect) = if on { (Some(r#"{"parser": "java"}"#), events) } else { (None, lines) };
                let mut run = self.drain_capture_with("traced", 1, expect, multiline, load, "api")?;
                run.lines = lines;
                say(format!(
                    "  1 × {lines} with traces: parser {:<4} {:>9.0} lines/s  {expect} records  cpu {:.2} s  (load {load:.2})",
                    if on { "java" } else { "off" },
                    run.lines as f64 / run.seconds,
                    run.client_cpu
                ));
                self.raw.push(
                    json!({"kind": "drain_multiline", "parser": if on { "java" } else { "off" }, "run": run.to_json()}),
                );
                runs[on as usize].push(run);
            }
        }
        let [off, on] = runs;
        self.report.multiline(lines, events, off, on);
        Ok(())
    }

    fn drain_set(&mut self, group: &str, names: &[String], lines: usize) -> Result<(), String> {
        let total = names.len() * lines;
        let fluent_bit = fluentbit::binary();
        // Fluent Bit's tail last, when a binary is given.
        let methods = report::DRAIN_METHODS.len() - usize::from(fluent_bit.is_none());
        let mut runs: Vec<Vec<report::DrainRun>> = vec![Vec::new(); methods];
        for rep in 0..self.plan.drain_reps {
            // Each repetition starts with another client: drift in the
            // machine's load falls on all three alike.
            for k in 0..methods {
                let method = (rep + k) % methods;
                interrupted()?;
                let load = probe::load1();
                let run = match method {
                    0 => self.drain_clients(names, total, load, false),
                    1 => self.drain_clients(names, total, load, true),
                    2 => self.drain_capture(group, names.len(), total, load, "api"),
                    3 => self.drain_capture(group, names.len(), total, load, "file"),
                    _ => self.drain_fluent_bit(fluent_bit.as_deref().unwrap_or_default(), names, total, load),
                };
                let run =
                    run.map_err(|e| format!("{} containers, {}: {e}", names.len(), report::DRAIN_METHODS[method]))?;
                say(format!(
                    "  {} × {lines}: {:<24} {:>9.0} lines/s  cpu {:.2} s  dockerd {:.2} s  (load {load:.2})",
                    names.len(),
                    report::DRAIN_METHODS[method],
                    run.lines as f64 / run.seconds,
                    run.client_cpu,
                    run.dockerd_cpu
                ));
                self.raw.push(json!({"kind": "drain", "containers": names.len(), "method": report::DRAIN_METHODS[method], "run": run.to_json()}));
                runs[method].push(run);
            }
        }
        self.report.drain(names.len(), total, runs);
        Ok(())
    }

    /// N concurrent `curl`s on the socket (`docker logs` when `cli`), each
    /// asking the capturer's own request for a finished container.
    fn drain_clients(&self, names: &[String], total: usize, load: f64, cli: bool) -> Result<report::DrainRun, String> {
        let query =
            log_capturer::docker::LogsQuery { stdout: true, stderr: true, ..Default::default() };
        let commands: Vec<Command> = names
            .iter()
            .map(|name| {
                let mut c;
                if cli {
                    c = Command::new("docker");
                    c.args(["logs", "-t", name]);
                } else {
                    c = Command::new("curl");
                    c.args(["-sS", "-o", "/dev/null", "-w", "%{size_download}", "--unix-socket", &self.socket])
                        .arg(format!("http://localhost{}", query.path(name)));
                }
                c
            })
            .collect();
        let (cpu0, busy0) = (self.dockerd_cpu()?, probe::machine_busy_seconds());
        let output = if cli { probe::Output::Discard } else { probe::Output::Capture };
        let finished = probe::run_concurrently(commands, output);
        let (cpu1, busy1) = (self.dockerd_cpu()?, probe::machine_busy_seconds());
        if !finished.all_ok {
            return Err(finished.failure.unwrap_or_default());
        }
        if !cli {
            let bytes: usize = finished.stdouts.iter().filter_map(|s| s.trim().parse::<usize>().ok()).sum();
            if bytes != total * WIRE_BYTES_PER_LINE {
                return Err(format!("curl read {bytes} bytes, expected {}", total * WIRE_BYTES_PER_LINE));
            }
        }
        Ok(report::DrainRun {
            lines: total,
            seconds: finished.seconds,
            client_cpu: finished.cpu_seconds,
            dockerd_cpu: cpu1 - cpu0,
            other_cpu: (busy1 - busy0) - (cpu1 - cpu0) - finished.cpu_seconds,
            peak_rss_kib: finished.max_rss_kib,
            load,
        })
    }

    /// One fluent-bit `tail` per container over its log file.
    fn drain_fluent_bit(&self, binary: &str, names: &[String], total: usize, load: f64) -> Result<report::DrainRun, String> {
        let paths = names
            .iter()
            .map(|name| docker(&["inspect", "-f", "{{.LogPath}}", name]).map(|p| p.trim().to_string()))
            .collect::<Result<Vec<_>, _>>()?;
        let dir = std::env::temp_dir().join(format!("log-capturer-bench-fluent-bit-{}", std::process::id()));
        let (cpu0, busy0) = (self.dockerd_cpu()?, probe::machine_busy_seconds());
        let tailed = fluentbit::tail(binary, &paths, total / names.len(), &dir, Duration::from_secs(600));
        let (cpu1, busy1) = (self.dockerd_cpu()?, probe::machine_busy_seconds());
        let _ = std::fs::remove_dir_all(&dir);
        let tailed = tailed?;
        if tailed.records != total {
            return Err(format!("Fluent Bit counted {} of {total} records", tailed.records));
        }
        Ok(report::DrainRun {
            lines: total,
            seconds: tailed.seconds,
            client_cpu: tailed.cpu_seconds,
            dockerd_cpu: cpu1 - cpu0,
            other_cpu: (busy1 - busy0) - (cpu1 - cpu0) - tailed.cpu_seconds,
            peak_rss_kib: tailed.max_rss_kib,
            load,
        })
    }

    fn drain_capture(
        &self,
        group: &str,
        count: usize,
        total: usize,
        load: f64,
        source: &str,
    ) -> Result<report::DrainRun, String> {
        self.drain_capture_with(group, count, total, None, load, source)
    }

    /// The capturer drains `count` containers until `total` records came,
    /// with the `multiline` option given (JSON), if any.
    fn drain_capture_with(
        &self,
        group: &str,
        count: usize,
        total: usize,
        multiline: Option<&str>,
        load: f64,
        source: &str,
    ) -> Result<report::DrainRun, String> {
        let mut args = vec![
            ("prefix", self.containers.group_prefix(group)),
            ("expect", total.to_string()),
            ("timeout", "600".into()),
            ("source", source.into()),
        ];
        if let Some(m) = multiline {
            args.push(("multiline", m.to_string()));
        }
        let v = self.child("drain", &args)?;
        let records = v["records"].as_u64().unwrap_or(0) as usize;
        if records != total {
            return Err(format!("the capturer delivered {records} of {total} records ({count} containers)"));
        }
        Ok(report::DrainRun {
            lines: records,
            seconds: v["seconds"].as_f64().unwrap_or(f64::NAN),
            client_cpu: v["cpu_seconds"].as_f64().unwrap_or(f64::NAN),
            dockerd_cpu: v["dockerd_cpu_seconds"].as_f64().unwrap_or(f64::NAN),
            other_cpu: v["other_cpu_seconds"].as_f64().unwrap_or(f64::NAN),
            peak_rss_kib: v["peak_rss_kib"].as_u64().unwrap_or(0),
            load,
        })
    }

    // ---- Reopen cost -------------------------------------------------------

    fn reopens(&mut self) -> Result<(), String> {
        let sizes = [("big", self.plan.reopen_big), ("small", self.plan.reopen_small)];
        let mut names = Vec::new();
        for (group, lines) in sizes {
            names.push(self.containers.run(&format!("reopen{group}"), 1, &reopen_script(lines))?.remove(0));
        }
        // Written when the marker line is the last one.
        for name in &names {
            let ok = probe::wait_for(Duration::from_secs(120), Duration::from_millis(250), || {
                docker(&["logs", "--tail", "1", name]).is_ok_and(|l| l == "end-of-log")
            });
            if !ok {
                return Err(format!("{name} did not finish writing its log within 120 s"));
            }
        }
        // Every single request first (they leave no work behind), then the
        // engine's rotations, each followed by a cool-down that is measured:
        // requests a rotation abandons keep dockerd busy after they close.
        let mut rows = Vec::new();
        for ((_, lines), name) in sizes.iter().zip(&names) {
            interrupted()?;
            let id = self.containers.id(name)?;
            let reopen = reopen::Reopen::new(&self.socket, &id)?;
            let load = probe::load1();
            let bounded = self.reopen_cost(&reopen, &reopen.bounded_query())?;
            let naive = self.reopen_cost(&reopen, &reopen.naive_query())?;
            say(format!(
                "  {lines} lines: bounded {:.2} ms ({:.2} ms dockerd), naive {:.1} ms ({:.1} ms dockerd)",
                bounded.seconds * 1e3,
                bounded.dockerd_cpu_seconds * 1e3,
                naive.seconds * 1e3,
                naive.dockerd_cpu_seconds * 1e3
            ));
            rows.push(report::ReopenRow {
                lines: *lines,
                bounded_path: reopen.path(&reopen.bounded_query()).replace(&id, "{id}"),
                naive_path: reopen.path(&reopen.naive_query()).replace(&id, "{id}"),
                bounded,
                naive,
                rotation: Value::Null,
                load,
            });
        }
        let quiet_seconds = self.plan.rotate_seconds.min(5.0);
        for (row, name) in rows.iter_mut().zip(&names) {
            interrupted()?;
            // What dockerd burns without us (other clients of a shared
            // daemon), to take off the rotations' figure.
            let idle_rate = self.dockerd_rate(quiet_seconds)?;
            let mut rotation = self.child(
                "rotate",
                &[
                    ("prefix", name.clone()),
                    ("expect", row.lines.to_string()),
                    ("seconds", self.plan.rotate_seconds.to_string()),
                ],
            )?;
            let after = self.dockerd_rate(quiet_seconds)? * quiet_seconds;
            rotation["dockerd_after_stop_cpu_seconds"] = json!(after);
            rotation["dockerd_idle_cpu_seconds"] = json!(idle_rate * (self.plan.rotate_seconds + quiet_seconds));
            say(format!("  {} lines: engine rotations {rotation}", row.lines));
            self.raw.push(json!({"kind": "reopen", "lines": row.lines, "bounded": row.bounded.to_json(), "naive": row.naive.to_json(), "rotation": rotation}));
            row.rotation = rotation;
        }
        self.report.reopen(rows);
        Ok(())
    }

    /// Measures a request in blocks long enough for dockerd's 10 ms clock
    /// ticks: the first request sizes the blocks.
    fn reopen_cost(
        &self,
        reopen: &reopen::Reopen,
        query: &log_capturer::docker::LogsQuery,
    ) -> Result<reopen::Cost, String> {
        let probe_run = reopen.measure(query, self.dockerd, 1, 1)?;
        let block_seconds = if self.plan.smoke { 0.2 } else { 1.0 };
        let per_block = ((block_seconds / probe_run.seconds.max(1e-4)) as usize).clamp(1, 500);
        let blocks = if self.plan.smoke { 1 } else { 3 };
        reopen.measure(query, self.dockerd, blocks, per_block)
    }

    // ---- Latency -----------------------------------------------------------

    fn latency(&mut self) -> Result<(), String> {
        let plan = &self.plan;
        let script = format!("while :; do seq 1 {}; sleep {}; done", plan.writer_burst, plan.writer_pause);
        let names = self.containers.run("writer", plan.writers, &script)?;
        let prefix = self.containers.group_prefix("writer");
        // The daemon's cost of the writers alone, with no reader.
        std::thread::sleep(Duration::from_secs(1));
        let window = self.plan.latency_seconds;
        let cpu0 = self.dockerd_cpu()?;
        std::thread::sleep(Duration::from_secs_f64(window));
        let logging_cpu = (self.dockerd_cpu()? - cpu0) / window;
        let mut runs = Vec::new();
        for _ in 0..self.plan.reps {
            let load = probe::load1();
            let mut v = self.child(
                "latency",
                &[
                    ("prefix", prefix.clone()),
                    ("warmup", self.plan.latency_warmup.to_string()),
                    ("seconds", window.to_string()),
                ],
            )?;
            if v["followed"].as_u64() != Some(names.len() as u64) {
                return Err(format!("followed {} of {} writers", v["followed"], names.len()));
            }
            v["load"] = json!(load);
            say(format!(
                "  {:.0} lines/s: p50 {:.2} ms, p99 {:.2} ms, max {:.1} ms, cpu {:.2} s, dockerd {:.2} s (load {load:.2})",
                v["lines_per_second"].as_f64().unwrap_or(0.0),
                v["p50_ms"].as_f64().unwrap_or(f64::NAN),
                v["p99_ms"].as_f64().unwrap_or(f64::NAN),
                v["max_ms"].as_f64().unwrap_or(f64::NAN),
                v["cpu_seconds"].as_f64().unwrap_or(f64::NAN),
                v["dockerd_cpu_seconds"].as_f64().unwrap_or(f64::NAN),
            ));
            self.raw.push(json!({"kind": "latency", "run": v}));
            runs.push(v);
        }
        self.report.latency(names.len(), logging_cpu, runs);
        Ok(())
    }

    // ---- Idle memory -------------------------------------------------------

    fn idle_memory(&mut self) -> Result<(), String> {
        let count = self.plan.idle;
        say(format!("starting {count} idle containers"));
        self.containers.run("idle", count, "exec sleep 3600")?;
        let mut pairs = Vec::new();
        for _ in 0..self.plan.reps.min(2) {
            let load = probe::load1();
            let timeout = (60 + count / 2).to_string();
            let with = self.child(
                "idle",
                &[
                    ("prefix", self.containers.group_prefix("idle")),
                    ("count", count.to_string()),
                    ("timeout", timeout.clone()),
                    ("settle", "3".into()),
                ],
            )?;
            // The same capture, following none of them (nothing matches).
            let without = self.child(
                "idle",
                &[
                    ("prefix", self.containers.group_prefix("none")),
                    ("count", "0".into()),
                    ("timeout", timeout),
                    ("settle", "3".into()),
                ],
            )?;
            say(format!(
                "  RSS with {count}: {} KiB, with 0: {} KiB (load {load:.2})",
                with["rss_kib"], without["rss_kib"]
            ));
            self.raw.push(json!({"kind": "idle", "count": count, "with": with, "without": without, "load": load}));
            pairs.push((with, without, load));
        }
        self.report.idle(count, pairs);
        Ok(())
    }
}

/// Now as Unix seconds (with a fraction).
fn unix_seconds() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}
