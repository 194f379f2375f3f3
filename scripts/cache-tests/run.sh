#!/usr/bin/env bash
# Runs the HTTP caching test suite (npm http-cache-tests, cache-tests.fyi) against streamgate's
# shared cache through adapter.py, writes results.json beside this script and prints the
# pass/fail count on the required tests; fails when the passes drop below the committed
# figure in min-required-passes. Needs the server binary ($STREAMGATE_BIN, default
# target/debug/streamgate), node/npm, and the Python client's venv (made here).
#   usage: scripts/cache-tests/run.sh [--record]   (--record: keep results.json as the new baseline)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
bin="${STREAMGATE_BIN:-$repo/target/debug/streamgate}"
[ -x "$bin" ] || { echo "no server binary at $bin: run 'cargo build --bins'" >&2; exit 1; }
command -v npm >/dev/null || { echo "npm not found: install Node.js (apt-get install -y nodejs npm)" >&2; exit 1; }

# The suite, pinned, installed once into this folder (ignored by git).
if [ ! -f "$here/node_modules/http-cache-tests/package.json" ]; then
  (cd "$here" && npm install --no-audit --no-fund --no-save http-cache-tests@0.4.5 >/dev/null)
fi
suite="$here/node_modules/http-cache-tests"
py="$(bash "$repo/clients/python/venv.sh")"

free_port() { "$py" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
origin_port="$(free_port)"; grpc_port="$(free_port)"; adapter_port="$(free_port)"
work="$(mktemp -d)"
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"; }
trap cleanup EXIT

(cd "$suite" && exec env npm_config_port="$origin_port" npm_config_protocol=http \
  npm_config_pidfile="$work/origin.pid" node server/server.mjs) >"$work/origin.log" 2>&1 &
pids+=($!)
"$bin" --listen "127.0.0.1:$grpc_port" --allow-private-networks \
  --fetch-cache-bytes 67108864 >"$work/server.log" 2>&1 &
pids+=($!)
PYTHONPATH="$repo/clients/python/src" "$py" "$here/adapter.py" "$adapter_port" \
  "127.0.0.1:$grpc_port" "http://127.0.0.1:$origin_port" >"$work/adapter.log" 2>&1 &
pids+=($!)
for port in "$origin_port" "$grpc_port" "$adapter_port"; do
  for _ in $(seq 100); do
    (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
    sleep 0.1
  done
done

# Bounded, so a hung adapter fails the step instead of CI's clock: the suite waits out
# freshness lifetimes in many of its tests, about 4.5 minutes on a loaded 2-core machine.
(cd "$suite" && timeout 900 env npm_config_base="http://127.0.0.1:$adapter_port" npm_config_id="" npm_package_config_id="" \
  node --no-warnings cli.mjs) >"$work/results.json"
min="$(cat "$here/min-required-passes")"
if [ "${1:-}" = "--record" ]; then
  cp "$work/results.json" "$here/results.json"
  node "$here/summary.mjs" "$suite" "$here/results.json"
else
  node "$here/summary.mjs" "$suite" "$work/results.json" "$min"
fi
