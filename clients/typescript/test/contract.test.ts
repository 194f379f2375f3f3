/**
 * The rules of docs/clients.md, as the TypeScript client follows them: addresses, errors,
 * lock waits and not-acquired, against the real server.
 */
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GrpcCode, StreamgateClient, StreamgateError, isNotAcquired, parseAddress } from "../src/index.js";
import { freePort, sleep, startServer, type TestServer } from "./harness.js";

let server: TestServer;
let n = 0;
const fresh = (what: string) => `ts-contract-${what}-${process.pid}-${++n}`;

before(async () => {
  server = await startServer();
});

after(async () => {
  await server?.stop();
});

test("a malformed address is INVALID_ARGUMENT at construction, quoting it", () => {
  for (const [bad, reason] of [
    ["localhost", "missing port"],
    ["", "empty"],
    ["http://127.0.0.1", "missing port"],
    ["127.0.0.1:0", "port"],
    ["grpc://127.0.0.1:1", "scheme"],
    ["http://127.0.0.1:1/api", "path"],
    ["u@127.0.0.1:1", "user info"],
    ["::1:50051", "brackets"],
  ] as const) {
    assert.throws(
      () => new StreamgateClient(bad),
      (err: unknown) =>
        err instanceof StreamgateError &&
        err.code === GrpcCode.INVALID_ARGUMENT &&
        err.rawMessage.includes(`"${bad}"`) &&
        err.rawMessage.includes(reason),
      bad,
    );
  }
});

test("the three forms parse to one authority", () => {
  assert.deepEqual(parseAddress("127.0.0.1:50051"), { authority: "127.0.0.1:50051", tls: false, baseUrl: "http://127.0.0.1:50051" });
  assert.deepEqual(parseAddress("http://127.0.0.1:50051/"), { authority: "127.0.0.1:50051", tls: false, baseUrl: "http://127.0.0.1:50051" });
  assert.deepEqual(parseAddress("https://gate.example:443"), { authority: "gate.example:443", tls: true, baseUrl: "https://gate.example:443" });
  assert.equal(parseAddress("[::1]:50051").authority, "[::1]:50051");
});

test("every address form reaches the server", async () => {
  for (const address of [server.address, `http://${server.address}`, `http://${server.address}/`]) {
    await using client = new StreamgateClient(address);
    await using lock = await client.lock(fresh("forms"), { waitTimeoutMs: 0 });
    assert.ok(lock.fencingToken > 0n, address);
  }
});

test("the first call on a dead address fails with UNAVAILABLE naming it", async () => {
  const address = `127.0.0.1:${await freePort()}`;
  await using client = new StreamgateClient(address);
  await assert.rejects(
    client.fetch("http://127.0.0.1:1/", { callTimeoutMs: 20_000 }),
    (err: unknown) => err instanceof StreamgateError && err.code === GrpcCode.UNAVAILABLE && err.rawMessage.includes(address),
  );
  // Streams name it too.
  await assert.rejects(
    (async () => {
      for await (const _ of client.listPages("http://127.0.0.1:1/", { callTimeoutMs: 20_000 })) break;
    })(),
    (err: unknown) => err instanceof StreamgateError && err.code === GrpcCode.UNAVAILABLE && err.rawMessage.includes(address),
  );
});

test("not acquired in time is one ABORTED error; tryLock answers null", async () => {
  const name = fresh("busy");
  await using client = server.client();
  await using _held = await client.lock(name, { waitTimeoutMs: 0 });
  await assert.rejects(client.lock(name, { waitTimeoutMs: 100 }), (err: unknown) => {
    assert.ok(err instanceof StreamgateError);
    assert.equal(err.code, GrpcCode.ABORTED);
    assert.ok(isNotAcquired(err));
    assert.equal(err.rawMessage, `lock "${name}" not acquired within 100 ms`);
    return true;
  });
  // A caller deadline shorter than the wait ends as "not acquired" too, not DEADLINE_EXCEEDED.
  await assert.rejects(client.lock(name, { callTimeoutMs: 400 }), (err: unknown) => isNotAcquired(err));
  await assert.rejects(client.hold(name, { waitTimeoutMs: 50 }), (err: unknown) => isNotAcquired(err));
  assert.equal(await client.tryLock(name), null);
});

test("an unset wait waits until the lock is released", async () => {
  const name = fresh("queue");
  await using client = server.client();
  const held = await client.lock(name, { waitTimeoutMs: 0 });
  let granted = false;
  const waiter = client.lock(name).then((lock) => {
    granted = true;
    return lock;
  });
  await sleep(200);
  assert.equal(granted, false, "lock() with no wait gave up or was granted a held lock");
  await held.release();
  await using _next = await waiter;
});

test("an empty lock name is INVALID_ARGUMENT naming the field", async () => {
  await using client = server.client();
  await assert.rejects(
    client.lock(""),
    (err: unknown) => err instanceof StreamgateError && err.code === GrpcCode.INVALID_ARGUMENT && err.rawMessage.includes("name"),
  );
});
