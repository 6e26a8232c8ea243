#!/usr/bin/env bash
# Renews the book's screenshots of the generated server's pages, book/src/server-demo.png
# (an image dropped on `/`) and book/src/server-docs.png (`/docs`), with headless Chromium:
# the browser test that checks those pages saves what it sees there. It builds the quick
# start's project (a few minutes the first time) and serves it on a free port.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
bash scripts/browser-env.sh
export INFERX_SCREENSHOTS="$repo/book/src"
cargo test --test generator -- --exact \
    server::the_docs_page_renders_every_route_and_the_demo_page_takes_a_dropped_image_in_headless_chromium
ls -l book/src/server-demo.png book/src/server-docs.png
