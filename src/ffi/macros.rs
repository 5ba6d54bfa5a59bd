//! The panic boundary: every exported function's body runs inside
//! `ffi_guard!`, and a panic becomes that function's "panicked" value
//! (`CAPTURE_ERR_PANIC`, NULL or 0). A panic never unwinds into the host.

/// `ffi_guard!(value_on_panic, { body })`.
macro_rules! ffi_guard {
    ($panicked:expr, $body:block) => {
        match ::std::panic::catch_unwind(::std::panic::AssertUnwindSafe(move || $body)) {
            Ok(value) => value,
            Err(_) => $panicked,
        }
    };
}
