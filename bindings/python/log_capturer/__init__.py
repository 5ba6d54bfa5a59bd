"""log_capturer: follow the logs of every Docker container, through
liblog_capturer's C ABI (ctypes; standard library only).

    import log_capturer

    with log_capturer.Capture({"include_containers": ["web-"]}) as cap:
        for record in cap:
            print(record.container_name, record.stream, record.text)

The library is found through ``$LOG_CAPTURER_LIB``, a copy inside this
package, or a cargo build directory (``target/release`` or
``target/debug``) above this package or the current directory.
"""

from .capture import Capture, Record, library_path, library_version, result_message
from .errors import (
    CaptureError,
    ClosedError,
    ConfigError,
    EngineStartError,
    InvalidArgumentError,
    LibraryNotFoundError,
    NotFoundError,
    NullArgumentError,
    PanicError,
    StoppedError,
    StopTimeoutError,
)

__version__ = "0.1.0"

__all__ = [
    "Capture",
    "Record",
    "library_path",
    "library_version",
    "result_message",
    "CaptureError",
    "ClosedError",
    "ConfigError",
    "EngineStartError",
    "InvalidArgumentError",
    "LibraryNotFoundError",
    "NotFoundError",
    "NullArgumentError",
    "PanicError",
    "StoppedError",
    "StopTimeoutError",
]
