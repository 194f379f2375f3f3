"""The one exception type the client raises, carrying the gRPC status code."""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Awaitable
from typing import TypeVar

import grpc

T = TypeVar("T")


class StreamgateError(Exception):
    """A failed streamgate call: ``code`` is the gRPC status code, ``details`` its message.

    Every RPC failure (and a lock not acquired in time) surfaces as this one type, so callers
    branch on ``err.code`` (``grpc.StatusCode.PERMISSION_DENIED`` ...) instead of catching
    transport-specific exceptions.

    A failure the server blames on the HTTP upstream of a fetch or a page (refused, reset,
    unresolvable, too slow, or answering 429/5xx through every retry) has the same code as
    the server itself being down or slow (``UNAVAILABLE``, ``DEADLINE_EXCEEDED``);
    ``upstream`` tells them apart: the upstream's ``host:port``, else None
    (docs/clients.md, "Upstream failures").
    """

    def __init__(self, code: grpc.StatusCode, details: str, upstream: str | None = None) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details
        self.upstream = upstream

    @property
    def is_upstream_error(self) -> bool:
        """Whether the server blames this failure on an upstream (``upstream`` is set)."""
        return self.upstream is not None


class LockNotAcquired(StreamgateError):
    """The lock was not granted within its wait (code ``ABORTED``, docs/clients.md).

    Not a failed RPC (the service answers ``acquired = false``), but ``async with`` cannot
    enter its body without the lock, so it raises; a subclass so it can still be caught as
    ``StreamgateError``.
    """

    def __init__(self, name: str, wait_timeout: float) -> None:
        super().__init__(
            grpc.StatusCode.ABORTED,
            f'lock "{name}" not acquired within {wait_timeout:g} s',
        )
        self.name = name


#: The former name of :class:`LockNotAcquired`.
LockTimeout = LockNotAcquired


#: The likely cause and fix of a connection failure, by the words gRPC core and BoringSSL use
#: for it: (every one of these texts, the hint).
_HINTS: tuple[tuple[tuple[str, ...], str], ...] = (
    (("WRONG_VERSION_NUMBER",), "the server does not speak TLS: use HOST:PORT or http://"),
    (
        ("CERTIFICATE_VERIFY_FAILED",),
        "the server's certificate is not signed by the CA you gave (without a CA file: by a root the system trusts)",
    ),
    (
        ("Hostname Verification Check failed",),
        "the server's certificate is not valid for the name you connected to: connect by a name it lists",
    ),
    # A TLS port closes a plaintext connection during set-up, before any HTTP/2 frame.
    (
        ("failed to connect to all addresses", "Socket closed"),
        "the connection closed during set-up: if the server speaks TLS, use https:// or a CA file",
    ),
)


def transport_hint(details: str) -> str | None:
    """The likely cause and fix of an ``UNAVAILABLE`` failure, when the client recognises it."""
    for texts, hint in _HINTS:
        if all(text in details for text in texts):
            return hint
    return None


#: The trailer in which the server names the upstream a failure is blamed on (``host:port``);
#: the same as the ``upstream`` of the ``google.rpc.ErrorInfo`` in ``grpc-status-details-bin``,
#: read here without a dependency on the google.rpc protos.
UPSTREAM_TRAILER = "streamgate-upstream"


def upstream_of(err: grpc.aio.AioRpcError) -> str | None:
    """The upstream (``host:port``) the server blames ``err`` on, from its trailer."""
    for key, value in err.trailing_metadata() or ():
        if key == UPSTREAM_TRAILER and isinstance(value, str) and value:
            return value
    return None


def from_rpc_error(err: grpc.aio.AioRpcError, address: str = "") -> StreamgateError:
    """Converts grpc.aio's exception into the client's own; an ``UNAVAILABLE`` message says the
    likely fix when the client recognises the mistake (a TLS mismatch, a certificate that does
    not verify) and names the server ``address`` when it does not yet (docs/clients.md,
    "Errors"). A failure the server blames on an upstream keeps the server's message and
    carries the upstream instead."""
    details = err.details() or ""
    upstream = upstream_of(err)
    if upstream is not None:
        return StreamgateError(err.code(), details, upstream)
    if err.code() == grpc.StatusCode.UNAVAILABLE:
        hint = transport_hint(details)
        if hint is not None:
            details = f"{details}; {hint}"
        if address and address not in details:
            details = f"{details} (server {address})"
    return StreamgateError(err.code(), details)


async def call(awaitable: Awaitable[T], address: str = "") -> T:
    """Awaits one RPC, translating its failure."""
    try:
        return await awaitable
    except grpc.aio.AioRpcError as err:
        raise from_rpc_error(err, address) from err


async def stream(responses: AsyncIterable[T], address: str = "") -> AsyncIterator[T]:
    """Iterates a response stream, translating its failure."""
    try:
        async for item in responses:
            yield item
    except grpc.aio.AioRpcError as err:
        raise from_rpc_error(err, address) from err
