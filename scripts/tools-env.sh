#!/usr/bin/env bash
# Create (or reuse) the tools virtualenv at <repo>/.venv-tools and install
# scripts/requirements-tools.txt into it with --require-hashes (the FastAPI
# baseline and load benchmarks in bench/, schemathesis, hadolint, helm).
#
# A stamp file inside the venv records the sha256 of the requirements file and
# the interpreter version; when both match, this script is a fast no-op.
# Honours PIP_INDEX_URL (and every other PIP_* variable) like plain pip does.
# Set PYTHON to choose the interpreter (default: python3; the hashes pin
# CPython 3.11 wheels).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$repo/.venv-tools"
req="$repo/scripts/requirements-tools.txt"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

want="$(sha256sum "$req" | cut -d' ' -f1) $("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "tools-env: creating $venv" >&2
    "$python" -m venv "$venv"
fi

echo "tools-env: installing $(basename "$req")" >&2
rm -f "$stamp"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
    --require-hashes --only-binary=:all: -r "$req"
# uvloop and httptools: the uvicorn[standard] extras the FastAPI baseline is measured with.
"$venv/bin/python" -c 'import schemathesis, fastapi, uvicorn, onnxruntime, cv2, uvloop, httptools' >/dev/null
echo "$want" > "$stamp"
echo "tools-env: ready ($venv)" >&2
