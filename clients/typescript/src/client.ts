/**
 * StreamgateClient: the Node client, one HTTP/2 connection to a streamgate server (gRPC
 * protocol, via @connectrpc/connect-node) under the transport-agnostic `Client`.
 */
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import { parseAddress } from "./address.js";
import { Client } from "./core.js";
import { namingServer } from "./naming.js";
import { security, type TlsOptions } from "./tls.js";

export type { RawClients } from "./core.js";

/** Options of the client. */
export interface ClientOptions extends TlsOptions {
  /** Deadline applied to every call that sets no `callTimeoutMs`, in ms. Default: none. */
  defaultCallTimeoutMs?: number;
}

/** A connection to a streamgate server. Close it with `close()` or `await using`. */
export class StreamgateClient extends Client {
  /** `host:port` of the server. */
  readonly address: string;
  readonly #session: Http2SessionManager;

  /**
   * @param address `HOST:PORT`, `http://HOST:PORT` or `https://HOST:PORT` (TLS with Node's
   *   root certificates). Anything else throws INVALID_ARGUMENT here. `options.caFile`,
   *   `certFile` + `keyFile` turn TLS on too; `options.token` is sent as a bearer token. Connecting is lazy:
   *   a dead address makes the first call fail with UNAVAILABLE naming it.
   */
  constructor(address: string, options: ClientOptions = {}) {
    const parsed = parseAddress(address);
    const sec = security(parsed, options);
    const baseUrl = `${sec.tls ? "https" : "http"}://${parsed.authority}`;
    // Our own session manager so close() can end the HTTP/2 connection deterministically;
    // it carries the TLS settings (ca, cert, key) to node:http2.connect.
    const session = new Http2SessionManager(baseUrl, undefined, sec.sessionOptions);
    super(
      createGrpcTransport({
        baseUrl,
        interceptors: [namingServer(parsed.authority, sec.tls), ...sec.interceptors],
        sessionManager: session,
        ...(options.defaultCallTimeoutMs === undefined ? {} : { defaultTimeoutMs: options.defaultCallTimeoutMs }),
      }),
    );
    this.address = parsed.authority;
    this.#session = session;
  }

  /** Closes the connection; calls still running fail. */
  override close(): void {
    this.#session.abort();
  }
}
