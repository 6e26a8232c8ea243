#!/usr/bin/env bash
# The main job end to end on a fresh machine: fetch ONNX Runtime and a real YOLOv8n model,
# run it on a photo, generate a standalone project from it, build that project and predict.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh --quick
echo "== building inferx (release; a first build takes about 5 to 10 minutes, later ones seconds)"
cargo build --release
inferx() { cargo run --quiet --release -- "$@"; }
echo "== inferx run on a photo"
inferx run .fixtures/models/nudenet-320n.onnx .fixtures/images/astronaut.png --save target/quickstart/annotated
echo "== inferx template yolo"
inferx template yolo --name demo-detector --model .fixtures/models/nudenet-320n.onnx --dir target/quickstart --force
echo "== the generated project, built (release; a first build takes a few minutes) and run on its own"
cd target/quickstart/demo-detector
cargo run --quiet --release -- predict ../../../.fixtures/images/astronaut.png ../../../.fixtures/images/grace_hopper.jpg
