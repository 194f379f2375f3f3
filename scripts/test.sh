#!/usr/bin/env bash
# Runs every test of the project: the server's Rust tests (unit and integration, against a
# real redis-server and loopback HTTP upstreams) and each client's suite against the real
# server binary. Installs what the tests need when it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-redis.sh

echo "== cargo test (server, Rust client)"
cargo build --workspace --bins
cargo test --workspace
