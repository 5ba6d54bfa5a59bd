"""The C ABI of liblog_capturer through ctypes: finding and loading the
library, the structs of ``include/log_capturer.h`` mirrored field for field,
and ``argtypes``/``restype`` for every exported function.

This is the low level: pointers in, result codes out. `log_capturer.Capture`
is the safe API built on it.
"""

from __future__ import annotations

import ctypes
import os
import sys
import threading
from ctypes import POINTER, c_char, c_char_p, c_int, c_int32, c_int64, c_size_t, c_uint8, c_uint32, c_void_p
from pathlib import Path
from typing import Mapping

from .errors import LibraryNotFoundError

# ---- constants (include/log_capturer.h)

CAPTURE_OK = 0
CAPTURE_ERR_NULL_ARGUMENT = 1
CAPTURE_ERR_INVALID_CONFIG = 2
CAPTURE_ERR_INVALID_ARGUMENT = 3
CAPTURE_ERR_STOPPED = 4
CAPTURE_ERR_RUNTIME = 5
CAPTURE_ERR_STOP_TIMEOUT = 6
CAPTURE_ERR_NOT_FOUND = 7
CAPTURE_ERR_PANIC = 99

CAPTURE_STREAM_STDOUT = 1
CAPTURE_STREAM_STDERR = 2
CAPTURE_STREAM_CONSOLE = 3

CAPTURE_FLAG_PARTIAL = 1
CAPTURE_FLAG_TRUNCATED = 2

CAPTURE_LOG_ERROR = 1
CAPTURE_LOG_WARN = 2
CAPTURE_LOG_INFO = 3
CAPTURE_LOG_DEBUG = 4

# ---- types


class capture_handle(ctypes.Structure):
    """A running capture. Opaque: only ever used through a pointer."""


class capture_record(ctypes.Structure):
    """One log record. Every pointer stays valid until its batch is freed."""

    _fields_ = [
        ("container_id", c_char_p),
        ("container_name", c_char_p),
        ("container_image", c_char_p),
        ("message", POINTER(c_uint8)),
        ("message_len", c_size_t),
        ("timestamp_ns", c_int64),
        ("stream", c_uint32),
        ("flags", c_uint32),
    ]


class capture_batch(ctypes.Structure):
    """A batch of records, owned by the library until `capture_batch_free`."""

    _fields_ = [
        ("records", POINTER(capture_record)),
        ("len", c_size_t),
        ("message_bytes", c_size_t),
    ]


class char_buffer_p(POINTER(c_char)):  # type: ignore[misc]
    """``char *`` of a buffer the library writes into: takes a
    ``ctypes.create_string_buffer`` (or None), refuses an immutable bytes
    object, which a plain POINTER(c_char) would let the library write over."""

    @classmethod
    def from_param(cls, value):  # type: ignore[override]
        if isinstance(value, (bytes, bytearray, str)):
            raise TypeError(f"a writable buffer from ctypes.create_string_buffer is needed, not {type(value).__name__}")
        return super().from_param(value)


capture_handle_p = POINTER(capture_handle)
capture_batch_p = POINTER(capture_batch)
capture_result = c_int  # a C enum: int-sized

# void (*)(void *user_data, int32_t level, const char *message)
capture_log_callback = ctypes.CFUNCTYPE(None, c_void_p, c_int32, c_char_p)

# Strings the caller must free (`char *` outputs) are kept as raw addresses
# (c_void_p): a c_char_p would be converted to bytes and its pointer lost.
# name: (restype, argtypes)
FUNCTIONS: dict[str, tuple[object, list[object]]] = {
    "capture_start": (capture_result, [c_char_p, POINTER(capture_handle_p)]),
    "capture_start_with_log": (capture_result, [c_char_p, capture_log_callback, c_void_p, POINTER(capture_handle_p)]),
    "capture_wake": (capture_result, [capture_handle_p]),
    "capture_metrics_text": (capture_result, [capture_handle_p, POINTER(c_void_p)]),
    "capture_poll": (capture_result, [capture_handle_p, c_size_t, c_uint32, POINTER(capture_batch_p)]),
    "capture_batch_free": (None, [capture_batch_p]),
    "capture_stats": (capture_result, [capture_handle_p, POINTER(c_void_p)]),
    "capture_container_info": (capture_result, [capture_handle_p, c_char_p, POINTER(c_void_p)]),
    "capture_string_free": (None, [c_void_p]),
    "capture_stop": (capture_result, [capture_handle_p]),
    "capture_free": (None, [capture_handle_p]),
    "capture_last_error": (c_size_t, [capture_handle_p, char_buffer_p, c_size_t]),
    "capture_set_log_callback": (capture_result, [capture_handle_p, capture_log_callback, c_void_p]),
    "capture_version": (c_char_p, []),
    "capture_result_message": (c_char_p, [c_int32]),
}

# ---- finding the library

LIBRARY_ENV = "LOG_CAPTURER_LIB"

if sys.platform == "darwin":
    LIBRARY_FILE = "liblog_capturer.dylib"
elif sys.platform == "win32":
    LIBRARY_FILE = "log_capturer.dll"
else:
    LIBRARY_FILE = "liblog_capturer.so"

PACKAGE_DIR = Path(__file__).resolve().parent
# The library inside the package: as `pip install` builds it (setup.py),
# then a copy placed by hand.
PACKAGED_FILES = ("liblog_capturer.abi3.so", LIBRARY_FILE)


def _ancestors(start: Path) -> list[Path]:
    return [start, *start.parents]


def candidate_paths(
    environ: Mapping[str, str] | None = None,
    package_dir: Path | None = None,
    cwd: Path | None = None,
) -> list[tuple[str, Path]]:
    """Every place the library is looked for, in order, as (why, path).

    1. ``$LOG_CAPTURER_LIB`` when set (then nothing else is tried: an
       explicit choice that fails is an error, not a reason to load another
       build);
    2. the library inside the package (``log_capturer/liblog_capturer.abi3.so``,
       built by ``pip install``, or a ``liblog_capturer.so`` copied there);
    3. ``$CARGO_TARGET_DIR/{release,debug}`` when set;
    4. ``target/release`` and ``target/debug`` in the package's directory and
       each of its parents, then in the current directory and its parents.
    """
    environ = os.environ if environ is None else environ
    package_dir = PACKAGE_DIR if package_dir is None else package_dir
    explicit = environ.get(LIBRARY_ENV)
    if explicit:
        return [(f"${LIBRARY_ENV}", Path(explicit))]
    found: list[tuple[str, Path]] = [("inside the package", package_dir / name) for name in PACKAGED_FILES]
    target_dir = environ.get("CARGO_TARGET_DIR")
    if target_dir:
        for profile in ("release", "debug"):
            found.append(("$CARGO_TARGET_DIR", Path(target_dir) / profile / LIBRARY_FILE))
    cwd = Path.cwd() if cwd is None else cwd
    for origin, start in (("cargo build above the package", package_dir), ("cargo build above the current directory", cwd)):
        for directory in _ancestors(start.resolve()):
            for profile in ("release", "debug"):
                found.append((origin, directory / "target" / profile / LIBRARY_FILE))
    seen: set[Path] = set()
    unique = []
    for why, path in found:
        if path not in seen:
            seen.add(path)
            unique.append((why, path))
    return unique


def find_library(
    environ: Mapping[str, str] | None = None,
    package_dir: Path | None = None,
    cwd: Path | None = None,
) -> Path:
    """The first existing candidate; `LibraryNotFoundError` listing them all when none exists."""
    candidates = candidate_paths(environ, package_dir, cwd)
    for _why, path in candidates:
        if path.is_file():
            return path
    lines = "\n".join(f"  {path}  ({why})" for why, path in candidates)
    raise LibraryNotFoundError(
        f"{LIBRARY_FILE} not found. Install the package with `pip install ./bindings/python` "
        f"(it builds the library into the package), build it with `cargo build --release`, or set "
        f"${LIBRARY_ENV} to its path. Looked in:\n{lines}",
        [str(path) for _why, path in candidates],
    )


def declare(lib: ctypes.CDLL) -> ctypes.CDLL:
    """Sets ``restype`` and ``argtypes`` of every exported function on ``lib``."""
    for name, (restype, argtypes) in FUNCTIONS.items():
        function = getattr(lib, name)
        function.restype = restype
        function.argtypes = argtypes
    return lib


_lock = threading.Lock()
_library: ctypes.CDLL | None = None


def load() -> ctypes.CDLL:
    """The library, found, loaded and declared once per process.

    Loaded with ``ctypes.CDLL``, which releases the GIL during every call: a
    blocked ``capture_poll`` does not block other Python threads, and the
    library's thread can run the log callback while ``capture_stop`` waits
    for it.
    """
    global _library
    with _lock:
        if _library is None:
            path = find_library()
            try:
                lib = ctypes.CDLL(str(path))
            except OSError as e:
                raise LibraryNotFoundError(f"{path} could not be loaded: {e}", [str(path)]) from e
            try:
                _library = declare(lib)
            except AttributeError as e:
                raise LibraryNotFoundError(
                    f"{path} is not a compatible log-capturer library: {e}", [str(path)]
                ) from e
        return _library
