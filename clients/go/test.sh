#!/usr/bin/env bash
# The Go client's whole check: generated code up to date, go vet, and go test against the real
# streamgate binary ($STREAMGATE_BIN, else <repo>/target/debug/streamgate) and a real
# redis-server. Installs protoc (Debian's protobuf-compiler) when it is missing. Exits non-zero
# on any failure.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cd "$here"

# The oldest Go the module supports (go.mod's go directive: range-over-func needs 1.23). vet and
# the tests run with it; any go command from 1.21 on fetches that toolchain from the Go module
# proxy the first time (GOTOOLCHAIN).
GO_MIN_TOOLCHAIN="1.23.12"

if ! command -v go >/dev/null 2>&1; then
  echo "go not found: install Go 1.21 or newer (it fetches go$GO_MIN_TOOLCHAIN itself)" >&2
  exit 1
fi

if ! command -v protoc >/dev/null 2>&1 || ! [ -f /usr/include/google/protobuf/duration.proto ]; then
  echo "protoc or the well-known .proto files missing: installing protobuf-compiler libprotobuf-dev" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq protobuf-compiler libprotobuf-dev >/dev/null
fi

if [ -f "$repo/scripts/ensure-redis.sh" ]; then
  bash "$repo/scripts/ensure-redis.sh" >/dev/null
fi

if [ -z "${STREAMGATE_BIN:-}" ] && [ ! -x "$repo/target/debug/streamgate" ]; then
  echo "== building the streamgate server binary (cargo build --bin streamgate)"
  (cd "$repo" && cargo build --bin streamgate)
fi

echo "== go: generated code"
./check-generated.sh
# The generators above run with the local Go (their own modules may need a newer one).
export GOTOOLCHAIN="go$GO_MIN_TOOLCHAIN"
echo "== go vet ($(go version))"
go vet ./...
echo "== go test"
# -count=1: the tests exercise an external server binary that Go's test cache cannot see.
go test -count=1 -timeout 10m ./...
