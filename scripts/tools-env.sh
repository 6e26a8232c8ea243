#!/usr/bin/env bash
# The tools environment (.venv-tools): the FastAPI baseline and load benchmarks
# in bench/, schemathesis, tritonclient (the server's Open Inference Protocol
# test), hadolint / Helm / kubernetes-validate for the deployment files, and
# check-jsonschema for generated projects' CI files,
# from the hashed scripts/requirements-tools.txt. A fast no-op when up to date.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# uvloop and httptools: the uvicorn[standard] extras the FastAPI baseline is measured with.
exec bash "$repo/scripts/python-env.sh" "$repo/.venv-tools" "$repo/scripts/requirements-tools.txt" \
    'import schemathesis, fastapi, uvicorn, onnxruntime, cv2, uvloop, httptools, tritonclient.http, check_jsonschema'
