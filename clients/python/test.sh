#!/usr/bin/env bash
# Python client tests against the real server binary ($STREAMGATE_BIN, else
# <repo>/target/debug/streamgate: build it first with `cargo build --bins`) and a real
# redis-server. Creates clients/python/.venv from PyPI. Extra arguments go to pytest.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
# The TLS tests (tests/test_tls.py) make their certificates with the openssl CLI.
bash "$here/../ensure-openssl.sh"
# The trace test (tests/test_tracing.py) runs Jaeger, built once from the Go module proxy and
# cached (minutes the first time: done here, not inside a test's timeout).
bash "$here/../../scripts/ensure-jaeger.sh" >/dev/null
py="$(bash "$here/venv.sh")"
cd "$here"
status=0
"$py" -m pytest "$@" || status=$?
if [ "$status" -eq 5 ]; then
  echo "clients/python: pytest collected no tests" >&2
fi
exit "$status"
