/**
 * What a newcomer does with docs/getting-started/typescript.md, done by a test: `npm pack` of
 * the client, a new `npm init -y` project in a temp folder outside the repository, the
 * tarball installed, the page's tsconfig and two programs copied unchanged, compiled and run
 * against the real server and its demo API (`streamgate demo-api`); then the two mistakes, with their errors.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { connect } from "node:net";
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, relative } from "node:path";
import { promisify } from "node:util";
import { after, before, test } from "node:test";
import { pkgDir, repoDir, startDemoApi, startServer, type TestServer } from "./harness.js";

const run = promisify(execFile);
/** npm and the programs get this long; reaching it is a hang, reported as such. */
const STEP_TIMEOUT_MS = 300_000;

let server: TestServer;
let api: TestServer;
let dir: string;

before(async () => {
  server = await startServer(["--allow-private-networks"]);
  // The demo API the page tells the reader to start: `streamgate demo-api`.
  api = await startDemoApi();
  dir = mkdtempSync(join(tmpdir(), "streamgate-ts-newcomer-"));
});

after(async () => {
  await api?.stop();
  await server?.stop();
  if (dir !== undefined) rmSync(dir, { recursive: true, force: true });
});

/** The fenced block that follows `<!-- file: NAME -->` in the page. */
function snippet(doc: string, name: string): string {
  const match = new RegExp(`<!-- file: ${name.replace(/\./g, "\\.")} -->\\n\`\`\`\\w*\\n([\\s\\S]*?)\\n\`\`\``).exec(doc);
  assert.ok(match?.[1] !== undefined, `the page has no block for ${name}`);
  return `${match[1]}\n`;
}

async function sh(file: string, args: string[], cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<string> {
  try {
    const { stdout } = await run(file, args, { cwd, env, timeout: STEP_TIMEOUT_MS, maxBuffer: 16 << 20 });
    return stdout;
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(" ")} failed: ${e.message}\n${e.stdout ?? ""}\n${e.stderr ?? ""}`);
  }
}

test("the getting-started page compiles and runs in a fresh npm init project", async () => {
  assert.ok(relative(repoDir, dir).startsWith(".."), "the project must live outside the repository");
  const doc = readFileSync(join(repoDir, "docs/getting-started/typescript.md"), "utf8");
  const devDeps = (JSON.parse(readFileSync(join(pkgDir, "package.json"), "utf8")) as { devDependencies: Record<string, string> })
    .devDependencies;

  await sh("npm", ["pack", "--silent", "--pack-destination", dir], pkgDir);
  const tarball = readdirSync(dir).find((f) => f.endsWith(".tgz"));
  assert.ok(tarball !== undefined, "npm pack made no tarball");
  const app = join(dir, "hello-streamgate");
  await sh("mkdir", [app], dir);
  await sh("npm", ["init", "-y"], app);
  await sh("npm", ["pkg", "set", "type=module"], app);
  const quiet = ["--no-audit", "--no-fund", "--prefer-offline"];
  await sh("npm", ["install", ...quiet, join(dir, tarball)], app);
  // The compiler versions the client is tested with, so that a new release elsewhere cannot
  // turn this test red overnight.
  await sh("npm", ["install", ...quiet, "--save-dev", `typescript@${devDeps.typescript}`, `@types/node@${devDeps["@types/node"]}`], app);
  writeFileSync(join(app, "tsconfig.json"), snippet(doc, "tsconfig.json"));
  writeFileSync(join(app, "main.ts"), snippet(doc, "main.ts"));
  writeFileSync(join(app, "mistakes.ts"), snippet(doc, "mistakes.ts"));
  await sh("npx", ["--no-install", "tsc", "-p", "."], app);

  const env = { ...process.env, STREAMGATE_ADDR: server.address, DEMO_API: `http://${api.address}` };
  const out = await sh("node", ["dist/main.js"], app, env);
  for (const expected of [
    "fetch: HTTP 200 hello\n",
    "page 1: ids 1,2\npage 2: ids 3,4\npage 3: ids 5,6\n",
    "lock: getting-started held, fencing token ",
    "reading s1: 21.5 °C = 70.7 °F\n",
    "reading s1: 31.0 °C = 87.8 °F\n",
    "alert s1: ",
  ]) {
    assert.ok(out.includes(expected), `no ${JSON.stringify(expected)} in:\n${out}`);
  }

  const portOneRefuses = await new Promise<boolean>((resolve) => {
    const sock = connect(1, "127.0.0.1");
    sock.once("connect", () => (sock.destroy(), resolve(false)));
    sock.once("error", () => resolve(true));
  });
  assert.ok(portOneRefuses, "something listens on 127.0.0.1:1, the page's dead port");
  const mistakes = await sh("node", ["dist/mistakes.js"], app, env);
  assert.ok(mistakes.includes("empty name: INVALID_ARGUMENT: name"), mistakes);
  const dead = mistakes.split("\n").find((l) => l.startsWith("dead port: ")) ?? "";
  assert.ok(dead.startsWith("dead port: UNAVAILABLE: "), mistakes);
  assert.ok(dead.includes("127.0.0.1:1"), mistakes);
});
