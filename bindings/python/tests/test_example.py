"""examples/python/tail.py: JSON lines of a real container until Ctrl-C."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time

import pytest

from conftest import REPO

TAIL = REPO / "examples" / "python" / "tail.py"
RFC3339_NS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z")


def lines_of(stream) -> queue.Queue:
    """A queue fed with the stream's lines by a reader thread (None at EOF)."""
    lines: queue.Queue = queue.Queue()

    def read() -> None:
        for line in stream:
            lines.put(line)
        lines.put(None)

    threading.Thread(target=read, daemon=True).start()
    return lines


def next_line(lines: queue.Queue, deadline: float, what: str) -> str:
    try:
        line = lines.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        pytest.fail(f"timed out waiting for {what}")
    if line is None:
        pytest.fail(f"the output ended before {what}")
    return line


def test_tail_prints_json_lines_until_ctrl_c(containers):
    config = json.dumps({"include_containers": [containers.prefix]})
    tail = subprocess.Popen(
        [sys.executable, str(TAIL), "--config", config],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        deadline = time.monotonic() + 30
        errors = lines_of(tail.stderr)
        assert "following" in next_line(errors, deadline, "tail to start")
        container_id = containers.run("tail", "echo one; echo two >&2; printf 'caf\\303\\251\\n'")
        output = lines_of(tail.stdout)
        got = [json.loads(next_line(output, deadline, f"line {i + 1}")) for i in range(3)]
        tail.send_signal(signal.SIGINT)
        assert tail.wait(10) == 0
    finally:
        if tail.poll() is None:
            tail.kill()
            tail.wait()
    by_message = {g["message"]: g for g in got}
    assert set(by_message) == {"one", "two", "café"}
    assert by_message["one"]["stream"] == "stdout" and by_message["two"]["stream"] == "stderr"
    for g in got:
        assert set(g) == {"container_id", "container_name", "stream", "timestamp", "message"}
        assert g["container_id"] == container_id
        assert g["container_name"] == containers.name("tail")
        assert RFC3339_NS.fullmatch(g["timestamp"]), g["timestamp"]


def test_tail_refuses_a_bad_config():
    result = subprocess.run(
        [sys.executable, str(TAIL), "--config", '{"rotation_intreval": "1s"}'],
        capture_output=True, text=True, timeout=30,
    )
    assert result.returncode == 2
    assert "rotation_intreval" in result.stderr
