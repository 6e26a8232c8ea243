#!/usr/bin/env bash
# Fetches everything the tests and the quick start need, pinned and sha256-checked, cached:
# the real model and photo fixtures (scripts/fixtures.py), the reference Python environment
# and the small models built from it (scripts/make_models.py), and ONNX Runtime
# (`inferx runtime install`). A second run does no network work.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/fixtures.py
if [ "${1:-}" != "--quick" ]; then
    bash scripts/reference-env.sh
    .venv-ref/bin/python scripts/make_models.py
fi
cargo run --quiet --release -- runtime install
