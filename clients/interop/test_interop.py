"""Workers of every language in workers/ share one lock through streamgate: exact total."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_workers_of_every_language_increment_one_counter_exactly_under_one_lock() -> None:
    result = subprocess.run(
        [sys.executable, str(HERE / "driver.py"), "--per-language", "2", "--count", "20"],
        capture_output=True,
        text=True,
        timeout=400,
    )
    print(result.stdout, result.stderr)
    assert result.returncode == 0, result.stdout + result.stderr
    line = next(line for line in result.stdout.splitlines() if line.startswith("interop:"))
    total, expected = line.split("counter ")[1].split(" (expected ")
    assert int(total) == int(expected.split(")")[0]) > 0
