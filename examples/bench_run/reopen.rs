//! The cost of reopening a stream, asked exactly as the reader asks it:
//! `LogsQuery::path` with `since = last timestamp − RESUME_MARGIN_NS` and
//! the bounded `tail` (the reader's `reopen_tail`, 256), against the naive
//! `since=`-only request (`tail=all`), which makes the daemon decode the
//! log file from its start.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use log_capturer::docker::DockerHost;
use log_capturer::docker::{BodyRead, Endpoint, LogsQuery};
use log_capturer::frame::{decode_multiplexed, Decoded};
use log_capturer::position::RESUME_MARGIN_NS;

use crate::probe;

/// The reader's first `tail` on a reopen (the `reopen_tail` default).
pub const READER_TAIL: u64 = 256;

/// A reopen request and what it cost.
#[derive(Debug, Clone)]
pub struct Cost {
    /// Median wall time from the request to the last line of the window.
    pub seconds: f64,
    /// dockerd CPU per request (median over blocks of requests).
    pub dockerd_cpu_seconds: f64,
    /// Lines the daemon returned per request.
    pub lines: u64,
}

impl Cost {
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "seconds": self.seconds,
            "dockerd_cpu_seconds": self.dockerd_cpu_seconds,
            "lines": self.lines,
        })
    }
}

/// The requests measured on one container.
pub struct Reopen {
    runtime: tokio::runtime::Runtime,
    endpoint: Endpoint,
    id: String,
    /// The timestamp of the container's last line.
    pub last_ts_ns: i64,
}

impl Reopen {
    pub fn new(socket: &str, id: &str) -> Result<Reopen, String> {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().map_err(|e| e.to_string())?;
        let endpoint = Endpoint::new(DockerHost::Unix(socket.into()));
        let mut reopen = Reopen { runtime, endpoint, id: id.to_string(), last_ts_ns: 0 };
        let last = LogsQuery { stdout: true, stderr: true, tail: Some(1), ..LogsQuery::default() };
        let (lines, last_ts) = reopen.request(&last, None)?;
        if lines != 1 {
            return Err(format!("tail=1 returned {lines} lines"));
        }
        reopen.last_ts_ns = last_ts;
        Ok(reopen)
    }

    /// The reader's reopen: a follow stream from a margin before the last
    /// line, with a bounded tail.
    pub fn bounded_query(&self) -> LogsQuery {
        LogsQuery {
            follow: true,
            stdout: true,
            stderr: true,
            since_ns: self.last_ts_ns - RESUME_MARGIN_NS,
            tail: Some(READER_TAIL),
            ..LogsQuery::default()
        }
    }

    /// The naive reopen: `since` alone (`tail=all`), here from the last
    /// line itself, so the one line returned costs nothing and what is left
    /// is the daemon's scan of the file.
    pub fn naive_query(&self) -> LogsQuery {
        LogsQuery { follow: true, stdout: true, stderr: true, since_ns: self.last_ts_ns, ..LogsQuery::default() }
    }

    /// Sends `query`, reads until the entry stamped `until_ts` arrived (a
    /// follow stream never ends by itself) or the body ended, and closes
    /// the connection. Returns (lines read, timestamp of the last one).
    fn request(&self, query: &LogsQuery, until_ts: Option<i64>) -> Result<(u64, i64), String> {
        let path = query.path(&self.id);
        self.runtime.block_on(async {
            let read = async {
                let mut response =
                    self.endpoint.get(&path, Duration::from_secs(30)).await.map_err(|e| e.to_string())?;
                let mut buf = BytesMut::with_capacity(64 * 1024);
                let (mut lines, mut last_ts) = (0u64, 0i64);
                loop {
                    let end = matches!(response.body.read(&mut buf).await.map_err(|e| e.to_string())?, BodyRead::End);
                    while let Some(d) = decode_multiplexed(&mut buf).map_err(|e| e.0)? {
                        if let Decoded::Entry(e) = d {
                            lines += 1;
                            last_ts = e.ts_ns;
                            if Some(e.ts_ns) == until_ts {
                                return Ok((lines, last_ts));
                            }
                        }
                    }
                    if end {
                        return Ok((lines, last_ts));
                    }
                }
            };
            tokio::time::timeout(Duration::from_secs(120), read)
                .await
                .map_err(|_| format!("{path}: no end within 120 s"))?
        })
    }

    /// Sends `query` `blocks` × `per_block` times; dockerd's CPU is read
    /// around each block (its clock ticks are 10 ms: a block must be long).
    pub fn measure(&self, query: &LogsQuery, dockerd: u32, blocks: usize, per_block: usize) -> Result<Cost, String> {
        let mut times = Vec::new();
        let mut cpu_per_request = Vec::new();
        let mut lines = 0;
        for _ in 0..blocks {
            let cpu0 = probe::cpu_seconds(dockerd).ok_or("dockerd is gone")?;
            for _ in 0..per_block {
                let started = Instant::now();
                let (n, last) = self.request(query, Some(self.last_ts_ns))?;
                times.push(started.elapsed().as_secs_f64());
                if last != self.last_ts_ns {
                    return Err(format!("{}: the window did not reach the last line", query.path(&self.id)));
                }
                lines = n;
            }
            let cpu1 = probe::cpu_seconds(dockerd).ok_or("dockerd is gone")?;
            cpu_per_request.push((cpu1 - cpu0) / per_block as f64);
        }
        Ok(Cost { seconds: probe::median(&times), dockerd_cpu_seconds: probe::median(&cpu_per_request), lines })
    }

    pub fn path(&self, query: &LogsQuery) -> String {
        query.path(&self.id)
    }
}
