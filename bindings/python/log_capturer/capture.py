"""The safe API: `Capture` and `Record`."""

from __future__ import annotations

import ctypes
import datetime
import json
import logging
import math
import threading
import time
import weakref
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Mapping

from . import _native
from ._native import (
    CAPTURE_ERR_STOP_TIMEOUT,
    CAPTURE_FLAG_PARTIAL,
    CAPTURE_FLAG_TRUNCATED,
    CAPTURE_OK,
)
from .errors import (
    CaptureError,
    ClosedError,
    ConfigError,
    InvalidArgumentError,
    StoppedError,
    error_for_code,
)
from .stats import Stats

__all__ = ["Capture", "Record", "library_version", "library_path", "result_message"]

_STREAMS = {
    _native.CAPTURE_STREAM_STDOUT: "stdout",
    _native.CAPTURE_STREAM_STDERR: "stderr",
    _native.CAPTURE_STREAM_CONSOLE: "console",
}

_LOG_LEVELS = {
    _native.CAPTURE_LOG_ERROR: logging.ERROR,
    _native.CAPTURE_LOG_WARN: logging.WARNING,
    _native.CAPTURE_LOG_INFO: logging.INFO,
    _native.CAPTURE_LOG_DEBUG: logging.DEBUG,
}

_EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.timezone.utc)

# A blocking poll waits in slices of at most this long, so that Ctrl-C
# (which Python only handles between C calls) is seen promptly.
_POLL_SLICE_MS = 250
_U32_MAX = 0xFFFF_FFFF

# Log callbacks of captures whose engine thread did not stop in time: that
# thread may still be inside a call of the callback, so the ctypes thunk
# must never be freed.
_leaked_callbacks: list[Any] = []

# `capture_last_error(NULL, …)` is one slot per process: start failures are
# read under this lock so two Python threads do not read each other's.
_start_lock = threading.Lock()

_DEFAULT_LOGGER = logging.getLogger("log_capturer")
_UNSET: Any = object()


def library_path() -> str:
    """The path of the loaded library (loading it if needed)."""
    return _native.load()._name


def library_version() -> str:
    """The library's version (``capture_version``), e.g. ``"0.1.0"``."""
    return _native.load().capture_version().decode()


def result_message(code: int) -> str:
    """The library's static description of a ``capture_result`` code."""
    return _native.load().capture_result_message(code).decode()


def _last_error(lib: ctypes.CDLL, handle: Any) -> str:
    """``capture_last_error`` in full, growing the buffer if the message grew meanwhile."""
    size = lib.capture_last_error(handle, None, 0)
    while size:
        buf = ctypes.create_string_buffer(size + 1)
        full = lib.capture_last_error(handle, buf, size + 1)
        if full <= size:
            return buf.value.decode("utf-8", "replace")
        size = full
    return ""


# The codes whose failing call stores a message on the handle. The others
# (NULL argument, panic) leave the previous message in place, which would
# describe an older failure.
_CODES_WITH_MESSAGE = {
    _native.CAPTURE_ERR_INVALID_CONFIG,
    _native.CAPTURE_ERR_INVALID_ARGUMENT,
    _native.CAPTURE_ERR_STOPPED,
    _native.CAPTURE_ERR_RUNTIME,
    _native.CAPTURE_ERR_STOP_TIMEOUT,
    _native.CAPTURE_ERR_NOT_FOUND,
}


def _error(lib: ctypes.CDLL, handle: Any, code: int) -> CaptureError:
    detail = _last_error(lib, handle) if code in _CODES_WITH_MESSAGE else ""
    return error_for_code(code, detail or lib.capture_result_message(code).decode())


def _config_bytes(config: Mapping[str, Any] | str | bytes | None) -> bytes:
    """The config as the bytes given to capture_start (text is not re-encoded
    beyond UTF-8, so the library judges what is and is not valid)."""
    if config is None:
        return b"{}"
    if isinstance(config, Mapping):
        try:
            data = json.dumps(dict(config), allow_nan=False).encode()
        except (TypeError, ValueError) as e:
            raise ConfigError(f"invalid config: cannot encode as JSON: {e}") from e
    elif isinstance(config, str):
        data = config.encode("utf-8", "surrogatepass")
    elif isinstance(config, (bytes, bytearray)):
        data = bytes(config)
    else:
        raise TypeError(f"config must be a dict, a JSON string or None, not {type(config).__name__}")
    if b"\0" in data:
        raise ConfigError("invalid config: contains a NUL character")
    _check_json_object(data)
    return data


def _check_json_object(data: bytes) -> None:
    """Refuses valid JSON that is not an object. The library would read an
    array as the config's fields by position (`["tcp://host:1"]` sets
    `docker_host`); other syntax errors are left to the library, whose
    messages say where."""
    try:
        document = json.loads(data)
    except ValueError:
        return
    if not isinstance(document, dict):
        raise ConfigError(f"invalid config: expected a JSON object, not {type(document).__name__}")


@dataclass(frozen=True, slots=True)
class Record:
    """One log line of one container, copied out of the library's batch."""

    container_id: str
    container_name: str
    container_image: str
    #: ``"stdout"``, ``"stderr"`` or ``"console"`` (a TTY container's merged output).
    stream: str
    #: Docker's timestamp of the line, in nanoseconds since the Unix epoch.
    timestamp_ns: int
    #: The line without its trailing newline; not necessarily UTF-8.
    message: bytes
    #: ``CAPTURE_FLAG_*`` bits; see `partial` and `truncated`.
    flags: int = 0

    @property
    def partial(self) -> bool:
        """One piece of a longer line (merging off), or a line whose end never came."""
        return bool(self.flags & CAPTURE_FLAG_PARTIAL)

    @property
    def truncated(self) -> bool:
        """The line was longer than ``max_line_bytes`` and was cut."""
        return bool(self.flags & CAPTURE_FLAG_TRUNCATED)

    @property
    def timestamp(self) -> datetime.datetime:
        """`timestamp_ns` as an aware UTC datetime (microsecond precision)."""
        return _EPOCH + datetime.timedelta(microseconds=self.timestamp_ns // 1000)

    @property
    def timestamp_rfc3339(self) -> str:
        """`timestamp_ns` as RFC 3339 with nanoseconds: ``2024-01-02T03:04:05.123456789Z``."""
        seconds, nanos = divmod(self.timestamp_ns, 1_000_000_000)
        whole = _EPOCH + datetime.timedelta(seconds=seconds)
        return f"{whole:%Y-%m-%dT%H:%M:%S}.{nanos:09d}Z"

    @property
    def text(self) -> str:
        """`message` decoded as UTF-8 (invalid bytes replaced)."""
        return self.message.decode("utf-8", "replace")


def _copy_batch(batch: _native.capture_batch) -> list[Record]:
    records = []
    for i in range(batch.len):
        r = batch.records[i]
        n = r.message_len
        records.append(
            Record(
                container_id=(r.container_id or b"").decode("utf-8", "replace"),
                container_name=(r.container_name or b"").decode("utf-8", "replace"),
                container_image=(r.container_image or b"").decode("utf-8", "replace"),
                stream=_STREAMS.get(r.stream, str(r.stream)),
                timestamp_ns=r.timestamp_ns,
                message=ctypes.string_at(r.message, n) if n else b"",
                flags=r.flags,
            )
        )
    return records


def _log_thunk(logger: logging.Logger) -> Any:
    def on_log(_user_data: Any, level: int, message: bytes | None) -> None:
        # Runs on the library's thread; an exception here could not reach
        # anyone, so none may escape.
        try:
            logger.log(_LOG_LEVELS.get(level, logging.INFO), "%s", (message or b"").decode("utf-8", "replace"))
        except BaseException:  # noqa: BLE001
            pass

    return _native.capture_log_callback(on_log)


class _Handle:
    """The handle and the bookkeeping that makes closing safe.

    Every call on the handle runs inside `call()`, which counts it; `close()`
    refuses new calls, stops the capture (waking blocked polls), waits for
    the calls in progress to return, and only then frees the handle. This is
    the ABI's rule "no call may start on h after capture_free(h) began",
    enforced on the Python side. Kept apart from `Capture` so that the
    finalizer that frees an unclosed capture does not keep it alive.
    """

    def __init__(self, lib: ctypes.CDLL, handle: Any, log_callback: Any) -> None:
        self.lib = lib
        self.handle = handle
        self.log_callback = log_callback
        self.closed = False
        # Set once any capture_stop timed out: the engine's thread was left
        # running and may still call the log callback, whichever later
        # capture_stop returned (a second call returns OK at once).
        self.stop_timed_out = False
        self.in_flight = 0
        self.idle = threading.Condition(threading.Lock())
        # Bumped by `Capture.wake`: a poll that sees it change returns [].
        self.wakes = 0

    @contextmanager
    def call(self) -> Iterator[Any]:
        with self.idle:
            if self.closed:
                raise ClosedError("the capture is closed")
            self.in_flight += 1
        try:
            yield self.handle
        finally:
            with self.idle:
                self.in_flight -= 1
                if self.in_flight == 0:
                    self.idle.notify_all()

    def close(self) -> int:
        """Stops and frees the handle once; returns capture_stop's result."""
        with self.idle:
            if self.closed:
                return CAPTURE_OK
            self.closed = True
        lib, handle = self.lib, self.handle
        stopped = self.stop(handle)
        with self.idle:
            while self.in_flight:
                self.idle.wait()
        if self.log_callback is not None:
            lib.capture_set_log_callback(handle, _native.capture_log_callback(), None)
            if self.stop_timed_out:
                _leaked_callbacks.append(self.log_callback)
        lib.capture_free(handle)
        self.handle = None
        self.log_callback = None
        if self.stop_timed_out:
            _DEFAULT_LOGGER.warning("The capture's engine thread did not stop in time; it was left running.")
        return stopped

    def stop(self, handle: Any) -> int:
        code = self.lib.capture_stop(handle)
        if code == CAPTURE_ERR_STOP_TIMEOUT:
            self.stop_timed_out = True
        return code


class Capture:
    """A running capture of container logs.

    ``config`` is the library's JSON configuration, as a dict or a JSON
    string (None: every default). ``logger`` receives the library's own log
    lines (at or below the config's ``log_level``) through Python
    `logging`; pass ``logger=None`` to let the library write them to stderr.

    Use it as a context manager, or call `close()`::

        with Capture({"include_containers": ["web-"]}) as cap:
            for record in cap:
                print(record.container_name, record.text)

    `poll`, `wake`, `stats`, `metrics_text`, `container_info` and `stop` may
    be called from several threads at once; `stop` (or `close`) from another
    thread wakes a blocked
    `poll`, which then raises `StoppedError`, and ends an iteration.
    """

    def __init__(
        self,
        config: Mapping[str, Any] | str | bytes | None = None,
        *,
        logger: logging.Logger | None = _UNSET,
    ) -> None:
        if logger is _UNSET:
            logger = _DEFAULT_LOGGER
        text = _config_bytes(config)
        lib = _native.load()
        out = _native.capture_handle_p()
        # The callback is in place before the capture does anything, so
        # every line, the first included, reaches `logger`.
        log_callback = _log_thunk(logger) if logger is not None else _native.capture_log_callback()
        with _start_lock:
            code = lib.capture_start_with_log(text, log_callback, None, ctypes.byref(out))
            if code != CAPTURE_OK:
                raise _error(lib, None, code)
        if logger is None:
            log_callback = None
        self._handle = _Handle(lib, out, log_callback)
        # Frees the handle if the object is dropped unclosed, and at exit
        # (before the interpreter goes away under the library's thread).
        self._finalizer = weakref.finalize(self, self._handle.close)

    # ---- records

    def poll(self, max_records: int = 1024, timeout: float | None = 1.0) -> list[Record]:
        """Takes up to ``max_records`` records, waiting at most ``timeout``
        seconds for the first (0: do not wait; None: until records come or
        the capture stops). Returns ``[]`` when the wait timed out.

        Raises `StoppedError` once the capture is stopped (also when `stop`
        is called from another thread during the wait), `ClosedError` after
        `close`.
        """
        if isinstance(max_records, bool) or not isinstance(max_records, int):
            raise TypeError(f"max_records must be an int, not {type(max_records).__name__}")
        if max_records < 0 or max_records > ctypes.c_size_t(-1).value:
            raise InvalidArgumentError(f"max_records: {max_records} is out of range", _native.CAPTURE_ERR_INVALID_ARGUMENT)
        if timeout is not None and not timeout >= 0:
            raise InvalidArgumentError(f"timeout: {timeout!r} must be a number of seconds >= 0", _native.CAPTURE_ERR_INVALID_ARGUMENT)
        if timeout is not None and math.isinf(timeout):
            timeout = None
        deadline = None if timeout is None else time.monotonic() + timeout
        wakes = self._handle.wakes
        while True:
            if deadline is None:
                slice_ms = _POLL_SLICE_MS
            else:
                remaining_ms = max(0, int((deadline - time.monotonic()) * 1000))
                slice_ms = min(remaining_ms, _POLL_SLICE_MS, _U32_MAX)
            records = self._poll_once(max_records, slice_ms)
            if records or self._handle.wakes != wakes:
                return records
            if deadline is not None and time.monotonic() >= deadline:
                return records

    def _poll_once(self, max_records: int, timeout_ms: int) -> list[Record]:
        with self._handle.call() as handle:
            lib = self._handle.lib
            batch = _native.capture_batch_p()
            code = lib.capture_poll(handle, max_records, timeout_ms, ctypes.byref(batch))
            if code != CAPTURE_OK:
                raise _error(lib, handle, code)
            try:
                return _copy_batch(batch.contents)
            finally:
                lib.capture_batch_free(batch)

    def __iter__(self) -> Iterator[Record]:
        """Yields records until the capture is stopped or closed."""
        while True:
            try:
                records = self.poll(4096, timeout=None)
            except (StoppedError, ClosedError):
                return
            yield from records

    def wake(self) -> None:
        """Makes every `poll` blocked in another thread return ``[]`` now,
        without stopping the capture (``capture_wake``); an iteration goes
        on waiting. Thread-safe; a no-op once closed. (A poll about to
        start its wait in the very instant of the call returns within
        250 ms instead.)
        """
        try:
            with self._handle.call() as handle:
                with self._handle.idle:
                    self._handle.wakes += 1
                code = self._handle.lib.capture_wake(handle)
                if code != CAPTURE_OK:
                    raise _error(self._handle.lib, handle, code)
        except ClosedError:
            return

    # ---- introspection

    def stats(self) -> Stats:
        """Rotation and health statistics (``capture_stats``) as `Stats`;
        works after `stop` too. `stats_dict` gives the document as it is."""
        return Stats.from_dict(self.stats_dict())

    def stats_dict(self) -> dict[str, Any]:
        """The statistics document (``capture_stats``) as a dict, as the
        library wrote it (times as RFC 3339 text with nanoseconds)."""
        with self._handle.call() as handle:
            return json.loads(self._string_call(handle, lambda out: self._handle.lib.capture_stats(handle, out)))

    def metrics_text(self) -> str:
        """The capture's Prometheus metrics in the text exposition format
        (``capture_metrics_text``), for a host serving its own /metrics."""
        with self._handle.call() as handle:
            text = self._string_call(handle, lambda out: self._handle.lib.capture_metrics_text(handle, out))
            return text.decode("utf-8", "replace")

    def container_info(self, id_or_name: str) -> dict[str, Any]:
        """A followed container's identity: ``id``, ``name``, ``image``,
        ``labels``, ``created``, ``tty``, ``log_driver``. ``id_or_name`` is
        a full id, an id prefix of 12 or more characters, or a name.
        Raises `NotFoundError` when the capture does not know it.
        """
        if not isinstance(id_or_name, str):
            raise TypeError(f"id_or_name must be a str, not {type(id_or_name).__name__}")
        if "\0" in id_or_name:
            raise InvalidArgumentError("id_or_name: contains a NUL character", _native.CAPTURE_ERR_INVALID_ARGUMENT)
        key = id_or_name.encode("utf-8", "surrogatepass")
        with self._handle.call() as handle:
            return json.loads(self._string_call(handle, lambda out: self._handle.lib.capture_container_info(handle, key, out)))

    def _string_call(self, handle: Any, call: Any) -> bytes:
        """Runs ``call(&out)`` for a library-owned string; returns its bytes and frees it."""
        lib = self._handle.lib
        out = ctypes.c_void_p()
        code = call(ctypes.byref(out))
        if code != CAPTURE_OK:
            raise _error(lib, handle, code)
        try:
            return ctypes.string_at(out.value)
        finally:
            lib.capture_string_free(out)

    # ---- lifecycle

    @property
    def closed(self) -> bool:
        return self._handle.closed

    def stop(self) -> None:
        """Stops the capture: wakes blocked polls, closes every stream. Idempotent
        and thread-safe; a no-op once closed. Raises `StopTimeoutError` if the
        engine's thread did not end within the library's deadline (5 s).
        """
        try:
            with self._handle.call() as handle:
                code = self._handle.stop(handle)
                if code != CAPTURE_OK:
                    raise _error(self._handle.lib, handle, code)
        except ClosedError:
            return

    def close(self) -> None:
        """Stops the capture and frees its handle. Idempotent. Waits for calls
        in progress in other threads (a blocked poll is woken first); any
        later use raises `ClosedError`.
        """
        self._finalizer()

    def __enter__(self) -> "Capture":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<log_capturer.Capture {'closed' if self.closed else 'open'}>"
