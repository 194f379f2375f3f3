/**
 * Seed case 2, paginated read: `for await` over a page-number API; the server fetches each
 * page only as the loop asks for it (one page ahead), and stops at the first empty page.
 *
 *   node dist/examples/paginated-read.js [URL]   (default: a 45-user loopback API)
 */
import { StreamgateClient } from "../src/index.js";
import { address, startDemoApi } from "./common.js";

await using api = await startDemoApi(45);
const url = process.argv[2] ?? `${api.url}/users`;

await using client = new StreamgateClient(address);
let total = 0;
for await (const page of client.listPages(url, { pageSize: 10 })) {
  total += page.items.length;
  console.log(`page ${page.number}: received ${page.items.length} records`);
}
console.log(`read ${total} records`);
