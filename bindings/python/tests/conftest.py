"""Fixtures for the tests against the real daemon: the bench, containers made
and removed by each test, captures filtered to the test's own containers,
and deadline-bounded waits.

Every container runs with ``--network none``, the label
``log-capturer-test=1`` and a name ``lct-<pid>-py-<n>-<test>-…``; a test
only ever captures and removes its own.
"""

from __future__ import annotations

import itertools
import os
import re
import subprocess
import time
from pathlib import Path
from typing import Callable, Iterator, TypeVar

import pytest

import log_capturer

REPO = Path(__file__).resolve().parents[3]
IMAGE = "log-capturer-test/busybox:latest"
T = TypeVar("T")


def pytest_report_header(config: pytest.Config) -> list[str]:
    try:
        lib = log_capturer.library_path()
    except log_capturer.LibraryNotFoundError as e:
        lib = f"NOT FOUND ({e.message.splitlines()[0]})"
    return [f"log_capturer package: {Path(log_capturer.__file__).parent}", f"log_capturer library: {lib}"]


@pytest.fixture(scope="session")
def bench() -> None:
    """dockerd and the test image (scripts/bench.sh is idempotent and locked)."""
    subprocess.run(["bash", str(REPO / "scripts" / "bench.sh")], check=True)


def docker(*args: str) -> str:
    """Runs docker; fails the test with its stderr when it fails."""
    result = subprocess.run(["docker", *args], capture_output=True, text=True)
    if result.returncode != 0:
        pytest.fail(f"docker {' '.join(args)} failed: {result.stderr.strip()}")
    return result.stdout.strip()


_numbers = itertools.count()


class Containers:
    """The containers of one test, all named ``<prefix><name>``."""

    def __init__(self, test: str) -> None:
        short = re.sub(r"[^a-zA-Z0-9_.-]+", "-", test)[:24].strip("-")
        self.prefix = f"lct-{os.getpid()}-py-{next(_numbers)}-{short}-"
        self.names: list[str] = []

    def name(self, name: str) -> str:
        return self.prefix + name

    def run(self, name: str, script: str, *options: str) -> str:
        """``docker run -d`` of the test image running ``sh -c script``; returns the full id."""
        full = self.name(name)
        self.names.append(full)
        return docker(
            "run", "-d", "--network", "none", "--label", "log-capturer-test=1",
            "--name", full, *options, IMAGE, "sh", "-c", script,
        )

    def remove_all(self) -> None:
        if self.names:
            subprocess.run(["docker", "rm", "-f", *self.names], capture_output=True)
            self.names.clear()


@pytest.fixture
def containers(bench: None, request: pytest.FixtureRequest) -> Iterator[Containers]:
    made = Containers(request.node.name.removeprefix("test_"))
    yield made
    made.remove_all()


@pytest.fixture
def start_capture(containers: Containers) -> Iterator[Callable[..., log_capturer.Capture]]:
    """Starts captures of this test's containers only; closes them after the test."""
    started: list[log_capturer.Capture] = []

    def start(config: dict | None = None, **kwargs) -> log_capturer.Capture:
        config = {"include_containers": [containers.prefix], **(config or {})}
        capture = log_capturer.Capture(config, **kwargs)
        started.append(capture)
        return capture

    yield start
    for capture in started:
        capture.close()


def wait_for(condition: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Calls ``condition`` until it returns something true; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def collect_until(
    capture: log_capturer.Capture,
    records: list[log_capturer.Record],
    done: Callable[[list[log_capturer.Record]], bool],
    timeout: float,
    what: str,
) -> None:
    """Polls into ``records`` until ``done(records)``; fails after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while not done(records):
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout} s waiting for {what}; got {len(records)} records")
        records.extend(capture.poll(4096, timeout=0.2))


def container_stats(capture: log_capturer.Capture, name: str) -> log_capturer.ContainerStats | None:
    """The stats of the container with this name, if the capture knows it."""
    return capture.stats().container(name)
