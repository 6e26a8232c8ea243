#!/usr/bin/env bash
# Fetches everything the tests and the quick start need, pinned and sha256-checked, cached:
# the real model and photo fixtures (scripts/fixtures.py), the reference Python environment
# and the small models built from it (scripts/make_models.py, scripts/make_int8.py), and ONNX Runtime
# (`inferx runtime install`), and for the full test suite the tools environment
# (schemathesis; scripts/tools-env.sh) and headless Chromium with Playwright
# (scripts/browser-env.sh), FFmpeg's libraries and command line for the video tests
# (scripts/video-env.sh), GStreamer's RTSP server for the live-source tests
# (scripts/live-env.sh), and with INFERX_SETUP_PROFILE=dev (the test suite) the Python
# environment of `inferx quantize`. A second run does no network work.
set -euo pipefail
cd "$(dirname "$0")/.."
python3 scripts/fixtures.py
if [ "${1:-}" != "--quick" ]; then
    bash scripts/reference-env.sh
    .venv-ref/bin/python scripts/make_models.py
    .venv-ref/bin/python scripts/make_int8.py
    bash scripts/tools-env.sh
    bash scripts/browser-env.sh
    bash scripts/video-env.sh
    bash scripts/live-env.sh
fi
# The quick start uses the release CLI it goes on to run; the test suite passes
# INFERX_SETUP_PROFILE=dev to reuse the debug build its tests need anyway.
# INFERX_SETUP_FEATURES: the CLI features the test suite builds with, so this build is the one
# its tests reuse.
features=()
if [ -n "${INFERX_SETUP_FEATURES:-}" ]; then
    features=(--features "$INFERX_SETUP_FEATURES")
fi
# ONNX Runtime's WebGPU plugin (6.9 MB, sha256-checked like the runtime) as well: the tests
# register it (its fallback path where there is no GPU) and scripts/gpu-check.sh bundles it.
if [ "${INFERX_SETUP_PROFILE:-release}" = dev ]; then
    cargo run --quiet "${features[@]}" -- runtime install
    cargo run --quiet "${features[@]}" -- runtime install --webgpu
    # The environment of `inferx quantize` (tests/cli/quantize.rs): pinned and hash-checked, in
    # the user cache, so the tests need no network.
    cargo run --quiet "${features[@]}" -- runtime install --quantization-tool
else
    cargo run --quiet --release -- runtime install
    cargo run --quiet --release -- runtime install --webgpu
fi
