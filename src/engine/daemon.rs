//! The daemon as last detected: which engine and version answer, and the
//! profile chosen for them. Discovery detects it at every subscription (a
//! daemon restarted in between may be another version, or another engine
//! behind the same socket); readers take a snapshot per connection, so a
//! connection keeps one profile from its request to its end.

use std::sync::{Arc, RwLock};

use crate::docker::{DaemonVersion, Profile};

/// The current profile, swapped whole.
pub struct CurrentDaemon {
    profile: RwLock<Arc<Profile>>,
    /// Set once a daemon has answered `/version`.
    detected: RwLock<Option<DaemonVersion>>,
}

impl CurrentDaemon {
    /// Docker 20.10's profile until a daemon says otherwise.
    pub fn new() -> CurrentDaemon {
        CurrentDaemon { profile: RwLock::new(Arc::new(Profile::default())), detected: RwLock::new(None) }
    }

    /// The profile to read one connection with.
    pub fn profile(&self) -> Arc<Profile> {
        self.profile.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// What the daemon last reported, if it has answered yet.
    pub fn detected(&self) -> Option<DaemonVersion> {
        self.detected.read().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The daemon answered `/version` with `version`: its profile becomes
    /// current. Returns what was detected before when this differs (None
    /// inside: the first detection), nothing when it is the same daemon.
    pub fn detect(&self, version: DaemonVersion) -> Option<Option<DaemonVersion>> {
        let mut detected = self.detected.write().unwrap_or_else(|e| e.into_inner());
        if detected.as_ref() == Some(&version) {
            return None;
        }
        *self.profile.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(Profile::for_daemon(&version));
        Some(detected.replace(version))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::docker::EngineKind;

    #[test]
    fn a_new_daemon_swaps_the_profile_and_old_snapshots_stay() {
        let current = CurrentDaemon::new();
        let before = current.profile();
        assert!(before.resends_last_line && current.detected().is_none());
        let podman = DaemonVersion { kind: EngineKind::Podman, version: "4.3.1".into(), api_version: "1.41".into() };
        assert_eq!(current.detect(podman.clone()), Some(None));
        assert_eq!(current.detect(podman.clone()), None, "the same daemon again changes nothing");
        assert!(!current.profile().resends_last_line);
        assert!(before.resends_last_line, "a connection's snapshot is not changed under it");
        let docker = DaemonVersion { kind: EngineKind::Docker, version: "23.0.6".into(), api_version: "1.42".into() };
        assert_eq!(current.detect(docker.clone()), Some(Some(podman)));
        assert_eq!(current.profile().daemon, docker);
    }
}
