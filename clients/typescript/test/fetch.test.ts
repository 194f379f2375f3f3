import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GrpcCode, StreamgateError, type StreamgateClient } from "../src/index.js";
import { freePort, startServer, startUpstream, type TestServer, type TestUpstream } from "./harness.js";

let server: TestServer;
let upstream: TestUpstream;
let client: StreamgateClient;
/** Resolves when the upstream's /slow handler has a request (so an abort lands mid-call). */
let slowArrived: () => void = () => {};

before(async () => {
  upstream = await startUpstream((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/hello") {
      res.setHeader("x-test", ["a", "b"]);
      res.setHeader("content-type", "text/plain");
      res.end("hi there");
    } else if (url.pathname === "/echo") {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ method: req.method, token: req.headers["x-token"], body: Buffer.concat(chunks).toString() }));
      });
    } else if (url.pathname === "/slow") {
      slowArrived();
      // Never answers: the call ends only by the client's abort or deadline.
    } else {
      res.statusCode = 404;
      res.end("nothing here");
    }
  });
  server = await startServer(["--allow-private-networks"]);
  client = server.client();
});

after(async () => {
  await server?.stop();
  await upstream?.stop();
});

async function rejectsWith(p: Promise<unknown>, code: number): Promise<StreamgateError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof StreamgateError, `expected a StreamgateError, got ${String(err)}`);
    assert.equal(err.code, code, `expected code ${code}, got ${err.codeName}: ${err.rawMessage}`);
    return err;
  }
  assert.fail(`expected the call to fail with code ${code}`);
}

test("fetch returns the upstream status, repeated headers in order, body and final url", async () => {
  const res = await client.fetch(`${upstream.url}/hello`);
  assert.equal(res.status, 200);
  assert.equal(res.text(), "hi there");
  assert.equal(res.url, `${upstream.url}/hello`);
  const xTest = res.headers.filter((h) => h.name.toLowerCase() === "x-test").map((h) => h.value);
  assert.deepEqual(xTest, ["a", "b"]);
  assert.equal(res.header("Content-Type"), "text/plain");
});

test("an upstream 404 is a successful call carrying that status", async () => {
  const res = await client.fetch(`${upstream.url}/missing`);
  assert.equal(res.status, 404);
  assert.equal(res.text(), "nothing here");
});

test("method, request headers and body reach the upstream", async () => {
  const res = await client.fetch(`${upstream.url}/echo`, {
    method: "POST",
    headers: { "x-token": "t-123" },
    body: "payload",
  });
  assert.deepEqual(res.json(), { method: "POST", token: "t-123", body: "payload" });
});

test("a relative url is rejected with INVALID_ARGUMENT naming the field", async () => {
  const err = await rejectsWith(client.fetch("/not-absolute"), GrpcCode.INVALID_ARGUMENT);
  assert.match(err.rawMessage, /url/);
  assert.equal(err.codeName, "INVALID_ARGUMENT");
});

test("aborting the signal cancels a fetch in flight with CANCELLED", async () => {
  const arrived = new Promise<void>((r) => (slowArrived = r));
  const ac = new AbortController();
  const call = client.fetch(`${upstream.url}/slow`, { signal: ac.signal });
  await arrived;
  ac.abort();
  await rejectsWith(call, GrpcCode.CANCELLED);
});

test("a call deadline shorter than the upstream fails with DEADLINE_EXCEEDED", async () => {
  await rejectsWith(client.fetch(`${upstream.url}/slow`, { callTimeoutMs: 300 }), GrpcCode.DEADLINE_EXCEEDED);
});

test("an upstream that refuses connections is UNAVAILABLE", async () => {
  const port = await freePort();
  await rejectsWith(client.fetch(`http://127.0.0.1:${port}/`), GrpcCode.UNAVAILABLE);
});

test("a loopback target is PERMISSION_DENIED unless the server allows private networks", async () => {
  await using guarded = await startServer();
  const c = guarded.client();
  await rejectsWith(c.fetch(`${upstream.url}/hello`), GrpcCode.PERMISSION_DENIED);
});
