"""A named lease lock on the service, used as ``async with client.lock("name") as lock``."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterator
from datetime import datetime
from types import TracebackType
from typing import Any, TypeVar

import grpc

from . import _convert
from .errors import LockNotAcquired, StreamgateError, call
from .proto import lock_pb2, lock_pb2_grpc

T = TypeVar("T")

#: Longest wait asked of the server in one AcquireLock or Hold call; longer and unbounded
#: waits are rounds of it, well under the server's `--lock-max-wait` (docs/clients.md).
WAIT_FOREVER_CHUNK_S = 60.0
#: Extra time the gRPC deadline gives the server beyond the wait it was asked for, so that
#: "not acquired in time" arrives as `acquired = false` rather than as DEADLINE_EXCEEDED,
#: while a server that hangs cannot hang the caller.
LOCK_DEADLINE_MARGIN_S = 5.0
#: Deadline of a Release, which also runs after its scope was cancelled: it must end alone.
RELEASE_DEADLINE_S = 5.0


def wait_rounds(wait_timeout: float | None) -> Iterator[float]:
    """The waits of successive calls: rounds of at most WAIT_FOREVER_CHUNK_S, for ever when
    ``wait_timeout`` is None, else until it is spent (at least one call, 0 = try once)."""
    if wait_timeout is None:
        while True:
            yield WAIT_FOREVER_CHUNK_S
    end = time.monotonic() + wait_timeout
    while True:
        remaining = max(end - time.monotonic(), 0.0)
        yield min(remaining, WAIT_FOREVER_CHUNK_S)
        if remaining <= WAIT_FOREVER_CHUNK_S:
            return

# Releases still running after their `async with` was cancelled a second time; kept here so
# they are not garbage-collected before they finish (the event loop holds tasks weakly).
_background_releases: set[asyncio.Task[Any]] = set()


async def shielded(coro: Coroutine[Any, Any, T]) -> T:
    """Runs ``coro`` to completion even if the awaiting task is cancelled meanwhile."""
    task = asyncio.ensure_future(coro)
    _background_releases.add(task)
    task.add_done_callback(_background_releases.discard)
    return await asyncio.shield(task)


class Lock:
    """One lock name as seen by one holder.

    ``async with lock`` waits for the grant (FIFO, woken by the server, no polling) and
    releases it on leaving the block, whether the block returns, raises or is cancelled. The
    release is shielded: a second cancellation while releasing lets the release finish in
    the background instead of leaving the lock held until its lease expires.
    """

    def __init__(
        self,
        stub: lock_pb2_grpc.LockServiceAsyncStub,
        name: str,
        *,
        ttl: float | None,
        wait_timeout: float | None,
        owner: str,
        address: str = "",
        limit: int = 0,
        mode: lock_pb2.LockMode.ValueType = lock_pb2.LOCK_MODE_UNSPECIFIED,
        permits: int = 0,
    ) -> None:
        self._stub = stub
        self._address = address
        #: What the grant takes (docs/locks.md): a semaphore's ``limit`` and ``permits``, or
        #: a read-write lock's ``mode``; all unset = a mutex.
        self.limit = limit
        self.mode = mode
        self.permits = permits
        self.name = name
        self.ttl = ttl
        self.wait_timeout = wait_timeout
        self.owner = owner
        #: Proof of ownership of the current grant ("" when not held).
        self.token = ""
        #: Strictly greater than every earlier grant of this name; hand it to the guarded
        #: resource so it can refuse a stale holder. 0 when never acquired.
        self.fencing_token = 0
        #: When the current lease ends unless extended (None when not held).
        self.expires_at: datetime | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds a grant it has not released."""
        return bool(self.token)

    async def acquire(self) -> bool:
        """Waits up to ``wait_timeout`` (None = as long as it takes) for the lock.

        Returns False when it was not granted in time. Cancelling the awaiting task cancels
        the call, and the server drops this waiter from the queue. (Should the grant cross
        the cancellation on the wire, that grant is unknown here and ends with its lease;
        :meth:`Client.hold` has no such window, as closing its stream releases it.)
        """
        if self.held:
            raise RuntimeError(f"lock {self.name!r} is already held by this object")
        for wait in wait_rounds(self.wait_timeout):
            if await self._acquire_once(wait):
                return True
        return False

    async def _acquire_once(self, wait: float) -> bool:
        request = lock_pb2.AcquireLockRequest(
            name=self.name, owner=self.owner, limit=self.limit, mode=self.mode, permits=self.permits
        )
        if self.ttl is not None:
            request.ttl.CopyFrom(_convert.duration(self.ttl))
        if wait > 0:
            request.wait_timeout.CopyFrom(_convert.duration(wait))
        response = await call(self._stub.AcquireLock(request, timeout=wait + LOCK_DEADLINE_MARGIN_S), self._address)
        if not response.acquired:
            return False
        self.token = response.token
        self.fencing_token = response.fencing_token
        self.expires_at = _convert.utc_datetime(response.expires_at)
        return True

    async def release(self) -> bool:
        """Gives the lock back. False when this grant no longer held it (lease expired)."""
        if not self.held:
            return False
        token, self.token, self.expires_at = self.token, "", None
        response = await call(
            self._stub.Release(lock_pb2.ReleaseRequest(name=self.name, token=token), timeout=RELEASE_DEADLINE_S),
            self._address,
        )
        return response.released

    async def extend(self, ttl: float | None = None) -> bool:
        """Renews the lease to ``ttl`` (default: this lock's ttl) from now."""
        if not self.held:
            return False
        request = lock_pb2.ExtendRequest(name=self.name, token=self.token)
        lease = ttl if ttl is not None else self.ttl
        if lease is not None:
            request.ttl.CopyFrom(_convert.duration(lease))
        response = await call(self._stub.Extend(request), self._address)
        if response.extended:
            self.expires_at = _convert.utc_datetime(response.expires_at)
        return response.extended

    async def __aenter__(self) -> Lock:
        if not await self.acquire():
            raise LockNotAcquired(self.name, self.wait_timeout or 0.0)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if not self.held:
            return  # released by hand inside the block
        try:
            released = await shielded(self.release())
        except StreamgateError:
            if exc is None:
                raise
            # The block's own exception matters more; the lease ends by itself at expiry.
            return
        if not released and exc is None:
            raise StreamgateError(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"lock {self.name!r} was no longer held when the block ended "
                "(its lease expired: pass a longer ttl or call extend())",
            )
