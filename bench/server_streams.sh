#!/usr/bin/env bash
# `/health` and `/predict` latency while four streams run, against none, side by side in one
# run (issue 36): the server of the runtime's tests (nudenet 320n, 2 workers, API key), in
# process, on 127.0.0.1; one RTSP test server (tests/live/rtsp_server.py) streams the
# astronaut photo at 640x480 and STREAM_FPS; each stream is tracked and reads it as its own
# RTSP client. Phases alternate ROUNDS times: none, then four streams (started with
# POST /streams, deleted after), PHASE_SECONDS each. In each phase one client sends
# GET /health and another POST /predict (the photo), each one request at a time, at most one
# every 20 ms, on a keep-alive connection.
#
#   bash scripts/live-env.sh     # the RTSP server's packages
#   bash bench/server_streams.sh # ROUNDS=3 PHASE_SECONDS=10 STREAM_FPS=30; PROFILE=release for a release build
#
# Prints a markdown table (p50 and p99 per route and condition) and the frames/s each stream
# got. Only the side-by-side ratio means anything on a shared machine.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
profile=()
if [[ "${PROFILE:-dev}" == release ]]; then profile=(--release); fi
export ROUNDS="${ROUNDS:-3}" PHASE_SECONDS="${PHASE_SECONDS:-10}" STREAM_FPS="${STREAM_FPS:-30}"
cargo test "${profile[@]}" -p inferx-runtime --features server,video --lib -- \
    --ignored --exact server::streams::tests::bench_health_and_predict_latency_with_four_streams_against_none \
    --nocapture 2>&1 | grep -E '^\||frames/s per stream'
