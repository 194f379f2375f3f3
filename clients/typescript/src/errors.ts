/**
 * The one error type of the client: every failed call, whatever the RPC, rejects with a
 * StreamgateError carrying the gRPC status code, so callers branch on `err.code` instead of
 * on transport-library classes.
 */
import { ConnectError } from "@connectrpc/connect";

/** gRPC status codes (https://grpc.github.io/grpc/core/md_doc_statuscodes.html). */
export const GrpcCode = {
  OK: 0,
  CANCELLED: 1,
  UNKNOWN: 2,
  INVALID_ARGUMENT: 3,
  DEADLINE_EXCEEDED: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  PERMISSION_DENIED: 7,
  RESOURCE_EXHAUSTED: 8,
  FAILED_PRECONDITION: 9,
  ABORTED: 10,
  OUT_OF_RANGE: 11,
  UNIMPLEMENTED: 12,
  INTERNAL: 13,
  UNAVAILABLE: 14,
  DATA_LOSS: 15,
  UNAUTHENTICATED: 16,
} as const;

/** The name of a gRPC status code, as in `GrpcCode`. */
export type GrpcCodeName = keyof typeof GrpcCode;

const codeNames = new Map<number, GrpcCodeName>(
  Object.entries(GrpcCode).map(([name, code]) => [code, name as GrpcCodeName]),
);

/**
 * The trailer in which the server names the upstream (`host:port`) a failure is blamed on; the
 * same as the `upstream` of the `google.rpc.ErrorInfo` in `grpc-status-details-bin`, read here
 * without the google.rpc protos.
 */
export const UPSTREAM_TRAILER = "streamgate-upstream";

/**
 * A failed streamgate call: the gRPC status code and the server's message.
 *
 * A failure the server blames on the HTTP upstream of a fetch or a page (refused, reset,
 * unresolvable, too slow, or answering 429/5xx through every retry) has the same code as the
 * server itself being down or slow (UNAVAILABLE, DEADLINE_EXCEEDED); `upstream` tells them
 * apart (docs/clients.md, "Upstream failures").
 */
export class StreamgateError extends Error {
  override readonly name = "StreamgateError";
  /** The gRPC status code (a value of `GrpcCode`). */
  readonly code: number;
  /** The status message as the server (or the transport) wrote it. */
  readonly rawMessage: string;

  /**
   * True for a lock not granted within its wait (code ABORTED, docs/clients.md): an answer,
   * not a failure of the server.
   */
  readonly notAcquired: boolean;

  /**
   * The upstream (`host:port`) the server blames this failure on; undefined for every other
   * failure, including the server itself being unreachable, shutting down or slow.
   */
  readonly upstream: string | undefined;

  constructor(code: number, rawMessage: string, options?: { cause?: unknown; notAcquired?: boolean; upstream?: string }) {
    super(`${codeName(code)}: ${rawMessage}`, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.rawMessage = rawMessage;
    this.notAcquired = options?.notAcquired ?? false;
    this.upstream = options?.upstream;
  }

  /** Whether the server blames this failure on an upstream (`upstream` is set). */
  get isUpstreamError(): boolean {
    return this.upstream !== undefined;
  }

  /** The code's name, e.g. "INVALID_ARGUMENT". */
  get codeName(): GrpcCodeName | `CODE_${number}` {
    return codeName(this.code);
  }
}

/** Whether `err` says a lock was not granted within its wait. */
export function isNotAcquired(err: unknown): boolean {
  return err instanceof StreamgateError && err.notAcquired;
}

/** The error of a lock not granted within `waitMs` (docs/clients.md, "Locks"). */
export function notAcquiredError(name: string, waitMs: number): StreamgateError {
  return new StreamgateError(GrpcCode.ABORTED, `lock "${name}" not acquired within ${waitMs} ms`, { notAcquired: true });
}

function codeName(code: number): GrpcCodeName | `CODE_${number}` {
  return codeNames.get(code) ?? `CODE_${code}`;
}

/**
 * Converts anything a call can throw into a StreamgateError. Connect's codes are numbered as
 * gRPC's, and an AbortSignal's abort becomes CANCELLED (ConnectError.from does both).
 */
export function toStreamgateError(err: unknown): StreamgateError {
  // A StreamgateError thrown inside the transport (e.g. by a request stream's mapping of a
  // bad input) comes back wrapped; its own code is the one that matters.
  for (let e: unknown = err, depth = 0; e instanceof Error && depth < 8; e = e.cause, depth++) {
    if (e instanceof StreamgateError) return e;
  }
  const ce = ConnectError.from(err);
  return new StreamgateError(ce.code, ce.rawMessage, { cause: err, upstream: upstreamOf(ce) });
}

/** The upstream a server status blames, from its `streamgate-upstream` trailer. */
export function upstreamOf(ce: ConnectError): string | undefined {
  return ce.metadata.get(UPSTREAM_TRAILER) || undefined;
}

/** The error of a call its caller aborted: CANCELLED, as Connect reports any abort. */
export function abortedError(signal: AbortSignal): StreamgateError {
  const reason: unknown = signal.reason;
  const message = reason instanceof Error ? reason.message : reason === undefined ? "call aborted" : String(reason);
  return new StreamgateError(GrpcCode.CANCELLED, message, { cause: reason });
}

/** Awaits a call, rethrowing any failure as a StreamgateError. */
export async function wrapCall<T>(call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw toStreamgateError(err);
  }
}
