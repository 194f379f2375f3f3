import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { pkgDir } from "./harness.js";

function runCheck(...args: string[]) {
  return spawnSync(process.execPath, [join(pkgDir, "scripts/regen.mjs"), "--check", ...args], { cwd: pkgDir, encoding: "utf8" });
}

test("the committed generated code matches a fresh generation from proto/", () => {
  const r = runCheck();
  assert.equal(r.status, 0, `staleness check failed:\n${r.stdout}\n${r.stderr}`);
});

test("the staleness check fails and names the file when generated code differs", () => {
  const tmp = mkdtempSync(join(tmpdir(), "streamgate-ts-stale-"));
  try {
    cpSync(join(pkgDir, "src/gen"), tmp, { recursive: true });
    const file = join(tmp, "streamgate/v1/lock_pb.ts");
    writeFileSync(file, readFileSync(file, "utf8") + "\n// hand edit\n");
    const r = runCheck("--against", tmp);
    assert.notEqual(r.status, 0);
    assert.match(r.stderr, /streamgate\/v1\/lock_pb\.ts/);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
