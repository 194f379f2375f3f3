/**
 * `@streamgate/client/web` outside the browser: its bundle for the browser platform pulls in
 * no Node module, and the same `Client` over connect-web's gRPC-Web transport (Node's own
 * fetch, HTTP/1.1) calls the real server: unary, server streams, locks, errors, and the
 * SensorFeed refusal.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { GrpcCode, StreamgateError, StreamgateWebClient, type Page } from "../src/web.js";
import { pkgDir, sendJson, startServer, startUpstream, type TestServer, type TestUpstream } from "./harness.js";

const TOTAL_ITEMS = 25;

let server: TestServer;
let upstream: TestUpstream;
let client: StreamgateWebClient;

before(async () => {
  upstream = await startUpstream((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/hello") {
      res.writeHead(200, { "content-type": "text/plain" }).end("hello over gRPC-Web");
      return;
    }
    const page = Number(url.searchParams.get("page") ?? "1");
    const size = Number(url.searchParams.get("size") ?? "20");
    const items = [];
    for (let id = (page - 1) * size + 1; id <= Math.min(page * size, TOTAL_ITEMS); id++) items.push({ id });
    sendJson(res, 200, items);
  });
  server = await startServer(["--allow-private-networks"]);
  client = new StreamgateWebClient(`http://${server.address}`, { defaultCallTimeoutMs: 15_000 });
});

after(async () => {
  await server?.stop();
  await upstream?.stop();
});

test("the web entry point bundles for the browser without any Node module", () => {
  const dir = mkdtempSync(join(tmpdir(), "streamgate-web-bundle-"));
  try {
    const meta = join(dir, "meta.json");
    const run = spawnSync(process.execPath, [resolve(pkgDir, "scripts/bundle-browser.mjs"), "--outdir", dir, "--metafile", meta], { encoding: "utf8" });
    assert.equal(run.status, 0, `esbuild (platform browser) refused the bundle:\n${run.stdout}${run.stderr}`);
    const inputs = Object.keys((JSON.parse(readFileSync(meta, "utf8")) as { inputs: Record<string, unknown> }).inputs);
    assert.ok(inputs.includes("src/web.ts"), `the bundle is built from src/web.ts: ${inputs.slice(0, 5).join(", ")}`);
    assert.ok(inputs.some((i) => i.includes("@connectrpc/connect-web")));
    const nodeOnly = inputs.filter((i) => i.startsWith("node:") || i.includes("connect-node") || i.endsWith("src/address.ts") || i.endsWith("src/client.ts"));
    assert.deepEqual(nodeOnly, [], "no Node-only module in the browser bundle");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("fetch over gRPC-Web returns the upstream's answer", async () => {
  const res = await client.fetch(`${upstream.url}/hello`);
  assert.equal(res.status, 200);
  assert.equal(res.text(), "hello over gRPC-Web");
});

test("listPages over gRPC-Web yields every page in order", async () => {
  const pages: Page[] = [];
  for await (const page of client.listPages(`${upstream.url}/items`, { pageSize: 10 })) pages.push(page);
  assert.deepEqual(
    pages.map((p) => p.number),
    [1, 2, 3],
  );
  assert.deepEqual(
    pages.flatMap((p) => p.items),
    Array.from({ length: TOTAL_ITEMS }, (_, i) => ({ id: i + 1 })),
  );
});

test("a lock and a hold over gRPC-Web are released at the end of their scope", async () => {
  {
    await using lock = await client.lock("web-entry", { ttlMs: 10_000 });
    assert.ok(lock.fencingToken > 0n);
    assert.equal(await client.tryLock("web-entry"), null, "held while in scope");
  }
  {
    await using held = await client.hold("web-entry-held", { ttlMs: 10_000 });
    assert.ok(held.held);
  }
  // Released: granted again at once (the Hold's release needs the server to see the stream close).
  for (const name of ["web-entry", "web-entry-held"]) {
    const again = await client.tryLock(name, { waitTimeoutMs: 5_000 });
    assert.notEqual(again, null, `${name} is free again`);
    await again?.release();
  }
});

test("a bad argument over gRPC-Web rejects with INVALID_ARGUMENT naming the field", async () => {
  await assert.rejects(client.fetch("not a url"), (err: unknown) => {
    assert.ok(err instanceof StreamgateError);
    assert.equal(err.code, GrpcCode.INVALID_ARGUMENT);
    assert.match(err.rawMessage, /url/);
    return true;
  });
});

test("an aborted listing over gRPC-Web rejects with CANCELLED", async () => {
  const controller = new AbortController();
  const pages = client.listPages(`${upstream.url}/items`, { pageSize: 1, signal: controller.signal });
  await assert.rejects(
    (async () => {
      for await (const _ of pages) controller.abort();
    })(),
    (err: unknown) => err instanceof StreamgateError && err.code === GrpcCode.CANCELLED,
  );
});

test("SensorFeed from the web client is refused with UNIMPLEMENTED pointing to native gRPC", async () => {
  const events = client.sensorFeed([{ sensorId: "s1", temperature: 21, humidity: 40 }]);
  await assert.rejects(
    (async () => {
      for await (const _ of events) assert.fail("no event arrives over gRPC-Web");
    })(),
    (err: unknown) => {
      assert.ok(err instanceof StreamgateError);
      assert.equal(err.code, GrpcCode.UNIMPLEMENTED);
      assert.match(err.rawMessage, /native gRPC.*WebSocket/);
      return true;
    },
  );
});

test("a server URL that is not http(s) is refused with INVALID_ARGUMENT", () => {
  for (const bad of ["127.0.0.1:50051", "ftp://127.0.0.1:1", "http://127.0.0.1:1/?q=1"]) {
    assert.throws(() => new StreamgateWebClient(bad), (err: unknown) => err instanceof StreamgateError && err.code === GrpcCode.INVALID_ARGUMENT, bad);
  }
});
