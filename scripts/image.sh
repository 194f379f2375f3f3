#!/usr/bin/env bash
# The container image, offline: build it, run it, or test it.
#
#   scripts/image.sh build   build localhost/streamgate:dev from ./Dockerfile
#   scripts/image.sh run     build if missing, then serve on 127.0.0.1:50051 (metrics :9090)
#   scripts/image.sh test    build, then run the image and call every service through it
#
# With STREAMGATE_IMAGE_BINARY=PATH the image takes that binary (the Dockerfile's `prebuilt`
# source) instead of compiling it in the build stage: scripts/test.sh passes the one its tests
# built, so CI does not compile everything again in a container.
#
# Everything goes through podman (installed from Debian packages when missing) with the base
# made by mmdebstrap: no container registry is needed (scripts/container-env.sh). The build
# stage takes its cargo home and target directory from $STREAMGATE_CACHE_DIR, so crates are
# downloaded and dependencies compiled once; only the first build on a machine is cold.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/container-env.sh
source scripts/container-env.sh

IMAGE="${STREAMGATE_IMAGE:-localhost/streamgate:dev}"

build_image() {
    ensure_podman
    ensure_base_image
    local cargo_home="$STREAMGATE_CACHE_DIR/cargo-home" target="$STREAMGATE_CACHE_DIR/image-target"
    mkdir -p "$cargo_home" "$target"
    local start=$SECONDS
    if [[ -n "${STREAMGATE_IMAGE_BINARY:-}" ]]; then
        install -D -m 0755 "$STREAMGATE_IMAGE_BINARY" target/prebuilt/streamgate
        podman build --format docker --layers --network host \
            --build-arg BUILD_BASE="$BASE_IMAGE" --build-arg RUNTIME_BASE="$BASE_IMAGE" \
            --build-arg BINARY_FROM=prebuilt \
            --tag "$IMAGE" --file Dockerfile .
        echo "image: $IMAGE built around $STREAMGATE_IMAGE_BINARY in $((SECONDS - start)) s"
        return
    fi
    # The crates are fetched here, with this machine's network settings and CA store, into the
    # cargo home the build stage mounts; the build stage then compiles offline.
    CARGO_HOME="$cargo_home" cargo fetch --locked --quiet
    # --format docker: the OCI format has no HEALTHCHECK and podman would drop it.
    # --network host: the build stage's apt-get needs the Debian mirrors and nothing else.
    podman build --format docker --layers --network host \
        --build-arg BUILD_BASE="$BASE_IMAGE" --build-arg RUNTIME_BASE="$BASE_IMAGE" \
        --build-arg CARGO_NET_OFFLINE=true \
        --volume "$cargo_home:/cargo-home" --volume "$target:/target" \
        --tag "$IMAGE" --file Dockerfile .
    local bytes
    bytes=$(podman image inspect --format '{{.Size}}' "$IMAGE")
    echo "image: $IMAGE built in $((SECONDS - start)) s, $((bytes / 1000000)) MB"
}

run_image() {
    ensure_podman
    podman image exists "$IMAGE" || build_image
    # Published on the host's loopback only, so anonymous callers are the local user's.
    exec podman run --rm --name "streamgate-$$" \
        -p 127.0.0.1:50051:50051 -p 127.0.0.1:9090:9090 \
        -e STREAMGATE_ALLOW_ANONYMOUS=true "$IMAGE" "$@"
}

case "${1:-}" in
build) build_image ;;
run)
    shift
    run_image "$@"
    ;;
test)
    build_image
    bash scripts/image-test.sh "$IMAGE"
    ;;
*)
    echo "usage: $0 build|run|test" >&2
    exit 2
    ;;
esac
