#!/usr/bin/env bash
# Builds the user guide (book/) with mdbook from crates.io, pinned and cached in .tools/,
# into target/book, then checks every internal link and anchor (scripts/check_book.py).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
source "$repo/scripts/cargo-tool.sh"
# The search index is not needed to check the book.
mdbook="$(cargo_tool mdbook 0.5.4 --no-default-features)"
"$mdbook" build "$repo/book" --dest-dir "$repo/target/book"
python3 "$repo/scripts/check_book.py" "$repo/book/src" "$repo/target/book"
