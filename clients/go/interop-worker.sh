#!/usr/bin/env bash
# Entry point of the Go worker of the cross-language lock interop test
# (clients/interop/README.md has the protocol; clients/interop/workers/go can simply exec this
# script with its arguments). `--check` (which the driver runs first) builds
# cmd/interop-worker into .bin/; a run builds it only when it is missing, so concurrent workers
# do not all compile.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
bin="$here/.bin/interop-worker"

build() {
  if ! command -v go >/dev/null 2>&1; then
    echo "go worker: go not found (install Go 1.26 or newer)" >&2
    exit 1
  fi
  mkdir -p "$here/.bin"
  # A private output file renamed into place: concurrent builds never run a half-written one.
  (cd "$here" && go build -o "$bin.$$" ./cmd/interop-worker)
  mv -f "$bin.$$" "$bin"
}

if [ "${1:-}" = "--check" ] || [ ! -x "$bin" ]; then
  build
fi
exec "$bin" "$@"
