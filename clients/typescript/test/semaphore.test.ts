import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GrpcCode, StreamgateError, type StreamgateClient } from "../src/index.js";
import { sleep, startServer, type TestServer } from "./harness.js";

let server: TestServer;
let client: StreamgateClient;
let n = 0;
/** A lock name no other test uses. */
const fresh = (what: string) => `ts-${what}-${process.pid}-${++n}`;

before(async () => {
  server = await startServer();
  client = server.client();
});

after(async () => {
  await server?.stop();
});

test("a semaphore never has more than its limit of holders, each with its own fence", async () => {
  const name = fresh("sem");
  let inside = 0;
  let most = 0;
  const fences = new Set<bigint>();
  const worker = async () => {
    for (let i = 0; i < 5; i++) {
      await using permit = await client.semaphore(name, 3, { ttlMs: 10_000 });
      fences.add(permit.fencingToken);
      most = Math.max(most, ++inside);
      await sleep(5);
      inside--;
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  assert.equal(most, 3);
  assert.equal(fences.size, 30);
});

test("readers share and a writer waits until they are gone", async () => {
  const name = fresh("rw");
  let r2Fence: bigint;
  {
    await using r1 = await client.readLock(name);
    await using r2 = await client.readLock(name, { waitTimeoutMs: 0 });
    assert.ok(r2.fencingToken > r1.fencingToken);
    r2Fence = r2.fencingToken;
    assert.equal(await client.tryLock(name, { mode: "exclusive" }), null, "a writer beside readers");
  }
  await using w = await client.writeLock(name, { waitTimeoutMs: 5_000 });
  assert.ok(w.fencingToken > r2Fence);
});

test("another limit on a name in use is FAILED_PRECONDITION naming both", async () => {
  const name = fresh("limit");
  await using held = await client.semaphore(name, 5);
  assert.ok(held.token.startsWith("p-"));
  await assert.rejects(
    client.semaphore(name, 3, { waitTimeoutMs: 0 }),
    (err: unknown) =>
      err instanceof StreamgateError &&
      err.code === GrpcCode.FAILED_PRECONDITION &&
      err.message.includes("limit 5") &&
      err.message.includes("limit 3"),
  );
});
