"""SensorFeed values: what may be sent on the stream and what comes back."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from . import _convert
from .proto import sensor_pb2

#: What the feed yields: one ProcessedReading per accepted reading (in order), an Alert on
#: each state change, and in-band rejections of bad readings or configs.
SensorEvent = (
    sensor_pb2.ProcessedReading | sensor_pb2.Alert | sensor_pb2.ReadingRejected | sensor_pb2.ConfigRejected
)

#: What the feed accepts: a SensorReading, a FeedConfig (applies to the readings after it), a
#: ready SensorFeedRequest, or a dict like the seed's sensor output
#: ``{"sensor_id": "s1", "temperature": 21.5, "humidity": 40.0}`` with an optional
#: ``"timestamp"`` (an aware datetime or seconds since the Unix epoch; absent = time of receipt).
SensorInput = sensor_pb2.SensorReading | sensor_pb2.FeedConfig | sensor_pb2.SensorFeedRequest | Mapping[str, Any]


def request_of(item: SensorInput) -> sensor_pb2.SensorFeedRequest:
    """Wraps one input item into the stream's request message."""
    if isinstance(item, sensor_pb2.SensorFeedRequest):
        return item
    if isinstance(item, sensor_pb2.SensorReading):
        return sensor_pb2.SensorFeedRequest(reading=item)
    if isinstance(item, sensor_pb2.FeedConfig):
        return sensor_pb2.SensorFeedRequest(config=item)
    if isinstance(item, Mapping):
        return sensor_pb2.SensorFeedRequest(reading=reading_of(item))
    raise TypeError(f"cannot send {type(item).__name__} on a sensor feed")


def reading_of(data: Mapping[str, Any]) -> sensor_pb2.SensorReading:
    """A SensorReading from the seed's dict shape."""
    reading = sensor_pb2.SensorReading(
        sensor_id=str(data["sensor_id"]),
        temperature=float(data["temperature"]),
        humidity=float(data.get("humidity", 0.0)),
    )
    at = data.get("timestamp")
    if isinstance(at, (datetime, int, float)):
        reading.timestamp.CopyFrom(_convert.timestamp(at))
    return reading


def event_of(response: sensor_pb2.SensorFeedResponse) -> SensorEvent | None:
    """The message inside the response's oneof (None for a kind this client does not know)."""
    kind = response.WhichOneof("msg")
    if kind == "reading":
        return response.reading
    if kind == "alert":
        return response.alert
    if kind == "rejected":
        return response.rejected
    if kind == "config_rejected":
        return response.config_rejected
    return None
