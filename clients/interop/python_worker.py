"""Interop worker in Python (see README.md for the protocol).

K read-modify-write increments of a Redis string, each under the streamgate lock, through
streamgate_client (AcquireLock/Release). GET and SET are separate commands with a pause in
between, so without mutual exclusion concurrent workers lose updates.
"""

from __future__ import annotations

import argparse
import asyncio
import sys

import redis.asyncio as aioredis

from streamgate_client import Client


async def run(args: argparse.Namespace) -> int:
    store = aioredis.Redis(host="127.0.0.1", port=args.redis_port)
    try:
        async with Client(args.server) as c:
            for _ in range(args.count):
                async with c.lock(args.lock, ttl=30, owner=f"python-worker {args.id}"):
                    current = int(await store.get(args.key) or 0)
                    await asyncio.sleep(args.pause_ms / 1000)
                    await store.set(args.key, current + 1)
    finally:
        await store.aclose()
    return 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", help="HOST:PORT of streamgate")
    parser.add_argument("--redis-port", type=int)
    parser.add_argument("--lock")
    parser.add_argument("--count", type=int)
    parser.add_argument("--key", default="interop:counter")
    parser.add_argument("--pause-ms", type=float, default=2.0)
    parser.add_argument("--id", default="0")
    parser.add_argument("--check", action="store_true", help="exit 0 when this worker can run")
    args = parser.parse_args()
    if args.check:
        return 0
    missing = [f"--{n.replace('_', '-')}" for n in ("server", "redis_port", "lock", "count") if getattr(args, n) is None]
    if missing:
        parser.error(f"required: {', '.join(missing)}")
    return asyncio.run(run(args))


if __name__ == "__main__":
    sys.exit(main())
