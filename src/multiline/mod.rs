//! Multiline grouping: a stack trace that Docker delivers as one entry per
//! line becomes one event, per container and per stream.
//!
//! A stage of a container's reading, after the partial merge: `Line`s in
//! (`crate::chain`), `Event`s out. One `Grouper` per container; stdout,
//! stderr and console are grouped apart. The stage is pure and synchronous,
//! time is passed in by the caller, and its patterns run on the `regex`
//! crate (time linear in the line: no pattern can stall a reader).
//!
//! - [`config`]: the `multiline` option (JSON object, Fluent Bit properties,
//!   the `log_capturer.multiline` container label).
//! - [`rules`]: Vector's modes over `start_pattern` / `condition_pattern`,
//!   or a built-in parser.
//! - [`machine`]: the state machine a built-in parser runs.
//! - [`parsers`]: the built-in `java`, `python` and `go` parsers.
//! - [`grouper`]: the per-container stage.
//! - [`event`]: what it emits: the first line's timestamp, the last line's
//!   position mark, the lines joined with `\n` up to `max_bytes`.

pub mod config;
pub mod event;
pub mod grouper;
pub mod machine;
pub mod parsers;
pub mod rules;
#[cfg(test)]
mod testing;

pub use config::{MultilineConfig, MultilineError, LABEL};
pub use event::Event;
pub use grouper::Grouper;
pub use parsers::Parser;
pub use rules::{Mode, Rules};
