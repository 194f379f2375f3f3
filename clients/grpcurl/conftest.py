"""Reuses the Python client suite's harness and fixtures (real server, Redis, upstreams)."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "python" / "tests"))

from fixtures import redis, redis_server, server, upstream  # noqa: E402,F401
