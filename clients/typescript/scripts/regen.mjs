// Regenerates src/gen from <repo>/proto with buf (from npm, so no system protoc is needed)
// and protoc-gen-es. With --check it generates into a temporary directory instead and exits
// non-zero when the committed code differs, so a proto change cannot ship stale TypeScript.
import { execFileSync } from "node:child_process";
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, relative, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const protoDir = resolve(pkgDir, "../../proto");
const check = process.argv.includes("--check");
// --against DIR compares DIR instead of src/gen (lets a test prove the check catches a diff).
const againstAt = process.argv.indexOf("--against");
const committed = againstAt > 0 && process.argv[againstAt + 1] ? resolve(process.argv[againstAt + 1]) : join(pkgDir, "src/gen");

/** Runs `buf generate` with the plugin binaries of this package's node_modules on PATH. */
function generate(outDir) {
  const bin = join(pkgDir, "node_modules/.bin");
  execFileSync(join(bin, "buf"), ["generate", protoDir, "--template", "buf.gen.yaml", "-o", outDir], {
    cwd: pkgDir,
    stdio: "inherit",
    env: { ...process.env, PATH: `${bin}:${process.env.PATH ?? ""}` },
  });
}

/** Every file under dir, as paths relative to dir, sorted. */
function listFiles(dir) {
  const out = [];
  const walk = (d) => {
    for (const name of readdirSync(d)) {
      const p = join(d, name);
      if (statSync(p).isDirectory()) walk(p);
      else out.push(relative(dir, p));
    }
  };
  walk(dir);
  return out.sort();
}

if (!check) {
  // buf.gen.yaml's `out: src/gen` is relative to -o; `clean: true` removes stale files first.
  generate(pkgDir);
  console.log(`regenerated ${relative(pkgDir, committed)} from ${protoDir}`);
} else {
  const tmp = mkdtempSync(join(tmpdir(), "streamgate-ts-gen-"));
  try {
    generate(tmp);
    const fresh = join(tmp, "src/gen");
    const a = listFiles(committed);
    const b = listFiles(fresh);
    const problems = [];
    for (const f of new Set([...a, ...b])) {
      if (!a.includes(f)) problems.push(`missing from src/gen: ${f}`);
      else if (!b.includes(f)) problems.push(`no longer generated: src/gen/${f}`);
      else if (!readFileSync(join(committed, f)).equals(readFileSync(join(fresh, f)))) {
        problems.push(`differs from a fresh generation: src/gen/${f}`);
      }
    }
    if (problems.length > 0) {
      console.error(`generated code is stale; run \`npm run regen\` in clients/typescript:\n  ${problems.join("\n  ")}`);
      process.exit(1);
    }
    console.log(`src/gen is up to date with ${protoDir} (${a.length} files)`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}
