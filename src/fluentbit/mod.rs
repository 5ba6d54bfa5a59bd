//! The Fluent Bit input plugin: the symbols Fluent Bit's Go-proxy loader
//! looks up in a shared object given with `-e` (it needs no Go, only these
//! C symbols), built on the engine.
//!
//! ```text
//! fluent-bit -e ./liblog_capturer.so -i log_capturer -p include_containers=web -o stdout
//! ```
//!
//! How Fluent Bit drives them (`src/flb_plugin_proxy.c`, `src/proxy/go/go.c`
//! in `fluent/fluent-bit`):
//!
//! - `FLBPluginRegister(def)` on the main thread, again on every hot reload.
//! - `FLBPluginInit(plugin)` on the instance's own thread; <= 0 aborts
//!   start-up.
//! - `FLBPluginInputCallback(&buf, &len)` once a second on that thread (the
//!   interval is fixed). Fluent Bit copies `buf`, then calls
//!   `FLBPluginInputCleanupCallback(buf)`. With `len == 0` it calls nothing
//!   more (since 2.2), so no buffer is allocated then.
//! - `FLBPluginExit()` on that thread at shutdown or before a hot reload
//!   starts the new configuration (Register, Exit of the old instance, Init
//!   of the new one, in that order: `src/flb_reload.c`).
//!
//! The callbacks carry no context, so an instance is found by the thread
//! it was started on (each threaded input has its own), or is the only one.
//! State lives in a static that Init fills and Exit empties.
//!
//! Every export runs inside `guard` (the C ABI's): a panic never unwinds
//! into Fluent Bit.
//! The buffer handed over is `malloc`ed, so Fluent Bit versions that free
//! it themselves instead of calling the cleanup callback free it correctly.
//!
//! When Fluent Bit pauses the input (its buffers are full), the callback is
//! not called; the engine's bounded queue fills and its readers stop
//! reading until the callback drains it again: nothing is lost.

#![allow(clippy::missing_safety_doc)]

mod abi;
pub mod properties;
pub mod record;

use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};
use std::thread::ThreadId;
use std::time::{Duration, Instant};

use abi::*;

use crate::engine::{Acknowledger, Engine};
use crate::ffi::guard;
use crate::log::{LogLevel, Sink};
use properties::PluginOptions;

/// The input's name (`-i log_capturer`). Not `docker`: Fluent Bit has a
/// built-in input of that name, and built-in names win.
static NAME: &CStr = c"log_capturer";
static DESCRIPTION: &CStr = c"Docker container logs through the Docker Engine API (log-capturer)";

/// How many records one poll of the engine's queue takes.
const POLL_CHUNK: usize = 256;
/// Room beyond `batch_max_bytes` for the poll that crosses it.
const BUFFER_SLACK: usize = 256 << 10;

// ---- Logging through Fluent Bit's `log_print`.

/// Where the instance's log lines go while it lives.
struct LogTarget {
    log_print: LogPrintFn,
    log_check: Option<LogCheckFn>,
    instance: *mut c_void,
}

/// The engine's log sink: Fluent Bit's own logger, until Exit detaches it
/// (after which lines go to stderr, never to a freed instance).
struct FluentBitLog {
    target: RwLock<Option<LogTarget>>,
}

// SAFETY: the target's pointers stay valid until `detach`, which waits
// (write lock) for every line being printed; Fluent Bit's logger is
// thread-safe.
unsafe impl Send for FluentBitLog {}
// SAFETY: as for Send.
unsafe impl Sync for FluentBitLog {}

impl FluentBitLog {
    fn new(api: &flb_api, instance: *mut c_void) -> FluentBitLog {
        let target = api.log_print.map(|log_print| LogTarget { log_print, log_check: api.input_log_check, instance });
        FluentBitLog { target: RwLock::new(target) }
    }

    /// The most verbose level the instance logs (its `log_level`).
    fn instance_level(&self) -> LogLevel {
        let target = self.target.read().unwrap_or_else(|e| e.into_inner());
        let Some(LogTarget { log_check: Some(check), instance, .. }) = &*target else {
            return LogLevel::Info;
        };
        [LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error]
            .into_iter()
            // SAFETY: Fluent Bit's own function, on its live instance (see
            // `detach`).
            .find(|&level| unsafe { check(*instance, level as c_int) } != 0)
            .unwrap_or(LogLevel::Off)
    }

    fn print(&self, level: LogLevel, line: &str) {
        let target = self.target.read().unwrap_or_else(|e| e.into_inner());
        let Some(target) = &*target else {
            eprintln!("[log_capturer] {} {line}", level.label());
            return;
        };
        if let Some(check) = target.log_check {
            // SAFETY: Fluent Bit's own function, on its live instance.
            if unsafe { check(target.instance, level as c_int) } == 0 {
                return;
            }
        }
        // Fluent Bit's levels are ours: error 1, warn 2, info 3, debug 4.
        let text = CString::new(format!("[input:log_capturer] {line}").replace('\0', " ")).unwrap_or_default();
        // SAFETY: Fluent Bit's printf-like logger with a "%s" format and one
        // NUL-terminated argument that lives through the call.
        unsafe { (target.log_print)(level as c_int, c"log_capturer".as_ptr(), 0, c"%s".as_ptr(), text.as_ptr()) };
    }

    fn detach(&self) {
        *self.target.write().unwrap_or_else(|e| e.into_inner()) = None;
    }
}

// ---- Instances.

/// A running input instance.
struct Instance {
    /// The thread Init ran on: the instance's own.
    thread: ThreadId,
    engine: Engine,
    /// With `checkpoint_path`: records handed over are received.
    acknowledger: Option<Acknowledger>,
    log: Arc<FluentBitLog>,
    options: PluginOptions,
    /// The encoding buffer, reused; `unsent` when a failed `malloc` left
    /// records in it that go first next time.
    buffer: Vec<u8>,
    unsent: bool,
}

static INSTANCES: Mutex<Vec<Instance>> = Mutex::new(Vec::new());

fn instances() -> MutexGuard<'static, Vec<Instance>> {
    INSTANCES.lock().unwrap_or_else(|e| e.into_inner())
}

/// The instance of the calling thread, else the only one.
fn find_instance(list: &mut [Instance]) -> Option<&mut Instance> {
    let thread = std::thread::current().id();
    match list.iter().position(|i| i.thread == thread) {
        Some(at) => Some(&mut list[at]),
        None if list.len() == 1 => list.first_mut(),
        None => None,
    }
}

impl Instance {
    /// Encodes what is queued, without waiting, until `batch_max_bytes`
    /// or `batch_max_time` is reached (either may be passed by the records
    /// of one poll).
    fn collect(&mut self) -> &[u8] {
        if self.unsent {
            self.unsent = false;
            return &self.buffer;
        }
        let budget = self.options.batch_max_bytes;
        if self.buffer.capacity() > 4 * budget {
            self.buffer = Vec::new();
        }
        self.buffer.clear();
        // Room for a full batch up front: growing a multi-MiB buffer while
        // encoding (copy, page faults) took milliseconds.
        self.buffer.reserve(budget + BUFFER_SLACK);
        let started = Instant::now();
        while self.buffer.len() < budget && started.elapsed() < self.options.batch_max_time {
            let Ok(records) = self.engine.poll(POLL_CHUNK, Duration::ZERO) else {
                break;
            };
            for r in &records {
                record::encode(&mut self.buffer, r, self.options.record);
            }
            // Fluent Bit copies the buffer as soon as the callback returns:
            // these records are received.
            if let Some(acknowledger) = &self.acknowledger {
                acknowledger.acknowledge(&records);
            }
            if records.len() < POLL_CHUNK {
                break;
            }
        }
        &self.buffer
    }

    /// Stops the engine (within its deadline), then detaches the log.
    fn shut_down(self) {
        match self.engine.stop() {
            Ok(()) => self.log.print(LogLevel::Info, "Stopped."),
            Err(e) => self.log.print(LogLevel::Error, &format!("Stop did not finish: {e}.")),
        }
        self.log.detach();
    }
}

// ---- The exported symbols.

/// Registers the input: writes `type`, `proxy`, `flags`, `name` and
/// `description` of `def` (static strings) and nothing else. Returns 0, or
/// -1 when `def` is NULL. Called again on every hot reload.
#[no_mangle]
pub unsafe extern "C" fn FLBPluginRegister(def: *mut c_void) -> c_int {
    guard(-1, || {
        let def = def as *mut flb_plugin_proxy_def;
        if def.is_null() {
            return -1;
        }
        pin_library();
        // SAFETY: `def` is Fluent Bit's registration record (not NULL:
        // checked); only the five members every version has are written.
        unsafe {
            ptr::addr_of_mut!((*def).type_).write(FLB_PROXY_INPUT_PLUGIN);
            ptr::addr_of_mut!((*def).proxy).write(FLB_PROXY_GOLANG);
            ptr::addr_of_mut!((*def).flags).write(0);
            ptr::addr_of_mut!((*def).name).write(NAME.as_ptr() as *mut c_char);
            ptr::addr_of_mut!((*def).description).write(DESCRIPTION.as_ptr() as *mut c_char);
        }
        0
    })
}

/// Keeps this library mapped for the life of the process. Fluent Bit
/// `dlclose`s it on shutdown and hot reload; an engine thread that outlived
/// its stop deadline must never find its code unmapped.
fn pin_library() {
    static PINNED: std::sync::Once = std::sync::Once::new();
    // SAFETY: dladdr fills `info` for an address of this library (a
    // plain C struct, valid zeroed); dlopen gets the path it returned.
    PINNED.call_once(|| unsafe {
        let mut info: libc::Dl_info = std::mem::zeroed();
        let symbol = FLBPluginRegister as *const c_void;
        if libc::dladdr(symbol, &mut info) != 0 && !info.dli_fname.is_null() {
            // The handle is kept on purpose: the library stays loaded.
            libc::dlopen(info.dli_fname, libc::RTLD_NOW | libc::RTLD_NOLOAD | libc::RTLD_NODELETE);
        }
    });
}

/// Starts an instance: reads every property through
/// `plugin->api->input_get_property`, refuses unknown or bad ones (a log
/// line names the key), and starts the engine. Returns 1, or 0 to abort
/// Fluent Bit's start-up. An instance already started on this thread is
/// stopped first.
#[no_mangle]
pub unsafe extern "C" fn FLBPluginInit(plugin: *mut c_void) -> c_int {
    // SAFETY: Fluent Bit's plugin record, as `init` requires it.
    guard(FLB_ERROR, || unsafe { init(plugin as *mut flbgo_input_plugin) })
}

/// # Safety
/// `plugin` is NULL or Fluent Bit's live `flbgo_input_plugin`.
unsafe fn init(plugin: *mut flbgo_input_plugin) -> c_int {
    // SAFETY: NULL or Fluent Bit's plugin record, whose API table lives as
    // long as the instance (checked for NULL before use).
    let Some((api, instance)) = (unsafe { plugin.as_ref() }).and_then(|p| unsafe { p.api.as_ref() }.map(|a| (a, p.i_ins)))
    else {
        eprintln!("[log_capturer] ERROR FLBPluginInit: no plugin or API table was given.");
        return FLB_ERROR;
    };
    let log = Arc::new(FluentBitLog::new(api, instance));
    let (config, options) = match read_properties(api, instance, &log) {
        Ok(read) => read,
        Err(message) => {
            log.print(LogLevel::Error, &message);
            return FLB_ERROR;
        }
    };
    let sink_log = log.clone();
    let sink: Sink = Arc::new(move |level: LogLevel, line: &str| sink_log.print(level, line));
    let engine = match Engine::start(config, Some(sink)) {
        Ok(engine) => engine,
        Err(e) => {
            log.print(LogLevel::Error, &format!("Cannot start: {e}."));
            return FLB_ERROR;
        }
    };
    log.print(
        LogLevel::Info,
        &format!(
            "Started. docker_host={} batch_max_bytes={} batch_max_time={:?} version={}",
            engine.docker_host(),
            options.batch_max_bytes,
            options.batch_max_time,
            env!("CARGO_PKG_VERSION")
        ),
    );
    let acknowledger = engine.acknowledger();
    let thread = std::thread::current().id();
    let instance = Instance { thread, engine, acknowledger, log, options, buffer: Vec::new(), unsent: false };
    let replaced = {
        let mut list = instances();
        let replaced = list.iter().position(|i| i.thread == instance.thread).map(|at| list.remove(at));
        list.push(instance);
        replaced
    };
    if let Some(old) = replaced {
        old.shut_down();
    }
    FLB_OK
}

/// Reads and checks every property of the instance; the error is a line
/// for Fluent Bit's log.
fn read_properties(
    api: &flb_api,
    instance: *mut c_void,
    log: &FluentBitLog,
) -> Result<(crate::config::Config, PluginOptions), String> {
    let Some(get_property) = api.input_get_property else {
        return Err("Fluent Bit gave no input_get_property; cannot read the properties.".into());
    };
    let get = |key: &str| -> Result<Option<String>, String> {
        let key_c = CString::new(key).map_err(|_| format!("Invalid property key {key:?}."))?;
        // SAFETY: Fluent Bit's own lookup on its live instance, with a
        // NUL-terminated key that lives through the call.
        let value = unsafe { get_property(key_c.as_ptr(), instance) };
        if value.is_null() {
            return Ok(None);
        }
        // SAFETY: a NUL-terminated string Fluent Bit owns; copied at once.
        match unsafe { CStr::from_ptr(value) }.to_str() {
            Ok(text) => Ok(Some(text.to_string())),
            Err(_) => Err(format!("Invalid property {key}: the value is not UTF-8.")),
        }
    };
    let args: Vec<String> = std::env::args_os().map(|a| a.to_string_lossy().into_owned()).collect();
    let written = properties::written_keys(&args, &|path| std::fs::read_to_string(path).ok());
    properties::read(&get, &written, log.instance_level()).map_err(|e| e.0)
}

/// Hands Fluent Bit what the engine has queued, without waiting: a
/// `malloc`ed buffer of msgpack records in `*buf` and its length in
/// `*len`, or NULL and 0 when there is nothing. Fluent Bit copies it and
/// then frees it with `FLBPluginInputCleanupCallback` (or `free`). Returns
/// 1 (0 when the arguments are NULL or on a panic, with `*len` 0).
#[no_mangle]
pub unsafe extern "C" fn FLBPluginInputCallback(buf: *mut *mut c_void, len: *mut usize) -> c_int {
    if buf.is_null() || len.is_null() {
        return FLB_ERROR;
    }
    // SAFETY: Fluent Bit's out-parameters, not NULL (checked).
    unsafe {
        *buf = ptr::null_mut();
        *len = 0;
    }
    guard(FLB_ERROR, || {
        let mut list = instances();
        let Some(instance) = find_instance(&mut list) else {
            return FLB_OK;
        };
        let encoded = instance.collect();
        if encoded.is_empty() {
            return FLB_OK;
        }
        let size = encoded.len();
        // SAFETY: a plain allocation; NULL is handled below.
        let copy = unsafe { libc::malloc(size) };
        if copy.is_null() {
            instance.unsent = true;
            instance.log.print(LogLevel::Error, &format!("Out of memory for a batch; retrying. bytes={size}"));
            return FLB_OK;
        }
        // SAFETY: `copy` holds `size` bytes and does not overlap `encoded`;
        // the out-parameters were checked above.
        unsafe {
            ptr::copy_nonoverlapping(encoded.as_ptr(), copy as *mut u8, size);
            *buf = copy;
            *len = size;
        }
        FLB_OK
    })
}

/// Frees a buffer from `FLBPluginInputCallback`. NULL is fine. Returns 1.
#[no_mangle]
pub unsafe extern "C" fn FLBPluginInputCleanupCallback(buf: *mut c_void) -> c_int {
    guard(FLB_ERROR, || {
        if !buf.is_null() {
            // SAFETY: a buffer `FLBPluginInputCallback` malloc'ed, freed
            // once (Fluent Bit's contract).
            unsafe { libc::free(buf) };
        }
        FLB_OK
    })
}

/// Stops the calling thread's instance (else every instance): the engine
/// stops within 5 s, and the instance's log lines stop reaching Fluent
/// Bit. Records not yet handed over are dropped (the daemon still has
/// them). Returns 1.
#[no_mangle]
pub unsafe extern "C" fn FLBPluginExit() -> c_int {
    guard(FLB_ERROR, || {
        let stopping: Vec<Instance> = {
            let mut list = instances();
            let thread = std::thread::current().id();
            match list.iter().position(|i| i.thread == thread) {
                Some(at) => vec![list.remove(at)],
                None => list.drain(..).collect(),
            }
        };
        for instance in stopping {
            instance.shut_down();
        }
        FLB_OK
    })
}
