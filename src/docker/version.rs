//! Which daemon answers: `GET /version` and the headers every answer
//! carries. Docker says `Server: Docker/<version>` and names its `Engine`
//! component; Podman's Docker-compatible service says `Server: Libpod/…`,
//! sends `Libpod-Api-Version` and names a `Podman Engine` component
//! (recorded answers: tests/fixtures/docker, tests/fixtures/podman).

use std::fmt;

use serde::Deserialize;

use super::http::Headers;

/// The kind of engine behind the API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineKind {
    Docker,
    Podman,
}

impl EngineKind {
    pub fn name(self) -> &'static str {
        match self {
            EngineKind::Docker => "docker",
            EngineKind::Podman => "podman",
        }
    }
}

/// What the daemon reported itself as.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaemonVersion {
    pub kind: EngineKind,
    /// The engine's own version (`20.10.24+dfsg1`, `23.0.6`, `4.3.1`).
    pub version: String,
    /// The Docker API version it serves (`1.41`).
    pub api_version: String,
}

/// The parts of `/version` read here.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct VersionBody {
    #[serde(default)]
    version: String,
    #[serde(default)]
    api_version: String,
    #[serde(default)]
    components: Vec<Component>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Component {
    #[serde(default)]
    name: String,
    #[serde(default)]
    version: String,
}

impl DaemonVersion {
    /// Reads a `/version` answer. The engine is Podman when the answer says
    /// so anywhere (component, `Libpod-Api-Version`, `Server: Libpod/…`),
    /// Docker otherwise.
    pub fn parse(headers: &Headers, body: &[u8]) -> Result<DaemonVersion, String> {
        let v: VersionBody = serde_json::from_slice(body).map_err(|e| format!("/version: {e}"))?;
        let podman_component = v.components.iter().find(|c| c.name == "Podman Engine");
        let server = headers.get("server").unwrap_or("");
        let podman =
            podman_component.is_some() || headers.get("libpod-api-version").is_some() || server.starts_with("Libpod/");
        let kind = if podman { EngineKind::Podman } else { EngineKind::Docker };
        let version = match podman_component {
            Some(c) if !c.version.is_empty() => c.version.clone(),
            _ => v.version,
        };
        let api_version = match v.api_version.as_str() {
            "" => headers.get("api-version").unwrap_or("").to_string(),
            api => api.to_string(),
        };
        Ok(DaemonVersion { kind, version, api_version })
    }

    /// The version's leading numbers, `(major, minor, patch)` (`20.10.24+dfsg1`
    /// is `(20, 10, 24)`); missing or unreadable parts are 0.
    pub fn release(&self) -> (u32, u32, u32) {
        let mut parts = self.version.split(|c: char| !c.is_ascii_digit()).map(|p| p.parse().unwrap_or(0));
        let mut next = || parts.next().unwrap_or(0);
        (next(), next(), next())
    }

    /// At least `major.minor`.
    pub fn at_least(&self, major: u32, minor: u32) -> bool {
        let (ma, mi, _) = self.release();
        (ma, mi) >= (major, minor)
    }
}

impl fmt::Display for DaemonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} {} (API {})", self.kind.name(), self.version, self.api_version)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A recorded answer: `tests/fixtures/<dir>/<name>.headers` and `.body`.
    pub(crate) fn recorded(dir: &str, name: &str) -> (Headers, Vec<u8>) {
        let base = format!("{}/tests/fixtures/{dir}/{name}", env!("CARGO_MANIFEST_DIR"));
        let head = std::fs::read_to_string(format!("{base}.headers")).unwrap();
        let body = std::fs::read(format!("{base}.body")).unwrap();
        let pairs = head
            .lines()
            .skip(1)
            .filter_map(|l| l.split_once(':'))
            .map(|(n, v)| (n.trim().to_string(), v.trim().to_string()));
        (Headers::from_pairs(pairs), body)
    }

    fn parse(dir: &str, name: &str) -> DaemonVersion {
        let (headers, body) = recorded(dir, name);
        DaemonVersion::parse(&headers, &body).unwrap()
    }

    #[test]
    fn recorded_daemons_are_told_apart() {
        let d20 = parse("docker", "version-20.10.24");
        assert_eq!(
            (d20.kind, d20.version.as_str(), d20.api_version.as_str()),
            (EngineKind::Docker, "20.10.24+dfsg1", "1.41")
        );
        assert_eq!(d20.release(), (20, 10, 24));
        assert!(!d20.at_least(23, 0));
        let d23 = parse("docker", "version-23.0.6");
        assert_eq!((d23.kind, d23.version.as_str(), d23.api_version.as_str()), (EngineKind::Docker, "23.0.6", "1.42"));
        assert!(d23.at_least(23, 0));
        let p = parse("podman", "version");
        assert_eq!((p.kind, p.version.as_str(), p.api_version.as_str()), (EngineKind::Podman, "4.3.1", "1.41"));
        assert_eq!(p.to_string(), "podman 4.3.1 (API 1.41)");
    }

    #[test]
    fn podman_is_known_by_its_headers_alone() {
        let (headers, _) = recorded("podman", "version");
        let body = br#"{"Version":"4.3.1","ApiVersion":"1.41"}"#;
        assert_eq!(DaemonVersion::parse(&headers, body).unwrap().kind, EngineKind::Podman);
        let bare = Headers::default();
        let v = DaemonVersion::parse(&bare, br#"{"Components":[{"Name":"Podman Engine","Version":"5.2.0"}]}"#).unwrap();
        assert_eq!((v.kind, v.release()), (EngineKind::Podman, (5, 2, 0)));
        assert!(DaemonVersion::parse(&bare, b"<html>").unwrap_err().contains("/version"));
        let odd = DaemonVersion { kind: EngineKind::Docker, version: "dev".into(), api_version: String::new() };
        assert_eq!(odd.release(), (0, 0, 0));
    }
}
