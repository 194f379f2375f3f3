"""The client's own conversions between Python values and protobuf messages (no network)."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from google.protobuf import json_format, struct_pb2

from streamgate_client import FeedConfig, FetchResult, SensorReading
from streamgate_client import _convert
from streamgate_client.proto import fetch_pb2, sensor_pb2
from streamgate_client.sensor import request_of


def test_durations_round_trip_to_the_nanosecond() -> None:
    d = _convert.duration(1.5)
    assert (d.seconds, d.nanos) == (1, 500_000_000)
    assert _convert.seconds(_convert.duration(0.010)) == pytest.approx(0.010)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), float("inf")])
def test_negative_or_non_finite_durations_are_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="duration"):
        _convert.duration(bad)


def test_timestamps_convert_from_datetimes_and_epoch_seconds() -> None:
    at = datetime(2026, 1, 2, 3, 4, 5, 250_000, tzinfo=timezone.utc)
    ts = _convert.timestamp(at)
    assert _convert.utc_datetime(ts) == at
    assert _convert.timestamp(at.timestamp()) == ts


def test_json_values_come_back_as_plain_python_with_integers_kept() -> None:
    value = struct_pb2.Value()
    json_format.ParseDict({"id": 7, "ratio": 0.5, "tags": ["a", None, True], "nested": {"n": -3}}, value)
    assert _convert.json_value(value) == {"id": 7, "ratio": 0.5, "tags": ["a", None, True], "nested": {"n": -3}}
    assert isinstance(_convert.json_value(value)["id"], int)


def test_headers_keep_repeated_names_in_order() -> None:
    pairs = [("Accept", "a"), ("X-Multi", "1"), ("X-Multi", "2")]
    assert [(h.name, h.value) for h in _convert.headers(pairs)] == pairs
    assert [(h.name, h.value) for h in _convert.headers({"A": "b"})] == [("A", "b")]
    assert _convert.headers(None) == []


def test_fetch_result_reads_headers_case_insensitively_and_decodes_json() -> None:
    msg = fetch_pb2.FetchResponse(
        status=201,
        headers=[fetch_pb2.Header(name="Content-Type", value="application/json")],
        body=b'{"ok": true}',
        url="http://example.test/",
    )
    msg.elapsed.FromMilliseconds(1500)
    result = FetchResult.from_proto(msg)
    assert result.header("content-type") == "application/json"
    assert result.header("missing") is None
    assert result.json() == {"ok": True}
    assert result.elapsed == 1.5


def test_sensor_inputs_wrap_into_the_request_oneof() -> None:
    from_dict = request_of({"sensor_id": "s1", "temperature": 21.5, "humidity": 40, "timestamp": 1_700_000_000})
    assert from_dict.WhichOneof("msg") == "reading"
    assert (from_dict.reading.sensor_id, from_dict.reading.temperature) == ("s1", 21.5)
    assert from_dict.reading.timestamp.seconds == 1_700_000_000
    assert not request_of({"sensor_id": "s1", "temperature": 1.0}).reading.HasField("timestamp")
    assert request_of(SensorReading(sensor_id="s2")).reading.sensor_id == "s2"
    assert request_of(FeedConfig(threshold=30.0)).config.threshold == 30.0
    ready = sensor_pb2.SensorFeedRequest(config=FeedConfig(warn=1.0))
    assert request_of(ready) is ready
