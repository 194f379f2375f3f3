#!/usr/bin/env bash
# Brings deploy/compose.yaml up offline with podman-compose (two streamgate replicas, one
# Redis), waits until both replicas serve LockService, then runs a lock-protected counter
# from WORKERS concurrent clients spread over both replicas: the counter ends exactly at
# WORKERS x ROUNDS and no fencing token repeats. Tears the stack down and removes its
# containers by id.
#
#   scripts/compose-test.sh
#
# Needs the streamgate image (scripts/image.sh build; built here when missing) and builds the
# Redis image from deploy/redis/Dockerfile on the same Debian base.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/container-env.sh
source scripts/container-env.sh
# shellcheck source=scripts/support/lib.sh
source scripts/support/lib.sh
ensure_podman
ensure_base_image

# podman-compose from PyPI, in a venv of its own under the cache dir.
PODMAN_COMPOSE_VERSION=1.6.0
VENV="$STREAMGATE_CACHE_DIR/podman-compose-$PODMAN_COMPOSE_VERSION"
if [[ ! -x "$VENV/bin/podman-compose" ]]; then
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet "podman-compose==$PODMAN_COMPOSE_VERSION"
fi
COMPOSE=("$VENV/bin/podman-compose")

export STREAMGATE_IMAGE="${STREAMGATE_IMAGE:-localhost/streamgate:dev}"
export REDIS_IMAGE="${REDIS_IMAGE:-localhost/streamgate-redis:dev}"
podman image exists "$STREAMGATE_IMAGE" || bash scripts/image.sh build
podman build --quiet --format docker --network host --build-arg BASE="$BASE_IMAGE" \
    --tag "$REDIS_IMAGE" deploy/redis >/dev/null

CLI="${STREAMGATE_CLI:-$PWD/target/debug/streamgate-cli}"
[[ -x "$CLI" ]] || cargo build --quiet -p streamgate-client --bin streamgate-cli
# Bounded: WORKERS x ROUNDS lock grants, each wait at most LOCK_WAIT, the whole run at most
# RUN_SECONDS, the start-up at most HEALTH_WAIT_SECONDS.
WORKERS=4
ROUNDS=5
LOCK_WAIT=60s
RUN_SECONDS=180
HEALTH_WAIT_SECONDS=90

WORK=$(mktemp -d)
PROJECT="streamgate-test-$$"
TOKEN="compose-test-$RANDOM$RANDOM"
HASH=$(printf %s "$TOKEN" | sha256sum | cut -d' ' -f1)
cat >"$WORK/policy.toml" <<POLICY
mode = "enforce"

[principals.ci]
tokens_sha256 = ["$HASH"]
services = ["lock"]
lock_prefixes = ["compose-test/"]
POLICY
chmod 0644 "$WORK/policy.toml"
export STREAMGATE_POLICY_FILE="$WORK/policy.toml"
export STREAMGATE_PAGE_TOKEN_KEY="compose-test-key-$RANDOM$RANDOM$RANDOM"
export STREAMGATE_PORT_1 STREAMGATE_PORT_2
STREAMGATE_PORT_1=$(free_port)
STREAMGATE_PORT_2=$(free_port)

project_containers() {
    podman ps --all --quiet --filter "label=io.podman.compose.project=$PROJECT"
}
cleanup() {
    "${COMPOSE[@]}" --project-name "$PROJECT" -f deploy/compose.yaml down >/dev/null 2>&1 || true
    local id
    for id in $(project_containers); do
        podman rm --force --time 5 "$id" >/dev/null 2>&1 || true
    done
    podman network rm --force "${PROJECT}_default" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT

start=$SECONDS
"${COMPOSE[@]}" --project-name "$PROJECT" -f deploy/compose.yaml up --detach --no-build \
    >"$WORK/up.log" 2>&1 || { cat "$WORK/up.log" >&2; fail "compose up failed"; }

replica_id() {
    podman ps --quiet --filter "label=io.podman.compose.project=$PROJECT" \
        --filter "label=com.docker.compose.service=$1"
}
for service in streamgate-1 streamgate-2; do
    id=$(replica_id "$service")
    [[ -n "$id" ]] || fail "$service is not running"
    deadline=$((SECONDS + HEALTH_WAIT_SECONDS))
    # LockService is SERVING only once the replica reaches Redis.
    until podman exec "$id" /usr/local/bin/streamgate health \
        --service streamgate.v1.LockService >/dev/null 2>&1; do
        if ((SECONDS >= deadline)); then
            podman logs "$id" >&2 || true
            fail "$service never served LockService"
        fi
        sleep 0.5
    done
done
echo "compose: both replicas serving LockService $((SECONDS - start)) s after up"

# The counter: read, pause, write back, under the lock. Without mutual exclusion across the
# two replicas the pause lets increments overlap and the total comes out short.
echo 0 >"$WORK/counter"
: >"$WORK/fences"
export WORK
export STREAMGATE_TOKEN="$TOKEN"
# shellcheck disable=SC2016 # expanded by the command the lock runs
increment='n=$(cat "$WORK/counter"); sleep 0.05; echo $((n + 1)) >"$WORK/counter"; echo "$STREAMGATE_FENCING_TOKEN" >>"$WORK/fences"'
pids=()
for ((w = 0; w < WORKERS; w++)); do
    if ((w % 2)); then port=$STREAMGATE_PORT_2; else port=$STREAMGATE_PORT_1; fi
    (
        for ((r = 0; r < ROUNDS; r++)); do
            timeout "$RUN_SECONDS" "$CLI" --server "127.0.0.1:$port" lock --wait "$LOCK_WAIT" \
                compose-test/counter -- sh -c "$increment" 2>>"$WORK/worker-$w.log"
        done
    ) &
    pids+=($!)
done
for pid in "${pids[@]}"; do
    wait "$pid" || { cat "$WORK"/worker-*.log >&2; fail "a lock worker failed"; }
done

expected=$((WORKERS * ROUNDS))
got=$(cat "$WORK/counter")
[[ "$got" -eq "$expected" ]] || fail "counter is $got, expected $expected"
unique=$(sort -u "$WORK/fences" | wc -l)
[[ "$unique" -eq "$expected" ]] || fail "$unique distinct fencing tokens for $expected grants"
echo "compose: counter $got of $expected across both replicas, $unique distinct fencing tokens"
echo "compose test: passed"
