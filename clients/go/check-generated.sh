#!/usr/bin/env bash
# Fails when the committed gen/ differs from what regen.sh produces from proto/ now: run
# ./regen.sh and commit the result. The protoc version comment in each file's header is
# ignored, since it names the system protoc's build rather than anything the code depends on.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

"$here/regen.sh" "$tmp"

strip_protoc_version() { sed -E '/^\/\/[[:space:]]+(- )?protoc[[:space:]]+(v|\(unknown\))/d' "$1"; }

status=0
committed="$here/gen/streamgate/v1"
fresh="$tmp/gen/streamgate/v1"
for f in "$fresh"/*.go; do
  name="$(basename "$f")"
  if [ ! -f "$committed/$name" ]; then
    echo "stale generated code: gen/streamgate/v1/$name is missing" >&2
    status=1
  elif ! diff -u <(strip_protoc_version "$committed/$name") <(strip_protoc_version "$f") >"$tmp/diff" 2>&1; then
    echo "stale generated code: gen/streamgate/v1/$name differs from regen.sh output:" >&2
    head -n 40 "$tmp/diff" >&2
    status=1
  fi
done
for f in "$committed"/*.go; do
  if [ ! -f "$fresh/$(basename "$f")" ]; then
    echo "stale generated code: gen/streamgate/v1/$(basename "$f") has no proto behind it" >&2
    status=1
  fi
done
if [ "$status" -ne 0 ]; then
  echo "run clients/go/regen.sh and commit gen/" >&2
  exit 1
fi
echo "generated code is up to date"
