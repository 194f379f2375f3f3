#!/usr/bin/env bash
# Regenerates the Go code for proto/streamgate/v1 with protoc-gen-go and protoc-gen-go-grpc at
# the pinned versions below. Usage: regen.sh [OUT_DIR] (default: this module's root, so the
# files land in gen/streamgate/v1/). check-generated.sh calls it with a temporary OUT_DIR.
set -euo pipefail

# Pinned generator versions: bump them here, then run this script and commit the result.
PROTOC_GEN_GO_VERSION=v1.36.12
PROTOC_GEN_GO_GRPC_VERSION=v1.6.2

here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
out="${1:-$here}"
mkdir -p "$out"

if ! command -v protoc >/dev/null 2>&1; then
  echo "protoc not found: install it with 'apt-get install -y protobuf-compiler libprotobuf-dev'" >&2
  exit 1
fi

# The well-known types (duration, timestamp, struct) ship with libprotobuf-dev.
wkt_include=""
for dir in /usr/include /usr/local/include; do
  if [ -f "$dir/google/protobuf/duration.proto" ]; then wkt_include="$dir"; break; fi
done
if [ -z "$wkt_include" ]; then
  echo "google/protobuf/duration.proto not found: install it with 'apt-get install -y libprotobuf-dev'" >&2
  exit 1
fi

# The plugins live in a per-version folder, so a version bump never runs a stale binary.
bin="$here/.bin/go-${PROTOC_GEN_GO_VERSION}_grpc-${PROTOC_GEN_GO_GRPC_VERSION}"
if [ ! -x "$bin/protoc-gen-go" ] || [ ! -x "$bin/protoc-gen-go-grpc" ]; then
  mkdir -p "$bin"
  GOBIN="$bin" go install "google.golang.org/protobuf/cmd/protoc-gen-go@${PROTOC_GEN_GO_VERSION}"
  GOBIN="$bin" go install "google.golang.org/grpc/cmd/protoc-gen-go-grpc@${PROTOC_GEN_GO_GRPC_VERSION}"
fi

# module= strips the go_package prefix, so the output path is gen/streamgate/v1 under $out.
protoc \
  --proto_path="$repo/proto" \
  --proto_path="$wkt_include" \
  --plugin=protoc-gen-go="$bin/protoc-gen-go" \
  --plugin=protoc-gen-go-grpc="$bin/protoc-gen-go-grpc" \
  --go_out="$out" --go_opt=module=github.com/streamgate/streamgate/clients/go \
  --go-grpc_out="$out" --go-grpc_opt=module=github.com/streamgate/streamgate/clients/go \
  streamgate/v1/fetch.proto streamgate/v1/lock.proto streamgate/v1/sensor.proto
