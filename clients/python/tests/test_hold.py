"""Locks held by an open Hold stream, through the real server on a real Redis."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from harness import StreamgateServer
from streamgate_client import Client, LockNotAcquired


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def test_held_lock_outlives_its_ttl_while_the_block_runs(redis_server: StreamgateServer) -> None:
    name = unique("hold")
    async with Client(redis_server.addr) as a, Client(redis_server.addr) as b:
        async with a.hold(name, ttl=1.0) as held:
            assert held.fencing_token > 0
            await asyncio.sleep(2.5)  # two and a half leases: only renewal keeps it
            assert not held.lost.is_set(), held.lost_reason
            with pytest.raises(LockNotAcquired):
                async with b.lock(name, wait_timeout=0):
                    pass
        async with b.lock(name, wait_timeout=0) as after:
            assert after.fencing_token > held.fencing_token


async def test_held_lock_is_freed_when_its_holder_disconnects(redis_server: StreamgateServer) -> None:
    name = unique("crash")
    a = await Client(redis_server.addr).connect()
    held = a.hold(name, ttl=60)
    await held.__aenter__()
    # Gone without releasing, as a crashed process would be; the lease alone would last 60 s.
    await a.close()
    async with Client(redis_server.addr) as b:
        async with b.lock(name, wait_timeout=10) as taken:
            assert taken.fencing_token > held.fencing_token


async def test_hold_waits_in_the_queue_behind_a_lease_holder(redis_server: StreamgateServer) -> None:
    name = unique("queue")
    async with Client(redis_server.addr) as c:
        lease = c.lock(name, ttl=60)
        assert await lease.acquire()

        async def take() -> int:
            async with c.hold(name, wait_timeout=10) as held:
                return held.fencing_token

        waiter = asyncio.create_task(take())
        await asyncio.sleep(0.2)
        assert not waiter.done()
        assert await lease.release()
        assert await asyncio.wait_for(waiter, 5) > lease.fencing_token


async def test_hold_not_granted_in_time_raises_lock_timeout(redis_server: StreamgateServer) -> None:
    name = unique("busy-hold")
    async with Client(redis_server.addr) as c:
        async with c.hold(name):
            with pytest.raises(LockNotAcquired):
                async with c.hold(name, wait_timeout=0.2):
                    pytest.fail("entered a lock that is held")
