"""FetchService values: the result of one fetch and the pages of a paginated read."""

from __future__ import annotations

import enum
import json
from dataclasses import dataclass
from typing import Any

from . import _convert
from .proto import fetch_pb2


@dataclass(frozen=True)
class FetchResult:
    """One upstream HTTP response. A 4xx/5xx is a result, not an exception."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes
    url: str
    elapsed: float
    #: RFC 9211 Cache-Status of the answer ("streamgate; hit; ttl=42"); "" without a server cache.
    cache_status: str = ""

    def header(self, name: str) -> str | None:
        """The first value of header ``name`` (case-insensitive), or None."""
        lowered = name.lower()
        return next((v for n, v in self.headers if n.lower() == lowered), None)

    def text(self, encoding: str = "utf-8") -> str:
        """The body decoded as text."""
        return self.body.decode(encoding, errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)

    @classmethod
    def from_proto(cls, msg: fetch_pb2.FetchResponse) -> FetchResult:
        return cls(
            status=msg.status,
            headers=[(h.name, h.value) for h in msg.headers],
            body=msg.body,
            url=msg.url,
            elapsed=_convert.seconds(msg.elapsed),
            cache_status=msg.cache_status,
        )


class CacheMode(enum.IntEnum):
    """How the server's shared HTTP cache treats a fetch (the Fetch standard's cache modes)."""

    DEFAULT = fetch_pb2.CACHE_MODE_DEFAULT
    NO_STORE = fetch_pb2.CACHE_MODE_NO_STORE
    RELOAD = fetch_pb2.CACHE_MODE_RELOAD
    NO_CACHE = fetch_pb2.CACHE_MODE_NO_CACHE
    FORCE_CACHE = fetch_pb2.CACHE_MODE_FORCE_CACHE
    ONLY_IF_CACHED = fetch_pb2.CACHE_MODE_ONLY_IF_CACHED


class PaginationStyle(enum.IntEnum):
    """How ListPages walks a collection (see fetch.proto)."""

    PAGE_NUMBER = fetch_pb2.PAGINATION_STYLE_PAGE_NUMBER
    OFFSET_LIMIT = fetch_pb2.PAGINATION_STYLE_OFFSET_LIMIT
    CURSOR = fetch_pb2.PAGINATION_STYLE_CURSOR
    LINK_HEADER = fetch_pb2.PAGINATION_STYLE_LINK_HEADER


@dataclass(frozen=True)
class Page:
    """One upstream page: its items as plain JSON values (dicts, lists, str, float...)."""

    number: int
    items: list[Any]
    #: Pass as ``page_token=`` to resume after this page; empty on the last page.
    next_page_token: str
    url: str = ""

    def __len__(self) -> int:
        return len(self.items)

    @classmethod
    def from_proto(cls, msg: fetch_pb2.Page) -> Page:
        return cls(
            number=msg.number,
            items=[_convert.json_value(v) for v in msg.items],
            next_page_token=msg.next_page_token,
            url=msg.url,
        )
