/**
 * LockService in idiomatic form.
 *
 * `lock()` returns a Lock once the server grants it; `await using` releases it when the
 * scope ends (also on throw), `release()` does the same by hand on runtimes without
 * explicit resource management. `hold()` opens a Hold stream instead: the server renews the
 * lease while the stream is open and releases it when the stream is cancelled, so a crashed
 * process gives its lock back without waiting for the lease to run out.
 */
import { create } from "@bufbuild/protobuf";
import type { Client } from "@connectrpc/connect";
import "./dispose.js";
import { transportOptions, type CallOptions } from "./call.js";
import { linkedController, msToDuration, toDate } from "./convert.js";
import { GrpcCode, StreamgateError, notAcquiredError, toStreamgateError, wrapCall } from "./errors.js";
import {
  AcquireLockRequestSchema,
  ExtendRequestSchema,
  HoldRequestSchema,
  LockMode,
  LockService,
  ReleaseRequestSchema,
  type AcquireLockResponse,
  type HoldEvent,
} from "./gen/streamgate/v1/lock_pb.js";

/**
 * Longest wait one AcquireLock (or Hold) call asks of the server; longer and unbounded waits
 * are rounds of it, so a request never exceeds the server's --lock-max-wait (docs/clients.md).
 */
export const WAIT_FOREVER_CHUNK_MS = 60_000;
/**
 * Extra time the deadline of one wait call gets on top of its wait, so that the server's
 * `acquired = false` at the end of the wait arrives, while a server that hangs cannot hang
 * the caller.
 */
export const LOCK_DEADLINE_MARGIN_MS = 5_000;
/**
 * When the caller's `callTimeoutMs` ends before the wait, the wait sent to the server ends
 * this long before it, so running out of time is "not acquired", as for a wait that passed.
 */
export const LOCK_DEADLINE_HEADROOM_MS = 100;
/** Deadline of a Release that sets none, as at the end of an `await using` scope: it must end alone. */
export const RELEASE_DEADLINE_MS = 5_000;

/** One call of a lock wait: what to ask the server, the call's deadline, and whether it is the last. */
interface Round {
  waitMs: number;
  timeoutMs: number;
  last: boolean;
}

/** The rounds of one lock wait (docs/clients.md, "Locks"). */
class WaitPlan {
  readonly #end: number | undefined;
  readonly #deadline: number | undefined;

  /** `waitMs` undefined = until granted; `callTimeoutMs` = the caller's deadline, if any. */
  constructor(waitMs: number | undefined, callTimeoutMs: number | undefined) {
    const now = Date.now();
    this.#end = waitMs === undefined ? undefined : now + waitMs;
    this.#deadline = callTimeoutMs === undefined ? undefined : now + callTimeoutMs;
  }

  next(): Round {
    const now = Date.now();
    let waitMs = WAIT_FOREVER_CHUNK_MS;
    let last = false;
    if (this.#end !== undefined) {
      const remaining = Math.max(0, this.#end - now);
      if (remaining <= WAIT_FOREVER_CHUNK_MS) {
        waitMs = remaining;
        last = true;
      }
    }
    let timeoutMs = waitMs + LOCK_DEADLINE_MARGIN_MS;
    if (this.#deadline !== undefined) {
      const left = Math.max(0, this.#deadline - now);
      if (left < timeoutMs) {
        timeoutMs = left;
        const clipped = Math.max(0, left - LOCK_DEADLINE_HEADROOM_MS);
        if (clipped < waitMs) {
          waitMs = clipped;
          last = true;
        }
      }
    }
    return { waitMs, timeoutMs, last };
  }
}

/** Options of `lock()`, `tryLock()` and `hold()`. */
export interface LockOptions extends CallOptions {
  /** Lease length; default the server's (10 s). */
  ttlMs?: number;
  /**
   * How long to wait for the lock. `lock()` and `hold()` wait until granted (or aborted) when
   * unset, and reject with a StreamgateError ABORTED whose `notAcquired` is true when a set
   * wait passes; `tryLock()` defaults to 0 (try once) and resolves to null instead.
   */
  waitTimeoutMs?: number;
  /** Free text shown in the server's diagnostics. */
  owner?: string;
  /**
   * Makes the name a semaphore of this many permits (see `client.semaphore`); unset or 1 = a
   * mutex. Fixed while anyone holds or waits on the name (FAILED_PRECONDITION otherwise).
   */
  limit?: number;
  /** How many of a semaphore's permits the grant takes; default 1. */
  permits?: number;
  /** A side of a read-write lock: "shared" (a reader) or "exclusive" (the writer). */
  mode?: "shared" | "exclusive";
}

/** The request fields that say what a grant takes (docs/locks.md); all unset = a mutex. */
function claimOf(opts: LockOptions): { limit: number; permits: number; mode: LockMode } {
  const mode = opts.mode === "shared" ? LockMode.SHARED : opts.mode === "exclusive" ? LockMode.EXCLUSIVE : LockMode.UNSPECIFIED;
  return { limit: opts.limit ?? 0, permits: opts.permits ?? 0, mode };
}

type LockClient = Client<typeof LockService>;

/** A granted lease on a named lock. */
export class Lock implements AsyncDisposable {
  /** The lock's name. */
  readonly name: string;
  /** Proof of ownership that Release and Extend check. */
  readonly token: string;
  /** Strictly greater than every earlier grant of this name: hand it to the guarded resource. */
  readonly fencingToken: bigint;
  /** When the lease runs out unless extended. */
  expiresAt: Date | undefined;
  #released = false;
  readonly #client: LockClient;

  /** @internal Built by `StreamgateClient.lock()`. */
  constructor(client: LockClient, name: string, grant: AcquireLockResponse) {
    this.#client = client;
    this.name = name;
    this.token = grant.token;
    this.fencingToken = grant.fencingToken;
    this.expiresAt = toDate(grant.expiresAt);
  }

  /**
   * `fencingToken` in decimal: a `bigint` is exact but `JSON.stringify` throws on it, so logs,
   * JSON bodies and headers take this form.
   */
  get fencingTokenString(): string {
    return this.fencingToken.toString();
  }

  /** What `JSON.stringify` writes: the fencing token as a decimal string, never the token. */
  toJSON(): { name: string; fencingToken: string; expiresAt: string | undefined } {
    return { name: this.name, fencingToken: this.fencingTokenString, expiresAt: this.expiresAt?.toISOString() };
  }

  /** True once `release()` has run. */
  get released(): boolean {
    return this.#released;
  }

  /**
   * Gives the lock back. Resolves to false when this grant no longer held it (lease expired,
   * released already). Calling it again does not call the server again.
   */
  async release(opts: CallOptions = {}): Promise<boolean> {
    if (this.#released) return false;
    this.#released = true;
    const res = await wrapCall(() =>
      this.#client.release(create(ReleaseRequestSchema, { name: this.name, token: this.token }), {
        ...transportOptions(opts),
        timeoutMs: opts.callTimeoutMs ?? RELEASE_DEADLINE_MS,
      }),
    );
    return res.released;
  }

  /** Renews the lease to `ttlMs` from now; false when this grant no longer holds the lock. */
  async extend(ttlMs: number, opts: CallOptions = {}): Promise<boolean> {
    const res = await wrapCall(() =>
      this.#client.extend(
        create(ExtendRequestSchema, { name: this.name, token: this.token, ttl: msToDuration(ttlMs, "ttlMs") }),
        transportOptions(opts),
      ),
    );
    if (res.extended) this.expiresAt = toDate(res.expiresAt);
    return res.extended;
  }

  /** Releases the lock at the end of an `await using` scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

/** AcquireLock in rounds until granted or the wait (undefined = none) passes; null then. */
async function acquireWithin(client: LockClient, name: string, opts: LockOptions, waitMs: number | undefined): Promise<Lock | null> {
  const plan = new WaitPlan(waitMs, opts.callTimeoutMs);
  for (;;) {
    const round = plan.next();
    const req = create(AcquireLockRequestSchema, {
      name,
      ttl: msToDuration(opts.ttlMs, "ttlMs"),
      waitTimeout: msToDuration(round.waitMs, "waitTimeoutMs"),
      owner: opts.owner ?? "",
      ...claimOf(opts),
    });
    const res = await wrapCall(() => client.acquireLock(req, { ...transportOptions(opts), timeoutMs: round.timeoutMs }));
    if (res.acquired) return new Lock(client, name, res);
    if (round.last) return null;
  }
}

/** Waits up to `waitTimeoutMs` (default 0: try once); null when not granted. */
export function tryAcquire(client: LockClient, name: string, opts: LockOptions): Promise<Lock | null> {
  return acquireWithin(client, name, opts, opts.waitTimeoutMs ?? 0);
}

/** Waits until granted, or up to `waitTimeoutMs`; rejects with a not-acquired error then. */
export async function acquire(client: LockClient, name: string, opts: LockOptions): Promise<Lock> {
  const lock = await acquireWithin(client, name, opts, opts.waitTimeoutMs);
  if (lock === null) throw notAcquiredError(name, opts.waitTimeoutMs ?? opts.callTimeoutMs ?? 0);
  return lock;
}

/**
 * A lock held by an open Hold stream. The server renews the lease; `signal` aborts when the
 * lock is lost (its reason is a StreamgateError saying why) or released.
 */
export class HeldLock implements AsyncDisposable {
  readonly name: string;
  readonly token: string;
  readonly fencingToken: bigint;
  readonly expiresAt: Date | undefined;
  readonly #stream: AbortController;
  readonly #watcher: Promise<void>;
  readonly #lost: AbortController;

  /** @internal Built by `hold()`. */
  constructor(
    name: string,
    grant: AcquireLockResponse,
    stream: AbortController,
    rest: AsyncIterator<HoldEvent>,
    unlink: () => void,
  ) {
    this.name = name;
    this.token = grant.token;
    this.fencingToken = grant.fencingToken;
    this.expiresAt = toDate(grant.expiresAt);
    this.#stream = stream;
    this.#lost = new AbortController();
    this.#watcher = this.#watch(rest).finally(unlink);
  }

  /**
   * `fencingToken` in decimal: a `bigint` is exact but `JSON.stringify` throws on it, so logs,
   * JSON bodies and headers take this form.
   */
  get fencingTokenString(): string {
    return this.fencingToken.toString();
  }

  /** What `JSON.stringify` writes: the fencing token as a decimal string, never the token. */
  toJSON(): { name: string; fencingToken: string; expiresAt: string | undefined } {
    return { name: this.name, fencingToken: this.fencingTokenString, expiresAt: this.expiresAt?.toISOString() };
  }

  /** Aborts when the lock is no longer held: lost, released, or the stream ended. */
  get signal(): AbortSignal {
    return this.#lost.signal;
  }

  /** True while the Hold stream is open and the server has reported no loss. */
  get held(): boolean {
    return !this.#lost.signal.aborted;
  }

  async #watch(rest: AsyncIterator<HoldEvent>): Promise<void> {
    let reason: StreamgateError;
    try {
      for (;;) {
        const next = await rest.next();
        if (next.done) {
          reason = new StreamgateError(GrpcCode.ABORTED, `hold on "${this.name}" ended by the server`);
          break;
        }
        if (next.value.event.case === "lost") {
          reason = new StreamgateError(GrpcCode.ABORTED, `lock "${this.name}" lost: ${next.value.event.value.reason}`);
          break;
        }
      }
    } catch (err) {
      reason = this.#stream.signal.aborted
        ? new StreamgateError(GrpcCode.CANCELLED, `hold on "${this.name}" released`)
        : toStreamgateError(err);
    }
    this.#stream.abort();
    this.#lost.abort(reason);
  }

  /**
   * Closes the Hold stream; the server releases the lock as soon as it sees the
   * cancellation. Resolves once the stream is closed on this side.
   */
  async release(): Promise<void> {
    this.#stream.abort();
    await this.#watcher;
  }

  /** Releases the lock at the end of an `await using` scope. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.release();
  }
}

/** Opens a Hold stream and resolves once the lock is granted. */
export async function hold(client: LockClient, name: string, opts: LockOptions): Promise<HeldLock> {
  const plan = new WaitPlan(opts.waitTimeoutMs, opts.callTimeoutMs);
  for (;;) {
    const round = plan.next();
    const held = await holdOnce(client, name, opts, round);
    if (held !== null) return held;
    if (round.last) throw notAcquiredError(name, opts.waitTimeoutMs ?? opts.callTimeoutMs ?? 0);
  }
}

/** One Hold stream waiting `round.waitMs` for its grant; null when the wait passed. */
async function holdOnce(client: LockClient, name: string, opts: LockOptions, round: Round): Promise<HeldLock | null> {
  const { controller, unlink } = linkedController(opts.signal);
  const req = create(HoldRequestSchema, {
    name,
    ttl: msToDuration(opts.ttlMs, "ttlMs"),
    waitTimeout: msToDuration(round.waitMs, "waitTimeoutMs"),
    owner: opts.owner ?? "",
    ...claimOf(opts),
  });
  // The stream lives as long as the hold; only the wait for its first event is bounded, like
  // one AcquireLock call.
  const firstEventTimer = setTimeout(
    () => controller.abort(new StreamgateError(GrpcCode.DEADLINE_EXCEEDED, `no answer to Hold("${name}") within ${round.timeoutMs} ms`)),
    round.timeoutMs,
  );
  let handedOver = false;
  try {
    const events = client.hold(req, transportOptions(opts, controller.signal))[Symbol.asyncIterator]();
    const first = await events.next();
    clearTimeout(firstEventTimer);
    if (first.done) throw new StreamgateError(GrpcCode.UNAVAILABLE, `hold on "${name}" ended before any event`);
    const event = first.value.event;
    if (event.case === "lost") throw new StreamgateError(GrpcCode.ABORTED, `lock "${name}" lost: ${event.value.reason}`);
    if (event.case !== "acquired") throw new StreamgateError(GrpcCode.UNKNOWN, `hold on "${name}": unexpected first event`);
    if (!event.value.acquired) return null;
    handedOver = true;
    return new HeldLock(name, event.value, controller, events, unlink);
  } catch (err) {
    // A timer abort carries its own DEADLINE_EXCEEDED error as the reason.
    const reason: unknown = controller.signal.reason;
    if (controller.signal.aborted && reason instanceof StreamgateError && opts.signal?.aborted !== true) throw reason;
    throw toStreamgateError(err);
  } finally {
    clearTimeout(firstEventTimer);
    if (!handedOver) {
      controller.abort();
      unlink();
    }
  }
}
