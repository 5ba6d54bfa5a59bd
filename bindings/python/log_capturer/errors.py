"""The exceptions: one class per `capture_result` code, all `CaptureError`."""

from __future__ import annotations

__all__ = [
    "CaptureError",
    "LibraryNotFoundError",
    "ClosedError",
    "NullArgumentError",
    "ConfigError",
    "InvalidArgumentError",
    "StoppedError",
    "EngineStartError",
    "StopTimeoutError",
    "NotFoundError",
    "PanicError",
    "error_for_code",
]


class CaptureError(Exception):
    """A failure of the library or of this binding.

    ``message`` is the library's own message (``capture_last_error``) when
    it gave one, else its static description of ``code``; ``code`` is the
    ``capture_result`` value, or None for errors raised by the binding itself.
    """

    code: int | None = None

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code

    def __str__(self) -> str:
        return self.message


class LibraryNotFoundError(CaptureError):
    """``liblog_capturer.so`` was not found (or would not load).

    ``searched`` lists every path tried, in order.
    """

    def __init__(self, message: str, searched: list[str] | None = None) -> None:
        super().__init__(message)
        self.searched = list(searched or [])


class ClosedError(CaptureError, ValueError):
    """The capture was closed; its handle is gone (like I/O on a closed file)."""


class NullArgumentError(CaptureError):
    """CAPTURE_ERR_NULL_ARGUMENT: a required pointer argument was NULL."""

    code = 1


class ConfigError(CaptureError, ValueError):
    """CAPTURE_ERR_INVALID_CONFIG: the configuration was refused; the message names the key."""

    code = 2


class InvalidArgumentError(CaptureError, ValueError):
    """CAPTURE_ERR_INVALID_ARGUMENT: an argument was out of range or not valid UTF-8."""

    code = 3


class StoppedError(CaptureError):
    """CAPTURE_ERR_STOPPED: the capture has been stopped."""

    code = 4


class EngineStartError(CaptureError):
    """CAPTURE_ERR_RUNTIME: the engine could not start (thread or runtime creation failed)."""

    code = 5


class StopTimeoutError(CaptureError):
    """CAPTURE_ERR_STOP_TIMEOUT: the engine did not stop within its deadline."""

    code = 6


class NotFoundError(CaptureError, LookupError):
    """CAPTURE_ERR_NOT_FOUND: no such container is known to this capture."""

    code = 7


class PanicError(CaptureError):
    """CAPTURE_ERR_PANIC: the library panicked; the call did nothing. Please report it."""

    code = 99


_BY_CODE: dict[int, type[CaptureError]] = {
    cls.code: cls
    for cls in (
        NullArgumentError,
        ConfigError,
        InvalidArgumentError,
        StoppedError,
        EngineStartError,
        StopTimeoutError,
        NotFoundError,
        PanicError,
    )
}


def error_for_code(code: int, message: str) -> CaptureError:
    """The exception for a `capture_result` code (a plain `CaptureError` for unknown codes)."""
    cls = _BY_CODE.get(code)
    if cls is None:
        return CaptureError(message, code)
    return cls(message, code)
