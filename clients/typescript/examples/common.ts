/**
 * Shared bits of the examples: where the server is, and a loopback demo API so the
 * examples run without reaching the internet (start the server with
 * --allow-private-networks so it may fetch from loopback).
 */
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";

/** The server's address: STREAMGATE_ADDR, default the server's own default. */
export const address = process.env.STREAMGATE_ADDR ?? "127.0.0.1:50051";

/** A running demo API. */
export interface DemoApi extends AsyncDisposable {
  url: string;
  /** The most requests the API was serving at one moment. */
  maxInFlight(): number;
}

/**
 * Serves, on 127.0.0.1:0:
 * - `/delay/S`: answers after S seconds (like httpbin's /delay, which the seed used);
 * - `/users?page=N&size=M`: a page-number API over `users` users, `[]` past the end.
 */
export async function startDemoApi(users = 45): Promise<DemoApi> {
  let inFlight = 0;
  let maxInFlight = 0;
  const server = createServer((req, res) => {
    inFlight++;
    maxInFlight = Math.max(maxInFlight, inFlight);
    res.on("close", () => inFlight--);
    const url = new URL(req.url ?? "/", "http://demo");
    const delay = /^\/delay\/([\d.]+)$/.exec(url.pathname);
    if (delay?.[1] !== undefined) {
      const seconds = Number(delay[1]);
      setTimeout(() => {
        res.setHeader("content-type", "application/json");
        res.end(JSON.stringify({ delayed: seconds, url: req.url }));
      }, seconds * 1000);
    } else if (url.pathname === "/users") {
      const page = Number(url.searchParams.get("page") ?? "1");
      const size = Number(url.searchParams.get("size") ?? "20");
      const items = [];
      for (let id = (page - 1) * size + 1; id <= Math.min(page * size, users); id++) items.push({ id, name: `user-${id}` });
      res.setHeader("content-type", "application/json");
      res.end(JSON.stringify(items));
    } else {
      res.statusCode = 404;
      res.end();
    }
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    maxInFlight: () => maxInFlight,
    async [Symbol.asyncDispose]() {
      server.closeAllConnections();
      await new Promise<void>((r) => server.close(() => r()));
    },
  };
}
