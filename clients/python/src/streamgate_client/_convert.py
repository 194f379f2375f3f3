"""Conversions between Python values and the well-known protobuf types on the wire."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from datetime import datetime, timezone
from typing import Any

from google.protobuf import duration_pb2, struct_pb2, timestamp_pb2

from .proto import fetch_pb2

#: Headers as a mapping or as (name, value) pairs; pairs keep repeated names and their order.
HeadersLike = Mapping[str, str] | Iterable[tuple[str, str]]


def duration(seconds: float) -> duration_pb2.Duration:
    """A Duration of ``seconds`` (rounded to the nanosecond)."""
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"a duration must be a finite number of seconds >= 0, got {seconds!r}")
    whole = int(seconds)
    return duration_pb2.Duration(seconds=whole, nanos=round((seconds - whole) * 1e9))


def seconds(value: duration_pb2.Duration) -> float:
    """The Duration in seconds."""
    return value.seconds + value.nanos / 1e9


def utc_datetime(value: timestamp_pb2.Timestamp) -> datetime:
    """The Timestamp as an aware UTC datetime."""
    return datetime.fromtimestamp(value.seconds + value.nanos / 1e9, tz=timezone.utc)


def timestamp(value: datetime | float) -> timestamp_pb2.Timestamp:
    """A Timestamp from an aware datetime or from seconds since the Unix epoch."""
    epoch = value.timestamp() if isinstance(value, datetime) else float(value)
    whole = math.floor(epoch)
    return timestamp_pb2.Timestamp(seconds=whole, nanos=round((epoch - whole) * 1e9) % 1_000_000_000)


def headers(value: HeadersLike | None) -> list[fetch_pb2.Header]:
    """Header messages from a mapping or (name, value) pairs, in their order."""
    if value is None:
        return []
    pairs = value.items() if isinstance(value, Mapping) else value
    return [fetch_pb2.Header(name=name, value=val) for name, val in pairs]


def json_value(value: struct_pb2.Value) -> Any:
    """The Value as plain Python JSON data.

    Integral numbers come back as ``int`` (JSON has one number type, and the API's ids are
    integers), as long as the double holds them exactly.
    """
    kind = value.WhichOneof("kind")
    if kind == "number_value":
        number = value.number_value
        if number.is_integer() and abs(number) <= 2**53:
            return int(number)
        return number
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return {k: json_value(v) for k, v in value.struct_value.fields.items()}
    if kind == "list_value":
        return [json_value(v) for v in value.list_value.values]
    return None
