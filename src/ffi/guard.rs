//! The panic boundary of both edges, the C ABI and the Fluent Bit plugin:
//! every exported body runs inside `guard`, and a panic becomes that
//! function's "panicked" value (`CAPTURE_ERR_PANIC`, NULL, 0, or Fluent
//! Bit's error). A panic never unwinds into the host.

use std::panic::{catch_unwind, AssertUnwindSafe};

/// Runs `body`; a panic becomes `on_panic`.
pub(crate) fn guard<R>(on_panic: R, body: impl FnOnce() -> R) -> R {
    // Unwind safety: after a panic the call returns the panic value and
    // touches nothing more; state shared with the engine is behind locks
    // that are taken poison-tolerantly.
    catch_unwind(AssertUnwindSafe(body)).unwrap_or(on_panic)
}
