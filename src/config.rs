//! The capture configuration: one JSON document, the same keys as the Fluent
//! Bit properties. Every field's doc comment is its user documentation.
//!
//! Unknown keys and bad values are errors whose message names the key.

use std::path::PathBuf;
use std::time::Duration;

use serde::de::{self, Deserializer};
use serde::Deserialize;

/// Where the first read of a container found at start-up begins.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SincePolicy {
    /// Only lines written after the capture started (Vector's behaviour).
    Now,
    /// The container's whole log.
    All,
    /// Lines stamped at or after this Unix time, in nanoseconds.
    Time(i64),
}

/// Which streams to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Streams {
    pub stdout: bool,
    pub stderr: bool,
}

/// A label filter: `key` alone matches any value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelFilter {
    pub key: String,
    pub value: Option<String>,
}

/// The library's own log verbosity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum LogLevel {
    Off = 0,
    Error = 1,
    Warn = 2,
    Info = 3,
    Debug = 4,
}

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub docker_host: DockerHost,
    pub rotation_interval: Duration,
    pub rotation_jitter: f64,
    pub read_timeout: Duration,
    pub request_timeout: Duration,
    pub include_containers: Vec<String>,
    pub exclude_containers: Vec<String>,
    pub include_labels: Vec<LabelFilter>,
    pub exclude_labels: Vec<LabelFilter>,
    pub include_images: Vec<String>,
    pub exclude_images: Vec<String>,
    pub streams: Streams,
    pub auto_partial_merge: bool,
    pub max_line_bytes: usize,
    pub queue_max_records: usize,
    pub queue_max_bytes: usize,
    pub since: SincePolicy,
    pub include_stopped: bool,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    pub reopen_tail: u64,
    pub log_level: LogLevel,
    pub metrics_per_container: bool,
    pub metrics_addr: Option<std::net::SocketAddr>,
    pub checkpoint_path: Option<PathBuf>,
    pub checkpoint_interval: Duration,
    pub checkpoint_on_corrupt: crate::engine::checkpoint::OnCorrupt,
}

/// How to reach the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    Unix(PathBuf),
    Tcp(String),
}

/// The JSON document as written by the user.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    /// The daemon's address: `unix:///var/run/docker.sock` or
    /// `tcp://127.0.0.1:2375`. Default: `DOCKER_HOST`, else the local socket.
    #[serde(default)]
    docker_host: Option<String>,
    /// How often a healthy stream is closed and reopened (e.g. `"5m"`,
    /// `"30s"`, or a number of seconds). Each container's interval is jittered
    /// by ±`rotation_jitter` so reopenings do not come all at once.
    #[serde(default, deserialize_with = "duration_opt")]
    rotation_interval: Option<Duration>,
    /// The fraction (0 to 0.5) by which the rotation interval is jittered.
    #[serde(default, deserialize_with = "number_opt")]
    rotation_jitter: Option<f64>,
    /// A stream that delivers nothing for this long is closed (its socket
    /// freed) and reopened. Default 30 s.
    #[serde(default, deserialize_with = "duration_opt")]
    read_timeout: Option<Duration>,
    /// The deadline for one request to the daemon's control endpoints
    /// (ping, list, inspect) and for response headers. Default 10 s.
    #[serde(default, deserialize_with = "duration_opt")]
    request_timeout: Option<Duration>,
    /// Containers whose name or id starts with one of these are read
    /// (default: all).
    #[serde(default, deserialize_with = "string_list")]
    include_containers: Vec<String>,
    /// Containers whose name or id starts with one of these are not read.
    /// Exclusion wins over inclusion.
    #[serde(default, deserialize_with = "string_list")]
    exclude_containers: Vec<String>,
    /// `key=value` or `key`: a container must carry every one of these labels.
    #[serde(default, deserialize_with = "string_list")]
    include_labels: Vec<String>,
    /// `key=value` or `key`: a container carrying any of these is not read.
    #[serde(default, deserialize_with = "string_list")]
    exclude_labels: Vec<String>,
    /// Containers whose image name starts with one of these are read
    /// (default: all).
    #[serde(default, deserialize_with = "string_list")]
    include_images: Vec<String>,
    /// Containers whose image name starts with one of these are not read.
    #[serde(default, deserialize_with = "string_list")]
    exclude_images: Vec<String>,
    /// Which streams to read: any of `stdout`, `stderr`. Default both.
    #[serde(default, deserialize_with = "string_list_opt")]
    streams: Option<Vec<String>>,
    /// Merge the 16 KiB pieces Docker splits long lines into. Default on.
    #[serde(default, deserialize_with = "bool_opt")]
    auto_partial_merge: Option<bool>,
    /// The longest message delivered; longer lines are cut here and flagged
    /// truncated. Default 1 MiB. Accepts `"256KiB"`-style sizes.
    #[serde(default, deserialize_with = "size_opt")]
    max_line_bytes: Option<u64>,
    /// How many records may wait for the host. When full, readers stop
    /// reading (the daemon keeps the log on disk). Default 65536.
    #[serde(default, deserialize_with = "size_opt")]
    queue_max_records: Option<u64>,
    /// How many message bytes may wait for the host. Default 64 MiB.
    #[serde(default, deserialize_with = "size_opt")]
    queue_max_bytes: Option<u64>,
    /// Where reading starts for containers already running at start-up:
    /// `now` (default), `all`, or a time (RFC 3339, or Unix seconds).
    /// Containers that start later are always read from their first line.
    #[serde(default, deserialize_with = "string_or_number_opt")]
    since: Option<String>,
    /// Also read containers already stopped when the capture starts (from
    /// the `since` position): a one-shot read of a host's logs. Default off.
    #[serde(default, deserialize_with = "bool_opt")]
    include_stopped: Option<bool>,
    /// The first wait before retrying after the daemon failed; it doubles
    /// up to `retry_backoff_max_secs`. Default 2 s.
    #[serde(default, deserialize_with = "seconds_opt")]
    retry_backoff_secs: Option<f64>,
    /// The longest wait between retries. Default 30 s.
    #[serde(default, deserialize_with = "seconds_opt")]
    retry_backoff_max_secs: Option<f64>,
    /// How many entries a reopen asks for at first (`tail`); it widens by
    /// itself when more were written since the last delivered line. Default 256.
    #[serde(default, deserialize_with = "size_opt")]
    reopen_tail: Option<u64>,
    /// A file keeping each container's position (per-stream watermarks),
    /// advanced only past records the host has received and freed, so a
    /// capture started again resumes exactly there. Default: none.
    #[serde(default)]
    checkpoint_path: Option<String>,
    /// How often the position file is written when it changed. Default 1 s.
    #[serde(default, deserialize_with = "duration_opt")]
    checkpoint_interval: Option<Duration>,
    /// What a position file that cannot be read does: `fail` (default: the
    /// start fails, naming the file and the problem) or `reset` (it is moved
    /// aside to `<path>.corrupt`, logged, and reading starts afresh).
    #[serde(default)]
    checkpoint_on_corrupt: Option<String>,
    /// Export per-container metric series (labels `container_id`,
    /// `container_name`). Turn off on hosts with thousands of containers:
    /// the aggregate series remain. Default on.
    #[serde(default, deserialize_with = "bool_opt")]
    metrics_per_container: Option<bool>,
    /// Serve Prometheus metrics at `http://<addr>/metrics`, e.g.
    /// `"127.0.0.1:9323"`. Default off (the host can read them with
    /// `capture_metrics_text`).
    #[serde(default)]
    metrics_addr: Option<String>,
    /// The library's own log level: `off`, `error`, `warn` (default), `info`,
    /// `debug`.
    #[serde(default)]
    log_level: Option<String>,
}

/// A configuration error: the key and what was wrong with it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError(pub String);

impl std::fmt::Display for ConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ConfigError {}

const fn default_rotation_interval() -> Duration {
    Duration::from_secs(300)
}
const fn default_read_timeout() -> Duration {
    Duration::from_secs(30)
}
const fn default_request_timeout() -> Duration {
    Duration::from_secs(10)
}
const fn default_max_line_bytes() -> u64 {
    1 << 20
}
const fn default_queue_max_records() -> u64 {
    65_536
}
const fn default_queue_max_bytes() -> u64 {
    64 << 20
}
const fn default_reopen_tail() -> u64 {
    256
}

/// Every key of the configuration document, in the order of its fields.
/// A Fluent Bit input takes each one as a property of the same name.
pub const KEYS: &[&str] = &[
    "docker_host",
    "rotation_interval",
    "rotation_jitter",
    "read_timeout",
    "request_timeout",
    "include_containers",
    "exclude_containers",
    "include_labels",
    "exclude_labels",
    "include_images",
    "exclude_images",
    "streams",
    "auto_partial_merge",
    "max_line_bytes",
    "queue_max_records",
    "queue_max_bytes",
    "since",
    "retry_backoff_secs",
    "retry_backoff_max_secs",
    "reopen_tail",
    "log_level",
    "include_stopped",
    "metrics_per_container",
    "metrics_addr",
    "checkpoint_path",
    "checkpoint_interval",
    "checkpoint_on_corrupt",
];

impl Config {
    /// Parses and validates a JSON document. An empty document (`{}`) gives
    /// every default.
    pub fn from_json(text: &str) -> Result<Config, ConfigError> {
        if !text.trim_start().starts_with('{') {
            return Err(ConfigError(
                "invalid config: the configuration must be a JSON object (e.g. {\"since\": \"all\"})".into(),
            ));
        }
        let de = &mut serde_json::Deserializer::from_str(text);
        let raw: RawConfig = serde_path_to_error::deserialize(de).map_err(|e| ConfigError(path_error(&e)))?;
        Config::from_raw(raw)
    }

    /// Builds the configuration from `(key, value)` pairs whose values are
    /// all text, as Fluent Bit properties are: lists comma-separated,
    /// durations like `"5m"`, sizes like `"1MiB"`. Validation and error
    /// messages are those of `from_json`; an unknown key is an error that
    /// names it.
    pub fn from_properties<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Config, ConfigError> {
        let mut doc = serde_json::Map::new();
        for (key, value) in pairs {
            let value = serde_json::Value::String(value.to_string());
            doc.insert(key.to_string(), value);
        }
        // serde_json's "at line 1 column 47" means nothing to a property.
        Config::from_json(&serde_json::Value::Object(doc).to_string()).map_err(|e| match e.0.find(" at line ") {
            Some(at) => ConfigError(e.0[..at].to_string()),
            None => e,
        })
    }

    fn from_raw(raw: RawConfig) -> Result<Config, ConfigError> {
        let docker_host = parse_docker_host(raw.docker_host.or_else(|| std::env::var("DOCKER_HOST").ok()))?;
        let rotation_interval = raw.rotation_interval.unwrap_or(default_rotation_interval());
        positive("rotation_interval", rotation_interval)?;
        let rotation_jitter = raw.rotation_jitter.unwrap_or(0.1);
        if !(0.0..=0.5).contains(&rotation_jitter) {
            return Err(ConfigError(format!("rotation_jitter: {rotation_jitter} is out of range (0 to 0.5)")));
        }
        let read_timeout = raw.read_timeout.unwrap_or(default_read_timeout());
        positive("read_timeout", read_timeout)?;
        let request_timeout = raw.request_timeout.unwrap_or(default_request_timeout());
        positive("request_timeout", request_timeout)?;

        let streams = match raw.streams {
            None => Streams { stdout: true, stderr: true },
            Some(list) => {
                let mut streams = Streams { stdout: false, stderr: false };
                for name in list {
                    match name.as_str() {
                        "stdout" => streams.stdout = true,
                        "stderr" => streams.stderr = true,
                        other => {
                            return Err(ConfigError(format!(
                                "streams: unknown stream {other:?} (expected stdout or stderr)"
                            )))
                        }
                    }
                }
                if !streams.stdout && !streams.stderr {
                    return Err(ConfigError("streams: at least one of stdout, stderr is needed".into()));
                }
                streams
            }
        };

        let max_line_bytes = raw.max_line_bytes.unwrap_or(default_max_line_bytes());
        if max_line_bytes < 1024 {
            return Err(ConfigError(format!("max_line_bytes: {max_line_bytes} is below the minimum of 1024")));
        }
        let queue_max_records = raw.queue_max_records.unwrap_or(default_queue_max_records());
        if queue_max_records == 0 {
            return Err(ConfigError("queue_max_records: must be at least 1".into()));
        }
        let queue_max_bytes = raw.queue_max_bytes.unwrap_or(default_queue_max_bytes());
        if queue_max_bytes < max_line_bytes {
            return Err(ConfigError(format!(
                "queue_max_bytes: {queue_max_bytes} is smaller than max_line_bytes ({max_line_bytes}); one line must fit"
            )));
        }
        let reopen_tail = raw.reopen_tail.unwrap_or(default_reopen_tail());
        if reopen_tail == 0 {
            return Err(ConfigError("reopen_tail: must be at least 1".into()));
        }

        let since = match raw.since.as_deref() {
            None | Some("now") => SincePolicy::Now,
            Some("all") | Some("beginning") => SincePolicy::All,
            Some(text) => SincePolicy::Time(parse_time(text).ok_or_else(|| {
                ConfigError(format!("since: {text:?} is not `now`, `all`, an RFC 3339 time or Unix seconds"))
            })?),
        };

        let retry_backoff = Duration::from_secs_f64(raw.retry_backoff_secs.unwrap_or(2.0));
        let retry_backoff_max = Duration::from_secs_f64(raw.retry_backoff_max_secs.unwrap_or(30.0));
        if retry_backoff.is_zero() {
            return Err(ConfigError("retry_backoff_secs: must be greater than zero".into()));
        }
        if retry_backoff_max < retry_backoff {
            return Err(ConfigError("retry_backoff_max_secs: must not be smaller than retry_backoff_secs".into()));
        }

        let log_level = match raw.log_level.as_deref().unwrap_or("warn") {
            "off" => LogLevel::Off,
            "error" => LogLevel::Error,
            "warn" | "warning" => LogLevel::Warn,
            "info" => LogLevel::Info,
            "debug" => LogLevel::Debug,
            other => {
                return Err(ConfigError(format!(
                    "log_level: unknown level {other:?} (expected off, error, warn, info or debug)"
                )))
            }
        };

        let include_labels = parse_labels("include_labels", raw.include_labels)?;
        let exclude_labels = parse_labels("exclude_labels", raw.exclude_labels)?;
        for (key, list) in [
            ("include_containers", &raw.include_containers),
            ("exclude_containers", &raw.exclude_containers),
            ("include_images", &raw.include_images),
            ("exclude_images", &raw.exclude_images),
        ] {
            if list.iter().any(|s| s.is_empty()) {
                return Err(ConfigError(format!("{key}: an empty entry would match every container")));
            }
        }

        let metrics_addr = match raw.metrics_addr.as_deref() {
            None | Some("") => None,
            Some(text) => Some(text.parse::<std::net::SocketAddr>().map_err(|_| {
                ConfigError(format!("metrics_addr: {text:?} is not an address with a port (e.g. \"127.0.0.1:9323\")"))
            })?),
        };

        let checkpoint_path = match raw.checkpoint_path.as_deref() {
            None => None,
            Some("") => return Err(ConfigError("checkpoint_path: must not be empty".into())),
            Some(p) => Some(PathBuf::from(p)),
        };
        let checkpoint_interval = raw.checkpoint_interval.unwrap_or(Duration::from_secs(1));
        positive("checkpoint_interval", checkpoint_interval)?;
        let checkpoint_on_corrupt = match raw.checkpoint_on_corrupt.as_deref().unwrap_or("fail") {
            "fail" => crate::engine::checkpoint::OnCorrupt::Fail,
            "reset" => crate::engine::checkpoint::OnCorrupt::Reset,
            other => return Err(ConfigError(format!("checkpoint_on_corrupt: {other:?} is not `fail` or `reset`"))),
        };

        Ok(Config {
            docker_host,
            rotation_interval,
            rotation_jitter,
            read_timeout,
            request_timeout,
            include_containers: raw.include_containers,
            exclude_containers: raw.exclude_containers,
            include_labels,
            exclude_labels,
            include_images: raw.include_images,
            exclude_images: raw.exclude_images,
            streams,
            auto_partial_merge: raw.auto_partial_merge.unwrap_or(true),
            max_line_bytes: max_line_bytes as usize,
            queue_max_records: queue_max_records as usize,
            queue_max_bytes: queue_max_bytes as usize,
            since,
            include_stopped: raw.include_stopped.unwrap_or(false),
            retry_backoff,
            retry_backoff_max,
            reopen_tail,
            log_level,
            metrics_per_container: raw.metrics_per_container.unwrap_or(true),
            metrics_addr,
            checkpoint_path,
            checkpoint_interval,
            checkpoint_on_corrupt,
        })
    }

    /// The `since` position, in Unix nanoseconds, for a container found
    /// running when the capture started at `started_ns`.
    pub fn initial_since_ns(&self, started_ns: i64) -> i64 {
        match self.since {
            SincePolicy::Now => started_ns,
            SincePolicy::All => 0,
            SincePolicy::Time(ns) => ns,
        }
    }
}

fn path_error(e: &serde_path_to_error::Error<serde_json::Error>) -> String {
    // The path names the key ("read_timeout: duration \"-5s\" is negative");
    // an unknown key is named by serde itself.
    let path = e.path().to_string();
    if path.is_empty() || path == "." {
        format!("invalid config: {}", e.inner())
    } else {
        format!("{path}: {}", e.inner())
    }
}

fn positive(key: &str, d: Duration) -> Result<(), ConfigError> {
    if d.is_zero() {
        Err(ConfigError(format!("{key}: must be greater than zero")))
    } else {
        Ok(())
    }
}

fn parse_docker_host(value: Option<String>) -> Result<DockerHost, ConfigError> {
    let value = match value {
        None => return Ok(DockerHost::Unix(PathBuf::from("/var/run/docker.sock"))),
        Some(v) if v.is_empty() => return Ok(DockerHost::Unix(PathBuf::from("/var/run/docker.sock"))),
        Some(v) => v,
    };
    if let Some(path) = value.strip_prefix("unix://") {
        if path.is_empty() {
            return Err(ConfigError("docker_host: unix:// needs a socket path".into()));
        }
        return Ok(DockerHost::Unix(PathBuf::from(path)));
    }
    if value.starts_with('/') {
        return Ok(DockerHost::Unix(PathBuf::from(value)));
    }
    for scheme in ["tcp://", "http://"] {
        if let Some(addr) = value.strip_prefix(scheme) {
            let addr = addr.trim_end_matches('/');
            if !addr.contains(':') {
                return Err(ConfigError(format!("docker_host: {value:?} needs a port (e.g. tcp://127.0.0.1:2375)")));
            }
            return Ok(DockerHost::Tcp(addr.to_string()));
        }
    }
    Err(ConfigError(format!(
        "docker_host: {value:?} is not supported (use unix:///path/to/docker.sock or tcp://host:port; TLS and ssh are not supported)"
    )))
}

fn parse_labels(key: &str, list: Vec<String>) -> Result<Vec<LabelFilter>, ConfigError> {
    list.into_iter()
        .map(|entry| match entry.split_once('=') {
            Some((k, _)) if k.is_empty() => Err(ConfigError(format!("{key}: {entry:?} has an empty label key"))),
            Some((k, v)) => Ok(LabelFilter { key: k.to_string(), value: Some(v.to_string()) }),
            None if entry.is_empty() => Err(ConfigError(format!("{key}: an empty label filter"))),
            None => Ok(LabelFilter { key: entry, value: None }),
        })
        .collect()
}

/// Parses `"5m"`, `"30s"`, `"250ms"`, `"1h"`, `"1.5s"`, a bare number of
/// seconds, or a JSON number of seconds.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() {
        return None;
    }
    let value: f64 = number.parse().ok()?;
    let scale = match unit.trim() {
        "" | "s" | "sec" | "secs" => 1.0,
        "ms" => 1e-3,
        "us" | "µs" => 1e-6,
        "ns" => 1e-9,
        "m" | "min" => 60.0,
        "h" => 3600.0,
        _ => return None,
    };
    let secs = value * scale;
    if !secs.is_finite() || secs < 0.0 || secs > 1e9 {
        return None;
    }
    Some(Duration::from_secs_f64(secs))
}

/// Parses `"64MiB"`, `"256k"`, `"1M"`, `"1000"` or a JSON number.
pub fn parse_size(text: &str) -> Option<u64> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let value: u64 = number.parse().ok()?;
    let scale: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kb" | "kib" => 1 << 10,
        "m" | "mb" | "mib" => 1 << 20,
        "g" | "gb" | "gib" => 1 << 30,
        _ => return None,
    };
    value.checked_mul(scale)
}

/// Parses an RFC 3339 time or Unix seconds (with a fraction) into Unix ns.
pub fn parse_time(text: &str) -> Option<i64> {
    if let Ok(secs) = text.parse::<f64>() {
        if secs.is_finite() && secs >= 0.0 {
            return Some((secs * 1e9) as i64);
        }
        return None;
    }
    crate::timestamp::parse_rfc3339(text.as_bytes())
}

// ---- serde helpers: each error names what was expected; serde adds the key.

#[derive(Deserialize)]
#[serde(untagged)]
enum StringOrNumber {
    String(String),
    Number(serde_json::Number),
}

fn duration_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    match Option::<StringOrNumber>::deserialize(d)? {
        None => Ok(None),
        Some(StringOrNumber::Number(n)) => {
            let secs = n.as_f64().unwrap_or(-1.0);
            if secs < 0.0 {
                return Err(de::Error::custom(format!("duration {n} is negative")));
            }
            Ok(Some(Duration::from_secs_f64(secs)))
        }
        Some(StringOrNumber::String(s)) => {
            if s.trim_start().starts_with('-') {
                return Err(de::Error::custom(format!("duration {s:?} is negative")));
            }
            parse_duration(&s)
                .map(Some)
                .ok_or_else(|| de::Error::custom(format!("{s:?} is not a duration (e.g. \"30s\", \"5m\", \"250ms\")")))
        }
    }
}

fn number_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    match Option::<StringOrNumber>::deserialize(d)? {
        None => Ok(None),
        Some(StringOrNumber::Number(n)) => Ok(n.as_f64()),
        Some(StringOrNumber::String(s)) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("{s:?} is not a number"))),
    }
}

fn seconds_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<f64>, D::Error> {
    Ok(duration_opt(d)?.map(|d| d.as_secs_f64()))
}

fn size_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    match Option::<StringOrNumber>::deserialize(d)? {
        None => Ok(None),
        Some(StringOrNumber::Number(n)) => {
            n.as_u64().map(Some).ok_or_else(|| de::Error::custom(format!("{n} is not a non-negative whole number")))
        }
        Some(StringOrNumber::String(s)) => parse_size(&s)
            .map(Some)
            .ok_or_else(|| de::Error::custom(format!("{s:?} is not a size (e.g. 65536, \"64KiB\", \"1MiB\")"))),
    }
}

fn bool_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum BoolOrString {
        Bool(bool),
        String(String),
    }
    match Option::<BoolOrString>::deserialize(d)? {
        None => Ok(None),
        Some(BoolOrString::Bool(b)) => Ok(Some(b)),
        Some(BoolOrString::String(s)) => match s.to_ascii_lowercase().as_str() {
            "true" | "on" | "yes" | "1" => Ok(Some(true)),
            "false" | "off" | "no" | "0" => Ok(Some(false)),
            _ => Err(de::Error::custom(format!("{s:?} is not a boolean (true/false, on/off)"))),
        },
    }
}

fn string_or_number_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(Option::<StringOrNumber>::deserialize(d)?.map(|v| match v {
        StringOrNumber::String(s) => s,
        StringOrNumber::Number(n) => n.to_string(),
    }))
}

/// A list given as a JSON array of strings, or as one comma-separated string
/// (the form Fluent Bit properties take).
fn string_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    Ok(string_list_opt(d)?.unwrap_or_default())
}

fn string_list_opt<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Vec<String>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum ListOrString {
        List(Vec<String>),
        String(String),
    }
    match Option::<ListOrString>::deserialize(d) {
        Err(_) => Err(de::Error::custom("expected a list of strings or a comma-separated string")),
        Ok(None) => Ok(None),
        Ok(Some(ListOrString::List(v))) => Ok(Some(v)),
        Ok(Some(ListOrString::String(s))) => {
            Ok(Some(s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect()))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_document_gives_defaults() {
        let c = Config::from_json("{}").unwrap();
        assert_eq!(c.rotation_interval, Duration::from_secs(300));
        assert_eq!(c.read_timeout, Duration::from_secs(30));
        assert!(c.auto_partial_merge);
        assert_eq!(c.max_line_bytes, 1 << 20);
        assert_eq!(c.streams, Streams { stdout: true, stderr: true });
        assert_eq!(c.since, SincePolicy::Now);
    }

    #[test]
    fn only_objects_are_configs() {
        for doc in ["[\"unix:///x.sock\", 1]", "[]", "\"x\"", "7", "null", ""] {
            let e = Config::from_json(doc).unwrap_err();
            assert!(e.0.contains("JSON object"), "{doc}: {e}");
        }
    }

    #[test]
    fn unknown_key_is_named() {
        let e = Config::from_json(r#"{"rotation_intreval": "5m"}"#).unwrap_err();
        assert!(e.0.contains("rotation_intreval"), "{e}");
    }

    #[test]
    fn wrong_type_is_named() {
        let e = Config::from_json(r#"{"auto_partial_merge": [1]}"#).unwrap_err();
        assert!(e.0.contains("auto_partial_merge") || e.0.contains("boolean"), "{e}");
        let e = Config::from_json(r#"{"max_line_bytes": "lots"}"#).unwrap_err();
        assert!(e.0.contains("lots"), "{e}");
    }

    #[test]
    fn negative_duration_is_refused() {
        let e = Config::from_json(r#"{"read_timeout": "-5s"}"#).unwrap_err();
        assert!(e.0.contains("negative"), "{e}");
        let e = Config::from_json(r#"{"rotation_interval": -1}"#).unwrap_err();
        assert!(e.0.contains("negative"), "{e}");
        let e = Config::from_json(r#"{"rotation_interval": "0s"}"#).unwrap_err();
        assert!(e.0.contains("rotation_interval"), "{e}");
    }

    #[test]
    fn durations_and_sizes_parse() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("5m"), Some(Duration::from_secs(300)));
        assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("5 parsecs"), None);
        assert_eq!(parse_size("64KiB"), Some(65536));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("-1"), None);
    }

    #[test]
    fn lists_accept_comma_separated_strings() {
        let c = Config::from_json(r#"{"include_containers": "web, api", "streams": "stderr"}"#).unwrap();
        assert_eq!(c.include_containers, vec!["web", "api"]);
        assert_eq!(c.streams, Streams { stdout: false, stderr: true });
    }

    #[test]
    fn bad_values_name_their_key() {
        for (doc, key) in [
            (r#"{"streams": ["stdin"]}"#, "streams"),
            (r#"{"docker_host": "ssh://x"}"#, "docker_host"),
            (r#"{"since": "yesterday"}"#, "since"),
            (r#"{"log_level": "loud"}"#, "log_level"),
            (r#"{"include_labels": ["=x"]}"#, "include_labels"),
            (r#"{"max_line_bytes": 10}"#, "max_line_bytes"),
            (r#"{"queue_max_bytes": 2048, "max_line_bytes": 4096}"#, "queue_max_bytes"),
        ] {
            let e = Config::from_json(doc).unwrap_err();
            assert!(e.0.contains(key), "{doc}: {e}");
        }
    }

    #[test]
    fn keys_are_exactly_the_documents_fields() {
        // Every listed key is accepted...
        let all_null: serde_json::Map<String, serde_json::Value> =
            KEYS.iter().map(|k| (k.to_string(), serde_json::Value::Null)).collect();
        Config::from_json(&serde_json::Value::Object(all_null).to_string()).unwrap();
        // ...and serde's list of expected fields names no other.
        let e = Config::from_json(r#"{"no_such_key": 1}"#).unwrap_err();
        let mut expected: Vec<&str> = e.0.split('`').skip(3).step_by(2).collect();
        let mut keys = KEYS.to_vec();
        expected.sort_unstable();
        keys.sort_unstable();
        assert_eq!(expected, keys, "{e}");
    }

    #[test]
    fn every_key_takes_its_value_as_text() {
        let c = Config::from_properties([
            ("docker_host", "unix:///run/docker.sock"),
            ("rotation_interval", "90s"),
            ("rotation_jitter", "0.2"),
            ("read_timeout", "10s"),
            ("request_timeout", "3s"),
            ("include_containers", "web,api"),
            ("exclude_containers", "web-debug"),
            ("include_labels", "team=blue"),
            ("exclude_labels", "skip"),
            ("include_images", "nginx"),
            ("exclude_images", "busybox"),
            ("streams", "stdout"),
            ("auto_partial_merge", "off"),
            ("max_line_bytes", "64KiB"),
            ("queue_max_records", "1000"),
            ("queue_max_bytes", "1MiB"),
            ("since", "1704164645"),
            ("retry_backoff_secs", "1"),
            ("retry_backoff_max_secs", "10"),
            ("reopen_tail", "100"),
            ("log_level", "debug"),
        ])
        .unwrap();
        assert_eq!(c.rotation_interval, Duration::from_secs(90));
        assert_eq!(c.rotation_jitter, 0.2);
        assert_eq!(c.include_containers, vec!["web", "api"]);
        assert!(!c.auto_partial_merge);
        assert_eq!(c.max_line_bytes, 64 << 10);
        assert_eq!(c.log_level, LogLevel::Debug);
        let e = Config::from_properties([("rotation_jitter", "lots")]).unwrap_err();
        assert!(e.0.contains("rotation_jitter"), "{e}");
        let e = Config::from_properties([("rotation_intreval", "5m")]).unwrap_err();
        assert!(e.0.contains("rotation_intreval"), "{e}");
    }

    #[test]
    fn since_accepts_times() {
        let c = Config::from_json(r#"{"since": "2024-01-02T03:04:05.5Z"}"#).unwrap();
        assert_eq!(c.since, SincePolicy::Time(1_704_164_645_500_000_000));
        let c = Config::from_json(r#"{"since": 1704164645}"#).unwrap();
        assert_eq!(c.since, SincePolicy::Time(1_704_164_645_000_000_000));
    }
}
