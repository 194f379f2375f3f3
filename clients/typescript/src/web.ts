/**
 * @streamgate/client/web: the client for browsers, over gRPC-Web (`@connectrpc/connect-web`'s
 * `createGrpcWebTransport`, fetch underneath). The same `Client` as in Node: `for await` over
 * `listPages`, `await using` for locks, `AbortSignal` on every call. This entry point imports
 * nothing from Node (`test/web-entry.test.ts` bundles it for the browser to prove it).
 *
 * The server must list the page's origin with `--cors-allow-origin` unless it serves the page
 * itself. SensorFeed is bidirectional, which gRPC-Web cannot carry: the server refuses it with
 * UNIMPLEMENTED (docs/browsers.md).
 */
import { createGrpcWebTransport } from "@connectrpc/connect-web";
import "./dispose.js";
import type { CallOptions } from "./call.js";
import { Client } from "./core.js";
import { GrpcCode, StreamgateError } from "./errors.js";
import { namingServer } from "./naming.js";
import type { SensorEvent, SensorInput } from "./sensor.js";

/** Options of the browser client. */
export interface WebClientOptions {
  /** Deadline applied to every call that sets no `callTimeoutMs`, in ms. Default: none. */
  defaultCallTimeoutMs?: number;
}

/** A client for a streamgate server reached with gRPC-Web from a page. */
export class StreamgateWebClient extends Client {
  /** The base URL calls go to (`http://host:port`, or with the path of a proxy prefix). */
  readonly baseUrl: string;

  /**
   * @param baseUrl `http://HOST:PORT` or `https://HOST[:PORT]`, optionally with a path when a
   *   proxy serves streamgate under a prefix. Anything else throws INVALID_ARGUMENT here.
   */
  constructor(baseUrl: string, options: WebClientOptions = {}) {
    const url = parseBaseUrl(baseUrl);
    super(
      createGrpcWebTransport({
        baseUrl: url.href.replace(/\/$/, ""),
        interceptors: [namingServer(url.host)],
        ...(options.defaultCallTimeoutMs === undefined ? {} : { defaultTimeoutMs: options.defaultCallTimeoutMs }),
      }),
    );
    this.baseUrl = url.href.replace(/\/$/, "");
  }

  /**
   * Always rejects with UNIMPLEMENTED: SensorFeed streams from the client, which neither
   * gRPC-Web nor the browser's fetch can carry (the server refuses it the same way).
   */
  override sensorFeed(
    _inputs: AsyncIterable<SensorInput> | Iterable<SensorInput>,
    _options?: CallOptions,
  ): AsyncGenerator<SensorEvent, void, undefined> {
    return refuseSensorFeed();
  }
}

async function* refuseSensorFeed(): AsyncGenerator<SensorEvent, void, undefined> {
  throw new StreamgateError(GrpcCode.UNIMPLEMENTED, SENSOR_FEED_REFUSAL);
}

/** The same words as the server's refusal of a gRPC-Web SensorFeed call. */
const SENSOR_FEED_REFUSAL =
  "SensorFeed streams from the client, which gRPC-Web cannot carry: call it with a native gRPC client over HTTP/2 " +
  "(e.g. from a server) or through a WebSocket bridge";

function parseBaseUrl(baseUrl: string): URL {
  let url: URL | undefined;
  try {
    url = new URL(baseUrl);
  } catch {
    url = undefined;
  }
  if (url === undefined || (url.protocol !== "http:" && url.protocol !== "https:") || url.search !== "" || url.hash !== "") {
    throw new StreamgateError(
      GrpcCode.INVALID_ARGUMENT,
      `server URL "${baseUrl}" is not http://HOST:PORT or https://HOST[:PORT] (a path is allowed, a query or fragment is not)`,
    );
  }
  return url;
}

export { Client, type RawClients } from "./core.js";
export type { CallOptions } from "./call.js";
export { GrpcCode, StreamgateError, isNotAcquired, type GrpcCodeName } from "./errors.js";
export type { JsonValue } from "@bufbuild/protobuf";
export type { FetchOptions, FetchResult, HttpHeader, ListPagesOptions, Page, PaginationStyleName } from "./fetch.js";
export type { HeadersInput } from "./convert.js";
export { HeldLock, Lock, type LockOptions } from "./lock.js";
export type { SensorEvent, SensorInput } from "./sensor.js";
export * as proto from "./proto.js";
