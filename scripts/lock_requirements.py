#!/usr/bin/env python3
"""Resolve top-level requirements into an exact, hash-pinned requirements file.

    python3 scripts/lock_requirements.py -r scripts/requirements-tools.in \\
        -c scripts/requirements-reference.txt -o scripts/requirements-tools.txt

1. pip resolves the requirements in a throwaway virtualenv
   (``pip install --dry-run --ignore-installed --only-binary=:all: --report``),
   so nothing is installed and the packages already on the machine cannot
   influence the result. The resolution is the one for the interpreter running
   the venv (``--python``, default this one) on this OS and machine.
2. For every resolved ``name==version`` the index page (PEP 691 JSON, via
   ``scripts/pypi.py``, honouring ``$PIP_INDEX_URL``) lists the files; every
   wheel that this CPython version can install on Linux on each ``--arch``
   (manylinux or pure Python) contributes its sha256. The wheel pip chose must
   be among them, which cross-checks the index against pip.
3. The output lists the top-level requirements first (in input order, with their
   extras), then the transitive ones by name, and a header that says how to
   regenerate it. ``pip install --require-hashes --only-binary=:all: -r OUT``
   installs exactly that set.

``-c FILE`` takes pins from another hash-pinned file (its hashes are dropped:
pip refuses hashes in constraints), so shared packages keep the same versions.
Leading ``#`` lines of the first ``-r`` file become the description in the
output header. Python standard library only (plus pip inside the venv).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import re
import shlex
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
import pypi  # noqa: E402  (sibling module, stdlib only)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ARCHES = ("x86_64", "aarch64")


# ------------------------------------------------------------ wheel tags


def wheel_tags(filename: str) -> tuple[str, str, set[tuple[str, str, str]]] | None:
    """(name, version, {(python, abi, platform)}) of a wheel filename, None for an sdist.

    Compressed tag sets (``cp311.cp312``, ``abi3.abi3t``,
    ``manylinux2014_x86_64.musllinux_1_1_x86_64``) are expanded.
    """
    if not filename.endswith(".whl"):
        return None
    parts = filename[:-4].split("-")
    if len(parts) not in (5, 6):  # name-version[-build]-python-abi-platform
        return None
    name, version = parts[0], parts[1]
    py, abi, plat = parts[-3:]
    tags = {(p, a, o) for p in py.split(".") for a in abi.split(".") for o in plat.split(".")}
    return name, version, tags


def _python_ok(py: str, abi: str, minor: int) -> bool:
    """Whether CPython 3.<minor> accepts this python/abi pair (as pip's tag list does)."""
    m = re.fullmatch(r"(cp|py)3(\d*)", py)
    if not m:
        return False  # pp*, py2, ...
    kind, ver = m.group(1), int(m.group(2)) if m.group(2) else None
    if kind == "py":  # pure Python: py3, py311, py310, ... with no ABI
        return abi == "none" and (ver is None or ver <= minor)
    if ver == minor:
        return abi in (f"cp3{minor}", "abi3", "none")
    return ver is not None and ver < minor and abi == "abi3"  # stable ABI of an older CPython


def _platform_arch(platform: str, arches: tuple[str, ...]) -> set[str]:
    """Arches (from ``arches``) a platform tag runs on: all for ``any``, one for manylinux."""
    if platform == "any":
        return set(arches)
    m = re.fullmatch(r"manylinux(?:1|2010|2014|_\d+_\d+)_(\w+)", platform)
    return {m.group(1)} & set(arches) if m else set()


def usable_on(filename: str, minor: int, arches: tuple[str, ...]) -> set[str]:
    """The arches on which CPython 3.<minor> on glibc Linux can install this wheel."""
    parsed = wheel_tags(filename)
    if parsed is None:
        return set()
    out: set[str] = set()
    for py, abi, plat in parsed[2]:
        if _python_ok(py, abi, minor):
            out |= _platform_arch(plat, arches)
    return out


def _norm_version(v: str) -> str:
    # Wheel filenames carry the normalised version, and so does pip's report;
    # only the case and a leading "v" can still differ.
    return v.lower().lstrip("v")


# ------------------------------------------------------------ resolution


@dataclass
class Resolved:
    name: str  # PEP 503 normalised
    version: str
    extras: list[str]
    requested: bool
    chosen_sha256: str | None  # of the wheel pip picked
    chosen_file: str


def constraints_without_hashes(path: Path) -> str:
    """``name==version`` lines of a hash-pinned requirements file."""
    text = path.read_text().replace("\\\n", " ")
    pins = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        m = re.match(r"([A-Za-z0-9][A-Za-z0-9._-]*)(\[[^\]]*\])?\s*==\s*([^\s;]+)", line)
        if m:
            pins.append(f"{m.group(1)}=={m.group(3)}")
    if not pins:
        raise SystemExit(f"lock: no name==version pins in {path}")
    return "\n".join(pins) + "\n"


def resolve(python: str, requirements: list[str], req_files: list[Path], constraint_files: list[Path],
            workdir: Path) -> tuple[list[Resolved], str, int]:
    venv = workdir / "venv"
    subprocess.run([python, "-m", "venv", str(venv)], check=True)
    vpy = str(venv / "bin" / "python")
    minor = int(subprocess.check_output(
        [vpy, "-c", "import sys; assert sys.implementation.name == 'cpython'; print(sys.version_info[1])"],
        text=True))
    cmd = [vpy, "-m", "pip", "install", "--disable-pip-version-check", "--quiet",
           "--dry-run", "--ignore-installed", "--only-binary=:all:",
           "--report", str(workdir / "report.json")]
    for i, c in enumerate(constraint_files):
        plain = workdir / f"constraints{i}.txt"
        plain.write_text(constraints_without_hashes(c))
        cmd += ["-c", str(plain)]
    for f in req_files:
        cmd += ["-r", str(f)]
    cmd += requirements
    print("lock: resolving with pip in a throwaway venv", file=sys.stderr)
    subprocess.run(cmd, check=True)
    report = json.loads((workdir / "report.json").read_text())
    pip_version = report.get("pip_version", "?")
    out = []
    for item in report["install"]:
        meta = item["metadata"]
        info = item["download_info"]
        archive = info.get("archive_info", {})
        sha = (archive.get("hashes") or {}).get("sha256")
        if sha is None and archive.get("hash", "").startswith("sha256="):
            sha = archive["hash"].split("=", 1)[1]
        out.append(Resolved(
            name=pypi.normalize(meta["name"]),
            version=meta["version"],
            extras=sorted(item.get("requested_extras") or []),
            requested=bool(item.get("requested")),
            chosen_sha256=sha.lower() if sha else None,
            chosen_file=info["url"].rsplit("/", 1)[-1],
        ))
    return out, pip_version, minor


def requested_order(req_files: list[Path], requirements: list[str]) -> list[str]:
    """Normalised names of the top-level requirements, in the order they were given."""
    lines = []
    for f in req_files:
        lines += f.read_text().splitlines()
    lines += requirements
    names = []
    for line in lines:
        line = line.split("#", 1)[0].strip()
        m = re.match(r"[A-Za-z0-9][A-Za-z0-9._-]*", line)
        if m and not line.startswith("-"):
            names.append(pypi.normalize(m.group(0)))
    return names


# ------------------------------------------------------------ hashes


def hashes_for(r: Resolved, minor: int, arches: tuple[str, ...]) -> tuple[list[str], set[str]]:
    """sha256 of every usable wheel of r (sorted by filename), and the arches covered."""
    picked: list[tuple[str, str]] = []
    covered: set[str] = set()
    for f in pypi.project_files(r.name):
        parsed = wheel_tags(f.filename)
        if parsed is None or pypi.normalize(parsed[0]) != r.name:
            continue
        if _norm_version(parsed[1]) != _norm_version(r.version):
            continue
        on = usable_on(f.filename, minor, arches)
        if not on:
            continue
        if not f.sha256:
            raise SystemExit(f"lock: the index gives no sha256 for {f.filename} ({f.url})")
        picked.append((f.filename, f.sha256))
        covered |= on
    picked.sort()
    hashes = [h for _, h in picked]
    if r.chosen_sha256 and r.chosen_sha256 not in hashes:
        raise SystemExit(
            f"lock: pip chose {r.chosen_file} (sha256 {r.chosen_sha256}) for {r.name}=={r.version}, "
            f"but the index {pypi.index_base()} lists no such usable wheel"
        )
    return hashes, covered


# ------------------------------------------------------------ output


def header_description(req_files: list[Path]) -> list[str]:
    if not req_files:
        return []
    lines = []
    for line in req_files[0].read_text().splitlines():
        if not line.startswith("#"):
            break
        lines.append(line)
    return lines


def render(resolved: list[Resolved], order: list[str], hashes: dict[str, list[str]],
           missing: dict[str, list[str]], description: list[str], command: str,
           pip_version: str, minors: list[int], arches: tuple[str, ...]) -> str:
    rank = {name: i for i, name in enumerate(order)}
    top = sorted((r for r in resolved if r.requested), key=lambda r: (rank.get(r.name, len(rank)), r.name))
    rest = sorted((r for r in resolved if not r.requested), key=lambda r: r.name)
    out = description + ([] if not description else ["#"])
    out += [
        f"# Exact pins, including transitive dependencies, with the sha256 of every wheel",
        f"# CPython {', '.join(f'3.{minor}' for minor in minors)} can install on Linux {' / '.join(arches)} (manylinux or pure",
        f"# Python), from the PEP 691 index. Install with",
        f"#   pip install --require-hashes --only-binary=:all: -r <this file>",
        f"# Generated by scripts/lock_requirements.py (pip {pip_version}); do not edit by hand.",
        f"# Regenerate with:",
        f"#   {command}",
    ]

    def entry(r: Resolved) -> list[str]:
        extras = f"[{','.join(r.extras)}]" if r.extras else ""
        lines = [f"# no wheel for {', '.join(missing[r.name])}"] if missing.get(r.name) else []
        pin = f"{r.name}{extras}=={r.version}"
        return lines + [" \\\n".join([pin] + [f"    --hash=sha256:{h}" for h in hashes[r.name]])]

    out.append("")
    out.append("# top-level")
    for r in top:
        out += entry(r)
    out.append("")
    out.append("# transitive")
    for r in rest:
        out += entry(r)
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("requirements", nargs="*", help="top-level requirement specifiers")
    ap.add_argument("-r", "--requirement", dest="req_files", action="append", type=Path, default=[],
                    help="file of top-level requirements (repeatable)")
    ap.add_argument("-c", "--constraint", dest="constraint_files", action="append", type=Path, default=[],
                    help="take the pins of this (hash-pinned) requirements file as constraints (repeatable)")
    ap.add_argument("-o", "--output", type=Path, required=True, help="requirements file to write")
    ap.add_argument("--arch", dest="arches", action="append",
                    help=f"Linux machine to collect wheels for (repeatable; default: {' '.join(DEFAULT_ARCHES)})")
    ap.add_argument("--python", dest="pythons", action="append",
                    help="interpreter for the resolution venv (default: this one); repeatable: each must "
                         "resolve the same pins, and the lock holds the wheels of every one")
    args = ap.parse_args(argv)
    if not args.requirements and not args.req_files:
        ap.error("give requirements or -r FILE")
    arches = tuple(args.arches or DEFAULT_ARCHES)

    pythons = args.pythons or [sys.executable]
    resolutions = []
    for python in pythons:
        with tempfile.TemporaryDirectory(prefix="lock-requirements-") as tmp:
            try:
                resolutions.append(resolve(
                    python, args.requirements, args.req_files, args.constraint_files, Path(tmp)))
            except subprocess.CalledProcessError as exc:
                print(f"lock: pip failed (exit {exc.returncode}); see its message above", file=sys.stderr)
                return 1
    resolved, pip_version, _ = resolutions[0]
    pins = {(r.name, r.version) for r in resolved}
    for (other, _, minor), python in zip(resolutions[1:], pythons[1:]):
        if {(r.name, r.version) for r in other} != pins:
            print(f"lock: error: {python} (CPython 3.{minor}) resolves other pins than {pythons[0]}: "
                  f"{sorted({(r.name, r.version) for r in other} ^ pins)}; pin the differing packages", file=sys.stderr)
            return 1
    minors = sorted({minor for _, _, minor in resolutions})

    hashes: dict[str, list[str]] = {}
    missing: dict[str, list[str]] = {}
    try:
        for r in resolved:
            chosen = {other.chosen_sha256 for other_resolved, _, _ in resolutions for other in other_resolved
                      if other.name == r.name and other.chosen_sha256}
            found: dict[str, None] = {}
            gaps: set[str] = set()
            for minor in minors:
                listed, covered = hashes_for(dataclasses.replace(r, chosen_sha256=None), minor, arches)
                found.update(dict.fromkeys(listed))
                gaps |= {f"{a} (3.{minor})" for a in arches if a not in covered}
            absent = chosen - set(found)
            if absent:
                raise SystemExit(f"lock: pip chose a wheel of {r.name}=={r.version} (sha256 {sorted(absent)}) "
                                 f"that the index {pypi.index_base()} does not list as usable")
            hashes[r.name] = list(found)
            if gaps:
                missing[r.name] = sorted(gaps)
                print(f"lock: warning: {r.name}=={r.version} has no wheel for {', '.join(sorted(gaps))}",
                      file=sys.stderr)
    except pypi.FetchError as exc:
        print(f"lock: error: {exc}", file=sys.stderr)
        return 1

    # The command as a user would type it from the repository root.
    def rel(p: Path) -> str:
        try:
            return str(p.resolve().relative_to(REPO_ROOT))
        except ValueError:
            return str(p)

    cmd = ["python3", "scripts/lock_requirements.py"]
    cmd += [x for f in args.req_files for x in ("-r", rel(f))]
    cmd += [x for f in args.constraint_files for x in ("-c", rel(f))]
    if args.arches:
        cmd += [x for a in arches for x in ("--arch", a)]
    if len(pythons) > 1:
        cmd += [x for python in pythons for x in ("--python", python)]
    cmd += ["-o", rel(args.output)] + args.requirements
    text = render(resolved, requested_order(args.req_files, args.requirements), hashes, missing,
                  header_description(args.req_files), shlex.join(cmd), pip_version, minors, arches)

    args.output.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = args.output.with_name(args.output.name + ".tmp")
    tmp_out.write_text(text)
    tmp_out.replace(args.output)
    n_hashes = sum(len(h) for h in hashes.values())
    print(f"lock: wrote {rel(args.output)}: {len(resolved)} packages, {n_hashes} hashes", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
