#!/usr/bin/env bash
# End-to-end test of the dashboard in a real headless Chromium (Debian's `chromium`, driven by
# playwright-core; never a downloaded browser build). Installs what it needs, then runs
# tests/e2e/dashboard.e2e.mjs against the real `slipway serve`. Screenshots: target/e2e-screenshots/.
#
# `cargo test` runs this through tests/it/dashboard.rs (which passes SLIPWAY_BIN); run it alone
# after `cargo build` with ./scripts/e2e.sh.
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf 'e2e.sh: %s\n' "$*" >&2; }

if [ ! -x /usr/bin/chromium ]; then
  say "installing chromium (Debian package)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq chromium >/dev/null
fi
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  say "installing node and npm (Debian packages)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq && apt-get install -y -qq nodejs npm >/dev/null
fi

export SLIPWAY_BIN="${SLIPWAY_BIN:-$PWD/target/debug/slipway}"
if [ ! -x "$SLIPWAY_BIN" ]; then
  say "building slipway"
  cargo build --quiet --bin slipway
fi
if [ ! -x .tools/bin/uv ]; then
  say "error: .tools/bin/uv is missing: run ./scripts/setup.sh"
  exit 1
fi

cd tests/e2e
# playwright-core only (no browser download): it drives /usr/bin/chromium.
npm ci --no-audit --no-fund --loglevel=error >&2
exec node dashboard.e2e.mjs
