/**
 * StreamgateClient: one HTTP/2 connection to a streamgate server (gRPC protocol, via
 * @connectrpc/connect-node) and the idiomatic entry points of every service.
 */
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { JsonValue } from "@bufbuild/protobuf";
import "./dispose.js";
import { parseAddress } from "./address.js";
import type { CallOptions } from "./call.js";
import { fetchOnce, listPages, type FetchOptions, type FetchResult, type ListPagesOptions, type Page } from "./fetch.js";
import { FetchService } from "./gen/streamgate/v1/fetch_pb.js";
import { LockService } from "./gen/streamgate/v1/lock_pb.js";
import { SensorService } from "./gen/streamgate/v1/sensor_pb.js";
import { acquire, hold, tryAcquire, type HeldLock, type Lock, type LockOptions } from "./lock.js";
import { security, type TlsOptions } from "./tls.js";
import { sensorFeed, type SensorEvent, type SensorInput } from "./sensor.js";

/** Options of the client. */
export interface ClientOptions extends TlsOptions {
  /** Deadline applied to every call that sets no `callTimeoutMs`, in ms. Default: none. */
  defaultCallTimeoutMs?: number;
}

/** The generated Connect clients, for RPC fields the wrapper does not expose. */
export interface RawClients {
  fetch: Client<typeof FetchService>;
  lock: Client<typeof LockService>;
  sensor: Client<typeof SensorService>;
}

/**
 * Names the server in an UNAVAILABLE error that does not name it yet, so that a refused
 * connection says which address was tried (docs/clients.md, "Errors"). Covers unary calls
 * and the messages of streams.
 */
function namingServer(authority: string): Interceptor {
  const rename = (err: unknown): unknown => {
    const ce = ConnectError.from(err);
    if (ce.code !== Code.Unavailable || ce.rawMessage.includes(authority)) return err;
    // Details are dropped: a transport-made UNAVAILABLE carries none.
    return new ConnectError(`${ce.rawMessage} (server ${authority})`, ce.code, ce.metadata, undefined, err);
  };
  async function* renamed<T>(messages: AsyncIterable<T>): AsyncIterable<T> {
    try {
      yield* messages;
    } catch (err) {
      throw rename(err);
    }
  }
  return (next) => async (req) => {
    try {
      const res = await next(req);
      return res.stream ? { ...res, message: renamed(res.message) } : res;
    } catch (err) {
      throw rename(err);
    }
  };
}

/** A connection to a streamgate server. Close it with `close()` or `await using`. */
export class StreamgateClient implements AsyncDisposable {
  /** The generated clients sharing this connection. */
  readonly raw: RawClients;
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
    this.address = parsed.authority;
    const sec = security(parsed, options);
    const baseUrl = `${sec.tls ? "https" : "http"}://${parsed.authority}`;
    // Our own session manager so close() can end the HTTP/2 connection deterministically;
    // it carries the TLS settings (ca, cert, key) to node:http2.connect.
    this.#session = new Http2SessionManager(baseUrl, undefined, sec.sessionOptions);
    const transport = createGrpcTransport({
      baseUrl,
      interceptors: [namingServer(parsed.authority), ...sec.interceptors],
      sessionManager: this.#session,
      ...(options.defaultCallTimeoutMs === undefined ? {} : { defaultTimeoutMs: options.defaultCallTimeoutMs }),
    });
    this.raw = {
      fetch: createClient(FetchService, transport),
      lock: createClient(LockService, transport),
      sensor: createClient(SensorService, transport),
    };
  }

  /** One HTTP request through the server's pooled, guarded client. */
  fetch(url: string, options?: FetchOptions): Promise<FetchResult> {
    return fetchOnce(this.raw.fetch, url, options);
  }

  /**
   * The pages of a collection, read lazily: `for await (const page of client.listPages(url))`.
   * Items are JSON values; `listPages<User>(url)` types them as the caller knows them to be
   * (not checked at run time).
   */
  listPages<T = JsonValue>(url: string, options?: ListPagesOptions): AsyncGenerator<Page<T>, void, undefined> {
    return listPages(this.raw.fetch, url, options) as AsyncGenerator<Page<T>, void, undefined>;
  }

  /**
   * Waits for the lock (until granted, or up to `waitTimeoutMs`):
   * `await using lock = await client.lock("name")`.
   */
  lock(name: string, options: LockOptions = {}): Promise<Lock> {
    return acquire(this.raw.lock, name, options);
  }

  /** Tries once (or for `waitTimeoutMs`); null when the lock was not granted. */
  tryLock(name: string, options: LockOptions = {}): Promise<Lock | null> {
    return tryAcquire(this.raw.lock, name, options);
  }

  /** Holds the lock over a stream the server keeps renewed; released when closed or aborted. */
  hold(name: string, options: LockOptions = {}): Promise<HeldLock> {
    return hold(this.raw.lock, name, options);
  }

  /** Streams readings in and processed readings, alerts and rejections out. */
  sensorFeed(
    inputs: AsyncIterable<SensorInput> | Iterable<SensorInput>,
    options?: CallOptions,
  ): AsyncGenerator<SensorEvent, void, undefined> {
    return sensorFeed(this.raw.sensor, inputs, options);
  }

  /** Closes the connection; calls still running fail. */
  close(): void {
    this.#session.abort();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
