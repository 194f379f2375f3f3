"""Semaphores and read-write locks through the real server, in a real redis-server and in-process."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from harness import StreamgateServer
from streamgate_client import Client, StreamgateError


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_a_semaphore_never_has_more_than_limit_holders(redis_server: StreamgateServer) -> None:
    name, inside, most, fences = unique("sem"), [0], [0], []

    async def worker(c: Client) -> None:
        for _ in range(5):
            async with c.semaphore(name, limit=3, ttl=10) as permit:
                fences.append(permit.fencing_token)
                inside[0] += 1
                most[0] = max(most[0], inside[0])
                await asyncio.sleep(0.005)
                inside[0] -= 1

    clients = [await Client(redis_server.addr).connect() for _ in range(6)]
    try:
        await asyncio.gather(*(worker(c) for c in clients))
    finally:
        for c in clients:
            await c.close()
    assert most[0] == 3, "three at once, never four"
    assert len(set(fences)) == 30, "one fence per grant"


async def test_readers_share_and_a_writer_waits_for_them(server: StreamgateServer) -> None:
    name = unique("rw")
    async with Client(server.addr) as c:
        async with c.read_lock(name) as r1, c.read_lock(name) as r2:
            assert r1.held and r2.held and r2.fencing_token > r1.fencing_token
            writer = c.write_lock(name, wait_timeout=0)
            assert not await writer.acquire(), "no writer beside readers"
        async with c.write_lock(name, wait_timeout=5) as w:
            assert w.fencing_token > r2.fencing_token


async def test_another_limit_on_a_name_in_use_is_failed_precondition(server: StreamgateServer) -> None:
    name = unique("sem-limit")
    async with Client(server.addr) as c:
        async with c.semaphore(name, limit=5):
            with pytest.raises(StreamgateError) as err:
                async with c.semaphore(name, limit=3, wait_timeout=0):
                    pass
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "limit 5" in err.value.details and "limit 3" in err.value.details
