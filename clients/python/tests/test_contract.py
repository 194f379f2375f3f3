"""The rules of docs/clients.md, as the Python client follows them: addresses, errors, lock
waits and not-acquired, against the real server."""

from __future__ import annotations

import asyncio
import uuid

import grpc
import pytest

from harness import StreamgateServer, free_port
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
