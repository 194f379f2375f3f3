"""Full-speed senders against the real server: small readings as fast as the client sends
them, on one stream and on 32 sharing one connection, and many small Fetch calls at once.
Every reading comes back processed; none of it is cut off by the server's HTTP/2 small-frame
protection (docs/sensor.md, "Full-speed streams")."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from harness import StreamgateServer, Upstream
from streamgate_client import Client, ReadingEvent, SensorInput

# grpc.aio sends about 1,200 messages a second (measured on a loaded 2-core machine against
# a debug server), so 200,000 readings (what the Go and Rust flood tests send) would take this
# suite minutes per run. The old server cut a full-speed sender off after about 2,300 unread
# small frames (docs/sensor.md, "Full-speed streams"), so 30,000 is over ten times past the
# point that failed, at a cost that fits the test command.
READINGS = 30_000
STREAMS = 32
# Bounds one flood: a stalled or killed connection fails the test instead of hanging it.
FLOOD_TIMEOUT_S = 300.0
# pytest-timeout's bound for a whole test: two floods and the server's start.
pytestmark = pytest.mark.timeout(2 * FLOOD_TIMEOUT_S + 60)


async def readings(sensor: str, n: int) -> AsyncIterator[SensorInput]:
    for i in range(n):
        # Below the 28 °C default threshold: one processed reading each, no alert.
        yield {"sensor_id": sensor, "temperature": 20.0 + i % 5, "humidity": 50.0}


async def flood(c: Client, sensor: str, n: int) -> int:
    """Sends n readings on one feed of c; returns how many processed readings came back."""
    processed = 0
    async for event in c.sensor_feed(readings(sensor, n)):
        if isinstance(event, ReadingEvent):
            processed += 1
    return processed


async def test_a_full_speed_sender_gets_all_30000_readings_processed_twice(server: StreamgateServer) -> None:
    async with Client(server.addr) as c:
        for run in (1, 2):
            processed = await asyncio.wait_for(flood(c, "flood", READINGS), FLOOD_TIMEOUT_S)
            assert processed == READINGS, f"run {run}"


async def test_32_full_speed_streams_on_one_connection_get_every_reading_processed(server: StreamgateServer) -> None:
    per = READINGS // STREAMS
    # One Client is one channel, so one HTTP/2 connection for all 32 streams.
    async with Client(server.addr) as c:
        results = await asyncio.wait_for(
            asyncio.gather(*(flood(c, f"s{s:02}", per) for s in range(STREAMS))), FLOOD_TIMEOUT_S
        )
    assert results == [per] * STREAMS


async def test_many_concurrent_small_fetches_on_one_connection_all_succeed(
    server: StreamgateServer, upstream: Upstream
) -> None:
    calls, in_flight = 2_000, 200
    gate = asyncio.Semaphore(in_flight)

    async with Client(server.addr) as c:

        async def one(i: int) -> tuple[int, bytes]:
            async with gate:
                result = await c.fetch(f"{upstream.base}/hello?i={i}")
                return result.status, result.body

        results = await asyncio.wait_for(asyncio.gather(*(one(i) for i in range(calls))), FLOOD_TIMEOUT_S)
    assert results == [(200, b"hello")] * calls
