"""The asyncio client: one grpc.aio channel, a method per streamgate idiom."""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from types import TracebackType
from typing import Any

import grpc

from . import _address, _convert, sensor
from .errors import StreamgateError, call, stream
from .fetch import CacheMode, FetchResult, Page, PaginationStyle
from .hold import HeldLock
from .lock import Lock
from .proto import fetch_pb2, fetch_pb2_grpc, lock_pb2, lock_pb2_grpc, sensor_pb2, sensor_pb2_grpc

#: Largest message the channel accepts: above the server's 16 MiB fetch body cap, so a
#: capped body is never refused by the client itself.
MAX_MESSAGE_BYTES = 32 << 20
#: How much longer than a fetch's own timeout the gRPC deadline is, so that the server's
#: timeout (with its message) is what the caller sees.
FETCH_DEADLINE_MARGIN_S = 2.0


@dataclass(frozen=True)
class _Stubs:
    """The generated stubs over one open channel."""

    fetch: fetch_pb2_grpc.FetchServiceAsyncStub
    lock: lock_pb2_grpc.LockServiceAsyncStub
    sensor: sensor_pb2_grpc.SensorServiceAsyncStub


class Client:
    """A connection to a streamgate server.

    Use as ``async with Client("127.0.0.1:50051") as c``; the channel (and every call still
    open on it) is closed on leaving the block. Every failure is raised as
    :class:`~streamgate_client.StreamgateError` carrying the gRPC status code.

    ``target`` is ``HOST:PORT``, ``http://HOST:PORT`` or ``https://HOST:PORT`` (TLS with the
    system's roots unless ``credentials`` say otherwise); anything else raises
    ``INVALID_ARGUMENT`` here. ``ca`` (a PEM file of roots), or ``cert`` and ``key`` (a client
    certificate for mutual TLS) turn TLS on too; ``token`` is sent with every call as
    ``authorization: Bearer TOKEN`` (over TLS, or to loopback only). ``credentials`` replaces
    all four. Connecting is lazy: a dead address makes the first call fail
    with ``UNAVAILABLE`` naming it (docs/clients.md).
    """

    def __init__(
        self,
        target: str,
        *,
        ca: str | os.PathLike[str] | None = None,
        cert: str | os.PathLike[str] | None = None,
        key: str | os.PathLike[str] | None = None,
        token: str | None = None,
        credentials: grpc.ChannelCredentials | None = None,
        options: Sequence[tuple[str, Any]] = (),
    ) -> None:
        address = _address.parse(target)
        #: ``host:port`` of the server.
        self.target = address.authority
        if credentials is None:
            credentials = _address.credentials(address, ca=ca, cert=cert, key=key, token=token)
        self._credentials = credentials
        self._options = [
            ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
            ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
            *options,
        ]
        self._channel: grpc.aio.Channel | None = None
        self._stubs: _Stubs | None = None

    async def connect(self) -> Client:
        """Opens the channel (done by ``async with``). Connecting itself is lazy."""
        if self._channel is None:
            if self._credentials is None:
                self._channel = grpc.aio.insecure_channel(self.target, options=self._options)
            else:
                self._channel = grpc.aio.secure_channel(self.target, self._credentials, options=self._options)
            self._stubs = _Stubs(
                fetch=fetch_pb2_grpc.FetchServiceStub(self._channel),
                lock=lock_pb2_grpc.LockServiceStub(self._channel),
                sensor=sensor_pb2_grpc.SensorServiceStub(self._channel),
            )
        return self

    async def close(self) -> None:
        """Closes the channel, cancelling calls still open on it."""
        if self._channel is not None:
            channel, self._channel, self._stubs = self._channel, None, None
            await channel.close()

    async def __aenter__(self) -> Client:
        return await self.connect()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def _connected(self) -> _Stubs:
        if self._stubs is None:
            raise RuntimeError("Client is not connected: use `async with Client(addr) as c`")
        return self._stubs

    @property
    def channel(self) -> grpc.aio.Channel:
        """The underlying channel, for the generated stubs in ``streamgate_client.proto``."""
        if self._channel is None:
            raise RuntimeError("Client is not connected: use `async with Client(addr) as c`")
        return self._channel

    async def fetch(
        self,
        url: str,
        *,
        method: str = "GET",
        headers: _convert.HeadersLike | None = None,
        body: bytes = b"",
        timeout: float | None = None,
        max_body_bytes: int = 0,
        cache_mode: CacheMode = CacheMode.DEFAULT,
        follow_redirects: bool = True,
    ) -> FetchResult:
        """One HTTP request through the server's pooled, guarded client.

        An upstream 4xx/5xx is returned (look at ``.status``); only not getting a response at
        all raises. ``timeout`` bounds the whole request (server default when None).
        ``cache_mode`` steers the server's shared cache (``result.cache_status`` says what it
        did); ``follow_redirects=False`` returns a 3xx as the result.
        """
        stubs = self._connected()
        request = fetch_pb2.FetchRequest(
            url=url,
            method=method,
            headers=_convert.headers(headers),
            body=body,
            max_body_bytes=max_body_bytes,
            cache_mode=fetch_pb2.CacheMode.ValueType(cache_mode.value),
            no_follow_redirects=not follow_redirects,
        )
        deadline = None
        if timeout is not None:
            request.timeout.CopyFrom(_convert.duration(timeout))
            deadline = timeout + FETCH_DEADLINE_MARGIN_S
        response = await call(stubs.fetch.Fetch(request, timeout=deadline), self.target)
        return FetchResult.from_proto(response)

    async def list_pages(
        self,
        url: str,
        *,
        page_size: int = 20,
        start_page: int = 0,
        max_pages: int = 0,
        items_pointer: str = "",
        headers: _convert.HeadersLike | None = None,
        page_token: str = "",
        style: PaginationStyle = PaginationStyle.PAGE_NUMBER,
        prefetch: int = 0,
        page_timeout: float | None = None,
        page_param: str = "",
        size_param: str = "",
        offset_param: str = "",
        limit_param: str = "",
        cursor_param: str = "",
        cursor_pointer: str = "",
    ) -> AsyncIterator[Page]:
        """Reads a paginated collection lazily: ``async for page in c.list_pages(url)``.

        Pages are fetched by the server as they are consumed (``prefetch`` pages ahead);
        leaving the loop early cancels the call and the upstream request in flight. The
        ``*_param`` names override the query parameters ("" = the server's defaults:
        page, size, offset, limit, cursor); ``cursor_pointer`` locates the next cursor.
        """
        stubs = self._connected()
        request = fetch_pb2.ListPagesRequest(
            url=url,
            page_size=page_size,
            start_page=start_page,
            max_pages=max_pages,
            items_pointer=items_pointer,
            headers=_convert.headers(headers),
            page_token=page_token,
            style=fetch_pb2.PaginationStyle.ValueType(style.value),
            prefetch=prefetch,
            page_param=page_param,
            size_param=size_param,
            offset_param=offset_param,
            limit_param=limit_param,
            cursor_param=cursor_param,
            cursor_pointer=cursor_pointer,
        )
        if page_timeout is not None:
            request.page_timeout.CopyFrom(_convert.duration(page_timeout))
        responses = stubs.fetch.ListPages(request)
        try:
            async for page in stream(responses, self.target):
                yield Page.from_proto(page)
        finally:
            responses.cancel()

    def lock(
        self,
        name: str,
        *,
        ttl: float | None = 10.0,
        wait_timeout: float | None = None,
        owner: str = "",
    ) -> Lock:
        """A lock to use as ``async with c.lock("name", ttl=10) as lock``.

        ``ttl`` is the lease in seconds (None = server default); ``wait_timeout`` how long to
        queue for it (None = as long as it takes, 0 = try once). Not getting it in time raises
        :class:`~streamgate_client.LockNotAcquired` (``ABORTED``); ``lock.fencing_token``
        identifies the grant.
        """
        return Lock(self._connected().lock, name, ttl=ttl, wait_timeout=wait_timeout, owner=owner, address=self.target)

    def semaphore(
        self,
        name: str,
        limit: int,
        *,
        permits: int = 1,
        ttl: float | None = 10.0,
        wait_timeout: float | None = None,
        owner: str = "",
    ) -> Lock:
        """``permits`` of a semaphore of ``limit``: ``async with c.semaphore("exports", limit=5)``.

        At most ``limit`` permits are held at once across every client; each grant has its own
        ``fencing_token``, and waiters are served first come, first served. The name's limit is
        fixed while anyone holds or waits on it (another one raises ``FAILED_PRECONDITION``).
        Otherwise as :meth:`lock`.
        """
        return Lock(
            self._connected().lock,
            name,
            ttl=ttl,
            wait_timeout=wait_timeout,
            owner=owner,
            address=self.target,
            limit=limit,
            permits=permits,
        )

    def read_lock(
        self,
        name: str,
        *,
        ttl: float | None = 10.0,
        wait_timeout: float | None = None,
        owner: str = "",
    ) -> Lock:
        """A read share of read-write lock ``name`` (with other readers, never a writer);
        ``async with c.read_lock("catalog")``. Otherwise as :meth:`lock`."""
        return Lock(
            self._connected().lock,
            name,
            ttl=ttl,
            wait_timeout=wait_timeout,
            owner=owner,
            address=self.target,
            mode=lock_pb2.LOCK_MODE_SHARED,
        )

    def write_lock(
        self,
        name: str,
        *,
        ttl: float | None = 10.0,
        wait_timeout: float | None = None,
        owner: str = "",
    ) -> Lock:
        """The write side of read-write lock ``name`` (alone); ``async with
        c.write_lock("catalog")``. Otherwise as :meth:`lock`."""
        return Lock(
            self._connected().lock,
            name,
            ttl=ttl,
            wait_timeout=wait_timeout,
            owner=owner,
            address=self.target,
            mode=lock_pb2.LOCK_MODE_EXCLUSIVE,
        )

    def hold(
        self,
        name: str,
        *,
        ttl: float | None = None,
        wait_timeout: float | None = None,
        owner: str = "",
    ) -> HeldLock:
        """A lock held by an open stream: ``async with c.hold("name") as lock``.

        The server renews the lease (``ttl``, default 10 s) while the block runs, however
        long, and frees the lock if this process dies; ``lock.lost`` is set should the server
        lose it meanwhile. ``wait_timeout`` as in :meth:`lock`.
        """
        return HeldLock(
            self._connected().lock, name, ttl=ttl, wait_timeout=wait_timeout, owner=owner, address=self.target
        )

    async def sensor_feed(self, readings: AsyncIterable[sensor.SensorInput]) -> AsyncIterator[sensor.SensorEvent]:
        """Streams ``readings`` to the server and yields what comes back, as it comes: a
        :data:`~streamgate_client.SensorEvent` (``ReadingEvent | AlertEvent | RejectedEvent |
        ConfigRejectedEvent``, dataclasses to ``match`` on).

        The feed ends when ``readings`` is exhausted and the server has answered every
        reading; leaving the loop early cancels the stream.
        """
        stubs = self._connected()
        # grpc.aio swallows an exception raised by the request iterator and only cancels the
        # call; keep it, so the caller sees their own error rather than a cancellation.
        failure: list[Exception] = []

        async def requests() -> AsyncIterator[sensor_pb2.SensorFeedRequest]:
            try:
                async for item in readings:
                    yield sensor.request_of(item)
            except Exception as err:
                failure.append(err)
                raise

        responses = stubs.sensor.SensorFeed(requests())
        try:
            async for response in stream(responses, self.target):
                event = sensor.event_of(response)
                if event is not None:
                    yield event
        except (asyncio.CancelledError, StreamgateError):
            if failure:
                raise failure[0] from None
            raise
        finally:
            responses.cancel()
        if failure:
            raise failure[0]
