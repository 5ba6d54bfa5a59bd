//! What the bench reads from the system: CPU time of a process from
//! `/proc/<pid>/stat`, resident memory from `/proc/self/status`, the load
//! average, and the resource usage of child processes it waits for.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Seconds of CPU (user + system, every thread) a process has used, from
/// `/proc/<pid>/stat` (`utime` + `stime`, in clock ticks).
pub fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name is in parentheses and may hold spaces.
    let fields: Vec<&str> = stat[stat.rfind(')')? + 2..].split(' ').collect();
    // Fields 14 and 15 of the line are 12 and 13 after the name.
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((utime + stime) as f64 / clock_ticks())
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 {
        ticks as f64
    } else {
        100.0
    }
}

/// Seconds of CPU the whole machine has been busy (every CPU, every
/// process and the kernel), from the first line of `/proc/stat`.
pub fn machine_busy_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap_or_default();
    let ticks: Vec<u64> =
        stat.lines().next().unwrap_or("").split_whitespace().skip(1).filter_map(|v| v.parse().ok()).collect();
    // user nice system idle iowait irq softirq steal: all but idle and iowait.
    let busy: u64 = ticks.iter().enumerate().filter(|(i, _)| matches!(i, 0 | 1 | 2 | 5 | 6 | 7)).map(|(_, t)| t).sum();
    busy as f64 / clock_ticks()
}

/// A field of `/proc/self/status` in KiB (`VmRSS`, `VmHWM`).
pub fn self_status_kib(field: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with(field) && l[field.len()..].starts_with(':'))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

/// The 1-minute load average.
pub fn load1() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(f64::NAN)
}

/// The Docker daemon's pid: `/var/run/docker.pid`, else the only `dockerd`.
pub fn dockerd_pid() -> Result<u32, String> {
    if let Some(pid) = std::fs::read_to_string("/var/run/docker.pid")
        .ok()
        .and_then(|s| s.trim().parse::<u32>().ok())
        .filter(|pid| cpu_seconds(*pid).is_some())
    {
        return Ok(pid);
    }
    let out = Command::new("pgrep").args(["-x", "dockerd"]).output().map_err(|e| format!("pgrep: {e}"))?;
    let pids: Vec<u32> =
        String::from_utf8_lossy(&out.stdout).split_whitespace().filter_map(|p| p.parse().ok()).collect();
    match pids.as_slice() {
        [pid] => Ok(*pid),
        [] => Err("no dockerd process found".into()),
        _ => Err(format!("several dockerd processes ({pids:?}); cannot tell which to measure")),
    }
}

/// How a group of child processes ran.
#[derive(Debug, Clone, Default)]
pub struct Finished {
    /// Wall time from the first spawn to the last exit.
    pub seconds: f64,
    /// User + system CPU of every child.
    pub cpu_seconds: f64,
    /// The largest peak RSS of one child, KiB.
    pub max_rss_kib: u64,
    /// Each child's stdout, in spawn order.
    pub stdouts: Vec<String>,
    /// False when a child failed to start or exited non-zero.
    pub all_ok: bool,
    /// What went wrong, when not all ok.
    pub failure: Option<String>,
}

/// What becomes of the children's output.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// stdout is read into `Finished::stdouts`; stderr is inherited.
    Capture,
    /// stdout and stderr go to /dev/null.
    Discard,
}

/// Spawns every command at once (stdin closed) and waits for all of them,
/// collecting their CPU time and peak memory with `wait4`.
pub fn run_concurrently(commands: Vec<Command>, output: Output) -> Finished {
    let started = Instant::now();
    let mut children: Vec<Child> = Vec::new();
    let mut finished = Finished { all_ok: true, ..Finished::default() };
    for mut command in commands {
        command.stdin(Stdio::null());
        match output {
            Output::Capture => command.stdout(Stdio::piped()),
            Output::Discard => command.stdout(Stdio::null()).stderr(Stdio::null()),
        };
        match command.spawn() {
            Ok(child) => children.push(child),
            Err(e) => {
                finished.all_ok = false;
                finished.failure = Some(format!("cannot start {command:?}: {e}"));
            }
        }
    }
    for mut child in children {
        let mut out = String::new();
        if let Some(mut pipe) = child.stdout.take() {
            use std::io::Read;
            let _ = pipe.read_to_string(&mut out);
        }
        let (status, usage) = wait_with_usage(child.id());
        finished.cpu_seconds += usage.0;
        finished.max_rss_kib = finished.max_rss_kib.max(usage.1);
        if status != Some(0) {
            finished.all_ok = false;
            finished.failure.get_or_insert_with(|| format!("a child exited with {status:?}"));
        }
        finished.stdouts.push(out);
    }
    finished.seconds = started.elapsed().as_secs_f64();
    finished
}

/// Waits for a child with `wait4`: its exit code (None when signalled)
/// and (CPU seconds, peak RSS KiB).
pub fn wait_with_usage(pid: u32) -> (Option<i32>, (f64, u64)) {
    let mut status = 0;
    // SAFETY: rusage is plain data; wait4 fills it for our own child.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    if r < 0 {
        return (None, (0.0, 0));
    }
    let seconds = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    let code = if libc::WIFEXITED(status) { Some(libc::WEXITSTATUS(status)) } else { None };
    (code, (seconds(usage.ru_utime) + seconds(usage.ru_stime), usage.ru_maxrss as u64))
}

/// The value at quantile `q` (0..=1) of sorted values (nearest rank).
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The median of some values (NaN for none).
pub fn median(values: &[f64]) -> f64 {
    let mut v: Vec<f64> = values.iter().copied().filter(|x| !x.is_nan()).collect();
    v.sort_by(|a, b| a.total_cmp(b));
    match v.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => v[n / 2],
        n => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Waits until `ready` holds, checking every `every`, at most `limit`.
pub fn wait_for(limit: Duration, every: Duration, mut ready: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + limit;
    loop {
        if ready() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(every);
    }
}
