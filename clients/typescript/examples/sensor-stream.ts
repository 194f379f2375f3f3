/**
 * Seed case 4, sensor stream: a simulated sensor sends a reading every 300 ms for 5 s; the
 * server converts each to Fahrenheit, flags temperatures above 28 °C and sends an alert on
 * each state change. The output loop ends by itself once the input stops.
 *
 *   node dist/examples/sensor-stream.js [SECONDS]   (default 5)
 */
import { StreamgateClient, type SensorInput } from "../src/index.js";
import { address } from "./common.js";

const runForMs = Number(process.argv[2] ?? "5") * 1000;
const intervalMs = 300;

/** The seed's SensorSimulator: random 20–30 °C, 40–70 %RH, until stopped. */
async function* readStream(sensorId: string, stop: AbortSignal): AsyncGenerator<SensorInput> {
  try {
    while (!stop.aborted) {
      await new Promise((r) => setTimeout(r, intervalMs));
      if (stop.aborted) break;
      const round = (x: number) => Math.round(x * 100) / 100;
      yield { sensorId, temperature: round(20 + Math.random() * 10), humidity: round(40 + Math.random() * 30) };
    }
  } finally {
    console.log(`sensor ${sensorId} stream stopped`);
  }
}

await using client = new StreamgateClient(address);
const stop = AbortSignal.timeout(runForMs);
let readings = 0;
for await (const event of client.sensorFeed(readStream("sensor_01", stop))) {
  if (event.kind === "reading") {
    readings++;
    if (event.alert) console.log(`⚠️ alert: sensor ${event.sensorId} too hot (${event.tempC}°C / ${event.tempF.toFixed(2)}°F)`);
    else console.log(`✅ normal: sensor ${event.sensorId} ${event.tempC}°C`);
  } else if (event.kind === "alert") {
    console.log(`🔔 ${event.state}: ${event.message}`);
  } else {
    console.log(`rejected: ${event.reason}`);
  }
}
console.log(`processed ${readings} readings`);
