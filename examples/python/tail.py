#!/usr/bin/env python3
"""Follows the logs of every Docker container and prints each line as one
JSON object per line, until Ctrl-C (or SIGTERM):

    {"container_id": "…", "container_name": "web-1", "stream": "stdout",
     "timestamp": "2024-01-02T03:04:05.123456789Z", "message": "…"}

Usage:
    python3 examples/python/tail.py [--config '{"include_containers": ["web-"]}']

The configuration is the library's JSON document (keys in src/config.rs /
README.md). The library is found as the log_capturer package finds it
(inside the installed package, $LOG_CAPTURER_LIB, or a cargo target/ directory).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sys
from pathlib import Path

try:
    import log_capturer
except ImportError:  # Not installed: use the package in this checkout.
    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "bindings" / "python"))
    import log_capturer


def record_json(record: log_capturer.Record) -> str:
    return json.dumps(
        {
            "container_id": record.container_id,
            "container_name": record.container_name,
            "stream": record.stream,
            "timestamp": record.timestamp_rfc3339,
            "message": record.text,
        },
        ensure_ascii=False,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Print every container's log lines as JSON lines.")
    parser.add_argument(
        "--config",
        default="{}",
        help='the capture configuration as a JSON object, e.g. \'{"include_containers": ["web-"], "since": "all"}\'',
    )
    args = parser.parse_args(argv)
    try:
        config = json.loads(args.config)
    except json.JSONDecodeError as e:
        parser.error(f"--config is not JSON: {e}")
    if not isinstance(config, dict):
        parser.error("--config must be a JSON object")

    try:
        capture = log_capturer.Capture(config)
    except log_capturer.CaptureError as e:
        print(f"tail: {e}", file=sys.stderr)
        return 2

    # Ctrl-C and SIGTERM end the program, even when it was started with
    # SIGINT ignored (as a shell's background job is).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, signal.default_int_handler)
    with capture:
        print("tail: following container logs (Ctrl-C to stop)", file=sys.stderr, flush=True)
        try:
            while True:
                records = capture.poll(4096, timeout=1.0)
                if records:
                    sys.stdout.write("".join(record_json(r) + "\n" for r in records))
                    sys.stdout.flush()
        except KeyboardInterrupt:
            pass
        except BrokenPipeError:
            # The reader went away (e.g. `| head`): stop quietly, and keep
            # Python's final flush of stdout from failing again.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        except log_capturer.StoppedError:
            pass
    return 0


if __name__ == "__main__":
    sys.exit(main())
