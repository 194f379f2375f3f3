#!/usr/bin/env bash
# Runs every test of the project: the server's Rust tests (unit and integration, against a
# real redis-server and loopback HTTP upstreams), then each client's suite (Python,
# TypeScript, Go), the grpcurl examples and the cross-language lock interop, all against the
# real server binary; then the shipping checks (packages, Kubernetes manifests, the
# container image and the compose stack, through podman). Installs what the tests need when
# it is missing. Stops at the first failing suite and exits non-zero.
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/ensure-redis.sh

echo "== cargo build (server and CLI binaries the client suites run)"
cargo build --workspace --bins
export STREAMGATE_BIN="$PWD/target/debug/streamgate"

echo "== cargo test (server, Rust client)"
cargo test --workspace -- --skip serial_
# Tests that read the process's resident memory run alone: in the one integration binary
# every other test shares their process (tests/it/main.rs).
echo "== cargo test (memory-measuring tests, one at a time)"
cargo test --test it serial_ -- --test-threads=1

echo "== HTTP caching test suite through the shared cache (required passes must not drop)"
bash scripts/cache-tests/run.sh

echo "== Jaeger (the trace tests' backend; built once from the Go module proxy, then cached)"
bash scripts/ensure-jaeger.sh

echo "== Python client"
bash clients/python/test.sh
echo "== TypeScript client"
bash clients/typescript/test.sh
echo "== Go client"
bash clients/go/test.sh
echo "== grpcurl examples"
bash clients/grpcurl/test.sh
echo "== cross-language lock interop"
bash clients/interop/test.sh

# Shipping: the packages' dry runs, the Kubernetes manifests, the image and the compose stack
# (docs/deploy.md, docs/releasing.md). Each step prints the seconds it took.
timed() {
    local start=$SECONDS
    "$@"
    echo "   ($* took $((SECONDS - start)) s)"
}
echo "== release check (versions, changelog, package dry runs)"
timed bash scripts/release-check.sh
echo "== Kubernetes manifests (kubeconform, offline schemas)"
timed bash scripts/kube-validate.sh
if ! command -v podman >/dev/null && ! command -v apt-get >/dev/null; then
    echo "== container image: podman is not installed and apt-get is not here to install it;" \
        "install podman (Debian package 'podman', with runc) to run the image and compose tests" >&2
    exit 1
fi
echo "== container image (podman: build, run, one call of each service)"
# Around the binary the tests built (the Dockerfile's `prebuilt` source): the build
# stage's release compile is `bash scripts/image.sh build` (docs/deploy.md).
STREAMGATE_IMAGE_BINARY="$STREAMGATE_BIN" timed bash scripts/image.sh test
echo "== compose stack (two replicas, one Redis, exact lock counter)"
timed bash scripts/compose-test.sh

echo "== all suites passed"
