"""ListPages through the real server, lazily, against a loopback page-number API."""

from __future__ import annotations

import asyncio

import grpc
import pytest

from harness import StreamgateServer, Upstream
from streamgate_client import Client, PaginationStyle, StreamgateError


async def test_list_pages_yields_every_page_in_order_until_an_empty_page(
    server: StreamgateServer, upstream: Upstream
) -> None:
    async with Client(server.addr) as c:
        pages = [page async for page in c.list_pages(f"{upstream.base}/users", page_size=20)]
    assert [p.number for p in pages] == [1, 2, 3]
    assert [len(p) for p in pages] == [20, 20, 5]
    ids = [item["id"] for p in pages for item in p.items]
    assert ids == list(range(1, 46))
    assert pages[0].items[0] == {"id": 1, "name": "user1"}
    # The end shows only at the empty page after the last: resuming there yields nothing.
    last_token = pages[-1].next_page_token
    if last_token:
        async with Client(server.addr) as c:
            assert [p async for p in c.list_pages(f"{upstream.base}/users", page_token=last_token)] == []


async def test_page_size_and_start_page_reach_the_upstream_as_query_parameters(
    server: StreamgateServer, upstream: Upstream
) -> None:
    async with Client(server.addr) as c:
        pages = [p async for p in c.list_pages(f"{upstream.base}/users", page_size=10, start_page=3, max_pages=2)]
    assert [p.number for p in pages] == [3, 4]
    assert [p.items[0]["id"] for p in pages] == [21, 31]
    queries = [q for _, _, q, _, _ in upstream.requests_to("/users")]
    assert {"page": "3", "size": "10"} in queries


async def test_resuming_from_a_page_token_continues_after_that_page(
    server: StreamgateServer, upstream: Upstream
) -> None:
    async with Client(server.addr) as c:
        first = None
        async for page in c.list_pages(f"{upstream.base}/users", page_size=20):
            first = page
            break
        assert first is not None and first.next_page_token
        rest = [p async for p in c.list_pages(f"{upstream.base}/users", page_size=20, page_token=first.next_page_token)]
    assert [p.number for p in rest] == [2, 3]
    assert rest[0].items[0]["id"] == 21


async def test_items_pointer_selects_the_items_array(server: StreamgateServer, upstream: Upstream) -> None:
    async with Client(server.addr) as c:
        pages = [p async for p in c.list_pages(f"{upstream.base}/wrapped", items_pointer="/data/items")]
    assert [p.items for p in pages] == [[{"page": 1}], [{"page": 2}]]


async def test_leaving_the_loop_early_stops_reading_the_collection(server: StreamgateServer, upstream: Upstream) -> None:
    before = len(upstream.requests_to("/many"))
    async with Client(server.addr) as c:
        seen = 0
        async for _page in c.list_pages(f"{upstream.base}/many", page_size=10):
            seen += 1
            if seen == 2:
                break
        # Give a server that kept going the time to show it; a correct one stays put.
        await asyncio.sleep(0.5)
        settled = len(upstream.requests_to("/many")) - before
        await asyncio.sleep(0.5)
    fetched = len(upstream.requests_to("/many")) - before
    # 1000 pages exist; besides the 2 consumed, only the prefetch and what HTTP/2 flow
    # control let through before the break were read, and nothing after.
    assert 2 <= fetched <= 20, fetched
    assert fetched == settled


async def test_link_header_style_follows_rel_next_until_there_is_none(
    server: StreamgateServer, upstream: Upstream
) -> None:
    async with Client(server.addr) as c:
        pages = [p async for p in c.list_pages(f"{upstream.base}/linked", style=PaginationStyle.LINK_HEADER)]
    assert [p.items for p in pages] == [[{"p": 1}], [{"p": 2}], [{"p": 3}]]
    assert [p.number for p in pages] == [1, 2, 3]
    assert pages[1].url.endswith("/linked?p=2")


async def test_empty_url_raises_invalid_argument(server: StreamgateServer) -> None:
    async with Client(server.addr) as c:
        with pytest.raises(StreamgateError) as err:
            async for _ in c.list_pages(""):
                pass
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "url" in err.value.details
