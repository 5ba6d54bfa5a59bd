#!/usr/bin/env python3
"""Checks the Grafana dashboard monitoring/grafana/container-stream-health.json.

    tests/monitoring/check_dashboard.py [DASHBOARD]                 # structure + promtool
    tests/monitoring/check_dashboard.py --prometheus URL [--require-data] [DASHBOARD]

Without --prometheus: the JSON parses; it is a dashboard Grafana imports
(title, schemaVersion, unique panel ids, panels on the 24-column grid without
overlaps, every panel and query on the `${DS_PROMETHEUS}` data source, the
`container_name` variable); the panels cover what operators need; and every
PromQL expression (panels, annotations, variable queries), with the
dashboard's variables replaced by their defaults, parses: `promtool check
rules` on a file holding each one as a recording rule.

With --prometheus: each expression is run through that server's
`/api/v1/query` instead, and with --require-data must return at least one
series (the e2e test does this against real capturer metrics).

Standard library only. Exits 1 with a list of problems.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
import tempfile
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
DASHBOARD = REPO / "monitoring" / "grafana" / "container-stream-health.json"
DATASOURCE_UID = "${DS_PROMETHEUS}"

# What the dashboard must show: each metric in at least one panel query.
REQUIRED_METRICS = [
    "log_capturer_container_stream_rotations_total",  # rotation rate
    "log_capturer_container_last_rotation_timestamp",  # time since last rotation
    "log_capturer_tasks",  # tasks per active stream
    "log_capturer_container_streams_active",  # streams active
    "log_capturer_container_stream_errors_total",  # rotation errors by type
    "log_capturer_container_rotation_stuck",
    "log_capturer_container_stream_reopens_total",  # reopens by reason
    "log_capturer_records_total",  # throughput
    "log_capturer_bytes_total",
    "log_capturer_container_records_total",
    "log_capturer_container_bytes_total",
    "log_capturer_container_lag_seconds",  # lag per container
    "log_capturer_queue_records",  # queue depth
    "log_capturer_queue_bytes",
    "log_capturer_queue_backpressure_seconds_total",  # backpressure
    "log_capturer_container_paused_seconds_total",  # paused readers, by reason
    "log_capturer_file_descriptors_open",  # open FDs
    "log_capturer_containers_followed",
    "log_capturer_daemon_up",
]

# Grafana's built-in variables, as a query would see them.
BUILTINS = {"__rate_interval": "1m", "__interval": "15s", "__range": "1h"}


class Query:
    def __init__(self, where: str, expr: str, must_have_data: bool) -> None:
        self.where = where
        self.expr = expr
        self.must_have_data = must_have_data


def variable_defaults(dashboard: dict) -> dict[str, str]:
    """Each template variable's value when nothing is selected."""
    values = dict(BUILTINS)
    for v in dashboard.get("templating", {}).get("list", []):
        name = v.get("name", "")
        if v.get("type") == "textbox":
            values[name] = str(v.get("query", ""))
        elif v.get("includeAll"):
            values[name] = v.get("allValue") or ".*"
        elif v.get("type") == "datasource":
            values[name] = "prometheus"
    return values


def substitute(expr: str, values: dict[str, str]) -> str:
    def one(m: re.Match[str]) -> str:
        name = m.group(1) or m.group(2)
        return values.get(name, m.group(0))

    return re.sub(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)", one, expr)


def panels_of(dashboard: dict) -> list[dict]:
    """Every panel, including those inside collapsed rows."""
    out = []
    for p in dashboard.get("panels", []):
        out.append(p)
        out.extend(p.get("panels", []))
    return out


def check_structure(dashboard: dict) -> list[str]:
    problems = []
    if dashboard.get("title") != "Container Stream Health":
        problems.append(f"title is {dashboard.get('title')!r}, not 'Container Stream Health'")
    schema = dashboard.get("schemaVersion")
    if not isinstance(schema, int) or not 36 <= schema <= 41:
        problems.append(f"schemaVersion {schema!r} is not one Grafana 10/11 writes (36 to 41)")
    if not dashboard.get("uid"):
        problems.append("no uid")
    if dashboard.get("id") is not None:
        problems.append("id must be null in a dashboard meant for import")

    variables = {v.get("name"): v for v in dashboard.get("templating", {}).get("list", [])}
    ds = variables.get("DS_PROMETHEUS")
    if not ds or ds.get("type") != "datasource" or ds.get("query") != "prometheus":
        problems.append("no `DS_PROMETHEUS` variable of type datasource (query prometheus)")
    cn = variables.get("container_name")
    if not cn or cn.get("type") != "query":
        problems.append("no `container_name` query variable")

    seen_ids = set()
    boxes = []
    for p in panels_of(dashboard):
        title = p.get("title", "?")
        pid = p.get("id")
        if not isinstance(pid, int) or pid in seen_ids:
            problems.append(f"panel {title!r}: id {pid!r} is missing or not unique")
        seen_ids.add(pid)
        g = p.get("gridPos", {})
        if not all(isinstance(g.get(k), int) for k in "hwxy"):
            problems.append(f"panel {title!r}: gridPos {g!r} lacks h/w/x/y")
            continue
        if g["x"] < 0 or g["w"] < 1 or g["x"] + g["w"] > 24:
            problems.append(f"panel {title!r}: gridPos {g!r} is off the 24-column grid")
        for other_title, o in boxes:
            if (
                g["x"] < o["x"] + o["w"]
                and o["x"] < g["x"] + g["w"]
                and g["y"] < o["y"] + o["h"]
                and o["y"] < g["y"] + g["h"]
            ):
                problems.append(f"panels {title!r} and {other_title!r} overlap")
        boxes.append((title, g))
        if p.get("type") == "row":
            continue
        if p.get("datasource", {}).get("uid") != DATASOURCE_UID:
            problems.append(f"panel {title!r}: data source is not {DATASOURCE_UID}")
        targets = p.get("targets") or []
        if not targets:
            problems.append(f"panel {title!r}: no queries")
        refs = [t.get("refId") for t in targets]
        if len(set(refs)) != len(refs) or not all(refs):
            problems.append(f"panel {title!r}: refIds {refs} are missing or repeated")
        for t in targets:
            if t.get("datasource", {}).get("uid") != DATASOURCE_UID:
                problems.append(f"panel {title!r} query {t.get('refId')}: data source is not {DATASOURCE_UID}")
            if not str(t.get("expr", "")).strip():
                problems.append(f"panel {title!r} query {t.get('refId')}: empty expression")

    exprs = " ".join(q.expr for q in queries_of(dashboard))
    for metric in REQUIRED_METRICS:
        if not re.search(rf"\b{metric}\b", exprs):
            problems.append(f"no panel shows {metric}")
    return problems


def queries_of(dashboard: dict) -> list[Query]:
    """Every PromQL expression, variables replaced by their defaults."""
    values = variable_defaults(dashboard)
    out = []
    for p in panels_of(dashboard):
        for t in p.get("targets") or []:
            if t.get("expr"):
                out.append(Query(f"panel {p.get('title')!r} query {t.get('refId')}", substitute(t["expr"], values), True))
    for a in dashboard.get("annotations", {}).get("list", []):
        if a.get("expr"):
            # Alerts: a healthy system has none.
            out.append(Query(f"annotation {a.get('name')!r}", substitute(a["expr"], values), False))
    for v in dashboard.get("templating", {}).get("list", []):
        definition = v.get("definition") or ""
        m = re.fullmatch(r"\s*label_values\((.*),\s*(\w+)\s*\)\s*", definition)
        if v.get("type") == "query":
            if not m:
                problems = f"variable {v.get('name')!r}: {definition!r} is not label_values(selector, label)"
                raise SystemExit(problems)
            out.append(Query(f"variable {v.get('name')!r}", substitute(m.group(1), values), True))
    for q in out:
        if "$" in q.expr:
            raise SystemExit(f"{q.where}: a variable is left after substitution: {q.expr}")
    return out


def check_with_promtool(queries: list[Query]) -> list[str]:
    """Parses each expression with promtool, as recording rules."""
    lines = ["groups:", "  - name: dashboard", "    rules:"]
    for i, q in enumerate(queries):
        lines.append(f"      - record: dashboard_query_{i}")
        lines.append(f"        expr: {json.dumps(q.expr)}")
    with tempfile.NamedTemporaryFile("w", suffix=".yml", prefix="dashboard-queries-") as f:
        f.write("\n".join(lines) + "\n")
        f.flush()
        r = subprocess.run(["promtool", "check", "rules", f.name], capture_output=True, text=True)
    if r.returncode == 0:
        return []
    out = (r.stdout + r.stderr).strip()
    # Point at the panel: promtool names the rule by its index.
    for i, q in enumerate(queries):
        out = out.replace(f"dashboard_query_{i}\"", f"dashboard_query_{i}\" ({q.where})")
    return [f"promtool check rules failed:\n{out}"]


def query_prometheus(url: str, expr: str) -> tuple[bool, object]:
    """(True, result) or (False, error) from /api/v1/query."""
    full = f"{url.rstrip('/')}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    try:
        with urllib.request.urlopen(full, timeout=10) as resp:
            body = json.load(resp)
    except urllib.error.HTTPError as e:
        try:
            body = json.load(e)
        except ValueError:
            return False, f"HTTP {e.code}"
    except (urllib.error.URLError, OSError, ValueError) as e:
        return False, str(e)
    if body.get("status") != "success":
        return False, f"{body.get('errorType')}: {body.get('error')}"
    return True, body["data"]["result"]


def check_with_prometheus(queries: list[Query], url: str, require_data: bool) -> list[str]:
    problems = []
    for q in queries:
        ok, result = query_prometheus(url, q.expr)
        if not ok:
            problems.append(f"{q.where}: Prometheus rejects {q.expr!r}: {result}")
        elif require_data and q.must_have_data and not result:
            problems.append(f"{q.where}: no data for {q.expr!r}")
    return problems


def check(path: Path, prometheus: str | None = None, require_data: bool = False) -> list[str]:
    try:
        dashboard = json.loads(path.read_text())
    except (OSError, ValueError) as e:
        return [f"{path}: {e}"]
    problems = check_structure(dashboard)
    queries = queries_of(dashboard)
    if prometheus:
        problems += check_with_prometheus(queries, prometheus, require_data)
    else:
        problems += check_with_promtool(queries)
    return problems


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("dashboard", nargs="?", type=Path, default=DASHBOARD)
    parser.add_argument("--prometheus", metavar="URL", help="run the queries through this Prometheus")
    parser.add_argument("--require-data", action="store_true", help="every panel query must return data")
    args = parser.parse_args()
    problems = check(args.dashboard, args.prometheus, args.require_data)
    for p in problems:
        print(f"dashboard: {p}", file=sys.stderr)
    if problems:
        return 1
    n = len(queries_of(json.loads(args.dashboard.read_text())))
    how = f"Prometheus at {args.prometheus}" if args.prometheus else "promtool"
    print(f"dashboard: {args.dashboard.name} is valid; {n} queries accepted by {how}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
