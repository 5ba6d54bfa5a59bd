//! A container's log file as a reader's source: the `logfile` follower's
//! blocking calls run on tokio's blocking pool, one bounded read at a time
//! (never on the runtime's thread, so a slow disk stalls no other reader),
//! while the reader waits on its inotify descriptor here.
//!
//! While the reader delivers one batch, the next is read (one batch ahead,
//! at most: two batches of memory). A read in flight when the capture
//! stops is bounded (`BATCH_BYTES`) and ends by itself; the runtime's
//! shutdown waits for it.

use std::os::fd::{BorrowedFd, OwnedFd};
use std::time::Duration;

use tokio::io::unix::AsyncFd;
use tokio::io::Interest;
use tokio::task::JoinHandle;

use crate::logfile::{Batch, Error, FollowConfig, Follower, Format, Opened, ReadState, Start};

/// How much of the files one read takes at most: the follower's own read
/// size. (1 MiB read no faster and held ~40 % more memory while 10
/// containers were drained at once: peak RSS 43–55 vs 26–36 MiB.)
pub const BATCH_BYTES: usize = 256 << 10;
/// The longest wait for an inotify event before looking anyway (a change
/// inotify could not report, e.g. a directory replaced).
const MAX_WATCH_WAIT: Duration = Duration::from_secs(5);

type Read = (Follower, Result<Batch, Error>);

/// One open follower of a container's log file.
pub struct FileSource {
    /// The follower, while no read holds it.
    follower: Option<Follower>,
    /// The read in flight (it holds the follower).
    reading: Option<JoinHandle<Read>>,
    /// A duplicate of the follower's inotify descriptor (`None`: polled).
    watch: Option<AsyncFd<OwnedFd>>,
    poll_interval: Duration,
    pub format: Format,
}

impl FileSource {
    /// Opens the log of `config` (its format told by the file's content,
    /// `config.format` is ignored) for reading from `start`.
    pub async fn open(mut config: FollowConfig, start: Start) -> Result<(FileSource, Opened), Error> {
        let poll_interval = config.poll_interval;
        let opened = spawn(move || {
            config.format = Format::detect(&config.root, &config.log_path)?;
            Follower::open(&config, start)
        })
        .await?;
        let (follower, opened) = opened?;
        let watch = follower.watch_fd().and_then(|fd| {
            // SAFETY: the descriptor is the follower's, open while it lives,
            // and it lives as long as this source; the duplicate is owned.
            let fd = unsafe { BorrowedFd::borrow_raw(fd) };
            let owned = fd.try_clone_to_owned().ok()?;
            // SAFETY: `owned` is open and owned by the AsyncFd until it drops.
            unsafe { AsyncFd::register_with_interest(owned, Interest::READABLE) }.ok()
        });
        let format = follower.format();
        Ok((FileSource { follower: Some(follower), reading: None, watch, poll_interval, format }, opened))
    }

    /// The next batch: the one read ahead, or one read now. When more
    /// waits on disk, the next read starts at once.
    pub async fn next(&mut self) -> Result<Batch, Error> {
        let reading = match self.reading.take() {
            Some(reading) => reading,
            None => match self.follower.take() {
                Some(follower) => read_ahead(follower),
                // Only after a read was cancelled, which ends the reader.
                None => {
                    return Err(Error::io("the log file's follower was lost".into(), std::io::ErrorKind::Other.into()))
                }
            },
        };
        let (follower, batch) = join(reading).await?;
        match &batch {
            Ok(b) if b.state == ReadState::More => self.reading = Some(read_ahead(follower)),
            _ => self.follower = Some(follower),
        }
        batch
    }

    /// Waits for the files to change: an inotify event, or the poll
    /// interval. Read again after it (there may be nothing new).
    pub async fn changed(&mut self) {
        let Some(fd) = &self.watch else {
            return tokio::time::sleep(self.poll_interval).await;
        };
        match tokio::time::timeout(MAX_WATCH_WAIT, fd.readable()).await {
            // The next read drains the events; a later one sets it again.
            Ok(Ok(mut guard)) => guard.clear_ready(),
            Ok(Err(_)) => tokio::time::sleep(self.poll_interval).await,
            Err(_) => {}
        }
    }

    /// Waits for a read in flight to end (so the next follower of these
    /// files does not race it).
    pub async fn close(mut self) {
        if let Some(reading) = self.reading.take() {
            let _ = reading.await;
        }
    }
}

impl Drop for FileSource {
    /// Closing an inotify instance waits for the kernel (an RCU grace
    /// period, tens of milliseconds): the follower and the descriptor are
    /// closed on the blocking pool, never on the runtime's thread (which
    /// it stalled for every other reader: 100 small logs were read at a
    /// sixth of the speed of one big one). A read in flight closes its
    /// follower there too, when it ends.
    fn drop(&mut self) {
        // Deregistered here, on the runtime; closed there.
        let watch = self.watch.take().map(AsyncFd::into_inner);
        let follower = self.follower.take();
        if watch.is_none() && follower.is_none() {
            return;
        }
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => drop(runtime.spawn_blocking(move || drop((follower, watch)))),
            Err(_) => drop((follower, watch)),
        }
    }
}

fn read_ahead(mut follower: Follower) -> JoinHandle<Read> {
    tokio::task::spawn_blocking(move || {
        let batch = follower.read_batch(BATCH_BYTES);
        (follower, batch)
    })
}

/// Runs `work` on the blocking pool and waits for it.
async fn spawn<T: Send + 'static>(work: impl FnOnce() -> T + Send + 'static) -> Result<T, Error> {
    join(tokio::task::spawn_blocking(work)).await
}

async fn join<T>(task: JoinHandle<T>) -> Result<T, Error> {
    task.await.map_err(|e| Error::io("a log file read did not finish".into(), std::io::Error::other(e.to_string())))
}
