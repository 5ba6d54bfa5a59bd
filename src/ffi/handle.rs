//! What a handle is behind its pointer: the engine, the last error, and
//! the count of calls in progress that `capture_free` waits for. Every
//! export that takes a handle goes through `with_handle`.

use std::ffi::{c_char, CStr, CString};
use std::sync::{Condvar, Mutex, MutexGuard};

use once_cell::sync::Lazy;

use super::capture_handle;
use crate::engine::Engine;

/// The last `capture_start` failure in this process (there is no handle to
/// keep it on).
static START_ERROR: Lazy<Mutex<Option<CString>>> = Lazy::new(|| Mutex::new(None));

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A message as a C string (a NUL inside becomes a space).
pub fn message_cstring(message: impl Into<String>) -> CString {
    CString::new(message.into().replace('\0', " ")).unwrap_or_default()
}

pub fn set_start_error(message: impl Into<String>) {
    *lock(&START_ERROR) = Some(message_cstring(message));
}

pub fn start_error() -> Option<CString> {
    lock(&START_ERROR).clone()
}

/// A handle's parts.
pub struct HandleState {
    pub engine: Engine,
    last_error: Mutex<Option<CString>>,
    /// Calls in progress on this handle; `capture_free` waits for them.
    in_flight: Mutex<usize>,
    idle: Condvar,
}

impl HandleState {
    pub fn new(engine: Engine) -> HandleState {
        HandleState { engine, last_error: Mutex::new(None), in_flight: Mutex::new(0), idle: Condvar::new() }
    }

    pub fn set_error(&self, message: impl Into<String>) {
        *lock(&self.last_error) = Some(message_cstring(message));
    }

    pub fn last_error(&self) -> Option<CString> {
        lock(&self.last_error).clone()
    }

    /// Waits until no call is in progress on the handle.
    pub fn wait_idle(&self) {
        let mut n = lock(&self.in_flight);
        while *n > 0 {
            n = self.idle.wait(n).unwrap_or_else(|e| e.into_inner());
        }
    }

    /// Marks a call in progress until the guard drops.
    fn enter(&self) -> InFlight<'_> {
        *lock(&self.in_flight) += 1;
        InFlight(self)
    }
}

struct InFlight<'a>(&'a HandleState);

impl Drop for InFlight<'_> {
    fn drop(&mut self) {
        let mut n = lock(&self.0.in_flight);
        *n -= 1;
        if *n == 0 {
            self.0.idle.notify_all();
        }
    }
}

/// Runs `call` on the handle behind `handle`, counted as a call in progress
/// (so `capture_free` waits for it); `on_null` when `handle` is NULL.
///
/// # Safety
/// `handle` is NULL or a pointer from `capture_start` not yet given to
/// `capture_free` (the ABI's contract with the caller).
pub unsafe fn with_handle<R>(handle: *const capture_handle, on_null: R, call: impl FnOnce(&HandleState) -> R) -> R {
    // SAFETY: by this function's contract the pointer is NULL (checked by
    // `as_ref`) or points at a live handle, which `capture_free` frees only
    // once no call is in progress.
    let Some(handle) = (unsafe { handle.as_ref() }) else {
        return on_null;
    };
    let _call = handle.state.enter();
    call(&handle.state)
}

/// A C string argument as UTF-8.
///
/// # Safety
/// `p` is a non-NULL pointer to a NUL-terminated string that stays valid
/// for the returned lifetime.
pub unsafe fn str_arg<'a>(p: *const c_char) -> Result<&'a str, ()> {
    // SAFETY: as the function's contract says.
    unsafe { CStr::from_ptr(p) }.to_str().map_err(|_| ())
}
