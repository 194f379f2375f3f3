"""Seed case 2, the paginated read: `async for page in c.list_pages(url, page_size=...)`.

The server walks `url?page=N&size=M` lazily (fetching ahead of the loop by one page) and ends
at the first empty page; leaving the loop early stops it.

    python examples/paginated_read.py --server 127.0.0.1:50051 https://api.example.com/users
"""

from __future__ import annotations

import argparse
import asyncio

from streamgate_client import Client


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="127.0.0.1:50051")
    parser.add_argument("--page-size", type=int, default=10)
    parser.add_argument("--max-pages", type=int, default=0, help="0 = read to the end")
    parser.add_argument("url", nargs="?", default="https://api.example.com/users")
    args = parser.parse_args()

    records = 0
    async with Client(args.server) as c:
        async for page in c.list_pages(args.url, page_size=args.page_size, max_pages=args.max_pages):
            records += len(page)
            print(f"page {page.number}: received {len(page)} records")
    print(f"total: {records} records")
    return 0


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
