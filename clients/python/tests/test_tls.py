"""The lock and fetch cases over mutual TLS + a bearer token, against the real server started
with --tls-cert/--tls-key/--tls-client-ca/--policy (docs/clients.md, "TLS and tokens")."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from fixtures import start
from harness import StreamgateServer, Upstream, make_pki, mtls_policy, mtls_server
from streamgate_client import Client, StreamgateError

TOKEN = "python-ci-token"


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return start(lambda: make_pki(tmp_path_factory.mktemp("pki")))


@pytest.fixture(scope="module")
def tls_server(pki: Path) -> Iterator[StreamgateServer]:
    srv = start(lambda: mtls_server(pki, TOKEN))
    yield srv
    srv.stop()


def tls_client(pki: Path, server: StreamgateServer, token: str | None) -> Client:
    # The server certificate names localhost; the CA file (not the scheme) turns TLS on.
    port = server.addr.rsplit(":", 1)[1]
    return Client(
        f"localhost:{port}", ca=pki / "ca.pem", cert=pki / "client.pem", key=pki / "client.key", token=token
    )


async def test_without_a_token_the_call_is_unauthenticated(pki: Path, tls_server: StreamgateServer) -> None:
    async with tls_client(pki, tls_server, None) as c:
        with pytest.raises(StreamgateError) as err:
            async with c.lock(f"ci/{uuid.uuid4().hex[:8]}", ttl=5, wait_timeout=0):
                pass
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
    assert TOKEN not in str(err.value)


async def test_with_a_token_and_a_client_certificate_a_lock_is_acquired_and_released(
    pki: Path, tls_server: StreamgateServer
) -> None:
    name = f"ci/{uuid.uuid4().hex[:8]}"
    async with tls_client(pki, tls_server, TOKEN) as c:
        async with c.lock(name, ttl=5, wait_timeout=0) as lock:
            first = lock.fencing_token
            assert first > 0
        # Released: a second try-once acquire gets it at once, with a newer fencing token.
        async with c.lock(name, ttl=5, wait_timeout=0) as again:
            assert again.fencing_token > first


async def test_with_a_token_a_fetch_of_a_loopback_upstream_succeeds(
    pki: Path, tls_server: StreamgateServer, upstream: Upstream
) -> None:
    async with tls_client(pki, tls_server, TOKEN) as c:
        result = await c.fetch(f"{upstream.base}/hello")
    assert result.status == 200 and result.body == b"hello"


async def test_a_lock_outside_the_policy_is_permission_denied(pki: Path, tls_server: StreamgateServer) -> None:
    async with tls_client(pki, tls_server, TOKEN) as c:
        with pytest.raises(StreamgateError) as err:
            async with c.lock("ops/x", ttl=5, wait_timeout=0):
                pass
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED and "lock_prefixes" in err.value.details


def test_tls_options_are_checked_when_the_client_is_built(pki: Path) -> None:
    with pytest.raises(StreamgateError) as half:
        Client("localhost:1", cert=pki / "client.pem")
    assert half.value.code == grpc.StatusCode.INVALID_ARGUMENT and "cert and key" in half.value.details
    with pytest.raises(StreamgateError) as missing:
        Client("localhost:1", ca=pki / "no-such.pem")
    assert missing.value.code == grpc.StatusCode.INVALID_ARGUMENT and "no-such.pem" in missing.value.details
    with pytest.raises(StreamgateError) as plaintext:
        Client("10.0.0.1:1", token=TOKEN)
    assert plaintext.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "only over TLS or to loopback" in plaintext.value.details


async def test_a_token_on_a_plaintext_loopback_address_is_sent(pki: Path, upstream: Upstream) -> None:
    # gRPC's local credentials carry the token over plaintext, to loopback only.
    policy = mtls_policy(pki, TOKEN)
    srv = start(lambda: StreamgateServer("--policy", str(policy), "--allow-private-networks"))
    try:
        async with Client(srv.addr, token=TOKEN) as c:
            result = await c.fetch(f"{upstream.base}/hello")
        assert result.status == 200
        async with Client(srv.addr) as anonymous:
            with pytest.raises(StreamgateError) as err:
                await anonymous.fetch(f"{upstream.base}/hello")
        assert err.value.code == grpc.StatusCode.UNAUTHENTICATED
    finally:
        srv.stop()
