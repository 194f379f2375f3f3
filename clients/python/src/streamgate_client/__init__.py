"""Python client for streamgate: an asyncio wrapper over the generated gRPC stubs.

The rules it shares with the other three clients (addresses, deadlines, lock waits, errors,
cancellation) are in docs/clients.md.

    async with Client("127.0.0.1:50051") as c:
        page_count = 0
        async for page in c.list_pages("https://api.example.com/users", page_size=20):
            page_count += 1
        async with c.lock("counter", ttl=10) as lock:
            print(lock.fencing_token)
"""

from importlib.metadata import PackageNotFoundError
from importlib.metadata import version as _installed_version

from .client import Client
from .errors import LockNotAcquired, LockTimeout, StreamgateError
from .fetch import CacheMode, FetchResult, Page, PaginationStyle
from .hold import HeldLock
from .lock import Lock
from .proto.sensor_pb2 import (
    Alert,
    AlertState,
    ConfigRejected,
    FeedConfig,
    ProcessedReading,
    ReadingRejected,
    SensorReading,
    Severity,
)
from .sensor import (
    AlertEvent,
    ConfigRejectedEvent,
    ReadingEvent,
    RejectedEvent,
    SensorEvent,
    SensorInput,
    WindowStats,
)

try:
    # pyproject.toml is the one place the version is written.
    __version__ = _installed_version("streamgate-client")
except PackageNotFoundError:  # imported from a checkout that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Alert",
    "AlertEvent",
    "ConfigRejectedEvent",
    "LockNotAcquired",
    "ReadingEvent",
    "RejectedEvent",
    "WindowStats",
    "AlertState",
    "Client",
    "ConfigRejected",
    "FeedConfig",
    "FetchResult",
    "HeldLock",
    "Lock",
    "LockTimeout",
    "Page",
    "PaginationStyle",
    "CacheMode",
    "ProcessedReading",
    "ReadingRejected",
    "SensorEvent",
    "SensorInput",
    "SensorReading",
    "Severity",
    "StreamgateError",
]
