#!/usr/bin/env bash
# Fetches everything the tests and the quick start need, pinned and sha256-checked, cached:
# the model and photo fixtures (scripts/fixtures.py) and ONNX Runtime (`inferx runtime install`).
# A second run does no network work.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/fixtures.py
cargo run --quiet --release -- runtime install
