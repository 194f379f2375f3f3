#!/usr/bin/env bash
# Builds Jaeger (the all-in-one `jaeger` binary: OTLP receiver, in-memory store, query API)
# from the Go module proxy when it is not cached yet, and prints the binary's path.
# The trace tests (tests/it/trace/) run it on loopback ports to read streamgate's spans back.
# The build takes minutes, so the binary is kept under ${STREAMGATE_CACHE:-~/.cache/streamgate}
# and reused; a second run only checks it is there.
set -euo pipefail
JAEGER_VERSION="${JAEGER_VERSION:-v1.75.0}"
cache="${STREAMGATE_CACHE:-$HOME/.cache/streamgate}"
bin="$cache/jaeger-$JAEGER_VERSION"
if [ ! -x "$bin" ]; then
  if ! command -v go >/dev/null 2>&1; then
    echo "go not found: install Go (>= 1.24) to build Jaeger for the trace tests" >&2
    exit 1
  fi
  echo "building jaeger $JAEGER_VERSION into $bin (takes a few minutes, once)" >&2
  mod=$(mktemp -d)
  trap 'rm -rf "$mod"' EXIT
  (
    cd "$mod"
    go mod init streamgate.local/jaeger-build >/dev/null 2>&1
    # `go get -tool` pins the module's own dependency versions (its go.mod), which a plain
    # `go install pkg@version` would refuse if the module had replace directives.
    go get -tool "github.com/jaegertracing/jaeger/cmd/jaeger@$JAEGER_VERSION" >&2
    mkdir -p "$cache"
    start=$(date +%s)
    go build -o "$bin.tmp" github.com/jaegertracing/jaeger/cmd/jaeger >&2
    mv "$bin.tmp" "$bin"
    echo "jaeger built in $(( $(date +%s) - start )) s" >&2
  )
fi
echo "$bin"
