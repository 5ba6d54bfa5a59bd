//! Where the daemon listens: a unix socket or a TCP address (no TLS), or,
//! when `docker_host` is not set, the usual places of Docker and Podman.

use std::fmt;
use std::path::{Path, PathBuf};

/// How to reach the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    Unix(PathBuf),
    Tcp(String),
}

/// Docker's own default socket.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";
/// Podman's rootful API socket (`podman system service`, podman.socket).
pub const PODMAN_SOCKET: &str = "/run/podman/podman.sock";

impl DockerHost {
    /// Parses `unix:///path`, a bare `/path`, `tcp://host:port` or
    /// `http://host:port`. The error says what is wrong and what would do.
    pub fn parse(value: &str) -> Result<DockerHost, String> {
        if let Some(path) = value.strip_prefix("unix://") {
            if path.is_empty() {
                return Err("unix:// needs a socket path".into());
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
                    return Err(format!("{value:?} needs a port (e.g. tcp://127.0.0.1:2375)"));
                }
                return Ok(DockerHost::Tcp(addr.to_string()));
            }
        }
        Err(format!(
            "{value:?} is not supported (use unix:///path/to/docker.sock or tcp://host:port; TLS and ssh are not supported)"
        ))
    }
}

impl Default for DockerHost {
    fn default() -> DockerHost {
        DockerHost::Unix(PathBuf::from(DEFAULT_SOCKET))
    }
}

impl fmt::Display for DockerHost {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DockerHost::Unix(p) => write!(f, "unix://{}", p.display()),
            DockerHost::Tcp(a) => write!(f, "tcp://{a}"),
        }
    }
}

/// Where a capture looks for its daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hosts {
    /// `docker_host` was set: there and nowhere else.
    Configured(DockerHost),
    /// It was not: the first of these that accepts a connection, kept for
    /// the capture's life (one engine's containers never mix with
    /// another's).
    Search(Vec<DockerHost>),
}

impl Hosts {
    /// The places tried when `docker_host` is not set, in order:
    /// `DOCKER_HOST`, Docker's socket, Podman's rootful socket, then the
    /// rootless ones of Docker and Podman under `XDG_RUNTIME_DIR`.
    pub fn search(docker_host_env: Option<DockerHost>, xdg_runtime_dir: Option<&Path>) -> Hosts {
        let mut hosts: Vec<DockerHost> = docker_host_env.into_iter().collect();
        hosts.push(DockerHost::Unix(DEFAULT_SOCKET.into()));
        hosts.push(DockerHost::Unix(PODMAN_SOCKET.into()));
        if let Some(dir) = xdg_runtime_dir.filter(|d| d.is_absolute()) {
            hosts.push(DockerHost::Unix(dir.join("docker.sock")));
            hosts.push(DockerHost::Unix(dir.join("podman/podman.sock")));
        }
        let mut seen = Vec::new();
        hosts.retain(|h| {
            let new = !seen.contains(h);
            seen.push(h.clone());
            new
        });
        Hosts::Search(hosts)
    }

    /// The places in the order they are tried.
    pub fn candidates(&self) -> &[DockerHost] {
        match self {
            Hosts::Configured(host) => std::slice::from_ref(host),
            Hosts::Search(hosts) => hosts,
        }
    }
}

impl From<DockerHost> for Hosts {
    fn from(host: DockerHost) -> Hosts {
        Hosts::Configured(host)
    }
}

impl fmt::Display for Hosts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, host) in self.candidates().iter().enumerate() {
            if i > 0 {
                f.write_str(" or ")?;
            }
            host.fmt(f)?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_search_tries_docker_host_then_docker_then_podman_then_rootless() {
        let env = DockerHost::parse("tcp://127.0.0.1:2375").unwrap();
        let hosts = Hosts::search(Some(env), Some(Path::new("/run/user/1000")));
        let urls: Vec<String> = hosts.candidates().iter().map(|h| h.to_string()).collect();
        assert_eq!(
            urls,
            [
                "tcp://127.0.0.1:2375",
                "unix:///var/run/docker.sock",
                "unix:///run/podman/podman.sock",
                "unix:///run/user/1000/docker.sock",
                "unix:///run/user/1000/podman/podman.sock",
            ]
        );
        // DOCKER_HOST naming a usual place is tried once; a relative
        // XDG_RUNTIME_DIR is ignored.
        let hosts = Hosts::search(Some(DockerHost::Unix(PODMAN_SOCKET.into())), Some(Path::new("run")));
        assert_eq!(hosts.to_string(), "unix:///run/podman/podman.sock or unix:///var/run/docker.sock");
    }
}
