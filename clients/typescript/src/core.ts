/**
 * Client: the idiomatic entry points of every streamgate service over any Connect
 * `Transport`, so the same class runs in Node (`createGrpcTransport`, gRPC over HTTP/2) and in
 * browsers (`createGrpcWebTransport`, gRPC-Web over fetch). Imports nothing from Node: the
 * browser entry point (`@streamgate/client/web`) is built on it.
 */
import { createClient, type Client as ConnectClient, type Transport } from "@connectrpc/connect";
import type { JsonValue } from "@bufbuild/protobuf";
import "./dispose.js";
import type { CallOptions } from "./call.js";
import { fetchOnce, listPages, type FetchOptions, type FetchResult, type ListPagesOptions, type Page } from "./fetch.js";
import { FetchService } from "./gen/streamgate/v1/fetch_pb.js";
import { LockService } from "./gen/streamgate/v1/lock_pb.js";
import { SensorService } from "./gen/streamgate/v1/sensor_pb.js";
import { acquire, hold, tryAcquire, type HeldLock, type Lock, type LockOptions } from "./lock.js";
import { sensorFeed, type SensorEvent, type SensorInput } from "./sensor.js";

/** The generated Connect clients, for RPC fields the wrapper does not expose. */
export interface RawClients {
  fetch: ConnectClient<typeof FetchService>;
  lock: ConnectClient<typeof LockService>;
  sensor: ConnectClient<typeof SensorService>;
}

/**
 * streamgate's services over `transport`. Closing is the transport owner's business: `close()`
 * here does nothing, subclasses that own a connection (StreamgateClient) end it.
 */
export class Client implements AsyncDisposable {
  /** The generated clients sharing the transport. */
  readonly raw: RawClients;

  constructor(transport: Transport) {
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

  /**
   * Takes a permit of the semaphore `name` of `limit` permits (at most `limit` held at once,
   * each grant with its own fencing token, waiters first come first served):
   * `await using permit = await client.semaphore("exports", 5)`.
   */
  semaphore(name: string, limit: number, options: LockOptions = {}): Promise<Lock> {
    return acquire(this.raw.lock, name, { ...options, limit });
  }

  /** A read share of the read-write lock `name`: `await using r = await client.readLock("catalog")`. */
  readLock(name: string, options: LockOptions = {}): Promise<Lock> {
    return acquire(this.raw.lock, name, { ...options, mode: "shared" });
  }

  /** The write side of the read-write lock `name` (alone, no readers). */
  writeLock(name: string, options: LockOptions = {}): Promise<Lock> {
    return acquire(this.raw.lock, name, { ...options, mode: "exclusive" });
  }

  /** Holds the lock over a stream the server keeps renewed; released when closed or aborted. */
  hold(name: string, options: LockOptions = {}): Promise<HeldLock> {
    return hold(this.raw.lock, name, options);
  }

  /**
   * Streams readings in and processed readings, alerts and rejections out. Needs a transport
   * that carries bidirectional streams (gRPC over HTTP/2): over gRPC-Web the server refuses it
   * with UNIMPLEMENTED.
   */
  sensorFeed(
    inputs: AsyncIterable<SensorInput> | Iterable<SensorInput>,
    options?: CallOptions,
  ): AsyncGenerator<SensorEvent, void, undefined> {
    return sensorFeed(this.raw.sensor, inputs, options);
  }

  /** Ends what this client owns; nothing for a client over a transport passed in. */
  close(): void {}

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
