"""The high-level API against the real daemon: real containers' lines,
streams, flags, rotation stats, container info, the log callback."""

from __future__ import annotations

import datetime
import logging
import threading

import pytest

import log_capturer
from conftest import IMAGE, collect_until, container_stats, docker, wait_for


def of(records, name, stream="stdout"):
    return [r for r in records if r.container_name == name and r.stream == stream]


def test_seq_is_read_exactly_once_and_in_order(containers, start_capture):
    cap = start_capture()
    container_id = containers.run("seq", "seq 1 1000")
    name = containers.name("seq")
    records: list[log_capturer.Record] = []
    collect_until(cap, records, lambda r: len(of(r, name)) >= 1000, 30, "1000 lines")
    # Nothing more may come: wait until the container is drained, then take the rest.
    wait_for(lambda: getattr(container_stats(cap, name), "state", None) == "drained", 30, "the container to be drained")
    records.extend(cap.poll(100_000, timeout=0.3))

    lines = of(records, name)
    assert [r.message for r in lines] == [str(i).encode() for i in range(1, 1001)]
    assert len(records) == 1000, "records of other containers or streams leaked in"
    first = lines[0]
    assert first.container_id == container_id
    assert first.container_image == IMAGE
    assert first.stream == "stdout"
    assert first.flags == 0 and not first.partial and not first.truncated
    assert first.text == "1"
    stamps = [r.timestamp_ns for r in lines]
    assert stamps == sorted(stamps)
    assert first.timestamp.tzinfo is datetime.timezone.utc
    assert abs(first.timestamp - datetime.datetime.now(datetime.timezone.utc)) < datetime.timedelta(minutes=5)
    assert first.timestamp == datetime.datetime.fromtimestamp(first.timestamp_ns // 1000 / 1e6, datetime.timezone.utc)
    assert first.timestamp_rfc3339.endswith("Z") and len(first.timestamp_rfc3339.split(".")[1]) == 10
    stats = container_stats(cap, name)
    assert stats.records == 1000 and stats.id == container_id
    assert stats.position.stdout.count >= 1
    assert stats.last_timestamp == lines[-1].timestamp  # both cut to microseconds
    raw = next(c for c in cap.stats_dict()["containers"] if c["name"] == name)
    assert raw["last_timestamp"] == lines[-1].timestamp_rfc3339  # the dict keeps nanoseconds


def test_paced_lines_survive_rotations_exactly_once(containers, start_capture):
    cap = start_capture({"rotation_interval": "200ms", "rotation_jitter": 0.2})
    script = "i=0; while [ $i -lt 600 ]; do i=$((i+1)); echo $i; [ $((i % 50)) -eq 0 ] && sleep 0.1; done; true"
    containers.run("paced", script)
    name = containers.name("paced")
    records: list[log_capturer.Record] = []
    collect_until(cap, records, lambda r: len(of(r, name)) >= 600, 30, "600 lines")
    wait_for(lambda: getattr(container_stats(cap, name), "state", None) == "drained", 30, "the container to be drained")
    records.extend(cap.poll(100_000, timeout=0.3))
    assert [r.text for r in of(records, name)] == [str(i) for i in range(1, 601)]
    rotations = container_stats(cap, name).rotations
    assert rotations >= 3, f"only {rotations} rotations"


def test_message_bytes_are_kept_as_written(containers, start_capture):
    # (Invalid UTF-8 is not tried: the json-file driver itself stores it as U+FFFD.)
    cap = start_capture()
    containers.run("bytes", r"printf 'plain\n\ncaf\303\251 \342\234\223\n  spaced \t\n'")
    name = containers.name("bytes")
    records: list[log_capturer.Record] = []
    collect_until(cap, records, lambda r: len(of(r, name)) >= 4, 30, "4 lines")
    assert [r.message for r in of(records, name)] == [b"plain", b"", "café ✓".encode(), b"  spaced \t"]
    assert of(records, name)[2].text == "café ✓"


def test_stdout_stderr_and_tty_streams(containers, start_capture):
    cap = start_capture()
    containers.run("two", "echo to-out; echo to-err >&2")
    containers.run("tty", "echo on-console", "-t")
    records: list[log_capturer.Record] = []
    two, tty = containers.name("two"), containers.name("tty")
    collect_until(
        cap, records,
        lambda r: of(r, two, "stdout") and of(r, two, "stderr") and of(r, tty, "console"),
        30, "a line on each stream",
    )
    assert [r.text for r in of(records, two, "stdout")] == ["to-out"]
    assert [r.text for r in of(records, two, "stderr")] == ["to-err"]
    # A TTY ends lines with \r\n; the library strips the newline.
    assert [r.text.rstrip("\r") for r in of(records, tty, "console")] == ["on-console"]


def test_long_line_is_truncated_and_flagged(containers, start_capture):
    cap = start_capture({"max_line_bytes": 1024})
    containers.run("long", "head -c 5000 /dev/zero | tr '\\0' x; echo; echo short")
    name = containers.name("long")
    records: list[log_capturer.Record] = []
    collect_until(cap, records, lambda r: any(x.text == "short" for x in of(r, name)), 30, "both lines")
    long, short = of(records, name)
    assert long.truncated and long.message == b"x" * 1024
    assert not short.truncated and not short.partial


def test_rotations_grow_for_an_idle_container(containers, start_capture):
    cap = start_capture({"rotation_interval": "300ms", "rotation_jitter": 0})
    container_id = containers.run("idle", "sleep 60")
    name = containers.name("idle")
    stats = wait_for(
        lambda: (s := container_stats(cap, name)) and s.rotations >= 2 and s,
        20, "two rotations of an idle container",
    )
    assert stats.id == container_id
    assert stats.last_rotation is not None and stats.last_rotation.tzinfo is datetime.timezone.utc
    assert stats.reopens.rotation >= 2
    assert cap.poll(timeout=0) == []  # nothing was written, nothing repeated

    whole = cap.stats()
    assert whole.daemon.reachable is True
    assert whole.version == log_capturer.library_version()
    metrics = cap.metrics_text()
    assert "log_capturer_container_stream_rotations_total{" in metrics and name in metrics

    info = cap.container_info(name)
    assert info["id"] == container_id and info["name"] == name and info["image"] == IMAGE
    assert info["labels"]["log-capturer-test"] == "1"
    assert info["tty"] is False
    assert cap.container_info(container_id[:12])["id"] == container_id
    with pytest.raises(log_capturer.NotFoundError, match="no-such-container"):
        cap.container_info(containers.name("no-such-container"))


def test_library_log_lines_reach_python_logging(containers, start_capture):
    lines: list[logging.LogRecord] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            lines.append(record)

    logger = logging.getLogger(f"log_capturer.test.{containers.prefix}")
    logger.addHandler(Keep())
    logger.setLevel(logging.DEBUG)
    logger.propagate = False
    cap = start_capture({"log_level": "debug"}, logger=logger)
    containers.run("logged", "echo hi")
    name = containers.name("logged")
    records: list[log_capturer.Record] = []
    collect_until(cap, records, lambda r: of(r, name), 30, "the container's line")
    wait_for(lambda: any(name in r.getMessage() for r in lines), 30, "a log line naming the container")
    assert any(r.threadName != threading.current_thread().name for r in lines), "expected calls from the library's thread"
    assert {r.levelno for r in lines} <= {logging.ERROR, logging.WARNING, logging.INFO, logging.DEBUG}


def test_config_from_json_string_and_since_all(containers):
    cid = containers.run("before", "echo early; sleep 60")
    name = containers.name("before")
    # The line was written before the capture started: only `since: all` sees it.
    wait_for(lambda: "early" in docker("logs", cid), 30, "the line in docker logs")
    config = '{"include_containers": ["%s"], "since": "all"}' % containers.prefix
    with log_capturer.Capture(config) as cap:
        records: list[log_capturer.Record] = []
        collect_until(cap, records, lambda r: of(r, name), 30, "the early line")
        assert [r.text for r in of(records, name)] == ["early"]

