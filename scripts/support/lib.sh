# shellcheck shell=bash
# Shared by the container tests (sourced): free ports, the loopback upstream, polling.

# A TCP port free on loopback right now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

# Starts scripts/support/upstream.py; sets UPSTREAM_PID and UPSTREAM_PORT for the caller.
# shellcheck disable=SC2034 # read by the scripts that source this
start_upstream() {
    local portfile
    portfile=$(mktemp)
    python3 scripts/support/upstream.py >"$portfile" &
    UPSTREAM_PID=$!
    local i
    for ((i = 0; i < 100; i++)); do
        UPSTREAM_PORT=$(head -n1 "$portfile")
        [[ -n "$UPSTREAM_PORT" ]] && break
        sleep 0.1
    done
    rm -f "$portfile"
    [[ -n "$UPSTREAM_PORT" ]] || { echo "upstream did not start" >&2; return 1; }
}

# Milliseconds since the epoch.
now_ms() { date +%s%3N; }

# fail MESSAGE: prints it and exits non-zero.
fail() {
    echo "FAIL: $*" >&2
    exit 1
}
