#!/usr/bin/env bash
# Builds the user guide (book/) with mdbook from crates.io, pinned and cached in .tools/,
# into target/book, then checks every internal link and anchor (scripts/check_book.py).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
version=0.5.4
root="$repo/.tools/mdbook-$version"
mdbook="$root/bin/mdbook"
if [[ ! -x "$mdbook" ]]; then
    echo "book: installing mdbook $version (once; cached in .tools/)" >&2
    # A debug build compiles in about half the time and renders a book this size instantly;
    # the search index is not needed to check the book.
    cargo install mdbook --version "$version" --locked --no-default-features --debug --quiet --root "$root"
fi
"$mdbook" build "$repo/book" --dest-dir "$repo/target/book"
python3 "$repo/scripts/check_book.py" "$repo/book/src" "$repo/target/book"
