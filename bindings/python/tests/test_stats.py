"""`Stats` decodes the statistics document into dataclasses; keys it does
not know (a newer library's) are ignored, missing ones keep defaults."""

from __future__ import annotations

import datetime

import log_capturer
from log_capturer.stats import parse_time

DOCUMENT = {
    "version": "9.9.9",
    "docker_host": "unix:///var/run/docker.sock",
    "uptime_seconds": 1.5,
    "tasks": 4,
    "file_descriptors_open": 12,
    "records": 3,
    "bytes": 30,
    "queue": {"records": 0, "bytes": 0, "max_records": 10, "max_bytes": 100, "containers": 0, "backpressure_seconds": 0.0, "new": 1},
    "daemon": {"reachable": True, "errors": 0, "last_error": None, "event_stream_connects": 1, "listings": 1},
    "excluded_containers": ["other"],
    "containers_gone": 0,
    "a_later_field": {"nested": [1, 2]},
    "containers": [
        {
            "id": "abc",
            "name": "web-1",
            "image": "busybox",
            "state": "following",
            "rotations": 2,
            "last_rotation": "2026-11-30T19:05:57.079601929Z",
            "stream_age_seconds": None,
            "reopens": {"rotation": 2, "idle": 0, "stream_end": 0, "error": 0, "widen": 0, "poll": 0, "later": 7},
            "errors": {"read_timeout": 1},
            "last_error": None,
            "records": 3,
            "bytes": 30,
            "requests": 3,
            "last_timestamp": None,
            "lag_seconds": None,
            "position": {
                "stdout": {"ts": "2026-11-30T19:05:57Z", "count": 1},
                "stderr": {"ts": "2026-11-30T19:05:56.5Z", "count": 0},
                "console": {"ts": "2026-11-30T19:05:56.979601929Z", "count": 0},
            },
            "gaps": {"count": 1, "seconds": 0.5, "last": {"after": "2026-11-30T19:05:56Z", "before": "2026-11-30T19:05:57Z"}},
            "paused_seconds": {"backpressure": 1.25, "rate_limit": 0.5},
            "a_later_field": True,
        }
    ],
}


def test_document_decodes_into_dataclasses_ignoring_unknown_keys():
    stats = log_capturer.Stats.from_dict(DOCUMENT)
    assert stats.version == "9.9.9" and stats.tasks == 4 and stats.excluded_containers == ["other"]
    assert stats.queue.max_records == 10 and stats.daemon.reachable is True and stats.daemon.last_error is None
    [c] = stats.containers
    assert isinstance(c, log_capturer.ContainerStats)
    assert c.rotations == 2 and c.reopens.rotation == 2 and c.errors == {"read_timeout": 1}
    assert c.last_rotation == datetime.datetime(2026, 11, 30, 19, 5, 57, 79601, tzinfo=datetime.timezone.utc)
    assert c.stream_age_seconds is None and c.last_timestamp is None
    assert c.position.stdout.count == 1 and c.position.stderr.ts.microsecond == 500000
    assert c.gaps.count == 1 and c.gaps.last.before - c.gaps.last.after == datetime.timedelta(seconds=1)
    assert c.paused_seconds == log_capturer.PausedSeconds(backpressure=1.25, rate_limit=0.5)
    assert stats.container("web-1") is c and stats.container("abc") is c and stats.container("nope") is None


def test_missing_keys_keep_their_defaults():
    stats = log_capturer.Stats.from_dict({"containers": [{"name": "x"}]})
    assert stats.version == "" and stats.queue == log_capturer.QueueStats()
    assert stats.containers[0].position is None and stats.containers[0].gaps == log_capturer.Gaps()


def test_times_keep_microseconds_and_utc():
    assert parse_time(None) is None
    assert parse_time("2024-01-02T03:04:05Z") == datetime.datetime(2024, 1, 2, 3, 4, 5, tzinfo=datetime.timezone.utc)
    assert parse_time("2024-01-02T03:04:05.000000999Z").microsecond == 0
    assert parse_time("2024-01-02T03:04:05.12Z").microsecond == 120000
