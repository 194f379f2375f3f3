import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GrpcCode, StreamgateError, isNotAcquired, type StreamgateClient } from "../src/index.js";
import { sleep, startServer, type TestServer } from "./harness.js";

let server: TestServer;
let alice: StreamgateClient;
let bob: StreamgateClient;
let n = 0;
/** A lock name no other test uses. */
const fresh = (what: string) => `ts-${what}-${process.pid}-${++n}`;

before(async () => {
  server = await startServer();
  alice = server.client();
  bob = server.client();
});

after(async () => {
  await server?.stop();
});

function isCode(code: number) {
  return (err: unknown) => err instanceof StreamgateError && err.code === code;
}

test("await using releases the lock when the scope ends", async () => {
  const name = fresh("scope");
  {
    await using lock = await alice.lock(name);
    assert.equal(lock.name, name);
    assert.notEqual(lock.token, "");
    assert.ok(lock.expiresAt instanceof Date && lock.expiresAt.getTime() > Date.now());
    assert.equal(await bob.tryLock(name), null, "a second owner got a held lock");
  }
  const again = await bob.tryLock(name);
  assert.ok(again !== null, "the lock was not released at the end of the scope");
  await again.release();
});

test("await using releases the lock when the scope throws", async () => {
  const name = fresh("throw");
  await assert.rejects(async () => {
    await using _lock = await alice.lock(name);
    throw new Error("boom");
  }, /boom/);
  const again = await bob.tryLock(name);
  assert.ok(again !== null);
  await again.release();
});

test("fencing tokens strictly increase across grants of one name", async () => {
  const name = fresh("fence");
  const tokens: bigint[] = [];
  for (let i = 0; i < 5; i++) {
    const lock = await (i % 2 === 0 ? alice : bob).lock(name);
    tokens.push(lock.fencingToken);
    assert.equal(await lock.release(), true);
  }
  for (let i = 1; i < tokens.length; i++) assert.ok(tokens[i]! > tokens[i - 1]!, `tokens not increasing: ${tokens.join(", ")}`);
});

test("release reports false once the grant no longer holds the lock", async () => {
  const name = fresh("release");
  const lock = await alice.lock(name);
  assert.equal(lock.released, false);
  assert.equal(await lock.release(), true);
  assert.equal(lock.released, true);
  assert.equal(await lock.release(), false);

  const short = await alice.lock(fresh("expire"), { ttlMs: 50 });
  await sleep(300);
  assert.equal(await short.release(), false, "release of an expired lease said it released");
});

test("a waiter is granted the lock once the holder releases it", async () => {
  const name = fresh("wait");
  const first = await alice.lock(name);
  let granted = false;
  const waiting = bob.lock(name).then((l) => {
    granted = true;
    return l;
  });
  await sleep(200);
  assert.equal(granted, false, "the waiter got a lock that was still held");
  await first.release();
  const second = await waiting;
  assert.ok(second.fencingToken > first.fencingToken);
  assert.notEqual(second.token, first.token);
  await second.release();
});

test("lock with waitTimeoutMs rejects with ABORTED, not acquired, while another holds it", async () => {
  const name = fresh("timeout");
  await using _held = await alice.lock(name);
  await assert.rejects(bob.lock(name, { waitTimeoutMs: 200 }), (err: unknown) => isCode(GrpcCode.ABORTED)(err) && isNotAcquired(err));
  assert.equal(await bob.tryLock(name, { waitTimeoutMs: 100 }), null);
});

test("aborting a waiting lock rejects with CANCELLED and the waiter leaves the queue", async () => {
  const name = fresh("abort");
  const held = await alice.lock(name);
  const ac = new AbortController();
  const waiting = bob.lock(name, { signal: ac.signal });
  await sleep(100);
  ac.abort();
  await assert.rejects(waiting, isCode(GrpcCode.CANCELLED));
  // The cancel travels as an HTTP/2 RST_STREAM on bob's connection; a release sent at the
  // same moment on alice's connection can reach the server first and hand the lock to the
  // departing waiter, whose grant then lives until its lease ends (no unary RPC can avoid
  // that race). A later call on bob's connection is ordered after the RST, so once it is
  // answered the server has seen the cancel, and this test checks only the queue.
  await bob.tryLock(fresh("barrier"));
  await held.release();
  // Had the cancelled waiter stayed queued, it would now hold the lock.
  const next = await alice.tryLock(name, { waitTimeoutMs: 2_000 });
  assert.ok(next !== null, "the lock went to a cancelled waiter");
  await next.release();
});

test("a signal already aborted fails the call at once", async () => {
  await assert.rejects(alice.lock(fresh("pre"), { signal: AbortSignal.abort() }), isCode(GrpcCode.CANCELLED));
});

test("extend renews the lease of the current grant", async () => {
  const name = fresh("extend");
  const lock = await alice.lock(name, { ttlMs: 1_000 });
  const before = lock.expiresAt!.getTime();
  assert.equal(await lock.extend(60_000), true);
  assert.ok(lock.expiresAt!.getTime() > before + 30_000);
  await lock.release();
  assert.equal(await lock.extend(60_000), false);
});

test("an empty lock name is rejected with INVALID_ARGUMENT naming the field", async () => {
  await assert.rejects(
    alice.lock(""),
    (err: unknown) => err instanceof StreamgateError && err.code === GrpcCode.INVALID_ARGUMENT && /name/.test(err.rawMessage),
  );
});

test("a negative ttl is refused on the client with INVALID_ARGUMENT naming ttlMs", async () => {
  await assert.rejects(
    alice.lock(fresh("ttl"), { ttlMs: -1 }),
    (err: unknown) => err instanceof StreamgateError && err.code === GrpcCode.INVALID_ARGUMENT && /ttlMs/.test(err.rawMessage),
  );
});

test("hold keeps the lock while open and hands it on once released", async () => {
  const name = fresh("hold");
  const held = await alice.hold(name, { ttlMs: 300 });
  assert.equal(held.held, true);
  assert.ok(held.fencingToken > 0n);
  // Several lease lengths pass: the server's renewals keep it ours.
  await sleep(1_000);
  assert.equal(held.held, true);
  assert.equal(await bob.tryLock(name), null, "another owner got a held lock");
  await held.release();
  assert.equal(held.held, false);
  assert.ok(held.signal.aborted);
  const next = await bob.lock(name, { waitTimeoutMs: 5_000 });
  assert.ok(next.fencingToken > held.fencingToken);
  await next.release();
});

test("await using on a hold releases it at the end of the scope", async () => {
  const name = fresh("hold-scope");
  {
    await using _held = await alice.hold(name);
    assert.equal(await bob.tryLock(name), null);
  }
  const next = await bob.lock(name, { waitTimeoutMs: 5_000 });
  await next.release();
});

test("aborting the signal given to hold releases the lock", async () => {
  const name = fresh("hold-abort");
  const ac = new AbortController();
  const held = await alice.hold(name, { signal: ac.signal });
  const lost = new Promise<unknown>((r) => held.signal.addEventListener("abort", () => r(held.signal.reason), { once: true }));
  ac.abort();
  const reason = await lost;
  assert.ok(reason instanceof StreamgateError);
  const next = await bob.lock(name, { waitTimeoutMs: 5_000 });
  await next.release();
});

test("hold with waitTimeoutMs rejects with ABORTED, not acquired, while another holds the lock", async () => {
  const name = fresh("hold-timeout");
  await using _held = await alice.lock(name);
  await assert.rejects(bob.hold(name, { waitTimeoutMs: 200 }), (err: unknown) => isCode(GrpcCode.ABORTED)(err) && isNotAcquired(err));
});
