#!/usr/bin/env bash
# The release checklist's checks (docs/releasing.md): one version everywhere, a changelog entry
# for it, and every package's dry run: the server crate and the Rust client packaged and
# built as crates.io would (cargo publish --dry-run), the Python sdist and wheel built, checked
# by twine and smoke-tested in a fresh venv against the real server, the npm tarball's file
# list, and the Go module built with the oldest Go it supports. Publishes nothing. Prints each
# step's time; exits non-zero on the first failure.
#
#   scripts/release-check.sh
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/support/lib.sh
source scripts/support/lib.sh
CACHE="${STREAMGATE_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/streamgate}"
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
    [[ -n "$SERVER_PID" ]] && kill "$SERVER_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

step_start=$SECONDS
step() {
    echo "-- $* (previous step: $((SECONDS - step_start)) s)"
    step_start=$SECONDS
}

step "versions agree"
VERSION=$(cargo metadata --no-deps --format-version 1 |
    python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "streamgate"))')
declare -A found=(
    [rust-client]=$(cargo metadata --no-deps --format-version 1 |
        python3 -c 'import json,sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "streamgate-client"))')
    [python-client]=$(python3 -c 'import tomllib; print(tomllib.load(open("clients/python/pyproject.toml", "rb"))["project"]["version"])')
    [typescript-client]=$(node -p 'require("./clients/typescript/package.json").version')
    [go-client]=$(sed -n 's/^const Version = "\(.*\)"$/\1/p' clients/go/streamgate/version.go)
)
for what in "${!found[@]}"; do
    [[ "${found[$what]}" == "$VERSION" ]] ||
        fail "$what says version '${found[$what]}', the server crate $VERSION"
done
echo "version $VERSION everywhere"

step "CHANGELOG.md has $VERSION"
grep -Eq "^## \[$VERSION\]( - [0-9]{4}-[0-9]{2}-[0-9]{2})?$" CHANGELOG.md ||
    fail "CHANGELOG.md has no '## [$VERSION]' section"

step "licences identical in every package"
for dir in clients/rust clients/python clients/typescript clients/go; do
    for licence in LICENSE-MIT LICENSE-APACHE; do
        cmp -s "$licence" "$dir/$licence" || fail "$dir/$licence differs from the repository's"
    done
done

step "server crate: cargo publish --dry-run (packages and builds the .crate)"
cargo publish --dry-run --allow-dirty --quiet -p streamgate
files=$(cargo package --list --allow-dirty --quiet -p streamgate)
grep -qx 'src/main.rs' <<<"$files" || fail "the server crate lacks src/main.rs"
grep -qx 'proto/streamgate/v1/lock.proto' <<<"$files" || fail "the server crate lacks its protos"
! grep -q '^clients/\|^tests/\|^deploy/' <<<"$files" || fail "the server crate ships clients, tests or deploy files"

step "Rust client: cargo publish --dry-run (packaged; built by the workspace build)"
# --no-verify: building the .crate again compiles tonic, hyper and the rest with the client's
# own feature set (16 min measured on a loaded CI machine) to prove what the workspace build
# and the file list below already show: the same sources, and the protos its build.rs reads.
cargo publish --dry-run --no-verify --allow-dirty --quiet -p streamgate-client
cargo package --list --allow-dirty --quiet -p streamgate-client | grep -qx 'proto/streamgate/v1/lock.proto' ||
    fail "the Rust client crate lacks the protos its build.rs compiles"

step "Python: build, twine check, fresh venv smoke test"
TOOLS="$CACHE/python-release-tools"
if [[ ! -x "$TOOLS/bin/twine" ]]; then
    python3 -m venv "$TOOLS"
    "$TOOLS/bin/pip" install --quiet build twine
fi
"$TOOLS/bin/python" -m build --outdir "$WORK/dist" clients/python >"$WORK/build.log" 2>&1 ||
    { cat "$WORK/build.log" >&2; fail "python -m build"; }
"$TOOLS/bin/twine" check --strict "$WORK"/dist/*
sdist_files=$(tar -tzf "$WORK"/dist/*.tar.gz)
grep -q 'LICENSE-APACHE$' <<<"$sdist_files" || fail "the sdist lacks the licence"
python3 -m venv "$WORK/venv"
"$WORK/venv/bin/pip" install --quiet "$WORK"/dist/*.whl
STREAMGATE_BIN="${STREAMGATE_BIN:-$PWD/target/debug/streamgate}"
[[ -x "$STREAMGATE_BIN" ]] || cargo build --quiet --bin streamgate
PORT=$(free_port)
"$STREAMGATE_BIN" --listen "127.0.0.1:$PORT" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!
(cd "$WORK" && "$WORK/venv/bin/python" - "$PORT" "$VERSION") <<'PY'
import asyncio, sys
import streamgate_client
from streamgate_client import Client

port, version = sys.argv[1], sys.argv[2]
assert streamgate_client.__version__ == version, streamgate_client.__version__
assert "site-packages" in streamgate_client.__file__, streamgate_client.__file__

async def main() -> None:
    for _ in range(100):  # the server is starting: at most 10 s
        try:
            async with Client(f"127.0.0.1:{port}") as c:
                async with c.lock("release-check", ttl=10) as lock:
                    assert lock.fencing_token > 0
                    return
        except Exception:
            await asyncio.sleep(0.1)
    raise SystemExit("the installed wheel never took a lock from the server")

asyncio.run(main())
print("wheel installed in a fresh venv took a lock:", streamgate_client.__version__)
PY
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""

step "TypeScript: npm publish --dry-run ships dist, types, README and licences only"
(
    cd clients/typescript
    [[ -d node_modules ]] || npm ci --silent
    npm publish --dry-run --json --access public 2>/dev/null >"$WORK/npm.json"
)
python3 - "$WORK/npm.json" <<'PY'
import json, re, sys
report = json.load(open(sys.argv[1]))
if isinstance(report, list):  # npm pack's shape
    report = report[0]
report = report.get("@streamgate/client", report)  # npm 11 keys the report by name
paths = [f["path"] for f in report["files"]]
allowed = re.compile(r"^(dist/src/.+\.(js|d\.ts)|package\.json|README\.md|LICENSE-MIT|LICENSE-APACHE)$")
stray = [p for p in paths if not allowed.match(p)]
assert not stray, f"npm would publish {stray}"
for needed in ("dist/src/index.js", "dist/src/index.d.ts", "README.md", "LICENSE-APACHE"):
    assert needed in paths, f"npm would not publish {needed}"
print(f"npm tarball: {len(paths)} files")
PY

step "Go: go directive 1.23, built with Go 1.23"
grep -qx 'go 1.23.0' clients/go/go.mod || fail "clients/go/go.mod's go directive is not 1.23.0"
(cd clients/go && GOTOOLCHAIN=go1.23.12 go build ./... && GOTOOLCHAIN=go1.23.12 go mod verify >/dev/null)

step "release check of $VERSION: passed"
