#!/usr/bin/env bash
# Installs redis-server (and redis-cli, from redis-tools) from Debian's packages when missing.
# The lock tests start their own instances on free ports: single servers, a three-master
# Redis Cluster (created with `redis-cli --cluster create`) and a Sentinel set
# (`redis-server --sentinel`), and fail with "install redis-server" without them.
set -euo pipefail
if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
  echo "redis-server or redis-cli not found: installing them with apt-get" >&2
  if [ "$(id -u)" -eq 0 ]; then SUDO=""; else SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server redis-tools >/dev/null
fi
redis-server --version
# Sharded pub/sub (Redis Cluster wake-ups) needs Redis 7.
major=$(redis-server --version | sed -E 's/.*v=([0-9]+).*/\1/')
if [ "$major" -lt 7 ]; then
  echo "warning: redis-server $major.x: the Redis Cluster lock tests need Redis >= 7 (SSUBSCRIBE)" >&2
fi
