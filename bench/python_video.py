#!/usr/bin/env python3
"""The Python video pipeline a user would write: OpenCV VideoCapture + onnxruntime + supervision's ByteTrack.

    .venv-ref/bin/python bench/python_video.py MODEL VIDEO [--size 320] [--stride N]

Reads the video with ``cv2.VideoCapture`` (OpenCV's bundled FFmpeg), detects with the FastAPI
baseline's own detector code (letterbox, YOLOv8 decoding, NMS: ``fastapi_server.Detector``), and
tracks with supervision 0.30.9's ``ByteTrack`` (the last release with it). Prints one JSON line
per frame (``frame``, ``pts_ms``, ``detections`` with ``track_id``), the shape
``inferx run MODEL VIDEO --track --json`` prints, then a summary on stderr: frames, seconds (after
the model is loaded), frames/s. ``bench/video_compare.py`` times it against ``inferx``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import warnings
from pathlib import Path

import cv2
import numpy as np
import supervision as sv

sys.path.insert(0, str(Path(__file__).resolve().parent))
from yolo_detector import Detector  # noqa: E402


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("video")
    parser.add_argument("--size", type=int, default=320)
    parser.add_argument("--stride", type=int, default=1)
    args = parser.parse_args()
    # Tracking lowers the threshold to ByteTrack's low band, as `inferx run --track` does.
    detector = Detector(args.model, args.size, conf=0.1, iou=0.7)
    capture = cv2.VideoCapture(args.video)
    if not capture.isOpened():
        print(f"error: cannot open {args.video}", file=sys.stderr)
        return 1
    rate = capture.get(cv2.CAP_PROP_FPS) or 30.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # deprecated in 0.28, removed in 0.31: 0.30.9 is pinned
        tracker = sv.ByteTrack(frame_rate=int(round(rate)))
    frames = 0
    index = -1
    started = time.perf_counter()
    out = sys.stdout
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        index += 1
        if index % args.stride:
            continue
        pts_ms = capture.get(cv2.CAP_PROP_POS_MSEC)
        found = detector(bgr)
        if found:
            boxes = np.array([[d["bbox"][k] for k in ("x1", "y1", "x2", "y2")] for d in found], dtype=np.float32)
            scores = np.array([d["score"] for d in found], dtype=np.float32)
            classes = np.array([d["class_id"] for d in found], dtype=int)
        else:
            boxes, scores, classes = np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, int)
        tracked = tracker.update_with_detections(sv.Detections(xyxy=boxes, confidence=scores, class_id=classes))
        detections = [
            {"class_id": int(c), "score": float(s), "box": [float(v) for v in b], "track_id": int(t)}
            for b, s, c, t in zip(tracked.xyxy, tracked.confidence, tracked.class_id, tracked.tracker_id)
        ]
        out.write(json.dumps({"frame": index, "pts_ms": pts_ms, "detections": detections}) + "\n")
        frames += 1
    elapsed = time.perf_counter() - started
    print(f"{frames} frames in {elapsed:.3f} s: {frames / elapsed:.1f} frames/s", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
