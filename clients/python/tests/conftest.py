"""Registers the shared fixtures (tests/fixtures.py) for this suite."""

from fixtures import guarded_server, redis, redis_server, server, upstream  # noqa: F401
