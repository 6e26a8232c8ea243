#!/usr/bin/env python3
"""The Python pipeline a user would write: onnxruntime + numpy + OpenCV, one image after another.

    .venv-tools/bin/python bench/python_pipeline.py MODEL IMAGE_OR_FOLDER... [--size 320]

Decodes each image with OpenCV, letterboxes, runs the session and decodes the YOLOv8 output
with NMS, by the same code as the FastAPI baseline (``fastapi_server.Detector``), so both
Python baselines do exactly what ``inferx run`` does. Prints one JSON line per image, then a
summary line on stderr: images, seconds, images/s. ``bench/python_compare.py`` times it.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import cv2

sys.path.insert(0, str(Path(__file__).resolve().parent))
from yolo_detector import Detector  # noqa: E402

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".webp"}


def images(paths: list[str]) -> list[Path]:
    found: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            found += sorted(child for child in path.iterdir() if child.suffix.lower() in IMAGE_SUFFIXES)
        else:
            found.append(path)
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("inputs", nargs="+")
    parser.add_argument("--size", type=int, default=320)
    args = parser.parse_args()
    detector = Detector(args.model, args.size, conf=0.25, iou=0.7)
    files = images(args.inputs)
    started = time.perf_counter()
    for path in files:
        bgr = cv2.imread(str(path), cv2.IMREAD_COLOR)
        if bgr is None:
            print(f"error: cannot decode {path}", file=sys.stderr)
            return 1
        print(json.dumps({"image": str(path), "detections": detector(bgr)}))
    elapsed = time.perf_counter() - started
    print(f"{len(files)} images in {elapsed:.3f} s: {len(files) / elapsed:.1f} images/s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
