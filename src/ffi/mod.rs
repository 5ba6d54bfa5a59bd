//! The C ABI. The only module with `extern "C"` and raw pointers; the
//! engine behind it never sees a pointer.
//!
//! Every exported body runs inside `guard`, which turns a panic into
//! `CAPTURE_ERR_PANIC` (or NULL / 0): a panic never crosses into the host.
//! Every pointer argument is checked for NULL; a handle is reached only
//! through `with_handle`. Outputs are written only on success.
//!
//! The exports and the types the header shows stay in this file (cbindgen
//! reads only it); `handle`, `guard` and `log_sink` hold the mechanics.

#![allow(non_camel_case_types)]
#![allow(clippy::missing_safety_doc)]

mod guard;
mod handle;
mod log_sink;

use std::ffi::{c_char, c_void, CStr, CString};
use std::ptr;
use std::time::Duration;

pub(crate) use guard::guard;
use handle::{message_cstring, set_start_error, str_arg, with_handle, HandleState};
use log_sink::callback_sink;

use crate::config::Config;
use crate::engine::{Acknowledger, Engine, EngineError};
use crate::record::Record;

/// The result of every call that can fail. Values are fixed and never
/// reused; `capture_result_message` describes each one.
#[repr(C)]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum capture_result {
    /// Success.
    CAPTURE_OK = 0,
    /// A required pointer argument was NULL.
    CAPTURE_ERR_NULL_ARGUMENT = 1,
    /// The configuration was refused; `capture_last_error` names the key.
    CAPTURE_ERR_INVALID_CONFIG = 2,
    /// An argument was out of range or not valid UTF-8.
    CAPTURE_ERR_INVALID_ARGUMENT = 3,
    /// The capture has been stopped.
    CAPTURE_ERR_STOPPED = 4,
    /// The engine could not start (thread or runtime creation failed).
    CAPTURE_ERR_RUNTIME = 5,
    /// The engine did not stop within its deadline.
    CAPTURE_ERR_STOP_TIMEOUT = 6,
    /// No such container is known to this capture.
    CAPTURE_ERR_NOT_FOUND = 7,
    /// The library panicked; the call did nothing. Please report it.
    CAPTURE_ERR_PANIC = 99,
}

use capture_result::*;

impl capture_result {
    /// A static description of the result.
    pub fn message(self) -> &'static CStr {
        match self {
            CAPTURE_OK => c"success",
            CAPTURE_ERR_NULL_ARGUMENT => c"a required pointer argument was NULL",
            CAPTURE_ERR_INVALID_CONFIG => c"the configuration was refused",
            CAPTURE_ERR_INVALID_ARGUMENT => c"an argument was out of range or not valid UTF-8",
            CAPTURE_ERR_STOPPED => c"the capture is stopped",
            CAPTURE_ERR_RUNTIME => c"the engine could not start",
            CAPTURE_ERR_STOP_TIMEOUT => c"the engine did not stop within its deadline",
            CAPTURE_ERR_NOT_FOUND => c"no such container is known",
            CAPTURE_ERR_PANIC => c"the library panicked; the call did nothing",
        }
    }

    /// The result with this code, if any.
    pub fn from_code(code: i32) -> Option<capture_result> {
        [
            CAPTURE_OK,
            CAPTURE_ERR_NULL_ARGUMENT,
            CAPTURE_ERR_INVALID_CONFIG,
            CAPTURE_ERR_INVALID_ARGUMENT,
            CAPTURE_ERR_STOPPED,
            CAPTURE_ERR_RUNTIME,
            CAPTURE_ERR_STOP_TIMEOUT,
            CAPTURE_ERR_NOT_FOUND,
            CAPTURE_ERR_PANIC,
        ]
        .into_iter()
        .find(|r| *r as i32 == code)
    }
}

/// Record stream: the container's standard output.
pub const CAPTURE_STREAM_STDOUT: u32 = 1;
/// Record stream: the container's standard error.
pub const CAPTURE_STREAM_STDERR: u32 = 2;
/// Record stream: a TTY container's merged output.
pub const CAPTURE_STREAM_CONSOLE: u32 = 3;
/// Record flag: one 16 KiB piece of a longer line (with
/// `auto_partial_merge` off), or the start of a long line whose remaining
/// pieces never came (the container stopped mid-line). A last line without
/// a newline is a whole line, not partial.
pub const CAPTURE_FLAG_PARTIAL: u32 = 1;
/// Record flag: the line was longer than `max_line_bytes` and was cut.
pub const CAPTURE_FLAG_TRUNCATED: u32 = 2;

const _: () = assert!(
    CAPTURE_FLAG_PARTIAL == crate::record::flags::PARTIAL
        && CAPTURE_FLAG_TRUNCATED == crate::record::flags::TRUNCATED
);

/// One log record. Every pointer stays valid until its batch is freed.
#[repr(C)]
pub struct capture_record {
    /// The container's full id, NUL-terminated.
    pub container_id: *const c_char,
    /// The container's name (without Docker's leading `/`), NUL-terminated.
    pub container_name: *const c_char,
    /// The container's image as it was given (`Config.Image`), NUL-terminated.
    pub container_image: *const c_char,
    /// The message bytes, without the trailing newline; not NUL-terminated
    /// and not necessarily UTF-8.
    pub message: *const u8,
    /// The message's length in bytes.
    pub message_len: usize,
    /// Docker's timestamp of the line, in nanoseconds since the Unix epoch.
    pub timestamp_ns: i64,
    /// `CAPTURE_STREAM_STDOUT`, `CAPTURE_STREAM_STDERR` or `CAPTURE_STREAM_CONSOLE`.
    pub stream: u32,
    /// `CAPTURE_FLAG_*` bits.
    pub flags: u32,
}

/// A batch of records: a contiguous array the host reads in place. The
/// library owns it; free it with `capture_batch_free`.
#[repr(C)]
pub struct capture_batch {
    /// `len` records, in delivery order (per container and stream, the
    /// order the daemon logged them).
    pub records: *const capture_record,
    /// The number of records (0 when the poll timed out).
    pub len: usize,
    /// The sum of the records' `message_len`.
    pub message_bytes: usize,
}

/// The batch and what keeps its pointers valid. `public` comes first so a
/// `*mut capture_batch` is a `*mut Batch`.
#[repr(C)]
struct Batch {
    public: capture_batch,
    views: Vec<capture_record>,
    records: Vec<Record>,
    /// With `checkpoint_path`: what freeing the batch acknowledges it to.
    acknowledge: Option<Acknowledger>,
}

impl Batch {
    /// The records, with C views pointing into them.
    fn new(records: Vec<Record>, acknowledge: Option<Acknowledger>) -> Box<Batch> {
        let views: Vec<capture_record> = records
            .iter()
            .map(|r| capture_record {
                container_id: r.container.id.as_ptr(),
                container_name: r.container.name.as_ptr(),
                container_image: r.container.image.as_ptr(),
                message: r.message.as_ptr(),
                message_len: r.message.len(),
                timestamp_ns: r.ts_ns,
                stream: r.stream as u32,
                flags: r.flags,
            })
            .collect();
        let message_bytes = views.iter().map(|v| v.message_len).sum();
        let records_ptr = if views.is_empty() { ptr::null() } else { views.as_ptr() };
        let public = capture_batch { records: records_ptr, len: views.len(), message_bytes };
        // The views' heap buffer does not move when the Vec moves into the box.
        Box::new(Batch { public, views, records, acknowledge })
    }
}

/// A running capture. Opaque to the host.
pub struct capture_handle {
    state: HandleState,
}

/// Starts a capture with a JSON configuration (`"{}"` for every
/// default; the keys are listed in README.md, "Configuration").
///
/// On success writes the new handle to `*out_handle`. The caller now
/// owns the handle and must call `capture_stop` and then `capture_free`
/// when done. On failure `*out_handle` is left as it was and
/// `capture_last_error(NULL, …)` holds the reason (naming the bad key).
///
/// The Docker daemon need not be reachable: the capture retries with
/// backoff and recovers by itself. The library's log lines go to stderr
/// until `capture_set_log_callback`; `capture_start_with_log` sends every
/// line, from the first, to a callback.
#[no_mangle]
pub unsafe extern "C" fn capture_start(
    config_json: *const c_char,
    out_handle: *mut *mut capture_handle,
) -> capture_result {
    // SAFETY: the caller's pointers, as `start` requires them.
    guard(CAPTURE_ERR_PANIC, || unsafe { start(config_json, None, ptr::null_mut(), out_handle) })
}

/// Like `capture_start`, with the log callback (see
/// `capture_set_log_callback`) in place before the capture does anything,
/// so no line goes to stderr. `callback` may be NULL (stderr).
#[no_mangle]
pub unsafe extern "C" fn capture_start_with_log(
    config_json: *const c_char,
    callback: capture_log_callback,
    user_data: *mut c_void,
    out_handle: *mut *mut capture_handle,
) -> capture_result {
    // SAFETY: the caller's pointers, as `start` requires them.
    guard(CAPTURE_ERR_PANIC, || unsafe { start(config_json, callback, user_data, out_handle) })
}

/// # Safety
/// `config_json` is NULL or a NUL-terminated string; `out_handle` is NULL or
/// writable.
unsafe fn start(
    config_json: *const c_char,
    callback: capture_log_callback,
    user_data: *mut c_void,
    out_handle: *mut *mut capture_handle,
) -> capture_result {
    if config_json.is_null() || out_handle.is_null() {
        set_start_error("capture_start: config_json and out_handle must not be NULL");
        return CAPTURE_ERR_NULL_ARGUMENT;
    }
    // SAFETY: not NULL (checked); NUL-terminated by the caller's contract.
    let Ok(text) = (unsafe { str_arg(config_json) }) else {
        set_start_error("capture_start: config_json is not valid UTF-8");
        return CAPTURE_ERR_INVALID_ARGUMENT;
    };
    let config = match Config::from_json(text) {
        Ok(c) => c,
        Err(e) => {
            set_start_error(e.0);
            return CAPTURE_ERR_INVALID_CONFIG;
        }
    };
    let engine = match Engine::start(config, callback_sink(callback, user_data)) {
        Ok(e) => e,
        Err(EngineError::Config(message)) => {
            set_start_error(message);
            return CAPTURE_ERR_INVALID_CONFIG;
        }
        Err(EngineError::Runtime(message)) => {
            set_start_error(message);
            return CAPTURE_ERR_RUNTIME;
        }
    };
    let handle = Box::new(capture_handle { state: HandleState::new(engine) });
    // SAFETY: not NULL (checked) and writable by the caller's contract.
    unsafe { *out_handle = Box::into_raw(handle) };
    CAPTURE_OK
}

/// Takes up to `max_records` records, waiting at most `timeout_ms`
/// milliseconds for the first one (0: do not wait).
///
/// On success writes a batch to `*out_batch`; it has `len == 0` when the
/// wait timed out. The caller now owns the batch and must call
/// `capture_batch_free` when done; it stays valid after `capture_stop`.
/// Returns `CAPTURE_ERR_STOPPED` once the capture is stopped, including
/// when `capture_stop` is called from another thread during the wait.
///
/// May be called from several threads at once.
#[no_mangle]
pub unsafe extern "C" fn capture_poll(
    handle: *mut capture_handle,
    max_records: usize,
    timeout_ms: u32,
    out_batch: *mut *mut capture_batch,
) -> capture_result {
    guard(CAPTURE_ERR_PANIC, || {
        if out_batch.is_null() {
            return CAPTURE_ERR_NULL_ARGUMENT;
        }
        // SAFETY: `handle` is the caller's, as `with_handle` requires.
        unsafe {
            with_handle(handle, CAPTURE_ERR_NULL_ARGUMENT, |h| {
                if max_records == 0 {
                    h.set_error("capture_poll: max_records must be at least 1");
                    return CAPTURE_ERR_INVALID_ARGUMENT;
                }
                let Ok(records) = h.engine.poll(max_records, Duration::from_millis(timeout_ms as u64)) else {
                    h.set_error("capture_poll: the capture is stopped");
                    return CAPTURE_ERR_STOPPED;
                };
                let batch = Batch::new(records, h.engine.acknowledger());
                // SAFETY: not NULL (checked) and writable by the caller's
                // contract; `Batch` starts with its `capture_batch`.
                *out_batch = Box::into_raw(batch) as *mut capture_batch;
                CAPTURE_OK
            })
        }
    })
}

/// Frees a batch from `capture_poll`. With `checkpoint_path`, this is
/// what tells the capture the host has received its records: their
/// positions may then be saved (until `capture_stop`; batches freed after
/// it are read again by the next capture). Calling with NULL is fine. Must
/// not be called twice for the same batch.
#[no_mangle]
pub unsafe extern "C" fn capture_batch_free(batch: *mut capture_batch) {
    guard((), || {
        if !batch.is_null() {
            // SAFETY: a pointer from `capture_poll` (a boxed `Batch`, whose
            // first field is the `capture_batch`), freed once by contract.
            let batch = unsafe { Box::from_raw(batch as *mut Batch) };
            if let Some(acknowledger) = &batch.acknowledge {
                acknowledger.acknowledge(&batch.records);
            }
        }
    })
}

/// Hands `text` to the caller as a C string in `*out` (checked not NULL).
///
/// # Safety
/// `out` is NULL or writable.
unsafe fn give_string(out: *mut *mut c_char, text: String) -> capture_result {
    if out.is_null() {
        return CAPTURE_ERR_NULL_ARGUMENT;
    }
    // SAFETY: not NULL (checked) and writable by the contract.
    unsafe { *out = message_cstring(text).into_raw() };
    CAPTURE_OK
}

/// Writes the capture's statistics as a JSON document to `*out_json`:
/// per container its rotations, last rotation, stream age, reopen
/// reasons and errors; engine-wide tasks, open FDs, queue depth. The
/// caller now owns the string and must call `capture_string_free`.
///
/// Works after `capture_stop` too (the last figures).
#[no_mangle]
pub unsafe extern "C" fn capture_stats(handle: *mut capture_handle, out_json: *mut *mut c_char) -> capture_result {
    guard(CAPTURE_ERR_PANIC, || {
        if out_json.is_null() {
            return CAPTURE_ERR_NULL_ARGUMENT;
        }
        // SAFETY: the caller's pointers, as `with_handle` and `give_string`
        // require them.
        unsafe {
            with_handle(handle, CAPTURE_ERR_NULL_ARGUMENT, |h| give_string(out_json, h.engine.stats_json().to_string()))
        }
    })
}

/// Writes the capture's Prometheus metrics (text exposition format
/// 0.0.4) to `*out_text`, for hosts that serve `/metrics` themselves. The
/// caller now owns the string and must call `capture_string_free`.
#[no_mangle]
pub unsafe extern "C" fn capture_metrics_text(
    handle: *mut capture_handle,
    out_text: *mut *mut c_char,
) -> capture_result {
    guard(CAPTURE_ERR_PANIC, || {
        if out_text.is_null() {
            return CAPTURE_ERR_NULL_ARGUMENT;
        }
        // SAFETY: the caller's pointers, as `with_handle` and `give_string`
        // require them.
        unsafe { with_handle(handle, CAPTURE_ERR_NULL_ARGUMENT, |h| give_string(out_text, h.engine.metrics_text())) }
    })
}

/// Writes a followed container's identity as JSON (`id`, `name`,
/// `image`, `labels`, `created`, `tty`, `log_driver`) to `*out_json`.
/// `id_or_name` is a full id, an id prefix of 12 or more characters, or
/// a name. The caller now owns the string and must call
/// `capture_string_free`. `CAPTURE_ERR_NOT_FOUND` when unknown.
#[no_mangle]
pub unsafe extern "C" fn capture_container_info(
    handle: *mut capture_handle,
    id_or_name: *const c_char,
    out_json: *mut *mut c_char,
) -> capture_result {
    guard(CAPTURE_ERR_PANIC, || {
        if id_or_name.is_null() || out_json.is_null() {
            return CAPTURE_ERR_NULL_ARGUMENT;
        }
        // SAFETY: the caller's pointers, as `with_handle`, `str_arg` (not
        // NULL: checked) and `give_string` require them.
        unsafe {
            with_handle(handle, CAPTURE_ERR_NULL_ARGUMENT, |h| {
                let Ok(key) = str_arg(id_or_name) else {
                    h.set_error("capture_container_info: id_or_name is not valid UTF-8");
                    return CAPTURE_ERR_INVALID_ARGUMENT;
                };
                match h.engine.container_json(key) {
                    Some(v) => give_string(out_json, v.to_string()),
                    None => {
                        h.set_error(format!("capture_container_info: no container {key:?} is known"));
                        CAPTURE_ERR_NOT_FOUND
                    }
                }
            })
        }
    })
}

/// Frees a string from `capture_stats`, `capture_metrics_text` or
/// `capture_container_info`. Calling with NULL is fine. Must not be called
/// twice.
#[no_mangle]
pub unsafe extern "C" fn capture_string_free(s: *mut c_char) {
    guard((), || {
        if !s.is_null() {
            // SAFETY: a string this library made with `CString::into_raw`,
            // freed once by contract.
            drop(unsafe { CString::from_raw(s) });
        }
    })
}

/// Wakes every `capture_poll` blocked on this handle right now: each
/// returns `CAPTURE_OK` at once with what is queued (possibly nothing). The
/// capture keeps running. For hosts that cancel a blocking poll (Go's
/// context, a shutdown signal) without stopping. Thread-safe.
#[no_mangle]
pub unsafe extern "C" fn capture_wake(handle: *mut capture_handle) -> capture_result {
    guard(CAPTURE_ERR_PANIC, || {
        // SAFETY: the caller's handle, as `with_handle` requires it.
        unsafe {
            with_handle(handle, CAPTURE_ERR_NULL_ARGUMENT, |h| {
                h.engine.wake_pollers();
                CAPTURE_OK
            })
        }
    })
}

/// Stops the capture: wakes every `capture_poll` blocked in another
/// thread (it returns `CAPTURE_ERR_STOPPED`), closes every stream and
/// joins the engine's thread, within 5 seconds.
///
/// Idempotent and thread-safe: a second call returns `CAPTURE_OK` at
/// once. Records not yet polled are dropped (they are still in the
/// daemon's log). `CAPTURE_ERR_STOP_TIMEOUT` if the engine's thread did
/// not end in time (it is then left running, detached).
#[no_mangle]
pub unsafe extern "C" fn capture_stop(handle: *mut capture_handle) -> capture_result {
    guard(CAPTURE_ERR_PANIC, || {
        // SAFETY: the caller's handle, as `with_handle` requires it.
        unsafe {
            with_handle(handle, CAPTURE_ERR_NULL_ARGUMENT, |h| match h.engine.stop() {
                Ok(()) => CAPTURE_OK,
                Err(e) => {
                    h.set_error(e.message());
                    CAPTURE_ERR_STOP_TIMEOUT
                }
            })
        }
    })
}

/// Frees a handle, stopping it first if needed. Waits for calls still
/// in progress on it in other threads (a blocked poll is woken), so it
/// never races them; no call may *start* on the handle once this has
/// been called. Calling with NULL is fine. Must not be called twice.
#[no_mangle]
pub unsafe extern "C" fn capture_free(handle: *mut capture_handle) {
    guard((), || {
        if handle.is_null() {
            return;
        }
        // SAFETY: a handle from `capture_start`, not freed yet (contract).
        let state = unsafe { &(*handle).state };
        let _ = state.engine.stop();
        state.wait_idle();
        // An engine thread that did not stop in time must not call the
        // host's callback after this returns.
        state.engine.set_log_sink(None);
        // SAFETY: made by `Box::into_raw` in `start`; no call is in
        // progress (waited for) and none may start (contract).
        drop(unsafe { Box::from_raw(handle) });
    })
}

/// Copies the message of the last failed call on `handle` (or, with
/// `handle` NULL, of the last failed `capture_start` in this process) into
/// `buf`, NUL-terminated and cut to fit `len` bytes. Like `errno`, it is
/// meaningful right after a call returned an error; successful calls do
/// not clear it. Returns the message's full length (without the NUL), so a
/// caller can retry with a bigger buffer; 0 when there is none. `buf` may
/// be NULL when `len` is 0.
#[no_mangle]
pub unsafe extern "C" fn capture_last_error(handle: *const capture_handle, buf: *mut c_char, len: usize) -> usize {
    guard(0, || {
        // SAFETY: the caller's handle, as `with_handle` requires it.
        let message = unsafe { with_handle(handle, handle::start_error(), |h| h.last_error()) };
        let Some(message) = message else { return 0 };
        let bytes = message.as_bytes();
        if !buf.is_null() && len > 0 {
            let n = bytes.len().min(len - 1);
            // SAFETY: `buf` holds `len` bytes (contract); `n + 1 <= len`.
            unsafe {
                ptr::copy_nonoverlapping(bytes.as_ptr(), buf as *mut u8, n);
                *buf.add(n) = 0;
            }
        }
        bytes.len()
    })
}

/// Log level of a message given to a `capture_log_callback`.
pub const CAPTURE_LOG_ERROR: i32 = 1;
/// Log level: something went wrong and was retried or worked around.
pub const CAPTURE_LOG_WARN: i32 = 2;
/// Log level: lifecycle (containers followed, drained).
pub const CAPTURE_LOG_INFO: i32 = 3;
/// Log level: detail (reopens, widenings).
pub const CAPTURE_LOG_DEBUG: i32 = 4;

const _: () = assert!(
    CAPTURE_LOG_ERROR == crate::log::LogLevel::Error as i32
        && CAPTURE_LOG_WARN == crate::log::LogLevel::Warn as i32
        && CAPTURE_LOG_INFO == crate::log::LogLevel::Info as i32
        && CAPTURE_LOG_DEBUG == crate::log::LogLevel::Debug as i32
);

/// Receives the library's log lines: a `CAPTURE_LOG_*` level and a
/// NUL-terminated line (a sentence, then `key=value` fields) valid only
/// during the call. Called from the library's own thread (and from the
/// caller's threads): it must be thread-safe, return quickly, and not call
/// back into the library. It is not called once `capture_free` has
/// returned (nor after `capture_stop` returned `CAPTURE_OK`).
pub type capture_log_callback =
    Option<unsafe extern "C" fn(user_data: *mut c_void, level: i32, message: *const c_char)>;

/// Sends the library's log lines for this handle to `callback` instead of
/// stderr (lines at or below the configured `log_level`); NULL restores
/// stderr. `user_data` is passed back as is and must stay valid until
/// `capture_stop` returns `CAPTURE_OK`, or else until `capture_free`
/// returns.
#[no_mangle]
pub unsafe extern "C" fn capture_set_log_callback(
    handle: *mut capture_handle,
    callback: capture_log_callback,
    user_data: *mut c_void,
) -> capture_result {
    guard(CAPTURE_ERR_PANIC, || {
        // SAFETY: the caller's handle, as `with_handle` requires it.
        unsafe {
            with_handle(handle, CAPTURE_ERR_NULL_ARGUMENT, |h| {
                h.engine.set_log_sink(callback_sink(callback, user_data));
                CAPTURE_OK
            })
        }
    })
}

/// The library's version, e.g. `"0.1.0"`. A static string; do not free.
#[no_mangle]
pub extern "C" fn capture_version() -> *const c_char {
    concat!(env!("CARGO_PKG_VERSION"), "\0").as_ptr() as *const c_char
}

/// A static description of a result code (any integer; unknown codes
/// get "unknown result code"). Do not free.
#[no_mangle]
pub extern "C" fn capture_result_message(result: i32) -> *const c_char {
    capture_result::from_code(result).map_or(c"unknown result code", capture_result::message).as_ptr()
}
