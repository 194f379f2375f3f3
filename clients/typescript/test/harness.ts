/**
 * Real parts for the tests: the streamgate binary on a free port, a redis-server on a free
 * port, and loopback node:http upstreams. Nothing here is mocked; a missing binary fails the
 * test with what to build or install.
 */
import { execFileSync, spawn, spawnSync, type ChildProcess } from "node:child_process";
import { existsSync, writeFileSync } from "node:fs";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { connect, createServer as createTcpServer, type AddressInfo } from "node:net";
import { dirname, join, resolve } from "node:path";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { StreamgateClient } from "../src/index.js";

/** clients/typescript (this file runs from dist/test/). */
export const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
/** The repository root. */
export const repoDir = resolve(pkgDir, "../..");

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 10_000;
/** Kept for failure messages; older output is dropped so a chatty server cannot grow memory. */
const LOG_TAIL_BYTES = 16_384;

/** STREAMGATE_BIN, else <repo>/target/debug/streamgate; throws saying how to build it. */
export function serverBinary(): string {
  const bin = process.env.STREAMGATE_BIN ?? resolve(repoDir, "target/debug/streamgate");
  if (!existsSync(bin)) {
    throw new Error(
      `streamgate binary not found at ${bin}: build it with \`cargo build --bin streamgate\` in ${repoDir} ` +
        "(or point STREAMGATE_BIN at one)",
    );
  }
  return bin;
}

/** A running streamgate server. */
export interface TestServer extends AsyncDisposable {
  /** host:port it listens on. */
  address: string;
  /** A new client connected to it (closed by `stop()`). */
  client(): StreamgateClient;
  /** The server's log so far (tail), for assertion messages. */
  log(): string;
  /** SIGTERM, then wait for exit (SIGKILL after a grace period). */
  stop(): Promise<void>;
  /** SIGKILL at once, and wait for exit: a server that goes away mid-call. */
  kill(): Promise<void>;
}

function waitForExit(child: ChildProcess, timeoutMs: number): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolveExit) => {
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.once("exit", () => {
      clearTimeout(timer);
      resolveExit();
    });
  });
}

/**
 * Starts the real server with `--listen 127.0.0.1:0` plus `args`, and resolves once its
 * stderr says `listening on ADDR`.
 */
export async function startServer(args: string[] = []): Promise<TestServer> {
  return startBinary(["--listen", "127.0.0.1:0", ...args]);
}

/**
 * `streamgate demo-api --listen 127.0.0.1:0`: the getting-started pages' demo API; its base URL
 * is `http://${address}`.
 */
export async function startDemoApi(): Promise<TestServer> {
  return startBinary(["demo-api", "--listen", "127.0.0.1:0"]);
}

/** Runs the streamgate binary with exactly `argv` until it logs `listening on ADDR`. */
async function startBinary(argv: string[]): Promise<TestServer> {
  const bin = serverBinary();
  const child = spawn(bin, argv, {
    stdio: ["ignore", "pipe", "pipe"],
    env: { ...process.env, NO_COLOR: "1", RUST_LOG: process.env.RUST_LOG ?? "info" },
  });
  let tail = "";
  const remember = (line: string) => {
    tail = (tail + line + "\n").slice(-LOG_TAIL_BYTES);
  };
  child.stdout?.resume();
  const lines = createInterface({ input: child.stderr! });
  const address = await new Promise<string>((resolveAddr, reject) => {
    const timer = setTimeout(() => reject(new Error(`streamgate did not report "listening on" within ${START_TIMEOUT_MS} ms:\n${tail}`)), START_TIMEOUT_MS);
    lines.on("line", (raw) => {
      // Strip ANSI colours: the address must parse whatever the log format.
      const line = raw.replace(/\x1b\[[0-9;]*m/g, "");
      remember(line);
      const m = /listening on (\S+)/.exec(line);
      if (m?.[1] !== undefined) {
        clearTimeout(timer);
        resolveAddr(m[1]);
      }
    });
    child.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
    child.once("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`streamgate exited (code ${code}, signal ${signal}) before listening:\n${tail}`));
    });
  });
  const clients: StreamgateClient[] = [];
  const stop = async () => {
    for (const c of clients) c.close();
    child.kill("SIGTERM");
    await waitForExit(child, STOP_TIMEOUT_MS);
    lines.close();
  };
  return {
    address,
    client() {
      const c = new StreamgateClient(address);
      clients.push(c);
      return c;
    },
    log: () => tail,
    stop,
    async kill() {
      child.kill("SIGKILL");
      await waitForExit(child, STOP_TIMEOUT_MS);
    },
    [Symbol.asyncDispose]: stop,
  };
}

/** A free loopback TCP port (the OS picks it; the tiny race until reuse is acceptable in tests). */
export function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const srv = createTcpServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolvePort(port));
    });
  });
}

/** A running redis-server. */
export interface TestRedis extends AsyncDisposable {
  url: string;
  stop(): Promise<void>;
}

function redisPing(port: number): Promise<boolean> {
  return new Promise((resolvePing) => {
    const sock = connect(port, "127.0.0.1");
    let buf = "";
    sock.setTimeout(1000);
    sock.on("connect", () => sock.write("PING\r\n"));
    sock.on("data", (d) => {
      buf += d.toString();
      if (buf.includes("\r\n")) {
        sock.destroy();
        resolvePing(buf.startsWith("+PONG"));
      }
    });
    sock.on("error", () => resolvePing(false));
    sock.on("timeout", () => {
      sock.destroy();
      resolvePing(false);
    });
  });
}

/** Starts a throwaway redis-server (no persistence) on a free loopback port. */
export async function startRedis(): Promise<TestRedis> {
  const probe = spawnSync("redis-server", ["--version"], { encoding: "utf8" });
  if (probe.error !== undefined || probe.status !== 0) {
    throw new Error("redis-server not found on PATH: install redis-server (e.g. `apt-get install redis-server`)");
  }
  const port = await freePort();
  const child = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"], {
    stdio: "ignore",
  });
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (!(await redisPing(port))) {
    if (child.exitCode !== null) throw new Error(`redis-server exited with code ${child.exitCode} on port ${port}`);
    if (Date.now() > deadline) {
      child.kill("SIGKILL");
      throw new Error(`redis-server did not answer PING on port ${port}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  const stop = async () => {
    child.kill("SIGTERM");
    await waitForExit(child, STOP_TIMEOUT_MS);
  };
  return { url: `redis://127.0.0.1:${port}`, stop, [Symbol.asyncDispose]: stop };
}

/** A loopback HTTP server. */
export interface TestUpstream extends AsyncDisposable {
  /** Base URL, e.g. http://127.0.0.1:PORT */
  url: string;
  /** Request paths (with query) in arrival order. */
  requests: string[];
  stop(): Promise<void>;
}

/** Starts a node:http server on 127.0.0.1:0 answering with `handler`. */
export async function startUpstream(handler: (req: IncomingMessage, res: ServerResponse) => void): Promise<TestUpstream> {
  const requests: string[] = [];
  const server: Server = createServer((req, res) => {
    requests.push(req.url ?? "");
    handler(req, res);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  const { port } = server.address() as AddressInfo;
  const stop = async () => {
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  return { url: `http://127.0.0.1:${port}`, requests, stop, [Symbol.asyncDispose]: stop };
}

/** Sends a JSON body. */
export function sendJson(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { "content-type": "application/json", "content-length": Buffer.byteLength(data) });
  res.end(data);
}

/** Resolves after `ms`. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** GET of one key over RESP on a loopback redis-server (null when absent). */
export function redisGet(port: number, key: string): Promise<string | null> {
  return new Promise((resolveGet, reject) => {
    const sock = connect(port, "127.0.0.1");
    let buf = "";
    sock.setTimeout(5_000);
    sock.on("connect", () => sock.write(`*2\r\n$3\r\nGET\r\n$${Buffer.byteLength(key)}\r\n${key}\r\n`));
    sock.on("data", (d) => {
      buf += d.toString();
      const m = /^\$(-?\d+)\r\n/.exec(buf);
      if (m?.[1] === undefined) return;
      const len = Number(m[1]);
      if (len < 0) {
        sock.destroy();
        resolveGet(null);
      } else if (buf.length >= m[0].length + len + 2) {
        sock.destroy();
        resolveGet(buf.slice(m[0].length, m[0].length + len));
      }
    });
    sock.on("error", reject);
    sock.on("timeout", () => {
      sock.destroy();
      reject(new Error(`redis GET ${key} timed out`));
    });
  });
}

/**
 * A CA (ca.pem) and a server certificate (server.pem/.key) for `serverSan` in `dir`, made with
 * the openssl CLI (test.sh installs it when missing).
 */
export function makeServerPki(dir: string, serverSan = "DNS:localhost,IP:127.0.0.1"): void {
  const openssl = (...args: string[]) => {
    try {
      execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 60_000 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") {
        throw new Error("openssl not found: install openssl (apt-get install -y openssl)");
      }
      throw err;
    }
  };
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl("req", "-x509", ...ec, "-days", "30", "-subj", "/CN=ts-test-ca",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    "-keyout", "ca.key", "-out", "ca.pem");
  openssl("req", ...ec, "-subj", "/CN=server", "-keyout", "server.key", "-out", "server.csr");
  writeFileSync(join(dir, "server.ext"), `subjectAltName=${serverSan}\nextendedKeyUsage=serverAuth\n`);
  openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
    "-days", "30", "-extfile", "server.ext", "-out", "server.pem");
}
