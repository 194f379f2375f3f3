/**
 * @streamgate/client: a Node client for streamgate's gRPC services (fetch, pagination,
 * distributed locks, sensor streams), over code generated from streamgate's protos.
 */
import "./dispose.js";

export { StreamgateClient, type ClientOptions, type RawClients } from "./client.js";
export { Client } from "./core.js";
export type { CallOptions } from "./call.js";
export { GrpcCode, StreamgateError, isNotAcquired, type GrpcCodeName } from "./errors.js";
export { parseAddress, type Address } from "./address.js";
export type { TlsOptions } from "./tls.js";
export type { JsonValue } from "@bufbuild/protobuf";
export type { CacheModeName, FetchOptions, FetchResult, HttpHeader, ListPagesOptions, Page, PaginationStyleName } from "./fetch.js";
export type { HeadersInput } from "./convert.js";
export { HeldLock, Lock, type LockOptions } from "./lock.js";
export type {
  AlertEvent,
  ConfigRejectedEvent,
  FeedConfigInput,
  ReadingEvent,
  RejectedEvent,
  SensorEvent,
  SensorInput,
  SensorReadingInput,
  WindowStats,
} from "./sensor.js";
export * as proto from "./proto.js";
