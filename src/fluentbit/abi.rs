//! The parts of Fluent Bit's proxy-plugin ABI this plugin touches, as
//! Fluent Bit defines them (read in `fluent/fluent-bit`, v2.1.0 to v5.1.1):
//!
//! - `include/fluent-bit/flb_plugin_proxy.h`: `struct flb_plugin_proxy_def`
//!   (type, proxy, flags, name, description; 4.2.3 appended `event_type` and
//!   `config_map`, which older versions do not have, so they are not
//!   declared here and never written).
//! - `src/proxy/go/go.h`: `struct flbgo_input_plugin`, whose first four
//!   members (name, api, i_ins, context) have not changed since 2.0; only
//!   `api` and `i_ins` are read.
//! - `include/fluent-bit/flb_api.h`: `struct flb_api`, filled by
//!   `flb_api_create()` in `src/flb_api.c`: `input_get_property` is its
//!   second member (`flb_input_get_property`), `log_print` its fifth
//!   (`flb_log_print(type, file, line, fmt, ...)`), `input_log_check` its
//!   sixth (`flb_input_log_check(ins, level)`). The `*_cmt_instance` members
//!   are left unset without metrics support and are never read.
//! - The Go SDK's copy of the same structs: `fluent/fluent-bit-go`,
//!   `input/flb_plugin.h` and `input/flb_input.h`.

#![allow(non_camel_case_types)]

use std::ffi::{c_char, c_int, c_void};

/// `FLB_PROXY_INPUT_PLUGIN`.
pub const FLB_PROXY_INPUT_PLUGIN: c_int = 1;
/// `FLB_PROXY_GOLANG`: the only proxy Fluent Bit accepts.
pub const FLB_PROXY_GOLANG: c_int = 11;
/// What Init, the callback and Exit return when they worked (`FLB_OK` of
/// fluent-bit-go).
pub const FLB_OK: c_int = 1;
/// What Init returns to abort start-up (`FLB_ERROR` of fluent-bit-go; any
/// value <= 0 does).
pub const FLB_ERROR: c_int = 0;

/// The registration record. Only these five members exist in every
/// version; the plugin writes them and nothing after them.
#[repr(C)]
pub struct flb_plugin_proxy_def {
    pub type_: c_int,
    pub proxy: c_int,
    pub flags: c_int,
    pub name: *mut c_char,
    pub description: *mut c_char,
}

/// `const char *(*)(const char *key, struct flb_input_instance *)`.
pub type GetPropertyFn = unsafe extern "C" fn(key: *const c_char, instance: *mut c_void) -> *const c_char;
/// `void (*)(int type, const char *file, int line, const char *fmt, ...)`.
pub type LogPrintFn = unsafe extern "C" fn(level: c_int, file: *const c_char, line: c_int, fmt: *const c_char, ...);
/// `int (*)(struct flb_input_instance *, int level)`: non-zero when the
/// instance logs at `level`.
pub type LogCheckFn = unsafe extern "C" fn(instance: *mut c_void, level: c_int) -> c_int;

/// The API table Fluent Bit hands to Init (its first seven members).
#[repr(C)]
pub struct flb_api {
    pub output_get_property: Option<GetPropertyFn>,
    pub input_get_property: Option<GetPropertyFn>,
    pub output_get_cmt_instance: *mut c_void,
    pub input_get_cmt_instance: *mut c_void,
    pub log_print: Option<LogPrintFn>,
    pub input_log_check: Option<LogCheckFn>,
    pub output_log_check: *mut c_void,
}

/// What Init receives (its first four members; the callbacks after them
/// belong to Fluent Bit).
#[repr(C)]
pub struct flbgo_input_plugin {
    pub name: *mut c_char,
    pub api: *mut flb_api,
    pub i_ins: *mut c_void,
    pub context: *mut c_void,
}
