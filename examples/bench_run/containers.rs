//! The bench's containers: made with the docker CLI (`--network none`,
//! the test label, a name starting `lct-<pid>-`), always removed. Only
//! containers this process made are ever removed.

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::sync::Mutex;

/// The busybox test image `scripts/bench.sh` builds.
pub const IMAGE: &str = "log-capturer-test/busybox:latest";
/// How many `docker run` commands are in flight at once.
const PARALLEL_RUNS: usize = 8;

/// The containers made by this process, by name; removed on drop.
pub struct Containers {
    pub prefix: String,
    made: Mutex<BTreeSet<String>>,
}

/// Runs `docker ARGS`, returning its trimmed stdout.
pub fn docker(args: &[&str]) -> Result<String, String> {
    let out = Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot run docker: {e}"))?;
    if !out.status.success() {
        return Err(format!("docker {}: {}", args.first().unwrap_or(&""), String::from_utf8_lossy(&out.stderr).trim()));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_string())
}

impl Containers {
    pub fn new(prefix: String) -> Containers {
        Containers { prefix, made: Mutex::new(BTreeSet::new()) }
    }

    /// The full name of a container of this bench.
    pub fn name(&self, group: &str, index: usize) -> String {
        format!("{}{group}-{index}", self.prefix)
    }

    /// The name prefix of a group (what `include_containers` is given).
    pub fn group_prefix(&self, group: &str) -> String {
        format!("{}{group}-", self.prefix)
    }

    /// The name of a container that someone else (a child mode) will run,
    /// kept so it is removed with the rest.
    pub fn claim(&self, group: &str, index: usize) -> String {
        let name = self.name(group, index);
        self.made.lock().unwrap().insert(name.clone());
        name
    }

    /// Starts `count` containers of `group`, each running `sh -c script`.
    /// Returns their names.
    pub fn run(&self, group: &str, count: usize, script: &str) -> Result<Vec<String>, String> {
        let names: Vec<String> = (0..count).map(|i| self.name(group, i)).collect();
        for chunk in names.chunks(PARALLEL_RUNS) {
            let mut children = Vec::new();
            for name in chunk {
                self.made.lock().unwrap().insert(name.clone());
                let child = Command::new("docker")
                    .args(["run", "-d", "--network", "none", "--label", "log-capturer-test=1"])
                    .args(["--name", name, IMAGE, "sh", "-c", script])
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::piped())
                    .spawn()
                    .map_err(|e| format!("cannot run docker: {e}"))?;
                children.push((name, child));
            }
            for (name, child) in children {
                let out = child.wait_with_output().map_err(|e| e.to_string())?;
                if !out.status.success() {
                    return Err(format!("docker run {name}: {}", String::from_utf8_lossy(&out.stderr).trim()));
                }
            }
        }
        Ok(names)
    }

    /// Waits for containers to exit (`docker wait`); every exit code must be 0.
    pub fn wait_exited(&self, names: &[String]) -> Result<(), String> {
        for chunk in names.chunks(100) {
            let mut args = vec!["wait"];
            args.extend(chunk.iter().map(String::as_str));
            let codes = docker(&args)?;
            if codes.split_whitespace().any(|c| c != "0") {
                return Err(format!("a container exited non-zero: {codes}"));
            }
        }
        Ok(())
    }

    /// A container's full id.
    pub fn id(&self, name: &str) -> Result<String, String> {
        docker(&["inspect", "-f", "{{.Id}}", name])
    }

    /// Removes containers of this bench (`rm -f`).
    pub fn remove(&self, names: &[String]) {
        let mut made = self.made.lock().unwrap();
        let mine: Vec<&String> = names.iter().filter(|n| made.contains(*n)).collect();
        for chunk in mine.chunks(100) {
            let mut args = vec!["rm", "-f"];
            args.extend(chunk.iter().map(|s| s.as_str()));
            if let Err(e) = docker(&args) {
                eprintln!("bench: {e}");
            }
        }
        for name in names {
            made.remove(name);
        }
    }

    /// Removes every container still left.
    pub fn remove_all(&self) {
        let left: Vec<String> = self.made.lock().unwrap().iter().cloned().collect();
        if !left.is_empty() {
            self.remove(&left);
        }
    }
}

impl Drop for Containers {
    fn drop(&mut self) {
        self.remove_all();
    }
}
