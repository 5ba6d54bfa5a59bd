//! Reading a container's own log file instead of the API (issue #14):
//! which containers, where their file is, and one run of the file source
//! from opening it to its end (`file_read.rs` reads it).
//!
//! The file source feeds the same chain and the same position as the API
//! stream: it starts at the position's resume point (or at the cursor the
//! last run left, when no line is half read), and de-duplication drops
//! what was passed, so a container moves between file and API without
//! loss or repeat. A renewal (the rotation interval) reopens the file from
//! its path, which checks the path again, and resumes at the cursor,
//! counting on from the position's marks (entries just after a cursor
//! often share the stamp of the last one passed).

use std::path::PathBuf;
use std::time::Duration;

use tokio::time::Instant;

use super::file_source::FileSource;
use super::state::ContainerState;
use super::{Reader, ReaderExit};
use crate::config::LogSource;
use crate::engine::events::{FileRefused, LogGap, ReadingFile, TakeOverGap};
use crate::engine::kinds::{ReadSource, ReopenReason};
use crate::engine::progress::ReaderState;
use crate::engine::shutdown::Cancelled;
use crate::logfile::{self, FollowConfig, Format, Opened, Start};
use crate::position::INVERSION_BOUND_NS;
use crate::timestamp::unix_now_ns;

/// How often a file is looked at when inotify is unavailable.
const FILE_POLL_INTERVAL: Duration = Duration::from_millis(250);

/// How a run of the file source ended.
pub enum FileEnd {
    /// The rotation interval passed: renew it.
    Rotation,
    /// The file cannot be read (now).
    Unreadable(logfile::Error),
    /// The reader ends.
    Exit(ReaderExit),
}

impl From<Cancelled> for FileEnd {
    fn from(_: Cancelled) -> FileEnd {
        FileEnd::Exit(ReaderExit::Cancelled)
    }
}

impl Reader {
    /// The file is to be tried: `file`; or `auto` for a driver whose file
    /// this library reads, when no early API stream is open already.
    pub(super) fn file_wanted(&self, state: &ContainerState, early: bool) -> bool {
        match self.shared.config.log_source {
            LogSource::Api => false,
            LogSource::File => true,
            LogSource::Auto => {
                !early && state.log_path.is_some() && matches!(state.meta.log_driver.as_str(), "json-file" | "k8s-file")
            }
        }
    }

    /// One run of the file source: opens the file (counting `reason` once
    /// it is open) and reads it until it is renewed, unreadable, or the
    /// reader ends. With `drain`, reads it to its end and ends.
    pub(super) async fn follow_file(
        &mut self,
        state: &mut ContainerState,
        reason: Option<ReopenReason>,
        drain: bool,
    ) -> FileEnd {
        let (mut source, opened) = match self.open_file(state).await {
            Ok(Ok(opened)) => opened,
            Ok(Err(e)) => return FileEnd::Unreadable(e),
            Err(Cancelled) => return FileEnd::Exit(ReaderExit::Cancelled),
        };
        let at_cursor = opened == Opened::AtCursor;
        self.file_opened(state, &source, opened, reason);
        let end = match self.read_file(state, &mut source, at_cursor, drain).await {
            Ok(end) => end,
            Err(Cancelled) => return FileEnd::Exit(ReaderExit::Cancelled),
        };
        state.tracked.stats.stream_closed(unix_now_ns());
        source.close().await;
        end
    }

    /// The file is read from now on: said when it was not before, a gap
    /// checked, the renewal counted.
    fn file_opened(
        &mut self,
        state: &mut ContainerState,
        source: &FileSource,
        opened: Opened,
        reason: Option<ReopenReason>,
    ) {
        let progress = &state.tracked.progress;
        if progress.source() != ReadSource::File || state.file_refused.is_some() {
            let path = state.log_path.clone().unwrap_or_default();
            ReadingFile { meta: &state.meta, path: &path, format: source.format.name() }.emit(&self.shared.log);
            progress.set_source(ReadSource::File);
            state.file_refused = None;
        }
        if let Opened::Oldest { first } = opened {
            // Read from the oldest entry on disk: what the position passed
            // must still be there, or the daemon deleted it.
            let streams = state.streams(self.shared.config.streams);
            if let Some(after_ns) = state.position.passed_entry_gone(&streams, first) {
                let before_ns = first.map_or_else(unix_now_ns, |f| f.1).max(after_ns);
                LogGap { meta: &state.meta, after_ns, before_ns }.emit(&self.shared.log, &state.tracked.stats);
            }
        }
        self.rotate_if_due(state, Instant::now());
        if let Some(r) = reason {
            state.tracked.stats.reopened(r);
        }
        state.tracked.stats.stream_opened(unix_now_ns());
        state.tracked.progress.set_state(ReaderState::Following);
    }

    /// Opens the container's log file where the position (or the cursor)
    /// says. `Ok(Err)`: it cannot be read.
    async fn open_file(
        &mut self,
        state: &ContainerState,
    ) -> Result<Result<(FileSource, Opened), logfile::Error>, Cancelled> {
        let Some(log_path) = state.log_path.clone() else {
            let driver = &state.meta.log_driver;
            return Ok(Err(logfile::Error::Refused(format!("the log driver {driver:?} writes no file to read"))));
        };
        let shared = self.shared.clone();
        let root = match self.shutdown.run(data_root(&shared)).await? {
            Ok(root) => root,
            Err(e) => return Ok(Err(e)),
        };
        // The first attempt is over: retries do not hold the start permit.
        self.starting = None;
        let prefix = shared.config.log_path_prefix.as_deref();
        let config = FollowConfig {
            format: Format::JsonFile,
            root: mapped(prefix, &root),
            log_path: mapped(prefix, &log_path),
            tty: state.meta.tty,
            order_slack_ns: INVERSION_BOUND_NS,
            poll_interval: FILE_POLL_INTERVAL,
            inotify: true,
        };
        let since_ns = state.position.resume_since_ns(&state.streams(shared.config.streams));
        // A line half read (pieces delivered to the chain, not its end) must
        // be read again from its first piece: only a start by time does.
        // So must a position another source moved since the cursor.
        let start = match &state.file_cursor {
            Some((cursor, at)) if *at == state.position && state.position.unfinished.iter().all(Option::is_none) => {
                Start::Cursor { cursor: *cursor, since_ns }
            }
            _ => Start::Since(since_ns),
        };
        Ok(self.shutdown.run(FileSource::open(config, start)).await?)
    }

    /// The file cannot be read: with `file`, said once and the reader
    /// ends; with `auto`, said once per reason, and the API takes over.
    pub(super) fn file_refused(&mut self, state: &mut ContainerState, e: logfile::Error) -> Option<ReaderExit> {
        let forced = self.shared.config.log_source == LogSource::File;
        let message = e.to_string();
        if state.file_refused.as_ref() != Some(&message) {
            FileRefused { meta: &state.meta, error: &e, forced }.emit(&self.shared.log, &state.tracked.stats);
            state.file_refused = Some(message.clone());
        }
        state.file_cursor = None;
        self.file_order_lost(state);
        if !forced && state.tracked.progress.source() == ReadSource::File {
            self.coarse_take_over(state);
        }
        state.tracked.progress.set_source(ReadSource::Api);
        forced.then_some(ReaderExit::Unreadable(message))
    }

    /// The API takes over from the file. Where its stamps are whole seconds
    /// (Podman) it cannot say which of the entries of a mark's second came
    /// after the mark (a file's, in nanoseconds): they are taken as read,
    /// and reported as a gap up to the end of that second.
    fn coarse_take_over(&self, state: &ContainerState) {
        let resolution = self.shared.daemon.profile().stamp_resolution_ns;
        if resolution <= 1 {
            return;
        }
        let streams = state.streams(self.shared.config.streams);
        let within = || streams.iter().map(|s| state.position.marks[s.index()].ts_ns).filter(|ts| ts % resolution != 0);
        let (Some(after_ns), Some(last_ns)) = (within().min(), within().max()) else {
            return;
        };
        let before_ns = last_ns - last_ns.rem_euclid(resolution) + resolution;
        TakeOverGap { meta: &state.meta, after_ns, before_ns }.emit(&self.shared.log, &state.tracked.stats);
    }
}

/// The daemon's data root, asked once.
async fn data_root(shared: &crate::engine::shared::Shared) -> Result<PathBuf, logfile::Error> {
    let asked = shared.data_root.get_or_try_init(|| async {
        let info = shared.docker.info().await.map_err(|e| e.to_string())?;
        match info.docker_root_dir.as_str() {
            "" => Err("the daemon's /info names no data root".to_string()),
            root => Ok(PathBuf::from(root)),
        }
    });
    asked
        .await
        .cloned()
        .map_err(|e| logfile::Error::io("cannot learn the daemon's data root".into(), std::io::Error::other(e)))
}

/// `path` as this process sees it: beneath `prefix` when the daemon's
/// files are mounted there.
fn mapped(prefix: Option<&std::path::Path>, path: &std::path::Path) -> PathBuf {
    match prefix {
        Some(prefix) => prefix.join(path.strip_prefix("/").unwrap_or(path)),
        None => path.to_path_buf(),
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    #[test]
    fn a_prefix_maps_the_daemons_paths() {
        let path = Path::new("/var/lib/docker/containers/ab/ab-json.log");
        assert_eq!(super::mapped(None, path), path);
        assert_eq!(
            super::mapped(Some(Path::new("/host")), path),
            Path::new("/host/var/lib/docker/containers/ab/ab-json.log")
        );
    }
}
