//! The engine the real-daemon tests run against, chosen once per test
//! process by `LOG_CAPTURER_ENGINE`:
//!
//! - unset or `docker`: Debian's dockerd at `/var/run/docker.sock`, brought
//!   up by `scripts/bench.sh`;
//! - `podman`: Podman's Docker-compatible service at
//!   `/run/podman/podman.sock`, brought up by `scripts/podman.sh`;
//! - `docker@unix:///run/docker23/docker.sock` (or `podman@…`): that kind of
//!   engine at another socket, brought up by hand with the test image in it
//!   (e.g. a Docker built from source).
//!
//! Containers are driven by the docker CLI (`docker -H <host>`) on every
//! engine: on Podman 4.3.1 it ran, logged, stopped, started, restarted,
//! killed and removed containers as reliably as the podman CLI (6 × 8
//! loops of all seven at once, no failure) and faster. Every capture's
//! `docker_host` and every proxy's upstream is the same socket.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::process::Command;
use std::sync::OnceLock;
use std::time::Duration;

use super::IMAGE;

/// Which API dialect an engine speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Docker,
    Podman,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Engine {
    pub kind: Kind,
    /// `unix:///…`: the capture's `docker_host` and the CLI's `-H`.
    pub host: String,
    /// The project script that installs and starts it; `None` when it is
    /// brought up by hand.
    script: Option<&'static str>,
}

const DOCKER_HOST: &str = "unix:///var/run/docker.sock";
const PODMAN_HOST: &str = "unix:///run/podman/podman.sock";

impl Engine {
    /// Debian's Docker of `scripts/bench.sh`, whatever engine is under test
    /// (the tests that start a dockerd of their own copy its image).
    pub fn bench_docker() -> Engine {
        Engine { kind: Kind::Docker, host: DOCKER_HOST.into(), script: Some("scripts/bench.sh") }
    }

    /// The engine `LOG_CAPTURER_ENGINE` names (Debian's Docker when unset).
    pub fn under_test() -> &'static Engine {
        static ENGINE: OnceLock<Engine> = OnceLock::new();
        ENGINE.get_or_init(|| {
            let spec = std::env::var("LOG_CAPTURER_ENGINE").unwrap_or_default();
            Engine::parse(&spec).unwrap_or_else(|e| panic!("LOG_CAPTURER_ENGINE={spec:?}: {e}"))
        })
    }

    /// `docker`, `podman`, or either followed by `@unix:///path`.
    pub fn parse(spec: &str) -> Result<Engine, String> {
        let (kind, host) = match spec.split_once('@') {
            Some((kind, host)) => (kind, Some(host)),
            None => (spec, None),
        };
        let mut engine = match kind {
            "" | "docker" => Engine::bench_docker(),
            "podman" => Engine { kind: Kind::Podman, host: PODMAN_HOST.into(), script: Some("scripts/podman.sh") },
            other => return Err(format!("unknown engine {other:?} (docker, podman, or either @unix:///path)")),
        };
        if let Some(host) = host {
            if !host.starts_with("unix:///") {
                return Err(format!("{host:?} is not a unix:///path socket"));
            }
            engine.host = host.to_string();
            engine.script = None;
        }
        Ok(engine)
    }

    pub fn is_podman(&self) -> bool {
        self.kind == Kind::Podman
    }

    /// The socket's path.
    pub fn socket(&self) -> &Path {
        Path::new(self.host.strip_prefix("unix://").expect("a unix:// host"))
    }

    /// The docker CLI on this engine (see `docker_cli`).
    pub fn cli(&self) -> Command {
        docker_cli(&self.host)
    }

    /// Installs and starts the engine and its test image (its script), or
    /// checks that an engine brought up by hand answers and has the image.
    pub fn bring_up(&self) {
        if let Some(script) = self.script {
            let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(script);
            let status = Command::new("bash").arg(&path).status().unwrap_or_else(|e| panic!("run {script}: {e}"));
            assert!(status.success(), "{script} failed");
            return;
        }
        assert!(ping(self.socket()), "no engine answers at {} (it is brought up by hand)", self.host);
        let image = self.cli().args(["image", "inspect", IMAGE]).output().expect("run docker image inspect");
        assert!(image.status.success(), "{IMAGE} is missing on {}: import it there first", self.host);
    }
}

/// The docker CLI on the daemon at `host`, under a deadline: a wedged
/// daemon fails the test instead of hanging it.
pub fn docker_cli(host: &str) -> Command {
    let mut cmd = Command::new("timeout");
    cmd.args(["--kill-after=5", "120", "docker", "-H", host]);
    cmd
}

/// True when `GET /_ping` on `socket` answers OK within 2 s.
pub fn ping(socket: &Path) -> bool {
    let Ok(mut s) = UnixStream::connect(socket) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
    let _ = s.set_write_timeout(Some(Duration::from_secs(2)));
    if s.write_all(b"GET /_ping HTTP/1.1\r\nHost: docker\r\nConnection: close\r\n\r\n").is_err() {
        return false;
    }
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    answer.starts_with("HTTP/1.1 200") && answer.ends_with("OK")
}
