"""Fixtures: the real server (in-process locks, and one on a real Redis) and loopback upstreams.

Imported by name from other suites (clients/grpcurl, clients/interop), hence plain functions
in a module of their own.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from harness import MissingBinary, RedisServer, StreamgateServer, Upstream, json_reply, numbered_pages


def start(factory):  # type: ignore[no-untyped-def]
    try:
        return factory()
    except MissingBinary as err:
        pytest.fail(str(err), pytrace=False)


@pytest.fixture(scope="session")
def server() -> Iterator[StreamgateServer]:
    """Default settings, except that Fetch may reach the loopback upstreams."""
    srv = start(lambda: StreamgateServer("--allow-private-networks"))
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def guarded_server() -> Iterator[StreamgateServer]:
    """Default settings: loopback targets are refused."""
    srv = start(StreamgateServer)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def redis() -> Iterator[RedisServer]:
    srv = start(RedisServer)
    yield srv
    srv.stop()


@pytest.fixture(scope="session")
def redis_server(redis: RedisServer) -> Iterator[StreamgateServer]:
    """A server whose locks live in the real Redis."""
    srv = start(lambda: StreamgateServer("--redis-url", redis.url))
    yield srv
    srv.stop()


def linked_pages(method: str, query: dict[str, str], body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    """Three pages chained by RFC 8288 `Link: <...>; rel="next"` headers."""
    page = int(query.get("p", "1"))
    status, out_headers, out = json_reply([{"p": page}])
    if page < 3:
        out_headers["Link"] = f'</linked?p={page + 1}>; rel="next"'
    return status, out_headers, out


@pytest.fixture(scope="session")
def upstream() -> Iterator[Upstream]:
    up = Upstream(
        {
            "/hello": lambda m, q, b, h: (200, {"Content-Type": "text/plain", "X-Upstream": "yes"}, b"hello"),
            "/missing": lambda m, q, b, h: (404, {"Content-Type": "text/plain"}, b"not here"),
            "/broken": lambda m, q, b, h: (503, {"Content-Type": "text/plain"}, b"down"),
            "/echo": lambda m, q, b, h: json_reply({"method": m, "body": b.decode(), "x-test": h.get("x-test")}),
            "/users": numbered_pages(45),
            "/items": numbered_pages(10),
            "/many": numbered_pages(10_000),
            "/linked": linked_pages,
            "/wrapped": lambda m, q, b, h: json_reply(
                {"data": {"items": [] if int(q.get("page", "1")) > 2 else [{"page": int(q.get("page", "1"))}]}}
            ),
        }
    )
    yield up
    up.stop()
