#!/usr/bin/env python3
"""A loopback HTTP upstream for the image and compose tests: `/hello` answers a fixed JSON
object, `/items?page=N&size=M` a paginated collection of ITEMS items (an empty page after the
last). Prints its port on the first line of stdout, then serves until killed."""

import json
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

ITEMS = 5


class Handler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        url = urlparse(self.path)
        query = parse_qs(url.query)
        if url.path == "/hello":
            body = {"hello": "streamgate"}
        elif url.path == "/items":
            page = int(query.get("page", ["1"])[0])
            size = int(query.get("size", ["2"])[0])
            start = (page - 1) * size
            body = [{"id": i} for i in range(start + 1, min(start + size, ITEMS) + 1)]
        else:
            self.send_error(404)
            return
        data = json.dumps(body, separators=(",", ":")).encode()
        self.send_response(200)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
print(server.server_address[1], flush=True)
sys.stdout.close()
server.serve_forever()
