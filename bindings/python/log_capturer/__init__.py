"""log_capturer: follow the logs of every Docker container, through
liblog_capturer's C ABI (ctypes; standard library only).

    import log_capturer

    with log_capturer.Capture({"include_containers": ["web-"]}) as cap:
        for record in cap:
            print(record.container_name, record.stream, record.text)

The library ships inside this package (``pip install`` builds it); it can
also be given with ``$LOG_CAPTURER_LIB``, or found in a cargo build
directory (``target/release`` or ``target/debug``) above this package or
the current directory when run from the source tree.
"""

from importlib import metadata as _metadata

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
from .stats import (
    ContainerStats,
    DaemonStats,
    Gaps,
    GapSpan,
    Mark,
    PausedSeconds,
    Position,
    QueueStats,
    Reopens,
    Stats,
)

try:
    __version__ = _metadata.version("log_capturer")
except _metadata.PackageNotFoundError:  # imported from the source tree
    __version__ = "0+unknown"

__all__ = [
    "Capture",
    "Record",
    "library_path",
    "library_version",
    "result_message",
    "Stats",
    "ContainerStats",
    "DaemonStats",
    "QueueStats",
    "Reopens",
    "Gaps",
    "GapSpan",
    "PausedSeconds",
    "Position",
    "Mark",
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
