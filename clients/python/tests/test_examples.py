"""The seed's four cases, run as the example scripts against the real server."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from harness import StreamgateServer, Upstream

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"


def run_example(name: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_fetch_pool_example_fetches_every_url(server: StreamgateServer, upstream: Upstream) -> None:
    urls = [f"{upstream.base}/hello", f"{upstream.base}/users?page=1&size=3", f"{upstream.base}/missing"]
    out = run_example("fetch_pool.py", "--server", server.addr, *urls)
    assert f"{urls[0]}: received 5 bytes (HTTP 200)" in out
    assert f"{urls[2]}: received 8 bytes (HTTP 404)" in out
    assert len(out.splitlines()) == 3


def test_paginated_read_example_reads_every_record(server: StreamgateServer, upstream: Upstream) -> None:
    out = run_example("paginated_read.py", "--server", server.addr, "--page-size", "10", f"{upstream.base}/users")
    assert re.findall(r"page (\d+): received (\d+) records", out) == [
        ("1", "10"),
        ("2", "10"),
        ("3", "10"),
        ("4", "10"),
        ("5", "5"),
    ]
    assert "total: 45 records" in out


def test_distributed_counter_example_reaches_exactly_300(redis_server: StreamgateServer) -> None:
    out = run_example("distributed_counter.py", "--server", redis_server.addr, "--lock", "example-counter")
    assert "final counter: 300 (expected: 300)" in out


def test_sensor_stream_example_processes_readings_until_the_sensor_stops(server: StreamgateServer) -> None:
    out = run_example("sensor_stream.py", "--server", server.addr, "--seconds", "2", "--interval", "0.1")
    processed = re.search(r"processed (\d+) readings", out)
    assert processed is not None and int(processed.group(1)) >= 5, out
    assert "sensor sensor_01 stream stopped" in out
    for line in re.findall(r"^(?:ALERT |normal) sensor .*$", out, flags=re.M):
        celsius = float(line.split(": ")[1].split(" C")[0])
        assert line.startswith("ALERT ") == (celsius > 28.0), line
