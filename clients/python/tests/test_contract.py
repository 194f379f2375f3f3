"""The rules of docs/clients.md, as the Python client follows them: addresses, errors, lock
waits and not-acquired, against the real server."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import grpc
import pytest

from harness import StreamgateServer, Upstream, free_port, make_pki
from streamgate_client import Client, LockNotAcquired, StreamgateError
from streamgate_client import _address

#: A bound on calls that must fail fast; reaching it is a hang, reported as such.
HANG_GUARD_S = 20.0


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("localhost", "missing port"),
        ("", "empty"),
        ("http://127.0.0.1", "missing port"),
        ("127.0.0.1:0", "port"),
        ("127.0.0.1:99999", "port"),
        ("grpc://127.0.0.1:1", "scheme"),
        ("http://127.0.0.1:1/api", "path"),
        ("u@127.0.0.1:1", "user info"),
        ("::1:50051", "brackets"),
    ],
)
def test_a_malformed_address_is_invalid_argument_at_construction_quoting_it(bad: str, reason: str) -> None:
    with pytest.raises(StreamgateError) as err:
        Client(bad)
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert f'"{bad}"' in err.value.details
    assert reason in err.value.details


def test_the_three_forms_parse_to_one_target() -> None:
    assert _address.parse("127.0.0.1:50051") == _address.Address("127.0.0.1:50051", tls=False)
    assert _address.parse("http://127.0.0.1:50051/") == _address.Address("127.0.0.1:50051", tls=False)
    assert _address.parse("https://gate.example:443") == _address.Address("gate.example:443", tls=True)
    assert _address.parse("[::1]:50051").authority == "[::1]:50051"


@pytest.mark.parametrize("form", ["{}", "http://{}", "http://{}/"])
async def test_every_address_form_reaches_the_server(server: StreamgateServer, form: str) -> None:
    async with Client(form.format(server.addr)) as c:
        async with c.lock(unique("forms"), wait_timeout=0) as lock:
            assert lock.fencing_token > 0


async def test_the_first_call_on_a_dead_address_is_unavailable_naming_it() -> None:
    address = f"127.0.0.1:{free_port()}"
    async with Client(address) as c:
        with pytest.raises(StreamgateError) as err:
            await asyncio.wait_for(c.fetch("http://127.0.0.1:1/"), HANG_GUARD_S)
    assert err.value.code == grpc.StatusCode.UNAVAILABLE
    assert address in err.value.details


async def test_not_acquired_is_aborted_and_acquire_answers_false(server: StreamgateServer) -> None:
    name = unique("busy")
    async with Client(server.addr) as c:
        async with c.lock(name, wait_timeout=0):
            with pytest.raises(LockNotAcquired) as err:
                async with c.lock(name, wait_timeout=0.1):
                    pytest.fail("entered a held lock")
            assert err.value.code == grpc.StatusCode.ABORTED
            assert err.value.details == f'lock "{name}" not acquired within 0.1 s'
            with pytest.raises(LockNotAcquired):
                async with c.hold(name, wait_timeout=0.05):
                    pytest.fail("held a held lock")
            assert await c.lock(name, wait_timeout=0).acquire() is False


async def test_an_unset_wait_waits_until_the_lock_is_released(server: StreamgateServer) -> None:
    name = unique("queue")
    async with Client(server.addr) as c:
        holder = c.lock(name, wait_timeout=0)
        assert await holder.acquire()
        waiter = asyncio.create_task(c.lock(name).acquire())
        await asyncio.sleep(0.2)
        assert not waiter.done(), "a lock with no wait gave up"
        await holder.release()
        assert await asyncio.wait_for(waiter, HANG_GUARD_S)


async def test_an_empty_lock_name_is_invalid_argument_naming_the_field(server: StreamgateServer) -> None:
    async with Client(server.addr) as c:
        with pytest.raises(StreamgateError) as err:
            async with c.lock(""):
                pytest.fail("granted an empty name")
    assert err.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "name" in err.value.details


# Transport failures (docs/clients.md, "Errors"): a server that cannot be reached or goes away
# is UNAVAILABLE naming the address, whatever broke; the message says the likely fix when the
# client recognises the mistake.


def assert_unavailable_naming(err: StreamgateError, address: str) -> None:
    assert err.code == grpc.StatusCode.UNAVAILABLE, str(err)
    assert address in err.details, str(err)


@pytest.fixture(scope="module")
def tls_pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_pki(tmp_path_factory.mktemp("pki"))


@pytest.fixture(scope="module")
def tls_only_server(tls_pki: Path) -> Iterator[StreamgateServer]:
    with StreamgateServer("--tls-cert", str(tls_pki / "server.pem"), "--tls-key", str(tls_pki / "server.key")) as srv:
        yield srv


async def test_a_server_killed_mid_unary_is_unavailable_naming_it() -> None:
    arrived = threading.Event()
    release = threading.Event()

    def stall(method: str, query: dict[str, str], body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        arrived.set()
        release.wait(HANG_GUARD_S)
        return 200, {}, b""

    upstream = Upstream({"/stall": stall})
    try:
        with StreamgateServer("--allow-private-networks") as srv:
            async with Client(srv.addr) as c:
                call = asyncio.ensure_future(c.fetch(f"{upstream.base}/stall"))
                assert await asyncio.to_thread(arrived.wait, HANG_GUARD_S), "the fetch never reached the upstream"
                srv.process.kill()
                with pytest.raises(StreamgateError) as err:
                    await asyncio.wait_for(call, HANG_GUARD_S)
            assert_unavailable_naming(err.value, srv.addr)
    finally:
        release.set()
        upstream.stop()


async def test_a_server_killed_mid_stream_is_unavailable_naming_it() -> None:
    more = asyncio.Event()

    async def readings() -> AsyncIterator[dict[str, object]]:
        yield {"sensor_id": "s1", "temperature": 21.0, "humidity": 40.0}
        await more.wait()

    with StreamgateServer() as srv:
        async with Client(srv.addr) as c:
            events = c.sensor_feed(readings())
            first = await asyncio.wait_for(anext(events), HANG_GUARD_S)
            assert first.sensor_id == "s1"
            srv.process.kill()
            with pytest.raises(StreamgateError) as err:
                await asyncio.wait_for(anext(events), HANG_GUARD_S)
            more.set()
        assert_unavailable_naming(err.value, srv.addr)


async def test_plaintext_to_a_tls_port_is_unavailable_saying_the_server_speaks_tls(
    tls_only_server: StreamgateServer,
) -> None:
    async with Client(tls_only_server.addr) as c:
        with pytest.raises(StreamgateError) as err:
            await asyncio.wait_for(c.fetch("http://127.0.0.1:1/"), HANG_GUARD_S)
    assert_unavailable_naming(err.value, tls_only_server.addr)
    assert "the server speaks TLS" in err.value.details


async def test_tls_to_a_plaintext_port_is_unavailable_saying_the_server_does_not_speak_tls(
    server: StreamgateServer, tls_pki: Path
) -> None:
    async with Client(server.addr, ca=tls_pki / "ca.pem") as c:
        with pytest.raises(StreamgateError) as err:
            await asyncio.wait_for(c.fetch("http://127.0.0.1:1/"), HANG_GUARD_S)
    assert_unavailable_naming(err.value, server.addr)
    assert "does not speak TLS" in err.value.details


async def test_a_certificate_from_another_ca_is_unavailable_saying_so(
    tls_only_server: StreamgateServer, tmp_path: Path
) -> None:
    other = make_pki(tmp_path)
    async with Client(tls_only_server.addr, ca=other / "ca.pem") as c:
        with pytest.raises(StreamgateError) as err:
            await asyncio.wait_for(c.fetch("http://127.0.0.1:1/"), HANG_GUARD_S)
    assert_unavailable_naming(err.value, tls_only_server.addr)
    assert "not signed by the CA you gave" in err.value.details


async def test_a_certificate_for_another_name_is_unavailable_saying_so(tmp_path: Path) -> None:
    pki = make_pki(tmp_path, server_san="DNS:elsewhere.test")
    with StreamgateServer("--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key")) as srv:
        async with Client(srv.addr, ca=pki / "ca.pem") as c:
            with pytest.raises(StreamgateError) as err:
                await asyncio.wait_for(c.fetch("http://127.0.0.1:1/"), HANG_GUARD_S)
        assert_unavailable_naming(err.value, srv.addr)
        assert "not valid for the name you connected to" in err.value.details


async def test_streams_beyond_the_servers_limit_wait_or_are_unavailable_never_another_code() -> None:
    limit, streams = 2, 8
    more = asyncio.Event()

    async def readings(i: int) -> AsyncIterator[dict[str, object]]:
        yield {"sensor_id": f"s{i}", "temperature": 21.0, "humidity": 40.0}
        await more.wait()

    # Every stream stays open until the end (a dropped iterator would cancel its call).
    feeds: list[AsyncIterator[object]] = []

    async def first_event(c: Client, i: int) -> object:
        feeds.append(c.sensor_feed(readings(i)))
        return await anext(feeds[-1])

    with StreamgateServer("--max-streams-per-connection", str(limit)) as srv:
        async with Client(srv.addr) as c:
            tasks = [asyncio.ensure_future(asyncio.wait_for(first_event(c, i), 3.0)) for i in range(streams)]
            results = await asyncio.gather(*tasks, return_exceptions=True)
            more.set()
        answered = 0
        for result in results:
            if isinstance(result, StreamgateError):
                assert_unavailable_naming(result, srv.addr)
            elif isinstance(result, (TimeoutError, asyncio.TimeoutError)):
                pass  # queued behind the open streams: waiting is what a full connection does
            elif isinstance(result, BaseException):
                raise result
            else:
                answered += 1
        assert 1 <= answered <= limit, results


async def test_an_empty_token_is_no_token(server: StreamgateServer, upstream: Upstream) -> None:
    # Not refused, even for an address a real token could not go to in plaintext.
    Client("10.0.0.1:1", token="")
    async with Client(server.addr, token="") as c:
        async with c.lock(unique("empty-token"), wait_timeout=0) as lock:
            assert lock.fencing_token > 0


# An upstream that is down is not the server being down (docs/clients.md, "Upstream
# failures"): both are UNAVAILABLE, and only the first names an upstream.


async def test_an_upstream_that_is_down_is_told_from_a_server_that_is_down(server: StreamgateServer) -> None:
    upstream = f"127.0.0.1:{free_port()}"
    async with Client(server.addr) as c:
        with pytest.raises(StreamgateError) as err:
            await asyncio.wait_for(c.fetch(f"http://{upstream}/hello"), HANG_GUARD_S)
        assert err.value.code == grpc.StatusCode.UNAVAILABLE
        assert err.value.upstream == upstream
        assert err.value.is_upstream_error

        async def first_page() -> None:
            async for _ in c.list_pages(f"http://{upstream}/items"):
                pytest.fail("a page from an upstream that is down")

        with pytest.raises(StreamgateError) as err:
            await asyncio.wait_for(first_page(), HANG_GUARD_S)
        assert err.value.code == grpc.StatusCode.UNAVAILABLE
        assert err.value.upstream == upstream

    dead = f"127.0.0.1:{free_port()}"
    async with Client(dead) as c:
        with pytest.raises(StreamgateError) as err:
            await asyncio.wait_for(c.fetch(f"http://{upstream}/hello"), HANG_GUARD_S)
    assert err.value.code == grpc.StatusCode.UNAVAILABLE
    assert dead in err.value.details
    assert err.value.upstream is None
    assert not err.value.is_upstream_error
