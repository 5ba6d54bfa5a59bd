"""The statistics document (``capture_stats``) as typed dataclasses, like
the Go binding's structs.

Values the library reports as null (nothing yet) are None. Times are aware
UTC datetimes, to the microsecond (the document has nanoseconds: the dict
form, `Capture.stats_dict`, keeps its exact text). Keys this version does
not know are ignored, so a newer library's document still decodes.
"""

from __future__ import annotations

import dataclasses
import datetime
import types
import typing
from dataclasses import dataclass, field
from typing import Any, Mapping

__all__ = [
    "Stats",
    "QueueStats",
    "DaemonStats",
    "ContainerStats",
    "Reopens",
    "Gaps",
    "GapSpan",
    "Position",
    "Mark",
]


def parse_time(text: str | None) -> datetime.datetime | None:
    """An RFC 3339 time as the library writes it (``…T03:04:05.123456789Z``)
    as an aware UTC datetime, cut to microseconds; None stays None."""
    if text is None:
        return None
    whole, _, rest = text.rstrip("Z").partition(".")
    micros = int((rest + "000000")[:6]) if rest else 0
    parsed = datetime.datetime.strptime(whole, "%Y-%m-%dT%H:%M:%S")
    return parsed.replace(microsecond=micros, tzinfo=datetime.timezone.utc)


def _decode(cls: type, value: Any) -> Any:
    """``value`` (decoded JSON) as ``cls``: a dataclass from a mapping (its
    unknown keys ignored, its missing ones left at their defaults), a
    datetime from text, lists and dicts of those element by element."""
    if value is None:
        return None
    origin = typing.get_origin(cls)
    args = typing.get_args(cls)
    if origin is typing.Union or origin is types.UnionType:
        return _decode(next(a for a in args if a is not type(None)), value)
    if origin is list:
        return [_decode(args[0], v) for v in value]
    if origin is dict:
        return {k: _decode(args[1], v) for k, v in value.items()}
    if cls is datetime.datetime:
        return parse_time(value)
    if dataclasses.is_dataclass(cls):
        hints = typing.get_type_hints(cls)
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: _decode(hints[k], v) for k, v in value.items() if k in known})
    return value


@dataclass
class QueueStats:
    """The queue between the readers and `Capture.poll`."""

    records: int = 0
    bytes: int = 0
    max_records: int = 0
    max_bytes: int = 0
    #: Containers with records waiting (each holds at most its share).
    containers: int = 0
    backpressure_seconds: float = 0.0


@dataclass
class DaemonStats:
    """The capture's view of the Docker daemon."""

    reachable: bool = False
    errors: int = 0
    last_error: str | None = None
    event_stream_connects: int = 0
    listings: int = 0


@dataclass
class Reopens:
    """Why streams were closed and opened again."""

    rotation: int = 0
    idle: int = 0
    stream_end: int = 0
    error: int = 0
    widen: int = 0
    #: Non-follow reads of a busy rotating log (polled, not followed).
    poll: int = 0


@dataclass
class GapSpan:
    """One gap: the newest line read that the log no longer held, and the
    first line it still held."""

    after: datetime.datetime | None = None
    before: datetime.datetime | None = None


@dataclass
class Gaps:
    """Where a container's log had been rotated away past the reader's
    position: lines stamped between ``last.after`` and ``last.before`` may
    be lost."""

    count: int = 0
    seconds: float = 0.0
    last: GapSpan | None = None


@dataclass
class PausedSeconds:
    """How long a container's reader was paused (not reading; the daemon
    kept the log), by reason; counted as each pause ends."""

    #: Waiting for room: the queue, or the container's share of it, was full.
    backpressure: float = 0.0
    #: Over ``container_max_records_per_second``.
    rate_limit: float = 0.0


@dataclass
class Mark:
    """The last delivered timestamp of a stream and how many lines carried it."""

    ts: datetime.datetime | None = None
    count: int = 0


@dataclass
class Position:
    """Where each stream resumes."""

    stdout: Mark = field(default_factory=Mark)
    stderr: Mark = field(default_factory=Mark)
    console: Mark = field(default_factory=Mark)


@dataclass
class ContainerStats:
    """One followed container."""

    id: str = ""
    name: str = ""
    image: str = ""
    #: starting, following, backoff, backpressure, rate_limited,
    #: catching_up, polling, drained, unreadable, excluded
    state: str = ""
    rotation_stuck: bool = False
    watchdog_restarts: int = 0
    #: Scheduled reopenings of a healthy stream.
    rotations: int = 0
    last_rotation: datetime.datetime | None = None
    #: How long the current stream has been open (None: none is open).
    stream_age_seconds: float | None = None
    reopens: Reopens = field(default_factory=Reopens)
    #: Error counts by kind (e.g. ``"read_timeout"``).
    errors: dict[str, int] = field(default_factory=dict)
    last_error: str | None = None
    records: int = 0
    bytes: int = 0
    requests: int = 0
    last_timestamp: datetime.datetime | None = None
    lag_seconds: float | None = None
    #: The resume position per stream (None until the first record).
    position: Position | None = None
    #: Lines read and held in open multiline events (not delivered yet).
    held_lines: int = 0
    gaps: Gaps = field(default_factory=Gaps)
    paused_seconds: PausedSeconds = field(default_factory=PausedSeconds)


@dataclass
class Stats:
    """The capture's statistics: per container its rotations, reopens and
    errors; engine-wide tasks, open FDs and queue depth."""

    version: str = ""
    docker_host: str = ""
    uptime_seconds: float = 0.0
    tasks: int = 0
    file_descriptors_open: int = 0
    #: Records and message bytes delivered since the start.
    records: int = 0
    bytes: int = 0
    queue: QueueStats = field(default_factory=QueueStats)
    daemon: DaemonStats = field(default_factory=DaemonStats)
    #: Names of containers the filters left out.
    excluded_containers: list[str] = field(default_factory=list)
    #: Followed containers that were removed.
    containers_gone: int = 0
    containers: list[ContainerStats] = field(default_factory=list)

    @classmethod
    def from_dict(cls, document: Mapping[str, Any]) -> "Stats":
        """Decodes the statistics document (ignoring keys it does not know)."""
        return _decode(cls, document)

    def container(self, name_or_id: str) -> ContainerStats | None:
        """The stats of the container with this name or id, or None."""
        for c in self.containers:
            if name_or_id in (c.name, c.id):
                return c
        return None
