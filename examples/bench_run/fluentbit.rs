//! Fluent Bit's `tail` input over the same finished containers' log files,
//! the reference the file source is measured against (issue #14), when
//! `FLUENT_BIT` names a `fluent-bit` binary built with the `tail` input and
//! the `counter` output (not in CI: Debian has no Fluent Bit). One
//! fluent-bit per container, as one curl per container: its `docker`
//! parser on each line, records counted by `counter`, `Exit_On_Eof` ending
//! it at its file's end.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use crate::probe;

/// The `fluent-bit` binary `FLUENT_BIT` names, if any.
pub fn binary() -> Option<String> {
    std::env::var("FLUENT_BIT").ok().filter(|b| !b.is_empty())
}

/// Fluent Bit's own `docker` parser (conf/parsers.conf).
const PARSERS: &str = "[PARSER]
    Name        docker
    Format      json
    Time_Key    time
    Time_Format %Y-%m-%dT%H:%M:%S.%L
    Time_Keep   On
";

fn config(log_path: &str, parsers: &Path) -> String {
    format!(
        "[SERVICE]
    Flush        0.2
    Grace        1
    Log_Level    error
    Parsers_File {}

[INPUT]
    Name              tail
    Path              {log_path}
    Parser            docker
    Read_from_Head    On
    Buffer_Chunk_Size 256k
    Buffer_Max_Size   256k

[OUTPUT]
    Name  counter
    Match *
",
        parsers.display()
    )
}

/// What the fluent-bits did: records counted, the seconds from their start
/// to the last count printed, and their CPU and peak memory.
pub struct Tailed {
    pub records: usize,
    pub seconds: f64,
    pub cpu_seconds: f64,
    pub max_rss_kib: u64,
}

/// Runs one fluent-bit per log file, at once, in `dir`, until each counted
/// `lines` records (or `timeout` passed).
pub fn tail(binary: &str, log_paths: &[String], lines: usize, dir: &Path, timeout: Duration) -> Result<Tailed, String> {
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let parsers = dir.join("parsers.conf");
    std::fs::write(&parsers, PARSERS).map_err(|e| e.to_string())?;
    let started = crate::unix_seconds();
    let mut runs = Vec::new();
    for (i, path) in log_paths.iter().enumerate() {
        let conf = dir.join(format!("tail-{i}.conf"));
        std::fs::write(&conf, config(path, &parsers)).map_err(|e| e.to_string())?;
        // Line-buffered: its counts arrive as it prints them, not at exit.
        let mut child = Command::new("stdbuf")
            .args(["-oL", binary, "-q"])
            .arg("-c")
            .arg(&conf)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start {binary}: {e}"))?;
        let out = child.stdout.take().expect("piped");
        let counter = std::thread::spawn(move || count_until(out, lines));
        runs.push((child, counter));
    }
    // A fluent-bit that stops printing counts is stopped at the deadline
    // (its counter then sees its output end).
    let deadline = Instant::now() + timeout;
    while runs.iter().any(|(_, counter)| !counter.is_finished()) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(50));
    }
    let mut tailed = Tailed { records: 0, seconds: 0.0, cpu_seconds: 0.0, max_rss_kib: 0 };
    for (mut child, counter) in runs {
        let _ = child.kill();
        let (records, last_ts) = counter.join().unwrap_or((0, started));
        let (_, (cpu, rss)) = probe::wait_with_usage(child.id());
        tailed.records += records;
        tailed.seconds = tailed.seconds.max(last_ts - started);
        tailed.cpu_seconds += cpu;
        tailed.max_rss_kib = tailed.max_rss_kib.max(rss);
    }
    Ok(tailed)
}

/// Sums the counter's lines until `lines` records or the output's end:
/// (records, the stamp of the last count).
fn count_until(out: ChildStdout, lines: usize) -> (usize, f64) {
    let (mut records, mut last) = (0, 0.0);
    for line in BufReader::new(out).lines() {
        let Ok(line) = line else { break };
        if let Some((ts, n)) = count_line(&line) {
            records += n;
            last = ts;
        }
        if records >= lines {
            break;
        }
    }
    (records, last)
}

/// `{"ts":…,"serialized_events":…,"log_records":N,…}` → (ts, N).
fn count_line(line: &str) -> Option<(f64, usize)> {
    let v: serde_json::Value = serde_json::from_str(line).ok()?;
    Some((v["ts"].as_f64()?, v["log_records"].as_u64()? as usize))
}
