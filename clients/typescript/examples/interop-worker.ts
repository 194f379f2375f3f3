/**
 * Cross-language lock interop worker (protocol: clients/interop/README.md). Does K
 * read-modify-write increments of a Redis string, each while holding one streamgate lock;
 * GET and SET are separate commands with a pause between, so two holders at once would lose
 * an update and the driver's exact total would fail. Odd increments take the lock with
 * AcquireLock/Release (`client.lock`), even ones with a Hold stream (`client.hold`), so both
 * paths meet the Python and Rust workers on the same lock.
 *
 *   interop-worker --check
 *   interop-worker --server HOST:PORT --redis-port P --lock NAME --count K [--key KEY] [--pause-ms MS] [--id ID]
 */
import { createClient } from "@redis/client";
import { parseArgs } from "node:util";
import { StreamgateClient } from "../src/index.js";

const { values } = parseArgs({
  options: {
    check: { type: "boolean", default: false },
    server: { type: "string" },
    "redis-port": { type: "string" },
    lock: { type: "string" },
    count: { type: "string" },
    key: { type: "string", default: "interop:counter" },
    "pause-ms": { type: "string", default: "2" },
    id: { type: "string", default: "0" },
  },
  strict: true,
});

if (values.check) {
  console.log("typescript worker: ready");
  process.exit(0);
}

function required(name: "server" | "redis-port" | "lock" | "count"): string {
  const v = values[name];
  if (v === undefined || v === "") {
    console.error(`typescript worker: --${name} is required`);
    process.exit(2);
  }
  return v;
}

const server = required("server");
const redisPort = Number(required("redis-port"));
const lockName = required("lock");
const count = Number(required("count"));
const key = values.key ?? "interop:counter";
const pauseMs = Number(values["pause-ms"] ?? "2");
const owner = `typescript-worker ${values.id ?? "0"}`;
const LEASE_MS = 30_000;

const store = createClient({ socket: { host: "127.0.0.1", port: redisPort } });
store.on("error", (err: unknown) => console.error(`typescript worker: redis: ${String(err)}`));
await store.connect();
const client = new StreamgateClient(server);

/** The read-modify-write the lock must protect. */
async function increment(): Promise<void> {
  const current = Number((await store.get(key)) ?? "0");
  await new Promise((r) => setTimeout(r, pauseMs));
  await store.set(key, String(current + 1));
}

try {
  for (let i = 1; i <= count; i++) {
    if (i % 2 === 1) {
      await using _lock = await client.lock(lockName, { ttlMs: LEASE_MS, owner });
      await increment();
    } else {
      await using held = await client.hold(lockName, { ttlMs: LEASE_MS, owner });
      await increment();
      if (!held.held) throw new Error(`lost the lock during increment ${i}: ${String(held.signal.reason)}`);
    }
  }
  console.log(`typescript worker ${values.id}: ${count} increments done`);
} finally {
  client.close();
  await store.quit();
}
