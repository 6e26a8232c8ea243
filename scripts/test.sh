#!/usr/bin/env bash
# The test suite: fixtures and ONNX Runtime first, then formatting, lints and every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# A cold build (a fresh clone, as in CI) gains nothing from incremental compilation's
# bookkeeping; a warm one keeps it.
if [ ! -d target/debug ] && [ -z "${CARGO_INCREMENTAL:-}" ]; then
    export CARGO_INCREMENTAL=0
fi
INFERX_SETUP_PROFILE=dev bash scripts/setup.sh
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --quiet -- -D warnings
cargo test --workspace --all-targets --no-fail-fast
