/**
 * The browser example: one page that calls streamgate over gRPC-Web with
 * `@streamgate/client/web`. It fetches a URL, lists a paginated API page by page as the pages
 * stream in, takes and releases a lock, and shows what a bad argument answers; every error is
 * written into the page, not only to the console.
 *
 * Bundle it with `npm run example:browser` (esbuild), serve `examples/browser/dist/` from an
 * origin the server lists with `--cors-allow-origin`, and open it. Query parameters fill the
 * form (`?server=http://127.0.0.1:50051&fetch=...&pages=...&pageSize=10&lock=name`);
 * `&autorun=1` runs at once.
 */
import { StreamgateError, StreamgateWebClient, type JsonValue } from "@streamgate/client/web";

/** Deadline of every call the page makes, so a dead server shows an error, not a spinner. */
const CALL_TIMEOUT_MS = 15_000;
/** Lease of the example's lock: short, so a page closed mid-demo does not block others long. */
const LOCK_TTL_MS = 10_000;
/** How long the page waits for the lock before reporting that it is busy. */
const LOCK_WAIT_MS = 5_000;
/** Characters of the fetched body shown. */
const BODY_PREVIEW_CHARS = 2_000;

function el<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (found === null) throw new Error(`the page has no #${id}`);
  return found as T;
}

function input(id: string): HTMLInputElement {
  return el<HTMLInputElement>(id);
}

function item(list: HTMLElement, text: string, attrs: Record<string, string> = {}): HTMLLIElement {
  const li = document.createElement("li");
  li.textContent = text;
  for (const [k, v] of Object.entries(attrs)) li.setAttribute(k, v);
  list.append(li);
  return li;
}

/**
 * A browser hides why a cross-origin request failed from the page (only its console says),
 * and fetch reports it as this message; the page can at least name the usual causes.
 */
const FETCH_FAILED = /Failed to fetch|NetworkError|Load failed/;

/** What an error says to a person: the gRPC status name and the server's message. */
function describe(err: unknown): string {
  const text = err instanceof StreamgateError ? `${err.codeName}: ${err.rawMessage}` : err instanceof Error ? err.message : String(err);
  if (!FETCH_FAILED.test(text)) return text;
  return `${text} (the browser could not reach the server, or refused its answer: is the server up, and does it list this page's origin ${location.origin} with --cors-allow-origin? The browser console has the reason)`;
}

function showError(step: string, err: unknown): void {
  el("errors").hidden = false;
  item(el("error-list"), `${step}: ${describe(err)}`, { "data-step": step });
  console.error(step, err);
}

function setState(state: "idle" | "running" | "done" | "failed" | "cancelled"): void {
  const s = el("state");
  s.textContent = state;
  s.dataset.state = state;
}

/** The `id`s of a page's items, when they have one, for a compact line. */
function idsOf(items: JsonValue[]): string {
  const ids = items.map((i) => (i !== null && typeof i === "object" && !Array.isArray(i) ? i["id"] : undefined));
  if (ids.length === 0 || ids.some((id) => id === undefined)) return "";
  return ` (ids ${String(ids[0])}–${String(ids.at(-1))})`;
}

async function runFetch(client: StreamgateWebClient, url: string, signal: AbortSignal): Promise<void> {
  const res = await client.fetch(url, { signal });
  el("fetch-status").textContent = String(res.status);
  el("fetch-body").textContent = res.text().slice(0, BODY_PREVIEW_CHARS);
}

async function runPages(client: StreamgateWebClient, url: string, pageSize: number, itemsPointer: string, signal: AbortSignal): Promise<void> {
  const list = el("pages-list");
  const summary = el("pages-summary");
  let items = 0;
  summary.textContent = "waiting for the first page…";
  try {
    // Each page is shown as soon as it arrives; leaving the loop (or aborting) ends the stream.
    for await (const page of client.listPages(url, { pageSize, signal, ...(itemsPointer === "" ? {} : { itemsPointer }) })) {
      items += page.items.length;
      item(list, `page ${page.number}: ${page.items.length} items${idsOf(page.items)}`, {
        "data-number": String(page.number),
        "data-items": JSON.stringify(page.items),
      });
      summary.textContent = `${list.children.length} pages, ${items} items so far…`;
    }
  } catch (err) {
    summary.textContent = `stopped after ${list.children.length} pages, ${items} items (see Errors)`;
    throw err;
  }
  summary.textContent = `${list.children.length} pages, ${items} items: complete`;
  summary.dataset.complete = "true";
}

async function runLock(client: StreamgateWebClient, name: string, signal: AbortSignal): Promise<void> {
  const log = el("lock-log");
  let lockRef: { released: boolean } | undefined;
  {
    await using lock = await client.lock(name, { ttlMs: LOCK_TTL_MS, waitTimeoutMs: LOCK_WAIT_MS, signal });
    lockRef = lock;
    item(log, `acquired "${name}", fencing token ${lock.fencingToken}`, { "data-event": "acquired" });
  }
  // `await using` released it at the end of the block above.
  if (lockRef.released) item(log, `released "${name}"`, { "data-event": "released" });
  {
    await using held = await client.hold(`${name}-held`, { ttlMs: LOCK_TTL_MS, waitTimeoutMs: LOCK_WAIT_MS, signal });
    item(log, `holding "${held.name}" over a Hold stream, fencing token ${held.fencingToken}`, { "data-event": "held" });
  }
  item(log, `hold on "${name}-held" closed`, { "data-event": "hold-closed" });
}

async function runBadArgument(client: StreamgateWebClient, signal: AbortSignal): Promise<void> {
  const out = el("bad-status");
  try {
    await client.fetch("not a url", { signal });
    out.textContent = "unexpectedly succeeded";
    out.className = "bad";
  } catch (err) {
    out.textContent = describe(err);
    if (err instanceof StreamgateError) out.dataset.code = err.codeName;
    // Expected: INVALID_ARGUMENT, the server naming the field it refused. Anything else is an
    // error of its own.
    const expected = err instanceof StreamgateError && err.codeName === "INVALID_ARGUMENT";
    out.className = expected ? "ok" : "bad";
    if (!expected) throw err;
  }
}

function clearResults(): void {
  for (const id of ["pages-list", "lock-log", "error-list"]) el(id).replaceChildren();
  for (const id of ["fetch-status", "pages-summary", "bad-status"]) el(id).textContent = "–";
  el("fetch-body").textContent = "";
  delete el("pages-summary").dataset.complete;
  el("errors").hidden = true;
}

let running: AbortController | undefined;

async function run(): Promise<void> {
  clearResults();
  running?.abort();
  const controller = new AbortController();
  running = controller;
  const cancel = el<HTMLButtonElement>("cancel");
  cancel.disabled = false;
  setState("running");
  let failed = false;
  const step = async (name: string, body: () => Promise<void>): Promise<void> => {
    // After Cancel, the remaining steps do not start.
    if (controller.signal.aborted) return;
    try {
      await body();
    } catch (err) {
      failed = true;
      showError(name, err);
    }
  };
  let client: StreamgateWebClient;
  try {
    client = new StreamgateWebClient(input("server").value, { defaultCallTimeoutMs: CALL_TIMEOUT_MS });
  } catch (err) {
    showError("settings", err);
    setState("failed");
    return;
  }
  const signal = controller.signal;
  await step("fetch", () => runFetch(client, input("fetch-url").value, signal));
  await step("pages", () => runPages(client, input("pages-url").value, Number(input("page-size").value), input("items-pointer").value, signal));
  await step("lock", () => runLock(client, input("lock-name").value, signal));
  await step("bad-argument", () => runBadArgument(client, signal));
  cancel.disabled = true;
  setState(signal.aborted ? "cancelled" : failed ? "failed" : "done");
}

function start(): void {
  const params = new URLSearchParams(location.search);
  for (const [param, id] of [
    ["server", "server"],
    ["fetch", "fetch-url"],
    ["pages", "pages-url"],
    ["pageSize", "page-size"],
    ["itemsPointer", "items-pointer"],
    ["lock", "lock-name"],
  ] as const) {
    const v = params.get(param);
    if (v !== null) input(id).value = v;
  }
  el("settings").addEventListener("submit", (e) => {
    e.preventDefault();
    void run();
  });
  el("cancel").addEventListener("click", () => running?.abort());
  if (params.get("autorun") === "1") void run();
}

start();
