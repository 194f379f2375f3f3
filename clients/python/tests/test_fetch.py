"""Fetch through the real server to loopback upstreams."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from harness import StreamgateServer, Upstream
from streamgate_client import CacheMode, Client, StreamgateError


async def test_fetch_returns_the_upstream_status_headers_and_body(server: StreamgateServer, upstream: Upstream) -> None:
    async with Client(server.addr) as c:
        result = await c.fetch(f"{upstream.base}/hello")
    assert result.status == 200
    assert result.body == b"hello"
    assert result.text() == "hello"
    assert result.header("x-upstream") == "yes"
    assert result.url == f"{upstream.base}/hello"
    assert result.elapsed >= 0


async def test_upstream_error_statuses_are_results_not_exceptions(server: StreamgateServer, upstream: Upstream) -> None:
    async with Client(server.addr) as c:
        missing = await c.fetch(f"{upstream.base}/missing")
        broken = await c.fetch(f"{upstream.base}/broken")
    assert (missing.status, missing.body) == (404, b"not here")
    assert (broken.status, broken.body) == (503, b"down")


async def test_method_headers_and_body_reach_the_upstream(server: StreamgateServer, upstream: Upstream) -> None:
    async with Client(server.addr) as c:
        result = await c.fetch(
            f"{upstream.base}/echo", method="POST", headers={"X-Test": "42"}, body=b'{"a": 1}'
        )
    assert result.status == 200
    assert result.json() == {"method": "POST", "body": '{"a": 1}', "x-test": "42"}


async def test_concurrent_fetches_share_one_client_and_all_succeed(server: StreamgateServer, upstream: Upstream) -> None:
    before = len(upstream.requests_to("/hello"))
    async with Client(server.addr) as c:
        results = await asyncio.gather(*(c.fetch(f"{upstream.base}/hello") for _ in range(20)))
    assert [r.body for r in results] == [b"hello"] * 20
    assert len(upstream.requests_to("/hello")) - before == 20


async def test_loopback_target_is_refused_with_permission_denied_by_default(
    guarded_server: StreamgateServer, upstream: Upstream
) -> None:
    before = len(upstream.requests)
    async with Client(guarded_server.addr) as c:
        with pytest.raises(StreamgateError) as err:
            await c.fetch(f"{upstream.base}/hello")
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert len(upstream.requests) == before


@pytest.mark.parametrize("url", ["", "not a url", "ftp://127.0.0.1/file"])
async def test_malformed_url_raises_invalid_argument_naming_the_field(server: StreamgateServer, url: str) -> None:
    async with Client(server.addr) as c:
        with pytest.raises(StreamgateError) as err:
            await c.fetch(url)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "url" in err.value.details


async def test_unreachable_server_raises_unavailable() -> None:
    from harness import free_port

    async with Client(f"127.0.0.1:{free_port()}") as c:
        with pytest.raises(StreamgateError) as err:
            await c.fetch("http://127.0.0.1/")
    assert err.value.code == grpc.StatusCode.UNAVAILABLE


async def test_calls_on_a_client_that_is_not_open_say_how_to_open_it() -> None:
    c = Client("127.0.0.1:1")
    with pytest.raises(RuntimeError, match="async with Client"):
        await c.fetch("http://127.0.0.1/")
    with pytest.raises(RuntimeError, match="async with Client"):
        c.lock("name")


async def test_the_cache_mode_reaches_the_server_and_the_cache_status_comes_back(upstream: Upstream) -> None:
    with StreamgateServer("--allow-private-networks", "--fetch-cache-bytes", "1048576") as srv:
        async with Client(srv.addr) as c:
            miss = await c.fetch(f"{upstream.base}/hello", cache_mode=CacheMode.ONLY_IF_CACHED)
            stored = await c.fetch(f"{upstream.base}/hello", cache_mode=CacheMode.NO_STORE)
    assert miss.status == 504, "only-if-cached with nothing stored"
    assert miss.cache_status == "streamgate; fwd=uri-miss; detail=only-if-cached"
    assert stored.status == 200
    assert stored.cache_status == "streamgate; fwd=bypass; detail=no-store"
    assert stored.header("cache-status") == stored.cache_status
