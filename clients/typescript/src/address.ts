/**
 * The server address a client is built from: `HOST:PORT`, `http://HOST:PORT` or
 * `https://HOST:PORT` (docs/clients.md, "Addresses"). One function parses it, so that later
 * connection options (client certificates, tokens) have one place to extend.
 */
import { isIPv6 } from "node:net";
import { GrpcCode, StreamgateError } from "./errors.js";

/** A checked server address. */
export interface Address {
  /** `host:port` as written (brackets kept for IPv6), named in error messages. */
  authority: string;
  /** Whether the connection uses TLS (`https://`). */
  tls: boolean;
  /** The base URL the transport takes. */
  baseUrl: string;
}

/** Parses `address`, or throws INVALID_ARGUMENT quoting it and saying what is wrong. */
export function parseAddress(address: string): Address {
  const parsed = parse(address);
  if (typeof parsed === "string") {
    throw new StreamgateError(
      GrpcCode.INVALID_ARGUMENT,
      `server address "${address}" is not HOST:PORT, http://HOST:PORT or https://HOST:PORT: ${parsed}`,
    );
  }
  return parsed;
}

function parse(address: string): Address | string {
  let tls = false;
  let rest = address;
  if (address.startsWith("https://")) {
    tls = true;
    rest = address.slice("https://".length);
  } else if (address.startsWith("http://")) {
    rest = address.slice("http://".length);
  } else if (address.includes("://")) {
    return "unknown scheme (use http:// or https://)";
  }
  // One trailing slash is what a pasted base URL often has; anything after it is a path.
  const authority = rest.endsWith("/") ? rest.slice(0, -1) : rest;
  if (authority === "") return "empty";
  if (/[/?#]/.test(authority)) return "a path, query or fragment is not allowed";
  if (authority.includes("@")) return "user info is not allowed";
  let host: string;
  let port: string;
  if (authority.startsWith("[")) {
    const close = authority.indexOf("]");
    if (close < 0) return "unclosed '[' in an IPv6 host";
    host = authority.slice(1, close);
    const after = authority.slice(close + 1);
    if (!after.startsWith(":")) return "missing port";
    port = after.slice(1);
    if (!isIPv6(host)) return "invalid IPv6 address";
  } else {
    const colon = authority.lastIndexOf(":");
    if (colon < 0) return "missing port";
    host = authority.slice(0, colon);
    port = authority.slice(colon + 1);
    if (host.includes(":")) return "an IPv6 host must be in brackets, as in [::1]:50051";
  }
  if (host === "") return "missing host";
  if (/\s/.test(host)) return "whitespace in the host";
  if (!/^\d+$/.test(port) || Number(port) < 1 || Number(port) > 65535) return "the port must be a number from 1 to 65535";
  return { authority, tls, baseUrl: `${tls ? "https" : "http"}://${authority}` };
}
