/**
 * Honest transport errors (docs/clients.md, "Errors"): a server that cannot be reached or goes
 * away is UNAVAILABLE naming the address, whatever code the HTTP/2 layer gave it, and the
 * message says the likely fix when the mistake is recognised (a TLS mismatch, a certificate
 * that does not verify). Shared by the Node and browser entry points; imports nothing from
 * Node.
 */
import { Code, ConnectError, type Interceptor } from "@connectrpc/connect";
import { upstreamOf } from "./errors.js";

/**
 * Codes Connect gives a broken connection: a session closed or reset mid-call reads as
 * CANCELLED, a refused stream or a failed TLS handshake as INTERNAL or UNKNOWN. Only with a
 * transport error as the cause (a server's own status has none) and without the caller's
 * abort are they the server going away.
 */
const TRANSPORT_CODES: ReadonlySet<Code> = new Set([Code.Canceled, Code.Internal, Code.Unknown, Code.Aborted]);

/** The likely cause and fix of a transport failure, by what Node and OpenSSL call it. */
const HINTS: ReadonlyArray<readonly [RegExp, string]> = [
  [/WRONG_VERSION_NUMBER|wrong version number|packet length too long/i, "the server does not speak TLS: use HOST:PORT or http://"],
  [
    /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED_CERT_IN_CHAIN|DEPTH_ZERO_SELF_SIGNED_CERT|CERT_SIGNATURE_FAILURE|unable to verify the first certificate|certificate signature failure/i,
    "the server's certificate is not signed by the CA you gave (without a CA file: by a root the system trusts)",
  ],
  [/ERR_TLS_CERT_ALTNAME_INVALID|altnames/i, "the server's certificate is not valid for the name you connected to: connect by a name it lists"],
];

/** Plaintext HTTP/2 that met a TLS port: the connection ends at the first bytes. */
const PLAINTEXT_TO_TLS_HINT = "the connection closed: if the server speaks TLS, use https:// or a CA file";

/** The texts and `code`s of `err` and its causes, for recognising a transport failure. */
function causeChain(err: unknown): { texts: string; transport: boolean } {
  const parts: string[] = [];
  let transport = false;
  for (let e: unknown = err, depth = 0; e !== undefined && e !== null && depth < 8; depth++) {
    if (e instanceof Error) {
      parts.push(e.message);
      const code = (e as { code?: unknown }).code;
      // Node's system and HTTP/2 errors carry a string code (ECONNRESET, ERR_HTTP2_...).
      if (typeof code === "string") {
        parts.push(code);
        transport = true;
      }
      e = e.cause;
    } else {
      parts.push(String(e));
      break;
    }
  }
  return { texts: parts.join(" | "), transport };
}

/**
 * An interceptor making transport failures UNAVAILABLE, adding the likely fix and
 * `(server AUTHORITY)` to UNAVAILABLE errors of unary calls and streams. `tls` says whether the
 * client speaks TLS (the fix for a closed connection depends on it).
 */
export function namingServer(authority: string, tls = false): Interceptor {
  const rename = (err: unknown, signal: AbortSignal): unknown => {
    const ce = ConnectError.from(err);
    // The server's status about its upstream: the upstream is named, not this server.
    if (upstreamOf(ce) !== undefined) return err;
    const chain = causeChain(ce.cause ?? err);
    // A stream reset by a dying session has no cause, only its rst code (CANCEL).
    const closed = /stream closed with error code/.test(ce.rawMessage);
    const transport = chain.transport || closed;
    let code = ce.code;
    if (TRANSPORT_CODES.has(code) && transport && !signal.aborted) code = Code.Unavailable;
    if (code !== Code.Unavailable) return err;
    let message = ce.rawMessage;
    const hint = HINTS.find(([pattern]) => pattern.test(chain.texts) || pattern.test(message))?.[1];
    if (hint !== undefined) {
      message = `${message}; ${hint}`;
    } else if (!tls && transport && ce.code !== Code.Unavailable) {
      // A TLS port answers plaintext HTTP/2 by closing the connection: the same signs as a
      // server that died, so the fix is offered as a condition.
      message = `${message}; ${PLAINTEXT_TO_TLS_HINT}`;
    }
    if (!message.includes(authority)) message = `${message} (server ${authority})`;
    if (message === ce.rawMessage && code === ce.code) return err;
    // Details are dropped: a transport-made UNAVAILABLE carries none.
    return new ConnectError(message, code, ce.metadata, undefined, err);
  };
  async function* renamed<T>(messages: AsyncIterable<T>, signal: AbortSignal): AsyncIterable<T> {
    try {
      yield* messages;
    } catch (err) {
      throw rename(err, signal);
    }
  }
  return (next) => async (req) => {
    try {
      const res = await next(req);
      return res.stream ? { ...res, message: renamed(res.message, req.signal) } : res;
    } catch (err) {
      throw rename(err, req.signal);
    }
  };
}
