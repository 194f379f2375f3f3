#!/usr/bin/env bash
# Installs headless Chromium from Debian's `chromium` package when it is missing; the
# TypeScript client's browser tests drive /usr/bin/chromium (or $CHROMIUM_BIN) with
# playwright-core and fail with "install chromium" without it. No browser is downloaded by
# npm: playwright-core ships none.
set -euo pipefail
bin="${CHROMIUM_BIN:-/usr/bin/chromium}"
if [ ! -x "$bin" ]; then
  echo "chromium not found at $bin: installing Debian's chromium package with apt-get" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core >/dev/null
fi
"$bin" --version
