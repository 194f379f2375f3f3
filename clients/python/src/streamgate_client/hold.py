"""A lock held by an open Hold stream: ``async with client.hold("name") as lock``.

Unlike :class:`~streamgate_client.Lock` (a lease that ends at ``ttl`` unless extended), the
server renews a held lock for as long as the stream is open and releases it as soon as the
stream ends, also when this process dies: the right tool for critical sections of unknown
length (an etcd lease, a Chubby session).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from datetime import datetime
from types import TracebackType

import grpc

from . import _convert
from .errors import LockNotAcquired, StreamgateError, from_rpc_error
from .lock import LOCK_DEADLINE_MARGIN_S, RELEASE_DEADLINE_S, shielded, wait_rounds
from .proto import lock_pb2, lock_pb2_grpc


class HeldLock:
    """One Hold stream. ``lost`` is set (with ``lost_reason``) if the server loses the lock
    while the block runs, e.g. when Redis stays unreachable past the lease: a long critical
    section should check it before writing, or pass ``fencing_token`` to the resource."""

    def __init__(
        self,
        stub: lock_pb2_grpc.LockServiceAsyncStub,
        name: str,
        *,
        ttl: float | None,
        wait_timeout: float | None,
        owner: str,
        address: str = "",
    ) -> None:
        self._stub = stub
        self._address = address
        self.name = name
        self.ttl = ttl
        self.wait_timeout = wait_timeout
        self.owner = owner
        self.token = ""
        self.fencing_token = 0
        #: The first lease's end; the server pushes it further while the stream is open.
        self.expires_at: datetime | None = None
        self.lost = asyncio.Event()
        self.lost_reason = ""
        self._call: grpc.aio.UnaryStreamCall[lock_pb2.HoldRequest, lock_pb2.HoldEvent] | None = None
        self._watcher: asyncio.Task[None] | None = None

    async def _hold_once(self, wait: float) -> bool:
        request = lock_pb2.HoldRequest(name=self.name, owner=self.owner)
        if self.ttl is not None:
            request.ttl.CopyFrom(_convert.duration(self.ttl))
        if wait > 0:
            request.wait_timeout.CopyFrom(_convert.duration(wait))
        call = self._stub.Hold(request)
        events: AsyncIterator[lock_pb2.HoldEvent] = call.__aiter__()
        try:
            # Only the wait for the grant is bounded; the held stream itself has no deadline.
            first = await asyncio.wait_for(events.__anext__(), wait + LOCK_DEADLINE_MARGIN_S)
        except StopAsyncIteration:
            return False
        except grpc.aio.AioRpcError as err:
            raise from_rpc_error(err, self._address) from err
        except asyncio.TimeoutError:
            call.cancel()
            raise StreamgateError(
                grpc.StatusCode.DEADLINE_EXCEEDED, f"no answer to Hold({self.name!r}) within {wait:g} s"
            ) from None
        except BaseException:
            call.cancel()
            raise
        if first.WhichOneof("event") != "acquired" or not first.acquired.acquired:
            call.cancel()
            return False
        grant = first.acquired
        self.token, self.fencing_token = grant.token, grant.fencing_token
        self.expires_at = _convert.utc_datetime(grant.expires_at)
        self._call = call
        self._watcher = asyncio.create_task(self._watch(events))
        return True

    async def _watch(self, events: AsyncIterator[lock_pb2.HoldEvent]) -> None:
        reason = "the hold stream ended"
        try:
            async for event in events:
                if event.WhichOneof("event") == "lost":
                    reason = event.lost.reason or "lost"
                    break
        except grpc.aio.AioRpcError as err:
            if err.code() == grpc.StatusCode.CANCELLED:
                return
            reason = f"{err.code().name}: {err.details()}"
        self.lost_reason = reason
        self.lost.set()

    async def __aenter__(self) -> HeldLock:
        if self._call is not None:
            raise RuntimeError(f"lock {self.name!r} is already held by this object")
        for wait in wait_rounds(self.wait_timeout):
            if await self._hold_once(wait):
                return self
        raise LockNotAcquired(self.name, self.wait_timeout or 0.0)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        # Release explicitly and wait for the answer, so the next holder is woken before this
        # returns; closing the stream alone would also release it, a moment later.
        try:
            await shielded(self._release())
        except StreamgateError:
            if exc is None:
                raise

    async def _release(self) -> None:
        call, watcher, token = self._call, self._watcher, self.token
        self._call, self._watcher, self.token = None, None, ""
        try:
            if token:
                request = lock_pb2.ReleaseRequest(name=self.name, token=token)
                try:
                    await self._stub.Release(request, timeout=RELEASE_DEADLINE_S)
                except grpc.aio.AioRpcError as err:
                    raise from_rpc_error(err, self._address) from err
        finally:
            if call is not None:
                call.cancel()
            if watcher is not None:
                watcher.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watcher
