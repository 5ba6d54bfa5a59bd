//! log-capturer follows the logs of every Docker container on a host
//! through the Docker Engine API and hands them, in batches, to the program
//! that loaded it: Fluent Bit, Go, Python or C, through a small C ABI.
//!
//! - [`ffi`]: the C ABI (the only place with raw pointers).
//! - [`engine`]: one runtime per capture; discovery and one reader per
//!   container, every wait bounded.
//! - [`position`]: per-stream watermarks, partial-line merging.
//! - [`frame`]: the log stream's wire format.
//! - [`docker`]: the few read-only Docker API calls, over a small HTTP client.
//! - [`queue`]: the bounded queue between readers and the host.
//! - [`config`]: the JSON configuration.

pub mod config;
pub mod docker;
pub mod engine;
pub mod ffi;
pub mod fluentbit;
pub mod frame;
pub mod log;
pub mod logfile;
pub mod position;
pub mod queue;
