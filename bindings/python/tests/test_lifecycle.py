"""Errors and the lifecycle: bad configs, use after close, stopping from
another thread while a poll blocks, iteration, many start/stop cycles.

Captures that need no containers point at a socket that does not exist
(the library retries in the background; nothing touches the daemon)."""

from __future__ import annotations

import gc
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

import log_capturer
from conftest import collect_until, wait_for

# The daemon need not be reachable; log_level off keeps the retries quiet.
OFFLINE = {"docker_host": "unix:///nonexistent/log-capturer-test.sock", "log_level": "off"}


def offline_capture(**config) -> log_capturer.Capture:
    return log_capturer.Capture({**OFFLINE, **config})


@pytest.mark.parametrize(
    "config, key",
    [
        ({"rotation_intreval": "5m"}, "rotation_intreval"),
        ({"read_timeout": "-5s"}, "read_timeout"),
        ({"max_line_bytes": 10}, "max_line_bytes"),
        ({"streams": ["stdin"]}, "streams"),
        ({"log_level": "loud"}, "log_level"),
        ('{"since": "yesterday"}', "since"),
    ],
)
def test_bad_config_raises_config_error_naming_the_key(config, key):
    with pytest.raises(log_capturer.ConfigError) as caught:
        log_capturer.Capture(config)
    error = caught.value
    assert key in str(error)
    assert error.code == 2
    assert isinstance(error, log_capturer.CaptureError) and isinstance(error, ValueError)


@pytest.mark.parametrize("config", ["not json", "[1, 2]", "[]", '["unix:///x.sock"]', "null", "5", '{"a": 1', "{}\0{}", {"obj": object()}, {"rotation_jitter": float("nan")}])
def test_malformed_config_raises_config_error(config):
    with pytest.raises(log_capturer.ConfigError):
        log_capturer.Capture(config)


def test_config_that_is_not_utf8_is_refused_by_the_library():
    with pytest.raises(log_capturer.InvalidArgumentError, match="UTF-8"):
        log_capturer.Capture(b'{"log_level": "\xff"}')


def test_config_of_the_wrong_type_raises_type_error():
    with pytest.raises(TypeError):
        log_capturer.Capture(42)


def test_start_error_message_is_the_latest():
    """capture_last_error(NULL) is per process; each failure reports its own key."""
    for key in ("first_bad_key", "second_bad_key"):
        with pytest.raises(log_capturer.ConfigError, match=key):
            log_capturer.Capture({key: 1})


def test_use_after_close_raises_closed_error():
    cap = offline_capture()
    assert cap.poll(timeout=0) == []
    cap.close()
    assert cap.closed
    for use in (
        lambda: cap.poll(),
        lambda: cap.poll(timeout=0),
        lambda: cap.stats(),
        lambda: cap.stats_dict(),
        lambda: cap.metrics_text(),
        lambda: cap.container_info("x" * 12),
    ):
        with pytest.raises(log_capturer.ClosedError, match="closed"):
            use()
    assert list(cap) == []  # iteration just ends
    cap.stop()  # stopping a closed capture is a no-op
    cap.close()  # and so is closing it again
    assert "closed" in repr(cap)


def test_context_manager_closes_even_on_error():
    with pytest.raises(RuntimeError):
        with offline_capture() as cap:
            raise RuntimeError("boom")
    assert cap.closed
    with pytest.raises(log_capturer.ClosedError):
        cap.stats()


def test_stop_is_idempotent_and_poll_after_stop_raises():
    with offline_capture() as cap:
        cap.stop()
        cap.stop()
        with pytest.raises(log_capturer.StoppedError) as caught:
            cap.poll(timeout=0)
        assert caught.value.code == 4 and "stopped" in str(caught.value)
        with pytest.raises(log_capturer.StoppedError):
            cap.poll(timeout=None)  # never blocks once stopped
        assert cap.stats().containers == [] and "containers" in cap.stats_dict()  # still work after stop


def test_poll_arguments_are_checked():
    with offline_capture() as cap:
        with pytest.raises(log_capturer.InvalidArgumentError, match="max_records"):
            cap.poll(0)  # refused by the library
        with pytest.raises(log_capturer.InvalidArgumentError):
            cap.poll(-1)
        with pytest.raises(log_capturer.InvalidArgumentError):
            cap.poll(1, timeout=-1)
        with pytest.raises(log_capturer.InvalidArgumentError):
            cap.poll(1, timeout=float("nan"))
        with pytest.raises(TypeError):
            cap.poll("10")
        with pytest.raises(TypeError):
            cap.container_info(None)
        with pytest.raises(log_capturer.InvalidArgumentError):
            cap.container_info("a\0b")
        started = time.monotonic()
        assert cap.poll(10, timeout=0) == []
        assert cap.poll(10, timeout=0.3) == []
        assert 0.25 <= time.monotonic() - started < 3


def poll_in_thread(cap: log_capturer.Capture, timeout: float | None):
    """Starts a thread blocked in cap.poll; returns (thread, outcome dict)."""
    outcome: dict = {}

    def run() -> None:
        started = time.monotonic()
        try:
            outcome["records"] = cap.poll(10, timeout=timeout)
        except BaseException as e:  # noqa: BLE001
            outcome["error"] = e
        outcome["seconds"] = time.monotonic() - started

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    # The binding counts the call before it enters capture_poll.
    wait_for(lambda: cap._handle.in_flight >= 1, 10, "the poll to start")
    return thread, outcome


@pytest.mark.parametrize("timeout", [60.0, None])
def test_stop_from_another_thread_wakes_a_blocked_poll(timeout):
    with offline_capture() as cap:
        thread, outcome = poll_in_thread(cap, timeout)
        started = time.monotonic()
        cap.stop()
        thread.join(10)
        assert not thread.is_alive(), "the poll did not return after stop"
        assert time.monotonic() - started < 6  # capture_stop's own deadline is 5 s
        assert isinstance(outcome.get("error"), log_capturer.StoppedError), outcome


@pytest.mark.parametrize("timeout", [60.0, None])
def test_wake_from_another_thread_returns_an_empty_poll(timeout):
    with offline_capture() as cap:
        thread, outcome = poll_in_thread(cap, timeout)
        cap.wake()
        thread.join(10)
        assert not thread.is_alive(), "the poll did not return after wake"
        assert outcome.get("records") == [], outcome
        assert outcome["seconds"] < 5, outcome  # not the poll's own timeout
        assert cap.poll(timeout=0) == []  # the capture still runs
    cap.wake()  # a no-op once closed


def test_close_from_another_thread_wakes_a_blocked_poll():
    cap = offline_capture()
    thread, outcome = poll_in_thread(cap, 60.0)
    cap.close()  # waits for the poll to leave before freeing the handle
    thread.join(10)
    assert not thread.is_alive()
    assert isinstance(outcome.get("error"), (log_capturer.StoppedError, log_capturer.ClosedError)), outcome
    assert cap.closed


def test_iteration_ends_when_stopped_from_another_thread(containers, start_capture):
    cap = start_capture()
    containers.run("iter", "seq 1 50; sleep 60")
    name = containers.name("iter")
    seen: list[log_capturer.Record] = []

    def consume() -> None:
        for record in cap:
            seen.append(record)

    thread = threading.Thread(target=consume, daemon=True)
    thread.start()
    wait_for(lambda: len([r for r in seen if r.container_name == name]) >= 50, 30, "50 lines through iteration")
    cap.stop()
    thread.join(10)
    assert not thread.is_alive(), "iteration did not end after stop"
    assert [r.text for r in seen] == [str(i) for i in range(1, 51)]


def test_concurrent_polls_share_the_records(containers, start_capture):
    cap = start_capture()
    containers.run("par", "seq 1 2000")
    name = containers.name("par")
    parts: list[list[log_capturer.Record]] = [[] for _ in range(4)]
    done = threading.Event()

    def poll_into(part: list) -> None:
        while not done.is_set():
            try:
                part.extend(cap.poll(100, timeout=0.2))
            except (log_capturer.StoppedError, log_capturer.ClosedError):
                return

    threads = [threading.Thread(target=poll_into, args=(p,), daemon=True) for p in parts]
    for t in threads:
        t.start()
    wait_for(lambda: sum(len(p) for p in parts) >= 2000, 30, "2000 lines across 4 polling threads")
    cap.close()  # while the threads poll: they end with StoppedError or ClosedError
    done.set()
    for t in threads:
        t.join(10)
        assert not t.is_alive()
    lines = sorted(int(r.text) for p in parts for r in p if r.container_name == name)
    assert lines == list(range(1, 2001))


def threads_of_process() -> int:
    return len(os.listdir("/proc/self/task"))


def test_many_start_stop_cycles_leave_no_threads_behind():
    before = threads_of_process()
    for _ in range(10):
        with offline_capture() as cap:
            cap.poll(timeout=0)
    dropped = offline_capture()  # never closed: the finalizer frees it
    del dropped
    gc.collect()
    wait_for(lambda: threads_of_process() <= before, 10, f"the thread count to return to {before}")


EXIT_SCRIPT = """
import logging, threading, time, log_capturer
logging.basicConfig(level=logging.DEBUG)
cap = log_capturer.Capture({"docker_host": "unix:///nonexistent/log-capturer-test.sock", "log_level": "debug",
                            "retry_backoff_secs": 0.01, "retry_backoff_max_secs": 0.02})
polling = threading.Event()
def poll():
    polling.set()
    try:
        cap.poll(timeout=None)
    except log_capturer.StoppedError:
        print("poll stopped", flush=True)
threading.Thread(target=poll, daemon=True).start()
polling.wait()
while not any("unavailable" in r for r in log_lines):  # the subprocess has a deadline
    time.sleep(0.01)
print("exiting", flush=True)
"""


def test_interpreter_exit_with_an_open_capture_is_clean(tmp_path):
    """Exit with a capture never closed, a poll blocked in a daemon thread and
    the library's thread calling into Python logging: the finalizer stops
    and frees the capture before the interpreter goes away."""
    script = tmp_path / "exit.py"
    script.write_text(
        "log_lines = []\n"
        "import logging\n"
        "class Keep(logging.Handler):\n"
        "    def emit(self, record): log_lines.append(record.getMessage())\n"
        "logging.getLogger('log_capturer').addHandler(Keep())\n" + EXIT_SCRIPT
    )
    env = dict(os.environ, PYTHONPATH=str(Path(log_capturer.__file__).parent.parent))
    result = subprocess.run([sys.executable, str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["exiting", "poll", "stopped"]
    # Every line goes through logging (capture_start_with_log), none to
    # stderr directly.
    assert "log_capturer:Docker daemon" in result.stderr
    assert "log-capturer WARN" not in result.stderr
