/**
 * Seed case 3, distributed counter: three workers each increment a shared counter 100 times
 * under one lock, holding it 10 ms per read-modify-write; the total must be exactly 300.
 * Each worker has its own client (connection), as separate processes would. Start the server
 * with --redis-url to make the lock distributed across servers.
 *
 *   node dist/examples/distributed-counter.js
 */
import { StreamgateClient } from "../src/index.js";
import { address } from "./common.js";

const WORKERS = 3;
const INCREMENTS = 100;
const lockName = `counter_lock-${process.pid}`;

let sharedCounter = 0;

async function incrementCounter(client: StreamgateClient): Promise<void> {
  for (let i = 0; i < INCREMENTS; i++) {
    await using _lock = await client.lock(lockName, { ttlMs: 10_000 });
    const current = sharedCounter;
    await new Promise((r) => setTimeout(r, 10)); // the seed's processing delay
    sharedCounter = current + 1;
  }
}

const clients = Array.from({ length: WORKERS }, () => new StreamgateClient(address));
const started = performance.now();
try {
  await Promise.all(clients.map(incrementCounter));
} finally {
  for (const c of clients) c.close();
}
console.log(`final counter: ${sharedCounter} (expected: ${WORKERS * INCREMENTS}) in ${((performance.now() - started) / 1000).toFixed(2)} s`);
if (sharedCounter !== WORKERS * INCREMENTS) process.exitCode = 1;
