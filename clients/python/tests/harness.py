"""Real parts for the tests: the streamgate binary, a redis-server, loopback HTTP upstreams.

Shared by the pytest suite, the interop driver (clients/interop) and the grpcurl tests, so it
only uses the standard library.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

REPO = Path(__file__).resolve().parents[3]
LISTENING = re.compile(r"listening on (\S+)")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0


class MissingBinary(RuntimeError):
    """A binary the tests need is not there; the message says how to get it."""


def server_binary() -> Path:
    """$STREAMGATE_BIN, else <repo>/target/debug/streamgate."""
    path = Path(os.environ.get("STREAMGATE_BIN") or REPO / "target" / "debug" / "streamgate")
    if not path.is_file():
        raise MissingBinary(
            f"streamgate binary not found at {path}: build it with `cargo build --bins` at the "
            "repository root, or point STREAMGATE_BIN at one"
        )
    return path


def redis_binary() -> str:
    path = shutil.which("redis-server")
    if path is None:
        raise MissingBinary("redis-server not found: install redis-server (apt-get install redis-server)")
    return path


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Process:
    """A child process whose stderr goes to a file (never a pipe that could fill and block)."""

    def __init__(self, argv: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.argv = list(argv)
        self.log = tempfile.NamedTemporaryFile(prefix="streamgate-test-", suffix=".log", delete=False)
        self.proc = subprocess.Popen(
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
        )

    def output(self) -> str:
        return ANSI.sub("", Path(self.log.name).read_text(errors="replace"))

    def wait_for(self, pattern: re.Pattern[str], what: str) -> re.Match[str]:
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            match = pattern.search(self.output())
            if match:
                return match
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.argv[0]} exited with {self.proc.returncode} before {what}:\n{self.output()}")
            time.sleep(0.02)
        self.stop()
        raise RuntimeError(f"{self.argv[0]} did not report {what} within {START_TIMEOUT_S} s:\n{self.output()}")

    def kill(self) -> None:
        """SIGKILL at once: a server that goes away mid-call."""
        self.proc.kill()
        self.proc.wait()

    def stop(self) -> int:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit code."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        return self.proc.returncode


class StreamgateServer:
    """The real server on a free loopback port; ``addr`` is parsed from `listening on ADDR`."""

    def __init__(self, *args: str) -> None:
        self.process = Process([str(server_binary()), "--listen", "127.0.0.1:0", *args])
        self.addr = self.process.wait_for(LISTENING, "`listening on ADDR`").group(1)

    def stop(self) -> int:
        return self.process.stop()

    def __enter__(self) -> StreamgateServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class DemoApi:
    """``streamgate demo-api`` on a free loopback port: the getting-started pages' demo API;
    ``base`` is its URL."""

    def __init__(self) -> None:
        self.process = Process([str(server_binary()), "demo-api", "--listen", "127.0.0.1:0"])
        self.base = "http://" + self.process.wait_for(LISTENING, "`listening on ADDR`").group(1)

    def stop(self) -> int:
        return self.process.stop()

    def __enter__(self) -> DemoApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


class RedisServer:
    """A throw-away redis-server on a free loopback port, no persistence."""

    def __init__(self) -> None:
        binary = redis_binary()
        last_error: Exception | None = None
        # A free port can be taken between the probe and redis binding it: try a few.
        for _ in range(5):
            self.port = free_port()
            self.process = Process(
                [binary, "--bind", "127.0.0.1", "--port", str(self.port), "--save", "", "--appendonly", "no"]
            )
            try:
                self.process.wait_for(re.compile(r"Ready to accept connections"), "readiness")
                break
            except RuntimeError as err:
                last_error = err
                self.process.stop()
        else:
            raise RuntimeError(f"redis-server did not start: {last_error}")
        self.url = f"redis://127.0.0.1:{self.port}"

    def command(self, *args: str) -> str:
        """Sends one command (RESP) and returns the reply line, e.g. ``GET key``."""
        payload = f"*{len(args)}\r\n" + "".join(f"${len(a.encode())}\r\n{a}\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(payload.encode())
            reply = sock.recv(65536).decode()
        if reply.startswith("$-1"):
            return ""
        if reply.startswith("$"):
            return reply.split("\r\n")[1]
        return reply[1:].strip()

    def stop(self) -> int:
        return self.process.stop()


Handler = Callable[[str, dict[str, str], bytes, dict[str, str]], tuple[int, dict[str, str], bytes]]


class Upstream:
    """A loopback HTTP server; ``routes`` maps a path to handler(method, query, body, headers).

    Every request is recorded in ``requests`` as (method, path, query, headers, body).
    """

    def __init__(self, routes: dict[str, Handler]) -> None:
        self.routes = routes
        self.requests: list[tuple[str, str, dict[str, str], dict[str, str], bytes]] = []
        self._lock = threading.Lock()
        upstream = self

        class RequestHandler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def handle_any(self) -> None:
                parts = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(parts.query).items()}
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                headers = {k.lower(): v for k, v in self.headers.items()}
                with upstream._lock:
                    upstream.requests.append((self.command, parts.path, query, headers, body))
                route = upstream.routes.get(parts.path)
                if route is None:
                    status, out_headers, out = 404, {"Content-Type": "text/plain"}, b"no such path"
                else:
                    status, out_headers, out = route(self.command, query, body, headers)
                self.send_response(status)
                for name, value in out_headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(out)))
                self.end_headers()
                self.wfile.write(out)

            do_GET = do_POST = do_PUT = do_DELETE = handle_any

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), RequestHandler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.base = f"http://127.0.0.1:{self.port}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def requests_to(self, path: str) -> list[tuple[str, str, dict[str, str], dict[str, str], bytes]]:
        with self._lock:
            return [r for r in self.requests if r[1] == path]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join()


def json_reply(data: Any, status: int = 200) -> tuple[int, dict[str, str], bytes]:
    return status, {"Content-Type": "application/json"}, json.dumps(data).encode()


def numbered_pages(total_items: int) -> Handler:
    """A page-number API (`?page=N&size=M`, 1-based) over items {"id": 1..total_items}."""

    def handle(method: str, query: dict[str, str], body: bytes, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        page = int(query.get("page", "1"))
        size = int(query.get("size", "20"))
        first = (page - 1) * size + 1
        ids = range(first, min(first + size, total_items + 1))
        return json_reply([{"id": i, "name": f"user{i}"} for i in ids])

    return handle


def openssl(*args: str, cwd: Path) -> None:
    """Runs the openssl CLI (test.sh installs it when missing)."""
    if shutil.which("openssl") is None:
        raise MissingBinary("openssl not found: install openssl (apt-get install -y openssl)")
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    if result.returncode != 0:
        raise RuntimeError(f"openssl {' '.join(args)} failed:\n{result.stderr}")


def make_pki(directory: Path, server_san: str = "DNS:localhost,IP:127.0.0.1") -> Path:
    """README.md's certificates in ``directory``: ca.pem/.key, server.pem/.key (``server_san``:
    localhost, 127.0.0.1) and client.pem/.key (client.internal, an identity no policy here
    names, so the bearer token is what authenticates a call)."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl(
        "req", "-x509", *ec, "-days", "30", "-subj", "/CN=test-ca",
        "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
        "-keyout", "ca.key", "-out", "ca.pem", cwd=directory,
    )  # fmt: skip
    for name, san, usage in (
        ("server", server_san, "serverAuth"),
        ("client", "DNS:client.internal", "clientAuth"),
    ):
        openssl("req", *ec, "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=directory)
        (directory / f"{name}.ext").write_text(f"subjectAltName={san}\nextendedKeyUsage={usage}\n")
        openssl(
            "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
            "-days", "30", "-extfile", f"{name}.ext", "-out", f"{name}.pem", cwd=directory,
        )  # fmt: skip
    return directory


def mtls_policy(directory: Path, token: str) -> Path:
    """A policy where ``token`` is principal "ci": locks under ``ci/``, fetches of 127.0.0.1."""
    import hashlib

    path = directory / "policy.toml"
    path.write_text(
        'mode = "enforce"\n[principals.ci]\n'
        f'tokens_sha256 = ["{hashlib.sha256(token.encode()).hexdigest()}"]\n'
        'services = ["fetch", "lock"]\nfetch_hosts = ["127.0.0.1"]\nlock_prefixes = ["ci/"]\n'
    )
    return path


def mtls_server(directory: Path, token: str) -> StreamgateServer:
    """The real server over mutual TLS with the certificates of :func:`make_pki` and
    :func:`mtls_policy`; Fetch may reach loopback upstreams."""
    policy = mtls_policy(directory, token)
    return StreamgateServer(
        "--tls-cert", str(directory / "server.pem"), "--tls-key", str(directory / "server.key"),
        "--tls-client-ca", str(directory / "ca.pem"), "--policy", str(policy), "--allow-private-networks",
    )  # fmt: skip


JAEGER_CONFIG = """
service:
  extensions: [jaeger_storage, jaeger_query, healthcheckv2]
  pipelines:
    traces:
      receivers: [otlp]
      processors: [batch]
      exporters: [jaeger_storage_exporter]
  telemetry:
    metrics:
      level: none
    logs:
      level: info
extensions:
  healthcheckv2:
    use_v2: true
    http:
      endpoint: 127.0.0.1:{health}
  jaeger_query:
    storage:
      traces: memstore
    http:
      endpoint: 127.0.0.1:{query}
    grpc:
      endpoint: 127.0.0.1:{query_grpc}
  jaeger_storage:
    backends:
      memstore:
        memory:
          max_traces: 10000
receivers:
  otlp:
    protocols:
      grpc:
        endpoint: 127.0.0.1:{otlp_grpc}
      http:
        endpoint: 127.0.0.1:{otlp_http}
processors:
  batch:
    timeout: 100ms
exporters:
  jaeger_storage_exporter:
    trace_storage: memstore
"""


def jaeger_binary() -> str:
    """Jaeger built (once, then cached) by scripts/ensure-jaeger.sh from the Go module proxy."""
    script = REPO / "scripts" / "ensure-jaeger.sh"
    try:
        out = subprocess.run(["bash", str(script)], check=True, capture_output=True, text=True, timeout=1800)
    except subprocess.CalledProcessError as err:
        raise MissingBinary(f"jaeger could not be built by {script} (it needs Go >= 1.24):\n{err.stderr}") from err
    return out.stdout.strip().splitlines()[-1]


class Jaeger:
    """Jaeger all-in-one (OTLP receiver, in-memory store, query API) on free loopback ports."""

    def __init__(self) -> None:
        binary = jaeger_binary()
        ports = {name: free_port() for name in ("health", "query", "query_grpc", "otlp_grpc", "otlp_http")}
        self.config = tempfile.NamedTemporaryFile("w", prefix="jaeger-", suffix=".yaml", delete=False)
        self.config.write(JAEGER_CONFIG.format(**ports))
        self.config.close()
        self.process = Process([binary, "--config", self.config.name])
        self.otlp_grpc = f"http://127.0.0.1:{ports['otlp_grpc']}"
        self.otlp_http = f"http://127.0.0.1:{ports['otlp_http']}"
        self.query = f"http://127.0.0.1:{ports['query']}"
        health = f"http://127.0.0.1:{ports['health']}/status"
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            try:
                with urllib.request.urlopen(health, timeout=2) as resp:
                    if resp.status == 200:
                        break
            except OSError:
                pass
            if self.process.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"jaeger did not become healthy:\n{self.process.output()}")
            time.sleep(0.1)

    def trace(self, trace_id: str) -> dict[str, Any] | None:
        """The trace as Jaeger's query API returns it (`/api/traces/{id}`), None while unknown."""
        try:
            with urllib.request.urlopen(f"{self.query}/api/traces/{trace_id}", timeout=5) as resp:
                data = json.loads(resp.read())
        except urllib.error.HTTPError as err:
            if err.code == 404:
                return None
            raise
        traces = data.get("data") or []
        return traces[0] if traces else None

    def stop(self) -> int:
        code = self.process.stop()
        Path(self.config.name).unlink(missing_ok=True)
        return code
