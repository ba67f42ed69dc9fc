#!/usr/bin/env bash
# Runs the whole test suite: `cargo fmt --check` and `cargo clippy -D warnings`, then the unit
# tests beside the code and the integration tests in tests/ that drive the real binary with the
# pyenv interpreters, uv, pip and the wheelhouse in ../shared; then the integration tests once more
# with the store in PostgreSQL.
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
# One version of each hash crate slipway uses itself (a dependency bump can bring a second).
sha2_versions=$(cargo tree --workspace --locked -e normal --prefix none -f '{p}' | grep -oE '^sha2 v[^ ]+' | sort -u)
if [ "$(printf '%s\n' "$sha2_versions" | wc -l)" -gt 1 ]; then
    printf '%s\n' "$sha2_versions" >&2
    echo "error: two versions of sha2 are built (see above); align the workspace's sha2 with its dependents'" >&2
    exit 1
fi
# One throwaway PostgreSQL cluster for the run (tests make a database each), stopped at the end.
pg_dir=$(mktemp -d "${TMPDIR:-/tmp}/slipway-test-pg.XXXXXX")
trap './scripts/postgres.sh stop "$pg_dir" 2>/dev/null || true; rm -rf "$pg_dir"' EXIT
SLIPWAY_TEST_POSTGRES=$(./scripts/postgres.sh start "$pg_dir")
export SLIPWAY_TEST_POSTGRES
cargo test --workspace --locked "$@"
# The integration suite again, with every test server's store in PostgreSQL (`serve --database`).
echo "test: the integration tests again, on PostgreSQL (SLIPWAY_TEST_STORE=postgres)" >&2
SLIPWAY_TEST_STORE=postgres cargo test --locked --test it "$@"
