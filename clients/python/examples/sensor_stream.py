"""Seed case 4, the sensor stream: readings in, processed readings and alerts out, 5 s.

The simulator is the seed's async generator; the processing (Celsius to Fahrenheit, the
28 degree alert threshold) now happens in the server, which also sends an Alert on each state
change. Stopping the sensor ends the input, the server answers what it has, and the feed ends.

    python examples/sensor_stream.py --server 127.0.0.1:50051
"""

from __future__ import annotations

import argparse
import asyncio
import random
from collections.abc import AsyncIterator

from streamgate_client import AlertEvent, Client, ConfigRejectedEvent, ReadingEvent, RejectedEvent, SensorInput


class SensorSimulator:
    """Simulated sensor: a reading every `interval` seconds until stopped."""

    def __init__(self, sensor_id: str, interval: float = 0.5) -> None:
        self.sensor_id = sensor_id
        self.interval = interval
        self._running = False

    async def read_stream(self) -> AsyncIterator[SensorInput]:
        self._running = True
        try:
            while self._running:
                await asyncio.sleep(self.interval)
                yield {
                    "sensor_id": self.sensor_id,
                    "temperature": round(random.uniform(20, 30), 2),
                    "humidity": round(random.uniform(40, 70), 2),
                }
        finally:
            print(f"sensor {self.sensor_id} stream stopped")

    def stop(self) -> None:
        self._running = False


async def alert_handler(c: Client, sensor: SensorSimulator) -> tuple[int, int]:
    readings = alerts = 0
    async for event in c.sensor_feed(sensor.read_stream()):
        match event:
            case ReadingEvent():
                readings += 1
                mark = "ALERT " if event.alert else "normal"
                print(f"{mark} sensor {event.sensor_id}: {event.temp_c} C / {event.temp_f:.2f} F, {event.humidity}% RH")
            case AlertEvent():
                alerts += 1
                print(f"alert {event.state}: sensor {event.sensor_id} at {event.temp_c} C (threshold {event.threshold})")
            case RejectedEvent() | ConfigRejectedEvent():
                print(f"rejected: {event.reason}")
    return readings, alerts


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--interval", type=float, default=0.3)
    args = parser.parse_args()

    sensor = SensorSimulator("sensor_01", interval=args.interval)
    async with Client(args.server) as c:
        task = asyncio.create_task(alert_handler(c, sensor))
        await asyncio.sleep(args.seconds)
        sensor.stop()
        readings, alerts = await task
    print(f"processed {readings} readings, {alerts} alert state changes")
    return 0 if readings > 0 else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
