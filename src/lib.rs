//! log-capturer follows the logs of every Docker container on a host
//! through the Docker Engine API and hands them, in batches, to the program
//! that loaded it: Fluent Bit, Go, Python or C, through a small C ABI.
//!
//! Modules, from the edges down (each uses only those below it; the test
//! `tests/layers.rs` holds the table, README.md "Layout" draws it):
//!
//! - [`ffi`]: the C ABI; [`fluentbit`]: the Fluent Bit input plugin. The two
//!   edges with raw pointers and `unsafe` (besides one `flock` in the
//!   engine's position file); every `unsafe` block says why it is sound.
//! - [`engine`]: one runtime per capture; discovery and one reader per
//!   container, every wait bounded. Its `Engine` is the edges' only door.
//! - [`config`]: the JSON configuration, its values and filters.
//! - [`docker`]: the few read-only Docker API calls, over a small HTTP
//!   client, and the daemon's profile.
//! - [`queue`]: the bounded queue between readers and the host, fair
//!   between containers.
//! - [`multiline`]: a container's lines grouped into events (stack traces),
//!   per stream, across its connections.
//! - [`chain`]: how a connection's entries become lines (de-duplication,
//!   partial merge).
//! - [`position`]: per-stream watermarks and their proofs.
//! - [`record`]: records and container identity, as the host sees them.
//! - [`frame`]: the log stream's wire format; [`timestamp`]: time as the
//!   daemon writes it; [`log`]: the library's own log lines.

pub mod chain;
pub mod config;
pub mod docker;
pub mod engine;
pub mod ffi;
pub mod fluentbit;
pub mod frame;
pub mod log;
pub mod multiline;
mod named;
pub mod position;
pub mod queue;
pub mod record;
pub mod timestamp;
