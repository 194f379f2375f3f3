/**
 * The rules of docs/clients.md, as the TypeScript client follows them: addresses, errors,
 * lock waits and not-acquired, against the real server.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { GrpcCode, StreamgateClient, StreamgateError, isNotAcquired, parseAddress } from "../src/index.js";
import { freePort, makeServerPki, sleep, startServer, startUpstream, type TestServer } from "./harness.js";

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

// An upstream that is down is not the server being down (docs/clients.md, "Upstream
// failures"): both are UNAVAILABLE, and only the first names an upstream.
test("an upstream that is down is told from a server that is down", async () => {
  const open = await startServer(["--allow-private-networks"]);
  try {
    const upstream = `127.0.0.1:${await freePort()}`;
    await using client = new StreamgateClient(open.address);
    await assert.rejects(client.fetch(`http://${upstream}/hello`, { callTimeoutMs: 20_000 }), (err: unknown) => {
      assert.ok(err instanceof StreamgateError, String(err));
      assert.equal(err.code, GrpcCode.UNAVAILABLE, err.message);
      assert.equal(err.upstream, upstream, err.message);
      assert.ok(err.isUpstreamError);
      return true;
    });
    await assert.rejects(
      (async () => {
        for await (const _ of client.listPages(`http://${upstream}/items`, { callTimeoutMs: 20_000 })) break;
      })(),
      (err: unknown) => err instanceof StreamgateError && err.code === GrpcCode.UNAVAILABLE && err.upstream === upstream,
    );

    const dead = `127.0.0.1:${await freePort()}`;
    await using gone = new StreamgateClient(dead);
    await assert.rejects(gone.fetch(`http://${upstream}/hello`, { callTimeoutMs: 20_000 }), (err: unknown) => {
      assert.ok(err instanceof StreamgateError, String(err));
      assert.equal(err.code, GrpcCode.UNAVAILABLE, err.message);
      assert.ok(err.rawMessage.includes(dead), err.message);
      assert.equal(err.upstream, undefined, err.message);
      assert.ok(!err.isUpstreamError);
      return true;
    });
  } finally {
    await open.stop();
  }
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

// Transport failures (docs/clients.md, "Errors"): a server that cannot be reached or goes away
// is UNAVAILABLE naming the address, whatever broke; the message says the likely fix when the
// client recognises the mistake.

const HANG_GUARD_MS = 20_000;

function unavailableNaming(address: string, hint?: string): (err: unknown) => boolean {
  return (err: unknown) => {
    assert.ok(err instanceof StreamgateError, String(err));
    assert.equal(err.codeName, "UNAVAILABLE", err.message);
    assert.ok(err.rawMessage.includes(address), `${err.message} does not name ${address}`);
    if (hint !== undefined) assert.ok(err.rawMessage.includes(hint), `${err.message} does not say "${hint}"`);
    return true;
  };
}

let pkiDir: string;
let tlsServer: TestServer;

before(async () => {
  pkiDir = mkdtempSync(join(tmpdir(), "ts-contract-pki-"));
  makeServerPki(pkiDir);
  tlsServer = await startServer(["--tls-cert", join(pkiDir, "server.pem"), "--tls-key", join(pkiDir, "server.key")]);
});

after(async () => {
  await tlsServer?.stop();
  if (pkiDir !== undefined) rmSync(pkiDir, { recursive: true, force: true });
});

test("a server killed mid-unary is UNAVAILABLE naming it", async () => {
  let arrived!: () => void;
  const reached = new Promise<void>((r) => (arrived = r));
  await using upstream = await startUpstream(() => arrived()); // never answers
  const srv = await startServer(["--allow-private-networks"]);
  try {
    await using client = new StreamgateClient(srv.address);
    // Settled into a value at once: the rejection comes while the server is being killed.
    const failure = client.fetch(`${upstream.url}/stall`, { callTimeoutMs: HANG_GUARD_MS }).then(
      () => assert.fail("the fetch answered"),
      (err: unknown) => err,
    );
    await reached;
    await srv.kill();
    unavailableNaming(srv.address)(await failure);
  } finally {
    await srv.stop();
  }
});

test("a server killed mid-stream is UNAVAILABLE naming it", async () => {
  const srv = await startServer();
  try {
    await using client = new StreamgateClient(srv.address);
    const release = new AbortController();
    async function* readings() {
      yield { sensorId: "s1", temperature: 21, humidity: 40 };
      await new Promise((r) => release.signal.addEventListener("abort", r));
    }
    const events = client.sensorFeed(readings(), { callTimeoutMs: HANG_GUARD_MS });
    const first = await events.next();
    assert.equal(first.done, false);
    await srv.kill();
    await assert.rejects(events.next(), unavailableNaming(srv.address));
    release.abort();
  } finally {
    await srv.stop();
  }
});

test("plaintext to a TLS port is UNAVAILABLE saying the server may speak TLS", async () => {
  await using client = new StreamgateClient(tlsServer.address);
  await assert.rejects(
    client.fetch("http://127.0.0.1:1/", { callTimeoutMs: HANG_GUARD_MS }),
    unavailableNaming(tlsServer.address, "speaks TLS"),
  );
});

test("TLS to a plaintext port is UNAVAILABLE saying the server does not speak TLS", async () => {
  await using client = new StreamgateClient(server.address, { caFile: join(pkiDir, "ca.pem") });
  await assert.rejects(
    client.fetch("http://127.0.0.1:1/", { callTimeoutMs: HANG_GUARD_MS }),
    unavailableNaming(server.address, "does not speak TLS"),
  );
});

test("a certificate from another CA is UNAVAILABLE saying so", async () => {
  const other = mkdtempSync(join(tmpdir(), "ts-contract-other-"));
  try {
    makeServerPki(other);
    await using client = new StreamgateClient(tlsServer.address, { caFile: join(other, "ca.pem") });
    await assert.rejects(
      client.fetch("http://127.0.0.1:1/", { callTimeoutMs: HANG_GUARD_MS }),
      unavailableNaming(tlsServer.address, "not signed by the CA you gave"),
    );
  } finally {
    rmSync(other, { recursive: true, force: true });
  }
});

test("a certificate for another name is UNAVAILABLE saying so", async () => {
  const dir = mkdtempSync(join(tmpdir(), "ts-contract-name-"));
  try {
    makeServerPki(dir, "DNS:elsewhere.test");
    await using srv = await startServer(["--tls-cert", join(dir, "server.pem"), "--tls-key", join(dir, "server.key")]);
    await using client = new StreamgateClient(srv.address, { caFile: join(dir, "ca.pem") });
    await assert.rejects(
      client.fetch("http://127.0.0.1:1/", { callTimeoutMs: HANG_GUARD_MS }),
      unavailableNaming(srv.address, "not valid for the name you connected to"),
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("streams beyond the server's limit wait or are UNAVAILABLE, never another code", async () => {
  const limit = 2;
  const streams = 8;
  await using srv = await startServer(["--max-streams-per-connection", String(limit)]);
  await using client = new StreamgateClient(srv.address);
  const release = new AbortController();
  const opened = Array.from({ length: streams }, async (_, i) => {
    async function* readings() {
      yield { sensorId: `s${i}`, temperature: 21, humidity: 40 };
      await new Promise((r) => release.signal.addEventListener("abort", r));
    }
    const events = client.sensorFeed(readings());
    const first = events.next();
    const waited = new Promise<"waiting">((r) => setTimeout(() => r("waiting"), 3_000));
    const outcome = await Promise.race([first.then(() => "answered" as const), waited]).catch((err: unknown) => err);
    void events.return(undefined).catch(() => {});
    return outcome;
  });
  const outcomes = await Promise.all(opened);
  release.abort();
  let answered = 0;
  for (const outcome of outcomes) {
    if (outcome === "answered") answered++;
    else if (outcome !== "waiting") unavailableNaming(srv.address)(outcome);
  }
  assert.ok(answered >= 1 && answered <= limit, `answered ${answered}`);
});

test("an empty token is no token", async () => {
  assert.doesNotThrow(() => new StreamgateClient("10.0.0.1:1", { token: "" }));
  await using client = new StreamgateClient(server.address, { token: "" });
  await using lock = await client.lock(fresh("empty-token"), { waitTimeoutMs: 0 });
  assert.ok(lock.fencingToken > 0n);
});

test("a lock's fencing token has a string form, and JSON.stringify of a lock works", async () => {
  await using client = server.client();
  await using lock = await client.lock(fresh("json"), { waitTimeoutMs: 0 });
  assert.equal(lock.fencingTokenString, lock.fencingToken.toString());
  const json = JSON.parse(JSON.stringify(lock)) as Record<string, unknown>;
  assert.equal(json.fencingToken, lock.fencingTokenString);
  assert.ok(!JSON.stringify(lock).includes(lock.token), "the ownership token is a secret");
  await using held = await client.hold(fresh("json-hold"), { waitTimeoutMs: 0 });
  assert.equal(JSON.parse(JSON.stringify(held)).fencingToken, held.fencingToken.toString());
});
