"""Multiline grouping seen from Python: a traceback is one record."""

from __future__ import annotations

import pytest

import log_capturer
from conftest import REPO, collect_until, container_stats, wait_for

FIXTURES = REPO / "tests" / "fixtures" / "multiline"
#: The events of python.txt as line spans (from 1, inclusive), as the
#: library's unit tests establish them.
PYTHON_SPANS = [(1, 1), (2, 8), (9, 9), (10, 23), (24, 40), (41, 44), (45, 53), (54, 54), (55, 61)]


def printing(text: str, to: str = "") -> str:
    """A shell command printing ``text`` as it is."""
    return f"cat {to} <<'LCT_END'\n{text}LCT_END\n"


def of(records, name, stream):
    return [r for r in records if r.container_name == name and r.stream == stream]


def test_each_traceback_is_one_record(containers, start_capture):
    cap = start_capture({"multiline": {"parser": "python", "timeout_ms": 500}})
    text = (FIXTURES / "python.txt").read_text()
    containers.run("tb", printing(text, ">&2"))
    name = containers.name("tb")
    records: list[log_capturer.Record] = []
    collect_until(cap, records, lambda r: len(of(r, name, "stderr")) >= len(PYTHON_SPANS), 30, "every traceback")
    wait_for(lambda: getattr(container_stats(cap, name), "state", None) == "drained", 30, "the container to be drained")
    records.extend(cap.poll(100_000, timeout=0.3))
    lines = text.split("\n")[:-1]
    expected = ["\n".join(lines[a - 1 : b]) for a, b in PYTHON_SPANS]
    assert [r.text for r in of(records, name, "stderr")] == expected
    assert len(records) == len(PYTHON_SPANS)
    assert container_stats(cap, name).held_lines == 0


def test_a_label_turns_grouping_off_for_its_container(containers, start_capture):
    cap = start_capture({"multiline": {"parser": "python"}})
    text = (FIXTURES / "python.txt").read_text()
    containers.run("off", printing(text), "--label", "log_capturer.multiline=off")
    name = containers.name("off")
    records: list[log_capturer.Record] = []
    lines = text.split("\n")[:-1]
    collect_until(cap, records, lambda r: len(of(r, name, "stdout")) >= len(lines), 30, "every line")
    assert [r.text for r in of(records, name, "stdout")] == lines


def test_a_bad_multiline_option_names_the_key():
    with pytest.raises(log_capturer.ConfigError) as e:
        log_capturer.Capture({"multiline": {"parser": "ruby"}})
    assert "multiline.parser" in e.value.message and "ruby" in e.value.message
