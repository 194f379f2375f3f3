/**
 * StreamgateClient: one HTTP/2 connection to a streamgate server (gRPC protocol, via
 * @connectrpc/connect-node) and the idiomatic entry points of every service.
 */
import { createClient, type Client } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import "./dispose.js";
import type { CallOptions } from "./call.js";
import { fetchOnce, listPages, type FetchOptions, type FetchResult, type ListPagesOptions, type Page } from "./fetch.js";
import { FetchService } from "./gen/streamgate/v1/fetch_pb.js";
import { LockService } from "./gen/streamgate/v1/lock_pb.js";
import { SensorService } from "./gen/streamgate/v1/sensor_pb.js";
import { acquire, hold, tryAcquire, type HeldLock, type Lock, type LockOptions } from "./lock.js";
import { sensorFeed, type SensorEvent, type SensorInput } from "./sensor.js";

/** Options of the client. */
export interface ClientOptions {
  /** Deadline applied to every call that sets no `callTimeoutMs`, in ms. Default: none. */
  defaultCallTimeoutMs?: number;
}

/** The generated Connect clients, for RPC fields the wrapper does not expose. */
export interface RawClients {
  fetch: Client<typeof FetchService>;
  lock: Client<typeof LockService>;
  sensor: Client<typeof SensorService>;
}

/** A connection to a streamgate server. Close it with `close()` or `await using`. */
export class StreamgateClient implements AsyncDisposable {
  /** The generated clients sharing this connection. */
  readonly raw: RawClients;
  readonly #session: Http2SessionManager;

  /**
   * @param address `host:port` (plaintext, e.g. "127.0.0.1:50051") or a full
   *   `http://` / `https://` base URL.
   */
  constructor(address: string, options: ClientOptions = {}) {
    const baseUrl = /^https?:\/\//.test(address) ? address : `http://${address}`;
    // Our own session manager so close() can end the HTTP/2 connection deterministically.
    this.#session = new Http2SessionManager(baseUrl);
    const transport = createGrpcTransport({
      baseUrl,
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

  /** The pages of a collection, read lazily: `for await (const page of client.listPages(url))`. */
  listPages(url: string, options?: ListPagesOptions): AsyncGenerator<Page, void, undefined> {
    return listPages(this.raw.fetch, url, options);
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
