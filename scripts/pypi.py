"""Fetch pinned files from a PyPI simple index and verify their sha256.

Python standard library only. Used by ``scripts/fixtures.py`` and
``scripts/lock_requirements.py``.

* The index base is ``$PIP_INDEX_URL`` when set (e.g. a corporate mirror),
  otherwise ``https://pypi.org/simple``. The project page is requested as
  PEP 691 JSON; an index that only speaks PEP 503 HTML works too.
* Downloaded files are cached in ``cache_dir()/wheels/`` and verified by
  sha256 every time they are reused; a bad cached file is fetched again.
* Downloads go to a temporary file in the destination directory and are
  renamed into place only after the hash matched.
"""

from __future__ import annotations

import hashlib
import html.parser
import json
import os
import re
import sys
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

DEFAULT_INDEX = "https://pypi.org/simple"
USER_AGENT = "inferx-fixtures/1 (python-urllib)"
RETRIES = 3  # attempts per URL
TIMEOUT_S = 60


class FetchError(Exception):
    """A download or verification failure, with a message meant for humans."""


def cache_dir() -> Path:
    """``$INFERX_CACHE_DIR``, else ``${XDG_CACHE_HOME:-~/.cache}/inferx``."""
    explicit = os.environ.get("INFERX_CACHE_DIR")
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(xdg).expanduser() / "inferx"


def index_base() -> str:
    return (os.environ.get("PIP_INDEX_URL") or DEFAULT_INDEX).rstrip("/")


def normalize(name: str) -> str:
    """PEP 503 name normalisation."""
    return re.sub(r"[-_.]+", "-", name).lower()


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _transient(exc: BaseException) -> bool:
    if isinstance(exc, urllib.error.HTTPError):
        return exc.code in (408, 425, 429) or exc.code >= 500
    return isinstance(exc, (urllib.error.URLError, TimeoutError, ConnectionError, OSError))


def _open(url: str, accept: str | None = None):
    headers = {"User-Agent": USER_AGENT}
    if accept:
        headers["Accept"] = accept
    req = urllib.request.Request(url, headers=headers)
    last: Exception | None = None
    for attempt in range(1, RETRIES + 1):
        try:
            return urllib.request.urlopen(req, timeout=TIMEOUT_S)
        except Exception as exc:
            last = exc
            if not _transient(exc) or attempt == RETRIES:
                break
            delay = 2 ** attempt
            print(f"  retry {attempt}/{RETRIES - 1} in {delay}s: {url}: {exc}", file=sys.stderr)
            time.sleep(delay)
    raise FetchError(f"cannot fetch {url}: {last}")


class _LinkParser(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, bool]] = []  # (href, yanked)

    def handle_starttag(self, tag, attrs):
        if tag == "a":
            attrs = dict(attrs)
            if attrs.get("href"):
                self.links.append((attrs["href"], "data-yanked" in attrs))


@dataclass(frozen=True)
class IndexFile:
    """One file listed on a project's simple-index page."""

    filename: str
    url: str  # absolute, without the #sha256= fragment
    sha256: str | None  # as advertised by the index (lower case), if it gives one
    yanked: bool


def project_files(dist: str) -> list[IndexFile]:
    """Every file on ``dist``'s index page (PEP 691 JSON, or PEP 503 HTML from a mirror)."""
    page = f"{index_base()}/{normalize(dist)}/"
    accept = (
        "application/vnd.pypi.simple.v1+json, "
        "application/vnd.pypi.simple.v1+html;q=0.2, text/html;q=0.1"
    )
    with _open(page, accept) as resp:
        ctype = resp.headers.get("Content-Type", "")
        body = resp.read()
        final = resp.geturl()
    files: list[IndexFile] = []
    if "json" in ctype:
        data = json.loads(body)
        for f in data.get("files", []):
            sha = (f.get("hashes") or {}).get("sha256")
            url = urllib.parse.urljoin(final, f["url"]).partition("#")[0]
            files.append(IndexFile(f["filename"], url, sha.lower() if sha else None, bool(f.get("yanked"))))
    else:
        parser = _LinkParser()
        parser.feed(body.decode("utf-8", "replace"))
        for href, yanked in parser.links:
            path, _, frag = urllib.parse.urljoin(final, href).partition("#")
            m = re.match(r"sha256=([0-9a-fA-F]{64})", frag)
            files.append(IndexFile(urllib.parse.unquote(path.rsplit("/", 1)[-1]), path,
                                   m.group(1).lower() if m else None, yanked))
    return files


def find_file_url(dist: str, filename: str) -> tuple[str, str | None]:
    """Return (absolute URL, sha256 advertised by the index or None)."""
    for f in project_files(dist):
        if f.filename == filename:
            return f.url, f.sha256
    raise FetchError(f"{filename} is not listed on the index page {index_base()}/{normalize(dist)}/")


def _download(url: str, dest: Path, sha256: str, label: str) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    last: Exception | None = None
    for attempt in range(1, RETRIES + 1):
        fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
        try:
            h = hashlib.sha256()
            with os.fdopen(fd, "wb") as out, _open(url) as resp:
                for chunk in iter(lambda: resp.read(1 << 20), b""):
                    h.update(chunk)
                    out.write(chunk)
            actual = h.hexdigest()
            if actual != sha256:
                raise FetchError(
                    f"{label}: sha256 mismatch for {url}\n"
                    f"  expected {sha256}\n  actual   {actual}"
                )
            os.replace(tmp, dest)
            return
        except FetchError:
            raise
        except Exception as exc:  # interrupted transfer: retry
            last = exc
            if attempt < RETRIES:
                print(f"  retry {attempt}/{RETRIES - 1}: {url}: {exc}", file=sys.stderr)
                time.sleep(2 ** attempt)
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    raise FetchError(f"{label}: download of {url} failed: {last}")


def fetch_file(dist: str, filename: str, sha256: str, *, quiet: bool = False) -> Path:
    """Return the path of a verified copy of ``filename`` from ``dist``'s index page.

    Reuses the cached copy when its sha256 matches; otherwise (re)downloads it.
    """
    sha256 = sha256.lower()
    dest = cache_dir() / "wheels" / filename
    if dest.is_file():
        if sha256_file(dest) == sha256:
            return dest
        print(f"  cached {dest} has a wrong sha256; downloading again", file=sys.stderr)
        dest.unlink()
    url, advertised = find_file_url(dist, filename)
    if advertised and advertised.lower() != sha256:
        raise FetchError(
            f"{filename}: the index advertises a different sha256 than the pinned one\n"
            f"  url      {url}\n  expected {sha256}\n  index    {advertised}"
        )
    if not quiet:
        print(f"  downloading {url}", file=sys.stderr)
    _download(url, dest, sha256, filename)
    return dest
