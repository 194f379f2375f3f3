// Bundles the browser example (examples/browser/app.ts) with esbuild into a folder that is a
// complete static site: index.html + app.js. `@streamgate/client/web` resolves to this
// checkout's src/web.ts, and the bundle targets the browser platform, so any Node module
// reaching the web entry point fails the build.
//
//   node scripts/bundle-browser.mjs [--outdir DIR] [--metafile FILE]   (default: examples/browser/dist)
import { build } from "esbuild";
import { copyFileSync, mkdirSync, writeFileSync } from "node:fs";
import { dirname, resolve } from "node:path";
import { fileURLToPath } from "node:url";

const pkgDir = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const args = process.argv.slice(2);
const flag = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const outdir = resolve(flag("--outdir") ?? resolve(pkgDir, "examples/browser/dist"));
const metafile = flag("--metafile");

mkdirSync(outdir, { recursive: true });
const result = await build({
  absWorkingDir: pkgDir,
  entryPoints: ["examples/browser/app.ts"],
  outfile: resolve(outdir, "app.js"),
  bundle: true,
  platform: "browser",
  format: "esm",
  // Chromium, Firefox and Safari of 2023 on; `await using` is lowered to plain code.
  target: ["es2022"],
  sourcemap: true,
  alias: { "@streamgate/client/web": "./src/web.ts" },
  metafile: true,
  logLevel: "warning",
});
copyFileSync(resolve(pkgDir, "examples/browser/index.html"), resolve(outdir, "index.html"));
if (metafile !== undefined) writeFileSync(metafile, JSON.stringify(result.metafile));
console.log(`bundled the browser example into ${outdir}`);
