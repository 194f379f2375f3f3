/**
 * The client in a real browser: Debian's headless Chromium (installed by
 * scripts/ensure-chromium.sh; playwright-core drives it, no browser is downloaded) loads the
 * bundled example page from one loopback origin, and the page calls the real streamgate
 * binary on another over gRPC-Web. Everything asserted is read from the page's DOM; each run
 * leaves a screenshot in test-output/browser/ (or $TEST_OUTPUT_DIR/browser/).
 *
 * CORS is the browser's to enforce: the server lists only the first origin, and the same page
 * served from a second origin must fail in Chromium without the server ever running a call.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { extname, join, resolve } from "node:path";
import { after, before, test } from "node:test";
import { chromium, type BrowserContext, type Page as BrowserPage } from "playwright-core";
import { pkgDir, repoDir, sendJson, startServer, startUpstream, type TestServer, type TestUpstream } from "./harness.js";

/** Chromium from Debian's package, or $CHROMIUM_BIN. */
const CHROMIUM = process.env.CHROMIUM_BIN ?? "/usr/bin/chromium";
/** Flags that keep Chromium headless, sandbox-free in a container, and off the network. */
const CHROMIUM_FLAGS = [
  "--headless",
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--disable-domain-reliability",
  "--disable-client-side-phishing-detection",
  "--no-default-browser-check",
];
/** Longest a page may take to finish its run (every call has a 15 s deadline of its own). */
const PAGE_RUN_TIMEOUT_MS = 60_000;
const TEST_TIMEOUT_MS = 120_000;
/** Items of the paginated upstream: pages of 10, 10 and 3, then an empty page. */
const TOTAL_ITEMS = 23;
const PAGE_SIZE = 10;
const UPSTREAM_BODY = "hello from the upstream";

const outputDir = resolve(process.env.TEST_OUTPUT_DIR ?? resolve(pkgDir, "test-output"), "browser");

let siteDir: string;
let userDataDir: string;
let upstream: TestUpstream;
let server: TestServer;
let allowedSite: StaticSite;
let otherSite: StaticSite;
let browser: BrowserContext;

interface StaticSite {
  origin: string;
  stop(): Promise<void>;
}

const CONTENT_TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".map": "application/json",
};

/** Serves the files of `dir` (no directory listing, no path outside it) on a loopback port. */
async function serveSite(dir: string): Promise<StaticSite> {
  const srv: Server = createServer((req, res) => {
    const path = new URL(req.url ?? "/", "http://x").pathname;
    const file = resolve(dir, `.${path === "/" ? "/index.html" : path}`);
    if (!file.startsWith(dir + "/") || !existsSync(file)) {
      res.writeHead(404).end("not found");
      return;
    }
    res.writeHead(200, { "content-type": CONTENT_TYPES[extname(file)] ?? "application/octet-stream" });
    res.end(readFileSync(file));
  });
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const { port } = srv.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    stop: async () => {
      srv.closeAllConnections();
      await new Promise<void>((r) => srv.close(() => r()));
    },
  };
}

/** The example page's URL on `site`, pointed at the test's server and upstream. */
function pageUrl(site: StaticSite, overrides: Record<string, string> = {}): string {
  const params = new URLSearchParams({
    server: `http://${server.address}`,
    fetch: `${upstream.url}/hello`,
    pages: `${upstream.url}/users`,
    pageSize: String(PAGE_SIZE),
    itemsPointer: "/data",
    lock: "browser-test",
    autorun: "1",
    ...overrides,
  });
  return `${site.origin}/index.html?${params}`;
}

/** Waits until the page's run has ended and returns its final state. */
async function finalState(page: BrowserPage): Promise<string> {
  await page.waitForSelector('#state:not([data-state="running"]):not([data-state="idle"])', { timeout: PAGE_RUN_TIMEOUT_MS });
  return (await page.getAttribute("#state", "data-state")) ?? "";
}

async function attrs(page: BrowserPage, selector: string, name: string): Promise<string[]> {
  return page.$$eval(selector, (els, n) => els.map((e) => e.getAttribute(n) ?? ""), name);
}

async function screenshot(page: BrowserPage, name: string): Promise<void> {
  mkdirSync(outputDir, { recursive: true });
  await page.screenshot({ path: join(outputDir, name), fullPage: true });
}

before(async () => {
  if (!existsSync(CHROMIUM)) {
    throw new Error(`Chromium not found at ${CHROMIUM}: install it with \`bash scripts/ensure-chromium.sh\` in ${repoDir} (Debian's chromium package), or set CHROMIUM_BIN`);
  }
  siteDir = mkdtempSync(join(tmpdir(), "streamgate-browser-site-"));
  const bundled = spawnSync(process.execPath, [resolve(pkgDir, "scripts/bundle-browser.mjs"), "--outdir", siteDir], { encoding: "utf8" });
  assert.equal(bundled.status, 0, `bundling the example failed:\n${bundled.stdout}${bundled.stderr}`);

  upstream = await startUpstream((req, res) => {
    const url = new URL(req.url ?? "/", "http://x");
    if (url.pathname === "/hello") {
      res.writeHead(200, { "content-type": "text/plain" }).end(UPSTREAM_BODY);
    } else if (url.pathname === "/users") {
      const page = Number(url.searchParams.get("page") ?? "1");
      const size = Number(url.searchParams.get("size") ?? "20");
      const data = [];
      for (let id = (page - 1) * size + 1; id <= Math.min(page * size, TOTAL_ITEMS); id++) data.push({ id, name: `user-${id}` });
      sendJson(res, 200, { data });
    } else if (url.pathname === "/endless") {
      // A page every 100 ms, forever: only cancelling ends a listing of it.
      const page = Number(url.searchParams.get("page") ?? "1");
      setTimeout(() => sendJson(res, 200, { data: [{ id: page }] }), 100);
    } else {
      sendJson(res, 404, { error: "not found" });
    }
  });
  allowedSite = await serveSite(siteDir);
  otherSite = await serveSite(siteDir);
  server = await startServer(["--allow-private-networks", "--cors-allow-origin", allowedSite.origin]);
  userDataDir = mkdtempSync(join(tmpdir(), "streamgate-chromium-profile-"));
  browser = await chromium.launchPersistentContext(userDataDir, {
    executablePath: CHROMIUM,
    headless: true,
    args: CHROMIUM_FLAGS,
    viewport: { width: 1000, height: 900 },
  });
});

after(async () => {
  await browser?.close();
  await server?.stop();
  await allowedSite?.stop();
  await otherSite?.stop();
  await upstream?.stop();
  for (const dir of [siteDir, userDataDir]) if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

test("the example page calls every RPC over gRPC-Web from an allowed origin", { timeout: TEST_TIMEOUT_MS }, async () => {
  const page = await browser.newPage();
  try {
    await page.goto(pageUrl(allowedSite));
    const state = await finalState(page);
    await screenshot(page, "allowed-origin.png");
    const errors = await page.$$eval("#error-list li", (els) => els.map((e) => e.textContent));
    assert.deepEqual(errors, [], "the page shows no error");
    assert.equal(state, "done");

    // Fetch returned the upstream's body.
    assert.equal(await page.textContent("#fetch-status"), "200");
    assert.equal(await page.textContent("#fetch-body"), UPSTREAM_BODY);

    // ListPages delivered every page, in order, each item once.
    assert.deepEqual(await attrs(page, "#pages-list li", "data-number"), ["1", "2", "3"]);
    const items = (await attrs(page, "#pages-list li", "data-items")).flatMap((j) => JSON.parse(j) as { id: number }[]);
    assert.deepEqual(
      items.map((i) => i.id),
      Array.from({ length: TOTAL_ITEMS }, (_, i) => i + 1),
    );
    assert.equal(await page.getAttribute("#pages-summary", "data-complete"), "true");

    // A lock was acquired and released (and a Hold opened and closed), in that order.
    assert.deepEqual(await attrs(page, "#lock-log li", "data-event"), ["acquired", "released", "held", "hold-closed"]);

    // The bad argument shows the server's status, naming the field.
    assert.equal(await page.getAttribute("#bad-status", "data-code"), "INVALID_ARGUMENT");
    assert.match((await page.textContent("#bad-status")) ?? "", /INVALID_ARGUMENT: .*url/);
  } finally {
    await page.close();
  }
  // The server agrees both locks are free again: a native client gets each without waiting
  // for a lease to run out (the Hold is released once the browser's stream is closed).
  const native = server.client();
  for (const name of ["browser-test", "browser-test-held"]) {
    const lock = await native.tryLock(name, { waitTimeoutMs: 5_000, ttlMs: 1_000 });
    assert.notEqual(lock, null, `${name} is free again`);
    await lock?.release();
  }
});

test("the same page from an origin the server does not list is refused by the browser", { timeout: TEST_TIMEOUT_MS }, async () => {
  const page = await browser.newPage();
  const console: string[] = [];
  page.on("console", (m) => console.push(m.text()));
  const upstreamCallsBefore = upstream.requests.length;
  try {
    await page.goto(pageUrl(otherSite, { lock: "browser-test-refused" }));
    const state = await finalState(page);
    await screenshot(page, "unlisted-origin.png");
    assert.equal(state, "failed");
    // Each step shows its failure to the person.
    assert.deepEqual(await attrs(page, "#error-list li", "data-step"), ["fetch", "pages", "lock", "bad-argument"]);
    assert.match((await page.textContent('#error-list li[data-step="fetch"]')) ?? "", /--cors-allow-origin/);
    assert.equal(await page.textContent("#fetch-status"), "–");
    assert.equal(await page.$$eval("#pages-list li", (els) => els.length), 0);
    assert.notEqual(await page.getAttribute("#bad-status", "data-code"), "INVALID_ARGUMENT");
  } finally {
    await page.close();
  }
  // Chromium says why, and the calls never ran: the preflight was refused, so streamgate
  // never fetched anything for this page.
  assert.ok(
    console.some((m) => m.includes("CORS policy")),
    `Chromium reports a CORS refusal; console: ${console.join(" | ")}`,
  );
  assert.equal(upstream.requests.length, upstreamCallsBefore, "no upstream request was made");
});

test("cancelling in the page ends a ListPages stream and its upstream requests", { timeout: TEST_TIMEOUT_MS }, async () => {
  const page = await browser.newPage();
  const endlessCalls = () => upstream.requests.filter((r) => r.startsWith("/endless")).length;
  try {
    await page.goto(pageUrl(allowedSite, { pages: `${upstream.url}/endless`, pageSize: "1", lock: "browser-test-cancel" }));
    await page.waitForSelector('#pages-list li[data-number="3"]', { timeout: PAGE_RUN_TIMEOUT_MS });
    await page.click("#cancel");
    const state = await finalState(page);
    await screenshot(page, "cancelled.png");
    assert.equal(state, "cancelled");
    assert.deepEqual(await attrs(page, "#error-list li", "data-step"), ["pages"], "the steps after the cancel did not start");
    const pagesError = await page.textContent('#error-list li[data-step="pages"]');
    assert.match(pagesError ?? "", /CANCELLED/);
  } finally {
    await page.close();
  }
  // The server dropped the listing: no new upstream request after a settling pause (each
  // page takes 100 ms upstream, so a listing still running would add several).
  const settled = endlessCalls();
  await new Promise((r) => setTimeout(r, 1_000));
  assert.equal(endlessCalls(), settled, "the upstream saw no request after the cancel settled");
});
