#!/usr/bin/env bash
# Creates (or refreshes) clients/python/.venv with the package and its test dependencies from
# PyPI, then prints the venv's python. Shared by the Python, grpcurl and interop test scripts.
#   usage: PY=$(bash clients/python/venv.sh [extra pip requirement...])
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
venv="$here/.venv"

pick_python() {
  for candidate in "${PYTHON:-}" python3.13 python3.12 python3.11 python3.10 python3; do
    [ -n "$candidate" ] || continue
    command -v "$candidate" >/dev/null 2>&1 || continue
    if "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
      echo "$candidate"
      return 0
    fi
  done
  echo "need Python >= 3.10 (set PYTHON=/path/to/python3)" >&2
  return 1
}

if [ ! -x "$venv/bin/python" ]; then
  "$(pick_python)" -m venv "$venv" >&2
fi
py="$venv/bin/python"
# Skip pip when nothing it installs has changed since the last run (a stamp of the inputs).
stamp="$( { cat "$here/requirements-test.txt" "$here/requirements-gen.txt" "$here/pyproject.toml"; \
  for arg in "$@"; do echo "$arg"; [ -f "$arg" ] && cat "$arg"; done; \
  find "$here/src" -type f ! -path '*/__pycache__/*' ! -path '*.egg-info*' -print0 | sort -z | xargs -0 cat; \
  } | sha256sum | cut -d' ' -f1)"
stamp_file="$venv/.stamp-$(echo "$*" | sha256sum | cut -c1-12)"
if [ "$(cat "$stamp_file" 2>/dev/null)" != "$stamp" ]; then
  "$py" -m pip install -q --disable-pip-version-check -r "$here/requirements-test.txt" "$@" >&2
  # Not editable: the tests exercise the package as `pip install ./clients/python` installs
  # it (py.typed and the .pyi stubs included).
  "$py" -m pip install -q --disable-pip-version-check --no-deps --force-reinstall "$here" >&2
  echo "$stamp" > "$stamp_file"
fi
echo "$py"
