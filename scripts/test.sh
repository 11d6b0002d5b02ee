#!/usr/bin/env bash
# Every check and test of cablekey: the README's test command, and what CI runs.
set -euo pipefail
cd "$(dirname "$0")/.."

scripts/setup.sh

echo "== format" >&2
cargo fmt --all --check
(cd nostd-check && cargo fmt --check)

echo "== clippy" >&2
cargo clippy --workspace --all-targets --all-features --locked -- -D warnings
(cd nostd-check && cargo clippy --release -- -D warnings)

echo "== fuzz targets build" >&2
cargo check --quiet --manifest-path fuzz/Cargo.toml

echo "== tests" >&2
cargo test --workspace --all-features --locked
