//! The Docker Engine API calls the capturer makes. Only read-only endpoints
//! are ever called: `/_ping`, `/version`, `/containers/json`,
//! `/containers/{id}/json`, `/containers/{id}/logs`, `/events`, `/info`.

pub mod host;
pub mod http;
pub mod log_size;
pub mod profile;
pub mod version;

use std::collections::HashMap;
use std::time::Duration;

use serde::Deserialize;

use crate::record::{c_string, ContainerMeta};

pub use host::{DockerHost, Hosts};
pub use profile::Profile;
pub use http::{Body, BodyRead, DockerError, Endpoint, Headers, Request, Response};
pub use version::{DaemonVersion, EngineKind};

/// The largest JSON answer read from a control endpoint.
const MAX_JSON_BYTES: usize = 64 << 20;

/// A client of one daemon: an endpoint plus the control-call deadline.
#[derive(Debug, Clone)]
pub struct Docker {
    pub endpoint: Endpoint,
    pub request_timeout: Duration,
}

/// One entry of `GET /containers/json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerSummary {
    pub id: String,
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub created: i64,
    #[serde(default)]
    pub state: String,
    #[serde(default)]
    pub labels: Option<HashMap<String, String>>,
}

/// What the capturer needs of `GET /containers/{id}/json`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ContainerInspect {
    pub id: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub created: String,
    pub config: InspectConfig,
    pub state: InspectState,
    #[serde(default)]
    pub host_config: Option<InspectHostConfig>,
    /// The log file of a file-based driver (json-file; Podman's k8s-file),
    /// as the daemon sees it; empty for other drivers.
    #[serde(default)]
    pub log_path: String,
}

/// What the capturer needs of `GET /info`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct DaemonInfo {
    /// The daemon's data root (Podman: its storage's graph root): the
    /// only directory log files are read beneath.
    #[serde(default)]
    pub docker_root_dir: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectConfig {
    #[serde(default)]
    pub tty: bool,
    #[serde(default)]
    pub image: String,
    #[serde(default)]
    pub labels: Option<HashMap<String, String>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectState {
    #[serde(default)]
    pub running: bool,
    #[serde(default)]
    pub restarting: bool,
    #[serde(default)]
    pub started_at: String,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct InspectHostConfig {
    #[serde(default)]
    pub log_config: Option<LogConfig>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct LogConfig {
    #[serde(default, rename = "Type")]
    pub kind: String,
    #[serde(default)]
    pub config: Option<std::collections::HashMap<String, String>>,
}

impl LogConfig {
    /// The size at which the driver starts the next file (0: unknown).
    pub fn max_size(&self) -> u64 {
        let option = self.config.as_ref().and_then(|c| c.get("max-size"));
        log_size::max_size(&self.kind, option.map(String::as_str))
    }
}

impl ContainerInspect {
    /// The container's identity as records carry it.
    pub fn meta(&self) -> ContainerMeta {
        let created_ns = crate::timestamp::parse_rfc3339(self.created.as_bytes()).unwrap_or(0);
        let log_config = self.host_config.as_ref().and_then(|h| h.log_config.as_ref());
        let log_rotates = log_config.is_some_and(|l| {
            l.kind == "local"
                || (l.kind == "json-file" && l.config.as_ref().is_some_and(|c| c.contains_key("max-size")))
        });
        ContainerMeta {
            id: c_string(&self.id),
            name: c_string(self.name.trim_start_matches('/')),
            image: c_string(&self.config.image),
            labels: self.config.labels.clone().unwrap_or_default().into_iter().collect(),
            created_ns,
            tty: self.config.tty,
            log_driver: log_config.map(|l| l.kind.clone()).unwrap_or_default(),
            log_rotates,
            log_max_size: if log_rotates { log_config.map_or(0, LogConfig::max_size) } else { 0 },
        }
    }
}

/// One message of `GET /events`.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    #[serde(rename = "Type", default)]
    pub kind: String,
    #[serde(rename = "Action", default)]
    pub action: String,
    #[serde(rename = "Actor", default)]
    pub actor: Option<EventActor>,
    #[serde(rename = "timeNano", default)]
    pub time_nano: i64,
}

#[derive(Debug, Clone, Deserialize, Default)]
pub struct EventActor {
    #[serde(rename = "ID", default)]
    pub id: String,
    /// The container's name, image and labels (as attributes).
    #[serde(rename = "Attributes", default)]
    pub attributes: HashMap<String, String>,
}

impl EventActor {
    /// The container's identity as a start event tells it (for a container
    /// removed before it could be inspected): its name, image and labels
    /// (the attributes besides name and image), stamped `time_ns`. Whether
    /// it has a TTY is not told (the framing is detected instead).
    pub fn meta(&self, time_ns: i64) -> ContainerMeta {
        let attr = |key: &str| self.attributes.get(key).map(String::as_str).unwrap_or("");
        let labels = self
            .attributes
            .iter()
            .filter(|(k, _)| !EVENT_ATTRIBUTES.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        ContainerMeta {
            id: c_string(&self.id),
            name: c_string(attr("name")),
            image: c_string(attr("image")),
            labels,
            created_ns: time_ns,
            tty: false,
            log_driver: String::new(),
            log_rotates: false,
            log_max_size: 0,
        }
    }
}

/// Attributes of a container event that are not labels.
const EVENT_ATTRIBUTES: &[&str] = &["name", "image", "exitCode", "signal", "execDuration", "container"];

/// Options of one logs request.
#[derive(Debug, Clone, Copy, Default)]
pub struct LogsQuery {
    pub follow: bool,
    pub stdout: bool,
    pub stderr: bool,
    /// Unix ns; 0 means from the start.
    pub since_ns: i64,
    /// `None` is `tail=all`.
    pub tail: Option<u64>,
    /// Send `since` as RFC 3339 instead of `<sec>.<9 digits>`.
    pub since_rfc3339: bool,
}

impl LogsQuery {
    pub fn path(&self, id: &str) -> String {
        let mut path = format!(
            "/containers/{id}/logs?follow={}&stdout={}&stderr={}&timestamps=1",
            self.follow as u8, self.stdout as u8, self.stderr as u8
        );
        if self.since_ns > 0 {
            path.push_str("&since=");
            if self.since_rfc3339 {
                path.push_str(&crate::timestamp::format_rfc3339(self.since_ns));
            } else {
                path.push_str(&crate::timestamp::format_since(self.since_ns));
            }
        }
        match self.tail {
            Some(n) => path.push_str(&format!("&tail={n}")),
            None => path.push_str("&tail=all"),
        }
        path
    }
}

/// A logs answer (200) that may carry an error instead of a log: Podman
/// answers so while it removes a container (`Content-Type: text/plain`, a
/// JSON body with `"response":500`). Its raw TTY logs are sent as
/// `text/plain` too, but a log stream with timestamps never starts with
/// `{` (see `is_error_body`).
pub fn may_be_error_answer(headers: &Headers) -> bool {
    let content_type = headers.get("content-type").unwrap_or("");
    content_type.starts_with("text/plain") || content_type.starts_with("application/json")
}

/// The first body bytes of an answer `may_be_error_answer` flagged: a JSON
/// object, not log entries (which start with a frame header or a stamp).
pub fn is_error_body(first: &[u8]) -> bool {
    first.first() == Some(&b'{')
}

/// `text` as a query value: every byte but the unreserved ones escaped.
fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len() * 3);
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_' | b'~') {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

impl Docker {
    pub fn new(endpoint: Endpoint, request_timeout: Duration) -> Docker {
        Docker { endpoint, request_timeout }
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, path: &str) -> Result<T, DockerError> {
        let body = self.endpoint.get_bytes(path, self.request_timeout, MAX_JSON_BYTES).await?;
        serde_json::from_slice(&body).map_err(|e| DockerError::Protocol(format!("{path}: {e}")))
    }

    /// Which engine and version answer.
    pub async fn version(&self) -> Result<DaemonVersion, DockerError> {
        let (headers, body) = self.endpoint.get_answer("/version", self.request_timeout, MAX_JSON_BYTES).await?;
        DaemonVersion::parse(&headers, &body).map_err(DockerError::Protocol)
    }

    pub async fn ping(&self) -> Result<(), DockerError> {
        self.endpoint.get_bytes("/_ping", self.request_timeout, 1024).await.map(|_| ())
    }

    /// Lists containers: running only, or all of them.
    pub async fn list(&self, all: bool) -> Result<Vec<ContainerSummary>, DockerError> {
        self.get_json(&format!("/containers/json?all={}", all as u8)).await
    }

    pub async fn inspect(&self, id: &str) -> Result<ContainerInspect, DockerError> {
        self.get_json(&format!("/containers/{id}/json")).await
    }

    pub async fn info(&self) -> Result<DaemonInfo, DockerError> {
        self.get_json("/info").await
    }

    /// Opens the container event stream, with `filters` (JSON, see
    /// `Profile::events`).
    pub async fn events(&self, filters: &str) -> Result<Response, DockerError> {
        self.endpoint.get(&format!("/events?filters={}", percent_encode(filters)), self.request_timeout).await
    }

    /// Opens a logs stream; its headers within `header_deadline` (a logs
    /// response is a stream: its first sign of life counts as its first
    /// read, bounded like every other).
    pub async fn logs(&self, id: &str, query: &LogsQuery, header_deadline: Duration) -> Result<Response, DockerError> {
        self.endpoint.get(&query.path(id), header_deadline).await
    }

    /// Sends a logs request without waiting for its headers (see
    /// `Profile::follow_headers_wait_for_a_line`).
    pub async fn send_logs(&self, id: &str, query: &LogsQuery) -> Result<Request, DockerError> {
        let path = query.path(id);
        match tokio::time::timeout(self.request_timeout, self.endpoint.send(&path, self.request_timeout)).await {
            Ok(sent) => sent,
            Err(_) => Err(DockerError::Timeout("the daemon to take the request")),
        }
    }

    /// The error a logs answer carries in its body (see
    /// `may_be_error_answer`): `first`, the body bytes read already, then
    /// the rest.
    pub async fn error_answer(&self, first: &[u8], body: &mut Body) -> DockerError {
        match body.read_to_end(64 * 1024, self.request_timeout).await {
            Ok(rest) => http::error_in_body(&[first, &rest[..]].concat()),
            Err(e) => e,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn logs_query_sends_nine_digits_and_tail() {
        let q = LogsQuery {
            follow: true,
            stdout: true,
            stderr: false,
            since_ns: 1_500_000_000_000_000_001,
            tail: Some(256),
            since_rfc3339: false,
        };
        assert_eq!(
            q.path("abc"),
            "/containers/abc/logs?follow=1&stdout=1&stderr=0&timestamps=1&since=1500000000.000000001&tail=256"
        );
        let q = LogsQuery { since_rfc3339: true, tail: None, ..q };
        assert_eq!(
            q.path("abc"),
            "/containers/abc/logs?follow=1&stdout=1&stderr=0&timestamps=1&since=2017-07-14T02:40:00.000000001Z&tail=all"
        );
        let q = LogsQuery { follow: false, stdout: true, stderr: true, since_ns: 0, tail: None, since_rfc3339: false };
        assert_eq!(q.path("abc"), "/containers/abc/logs?follow=0&stdout=1&stderr=1&timestamps=1&tail=all");
    }

    #[test]
    fn events_filters_are_escaped() {
        assert_eq!(
            percent_encode(r#"{"type":["container"],"event":["start","die","destroy"]}"#),
            "%7B%22type%22%3A%5B%22container%22%5D%2C%22event%22%3A%5B%22start%22%2C%22die%22%2C%22destroy%22%5D%7D"
        );
    }
}
