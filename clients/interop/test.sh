#!/usr/bin/env bash
# Cross-language lock interop against the real server binary ($STREAMGATE_BIN, else
# <repo>/target/debug/streamgate) and a real redis-server: every worker in workers/ takes part
# (the Rust one needs <repo>/target/debug/streamgate-cli: cargo build --workspace --bins).
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="$(bash "$here/../python/venv.sh")"
cd "$here"
status=0
INTEROP_PYTHON="$py" "$py" -m pytest "$@" || status=$?
[ "$status" -ne 5 ] || echo "clients/interop: pytest collected no tests" >&2
exit "$status"
