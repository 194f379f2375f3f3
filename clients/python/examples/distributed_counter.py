"""Seed case 3, the distributed lock: 3 workers x 100 read-modify-write increments -> 300.

Each worker has its own connection (as separate processes would) and takes the lock through
streamgate for every increment; the seed's 500 ms polling loop is replaced by the server's
FIFO queue, which wakes the next waiter as soon as the lock is released. Run the server with
`--redis-url` to share the lock between servers; without it locks live in the server.

    python examples/distributed_counter.py --server 127.0.0.1:50051
"""

from __future__ import annotations

import argparse
import asyncio
import time

from streamgate_client import Client

shared_counter = 0


async def increment_counter(server: str, lock_name: str, increments: int, hold: float) -> int:
    """Increments under the lock; returns the highest fencing token this worker saw."""
    global shared_counter
    highest = 0
    async with Client(server) as c:
        for _ in range(increments):
            async with c.lock(lock_name, ttl=10) as lock:
                highest = max(highest, lock.fencing_token)
                current = shared_counter
                await asyncio.sleep(hold)  # the seed's simulated processing delay
                shared_counter = current + 1
    return highest


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--lock", default="counter_lock")
    parser.add_argument("--workers", type=int, default=3)
    parser.add_argument("--increments", type=int, default=100)
    parser.add_argument("--hold-ms", type=float, default=10.0)
    args = parser.parse_args()

    started = time.perf_counter()
    tokens = await asyncio.gather(
        *(increment_counter(args.server, args.lock, args.increments, args.hold_ms / 1000) for _ in range(args.workers))
    )
    expected = args.workers * args.increments
    print(f"final counter: {shared_counter} (expected: {expected})")
    print(f"wall time: {time.perf_counter() - started:.2f} s, highest fencing token: {max(tokens)}")
    return 0 if shared_counter == expected else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
