"""Seed case 1, the connection-pool fetch: many URLs fetched concurrently through streamgate.

The seed kept an aiohttp session and a Semaphore(max_connections) in each process; here the
pool, the concurrency limit and the SSRF guard live in the server, shared by every caller.

    python examples/fetch_pool.py --server 127.0.0.1:50051 https://httpbin.org/delay/1 ...
"""

from __future__ import annotations

import argparse
import asyncio

from streamgate_client import Client, StreamgateError

DEFAULT_URLS = ["https://httpbin.org/delay/1", "https://httpbin.org/delay/2", "https://httpbin.org/delay/0.5"]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("urls", nargs="*", default=DEFAULT_URLS)
    args = parser.parse_args()

    async with Client(args.server) as c:
        results = await asyncio.gather(*(c.fetch(url) for url in args.urls), return_exceptions=True)
    failed = 0
    for url, result in zip(args.urls, results):
        if isinstance(result, StreamgateError):
            failed += 1
            print(f"{url}: failed: {result}")
        elif isinstance(result, BaseException):
            raise result
        else:
            print(f"{url}: received {len(result.body)} bytes (HTTP {result.status})")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
