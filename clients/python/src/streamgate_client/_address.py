"""The server address a client is built from: ``HOST:PORT``, ``http://HOST:PORT`` or
``https://HOST:PORT`` (docs/clients.md, "Addresses"). One function parses it, so that later
connection options (client certificates, tokens) have one place to extend."""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass

import grpc

from .errors import StreamgateError


@dataclass(frozen=True)
class Address:
    """A checked server address."""

    #: ``host:port`` as written (brackets kept for IPv6): the gRPC target, named in messages.
    authority: str
    #: Whether the connection uses TLS (``https://``).
    tls: bool


def parse(address: str) -> Address:
    """Parses ``address`` or raises ``INVALID_ARGUMENT`` quoting it and saying what is wrong."""
    reason = _problem(address)
    if isinstance(reason, Address):
        return reason
    raise StreamgateError(
        grpc.StatusCode.INVALID_ARGUMENT,
        f'server address "{address}" is not HOST:PORT, http://HOST:PORT or https://HOST:PORT: {reason}',
    )


def _problem(address: str) -> Address | str:
    if address.startswith("https://"):
        tls, rest = True, address[len("https://") :]
    elif address.startswith("http://"):
        tls, rest = False, address[len("http://") :]
    elif "://" in address:
        return "unknown scheme (use http:// or https://)"
    else:
        tls, rest = False, address
    # One trailing slash is what a pasted base URL often has; anything after it is a path.
    authority = rest[:-1] if rest.endswith("/") else rest
    if not authority:
        return "empty"
    if any(c in authority for c in "/?#"):
        return "a path, query or fragment is not allowed"
    if "@" in authority:
        return "user info is not allowed"
    if authority.startswith("["):
        host, sep, after = authority[1:].partition("]")
        if not sep:
            return "unclosed '[' in an IPv6 host"
        if not after.startswith(":"):
            return "missing port"
        port = after[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            return "invalid IPv6 address"
    else:
        host, sep, port = authority.rpartition(":")
        if not sep:
            return "missing port"
        if ":" in host:
            return "an IPv6 host must be in brackets, as in [::1]:50051"
    if not host:
        return "missing host"
    if any(c.isspace() for c in host):
        return "whitespace in the host"
    if not port.isdigit() or not 1 <= int(port) <= 65535:
        return "the port must be a number from 1 to 65535"
    return Address(authority=authority, tls=tls)


def _read(path: str | os.PathLike[str], what: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as err:
        raise StreamgateError(grpc.StatusCode.INVALID_ARGUMENT, f"cannot read {what} {str(path)!r}: {err.strerror}") from err


def credentials(
    address: Address,
    *,
    ca: str | os.PathLike[str] | None = None,
    cert: str | os.PathLike[str] | None = None,
    key: str | os.PathLike[str] | None = None,
    token: str | None = None,
) -> grpc.ChannelCredentials | None:
    """The channel credentials for ``address`` and the TLS/token options (docs/clients.md,
    "TLS and tokens"): ``https://`` or any TLS option turns TLS on (``ca`` unset: the system's
    roots); ``token`` is sent as ``authorization: Bearer`` per call. gRPC sends call
    credentials only over a secure channel, so a token on a plaintext address uses gRPC's local
    credentials, which only connect to loopback. ``None`` means a plain insecure channel."""
    if (cert is None) != (key is None):
        raise StreamgateError(grpc.StatusCode.INVALID_ARGUMENT, "a client certificate needs both cert and key")
    if token == "":
        # An empty token (an empty STREAMGATE_TOKEN) is no token, as in every client.
        token = None
    if token is not None and any(c.isspace() for c in token):
        raise StreamgateError(grpc.StatusCode.INVALID_ARGUMENT, "token must be without whitespace")
    tls = address.tls or ca is not None or cert is not None
    channel: grpc.ChannelCredentials | None
    if tls:
        channel = grpc.ssl_channel_credentials(
            root_certificates=_read(ca, "CA file") if ca is not None else None,
            private_key=_read(key, "client key") if key is not None else None,
            certificate_chain=_read(cert, "client certificate") if cert is not None else None,
        )
    elif token is not None:
        if not _is_loopback(address):
            raise StreamgateError(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"a bearer token is sent only over TLS or to loopback, and {address.authority} is neither",
            )
        channel = grpc.local_channel_credentials(grpc.LocalConnectionType.LOCAL_TCP)
    else:
        channel = None
    if token is not None and channel is not None:
        return grpc.composite_channel_credentials(channel, grpc.access_token_call_credentials(token))
    return channel


def _is_loopback(address: Address) -> bool:
    """Whether the host is ``localhost`` or a loopback IP."""
    authority = address.authority
    host = authority[1:].partition("]")[0] if authority.startswith("[") else authority.rpartition(":")[0]
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
