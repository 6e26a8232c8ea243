#!/usr/bin/env bash
# The test suite: fixtures and ONNX Runtime first, then formatting, the supply-chain policy,
# lints, the API docs and the book, every test, and a bounded run of each fuzz target.
set -euo pipefail
cd "$(dirname "$0")/.."
# A cold build (a fresh clone, as in CI) gains nothing from incremental compilation's
# bookkeeping; a warm one keeps it.
if [ ! -d target/debug ] && [ -z "${CARGO_INCREMENTAL:-}" ]; then
    export CARGO_INCREMENTAL=0
fi
# A cold run writes about 6 GB (target/ 4.5, the Python tool environments 1.3); a disk
# that fills mid-build fails as a linker bus error or an rmeta write far from the cause.
free_kib=$(df -Pk . | awk 'NR == 2 { print $4 }')
if [ "${free_kib:-0}" -lt $((8 * 1024 * 1024)) ]; then
    echo "warning: only $((free_kib / 1024)) MiB free here; a cold test run needs about 6 GB" >&2
fi
# The suite covers video files too: the CLI's `video` feature (FFmpeg's libraries, installed by
# scripts/setup.sh through scripts/video-env.sh) is on for every build below.
INFERX_SETUP_PROFILE=dev INFERX_SETUP_FEATURES=video bash scripts/setup.sh
cargo fmt --all -- --check
# Supply chain: licences, bans, sources (and advisories where GitHub is reachable).
bash scripts/deny.sh
cargo clippy --workspace --all-targets --features video --quiet -- -D warnings
# The runtime's API docs: no broken intra-doc link, no undocumented item.
RUSTDOCFLAGS="-D warnings" cargo doc --package inferx-runtime --no-deps --all-features --quiet
# The user guide builds and every internal link and anchor resolves.
bash scripts/book.sh
# Every test (the generated projects included), the examples/ built as the programs the
# tests run, and the doc examples; then the benchmark's quick smoke run.
cargo test --workspace --features video --no-fail-fast
cargo test --features video --bench pipeline
# Each fuzz target for a bounded time from its corpus; a crash fails the run.
bash scripts/fuzz.sh
