"""SensorFeed values: what may be sent on the stream and what comes back."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from . import _convert
from .proto import sensor_pb2


@dataclass(frozen=True)
class WindowStats:
    """Min, max and mean temperature over the configured window."""

    count: int
    min_c: float
    max_c: float
    mean_c: float


@dataclass(frozen=True)
class ReadingEvent:
    """One accepted reading, processed (in the order the readings were sent)."""

    sensor_id: str
    temp_c: float
    temp_f: float
    humidity: float
    #: Temperature above this sensor's threshold.
    alert: bool
    timestamp: datetime | None
    window: WindowStats | None


@dataclass(frozen=True)
class AlertEvent:
    """A state change of one sensor."""

    sensor_id: str
    state: Literal["firing", "resolved", "silent", "unspecified"]
    severity: Literal["warn", "crit", "unspecified"]
    temp_c: float
    threshold: float
    at: datetime | None
    message: str
    window: WindowStats | None


@dataclass(frozen=True)
class RejectedEvent:
    """A reading the server refused; the stream goes on."""

    sensor_id: str
    reason: str
    #: e.g. "NOT_FINITE", "EMPTY_SENSOR_ID" (RejectCode without its prefix).
    code: str


@dataclass(frozen=True)
class ConfigRejectedEvent:
    """A config the server refused; the previous config stays in force."""

    sensor_id: str
    reason: str


#: What the feed yields, a tagged union to ``match`` on: one ReadingEvent per accepted reading
#: (in order), an AlertEvent on each state change, in-band rejections of bad readings or configs.
SensorEvent = ReadingEvent | AlertEvent | RejectedEvent | ConfigRejectedEvent

_STATES: dict[int, Literal["firing", "resolved", "silent", "unspecified"]] = {
    sensor_pb2.ALERT_STATE_FIRING: "firing",
    sensor_pb2.ALERT_STATE_RESOLVED: "resolved",
    sensor_pb2.ALERT_STATE_SILENT: "silent",
}
_SEVERITIES: dict[int, Literal["warn", "crit", "unspecified"]] = {
    sensor_pb2.SEVERITY_WARN: "warn",
    sensor_pb2.SEVERITY_CRIT: "crit",
}

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


def _window(msg: Any, present: bool) -> WindowStats | None:
    if not present:
        return None
    return WindowStats(count=msg.count, min_c=msg.min_c, max_c=msg.max_c, mean_c=msg.mean_c)


def _time(msg: Any, present: bool) -> datetime | None:
    return _convert.utc_datetime(msg) if present else None


def event_of(response: sensor_pb2.SensorFeedResponse) -> SensorEvent | None:
    """The event inside the response's oneof (None for a kind this client does not know)."""
    kind = response.WhichOneof("msg")
    if kind == "reading":
        r = response.reading
        return ReadingEvent(
            sensor_id=r.sensor_id,
            temp_c=r.temp_c,
            temp_f=r.temp_f,
            humidity=r.humidity,
            alert=r.alert,
            timestamp=_time(r.timestamp, r.HasField("timestamp")),
            window=_window(r.window, r.HasField("window")),
        )
    if kind == "alert":
        a = response.alert
        return AlertEvent(
            sensor_id=a.sensor_id,
            state=_STATES.get(a.state, "unspecified"),
            severity=_SEVERITIES.get(a.severity, "unspecified"),
            temp_c=a.temp_c,
            threshold=a.threshold,
            at=_time(a.at, a.HasField("at")),
            message=a.message,
            window=_window(a.window, a.HasField("window")),
        )
    if kind == "rejected":
        rej = response.rejected
        code = sensor_pb2.RejectCode.Name(rej.code).removeprefix("REJECT_CODE_")
        return RejectedEvent(sensor_id=rej.sensor_id, reason=rej.reason, code=code)
    if kind == "config_rejected":
        c = response.config_rejected
        return ConfigRejectedEvent(sensor_id=c.sensor_id, reason=c.reason)
    return None
