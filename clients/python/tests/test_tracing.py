"""Trace export against a real backend: an instrumented client, streamgate and a loopback
upstream in one trace, read back from Jaeger's query API; and with the collector down, calls
go on and the lost spans are counted."""

from __future__ import annotations

import asyncio
import math
import re
import time
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter
from opentelemetry.instrumentation.grpc import GrpcAioInstrumentorClient
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor

from fixtures import start
from harness import Jaeger, RedisServer, StreamgateServer, Upstream, free_port, numbered_pages
from streamgate_client import AlertEvent, Client, ReadingEvent, RejectedEvent, SensorInput

# How long spans may take to reach Jaeger's store (the server batches for 100 ms here).
TRACE_WAIT_S = 30.0
CLIENT_SERVICE = "python-test-client"
DROPPED = re.compile(r'^streamgate_trace_spans_dropped_total\{reason="(\w+)"\} (\d+)', re.M)
METRICS_AT = re.compile(r"metrics on (http://\S+/metrics)")


@pytest.fixture(scope="module")
def jaeger() -> Iterator[Jaeger]:
    backend = start(Jaeger)
    yield backend
    backend.stop()


@pytest.fixture(scope="module")
def traced_upstream() -> Iterator[Upstream]:
    up = Upstream(
        {
            "/hello": lambda m, q, b, h: (200, {"Content-Type": "text/plain"}, b"hello"),
            "/items": numbered_pages(10),
        }
    )
    yield up
    up.stop()


@pytest.fixture(scope="module")
def traced_server(jaeger: Jaeger) -> Iterator[StreamgateServer]:
    srv = start(
        lambda: StreamgateServer(
            "--allow-private-networks",
            "--otlp-endpoint",
            jaeger.otlp_grpc,
            "--otlp-batch-delay",
            "100ms",
            "--metrics-listen",
            "127.0.0.1:0",
        )
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client_tracing(jaeger: Jaeger) -> Iterator[TracerProvider]:
    """The client side as an application sets it up: an SDK exporting to the same Jaeger and
    opentelemetry-instrumentation-grpc on every grpc.aio channel made from now on."""
    provider = TracerProvider(resource=Resource.create({"service.name": CLIENT_SERVICE}))
    exporter = OTLPSpanExporter(endpoint=jaeger.otlp_grpc.removeprefix("http://"), insecure=True)
    # Synchronous export: the client's spans are in Jaeger when the calls return.
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    instrumentor = GrpcAioInstrumentorClient()
    instrumentor.instrument(tracer_provider=provider)
    yield provider
    instrumentor.uninstrument()
    provider.shutdown()


def tag(span: dict[str, Any], key: str) -> Any:
    return next((t["value"] for t in span.get("tags", []) if t["key"] == key), None)


def service(trace: dict[str, Any], span: dict[str, Any]) -> str:
    return str(trace["processes"][span["processID"]]["serviceName"])


def parent_id(span: dict[str, Any]) -> str | None:
    return next((r["spanID"] for r in span.get("references", []) if r["refType"] == "CHILD_OF"), None)


def events(span: dict[str, Any]) -> list[dict[str, Any]]:
    """The span's events (Jaeger's "logs"), each as {"event": name, attribute: value, ...}."""
    return [{f["key"]: f["value"] for f in log.get("fields", [])} for log in span.get("logs", [])]


def wait_for_trace(jaeger: Jaeger, trace_id: str, complete: Any) -> dict[str, Any]:
    deadline = time.monotonic() + TRACE_WAIT_S
    trace = None
    while time.monotonic() < deadline:
        trace = jaeger.trace(trace_id)
        if trace is not None and complete(trace):
            return trace
        time.sleep(0.2)
    spans = [] if trace is None else [(service(trace, s), s["operationName"]) for s in trace["spans"]]
    raise AssertionError(f"trace {trace_id} incomplete after {TRACE_WAIT_S} s: {spans}")


async def test_one_trace_runs_from_the_client_through_streamgate_to_the_upstream(
    jaeger: Jaeger, traced_server: StreamgateServer, traced_upstream: Upstream, client_tracing: TracerProvider
) -> None:
    tracer = client_tracing.get_tracer("streamgate-tests")
    with tracer.start_as_current_span("checkout") as root:
        async with Client(traced_server.addr) as c:
            fetched = await c.fetch(f"{traced_upstream.base}/hello?api_key=s3cret")
            async with c.lock("traced-lock", ttl=5, wait_timeout=1):
                pass
            pages = [p async for p in c.list_pages(f"{traced_upstream.base}/items", page_size=5, max_pages=2)]
    assert fetched.status == 200
    assert len(pages) == 2
    trace_id = format(root.get_span_context().trace_id, "032x")

    def server_spans(trace: dict[str, Any]) -> dict[str, dict[str, Any]]:
        return {
            str(tag(s, "rpc.method")): s
            for s in trace["spans"]
            if service(trace, s) == "streamgate" and tag(s, "span.kind") == "server"
        }

    def upstream_spans(trace: dict[str, Any]) -> list[dict[str, Any]]:
        return [s for s in trace["spans"] if service(trace, s) == "streamgate" and tag(s, "span.kind") == "client"]

    def complete(trace: dict[str, Any]) -> bool:
        return {"Fetch", "AcquireLock", "Release", "ListPages"} <= server_spans(trace).keys() and len(
            upstream_spans(trace)
        ) >= 3

    trace = wait_for_trace(jaeger, trace_id, complete)
    by_id = {s["spanID"]: s for s in trace["spans"]}
    servers = server_spans(trace)
    for method, span in servers.items():
        if method not in {"Fetch", "AcquireLock", "Release", "ListPages"}:
            continue
        # Each SERVER span is the child of the instrumented client's span of the same call.
        caller = by_id[parent_id(span) or ""]
        assert service(trace, caller) == CLIENT_SERVICE
        assert tag(caller, "span.kind") == "client"
        assert caller["operationName"].endswith(f"/{method}")
        assert tag(span, "rpc.system") == "grpc"
        assert tag(span, "rpc.grpc.status_code") == 0
        assert span["operationName"].endswith(f"/{method}")
    assert tag(servers["Fetch"], "rpc.service") == "streamgate.v1.FetchService"

    # The upstream CLIENT spans: one under Fetch, one per page under ListPages.
    upstream = upstream_spans(trace)
    under = {m: [s for s in upstream if parent_id(s) == servers[m]["spanID"]] for m in ("Fetch", "ListPages")}
    assert len(under["Fetch"]) == 1 and len(under["ListPages"]) == 2, under
    fetch_span = under["Fetch"][0]
    assert tag(fetch_span, "http.request.method") == "GET"
    assert tag(fetch_span, "http.response.status_code") == 200
    assert tag(fetch_span, "server.address") == "127.0.0.1"
    assert tag(fetch_span, "url.full") == f"{traced_upstream.base}/hello?api_key=REDACTED"

    # The upstream received each request with that CLIENT span's context as its traceparent.
    sent = {
        req[3]["traceparent"]
        for req in traced_upstream.requests
        if req[1] in ("/hello", "/items") and "traceparent" in req[3]
    }
    # (flags: sampled, and W3C Trace Context level 2's "random trace id" bit may be set too)
    sent_ids = {tp.rsplit("-", 1)[0]: int(tp.rsplit("-", 1)[1], 16) for tp in sent}
    for span in under["Fetch"] + under["ListPages"]:
        flags = sent_ids.get(f"00-{trace_id}-{span['spanID']}")
        assert flags is not None and flags & 1, (span["spanID"], sent)

    # The latency histograms link to the trace: OpenMetrics exemplars, for a scraper asking.
    metrics_url = traced_server.process.wait_for(METRICS_AT, "the metrics address").group(1)
    ask = urllib.request.Request(metrics_url, headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    with urllib.request.urlopen(ask, timeout=5) as resp:
        assert resp.headers["Content-Type"].startswith("application/openmetrics-text")
        exposition = resp.read().decode()
    exemplar = f'# {{trace_id="{trace_id}"}}'
    assert any(
        line.startswith("grpc_server_handling_seconds_bucket{") and 'grpc_method="Fetch"' in line and exemplar in line
        for line in exposition.splitlines()
    ), exposition
    assert any(
        line.startswith("streamgate_fetch_upstream_seconds_bucket{") and exemplar in line
        for line in exposition.splitlines()
    )
    with urllib.request.urlopen(metrics_url, timeout=5) as resp:
        assert exemplar not in resp.read().decode()  # the Prometheus text format has none

    process = trace["processes"][servers["Fetch"]["processID"]]
    process_tags = {t["key"]: t["value"] for t in process.get("tags", [])}
    assert process_tags.get("service.version")
    assert process_tags.get("service.instance.id")


async def test_calls_succeed_and_drops_are_counted_while_the_collector_is_down(upstream: Upstream) -> None:
    nowhere = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    calls = 20
    with StreamgateServer(
        "--allow-private-networks",
        "--otlp-endpoint",
        nowhere,
        "--otlp-batch-delay",
        "50ms",
        "--otlp-export-timeout",
        "1s",
        "--metrics-listen",
        "127.0.0.1:0",
    ) as srv:
        metrics_url = srv.process.wait_for(METRICS_AT, "the metrics address").group(1)
        async with Client(srv.addr) as c:
            results = await asyncio.gather(*(c.fetch(f"{upstream.base}/hello") for _ in range(calls)))
        assert [r.status for r in results] == [200] * calls

        # Each call made a SERVER and an upstream CLIENT span; none could be sent.
        deadline = time.monotonic() + TRACE_WAIT_S
        dropped: dict[str, int] = {}
        while time.monotonic() < deadline:
            with urllib.request.urlopen(metrics_url, timeout=5) as resp:
                dropped = {k: int(v) for k, v in DROPPED.findall(resp.read().decode())}
            if sum(dropped.values()) >= 2 * calls:
                break
            await asyncio.sleep(0.1)
        assert set(dropped) == {"queue_full", "export_failed"}
        assert sum(dropped.values()) >= 2 * calls, dropped
        assert dropped["export_failed"] > 0

        # Still serving; the outage was logged once, not per span or per batch.
        async with Client(srv.addr) as c:
            assert (await c.fetch(f"{upstream.base}/hello")).status == 200
        log = srv.process.output()
    assert log.count("trace export failing") == 1, log


async def test_redis_scripts_lock_hand_offs_and_sensor_streams_reach_the_backend_over_otlp_http(
    jaeger: Jaeger, redis: RedisServer, client_tracing: TracerProvider
) -> None:
    """The second OTLP wire format, and the spans below the SERVER span: one per Redis script
    call, the lock's wait and hand-off as events, one span per SensorFeed stream with its
    counts (not one per reading)."""
    name = "traced-handoff"
    with StreamgateServer(
        "--redis-url",
        redis.url,
        "--otlp-endpoint",
        jaeger.otlp_http,
        "--otlp-protocol",
        "http-protobuf",
        "--otlp-batch-delay",
        "100ms",
    ) as srv:
        tracer = client_tracing.get_tracer("streamgate-tests")
        async with Client(srv.addr) as c:
            held = asyncio.Event()
            release = asyncio.Event()

            async def holder() -> int:
                async with c.lock(name, ttl=10, wait_timeout=0) as lk:
                    held.set()
                    await release.wait()
                    return lk.fencing_token

            holding = asyncio.create_task(holder())
            await asyncio.wait_for(held.wait(), 10)
            items: list[SensorInput] = [
                {"sensor_id": "s1", "temperature": 20.0, "humidity": 40.0},
                {"sensor_id": "s1", "temperature": 31.0, "humidity": 40.0},
                {"sensor_id": "s1", "temperature": math.nan},
                {"sensor_id": "s1", "temperature": 22.0, "humidity": 40.0},
            ]

            async def feed() -> Any:
                for item in items:
                    yield item

            with tracer.start_as_current_span("handoff-and-feed") as root:
                # The holder lets go once the traced acquire is queued behind it.
                asyncio.get_running_loop().call_later(0.5, release.set)
                async with c.lock(name, ttl=5, wait_timeout=10) as lk:
                    fence = lk.fencing_token
                feed_events = [e async for e in c.sensor_feed(feed())]
            first_fence = await holding
    assert fence > first_fence
    counts = {
        "sensor.readings": sum(isinstance(e, ReadingEvent) for e in feed_events),
        "sensor.rejected": sum(isinstance(e, RejectedEvent) for e in feed_events),
        "sensor.alerts": sum(isinstance(e, AlertEvent) for e in feed_events),
    }
    assert counts == {"sensor.readings": 3, "sensor.rejected": 1, "sensor.alerts": 2}, feed_events
    trace_id = format(root.get_span_context().trace_id, "032x")

    def ours(trace: dict[str, Any]) -> list[dict[str, Any]]:
        return [s for s in trace["spans"] if service(trace, s) == "streamgate"]

    def server(trace: dict[str, Any], method: str) -> dict[str, Any] | None:
        return next((s for s in ours(trace) if tag(s, "rpc.method") == method), None)

    def children(trace: dict[str, Any], parent: dict[str, Any] | None) -> list[dict[str, Any]]:
        return [] if parent is None else [s for s in ours(trace) if parent_id(s) == parent["spanID"]]

    def complete(trace: dict[str, Any]) -> bool:
        return all(children(trace, server(trace, m)) for m in ("AcquireLock", "Release", "SensorFeed"))

    trace = wait_for_trace(jaeger, trace_id, complete)
    acquire = server(trace, "AcquireLock")
    assert acquire is not None
    # Each Redis script call of the acquire is a CLIENT span of its own (the acquire runs at
    # least one: the attempt that queued it; the grant comes from the holder's release).
    scripts = children(trace, acquire)
    assert scripts and all(s["operationName"] == "EVALSHA" for s in scripts), scripts
    assert all(tag(s, "db.system.name") == "redis" and tag(s, "span.kind") == "client" for s in scripts)
    assert [s["operationName"] for s in children(trace, server(trace, "Release"))] == ["EVALSHA"]
    # The wait and the hand-off are events of the acquire's SERVER span, in that order.
    acquire_events = events(acquire)
    assert [e["event"] for e in acquire_events] == ["lock.wait", "lock.granted"], acquire_events
    assert acquire_events[0]["lock.name"] == name
    assert acquire_events[1]["lock.handoff"] is True
    assert acquire_events[1]["lock.fencing_token"] == fence
    assert acquire_events[1]["lock.waited_ms"] > 0

    # SensorFeed: one stream span under the call, carrying the counts the caller saw.
    streams = children(trace, server(trace, "SensorFeed"))
    assert [s["operationName"] for s in streams] == ["SensorFeed stream"], streams
    assert {k: tag(streams[0], k) for k in counts} == counts
    assert tag(streams[0], "sensor.configs_rejected") == 0
    # No span per reading: the call's whole subtree is the stream span.
    assert children(trace, streams[0]) == []
