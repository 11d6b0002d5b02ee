#!/usr/bin/env bash
# Sets up the machine and runs `cablekey lab` on the embedded defaults.
# Extra arguments go to `cablekey lab`.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cargo run --release --locked -- lab "$@"
