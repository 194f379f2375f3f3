/**
 * The lock and fetch cases over mutual TLS + a bearer token, against the real server started
 * with --tls-cert/--tls-key/--tls-client-ca/--policy (docs/clients.md, "TLS and tokens").
 * Certificates are made with the openssl CLI (test.sh installs it when missing).
 */
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { GrpcCode, StreamgateClient, StreamgateError } from "../src/index.js";
import { startServer, startUpstream, type TestServer, type TestUpstream } from "./harness.js";

const TOKEN = "typescript-ci-token";
let dir: string;
let server: TestServer;
let upstream: TestUpstream;

function openssl(...args: string[]): void {
  try {
    execFileSync("openssl", args, { cwd: dir, stdio: ["ignore", "ignore", "pipe"], timeout: 60_000 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") {
      throw new Error("openssl not found: install openssl (apt-get install -y openssl)");
    }
    throw err;
  }
}

/** README.md's certificates: a CA, a server certificate for localhost, a client certificate
 * for client.internal (a name the policy does not list: the token authenticates). */
function makePki(): void {
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes"];
  openssl("req", "-x509", ...ec, "-days", "30", "-subj", "/CN=ts-test-ca",
    "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
    "-keyout", "ca.key", "-out", "ca.pem");
  const leaves: [string, string, string][] = [
    ["server", "DNS:localhost,IP:127.0.0.1", "serverAuth"],
    ["client", "DNS:client.internal", "clientAuth"],
  ];
  for (const [name, san, usage] of leaves) {
    openssl("req", ...ec, "-subj", `/CN=${name}`, "-keyout", `${name}.key`, "-out", `${name}.csr`);
    writeFileSync(join(dir, `${name}.ext`), `subjectAltName=${san}\nextendedKeyUsage=${usage}\n`);
    openssl("x509", "-req", "-in", `${name}.csr`, "-CA", "ca.pem", "-CAkey", "ca.key", "-CAcreateserial",
      "-days", "30", "-extfile", `${name}.ext`, "-out", `${name}.pem`);
  }
  const digest = createHash("sha256").update(TOKEN).digest("hex");
  writeFileSync(
    join(dir, "policy.toml"),
    `mode = "enforce"\n[principals.ci]\ntokens_sha256 = ["${digest}"]\n` +
      `services = ["fetch", "lock"]\nfetch_hosts = ["127.0.0.1"]\nlock_prefixes = ["ci/"]\n`,
  );
}

/** A client of the server at localhost (the name its certificate carries). */
function mtlsClient(token?: string): StreamgateClient {
  const port = server.address.slice(server.address.lastIndexOf(":") + 1);
  return new StreamgateClient(`localhost:${port}`, {
    caFile: join(dir, "ca.pem"),
    certFile: join(dir, "client.pem"),
    keyFile: join(dir, "client.key"),
    ...(token === undefined ? {} : { token }),
  });
}

async function refusal(p: Promise<unknown>): Promise<StreamgateError> {
  try {
    await p;
  } catch (err) {
    assert.ok(err instanceof StreamgateError, String(err));
    return err;
  }
  assert.fail("the call succeeded");
}

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "sg-ts-tls-"));
  makePki();
  server = await startServer([
    "--tls-cert", join(dir, "server.pem"), "--tls-key", join(dir, "server.key"),
    "--tls-client-ca", join(dir, "ca.pem"), "--policy", join(dir, "policy.toml"), "--allow-private-networks",
  ]);
  upstream = await startUpstream((_req, res) => res.end("hello over mtls"));
});

after(async () => {
  await server?.stop();
  await upstream?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test("without a token the call is UNAUTHENTICATED", async () => {
  await using c = mtlsClient();
  const err = await refusal(c.lock("ci/no-token", { ttlMs: 5000, waitTimeoutMs: 0 }));
  assert.equal(err.code, GrpcCode.UNAUTHENTICATED, err.message);
  assert.ok(!err.message.includes(TOKEN));
});

test("with a token and a client certificate a lock is acquired and released", async () => {
  await using c = mtlsClient(TOKEN);
  const lock = await c.lock("ci/ts", { ttlMs: 5000, waitTimeoutMs: 0 });
  assert.ok(lock.fencingToken > 0n);
  assert.equal(await lock.release(), true);
  // Released: a try-once acquire gets it at once, with a newer fencing token.
  await using again = await c.lock("ci/ts", { ttlMs: 5000, waitTimeoutMs: 0 });
  assert.ok(again.fencingToken > lock.fencingToken);
});

test("a lock outside the policy is PERMISSION_DENIED naming the rule", async () => {
  await using c = mtlsClient(TOKEN);
  const err = await refusal(c.lock("ops/x", { ttlMs: 5000, waitTimeoutMs: 0 }));
  assert.equal(err.code, GrpcCode.PERMISSION_DENIED, err.message);
  assert.match(err.message, /lock_prefixes/);
});

test("with a token a fetch of a loopback upstream succeeds", async () => {
  await using c = mtlsClient(TOKEN);
  const res = await c.fetch(`${upstream.url}/hello`);
  assert.equal(res.status, 200);
  assert.equal(new TextDecoder().decode(res.body), "hello over mtls");
});

test("TLS options are checked when the client is built", () => {
  const invalid = (f: () => unknown, naming: RegExp) =>
    assert.throws(f, (err: unknown) => err instanceof StreamgateError && err.code === GrpcCode.INVALID_ARGUMENT && naming.test(err.message));
  invalid(() => new StreamgateClient("localhost:1", { certFile: join(dir, "client.pem") }), /certFile and keyFile/);
  invalid(() => new StreamgateClient("localhost:1", { caFile: join(dir, "none.pem") }), /none\.pem/);
  invalid(() => new StreamgateClient("10.0.0.1:1", { token: TOKEN }), /only over TLS or to loopback/);
});
