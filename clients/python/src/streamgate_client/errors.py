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


class LockTimeout(StreamgateError):
    """The lock was not granted within ``wait_timeout`` (code ``DEADLINE_EXCEEDED``).

    Not a failed RPC (the service answers ``acquired = false``), but ``async with`` cannot
    enter its body without the lock, so it raises; a subclass so it can still be caught as
    ``StreamgateError``.
    """

    def __init__(self, name: str, wait_timeout: float) -> None:
        super().__init__(
            grpc.StatusCode.DEADLINE_EXCEEDED,
            f"lock {name!r} not acquired within {wait_timeout:g} s",
        )
        self.name = name


def from_rpc_error(err: grpc.aio.AioRpcError) -> StreamgateError:
    """Converts grpc.aio's exception into the client's own."""
    return StreamgateError(err.code(), err.details() or "")


async def call(awaitable: Awaitable[T]) -> T:
    """Awaits one RPC, translating its failure."""
    try:
        return await awaitable
    except grpc.aio.AioRpcError as err:
        raise from_rpc_error(err) from err


async def stream(responses: AsyncIterable[T]) -> AsyncIterator[T]:
    """Iterates a response stream, translating its failure."""
    try:
        async for item in responses:
            yield item
    except grpc.aio.AioRpcError as err:
        raise from_rpc_error(err) from err
