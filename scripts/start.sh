#!/usr/bin/env bash
# Sets up what slipway needs (./scripts/setup.sh), builds it, and starts `slipway serve` on its
# embedded defaults: data in ./slipway-data, HTTP on 127.0.0.1:8080, FTP on 127.0.0.1:2121.
# Extra arguments go to `slipway serve` (e.g. --http 0.0.0.0:8080).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/setup.sh
cargo build --release --locked
export SLIPWAY_UV="${SLIPWAY_UV:-$PWD/.tools/bin/uv}"
exec ./target/release/slipway serve "$@"
