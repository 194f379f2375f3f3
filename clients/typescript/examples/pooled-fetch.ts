/**
 * Seed case 1, pooled HTTP fetch: several requests at once through streamgate's shared,
 * size-limited connection pool, instead of an aiohttp session + semaphore per process.
 *
 *   node dist/examples/pooled-fetch.js [URL...]   (default: three delayed loopback URLs)
 */
import { StreamgateClient } from "../src/index.js";
import { address, startDemoApi } from "./common.js";

await using api = await startDemoApi();
const urls = process.argv.length > 2 ? process.argv.slice(2) : [`${api.url}/delay/1`, `${api.url}/delay/2`, `${api.url}/delay/0.5`];

await using client = new StreamgateClient(address);
const started = performance.now();
const results = await Promise.all(urls.map((url) => client.fetch(url, { timeoutMs: 10_000 })));
for (const [i, res] of results.entries()) {
  console.log(`${urls[i]}: status ${res.status}, received ${res.body.length} bytes`);
}
console.log(`fetched ${results.length} urls in ${((performance.now() - started) / 1000).toFixed(2)} s`);
if (process.argv.length <= 2) console.log(`the demo API served up to ${api.maxInFlight()} requests at once`);
