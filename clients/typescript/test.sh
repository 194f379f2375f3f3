#!/usr/bin/env bash
# The TypeScript client's checks, as CI runs them: a clean install from package-lock.json,
# the strict typecheck, the staleness check of the generated code, then the tests against the
# real server (STREAMGATE_BIN, else <repo>/target/debug/streamgate), a real redis-server, and
# Debian's headless Chromium for the browser tests.
# Exits non-zero on the first failure.
set -euo pipefail
cd "$(dirname "$0")"

echo "== npm ci (clients/typescript)"
npm ci --prefer-offline --no-audit --no-fund
echo "== tsc --noEmit (strict)"
npm run --silent typecheck
echo "== generated code is up to date"
npm run --silent check:generated
echo "== headless Chromium for the browser tests (Debian's package)"
bash ../../scripts/ensure-chromium.sh
# tls.test.ts makes its certificates with the openssl CLI.
bash ../ensure-openssl.sh
echo "== node --test against the real server (and, for test/browser.test.ts, in Chromium)"
npm test
