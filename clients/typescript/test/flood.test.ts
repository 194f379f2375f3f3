// Full-speed senders against the real server: small readings as fast as the client sends
// them, on one stream and on 32 sharing one connection, and many small Fetch calls at once.
// Every reading comes back processed; none is cut off by the server's HTTP/2 small-frame
// protection (docs/sensor.md, "Full-speed streams").
import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import type { SensorInput, StreamgateClient } from "../src/index.js";
import { startServer, startUpstream, type TestServer, type TestUpstream } from "./harness.js";

/**
 * connect-node writes one message per event-loop turn: 350-570 readings/s were measured on a
 * 2-core machine at load 30 against a debug server, so the 200,000 readings the Go and Rust
 * flood tests send would take this suite many minutes a run. The old server cut a full-speed
 * sender off after about 2,300 unread small frames (docs/sensor.md, "Full-speed streams"):
 * 20,000 is well past the point that failed, at a cost that fits the test command.
 */
const READINGS = 20_000;
const STREAMS = 32;
/** Bounds one test: a stalled or killed connection fails it instead of hanging the suite. */
const FLOOD_TIMEOUT_MS = 8 * 60_000;

let server: TestServer;
let upstream: TestUpstream;

before(async () => {
  server = await startServer(["--allow-private-networks"]);
  upstream = await startUpstream((_req, res) => res.end("ok"));
});

after(async () => {
  await upstream?.stop();
  await server?.stop();
});

async function* readings(sensorId: string, n: number): AsyncGenerator<SensorInput> {
  for (let i = 0; i < n; i++) {
    // Below the 28 °C default threshold: one processed reading each, no alert.
    yield { sensorId, temperature: 20 + (i % 5), humidity: 50 };
  }
}

/** Sends n readings on one feed of c; resolves to how many processed readings came back. */
async function flood(c: StreamgateClient, sensorId: string, n: number): Promise<number> {
  let processed = 0;
  for await (const e of c.sensorFeed(readings(sensorId, n))) {
    if (e.kind === "reading") processed++;
  }
  return processed;
}

test("a full-speed sender gets all 20,000 readings processed, twice", { timeout: FLOOD_TIMEOUT_MS }, async () => {
  const c = server.client();
  for (const run of [1, 2]) {
    assert.equal(await flood(c, "flood", READINGS), READINGS, `run ${run}`);
  }
});

test("32 full-speed streams on one connection get every reading processed", { timeout: FLOOD_TIMEOUT_MS }, async () => {
  // One client is one HTTP/2 session: all 32 streams share it.
  const c = server.client();
  const per = Math.floor(READINGS / STREAMS);
  const results = await Promise.all(Array.from({ length: STREAMS }, (_, s) => flood(c, `s${s}`, per)));
  assert.deepEqual(results, Array(STREAMS).fill(per));
});

test("2,000 small fetches, 200 at a time on one connection, all succeed", { timeout: FLOOD_TIMEOUT_MS }, async () => {
  const c = server.client();
  const calls = 2_000;
  let next = 0;
  const bodies: string[] = [];
  const worker = async () => {
    while (next < calls) {
      const i = next++;
      const res = await c.fetch(`${upstream.url}/item?i=${i}`);
      bodies.push(`${res.status} ${res.text()}`);
    }
  };
  await Promise.all(Array.from({ length: 200 }, worker));
  assert.deepEqual(bodies, Array(calls).fill("200 ok"));
});
