#!/usr/bin/env bash
# Prepare the headless-browser tests in tests/browser: Debian's chromium (when
# /usr/bin/chromium, or $CHROMIUM, is missing) and playwright-core from
# tests/browser/package-lock.json (no browser download). A fast no-op when ready.
#
# Then: node tests/browser/demo.mjs <base-url> <image> <screenshot.png>
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$repo/tests/browser"
chromium="${CHROMIUM:-/usr/bin/chromium}"

if [[ ! -x "$chromium" ]]; then
    source "$repo/scripts/apt-packages.sh"
    apt_install_missing browser-env chromium
    [[ -x "$chromium" ]] || { echo "browser-env: $chromium still missing after apt-get" >&2; exit 1; }
fi

if [[ ! -d "$dir/node_modules/playwright-core" || "$dir/package-lock.json" -nt "$dir/node_modules" ]]; then
    echo "browser-env: npm ci in tests/browser" >&2
    (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
    touch "$dir/node_modules"
fi
