"""Locks through the real server, held in a real redis-server (and in-process)."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from harness import RedisServer, StreamgateServer
from streamgate_client import Client, LockNotAcquired, StreamgateError


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


async def increment(c: Client, name: str, counter: list[int], times: int) -> None:
    """The seed's read-modify-write: without the lock, the awaits in between lose updates."""
    for _ in range(times):
        async with c.lock(name, ttl=10):
            current = counter[0]
            await asyncio.sleep(0.001)
            counter[0] = current + 1


async def test_three_workers_increment_a_counter_to_exactly_300(redis_server: StreamgateServer) -> None:
    name, counter = unique("counter"), [0]
    clients = [await Client(redis_server.addr).connect() for _ in range(3)]
    try:
        await asyncio.gather(*(increment(c, name, counter, 100) for c in clients))
    finally:
        for c in clients:
            await c.close()
    assert counter[0] == 300


async def test_in_process_locks_give_the_same_exclusion_without_redis(server: StreamgateServer) -> None:
    name, counter = unique("local"), [0]
    async with Client(server.addr) as c:
        await asyncio.gather(*(increment(c, name, counter, 20) for _ in range(3)))
    assert counter[0] == 60


async def test_each_grant_has_a_greater_fencing_token(redis_server: StreamgateServer) -> None:
    name, tokens = unique("fence"), []
    async with Client(redis_server.addr) as c:
        for _ in range(3):
            async with c.lock(name) as lock:
                assert lock.held and lock.token
                assert lock.expires_at is not None
                tokens.append(lock.fencing_token)
            assert not lock.held
    assert tokens[0] > 0
    assert tokens == sorted(set(tokens))


async def test_lock_is_released_when_the_block_raises(redis_server: StreamgateServer) -> None:
    name = unique("raises")
    async with Client(redis_server.addr) as c:
        with pytest.raises(ZeroDivisionError):
            async with c.lock(name):
                1 / 0
        async with c.lock(name, wait_timeout=0) as again:
            assert again.held


async def test_lock_is_released_when_the_holding_task_is_cancelled(redis_server: StreamgateServer) -> None:
    name = unique("cancel")
    async with Client(redis_server.addr) as c:
        entered = asyncio.Event()

        async def hold_forever() -> None:
            async with c.lock(name, ttl=60):
                entered.set()
                await asyncio.Event().wait()

        task = asyncio.create_task(hold_forever())
        await asyncio.wait_for(entered.wait(), 10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        # ttl=60: only the release on cancellation can make this try-once succeed.
        async with c.lock(name, wait_timeout=0) as again:
            assert again.held


async def test_cancelled_waiter_leaves_the_queue(redis_server: StreamgateServer) -> None:
    name = unique("waiter")
    async with Client(redis_server.addr) as c:
        holder = c.lock(name, ttl=60)
        await holder.acquire()
        waiter = asyncio.create_task(c.lock(name, ttl=60).acquire())
        await asyncio.sleep(0.3)
        waiter.cancel()
        with pytest.raises(asyncio.CancelledError):
            await waiter
        assert await holder.release()
        # Had the cancelled waiter stayed queued, it would now hold the lock for 60 s.
        async with c.lock(name, wait_timeout=5) as next_holder:
            assert next_holder.fencing_token > holder.fencing_token


async def test_waiter_gets_the_lock_when_the_holder_releases(redis_server: StreamgateServer) -> None:
    name = unique("handoff")
    async with Client(redis_server.addr) as c:
        holder = c.lock(name, ttl=60)
        await holder.acquire()
        waiter = asyncio.create_task(c.lock(name, wait_timeout=10).acquire())
        await asyncio.sleep(0.2)
        assert not waiter.done()
        await holder.release()
        assert await asyncio.wait_for(waiter, 5)


async def test_not_getting_the_lock_in_time_raises_lock_not_acquired(redis_server: StreamgateServer) -> None:
    name = unique("busy")
    async with Client(redis_server.addr) as c:
        async with c.lock(name, ttl=30):
            with pytest.raises(LockNotAcquired) as err:
                async with c.lock(name, wait_timeout=0.2):
                    pytest.fail("entered a lock that is held")
    assert isinstance(err.value, StreamgateError)
    assert err.value.code == grpc.StatusCode.ABORTED
    assert err.value.details == f'lock "{name}" not acquired within 0.2 s'


async def test_extend_pushes_the_lease_further(redis_server: StreamgateServer) -> None:
    async with Client(redis_server.addr) as c:
        async with c.lock(unique("extend"), ttl=5) as lock:
            first = lock.expires_at
            assert await lock.extend(60)
            assert first is not None and lock.expires_at is not None
            assert (lock.expires_at - first).total_seconds() > 30


async def test_two_servers_on_one_redis_exclude_each_other(redis: RedisServer, redis_server: StreamgateServer) -> None:
    name = unique("shared")
    other = StreamgateServer("--redis-url", redis.url)
    a, b = await Client(redis_server.addr).connect(), await Client(other.addr).connect()
    try:
        held = a.lock(name, ttl=30)
        assert await held.acquire()
        assert not await b.lock(name, wait_timeout=0).acquire()
        assert await held.release()
        taken = b.lock(name, wait_timeout=5)
        assert await taken.acquire()
        assert taken.fencing_token > held.fencing_token
        assert await taken.release()
    finally:
        await a.close()
        await b.close()
        other.stop()


@pytest.mark.parametrize("name", ["", "x" * 300])
async def test_bad_lock_name_raises_invalid_argument_naming_the_field(redis_server: StreamgateServer, name: str) -> None:
    async with Client(redis_server.addr) as c:
        with pytest.raises(StreamgateError) as err:
            async with c.lock(name):
                pass
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "name" in err.value.details


async def test_releasing_by_hand_inside_the_block_is_not_an_error(redis_server: StreamgateServer) -> None:
    name = unique("by-hand")
    async with Client(redis_server.addr) as c:
        async with c.lock(name) as lock:
            assert await lock.release()
            assert not await lock.release()
        async with c.lock(name, wait_timeout=0) as again:
            assert again.held


async def test_a_lease_that_expired_inside_the_block_is_reported_on_exit(redis_server: StreamgateServer) -> None:
    async with Client(redis_server.addr) as c:
        with pytest.raises(StreamgateError) as err:
            async with c.lock(unique("expired"), ttl=0.2):
                await asyncio.sleep(0.6)
    assert err.value.code == grpc.StatusCode.FAILED_PRECONDITION
    assert "expired" in err.value.details
