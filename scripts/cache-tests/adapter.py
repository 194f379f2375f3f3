"""A test tool, not a product feature: plain HTTP in, one streamgate Fetch per request out.

The HTTP caching test suite (npm `http-cache-tests`, cache-tests.fyi) talks HTTP to the cache
under test; streamgate speaks gRPC. This adapter listens on a loopback port and turns each
request into a Fetch of the same path on the suite's origin: method, headers in order and
body as received, redirects not followed, a 10 s timeout; the answer (any status) is written
back with its headers in order.

    python adapter.py LISTEN_PORT STREAMGATE_ADDR ORIGIN_BASE
"""

from __future__ import annotations

import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import grpc
from streamgate_client.proto import fetch_pb2, fetch_pb2_grpc

#: The Fetch's own timeout and the call's deadline (the issue's 10 s).
TIMEOUT_S = 10

#: Request headers streamgate sets itself (refused in a Fetch) or that belong to this hop.
HOP_REQUEST = {
    "connection", "content-length", "expect", "host", "http2-settings", "keep-alive",
    "proxy-authorization", "proxy-connection", "te", "trailer", "transfer-encoding", "upgrade",
}
#: Response headers that describe the Fetch's hop, not this one.
HOP_RESPONSE = {"connection", "content-length", "keep-alive", "transfer-encoding"}


def make_handler(stub: fetch_pb2_grpc.FetchServiceStub, origin: str) -> type:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: object) -> None:  # noqa: A002
            pass

        def relay(self) -> None:
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            headers = [
                fetch_pb2.Header(name=n, value=v)
                for n, v in self.headers.items()
                if n.lower() not in HOP_REQUEST
            ]
            req = fetch_pb2.FetchRequest(
                url=origin.rstrip("/") + self.path,
                method=self.command,
                headers=headers,
                body=body,
                no_follow_redirects=True,
            )
            req.timeout.FromSeconds(TIMEOUT_S)
            try:
                resp = stub.Fetch(req, timeout=TIMEOUT_S + 1)
            except grpc.RpcError as e:
                msg = f"{e.code().name}: {e.details()}".encode()
                self.send_response(502)
                self.send_header("content-type", "text/plain")
                self.send_header("content-length", str(len(msg)))
                self.end_headers()
                self.wfile.write(msg)
                return
            self.send_response_only(resp.status)
            for h in resp.headers:
                if h.name.lower() not in HOP_RESPONSE:
                    self.send_header(h.name, h.value)
            self.send_header("content-length", str(len(resp.body)))
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(resp.body)

        do_GET = do_HEAD = do_POST = do_PUT = do_PATCH = do_DELETE = do_OPTIONS = relay

    return Handler


def main() -> None:
    port, target, origin = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    stub = fetch_pb2_grpc.FetchServiceStub(grpc.insecure_channel(target))
    # The suite opens dozens of connections at once: socketserver's default listen backlog of
    # 5 overflowed, and the dropped handshakes stalled requests for seconds (retransmitted
    # SYN-ACKs) or reset them.
    ThreadingHTTPServer.request_queue_size = 256
    server = ThreadingHTTPServer(("127.0.0.1", port), make_handler(stub, origin))
    server.daemon_threads = True
    server.serve_forever()


if __name__ == "__main__":
    main()
