import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GrpcCode, StreamgateError, type SensorEvent, type SensorInput, type StreamgateClient } from "../src/index.js";
import { sleep, startServer, type TestServer } from "./harness.js";

let server: TestServer;
let client: StreamgateClient;

before(async () => {
  server = await startServer();
  client = server.client();
});

after(async () => {
  await server?.stop();
});

async function collect(it: AsyncIterable<SensorEvent>): Promise<SensorEvent[]> {
  const out: SensorEvent[] = [];
  for await (const e of it) out.push(e);
  return out;
}

/** An async source that paces readings like a real sensor. */
async function* paced(temps: number[], sensorId = "s1"): AsyncGenerator<SensorInput> {
  for (const temperature of temps) {
    await sleep(5);
    yield { sensorId, temperature, humidity: 50 };
  }
}

test("every reading comes back processed, in order, with its Fahrenheit value", async () => {
  const temps = [20, 21.5, 22, 23.25, 24];
  const events = await collect(client.sensorFeed(paced(temps)));
  const readings = events.filter((e) => e.kind === "reading");
  assert.deepEqual(
    readings.map((r) => r.tempC),
    temps,
  );
  for (const r of readings) {
    assert.equal(r.sensorId, "s1");
    assert.equal(r.humidity, 50);
    assert.ok(Math.abs(r.tempF - (r.tempC * 9) / 5 - 32) < 1e-9);
    assert.equal(r.alert, false);
  }
});

test("readings above the default 28 °C threshold are flagged and fire one alert, then resolve", async () => {
  const events = await collect(client.sensorFeed(paced([25, 29, 30, 31, 25])));
  const readings = events.flatMap((e) => (e.kind === "reading" ? [e] : []));
  assert.deepEqual(
    readings.map((r) => r.alert),
    [false, true, true, true, false],
  );
  const alerts = events.flatMap((e) => (e.kind === "alert" ? [e] : []));
  assert.deepEqual(
    alerts.map((a) => a.state),
    ["firing", "resolved"],
  );
  assert.equal(alerts[0]?.sensorId, "s1");
  assert.equal(alerts[0]?.tempC, 29);
  assert.equal(alerts[0]?.threshold, 28);
});

test("a NaN reading is rejected in-band and the stream goes on", async () => {
  const inputs: SensorInput[] = [
    { sensorId: "s1", temperature: 20, humidity: 40 },
    { sensorId: "s1", temperature: Number.NaN, humidity: 40 },
    { sensorId: "", temperature: 20, humidity: 40 },
    { sensorId: "s1", temperature: 21, humidity: 40 },
  ];
  const events = await collect(client.sensorFeed(inputs));
  const rejected = events.flatMap((e) => (e.kind === "rejected" ? [e] : []));
  assert.deepEqual(
    rejected.map((r) => r.code),
    ["NOT_FINITE", "EMPTY_SENSOR_ID"],
  );
  assert.match(rejected[0]!.reason, /temperature/);
  assert.deepEqual(
    events.flatMap((e) => (e.kind === "reading" ? [e.tempC] : [])),
    [20, 21],
  );
});

test("a config message changes the threshold for the readings after it", async () => {
  const inputs: SensorInput[] = [
    { sensorId: "s1", temperature: 26, humidity: 40 },
    { config: { threshold: 25 } },
    { sensorId: "s1", temperature: 26, humidity: 40 },
  ];
  const events = await collect(client.sensorFeed(inputs));
  assert.deepEqual(
    events.flatMap((e) => (e.kind === "reading" ? [e.alert] : [])),
    [false, true],
  );
});

test("a config with warn above crit is refused in-band", async () => {
  const events = await collect(client.sensorFeed([{ config: { warn: 40, crit: 30 } }, { sensorId: "s1", temperature: 20, humidity: 40 }]));
  assert.equal(events.filter((e) => e.kind === "configRejected").length, 1);
  assert.equal(events.filter((e) => e.kind === "reading").length, 1);
});

test("aborting the signal ends an open feed with CANCELLED", async () => {
  const ac = new AbortController();
  async function* forever(): AsyncGenerator<SensorInput> {
    for (let i = 0; ; i++) {
      yield { sensorId: "s1", temperature: 20 + (i % 5), humidity: 50 };
      await sleep(20);
    }
  }
  let seen = 0;
  await assert.rejects(
    async () => {
      for await (const e of client.sensorFeed(forever(), { signal: ac.signal })) {
        if (e.kind === "reading" && ++seen === 3) ac.abort();
      }
    },
    (err: unknown) => err instanceof StreamgateError && err.code === GrpcCode.CANCELLED,
  );
  assert.equal(seen, 3);
});

test("a bad option in an input config fails the feed with INVALID_ARGUMENT naming it", async () => {
  await assert.rejects(
    collect(client.sensorFeed([{ sensorId: "s1", temperature: 20, humidity: 40 }, { config: { windowDurationMs: -5 } }])),
    (err: unknown) => err instanceof StreamgateError && err.code === GrpcCode.INVALID_ARGUMENT && /windowDurationMs/.test(err.rawMessage),
  );
});
