#!/usr/bin/env bash
# Tests a built image (scripts/image.sh test calls this): protected mode refuses an anonymous
# start on 0.0.0.0; the default command with STREAMGATE_ALLOW_ANONYMOUS becomes healthy; then a
# replica with a mounted policy, on the host's network so it reaches a loopback upstream, turns
# SERVING through the image's own HEALTHCHECK and answers one call of each service (Fetch,
# ListPages, LockService, SensorFeed) from the Rust CLI, and refuses a call without the token.
# Every container is stopped and removed by its id.
#
#   scripts/image-test.sh IMAGE
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/container-env.sh
source scripts/container-env.sh
# shellcheck source=scripts/support/lib.sh
source scripts/support/lib.sh
ensure_podman

IMAGE="${1:?usage: $0 IMAGE}"
CLI="${STREAMGATE_CLI:-$PWD/target/debug/streamgate-cli}"
[[ -x "$CLI" ]] || cargo build --quiet -p streamgate-client --bin streamgate-cli
# Bounds every wait below: a container that never turns healthy fails the test, not CI's clock.
HEALTH_WAIT_SECONDS=60

WORK=$(mktemp -d)
CONTAINERS=()
UPSTREAM_PID=""
cleanup() {
    local id
    for id in "${CONTAINERS[@]}"; do
        podman rm --force --time 5 "$id" >/dev/null 2>&1 || true
    done
    [[ -n "$UPSTREAM_PID" ]] && kill "$UPSTREAM_PID" 2>/dev/null
    rm -rf "$WORK"
}
trap cleanup EXIT

# wait_healthy ID: polls the image's HEALTHCHECK (`streamgate health` inside the container);
# prints the milliseconds from START_MS to the first healthy answer.
wait_healthy() {
    local id=$1 deadline=$((SECONDS + HEALTH_WAIT_SECONDS))
    until podman healthcheck run "$id" >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            podman logs "$id" >&2 || true
            fail "container $id not healthy after ${HEALTH_WAIT_SECONDS}s"
        fi
        [[ "$(podman inspect --format '{{.State.Running}}' "$id")" == true ]] || {
            podman logs "$id" >&2 || true
            fail "container $id exited before turning healthy"
        }
        sleep 0.2
    done
    echo $(($(now_ms) - START_MS))
}

echo "-- protected mode: 0.0.0.0 without a policy refuses to start"
set +e
refusal=$(podman run --rm --network none "$IMAGE" 2>&1)
code=$?
set -e
[[ $code -eq 2 ]] || fail "anonymous start on 0.0.0.0 exited $code, expected 2: $refusal"
grep -q -- "--policy" <<<"$refusal" || fail "refusal does not name --policy: $refusal"

echo "-- default command with STREAMGATE_ALLOW_ANONYMOUS=true turns healthy"
START_MS=$(now_ms)
id=$(podman run --detach --network none -e STREAMGATE_ALLOW_ANONYMOUS=true "$IMAGE")
CONTAINERS+=("$id")
wait_healthy "$id" >/dev/null
podman exec "$id" /usr/local/bin/streamgate health --service streamgate.v1.LockService |
    grep -q SERVING || fail "LockService not SERVING"
[[ "$(podman exec "$id" id -u)" == 10001 ]] || fail "the server does not run as uid 10001"
podman stop --time 10 "$id" >/dev/null
[[ "$(podman inspect --format '{{.State.ExitCode}}' "$id")" == 0 ]] ||
    fail "SIGTERM did not end the server with status 0"
podman rm "$id" >/dev/null

echo "-- a replica with a policy: one call of each service"
start_upstream
PORT=$(free_port)
TOKEN="image-test-$RANDOM$RANDOM"
HASH=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
cat >"$WORK/policy.toml" <<POLICY
mode = "enforce"

[principals.ci]
tokens_sha256 = ["$HASH"]
services = ["fetch", "lock", "sensor"]
lock_prefixes = ["image-test/"]
POLICY
chmod 0644 "$WORK/policy.toml"
START_MS=$(now_ms)
# Host network: the container reaches the loopback upstream, and serves on a loopback port.
id=$(podman run --detach --network host \
    -e STREAMGATE_LISTEN="127.0.0.1:$PORT" \
    -e STREAMGATE_HEALTH_ADDR="http://127.0.0.1:$PORT" \
    -e STREAMGATE_METRICS_LISTEN="127.0.0.1:0" \
    -e STREAMGATE_ALLOW_PRIVATE_NETWORKS=true \
    -e STREAMGATE_POLICY=/etc/streamgate/policy.toml \
    -v "$WORK/policy.toml:/etc/streamgate/policy.toml:ro" \
    "$IMAGE")
CONTAINERS+=("$id")
serving_ms=$(wait_healthy "$id")
echo "image: run to SERVING in ${serving_ms} ms"

export STREAMGATE_SERVER="127.0.0.1:$PORT"
set +e
denied=$("$CLI" fetch "http://127.0.0.1:$UPSTREAM_PORT/hello" 2>&1)
code=$?
set -e
if [[ $code -eq 0 ]] || ! grep -qi unauthenticated <<<"$denied"; then
    fail "a call without the token was not refused: $denied"
fi

export STREAMGATE_TOKEN="$TOKEN"
body=$("$CLI" fetch --fail "http://127.0.0.1:$UPSTREAM_PORT/hello")
[[ "$body" == '{"hello":"streamgate"}' ]] || fail "Fetch returned: $body"
items=$("$CLI" pages --page-size 2 "http://127.0.0.1:$UPSTREAM_PORT/items" | wc -l)
[[ "$items" -eq 5 ]] || fail "ListPages returned $items items, expected 5"
# shellcheck disable=SC2016 # expanded by the command the lock runs
fence=$("$CLI" lock image-test/one -- sh -c 'echo "$STREAMGATE_FENCING_TOKEN"')
[[ "$fence" =~ ^[0-9]+$ ]] || fail "the lock gave no fencing token: $fence"
readings=$("$CLI" --json sensor simulate --interval 100ms --duration 1s --seed 7 | wc -l)
[[ "$readings" -ge 1 ]] || fail "SensorFeed answered nothing"

podman stop --time 10 "$id" >/dev/null
[[ "$(podman inspect --format '{{.State.ExitCode}}' "$id")" == 0 ]] ||
    fail "SIGTERM did not end the server with status 0"
podman rm "$id" >/dev/null
CONTAINERS=()
echo "image test: passed"
