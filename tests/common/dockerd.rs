//! A Docker daemon of the test's own, for faults that must not touch the
//! shared one (killing it): its own data root, exec root, pid file and
//! socket, `--live-restore` so containers outlive it, and its own
//! containerd (started by dockerd, killed with it). Dropping it stops the
//! daemon, ends what it left behind and removes its directory.

use std::os::unix::process::CommandExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use super::engine::{ping, Engine};
use super::IMAGE;

/// How long a daemon gets to answer its first ping.
const READY_TIMEOUT: Duration = Duration::from_secs(90);

pub struct TestDaemon {
    pub dir: PathBuf,
    pub socket: PathBuf,
    child: Option<Child>,
}

impl TestDaemon {
    /// Starts the daemon and waits until it answers; `Err` says why it
    /// cannot run here.
    pub fn start() -> Result<TestDaemon, String> {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir =
            PathBuf::from(format!("/tmp/lct-dockerd-{}-{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        for sub in ["data", "exec"] {
            std::fs::create_dir_all(dir.join(sub)).map_err(|e| format!("{dir:?}: {e}"))?;
        }
        let mut daemon = TestDaemon { socket: dir.join("docker.sock"), dir, child: None };
        daemon.spawn()?;
        daemon.wait_ready()?;
        Ok(daemon)
    }

    /// `unix://…`: for `docker -H` and the capturer's `docker_host`.
    pub fn host(&self) -> String {
        format!("unix://{}", self.socket.display())
    }

    fn spawn(&mut self) -> Result<(), String> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.dir.join("dockerd.log"))
            .map_err(|e| e.to_string())?;
        let d = |sub: &str| self.dir.join(sub).display().to_string();
        let child = Command::new("/usr/sbin/dockerd")
            .args([
                "--data-root",
                &d("data"),
                "--exec-root",
                &d("exec"),
                "--pidfile",
                &d("dockerd.pid"),
                "-H",
                &self.host(),
                "--bridge=none",
                "--iptables=false",
                "--ip6tables=false",
                "--live-restore",
            ])
            .stdin(Stdio::null())
            .stdout(log.try_clone().map_err(|e| e.to_string())?)
            .stderr(log)
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run /usr/sbin/dockerd: {e}"))?;
        self.child = Some(child);
        Ok(())
    }

    /// True when `GET /_ping` answers OK within 2 s.
    pub fn ping(&self) -> bool {
        ping(&self.socket)
    }

    /// Waits for the first OK ping; returns how long it took.
    pub fn wait_ready(&mut self) -> Result<Duration, String> {
        let start = Instant::now();
        while !self.ping() {
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || start.elapsed() > READY_TIMEOUT {
                return Err(format!(
                    "the test dockerd did not answer ({}); its log ends with:\n{}",
                    match exited {
                        Some(status) => format!("it exited: {status}"),
                        None => format!("not within {READY_TIMEOUT:?}"),
                    },
                    self.log_tail(20)
                ));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        Ok(start.elapsed())
    }

    pub fn log_tail(&self, lines: usize) -> String {
        let text = std::fs::read_to_string(self.dir.join("dockerd.log")).unwrap_or_default();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// SIGKILL, and reaps it. Its containerd dies with it; with
    /// `--live-restore` the containers (their shims) live on.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        // Its containerd is killed with it but stays a zombie until init
        // reaps it; a new dockerd finding the pid alive would wait for it
        // ("containerd is still running") and give up. Once it is dead,
        // forget it.
        let pidfile = self.dir.join("exec/containerd/containerd.pid");
        let Some(pid) = std::fs::read_to_string(&pidfile).ok().and_then(|p| p.trim().parse::<i32>().ok()) else {
            return;
        };
        let dead = || {
            std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .map(|stat| {
                    let state = stat.rsplit(") ").next().unwrap_or("");
                    state.starts_with('Z') || state.starts_with('X')
                })
                .unwrap_or(true)
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        while !dead() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(50));
        }
        if !dead() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        let _ = std::fs::remove_file(&pidfile);
    }

    /// Starts the daemon again (same roots and socket) and waits for it;
    /// returns how long it took to answer.
    pub fn restart(&mut self) -> Result<Duration, String> {
        assert!(self.child.is_none(), "restart of a running daemon");
        let _ = std::fs::remove_file(&self.socket);
        self.spawn()?;
        self.wait_ready()
    }

    /// Copies the test image from the bench's Docker into this one.
    pub fn load_test_image(&self) {
        let bench = Engine::bench_docker();
        bench.bring_up();
        let out = Command::new("sh")
            .arg("-c")
            .arg(format!("docker -H {} save {IMAGE} | docker -H {} load", bench.host, self.host()))
            .output()
            .expect("run docker save | docker load");
        assert!(
            out.status.success(),
            "loading {IMAGE} into the test daemon failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    /// Processes whose command line names this daemon's directory (its
    /// containerd and shims), by pid.
    fn leftovers(&self) -> Vec<i32> {
        let needle = self.dir.display().to_string();
        let me = std::process::id() as i32;
        std::fs::read_dir("/proc")
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
            .filter(|pid| *pid != me)
            .filter(|pid| {
                std::fs::read(format!("/proc/{pid}/cmdline"))
                    .map(|c| String::from_utf8_lossy(&c).contains(&needle))
                    .unwrap_or(false)
            })
            .collect()
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // A clean stop first (it unmounts what it mounted).
            unsafe { libc::kill(child.id() as i32, libc::SIGTERM) };
            let deadline = Instant::now() + Duration::from_secs(30);
            while child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(100));
            }
            let _ = child.kill();
            let _ = child.wait();
        }
        for pid in self.leftovers() {
            unsafe { libc::kill(pid, libc::SIGKILL) };
        }
        // Whatever is still mounted below the directory (the daemon binds
        // its data root onto itself), deepest first.
        let prefix = self.dir.display().to_string();
        let mut mounts: Vec<String> = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap_or_default()
            .lines()
            .filter_map(|l| l.split(' ').nth(4).map(str::to_string))
            .filter(|m| m.starts_with(&prefix))
            .collect();
        mounts.sort_by_key(|m| std::cmp::Reverse(m.len()));
        for m in mounts {
            if let Ok(c) = std::ffi::CString::new(m) {
                unsafe { libc::umount2(c.as_ptr(), libc::MNT_DETACH) };
            }
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
