//! Where the daemon listens: a unix socket or a TCP address (no TLS).

use std::fmt;
use std::path::PathBuf;

/// How to reach the daemon.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DockerHost {
    Unix(PathBuf),
    Tcp(String),
}

/// Docker's own default socket.
pub const DEFAULT_SOCKET: &str = "/var/run/docker.sock";

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
