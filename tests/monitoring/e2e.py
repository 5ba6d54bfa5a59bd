#!/usr/bin/env python3
"""End-to-end test of the monitoring assets against real parts.

Starts a few busybox containers on the real Docker daemon, two captures of
liblog_capturer.so through the Python binding (one with per-container
metrics, one with aggregates only; each serving /metrics on a free loopback
port, rotating every second), and a real Prometheus on loopback with a
temporary config and data directory that scrapes both every second and
loads monitoring/prometheus/log-capturer.rules.yml. Then checks, through
Prometheus's HTTP API, that:

- both targets are up and every container's
  log_capturer_container_stream_rotations_total reaches 2 (the aggregate
  target: 2 per container);
- the rule group is loaded with every alert of the rules file, evaluates
  without errors, and fires nothing (no pending or firing alert) over
  several evaluations of this healthy run;
- each rule's core expression, label matching included, finds the series
  it judges (3 containers, or 2 targets) and finds them healthy;
- every metric name the rules and the dashboard use exists in the scraped
  data;
- every dashboard query is accepted and returns data.

Everything it starts (Prometheus, containers, captures, temporary files) is
stopped and removed on every exit path, including Ctrl-C and SIGTERM.
Containers are named `lct-<pid>-mon-…`, labelled log-capturer-test=1, run
with --network none, and are the only ones captured.

    python3 tests/monitoring/e2e.py        (tests/monitoring/test.sh runs it)

Environment: PROMETHEUS (default /usr/bin/prometheus or `prometheus` on
PATH), LOG_CAPTURER_TEST_IMAGE (default log-capturer-test/busybox:latest).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any, Callable, TypeVar

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bindings" / "python"))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import check_dashboard  # noqa: E402
import log_capturer  # noqa: E402

RULES = REPO / "monitoring" / "prometheus" / "log-capturer.rules.yml"
DASHBOARD = REPO / "monitoring" / "grafana" / "container-stream-health.json"
IMAGE = os.environ.get("LOG_CAPTURER_TEST_IMAGE", "log-capturer-test/busybox:latest")
CONTAINERS = ["alpha", "beta", "gamma"]
JOB = "log-capturer"
T = TypeVar("T")


class Failure(Exception):
    pass


class Fatal(Failure):
    """A failure that waiting longer cannot cure (Prometheus exited)."""


def say(message: str) -> None:
    print(f"e2e: {message}", file=sys.stderr, flush=True)


def wait_for(what: str, seconds: float, probe: Callable[[], T | None], interval: float = 0.25) -> T:
    """Calls probe until it returns something truthy; fails after `seconds`."""
    deadline = time.monotonic() + seconds
    last: Any = None
    while True:
        try:
            last = probe()
        except Fatal:
            raise
        except Failure as e:
            last = e
        else:
            if last:
                return last
        if time.monotonic() >= deadline:
            raise Failure(f"timed out after {seconds:.0f} s waiting for {what} (last: {last})")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def docker(*args: str) -> str:
    r = subprocess.run(["docker", *args], capture_output=True, text=True, timeout=60)
    if r.returncode != 0:
        raise Failure(f"docker {' '.join(args)} failed: {r.stderr.strip()}")
    return r.stdout.strip()


class Prometheus:
    """A Prometheus server on a free loopback port, data in `workdir`."""

    def __init__(self, binary: str, workdir: Path, targets: list[str]) -> None:
        self.workdir = workdir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        config = workdir / "prometheus.yml"
        # JSON is YAML: no YAML library needed.
        config.write_text(
            json.dumps(
                {
                    "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
                    "rule_files": [str(RULES)],
                    "scrape_configs": [{"job_name": JOB, "static_configs": [{"targets": targets}]}],
                },
                indent=2,
            )
        )
        self.log_path = workdir / "prometheus.log"
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [
                binary,
                f"--config.file={config}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                f"--storage.tsdb.path={workdir / 'data'}",
                "--log.level=warn",
            ],
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,
        )

    def log_tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def get(self, path: str, **params: str) -> Any:
        if self.process.poll() is not None:
            raise Fatal(f"Prometheus exited with {self.process.returncode}:\n{self.log_tail()}")
        url = f"{self.url}{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=5) as resp:
                body = resp.read()
        except urllib.error.HTTPError as e:
            raise Failure(f"GET {url}: HTTP {e.code}: {e.read()[:500]!r}") from None
        except (urllib.error.URLError, OSError) as e:
            raise Failure(f"GET {url}: {e}") from None
        if path.startswith("/api/"):
            data = json.loads(body)
            if data.get("status") != "success":
                raise Failure(f"GET {url}: {data}")
            return data["data"]
        return body

    def query(self, expr: str) -> list[dict]:
        return self.get("/api/v1/query", query=expr)["result"]

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.log.close()


def die_with_parent() -> None:
    """In the child: be killed when the test process dies, however it dies."""
    try:
        import ctypes

        PR_SET_PDEATHSIG = 1
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    except (OSError, AttributeError):
        pass


class Poller:
    """Drains the captures in a thread, as a host would, so the queue never fills."""

    def __init__(self, captures: list[log_capturer.Capture]) -> None:
        self.captures = captures
        self.records = {id(c): 0 for c in captures}
        self.error: BaseException | None = None
        self.stopping = threading.Event()
        self.thread = threading.Thread(target=self.run, name="poller", daemon=True)
        self.thread.start()

    def run(self) -> None:
        try:
            while not self.stopping.is_set():
                for c in self.captures:
                    self.records[id(c)] += len(c.poll(4096, timeout=0.1))
        except log_capturer.StoppedError:
            pass
        except BaseException as e:  # reported by the main thread
            self.error = e

    def stop(self) -> None:
        self.stopping.set()
        for c in self.captures:
            c.stop()  # wakes a poll blocked in the thread
        self.thread.join(timeout=10)


def start_capture(prefix: str, per_container: bool) -> tuple[log_capturer.Capture, str]:
    """A capture of our containers serving /metrics on a free loopback port."""
    for attempt in range(5):
        addr = f"127.0.0.1:{free_port()}"
        config = {
            "include_containers": [prefix],
            "since": "all",
            "rotation_interval": "1s",
            "metrics_addr": addr,
            "metrics_per_container": per_container,
        }
        try:
            return log_capturer.Capture(config), addr
        except log_capturer.ConfigError as e:
            # Someone took the port between our probe and the bind: try another.
            if "cannot listen" not in str(e) or attempt == 4:
                raise
    raise AssertionError("unreachable")


# The rules' inputs on real data: each rule's core expression, with the
# same label matching, must find the series it is meant to judge (a
# label mismatch would leave an alert silent for ever) and judge them
# healthy. (expression, series expected: 3 containers or 2 targets, healthy?)
RULE_INPUTS: list[tuple[str, str, int, Callable[[float], bool]]] = [
    # Over this short run the 30-minute rate of these young series is low
    # (rate() divides by the whole window): the false positive the rule's
    # guards exclude. So only "rotating" is asked of it here.
    (
        "LogCapturerRotationRateLow: rotations per interval",
        'rate(log_capturer_container_stream_rotations_total{container_id!=""}[30m]) * 300',
        len(CONTAINERS),
        lambda v: v > 0,
    ),
    (
        "LogCapturerRotationRateLow: share of scrapes with the series",
        'count_over_time(log_capturer_container_stream_rotations_total{container_id!=""}[30m])'
        " / on (instance, job) group_left () count_over_time(up[30m])",
        len(CONTAINERS),
        lambda v: 0 < v <= 1,
    ),
    (
        "LogCapturerRotationOverdue: seconds since the last rotation",
        "time() - log_capturer_container_last_rotation_timestamp",
        len(CONTAINERS) + 1,
        lambda v: v < 360,
    ),
    (
        "LogCapturerTaskLeak: tasks per active stream",
        "log_capturer_tasks / clamp_min(log_capturer_container_streams_active, 1)",
        2,
        lambda v: v <= 3,
    ),
    (
        "LogCapturerTaskLeak: tasks per followed container",
        "log_capturer_tasks / clamp_min(log_capturer_containers_followed, 1)",
        2,
        lambda v: v <= 3,
    ),
    (
        "LogCapturerRotationStuck: the stuck gauge",
        "log_capturer_container_rotation_stuck",
        len(CONTAINERS) + 1,
        lambda v: v == 0,
    ),
    (
        "LogCapturerRotationStuck: stuck errors in 15 minutes",
        'sum by (instance, job) (increase(log_capturer_container_stream_errors_total{error_type="rotation_stuck"}[15m]))',
        2,
        lambda v: v == 0,
    ),
    ("LogCapturerDaemonUnreachable: daemon up", "log_capturer_daemon_up", 2, lambda v: v == 1),
    ("LogCapturerQueueStalled: queue depth", "log_capturer_queue_records", 2, lambda v: v >= 0),
    (
        "LogCapturerLogGap: gaps in 15 minutes",
        'sum by (instance, job) (increase(log_capturer_container_stream_errors_total{error_type="log_gap"}[15m]))',
        2,
        lambda v: v == 0,
    ),
    (
        "LogCapturerClockBehind: clock steps in 15 minutes",
        'sum by (instance, job) (increase(log_capturer_container_stream_errors_total{error_type="clock_behind"}[15m]))',
        2,
        lambda v: v == 0,
    ),
    (
        "LogCapturerContainerRemovedUnread: removals in 15 minutes",
        'sum by (instance, job) (increase(log_capturer_container_stream_errors_total{error_type="removed_unread"}[15m]))',
        2,
        lambda v: v == 0,
    ),
]


def check_rule_inputs(prom: Prometheus) -> None:
    for what, expr, series, healthy in RULE_INPUTS:
        result = prom.query(expr)
        values = [float(r["value"][1]) for r in result]
        if len(values) != series:
            raise Failure(f"{what}: {expr} gives {len(values)} series, not {series}: {result}")
        if not all(healthy(v) for v in values):
            raise Failure(f"{what}: {expr} is not healthy on a healthy run: {result}")


def rule_alert_names() -> list[str]:
    return re.findall(r"^\s*- alert:\s*(\w+)\s*$", RULES.read_text(), re.M)


def metric_names_used() -> set[str]:
    text = RULES.read_text() + DASHBOARD.read_text()
    return set(re.findall(r"\blog_capturer_[a-z_]+", text))


def check_targets_up(prom: Prometheus, addrs: list[str]) -> bool:
    active = prom.get("/api/v1/targets")["activeTargets"]
    health = {t["labels"].get("instance"): t["health"] for t in active}
    if set(health) != set(addrs):
        raise Failure(f"Prometheus scrapes {sorted(health)}, not {sorted(addrs)}")
    return all(h == "up" for h in health.values())


def rotations_by_container(prom: Prometheus, instance: str) -> dict[str, float]:
    result = prom.query(f'log_capturer_container_stream_rotations_total{{instance="{instance}"}}')
    return {r["metric"].get("container_name", ""): float(r["value"][1]) for r in result}


def explain_rotations(prom: Prometheus, capture: log_capturer.Capture) -> str:
    """What a failed rule input needs to be understood: each container's
    scraped rotation counts over the last minute, and the capture's own
    view of its readers."""
    scraped = prom.query('log_capturer_container_stream_rotations_total{container_id!=""}[60s]')
    lines = ["scraped rotations (last 60 s):"]
    for series in scraped:
        values = " ".join(f"{float(t):.1f}={v}" for t, v in series["values"])
        lines.append(f"  {series['metric'].get('container_name')}: {values}")
    lines.append("the capture's readers:")
    for c in capture.stats_dict().get("containers", []):
        keep = {k: v for k, v in c.items() if k not in ("labels", "container_id")}
        lines.append(f"  {json.dumps(keep, sort_keys=True)}")
    return "\n".join(lines)


def rule_group(prom: Prometheus) -> dict:
    groups = prom.get("/api/v1/rules")["groups"]
    ours = [g for g in groups if g["name"] == "log-capturer"]
    if len(ours) != 1:
        raise Failure(f"rule group log-capturer not loaded; groups: {[g['name'] for g in groups]}")
    return ours[0]


def check_rules_healthy(prom: Prometheus, expected: list[str]) -> dict:
    group = rule_group(prom)
    names = [r["name"] for r in group["rules"]]
    if names != expected:
        raise Failure(f"rules loaded {names}, rules file has {expected}")
    for r in group["rules"]:
        if r.get("type") != "alerting":
            raise Failure(f"rule {r['name']} is {r.get('type')}, not alerting")
        if r.get("health") not in ("ok", "unknown") or r.get("lastError"):
            raise Failure(f"rule {r['name']}: health {r.get('health')}, error {r.get('lastError')!r}")
        if r.get("state") != "inactive" or r.get("alerts"):
            raise Failure(f"healthy run, yet rule {r['name']} is {r.get('state')}: {r.get('alerts')}")
    alerts = prom.get("/api/v1/alerts")["alerts"]
    if alerts:
        raise Failure(f"healthy run, yet alerts are active: {json.dumps(alerts, indent=1)}")
    return group


def run(workdir: Path, prometheus_binary: str, cleanup: list[Callable[[], None]], context: dict[str, Any]) -> None:
    prefix = f"lct-{os.getpid()}-mon-"
    names = [prefix + n for n in CONTAINERS]

    def remove_containers() -> None:
        subprocess.run(["docker", "rm", "-f", *names], capture_output=True, timeout=60)

    cleanup.append(remove_containers)
    for name in names:
        docker(
            "run", "-d", "--network", "none", "--label", "log-capturer-test=1", "--name", name,
            IMAGE, "sh", "-c", "i=0; while true; do i=$((i+1)); echo line $i; sleep 0.2; done",
        )
    say(f"started containers {', '.join(names)}")

    per_container, per_container_addr = start_capture(prefix, per_container=True)
    cleanup.append(per_container.close)
    aggregate, aggregate_addr = start_capture(prefix, per_container=False)
    cleanup.append(aggregate.close)
    poller = Poller([per_container, aggregate])
    cleanup.append(poller.stop)  # runs before the closes (cleanup is LIFO)
    say(f"captures serve /metrics on {per_container_addr} (per container) and {aggregate_addr} (aggregates)")

    addrs = [per_container_addr, aggregate_addr]
    prom = Prometheus(prometheus_binary, workdir, addrs)
    cleanup.append(prom.stop)
    context["prometheus"] = prom
    wait_for("Prometheus to be ready", 60, lambda: prom.get("/-/ready"))
    say(f"Prometheus {prom.url} ready (data {workdir / 'data'})")

    wait_for("both targets up", 30, lambda: check_targets_up(prom, addrs))

    def every_container_rotated_twice() -> dict[str, float] | None:
        got = rotations_by_container(prom, per_container_addr)
        return got if set(names) <= set(got) and all(got[n] >= 2 for n in names) else None

    rotations = wait_for(
        "log_capturer_container_stream_rotations_total >= 2 for every container", 60, every_container_rotated_twice
    )
    say("rotations per container: " + ", ".join(f"{n.removeprefix(prefix)}={v:g}" for n, v in sorted(rotations.items())))

    def aggregate_rotated() -> dict[str, float] | None:
        got = rotations_by_container(prom, aggregate_addr)
        return got if got.get("", 0) >= 2 * len(names) else None

    total = wait_for("aggregate rotations >= 2 per container", 60, aggregate_rotated)
    say(f"aggregate rotations: {total['']:g}")
    followed = prom.query(f'log_capturer_containers_followed{{instance="{aggregate_addr}"}}')
    if not followed or float(followed[0]["value"][1]) != len(names):
        raise Failure(f"the aggregate capture follows {followed}, not {len(names)} containers")

    # Rules: loaded, evaluated with the data present, and quiet. Each check
    # waits for a newer evaluation than the one before.
    expected = rule_alert_names()
    if len(expected) < 4:
        raise Failure(f"the rules file has only {expected}")
    seen: set[str] = set()
    for _ in range(3):
        group = wait_for(
            "a new evaluation of the rule group",
            30,
            lambda: (g := rule_group(prom)) and g.get("lastEvaluation") not in seen and g,
        )
        seen.add(group["lastEvaluation"])
        check_rules_healthy(prom, expected)
    say(f"rules loaded and quiet over {len(seen)} evaluations: {', '.join(expected)}")

    # A rate needs samples to span rotations: two scrapes 1 s apart can
    # hold the same count when a rotation's jitter makes it 1.1 s (the
    # rate is then 0 on a healthy run). Five span four seconds.
    def five_samples_each() -> list | None:
        counts = prom.query('count_over_time(log_capturer_container_stream_rotations_total{container_id!=""}[30m])')
        return counts if len(counts) == len(names) and all(float(c["value"][1]) >= 5 for c in counts) else None

    wait_for("five scrapes of every container's rotations", 60, five_samples_each)
    try:
        check_rule_inputs(prom)
    except Failure as e:
        raise Failure(f"{e}\n{explain_rotations(prom, per_container)}") from None
    say("each rule's inputs find the real series and judge them healthy")

    present = set(prom.get("/api/v1/label/__name__/values"))
    # A histogram's base name (in descriptions) stands for its _bucket series.
    missing = sorted(n for n in metric_names_used() if n not in present and f"{n}_bucket" not in present)
    if missing:
        raise Failure(f"the rules or dashboard use metrics the capturer does not export: {missing}")

    problems = check_dashboard.check(DASHBOARD, prom.url, require_data=True)
    if problems:
        raise Failure("dashboard:\n  " + "\n  ".join(problems))
    say("every dashboard query is accepted by Prometheus and returns data")

    if poller.error:
        raise Failure(f"polling failed: {poller.error!r}")
    if not all(poller.records.values()):
        raise Failure(f"a capture delivered no records: {poller.records}")


def find_prometheus() -> str:
    binary = os.environ.get("PROMETHEUS") or shutil.which("prometheus") or "/usr/bin/prometheus"
    if not os.access(binary, os.X_OK):
        raise Failure(f"no Prometheus server at {binary} (Debian package `prometheus`; tests/monitoring/test.sh installs it)")
    return binary


WORKDIR_PREFIX = "log-capturer-monitoring-"


def remove_stale_workdirs() -> None:
    """Removes the temporary directories of earlier runs that were killed."""
    for path in Path(tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        pid = path.name[len(WORKDIR_PREFIX) :].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)


def main() -> int:
    # SIGTERM (a timeout, CI cancelling) unwinds like Ctrl-C, so cleanup runs.
    def on_term(signum: int, _frame: Any) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, signal.default_int_handler)

    remove_stale_workdirs()
    cleanup: list[Callable[[], None]] = []
    workdir = Path(tempfile.mkdtemp(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-"))
    cleanup.append(lambda: shutil.rmtree(workdir, ignore_errors=True))
    started = time.monotonic()
    status = 1
    context: dict[str, Any] = {}
    try:
        run(workdir, find_prometheus(), cleanup, context)
        say(f"passed in {time.monotonic() - started:.1f} s")
        status = 0
    except Failure as e:
        say(f"FAILED: {e}")
        if "prometheus" in context:
            say("the end of Prometheus's log:\n" + context["prometheus"].log_tail())
    except KeyboardInterrupt as e:
        say(f"interrupted ({e or 'Ctrl-C'}); cleaning up")
        status = 130
    finally:
        # Signals must not interrupt the cleanup itself.
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        for step in reversed(cleanup):
            try:
                step()
            except Exception as e:  # keep cleaning up
                say(f"cleanup step failed: {e!r}")
    return status


if __name__ == "__main__":
    sys.exit(main())
