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
import { GrpcCode, StreamgateError, toStreamgateError, wrapCall } from "./errors.js";
import {
  AcquireLockRequestSchema,
  ExtendRequestSchema,
  HoldRequestSchema,
  LockService,
  ReleaseRequestSchema,
  type AcquireLockResponse,
  type HoldEvent,
} from "./gen/streamgate/v1/lock_pb.js";

/**
 * How long one AcquireLock (or Hold) call waits in the server's queue when the caller set
 * no limit; `lock()` then simply asks again. Far below the server's --lock-max-wait (1 h by
 * default) so the request is always valid.
 */
const WAIT_ROUND_MS = 60_000;

/** Options of `lock()`, `tryLock()` and `hold()`. */
export interface LockOptions extends CallOptions {
  /** Lease length; default the server's (10 s). */
  ttlMs?: number;
  /**
   * How long to wait for the lock. `lock()` and `hold()` wait until granted (or aborted) when
   * unset, and reject with DEADLINE_EXCEEDED when a set wait passes; `tryLock()` defaults to
   * 0 (try once) and resolves to null instead.
   */
  waitTimeoutMs?: number;
  /** Free text shown in the server's diagnostics. */
  owner?: string;
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
      this.#client.release(create(ReleaseRequestSchema, { name: this.name, token: this.token }), transportOptions(opts)),
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

/** One AcquireLock call; null when not granted within its wait. */
export async function tryAcquire(client: LockClient, name: string, opts: LockOptions): Promise<Lock | null> {
  const req = create(AcquireLockRequestSchema, {
    name,
    ttl: msToDuration(opts.ttlMs, "ttlMs"),
    waitTimeout: msToDuration(opts.waitTimeoutMs ?? 0, "waitTimeoutMs"),
    owner: opts.owner ?? "",
  });
  const res = await wrapCall(() => client.acquireLock(req, transportOptions(opts)));
  return res.acquired ? new Lock(client, name, res) : null;
}

/** AcquireLock until granted: in rounds when no wait was set, else once. */
export async function acquire(client: LockClient, name: string, opts: LockOptions): Promise<Lock> {
  if (opts.waitTimeoutMs !== undefined) {
    const lock = await tryAcquire(client, name, opts);
    if (lock === null) throw notAcquired(name, opts.waitTimeoutMs);
    return lock;
  }
  for (;;) {
    const lock = await tryAcquire(client, name, { ...opts, waitTimeoutMs: WAIT_ROUND_MS });
    if (lock !== null) return lock;
  }
}

function notAcquired(name: string, waitMs: number): StreamgateError {
  return new StreamgateError(GrpcCode.DEADLINE_EXCEEDED, `lock "${name}" not acquired within ${waitMs} ms`);
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
  const unlimited = opts.waitTimeoutMs === undefined;
  for (;;) {
    const waitMs = opts.waitTimeoutMs ?? WAIT_ROUND_MS;
    const { controller, unlink } = linkedController(opts.signal);
    const req = create(HoldRequestSchema, {
      name,
      ttl: msToDuration(opts.ttlMs, "ttlMs"),
      waitTimeout: msToDuration(waitMs, "waitTimeoutMs"),
      owner: opts.owner ?? "",
    });
    let handedOver = false;
    try {
      const events = client.hold(req, transportOptions(opts, controller.signal))[Symbol.asyncIterator]();
      const first = await events.next();
      if (first.done) throw new StreamgateError(GrpcCode.UNAVAILABLE, `hold on "${name}" ended before any event`);
      const event = first.value.event;
      if (event.case === "lost") throw new StreamgateError(GrpcCode.ABORTED, `lock "${name}" lost: ${event.value.reason}`);
      if (event.case === "acquired" && event.value.acquired) {
        handedOver = true;
        return new HeldLock(name, event.value, controller, events, unlink);
      }
      if (event.case !== "acquired") throw new StreamgateError(GrpcCode.UNKNOWN, `hold on "${name}": unexpected first event`);
      if (!unlimited) throw notAcquired(name, waitMs);
    } catch (err) {
      throw toStreamgateError(err);
    } finally {
      if (!handedOver) {
        controller.abort();
        unlink();
      }
    }
  }
}
