#!/usr/bin/env bash
# Runs the whole test suite: `cargo fmt --check` and `cargo clippy -D warnings`, then the unit
# tests beside the code and the integration tests in tests/ that drive the real binary with the
# pyenv interpreters, uv, pip and the wheelhouse in ../shared.
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
if [ ! -d ../shared/wheelhouse ] && [ -z "${SLIPWAY_WHEELHOUSE:-}" ]; then
  echo "test: ../shared/wheelhouse is missing (set SLIPWAY_WHEELHOUSE to a folder of wheels)" >&2
  exit 1
fi
# Formatting and lints first: a tree that does not format or lint cleanly fails before the tests.
cargo fmt --all --check
cargo clippy --workspace --all-targets --locked --quiet -- -D warnings
exec cargo test --workspace --locked "$@"
