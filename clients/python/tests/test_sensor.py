"""SensorFeed through the real server: readings in, processed readings and alerts out."""

from __future__ import annotations

import asyncio
import math
from collections.abc import AsyncIterator, Iterable

import pytest

from harness import StreamgateServer
from streamgate_client import (
    AlertEvent,
    Client,
    ConfigRejectedEvent,
    FeedConfig,
    ReadingEvent,
    RejectedEvent,
    SensorEvent,
    SensorInput,
    SensorReading,
)


async def feed(items: Iterable[SensorInput]) -> AsyncIterator[SensorInput]:
    for item in items:
        yield item


async def run(server: StreamgateServer, items: Iterable[SensorInput]) -> list[SensorEvent]:
    async with Client(server.addr) as c:
        return [event async for event in c.sensor_feed(feed(items))]


def readings(events: list[SensorEvent]) -> list[ReadingEvent]:
    return [e for e in events if isinstance(e, ReadingEvent)]


def alerts(events: list[SensorEvent]) -> list[AlertEvent]:
    return [e for e in events if isinstance(e, AlertEvent)]


def kind(event: SensorEvent) -> str:
    """The case of the union, checked exhaustively by `match` (and mypy)."""
    match event:
        case ReadingEvent():
            return "reading"
        case AlertEvent():
            return "alert"
        case RejectedEvent():
            return "rejected"
        case ConfigRejectedEvent():
            return "config_rejected"


async def test_each_reading_comes_back_processed_in_order_with_fahrenheit(server: StreamgateServer) -> None:
    temps = [20.0, 21.5, -40.0, 37.0]
    events = await run(server, ({"sensor_id": "s1", "temperature": t, "humidity": 50.0} for t in temps))
    processed = readings(events)
    assert [p.temp_c for p in processed] == temps
    assert [p.temp_f for p in processed] == [t * 9 / 5 + 32 for t in temps]
    assert all(p.sensor_id == "s1" and p.humidity == 50.0 for p in processed)
    assert processed[0].timestamp is not None


async def test_crossing_the_threshold_fires_one_alert_and_resolves_once(server: StreamgateServer) -> None:
    temps = [25.0, 29.0, 30.0, 31.0, 25.0, 24.0]
    events = await run(server, (SensorReading(sensor_id="s1", temperature=t, humidity=40.0) for t in temps))
    assert [p.alert for p in readings(events)] == [False, True, True, True, False, False]
    states = [a.state for a in alerts(events)]
    assert states == ["firing", "resolved"]
    assert {kind(e) for e in events} == {"reading", "alert"}
    assert alerts(events)[0].sensor_id == "s1"
    assert alerts(events)[0].temp_c == 29.0


async def test_bad_readings_are_rejected_in_band_and_the_stream_goes_on(server: StreamgateServer) -> None:
    items: list[SensorInput] = [
        {"sensor_id": "s1", "temperature": 20.0},
        {"sensor_id": "s1", "temperature": math.nan},
        {"sensor_id": "", "temperature": 20.0},
        {"sensor_id": "s1", "temperature": -500.0},
        {"sensor_id": "s1", "temperature": 21.0},
    ]
    events = await run(server, items)
    assert [p.temp_c for p in readings(events)] == [20.0, 21.0]
    rejected = [e for e in events if isinstance(e, RejectedEvent)]
    assert len(rejected) == 3
    assert all(r.reason for r in rejected)
    assert [r.code for r in rejected] == ["NOT_FINITE", "EMPTY_SENSOR_ID", "OUT_OF_RANGE"]


async def test_a_feed_config_changes_the_threshold_for_the_readings_after_it(server: StreamgateServer) -> None:
    items: list[SensorInput] = [
        {"sensor_id": "s1", "temperature": 30.0},
        FeedConfig(sensor_id="s1", threshold=35.0),
        {"sensor_id": "s1", "temperature": 30.0},
        {"sensor_id": "s1", "temperature": 36.0},
    ]
    events = await run(server, items)
    assert [p.alert for p in readings(events)] == [True, False, True]


async def test_leaving_the_feed_early_stops_consuming_the_readings(server: StreamgateServer) -> None:
    sent = 0

    async def endless() -> AsyncIterator[SensorInput]:
        nonlocal sent
        while True:
            sent += 1
            yield {"sensor_id": "s1", "temperature": 20.0}
            await asyncio.sleep(0.01)

    async with Client(server.addr) as c:
        received = 0
        async for event in c.sensor_feed(endless()):
            received += isinstance(event, ReadingEvent)
            if received == 5:
                break
        at_break = sent
        await asyncio.sleep(0.5)
        # A feed still running would have sent ~50 more readings by now.
        assert sent - at_break <= 3


async def test_an_exception_in_the_readings_reaches_the_caller(server: StreamgateServer) -> None:
    async def broken() -> AsyncIterator[SensorInput]:
        yield {"sensor_id": "s1", "temperature": 20.0}
        raise ValueError("sensor broke")

    async with Client(server.addr) as c:
        with pytest.raises(ValueError, match="sensor broke"):
            async for _ in c.sensor_feed(broken()):
                pass


async def test_an_item_of_the_wrong_type_raises_type_error(server: StreamgateServer) -> None:
    with pytest.raises(TypeError, match="int"):
        await run(server, [42])  # type: ignore[list-item]
