#!/usr/bin/env bash
# The reference environment (.venv-ref): scripts/reference.py (goldens) and
# scripts/make_models.py (synthetic test models), from the hashed
# scripts/requirements-reference.txt. A fast no-op when up to date.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
exec bash "$repo/scripts/python-env.sh" "$repo/.venv-ref" "$repo/scripts/requirements-reference.txt" \
    'import cv2, numpy, onnx, onnxruntime, PIL, supervision, motmetrics, pycocotools.cocoeval, sklearn.metrics'
