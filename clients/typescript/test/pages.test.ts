import assert from "node:assert/strict";
import { after, before, test } from "node:test";
import { GrpcCode, StreamgateError, type Page, type StreamgateClient } from "../src/index.js";
import { freePort, sendJson, sleep, startServer, startUpstream, type TestServer, type TestUpstream } from "./harness.js";

const TOTAL_ITEMS = 25;
const ENDLESS_PAGES = 1000;

let server: TestServer;
let upstream: TestUpstream;
let client: StreamgateClient;

before(async () => {
  upstream = await startUpstream((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    const page = Number(url.searchParams.get("page") ?? "1");
    const size = Number(url.searchParams.get("size") ?? "20");
    if (url.pathname === "/items" || url.pathname === "/wrapped") {
      // Page-number API over TOTAL_ITEMS items: [{id}] per page, [] past the end.
      const items = [];
      for (let id = (page - 1) * size + 1; id <= Math.min(page * size, TOTAL_ITEMS); id++) items.push({ id });
      sendJson(res, 200, url.pathname === "/items" ? items : { data: { users: items } });
    } else if (url.pathname === "/endless") {
      sendJson(res, 200, page <= ENDLESS_PAGES ? [{ page }] : []);
    } else {
      sendJson(res, 404, { error: "not found" });
    }
  });
  server = await startServer(["--allow-private-networks"]);
  client = server.client();
});

after(async () => {
  await server?.stop();
  await upstream?.stop();
});

async function collect(it: AsyncIterable<Page>): Promise<Page[]> {
  const pages: Page[] = [];
  for await (const page of it) pages.push(page);
  return pages;
}

test("listPages yields every page in order until the first empty page", async () => {
  const pages = await collect(client.listPages(`${upstream.url}/items`, { pageSize: 10 }));
  assert.deepEqual(
    pages.map((p) => p.number),
    [1, 2, 3],
  );
  assert.deepEqual(
    pages.map((p) => p.items.length),
    [10, 10, 5],
  );
  assert.deepEqual(
    pages.flatMap((p) => p.items),
    Array.from({ length: TOTAL_ITEMS }, (_, i) => ({ id: i + 1 })),
  );
  assert.equal(pages.at(-1)?.nextPageToken, "");
});

test("the default page size is 20", async () => {
  const pages = await collect(client.listPages(`${upstream.url}/items`));
  assert.deepEqual(
    pages.map((p) => p.items.length),
    [20, 5],
  );
});

test("maxPages stops after that many pages", async () => {
  const pages = await collect(client.listPages(`${upstream.url}/items`, { pageSize: 5, maxPages: 2 }));
  assert.deepEqual(
    pages.map((p) => p.number),
    [1, 2],
  );
});

test("itemsPointer selects the array inside each body", async () => {
  const pages = await collect(client.listPages(`${upstream.url}/wrapped`, { pageSize: 10, itemsPointer: "/data/users" }));
  assert.equal(pages.flatMap((p) => p.items).length, TOTAL_ITEMS);
});

test("a page token resumes after the page that returned it", async () => {
  let token = "";
  for await (const page of client.listPages(`${upstream.url}/items`, { pageSize: 10 })) {
    token = page.nextPageToken;
    break;
  }
  assert.notEqual(token, "");
  const rest = await collect(client.listPages(`${upstream.url}/items`, { pageSize: 10, pageToken: token }));
  assert.deepEqual(
    rest.map((p) => p.number),
    [2, 3],
  );
});

test("leaving the loop early stops the server from reading further pages", async () => {
  let seen = 0;
  const before = upstream.requests.length;
  for await (const page of client.listPages(`${upstream.url}/endless`, { pageSize: 1 })) {
    seen++;
    if (page.number === 3) break;
  }
  assert.equal(seen, 3);
  // Give a server that failed to cancel ample time to show it.
  await sleep(500);
  const fetched = upstream.requests.length - before;
  // Three consumed, at most the default prefetch of one ahead plus one in flight.
  assert.ok(fetched <= 5, `upstream served ${fetched} pages after the loop stopped at 3`);
});

test("aborting the signal ends the iteration with CANCELLED", async () => {
  const ac = new AbortController();
  let seen = 0;
  await assert.rejects(
    async () => {
      for await (const _page of client.listPages(`${upstream.url}/endless`, { pageSize: 1, signal: ac.signal })) {
        seen++;
        if (seen === 2) ac.abort();
      }
    },
    (err: unknown) => err instanceof StreamgateError && err.code === GrpcCode.CANCELLED,
  );
  assert.equal(seen, 2);
});

test("an unreachable collection fails the iteration with UNAVAILABLE", async () => {
  const port = await freePort();
  await assert.rejects(
    collect(client.listPages(`http://127.0.0.1:${port}/items`, { pageTimeoutMs: 5_000 })),
    (err: unknown) => err instanceof StreamgateError && err.code === GrpcCode.UNAVAILABLE,
  );
});

test("an empty url is rejected with INVALID_ARGUMENT", async () => {
  await assert.rejects(
    collect(client.listPages("")),
    (err: unknown) => err instanceof StreamgateError && err.code === GrpcCode.INVALID_ARGUMENT && /url/.test(err.rawMessage),
  );
});
