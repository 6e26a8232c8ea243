#!/usr/bin/env bash
# Create (or reuse) a virtualenv and install a hashed requirements file into it:
#   scripts/python-env.sh VENV_DIR REQUIREMENTS_FILE "import a, b"
# with --require-hashes and wheels only, then check the imports. A stamp file in
# the venv records the requirements' sha256 and the interpreter version; when
# both match, this is a fast no-op. Honours PIP_INDEX_URL (and every other PIP_*
# variable) like plain pip. PYTHON chooses the interpreter (default: python3;
# the hashes pin CPython 3.11 wheels).
set -euo pipefail

venv="$1"
req="$2"
imports="$3"
name="$(basename "$venv")"
stamp="$venv/.requirements.sha256"
python="${PYTHON:-python3}"

want="$(sha256sum "$req" | cut -d' ' -f1) $("$python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

if [[ -x "$venv/bin/python" && -f "$stamp" && "$(cat "$stamp")" == "$want" ]]; then
    exit 0
fi

if [[ ! -x "$venv/bin/python" ]]; then
    echo "$name: creating $venv" >&2
    "$python" -m venv "$venv"
fi

echo "$name: installing $(basename "$req")" >&2
rm -f "$stamp"
"$venv/bin/python" -m pip install --disable-pip-version-check --quiet \
    --require-hashes --only-binary=:all: -r "$req"
"$venv/bin/python" -c "$imports" >/dev/null
echo "$want" > "$stamp"
echo "$name: ready ($venv)" >&2
