/**
 * FetchService in idiomatic form: `fetch()` resolves to the upstream response (4xx/5xx
 * included, as the contract says), `listPages()` is an async iterable that reads pages only
 * as the loop asks for them and cancels the server stream when the loop stops early.
 */
import { create, toJson, type JsonValue } from "@bufbuild/protobuf";
import { ValueSchema } from "@bufbuild/protobuf/wkt";
import type { Client } from "@connectrpc/connect";
import { transportOptions, type CallOptions } from "./call.js";
import { UINT32_MAX, checkCount, durationToMs, linkedController, msToDuration, toHeaders, type HeadersInput } from "./convert.js";
import { abortedError, toStreamgateError, wrapCall } from "./errors.js";
import { CacheMode, FetchRequestSchema, FetchService, ListPagesRequestSchema, PaginationStyle } from "./gen/streamgate/v1/fetch_pb.js";

/** One HTTP header of a response; repeated headers appear once per value, in order. */
export interface HttpHeader {
  name: string;
  value: string;
}

/** Options of `client.fetch()`. */
export interface FetchOptions extends CallOptions {
  /** HTTP method; default GET. */
  method?: string;
  headers?: HeadersInput;
  /** Request body; a string is sent as UTF-8. */
  body?: Uint8Array | string;
  /** Whole-request timeout of the upstream request (never longer than the call's deadline). */
  timeoutMs?: number;
  /** Response body cap; default the server's default, never above the server's cap. */
  maxBodyBytes?: number;
  /** How the server's shared HTTP cache treats the request (the Fetch standard's modes); default "default". */
  cacheMode?: CacheModeName;
  /** false: a 3xx is the result instead of being followed; default true. */
  followRedirects?: boolean;
}

/** The Fetch standard's request cache modes (see CacheMode in fetch.proto). */
export type CacheModeName = "default" | "no-store" | "reload" | "no-cache" | "force-cache" | "only-if-cached";

const cacheModes: Record<CacheModeName, CacheMode> = {
  default: CacheMode.DEFAULT,
  "no-store": CacheMode.NO_STORE,
  reload: CacheMode.RELOAD,
  "no-cache": CacheMode.NO_CACHE,
  "force-cache": CacheMode.FORCE_CACHE,
  "only-if-cached": CacheMode.ONLY_IF_CACHED,
};

/** The upstream's answer. */
export interface FetchResult {
  /** The upstream HTTP status. */
  status: number;
  headers: HttpHeader[];
  body: Uint8Array;
  /** The final URL after redirects. */
  url: string;
  /** How long the upstream request took, as measured by the server. */
  elapsedMs: number;
  /** RFC 9211 Cache-Status of the answer ("streamgate; hit; ttl=42"); "" without a server cache. */
  cacheStatus: string;
  /** The body decoded as UTF-8. */
  text(): string;
  /** The body parsed as JSON. */
  json(): unknown;
  /** The first value of a header (case-insensitive), or undefined. */
  header(name: string): string | undefined;
}

/** How ListPages walks a collection (see PaginationStyle in fetch.proto). */
export type PaginationStyleName = "pageNumber" | "offsetLimit" | "cursor" | "linkHeader";

const styles: Record<PaginationStyleName, PaginationStyle> = {
  pageNumber: PaginationStyle.PAGE_NUMBER,
  offsetLimit: PaginationStyle.OFFSET_LIMIT,
  cursor: PaginationStyle.CURSOR,
  linkHeader: PaginationStyle.LINK_HEADER,
};

/** Options of `client.listPages()`; unset fields take the server's defaults. */
export interface ListPagesOptions extends CallOptions {
  /** Items per page asked of the API; default 20. */
  pageSize?: number;
  /** First page number (page-number style); default 1. */
  startPage?: number;
  /** Stop after this many pages; default until the API's end. */
  maxPages?: number;
  /** RFC 6901 pointer to the items array in each body; default: the body is the array. */
  itemsPointer?: string;
  headers?: HeadersInput;
  /** Resume after the page that returned this token. */
  pageToken?: string;
  style?: PaginationStyleName;
  pageParam?: string;
  sizeParam?: string;
  offsetParam?: string;
  limitParam?: string;
  cursorParam?: string;
  /** RFC 6901 pointer to the next cursor in each body (cursor style). */
  cursorPointer?: string;
  /** Pages the server may fetch ahead of this loop; default 1. */
  prefetch?: number;
  /** Timeout of each page request, retries included. */
  pageTimeoutMs?: number;
}

/** One page of a collection. */
export interface Page<T = JsonValue> {
  /** The API's page number, or the 1-based index of the page for styles without numbers. */
  number: number;
  items: T[];
  /** Pass as `pageToken` to resume after this page; "" on the last page. */
  nextPageToken: string;
  /** The URL this page was read from. */
  url: string;
}

/**
 * How much longer than a fetch's own `timeoutMs` its gRPC deadline is (when the caller set no
 * `callTimeoutMs`), so that the server's timeout, with its message, is what the caller sees
 * (docs/clients.md, "Deadlines").
 */
export const FETCH_DEADLINE_MARGIN_MS = 2_000;

/** Calls Fetch. */
export async function fetchOnce(client: Client<typeof FetchService>, url: string, opts: FetchOptions = {}): Promise<FetchResult> {
  const maxBodyBytes = checkCount(opts.maxBodyBytes, "maxBodyBytes");
  const body = typeof opts.body === "string" ? new TextEncoder().encode(opts.body) : (opts.body ?? new Uint8Array());
  const req = create(FetchRequestSchema, {
    url,
    method: opts.method ?? "",
    headers: toHeaders(opts.headers),
    body,
    timeout: msToDuration(opts.timeoutMs, "timeoutMs"),
    maxBodyBytes: BigInt(maxBodyBytes),
    cacheMode: cacheModes[opts.cacheMode ?? "default"],
    noFollowRedirects: opts.followRedirects === false,
  });
  const transport = transportOptions(opts);
  if (transport.timeoutMs === undefined && opts.timeoutMs !== undefined) transport.timeoutMs = opts.timeoutMs + FETCH_DEADLINE_MARGIN_MS;
  const res = await wrapCall(() => client.fetch(req, transport));
  const headers = res.headers.map((h) => ({ name: h.name, value: h.value }));
  return {
    status: res.status,
    headers,
    body: res.body,
    url: res.url,
    elapsedMs: durationToMs(res.elapsed),
    cacheStatus: res.cacheStatus,
    text: () => new TextDecoder().decode(res.body),
    json: () => JSON.parse(new TextDecoder().decode(res.body)) as unknown,
    header: (name) => headers.find((h) => h.name.toLowerCase() === name.toLowerCase())?.value,
  };
}

/** Calls ListPages, yielding pages as the consumer asks for them. */
export async function* listPages(
  client: Client<typeof FetchService>,
  url: string,
  opts: ListPagesOptions = {},
): AsyncGenerator<Page, void, undefined> {
  const req = create(ListPagesRequestSchema, {
    url,
    pageSize: checkCount(opts.pageSize, "pageSize", UINT32_MAX),
    startPage: checkCount(opts.startPage, "startPage", UINT32_MAX),
    maxPages: checkCount(opts.maxPages, "maxPages", UINT32_MAX),
    itemsPointer: opts.itemsPointer ?? "",
    headers: toHeaders(opts.headers),
    pageToken: opts.pageToken ?? "",
    style: opts.style === undefined ? PaginationStyle.UNSPECIFIED : styles[opts.style],
    pageParam: opts.pageParam ?? "",
    sizeParam: opts.sizeParam ?? "",
    offsetParam: opts.offsetParam ?? "",
    limitParam: opts.limitParam ?? "",
    cursorParam: opts.cursorParam ?? "",
    cursorPointer: opts.cursorPointer ?? "",
    prefetch: checkCount(opts.prefetch, "prefetch", UINT32_MAX),
    pageTimeout: msToDuration(opts.pageTimeoutMs, "pageTimeoutMs"),
  });
  // Our own controller lets a `break` in the caller's loop cancel the server stream at once,
  // which makes the server drop the upstream request it has in flight.
  const { controller, unlink } = linkedController(opts.signal);
  try {
    for await (const page of client.listPages(req, transportOptions(opts, controller.signal))) {
      // A page already buffered when the caller aborted is not handed out: abort means stop now.
      if (controller.signal.aborted) throw abortedError(controller.signal);
      yield {
        number: page.number,
        items: page.items.map((v) => toJson(ValueSchema, v)),
        nextPageToken: page.nextPageToken,
        url: page.url,
      };
    }
  } catch (err) {
    throw toStreamgateError(err);
  } finally {
    unlink();
    controller.abort();
  }
}
