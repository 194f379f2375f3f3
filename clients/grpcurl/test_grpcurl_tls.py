"""The grpcurl-over-TLS examples of docs/grpcurl.md against the real server: TLS with a bearer
token (`-cacert`, `-H 'authorization: Bearer ...'`) and mutual TLS (`-cert`, `-key`).

The certificates are made with the openssl commands README.md documents, in a temporary
directory, so the documented commands are exercised too.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures import start
from harness import StreamgateServer
from test_grpcurl import documents, grpcurl, ok

TOKEN = "grpcurl-reports-token"


def openssl(*args: str, cwd: Path) -> None:
    if shutil.which("openssl") is None:
        pytest.fail("openssl not found: install openssl (apt-get install -y openssl)", pytrace=False)
    result = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, f"openssl {' '.join(args)}\n{result.stderr}"


def leaf(directory: Path, name: str, san: str, usage: str) -> None:
    """README.md's `leaf NAME SAN USAGE`."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"]
    openssl("req", *ec, "-subj", f"/CN={name}", "-keyout", f"{name}.key", "-out", f"{name}.csr", cwd=directory)
    (directory / f"{name}.ext").write_text(f"subjectAltName={san}\nextendedKeyUsage={usage}\n")
    openssl(
        "x509", "-req", "-in", f"{name}.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
        "-days", "30", "-extfile", f"{name}.ext", "-out", f"{name}.pem",
        cwd=directory,
    )  # fmt: skip


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """ca.pem, server.pem/.key (localhost, 127.0.0.1), billing.pem/.key (billing.internal),
    and policy.toml."""
    d = tmp_path_factory.mktemp("tls")
    openssl(
        "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "30",
        "-subj", "/CN=demo-ca", "-addext", "basicConstraints=critical,CA:TRUE",
        "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", "ca.key", "-out", "ca.pem",
        cwd=d,
    )  # fmt: skip
    leaf(d, "server", "DNS:localhost,IP:127.0.0.1", "serverAuth")
    leaf(d, "billing", "DNS:billing.internal", "clientAuth")
    digest = hashlib.sha256(TOKEN.encode()).hexdigest()
    (d / "policy.toml").write_text(
        f"""mode = "enforce"
[principals.billing]
mtls_identities = ["billing.internal"]
services = ["lock"]
lock_prefixes = ["billing/"]
[principals.reports]
tokens_sha256 = ["{digest}"]
services = ["lock"]
lock_prefixes = ["reports/"]
"""
    )
    return d


@pytest.fixture(scope="module")
def tls_server(pki: Path) -> Iterator[StreamgateServer]:
    """TLS only: callers prove who they are with a bearer token."""
    srv = start(
        lambda: StreamgateServer(
            "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
            "--policy", str(pki / "policy.toml"),
        )  # fmt: skip
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def mtls_server(pki: Path) -> Iterator[StreamgateServer]:
    """Mutual TLS: every client shows a certificate from ca.pem."""
    srv = start(
        lambda: StreamgateServer(
            "--tls-cert", str(pki / "server.pem"), "--tls-key", str(pki / "server.key"),
            "--tls-client-ca", str(pki / "ca.pem"), "--policy", str(pki / "policy.toml"),
        )  # fmt: skip
    )
    yield srv
    srv.stop()


def acquire(name: str) -> str:
    return json.dumps({"name": name, "ttl": "10s", "owner": "grpcurl"})


def test_reflection_and_health_over_tls_need_only_the_ca(pki: Path, tls_server: StreamgateServer) -> None:
    services = ok("-cacert", str(pki / "ca.pem"), tls_server.addr, "list").split()
    assert "streamgate.v1.LockService" in services
    health = documents(ok("-cacert", str(pki / "ca.pem"), tls_server.addr, "grpc.health.v1.Health/Check"))
    assert health == [{"status": "SERVING"}]


def test_plaintext_against_the_tls_port_fails(tls_server: StreamgateServer) -> None:
    result = grpcurl("-plaintext", tls_server.addr, "grpc.health.v1.Health/Check")
    assert result.returncode != 0


def test_a_bearer_token_over_tls_names_the_principal(pki: Path, tls_server: StreamgateServer) -> None:
    ca = str(pki / "ca.pem")
    bearer = f"authorization: Bearer {TOKEN}"
    grant = documents(
        ok("-cacert", ca, "-H", bearer, "-d", acquire("reports/grpcurl"), tls_server.addr,
           "streamgate.v1.LockService/AcquireLock")  # fmt: skip
    )[0]
    assert grant["acquired"] is True

    none = grpcurl("-cacert", ca, "-d", acquire("reports/x"), tls_server.addr, "streamgate.v1.LockService/AcquireLock")
    assert none.returncode != 0 and "Code: Unauthenticated" in none.stderr, none.stderr

    refused = grpcurl(
        "-cacert", ca, "-H", bearer, "-d", acquire("billing/x"), tls_server.addr,
        "streamgate.v1.LockService/AcquireLock",
    )  # fmt: skip
    assert refused.returncode != 0
    assert "Code: PermissionDenied" in refused.stderr and "lock_prefixes" in refused.stderr, refused.stderr
    assert '"reports"' in refused.stderr and TOKEN not in refused.stderr


def test_a_client_certificate_names_the_principal(pki: Path, mtls_server: StreamgateServer) -> None:
    cert = ["-cacert", str(pki / "ca.pem"), "-cert", str(pki / "billing.pem"), "-key", str(pki / "billing.key")]
    grant = documents(
        ok(*cert, "-d", acquire("billing/grpcurl"), mtls_server.addr, "streamgate.v1.LockService/AcquireLock")
    )[0]
    assert grant["acquired"] is True

    refused = grpcurl(*cert, "-d", acquire("ops/x"), mtls_server.addr, "streamgate.v1.LockService/AcquireLock")
    assert refused.returncode != 0
    assert "Code: PermissionDenied" in refused.stderr and '"billing"' in refused.stderr, refused.stderr

    fetch = grpcurl(*cert, "-d", '{"url": "http://127.0.0.1:1/"}', mtls_server.addr, "streamgate.v1.FetchService/Fetch")
    assert "Code: PermissionDenied" in fetch.stderr and "services" in fetch.stderr, fetch.stderr


def test_mutual_tls_without_a_client_certificate_fails_the_handshake(
    pki: Path, mtls_server: StreamgateServer
) -> None:
    result = grpcurl("-cacert", str(pki / "ca.pem"), mtls_server.addr, "grpc.health.v1.Health/Check")
    assert result.returncode != 0
    assert "SERVING" not in result.stdout
