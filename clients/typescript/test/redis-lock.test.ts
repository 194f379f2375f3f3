import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { StreamgateClient } from "../src/index.js";
import { sleep, startRedis, startServer, type TestRedis, type TestServer } from "./harness.js";

const WORKERS = 3;
const INCREMENTS = 100;

let redis: TestRedis;
let one: TestServer;
let two: TestServer;

before(async () => {
  redis = await startRedis();
  // Two servers sharing one Redis: locks must exclude across them.
  one = await startServer(["--redis-url", redis.url]);
  two = await startServer(["--redis-url", redis.url]);
});

after(async () => {
  await one?.stop();
  await two?.stop();
  await redis?.stop();
});

test("three workers on two servers doing read-modify-write under the lock count exactly 300", async () => {
  const name = `ts-counter-${process.pid}`;
  // The seed's shared counter: read, pause with the value in hand, write back.
  let counter = 0;
  let lastFence = 0n;
  const worker = async (client: StreamgateClient) => {
    for (let i = 0; i < INCREMENTS; i++) {
      await using lock = await client.lock(name, { ttlMs: 10_000 });
      assert.ok(lock.fencingToken > lastFence, "a grant's fencing token did not exceed the previous grant's");
      lastFence = lock.fencingToken;
      const current = counter;
      await sleep(1);
      counter = current + 1;
    }
  };
  const clients = [one.client(), two.client(), one.client()];
  await Promise.all(clients.map(worker));
  assert.equal(counter, WORKERS * INCREMENTS);
});

test("a lock held through one server is refused through another sharing the redis", async () => {
  const name = `ts-shared-${process.pid}`;
  const a = one.client();
  const b = two.client();
  {
    await using held = await a.lock(name);
    assert.equal(await b.tryLock(name), null);
    assert.ok(held.fencingToken > 0n);
  }
  const next = await b.lock(name, { waitTimeoutMs: 5_000 });
  await next.release();
});

test("a hold through one server blocks the other until it is released", async () => {
  const name = `ts-shared-hold-${process.pid}`;
  const held = await one.client().hold(name, { ttlMs: 500 });
  await sleep(1_200);
  assert.equal(await two.client().tryLock(name), null, "the hold's lease was not renewed in Redis");
  await held.release();
  const next = await two.client().lock(name, { waitTimeoutMs: 5_000 });
  assert.ok(next.fencingToken > held.fencingToken);
  await next.release();
});
