//! The host's log callback as the engine's log sink.

use std::ffi::c_void;
use std::sync::Arc;

use super::capture_log_callback;
use super::handle::message_cstring;
use crate::log::{LogLevel, Sink};

struct CallbackSink {
    callback: unsafe extern "C" fn(*mut c_void, i32, *const std::ffi::c_char),
    user_data: *mut c_void,
}

// SAFETY: the host promises (`capture_log_callback`) that the callback is
// thread-safe and that `user_data` may be used from any thread.
unsafe impl Send for CallbackSink {}
// SAFETY: as for Send: the callback may be called from several threads.
unsafe impl Sync for CallbackSink {}

impl CallbackSink {
    fn call(&self, level: LogLevel, line: &str) {
        let text = message_cstring(line);
        // SAFETY: the host gave this function pointer and its user data for
        // exactly this use; `text` lives until the call returns.
        unsafe { (self.callback)(self.user_data, level as i32, text.as_ptr()) };
    }
}

/// The sink calling `callback` (None: stderr).
pub fn callback_sink(callback: capture_log_callback, user_data: *mut c_void) -> Option<Sink> {
    callback.map(|callback| {
        let sink = CallbackSink { callback, user_data };
        Arc::new(move |level: LogLevel, line: &str| sink.call(level, line)) as Sink
    })
}
