/**
 * TLS settings and a bearer token (docs/clients.md, "TLS and tokens"): the one rule is that
 * `https://` or any explicit TLS setting turns TLS on, and the token is sent with every call as
 * `authorization: Bearer TOKEN`, only over TLS or to a loopback address.
 */
import { readFileSync } from "node:fs";
import { isIP } from "node:net";
import type { SecureClientSessionOptions } from "node:http2";
import type { Interceptor } from "@connectrpc/connect";
import type { Address } from "./address.js";
import { GrpcCode, StreamgateError } from "./errors.js";

/** TLS and token options of the client (all optional). */
export interface TlsOptions {
  /** PEM file of the roots the server's certificate is checked against (default: Node's). */
  caFile?: string;
  /** PEM client certificate for mutual TLS; needs `keyFile`. */
  certFile?: string;
  /** PEM private key of `certFile`. */
  keyFile?: string;
  /** Bearer token sent with every call as `authorization: Bearer TOKEN`; "" is no token. */
  token?: string;
}

/** What the transport needs: whether to use TLS, Node's session options, the interceptors. */
export interface Security {
  tls: boolean;
  sessionOptions: SecureClientSessionOptions;
  interceptors: Interceptor[];
}

function invalid(message: string): StreamgateError {
  return new StreamgateError(GrpcCode.INVALID_ARGUMENT, message);
}

function read(path: string, what: string): Buffer {
  try {
    return readFileSync(path);
  } catch (err) {
    throw invalid(`cannot read ${what} "${path}": ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
}

/** Whether the address's host is `localhost` or a loopback IP. */
export function isLoopback(address: Address): boolean {
  const authority = address.authority;
  const host = authority.startsWith("[") ? authority.slice(1, authority.indexOf("]")) : authority.slice(0, authority.lastIndexOf(":"));
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}

/** Checks the options and reads their files; throws INVALID_ARGUMENT naming what is wrong. */
export function security(address: Address, options: TlsOptions): Security {
  const { caFile, certFile, keyFile, token } = options;
  if ((certFile === undefined) !== (keyFile === undefined)) {
    throw invalid("a client certificate needs both certFile and keyFile");
  }
  const tls = address.tls || caFile !== undefined || certFile !== undefined;
  const sessionOptions: SecureClientSessionOptions = {};
  if (caFile !== undefined) sessionOptions.ca = read(caFile, "CA file");
  if (certFile !== undefined && keyFile !== undefined) {
    sessionOptions.cert = read(certFile, "client certificate");
    sessionOptions.key = read(keyFile, "client key");
  }
  const interceptors: Interceptor[] = [];
  // An empty token (an empty STREAMGATE_TOKEN) is no token, as in every client.
  if (token !== undefined && token !== "") {
    if (/\s/.test(token)) throw invalid("token must be without whitespace");
    if (!tls && !isLoopback(address)) {
      throw invalid(`a bearer token is sent only over TLS or to loopback, and ${address.authority} is neither`);
    }
    const header = `Bearer ${token}`;
    interceptors.push((next) => (req) => {
      req.header.set("authorization", header);
      return next(req);
    });
  }
  return { tls, sessionOptions, interceptors };
}
