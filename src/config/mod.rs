//! The capture configuration: one JSON document, the same keys as the Fluent
//! Bit properties. Every field's doc comment in `RawConfig` is its user
//! documentation; `Config::default()` holds every default.
//!
//! Each value is parsed and checked by its own type (`values`); what
//! depends on two keys is checked after. Unknown keys and bad values are
//! errors whose message names the key.

pub mod filter;
pub mod values;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub use filter::{Filters, LabelFilter};
pub use values::{parse_bool, parse_duration, parse_size, LogSource, OnCorrupt, SincePolicy, Streams};
use values::{Address, FilePath, Flag, Host, Jitter, Labels, PathPrefix, Positive, Prefixes, Rate, Size};

use crate::docker::{DockerHost, Hosts};
use crate::log::LogLevel;
use crate::multiline::MultilineConfig;

/// The validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub docker_host: Hosts,
    pub rotation_interval: Duration,
    pub rotation_jitter: f64,
    pub read_timeout: Duration,
    pub request_timeout: Duration,
    pub filters: Filters,
    pub streams: Streams,
    pub auto_partial_merge: bool,
    pub max_line_bytes: usize,
    pub queue_max_records: usize,
    pub queue_max_bytes: usize,
    /// Records a second one container may deliver (None: no limit).
    pub container_max_records_per_second: Option<f64>,
    pub since: SincePolicy,
    pub include_stopped: bool,
    pub retry_backoff: Duration,
    pub retry_backoff_max: Duration,
    pub reopen_tail: u64,
    pub log_level: LogLevel,
    pub metrics_per_container: bool,
    pub metrics_addr: Option<SocketAddr>,
    pub checkpoint_path: Option<PathBuf>,
    pub checkpoint_interval: Duration,
    pub checkpoint_on_corrupt: OnCorrupt,
    pub multiline: Option<MultilineConfig>,
    pub log_source: LogSource,
    pub log_path_prefix: Option<PathBuf>,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            docker_host: Hosts::search(None, None),
            rotation_interval: Duration::from_secs(300),
            rotation_jitter: 0.1,
            read_timeout: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            filters: Filters::default(),
            streams: Streams::default(),
            auto_partial_merge: true,
            max_line_bytes: 1 << 20,
            queue_max_records: 65_536,
            queue_max_bytes: 64 << 20,
            container_max_records_per_second: None,
            since: SincePolicy::Now,
            include_stopped: false,
            retry_backoff: Duration::from_secs(2),
            retry_backoff_max: Duration::from_secs(30),
            reopen_tail: 256,
            log_level: LogLevel::Warn,
            metrics_per_container: true,
            metrics_addr: None,
            checkpoint_path: None,
            checkpoint_interval: Duration::from_secs(1),
            checkpoint_on_corrupt: OnCorrupt::Fail,
            multiline: None,
            log_source: LogSource::Auto,
            log_path_prefix: None,
        }
    }
}

/// The JSON document as written by the user.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
struct RawConfig {
    /// The daemon's address: `unix:///var/run/docker.sock` or
    /// `tcp://127.0.0.1:2375`. Default: `DOCKER_HOST`, else the local socket.
    docker_host: Option<Host>,
    /// How often a healthy stream is closed and reopened (e.g. `"5m"`,
    /// `"30s"`, or a number of seconds). Each container's interval is jittered
    /// by ±`rotation_jitter` so reopenings do not come all at once.
    rotation_interval: Option<Positive>,
    /// The fraction (0 to 0.5) by which the rotation interval is jittered.
    rotation_jitter: Option<Jitter>,
    /// A stream that delivers nothing for this long (its response headers
    /// included) is closed (its socket freed) and reopened. Default 30 s.
    read_timeout: Option<Positive>,
    /// The deadline for one request to the daemon's control endpoints
    /// (ping, list, inspect, events) and for response headers. Default 10 s.
    request_timeout: Option<Positive>,
    /// Containers whose name or id starts with one of these are read
    /// (default: all).
    include_containers: Option<Prefixes>,
    /// Containers whose name or id starts with one of these are not read.
    /// Exclusion wins over inclusion.
    exclude_containers: Option<Prefixes>,
    /// `key=value` or `key`: a container must carry every one of these labels.
    include_labels: Option<Labels>,
    /// `key=value` or `key`: a container carrying any of these is not read.
    exclude_labels: Option<Labels>,
    /// Containers whose image name starts with one of these are read
    /// (default: all).
    include_images: Option<Prefixes>,
    /// Containers whose image name starts with one of these are not read.
    exclude_images: Option<Prefixes>,
    /// Which streams to read: any of `stdout`, `stderr`. Default both.
    streams: Option<Streams>,
    /// Merge the 16 KiB pieces Docker splits long lines into. Default on.
    auto_partial_merge: Option<Flag>,
    /// The longest message delivered; longer lines are cut here and flagged
    /// truncated. Default 1 MiB. Accepts `"256KiB"`-style sizes.
    max_line_bytes: Option<Size<1024>>,
    /// How many records may wait for the host. When full, readers stop
    /// reading (the daemon keeps the log on disk). Containers share it: the
    /// host takes their records in turn, and a container holding more than
    /// its share stops reading while the others go on. Default 65536.
    queue_max_records: Option<Size<1>>,
    /// How many message bytes may wait for the host (shared likewise).
    /// Default 64 MiB.
    queue_max_bytes: Option<Size<1>>,
    /// The most records a second one container may deliver (e.g. `1000`;
    /// fractions allowed). A container writing faster is paused (its reader
    /// stops reading; the daemon keeps the log) and read on at this rate;
    /// pausing is counted per container (stats `paused_seconds`, metric
    /// `log_capturer_container_paused_seconds_total{reason="rate_limit"}`).
    /// A log the daemon rotates and deletes (`json-file` with `max-size`,
    /// `local`) can lose what it deletes while its reader is paused: that
    /// is detected and reported as a gap. Default: no limit.
    container_max_records_per_second: Option<Rate>,
    /// Where reading starts for containers already running at start-up:
    /// `now` (default), `all`, or a time (RFC 3339, or Unix seconds).
    /// Containers that start later are always read from their first line.
    since: Option<SincePolicy>,
    /// Also read containers already stopped when the capture starts (from
    /// the `since` position): a one-shot read of a host's logs. Default off.
    include_stopped: Option<Flag>,
    /// The first wait before retrying after the daemon failed; it doubles
    /// up to `retry_backoff_max_secs`. Default 2 s. (Discovery, one request,
    /// waits at most 5 s between its tries, and wakes every reader waiting
    /// once the daemon answers again.)
    retry_backoff_secs: Option<Positive>,
    /// The longest wait between retries. Default 30 s.
    retry_backoff_max_secs: Option<Positive>,
    /// How many entries a reopen asks for at first (`tail`); it widens by
    /// itself when more were written since the last delivered line. Default 256.
    reopen_tail: Option<Size<1>>,
    /// A file keeping each container's position (per-stream watermarks),
    /// advanced only past records the host has received and freed, so a
    /// capture started again resumes exactly there. Default: none.
    checkpoint_path: Option<FilePath>,
    /// How often the position file is written when it changed. Default 1 s.
    checkpoint_interval: Option<Positive>,
    /// What a position file that cannot be read does: `fail` (default: the
    /// start fails, naming the file and the problem) or `reset` (it is moved
    /// aside to `<path>.corrupt`, logged, and reading starts afresh).
    checkpoint_on_corrupt: Option<OnCorrupt>,
    /// Group the lines of a stack trace into one record, per container and
    /// per stream: `{"parser": "java"}` (or `python`, `go`), or Vector's
    /// `{"start_pattern": …, "condition_pattern": …, "mode": …}` (modes
    /// `continue_through`, `continue_past`, `halt_before`, `halt_with`);
    /// either with `"timeout_ms"` (default 1000), after which an event no
    /// line has ended goes out as it is. A container's label
    /// `log_capturer.multiline` (`java`, `python`, `go` or `off`) overrides
    /// this for that container. Default: off.
    multiline: Option<MultilineConfig>,
    /// Where each container's log is read from: `auto` (default: on
    /// Docker its log file when the driver writes json-file and this
    /// process may read it, else the API; on Podman the API), `api`, or
    /// `file` (a container whose file cannot be read is reported once and
    /// not read).
    log_source: Option<LogSource>,
    /// Where the daemon's files are found when its root is mounted
    /// elsewhere: the log path the daemon reports is read under this
    /// directory (e.g. `"/host"` reads `/host/var/lib/docker/containers/…`).
    /// Default: none (the daemon's paths as they are).
    log_path_prefix: Option<PathPrefix>,
    /// Export per-container metric series (labels `container_id`,
    /// `container_name`). Turn off on hosts with thousands of containers:
    /// the aggregate series remain. Default on.
    metrics_per_container: Option<Flag>,
    /// Serve Prometheus metrics at `http://<addr>/metrics`, e.g.
    /// `"127.0.0.1:9323"`. Default off (the host can read them with
    /// `capture_metrics_text`).
    metrics_addr: Option<Address>,
    /// The library's own log level: `off`, `error`, `warn` (default), `info`,
    /// `debug`.
    log_level: Option<LogLevel>,
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

/// Every key of the configuration document, in the order of its fields.
/// A Fluent Bit input takes each one as a property of the same name, but
/// `multiline`, which it takes as its dotted keys (`multiline.parser`, …).
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
    "container_max_records_per_second",
    "since",
    "include_stopped",
    "retry_backoff_secs",
    "retry_backoff_max_secs",
    "reopen_tail",
    "checkpoint_path",
    "checkpoint_interval",
    "checkpoint_on_corrupt",
    "multiline",
    "log_source",
    "log_path_prefix",
    "metrics_per_container",
    "metrics_addr",
    "log_level",
];

/// The keys as properties (Fluent Bit's, `Config::from_properties`):
/// `KEYS`, with `multiline` as its dotted keys (`multiline.parser`, …).
pub fn property_keys() -> impl Iterator<Item = &'static str> {
    KEYS.iter().copied().filter(|&k| k != "multiline").chain(crate::multiline::config::PROPERTY_KEYS.iter().copied())
}

impl RawConfig {
    /// The document's values over the defaults.
    fn apply(self, c: &mut Config) -> Result<(), ConfigError> {
        c.docker_host = resolve_host(self.docker_host.and_then(|h| h.0))?;
        let set = |to: &mut Duration, v: Option<Positive>| *to = v.map_or(*to, |v| v.0);
        set(&mut c.rotation_interval, self.rotation_interval);
        set(&mut c.read_timeout, self.read_timeout);
        set(&mut c.request_timeout, self.request_timeout);
        set(&mut c.retry_backoff, self.retry_backoff_secs);
        set(&mut c.retry_backoff_max, self.retry_backoff_max_secs);
        set(&mut c.checkpoint_interval, self.checkpoint_interval);
        c.rotation_jitter = self.rotation_jitter.map_or(c.rotation_jitter, |v| v.0);
        let f = &mut c.filters;
        f.include_containers = self.include_containers.unwrap_or_default().0;
        f.exclude_containers = self.exclude_containers.unwrap_or_default().0;
        f.include_labels = self.include_labels.unwrap_or_default().0;
        f.exclude_labels = self.exclude_labels.unwrap_or_default().0;
        f.include_images = self.include_images.unwrap_or_default().0;
        f.exclude_images = self.exclude_images.unwrap_or_default().0;
        c.streams = self.streams.unwrap_or(c.streams);
        c.auto_partial_merge = self.auto_partial_merge.map_or(c.auto_partial_merge, |v| v.0);
        c.max_line_bytes = self.max_line_bytes.map_or(c.max_line_bytes, |v| v.0 as usize);
        c.queue_max_records = self.queue_max_records.map_or(c.queue_max_records, |v| v.0 as usize);
        c.queue_max_bytes = self.queue_max_bytes.map_or(c.queue_max_bytes, |v| v.0 as usize);
        c.container_max_records_per_second = self.container_max_records_per_second.map(|v| v.0);
        c.since = self.since.unwrap_or(c.since);
        c.include_stopped = self.include_stopped.map_or(c.include_stopped, |v| v.0);
        c.reopen_tail = self.reopen_tail.map_or(c.reopen_tail, |v| v.0);
        c.checkpoint_path = self.checkpoint_path.map(|p| p.0);
        c.checkpoint_on_corrupt = self.checkpoint_on_corrupt.unwrap_or(c.checkpoint_on_corrupt);
        c.multiline = self.multiline;
        c.log_source = self.log_source.unwrap_or(c.log_source);
        c.log_path_prefix = self.log_path_prefix.and_then(|p| p.0);
        c.metrics_per_container = self.metrics_per_container.map_or(c.metrics_per_container, |v| v.0);
        c.metrics_addr = self.metrics_addr.and_then(|a| a.0);
        c.log_level = self.log_level.unwrap_or(c.log_level);
        Ok(())
    }
}

/// Where the daemon is: as configured, else searched for (`DOCKER_HOST`
/// first, see `Hosts::search`).
fn resolve_host(configured: Option<DockerHost>) -> Result<Hosts, ConfigError> {
    if let Some(host) = configured {
        return Ok(Hosts::Configured(host));
    }
    let env = match std::env::var("DOCKER_HOST") {
        Ok(text) if !text.is_empty() => Some(
            DockerHost::parse(&text).map_err(|e| ConfigError(format!("docker_host (from DOCKER_HOST): {e}")))?,
        ),
        _ => None,
    };
    let runtime_dir = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    Ok(Hosts::search(env, runtime_dir.as_deref()))
}

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
        let mut config = Config::default();
        raw.apply(&mut config)?;
        config.check()?;
        Ok(config)
    }

    /// Builds the configuration from `(key, value)` pairs whose values are
    /// all text, as Fluent Bit properties are: lists comma-separated,
    /// durations like `"5m"`, sizes like `"1MiB"`. Validation and error
    /// messages are those of `from_json`; an unknown key is an error that
    /// names it. The `multiline` option comes as its dotted keys
    /// (`property_keys`).
    pub fn from_properties<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Result<Config, ConfigError> {
        let mut doc = serde_json::Map::new();
        let mut multiline = Vec::new();
        for (key, value) in pairs {
            if key.starts_with("multiline.") {
                multiline.push((key, value));
                continue;
            }
            let value = serde_json::Value::String(value.to_string());
            doc.insert(key.to_string(), value);
        }
        // serde_json's "at line 1 column 47" means nothing to a property.
        let mut config = Config::from_json(&serde_json::Value::Object(doc).to_string()).map_err(|e| {
            match e.0.find(" at line ") {
                Some(at) => ConfigError(e.0[..at].to_string()),
                None => e,
            }
        })?;
        if let Some(option) = MultilineConfig::from_properties(multiline).map_err(|e| ConfigError(e.0))? {
            config.multiline = Some(option);
        }
        Ok(config)
    }

    /// What no single value can say: the checks across keys.
    fn check(&self) -> Result<(), ConfigError> {
        if self.queue_max_bytes < self.max_line_bytes {
            return Err(ConfigError(format!(
                "queue_max_bytes: {} is smaller than max_line_bytes ({}); one line must fit",
                self.queue_max_bytes, self.max_line_bytes
            )));
        }
        if self.retry_backoff_max < self.retry_backoff {
            return Err(ConfigError("retry_backoff_max_secs: must not be smaller than retry_backoff_secs".into()));
        }
        Ok(())
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
        assert_eq!(c.container_max_records_per_second, None);
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
    fn huge_durations_are_refused_not_a_panic() {
        // Were accepted (1e19) or panicked in Duration::from_secs_f64 (1e20).
        for doc in [r#"{"read_timeout": 1e20}"#, r#"{"read_timeout": 1e19}"#, r#"{"rotation_interval": "400000000s"}"#] {
            let e = Config::from_json(doc).unwrap_err();
            assert!(e.0.contains("maximum") || e.0.contains("duration"), "{doc}: {e}");
        }
        let e = Config::from_properties([("retry_backoff_max_secs", "1e30")]).unwrap_err();
        assert!(e.0.contains("retry_backoff_max_secs"), "{e}");
    }

    #[test]
    fn lists_accept_comma_separated_strings() {
        let c = Config::from_json(r#"{"include_containers": "web, api", "streams": "stderr"}"#).unwrap();
        assert_eq!(c.filters.include_containers, vec!["web", "api"]);
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
            (r#"{"include_containers": ["web", ""]}"#, "include_containers"),
            (r#"{"reopen_tail": 0}"#, "reopen_tail"),
            (r#"{"rotation_jitter": 0.9}"#, "rotation_jitter"),
            (r#"{"retry_backoff_secs": 10, "retry_backoff_max_secs": 5}"#, "retry_backoff_max_secs"),
            (r#"{"checkpoint_on_corrupt": "ignore"}"#, "checkpoint_on_corrupt"),
            (r#"{"metrics_addr": "localhost"}"#, "metrics_addr"),
            (r#"{"log_source": "disk"}"#, "log_source"),
            (r#"{"log_path_prefix": "host"}"#, "log_path_prefix"),
            (r#"{"max_line_bytes": 10}"#, "max_line_bytes"),
            (r#"{"queue_max_bytes": 2048, "max_line_bytes": 4096}"#, "queue_max_bytes"),
            (r#"{"container_max_records_per_second": 0}"#, "container_max_records_per_second"),
            (r#"{"container_max_records_per_second": -5}"#, "container_max_records_per_second"),
            (r#"{"container_max_records_per_second": "fast"}"#, "container_max_records_per_second"),
            (r#"{"container_max_records_per_second": 1e12}"#, "container_max_records_per_second"),
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
            ("container_max_records_per_second", "2.5"),
            ("since", "1704164645"),
            ("retry_backoff_secs", "1"),
            ("retry_backoff_max_secs", "10"),
            ("reopen_tail", "100"),
            ("log_level", "debug"),
            ("log_source", "file"),
            ("log_path_prefix", "/host"),
        ])
        .unwrap();
        assert_eq!(c.rotation_interval, Duration::from_secs(90));
        assert_eq!(c.rotation_jitter, 0.2);
        assert_eq!(c.filters.include_containers, vec!["web", "api"]);
        assert!(!c.auto_partial_merge);
        assert_eq!(c.max_line_bytes, 64 << 10);
        assert_eq!(c.container_max_records_per_second, Some(2.5));
        assert_eq!(c.log_level, LogLevel::Debug);
        assert_eq!(c.log_source, LogSource::File);
        assert_eq!(c.log_path_prefix, Some(PathBuf::from("/host")));
        let e = Config::from_properties([("rotation_jitter", "lots")]).unwrap_err();
        assert!(e.0.contains("rotation_jitter"), "{e}");
        let e = Config::from_properties([("rotation_intreval", "5m")]).unwrap_err();
        assert!(e.0.contains("rotation_intreval"), "{e}");
    }

    #[test]
    fn multiline_is_an_object_or_its_dotted_properties() {
        use crate::multiline::{Parser, Rules};
        assert!(Config::from_json("{}").unwrap().multiline.is_none());
        let c = Config::from_json(r#"{"multiline": {"parser": "python", "timeout_ms": 250}}"#).unwrap();
        let m = c.multiline.unwrap();
        assert!(matches!(m.rules, Rules::Parser(Parser::Python)));
        assert_eq!(m.timeout, Duration::from_millis(250));
        let e = Config::from_json(r#"{"multiline": {"parser": "ruby"}}"#).unwrap_err();
        assert!(e.0.starts_with(r#"multiline.parser: unknown parser "ruby" (expected java, python or go)"#), "{e}");
        let e = Config::from_json(r#"{"multiline": {"parser": "java", "mode": "halt_with"}}"#).unwrap_err();
        assert!(e.0.starts_with("multiline: `parser` cannot be combined with `mode`"), "{e}");
        let e = Config::from_json(r#"{"multiline": "java"}"#).unwrap_err();
        assert!(e.0.starts_with("multiline: invalid type"), "{e}");

        let c = Config::from_properties([("since", "all"), ("multiline.parser", "go"), ("multiline.timeout_ms", "40")])
            .unwrap();
        assert_eq!(c.since, SincePolicy::All);
        assert!(matches!(c.multiline.unwrap().rules, Rules::Parser(Parser::Go)));
        let e = Config::from_properties([("multiline.start_pattern", "(")]).unwrap_err();
        assert!(e.0.starts_with("multiline.start_pattern: invalid regular expression"), "{e}");
        let e = Config::from_properties([("multiline.parsr", "go")]).unwrap_err();
        assert!(e.0.starts_with("multiline.parsr: unknown property"), "{e}");
    }

    #[test]
    fn since_accepts_times() {
        let c = Config::from_json(r#"{"since": "2024-01-02T03:04:05.5Z"}"#).unwrap();
        assert_eq!(c.since, SincePolicy::Time(1_704_164_645_500_000_000));
        let c = Config::from_json(r#"{"since": 1704164645}"#).unwrap();
        assert_eq!(c.since, SincePolicy::Time(1_704_164_645_000_000_000));
    }
}
