//! A noisy neighbour: one container floods (bursts of 2,000 lines every
//! 100 ms, about 20k lines/s) while another writes a numbered line every
//! 100 ms, and the host drains at about half the flood's rate (as a
//! pipeline with a slow output does). What counts is
//! how late the quiet container's lines reach the host, and that every one
//! of them comes once.
//!
//! The parent (`Bench::fairness`) measures how fast the flood writes when
//! nobody reads it, then runs the child (`fair`), which starts the capture,
//! waits until the quiet container is followed, starts the flood itself
//! (so the capture follows it live), and polls at the paced rate until the
//! whole flood has come.

use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::capture::{self, Args, Capture};
use crate::containers::{docker, IMAGE};
use crate::{probe, say, Bench};

/// The quiet container writes a line this often.
const QUIET_INTERVAL: &str = "0.1";
/// The most records one paced poll takes.
const PACED_POLL_RECORDS: usize = 256;
/// The flood writes this many lines at once, then sleeps `QUIET_INTERVAL`.
const FLOOD_BURST: usize = 2000;

/// `bursts` × `FLOOD_BURST` lines of the drain line, then exit.
fn flood_script(bursts: usize) -> String {
    format!(
        "i=0; while [ $i -lt {bursts} ]; do yes {} | head -n {FLOOD_BURST}; sleep {QUIET_INTERVAL}; i=$((i+1)); done",
        crate::drain_line()
    )
}

/// The quiet container: `1`, `2`, … one line per `QUIET_INTERVAL`.
fn quiet_script() -> String {
    format!("i=0; while :; do i=$((i+1)); echo $i; sleep {QUIET_INTERVAL}; done")
}

impl Bench {
    pub fn fairness(&mut self) -> Result<(), String> {
        let rate = self.flood_rate()?;
        let bursts = ((rate * self.plan.fair_flood_seconds) as usize / FLOOD_BURST).clamp(5, 2_000);
        let flood_lines = bursts * FLOOD_BURST;
        let drain_rate = rate / 2.0;
        say(format!(
            "  flood writes {rate:.0} lines/s alone; {flood_lines} lines, host draining {drain_rate:.0} records/s"
        ));
        let mut runs = Vec::new();
        for rep in 0..self.plan.reps {
            let group = format!("fair{rep}");
            let quiet = self.containers.run(&group, 1, &quiet_script())?.remove(0);
            // Named now, so it is removed with the rest even if the child
            // fails after starting it.
            let flood = self.containers.claim(&group, 1);
            let load = probe::load1();
            let mut v = self.child(
                "fair",
                &[
                    ("prefix", self.containers.group_prefix(&group)),
                    ("quiet", quiet.clone()),
                    ("flood", flood.clone()),
                    ("flood-bursts", bursts.to_string()),
                    ("drain-rate", drain_rate.to_string()),
                    ("timeout", (60.0 + 4.0 * self.plan.fair_flood_seconds).to_string()),
                ],
            )?;
            self.containers.remove(&[quiet, flood]);
            v["load"] = json!(load);
            v["flood_rate_alone"] = json!(rate);
            let f = |k: &str| v[k].as_f64().unwrap_or(f64::NAN);
            say(format!(
                "  quiet lines {} (lost {}, repeated {}): p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms; flood {:.0} lines/s, host {:.0} records/s (load {load:.2})",
                v["quiet_lines"],
                v["quiet_lost"],
                v["quiet_repeated"],
                f("quiet_p50_ms"),
                f("quiet_p99_ms"),
                f("quiet_max_ms"),
                f("flood_write_rate"),
                f("drain_rate"),
            ));
            self.raw.push(json!({"kind": "fair", "run": v}));
            runs.push(v);
        }
        self.report.fairness(runs);
        Ok(())
    }

    /// How fast the flood writes with no reader: lines over the time from
    /// its start to its exit, as the daemon saw them.
    fn flood_rate(&mut self) -> Result<f64, String> {
        let bursts = self.plan.fair_calibration_bursts;
        let lines = bursts * FLOOD_BURST;
        let name = self.containers.run("faircal", 1, &flood_script(bursts))?.remove(0);
        self.containers.wait_exited(std::slice::from_ref(&name))?;
        let times = docker(&["inspect", "-f", "{{.State.StartedAt}} {{.State.FinishedAt}}", &name]);
        self.containers.remove(std::slice::from_ref(&name));
        let times = times?;
        let parse = |t: &str| log_capturer::timestamp::parse_rfc3339(t.as_bytes());
        let (started, finished) = match times.split_once(' ') {
            Some((a, b)) => (parse(a), parse(b)),
            None => (None, None),
        };
        match (started, finished) {
            (Some(a), Some(b)) if b > a => Ok(lines as f64 / ((b - a) as f64 / 1e9)),
            _ => Err(format!("cannot read the flood's run time from {times:?}")),
        }
    }
}

/// What one container's records came to.
#[derive(Default)]
struct Seen {
    records: usize,
    first_ts: i64,
    last_ts: i64,
    latencies_ms: Vec<f64>,
    /// The quiet container's line numbers, in arrival order.
    numbers: Vec<u64>,
}

impl Seen {
    fn add(&mut self, ts: i64, at: i64, number: Option<u64>) {
        if self.records == 0 {
            self.first_ts = ts;
        }
        self.records += 1;
        self.last_ts = self.last_ts.max(ts);
        self.latencies_ms.push((at - ts) as f64 / 1e6);
        self.numbers.extend(number);
    }

    fn quantiles(&mut self) -> (f64, f64, f64) {
        self.latencies_ms.sort_by(|a, b| a.total_cmp(b));
        let l = &self.latencies_ms;
        (probe::quantile(l, 0.5), probe::quantile(l, 0.99), l.last().copied().unwrap_or(f64::NAN))
    }

    /// (lost, repeated) among the numbers from the first received to the
    /// last: the lines before the capture started are not expected.
    fn sequence(&self) -> (u64, u64) {
        let (Some(&lo), Some(&hi)) = (self.numbers.iter().min(), self.numbers.iter().max()) else {
            return (0, 0);
        };
        let mut seen = vec![false; (hi - lo + 1) as usize];
        let mut repeated = 0;
        for &n in &self.numbers {
            let slot = &mut seen[(n - lo) as usize];
            repeated += u64::from(*slot);
            *slot = true;
        }
        (seen.iter().filter(|s| !**s).count() as u64, repeated)
    }
}

/// The capturer's side: follows the group, starts the flood once the quiet
/// container is followed, and polls at `--drain-rate` records/s until the
/// whole flood (`--flood-bursts`) has come or `--timeout` passed.
pub fn fair(args: &Args) -> Result<Value, String> {
    let (quiet, flood) = (args.text("quiet"), args.text("flood"));
    let bursts: usize = args.number("flood-bursts");
    let flood_lines = bursts * FLOOD_BURST;
    let drain_rate: f64 = args.number("drain-rate");
    let timeout = Duration::from_secs_f64(args.number("timeout"));
    let cap = Capture::start(json!({ "include_containers": [args.text("prefix")] }))?;
    let ready = Instant::now();
    loop {
        let stats = cap.stats();
        let following =
            capture::containers(&stats).iter().any(|c| c["name"] == quiet.as_str() && c["state"] == "following");
        if following {
            break;
        }
        if ready.elapsed() > Duration::from_secs(60) {
            return Err(format!("{quiet} was not followed within 60 s"));
        }
        cap.poll_records(PACED_POLL_RECORDS, 100, |_| {}).ok_or("capture stopped")?;
    }
    // Started while the host polls on: `docker run` takes a while.
    let mut starting = std::process::Command::new("docker")
        .args(["run", "-d", "--network", "none", "--label", "log-capturer-test=1", "--name", &flood, IMAGE])
        .args(["sh", "-c", &flood_script(bursts)])
        .stdout(std::process::Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    let mut flood_started = false;
    let (mut q, mut f) = (Seen::default(), Seen::default());
    let (cpu0, started) = (capture::self_cpu(), Instant::now());
    let mut taken = 0usize;
    while f.records < flood_lines && started.elapsed() < timeout {
        if !flood_started {
            flood_started = match starting.try_wait().map_err(|e| e.to_string())? {
                Some(status) if status.success() => true,
                Some(status) => return Err(format!("docker run {flood}: {status}")),
                None => false,
            };
        }
        // Paced: the host takes `drain_rate` records a second at most.
        let due = started + Duration::from_secs_f64(taken as f64 / drain_rate);
        std::thread::sleep(due.saturating_duration_since(Instant::now()));
        let mut batch: Vec<(bool, i64, Option<u64>)> = Vec::new();
        let n = cap
            .poll_records(PACED_POLL_RECORDS, 100, |r| {
                let name = unsafe { std::ffi::CStr::from_ptr(r.container_name) };
                let is_quiet = name.to_bytes() == quiet.as_bytes();
                let number = is_quiet
                    .then(|| unsafe { std::slice::from_raw_parts(r.message, r.message_len) })
                    .and_then(|m| std::str::from_utf8(m).ok()?.parse().ok());
                batch.push((is_quiet, r.timestamp_ns, number));
            })
            .ok_or("capture stopped while measuring")?;
        let at = capture::now_ns();
        for (is_quiet, ts, number) in batch {
            if is_quiet {
                q.add(ts, at, number)
            } else {
                f.add(ts, at, None)
            }
        }
        taken += n;
    }
    let seconds = started.elapsed().as_secs_f64();
    let cpu = capture::self_cpu() - cpu0;
    let stats = cap.stats();
    drop(cap);
    if f.records < flood_lines {
        return Err(format!("{} of {flood_lines} flood records came within {timeout:?}", f.records));
    }
    let paused = |name: &str| {
        capture::containers(&stats).into_iter().find(|c| c["name"] == name).map(|c| c["paused_seconds"].clone())
    };
    let (lost, repeated) = q.sequence();
    let ((qp50, qp99, qmax), (fp50, fp99, fmax)) = (q.quantiles(), f.quantiles());
    Ok(json!({
        "seconds": seconds,
        "drain_rate": (q.records + f.records) as f64 / seconds,
        "flood_records": f.records,
        "flood_write_rate": f.records as f64 / ((f.last_ts - f.first_ts).max(1) as f64 / 1e9),
        "flood_p50_ms": fp50,
        "flood_p99_ms": fp99,
        "flood_max_ms": fmax,
        "quiet_lines": q.records,
        "quiet_lost": lost,
        "quiet_repeated": repeated,
        "quiet_p50_ms": qp50,
        "quiet_p99_ms": qp99,
        "quiet_max_ms": qmax,
        "paused_seconds": {"quiet": paused(&quiet), "flood": paused(&flood)},
        "cpu_seconds": cpu,
    }))
}
