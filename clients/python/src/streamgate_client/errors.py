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
    """

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(f"{code.name}: {details}")
        self.code = code
        self.details = details


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


def from_rpc_error(err: grpc.aio.AioRpcError, address: str = "") -> StreamgateError:
    """Converts grpc.aio's exception into the client's own; an ``UNAVAILABLE`` message names
    the server ``address`` when it does not yet (docs/clients.md, "Errors")."""
    details = err.details() or ""
    if err.code() == grpc.StatusCode.UNAVAILABLE and address and address not in details:
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
