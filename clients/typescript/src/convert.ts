/**
 * Conversions between the wrapper's plain JavaScript values (milliseconds, Date, header
 * pairs) and the protobuf well-known types the wire contract uses.
 */
import { create } from "@bufbuild/protobuf";
import { DurationSchema, timestampDate, timestampFromDate, type Duration, type Timestamp } from "@bufbuild/protobuf/wkt";
import { GrpcCode, StreamgateError } from "./errors.js";
import { HeaderSchema, type Header } from "./gen/streamgate/v1/fetch_pb.js";

/** HTTP headers as given by a caller: a record, or name/value pairs (repeats kept in order). */
export type HeadersInput = Record<string, string> | Iterable<readonly [string, string]>;

/**
 * Rejects a caller's option the way the server rejects a bad field: INVALID_ARGUMENT naming
 * it, so callers handle one error type whether the client or the server caught the mistake.
 */
export function invalidOption(field: string, message: string): StreamgateError {
  return new StreamgateError(GrpcCode.INVALID_ARGUMENT, `${field} ${message}`);
}

/** The largest value of a uint32 field. */
export const UINT32_MAX = 0xffff_ffff;

/** A non-negative integer option (sizes, counts), 0 when unset, or a StreamgateError naming it. */
export function checkCount(n: number | undefined, field: string, max: number = Number.MAX_SAFE_INTEGER): number {
  if (n === undefined) return 0;
  if (!Number.isSafeInteger(n) || n < 0 || n > max) throw invalidOption(field, `must be an integer from 0 to ${max}, got ${n}`);
  return n;
}

/** Milliseconds to a Duration; undefined stays unset so the server applies its default. */
export function msToDuration(ms: number | undefined, field: string): Duration | undefined {
  if (ms === undefined) return undefined;
  if (!Number.isFinite(ms) || ms < 0) {
    throw invalidOption(field, `must be a finite, non-negative number of milliseconds, got ${ms}`);
  }
  const whole = Math.floor(ms);
  return create(DurationSchema, {
    seconds: BigInt(Math.floor(whole / 1000)),
    nanos: (whole % 1000) * 1_000_000 + Math.round((ms - whole) * 1_000_000),
  });
}

/** A Duration to milliseconds (0 when unset). */
export function durationToMs(d: Duration | undefined): number {
  if (d === undefined) return 0;
  return Number(d.seconds) * 1000 + d.nanos / 1_000_000;
}

/** A Timestamp to a Date, undefined when unset. */
export function toDate(t: Timestamp | undefined): Date | undefined {
  return t === undefined ? undefined : timestampDate(t);
}

/** A Date to a Timestamp, undefined when not given. */
export function fromDate(d: Date | undefined): Timestamp | undefined {
  return d === undefined ? undefined : timestampFromDate(d);
}

/** Caller headers to the contract's repeated Header, keeping every value and its order. */
export function toHeaders(input: HeadersInput | undefined): Header[] {
  if (input === undefined) return [];
  const pairs: Iterable<readonly [string, string]> =
    Symbol.iterator in input ? (input as Iterable<readonly [string, string]>) : Object.entries(input);
  const out: Header[] = [];
  for (const [name, value] of pairs) out.push(create(HeaderSchema, { name, value }));
  return out;
}

/** Links an optional caller signal to a fresh controller the wrapper can abort by itself. */
export function linkedController(signal: AbortSignal | undefined): { controller: AbortController; unlink: () => void } {
  const controller = new AbortController();
  if (signal === undefined) return { controller, unlink: () => {} };
  if (signal.aborted) {
    controller.abort(signal.reason);
    return { controller, unlink: () => {} };
  }
  const onAbort = () => controller.abort(signal.reason);
  signal.addEventListener("abort", onAbort, { once: true });
  return { controller, unlink: () => signal.removeEventListener("abort", onAbort) };
}
