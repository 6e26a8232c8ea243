#!/usr/bin/env python3
"""Checks the built book: every internal link and #anchor resolves, and every chapter in
book/src is reachable from SUMMARY.md.

    python3 scripts/check_book.py BOOK_SRC BUILT_HTML
"""
import html.parser
import pathlib
import re
import sys
import urllib.parse


class Page(html.parser.HTMLParser):
    def __init__(self):
        super().__init__()
        self.links, self.ids = [], set()

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if attrs.get("id"):
            self.ids.add(attrs["id"])
        for name in ("href", "src"):
            if attrs.get(name):
                self.links.append(attrs[name])


def parse(path, cache={}):
    if path not in cache:
        page = Page()
        page.feed(path.read_text(encoding="utf-8"))
        cache[path] = page
    return cache[path]


def main(src, built):
    problems = []
    summary = (src / "SUMMARY.md").read_text(encoding="utf-8")
    listed = {pathlib.PurePosixPath(link) for link in re.findall(r"\]\(([^)#]+\.md)\)", summary)}
    for chapter in sorted(src.rglob("*.md")):
        relative = pathlib.PurePosixPath(chapter.relative_to(src).as_posix())
        if relative.name != "SUMMARY.md" and relative not in listed:
            problems.append(f"{relative}: not in SUMMARY.md, so it is never built")
    checked = 0
    for page_path in sorted(built.rglob("*.html")):
        if page_path.name in ("print.html", "toc.html", "404.html"):
            continue
        for link in parse(page_path).links:
            parts = urllib.parse.urlsplit(link)
            if parts.scheme or link.startswith("//") or link.startswith("mailto:"):
                continue
            target = page_path if not parts.path else (page_path.parent / urllib.parse.unquote(parts.path)).resolve()
            if target.is_dir():
                target = target / "index.html"
            where = page_path.relative_to(built)
            checked += 1
            if not target.exists():
                problems.append(f"{where}: broken link `{link}`")
            elif parts.fragment and target.suffix == ".html" and parts.fragment not in parse(target).ids:
                problems.append(f"{where}: `{link}` names no anchor `#{parts.fragment}`")
    for problem in problems:
        print(problem, file=sys.stderr)
    print(f"check_book: {checked} links checked, {len(problems)} problems", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])))
