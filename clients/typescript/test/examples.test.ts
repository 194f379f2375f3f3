import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { pkgDir, redisGet, startRedis, startServer, type TestRedis, type TestServer } from "./harness.js";

let redis: TestRedis;
let server: TestServer;

before(async () => {
  redis = await startRedis();
  server = await startServer(["--allow-private-networks", "--redis-url", redis.url]);
});

after(async () => {
  await server?.stop();
  await redis?.stop();
});

/** Runs a compiled example against the test server; resolves with its exit code and output. */
function runExample(name: string, ...args: string[]): Promise<{ code: number | null; out: string }> {
  return run(process.execPath, [join(pkgDir, "dist/examples", `${name}.js`), ...args]);
}

/** Runs an executable of the package (e.g. the interop-worker launcher). */
function runScript(name: string, ...args: string[]): Promise<{ code: number | null; out: string }> {
  return run(join(pkgDir, name), args);
}

function run(cmd: string, args: string[]): Promise<{ code: number | null; out: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(cmd, args, {
      env: { ...process.env, STREAMGATE_ADDR: server.address },
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    child.stdout.on("data", (d: Buffer) => (out += d.toString()));
    child.stderr.on("data", (d: Buffer) => (out += d.toString()));
    // Bounded: an example that hangs fails the test instead of the whole run.
    const timer = setTimeout(() => child.kill("SIGKILL"), 60_000);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, out });
    });
  });
}

test("the pooled fetch example fetches three urls concurrently", async () => {
  const { code, out } = await runExample("pooled-fetch");
  assert.equal(code, 0, out);
  assert.equal(out.match(/status 200, received \d+ bytes/g)?.length, 3, out);
  // Each demo request waits 0.5 to 2 s, so all three overlap unless the fetches were serialised.
  assert.match(out, /served up to 3 requests at once/);
});

test("the paginated read example reads every record page by page", async () => {
  const { code, out } = await runExample("paginated-read");
  assert.equal(code, 0, out);
  assert.match(out, /page 5: received 5 records/);
  assert.match(out, /read 45 records/);
});

test("the distributed counter example counts exactly 300", async () => {
  const { code, out } = await runExample("distributed-counter");
  assert.equal(code, 0, out);
  assert.match(out, /final counter: 300 \(expected: 300\)/);
});

test("the sensor stream example ends by itself once the sensor stops", async () => {
  const { code, out } = await runExample("sensor-stream", "1.5");
  assert.equal(code, 0, out);
  const n = Number(/processed (\d+) readings/.exec(out)?.[1]);
  assert.ok(n >= 1, out);
  assert.equal(out.match(/(✅ normal|⚠️ alert): sensor sensor_01/g)?.length, n, out);
  assert.match(out, /sensor sensor_01 stream stopped/);
});

test("two interop workers (the cross-language lock test's TypeScript worker) count exactly 2 x 20", async () => {
  const redisPort = new URL(redis.url).port;
  const key = `interop:ts-test:${process.pid}`;
  const check = await runScript("interop-worker", "--check");
  assert.equal(check.code, 0, check.out);
  const runs = await Promise.all(
    ["a", "b"].map((id) =>
      runScript("interop-worker", "--server", server.address, "--redis-port", redisPort, "--lock", `${key}-lock`, "--count", "20", "--key", key, "--id", id),
    ),
  );
  for (const r of runs) assert.equal(r.code, 0, r.out);
  const value = await redisGet(Number(redisPort), key);
  assert.equal(value, "40");
});
