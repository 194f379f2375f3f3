"""The server address a client is built from: ``HOST:PORT``, ``http://HOST:PORT`` or
``https://HOST:PORT`` (docs/clients.md, "Addresses"). One function parses it, so that later
connection options (client certificates, tokens) have one place to extend."""

from __future__ import annotations

import ipaddress
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
