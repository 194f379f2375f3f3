#!/usr/bin/env bash
# Installs the openssl CLI from Debian's packages when it is missing; the client suites' TLS
# tests make their certificates with it and fail with "install openssl" without it.
set -euo pipefail
if ! command -v openssl >/dev/null 2>&1; then
  echo "openssl not found: installing it with apt-get" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq openssl >/dev/null
fi
openssl version >&2
