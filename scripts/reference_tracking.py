#!/usr/bin/env python3
"""Tracking goldens: clips with known ground truth, our detector's boxes on them, and
supervision 0.30.9's ByteTrack run on those boxes; MOT metrics with motmetrics.

    scripts/reference-env.sh && cargo build --bin inferx
    .venv-ref/bin/python scripts/reference_tracking.py goldens    # writes tests/goldens/tracking_*.json
    .venv-ref/bin/python scripts/reference_tracking.py clips DIR  # only the frames (and gt.json)
    .venv-ref/bin/python scripts/reference_tracking.py mot GOLDEN TRACKS   # metrics of a run, as JSON

Clips: face crops of the scikit-image sample photo astronaut.png (also mirrored) and
matplotlib's grace_hopper.jpg, scaled and moved across face-free backgrounds (coffee, rocket,
motorcycle_left) along straight paths, frame by frame, into lossless PNGs. The ground
truth is known by construction: each face's box in its source photo (the detector's box in
tests/goldens/detection_nudenet-320n_320.json) carried through the same scale and offset; a
face more than half covered (by an occluder or a sprite drawn over it) has no ground truth on
that frame.

Detections are our detector's: `inferx run .fixtures/models/nudenet-320n.onnx FRAMES --json
--conf 0.1` (every box ByteTrack can use: its low band starts at 0.1). supervision's
`ByteTrack` then runs on exactly those boxes (float32, as our tracker reads them), and its
tracker id for each box is stored beside the box. `tests/runtime/tracking.rs` runs our
ByteTrack on the same boxes and compares, and sends its tracks back to `mot` here.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__

REPO = Path(__file__).resolve().parent.parent
PHOTOS = REPO / ".fixtures" / "images"
MODEL = REPO / ".fixtures" / "models" / "nudenet-320n.onnx"
WIDTH, HEIGHT = 480, 360
FPS = 30

# Sprites: (photo, crop box in the photo, the face's box in the photo: the detector's box on
# the whole photo, from tests/goldens/detection_nudenet-320n_320.json, mirrored).
SPRITES = {
    "astronaut": ("astronaut.png", (140, 50, 310, 220), (173.243604, 82.824304, 274.025098, 180.160974), False),
    "grace": ("grace_hopper.jpg", (140, 110, 390, 370), (168.406126, 139.811325, 358.980882, 341.459084), False),
    # The astronaut mirrored: a third face (camera.png's is too small and dark to detect well).
    "mirrored": ("astronaut.png", (140, 50, 310, 220), (173.243604, 82.824304, 274.025098, 180.160974), True),
}


@dataclass
class Path2:
    """A sprite's straight path: top-left corner and width from frame `start` to `end`."""

    sprite: str
    start: int
    end: int
    xy0: tuple[float, float]
    xy1: tuple[float, float]
    width0: float
    width1: float

    def at(self, frame: int):
        if not (self.start <= frame <= self.end):
            return None
        t = (frame - self.start) / max(self.end - self.start, 1)
        x = self.xy0[0] + t * (self.xy1[0] - self.xy0[0])
        y = self.xy0[1] + t * (self.xy1[1] - self.xy0[1])
        w = self.width0 + t * (self.width1 - self.width0)
        return round(x), round(y), round(w)


# Each clip: background photo, frames, sprite paths (drawn in this order: later on top), and
# occluders (x1, y1, x2, y2) filled with a patch of page.png, drawn over everything.
CLIPS = {
    # Two faces walk towards each other and cross; the one drawn second hides the other.
    "crossing": ("coffee.png", 48, [
        Path2("astronaut", 0, 47, (-20, 90), (350, 110), 130, 130),
        Path2("grace", 0, 47, (350, 120), (-20, 100), 125, 125),
    ], []),
    # A face passes behind a pillar for a few frames while another walks down the left side.
    "occlusion": ("rocket.jpg", 50, [
        Path2("astronaut", 0, 49, (20, 110), (420, 120), 110, 110),
        Path2("grace", 0, 49, (-10, -20), (10, 220), 120, 120),
    ], [(230, 0, 280, 360)]),
    # Three faces on different paths, one growing as it comes closer.
    "three": ("motorcycle_left.png", 60, [
        Path2("astronaut", 0, 59, (0, 200), (330, 180), 100, 150),
        Path2("grace", 5, 59, (380, 0), (200, 220), 120, 110),
        Path2("mirrored", 0, 50, (250, 220), (330, -20), 130, 130),
    ], []),
}


def load(name: str) -> Image.Image:
    with Image.open(PHOTOS / name) as image:
        return image.convert("RGB")


def make_clip(name: str, out: Path) -> list[list[dict]]:
    """Writes the clip's frames into `out` (frame_0000.png, ...); returns the ground truth."""
    background_name, frames, paths, occluders = CLIPS[name]
    background = load(background_name).resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR)
    page = load("page.png").resize((WIDTH, HEIGHT), Image.Resampling.BILINEAR)
    sources = {}
    for key, (photo, crop, _, mirrored) in SPRITES.items():
        source = load(photo).crop(crop)
        sources[key] = source.transpose(Image.Transpose.FLIP_LEFT_RIGHT) if mirrored else source
    out.mkdir(parents=True, exist_ok=True)
    truth = []
    for frame in range(frames):
        canvas = background.copy()
        # Which object is on top at each pixel (-1 background, -2 occluder).
        owner = np.full((HEIGHT, WIDTH), -1, dtype=np.int32)
        faces = {}
        for index, path in enumerate(paths):
            placed = path.at(frame)
            if placed is None:
                continue
            x, y, width = placed
            photo, crop, face, mirrored = SPRITES[path.sprite]
            if mirrored:  # the face's box flips within the crop
                face = (crop[0] + crop[2] - face[2], face[1], crop[0] + crop[2] - face[0], face[3])
            source = sources[path.sprite]
            scale = width / source.width
            height = round(source.height * scale)
            sprite = source.resize((width, height), Image.Resampling.BILINEAR)
            canvas.paste(sprite, (x, y))
            x1, y1, x2, y2 = max(x, 0), max(y, 0), min(x + width, WIDTH), min(y + height, HEIGHT)
            if x2 > x1 and y2 > y1:
                owner[y1:y2, x1:x2] = index
            fx1 = x + (face[0] - crop[0]) * scale
            fy1 = y + (face[1] - crop[1]) * scale
            fx2 = x + (face[2] - crop[0]) * scale
            fy2 = y + (face[3] - crop[1]) * scale
            faces[index] = [fx1, fy1, fx2, fy2]
        for x1, y1, x2, y2 in occluders:
            canvas.paste(page.crop((x1, y1, x2, y2)), (x1, y1))
            owner[y1:y2, x1:x2] = -2
        canvas.save(out / f"frame_{frame:04d}.png")
        visible = []
        for index, (fx1, fy1, fx2, fy2) in faces.items():
            area = max(fx2 - fx1, 0) * max(fy2 - fy1, 0)
            cx1, cy1 = max(int(round(fx1)), 0), max(int(round(fy1)), 0)
            cx2, cy2 = min(int(round(fx2)), WIDTH), min(int(round(fy2)), HEIGHT)
            shown = int((owner[cy1:cy2, cx1:cx2] == index).sum()) if cx2 > cx1 and cy2 > cy1 else 0
            if area > 0 and shown / area >= 0.5:
                box = [min(max(fx1, 0.0), WIDTH), min(max(fy1, 0.0), HEIGHT),
                       min(max(fx2, 0.0), WIDTH), min(max(fy2, 0.0), HEIGHT)]
                visible.append({"id": index + 1, "box": box})
        truth.append(visible)
    return truth


def detect(inferx: Path, frames: Path) -> list[list[dict]]:
    """Our detector's boxes on every frame, in frame order."""
    run = subprocess.run(
        [str(inferx), "run", str(MODEL), str(frames), "--json", "--conf", "0.1", "--quiet"],
        check=True, capture_output=True, text=True,
    )
    rows = json.loads(run.stdout)
    rows.sort(key=lambda row: Path(row["image"]).name)
    detections = []
    for row in rows:
        found = row["detections"]
        detections.append([
            {"box": [d["box"][key] for key in ("x1", "y1", "x2", "y2")],
             "score": d["score"], "class_id": d["class_id"], "label": d["label"]}
            for d in found
        ])
    return detections


# supervision's ByteTrack arguments, and the same tracker in our `tracking:` keys.
SUPERVISION_ARGS = dict(track_activation_threshold=0.25, lost_track_buffer=30,
                        minimum_matching_threshold=0.8, frame_rate=FPS, minimum_consecutive_frames=1)
OUR_PARAMS = dict(track_high_thresh=0.25, track_low_thresh=0.1, new_track_thresh=0.35, track_buffer=30,
                  match_thresh=0.8, fuse_score=True, minimum_consecutive_frames=1, duplicate_thresh=0.05)


def supervision_ids(detections: list[list[dict]]) -> list[list[int | None]]:
    import supervision as sv
    import warnings

    warnings.simplefilter("ignore")  # ByteTrack is deprecated in 0.30: that is why it is pinned
    tracker = sv.ByteTrack(**SUPERVISION_ARGS)
    ids = []
    for found in detections:
        n = len(found)
        boxes = np.array([d["box"] for d in found], dtype=np.float32).reshape(n, 4)
        detections_sv = sv.Detections(
            xyxy=boxes,
            confidence=np.array([d["score"] for d in found], dtype=np.float32),
            class_id=np.array([d["class_id"] for d in found], dtype=int),
            data={"index": np.arange(n)},
        )
        tracked = tracker.update_with_detections(detections_sv)
        frame_ids: list[int | None] = [None] * n
        for index, track_id in zip(tracked.data.get("index", []), tracked.tracker_id):
            frame_ids[int(index)] = int(track_id)
        ids.append(frame_ids)
    return ids


def iou(a: list[float], b: list[float]) -> float:
    width = max(min(a[2], b[2]) - max(a[0], b[0]), 0.0)
    height = max(min(a[3], b[3]) - max(a[1], b[1]), 0.0)
    intersection = width * height
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - intersection
    return intersection / union if union > 0 else 0.0


def mot_metrics(truth: list[list[dict]], tracks: list[list[dict]]) -> dict:
    """CLEAR MOT and identity metrics of `tracks` ([{id, box}] per frame) against `truth`."""
    import motmetrics as mm

    accumulator = mm.MOTAccumulator(auto_id=True)
    for expected, found in zip(truth, tracks, strict=True):
        # `1 - IoU`, NaN (no match) below IoU 0.5: motmetrics' `iou_matrix(max_iou=0.5)`,
        # which calls `np.asfarray`, gone in NumPy 2.
        distances = np.full((len(expected), len(found)), np.nan)
        for row, t in enumerate(expected):
            for column, f in enumerate(found):
                overlap = iou(t["box"], f["box"])
                if overlap >= 0.5:
                    distances[row, column] = 1.0 - overlap
        accumulator.update([t["id"] for t in expected], [t["id"] for t in found], distances)
    names = ["mota", "motp", "idf1", "num_switches", "num_misses", "num_false_positives",
             "num_objects", "num_unique_objects", "mostly_tracked", "num_fragmentations"]
    summary = mm.metrics.create().compute(accumulator, metrics=names, name="clip")
    return {name: float(summary[name].iloc[0]) for name in names}


def assignment_golden() -> None:
    """scipy's `linear_sum_assignment`, and supervision's thresholded `linear_assignment`, on
    matrices full of ties (costs on a coarse grid) and of costs a float32 step from the
    threshold: tests/goldens/tracking_assignment.json."""
    from scipy.optimize import linear_sum_assignment
    from supervision.tracker.byte_tracker.matching import linear_assignment

    rng = np.random.default_rng(33)
    threshold = 0.8
    below = float(np.nextafter(np.float32(threshold), np.float32(0)))
    above = float(np.nextafter(np.float32(threshold), np.float32(1)))
    cases = []
    for index in range(300):
        rows, columns = int(rng.integers(1, 9)), int(rng.integers(1, 9))
        if index % 3 == 0:  # ties: a grid of 5 values
            costs = rng.integers(0, 5, size=(rows, columns)) / 4.0
        elif index % 3 == 1:  # near the threshold
            costs = rng.choice([below, threshold, above, 0.3, 1.0], size=(rows, columns))
        else:
            costs = rng.random((rows, columns))
        costs = costs.astype(np.float32)
        row_ind, col_ind = linear_sum_assignment(costs)
        matches, _, _ = linear_assignment(costs, threshold)
        cases.append({
            "costs": [[float(v) for v in row] for row in costs],
            "scipy": [[int(r), int(c)] for r, c in zip(row_ind, col_ind)],
            "supervision_matches": sorted([int(r), int(c)] for r, c in matches),
        })
    out = REPO / "tests" / "goldens" / "tracking_assignment.json"
    out.write_text(json.dumps({"threshold": threshold, "cases": cases}) + "\n")
    print(f"{out.relative_to(REPO)}: {len(cases)} matrices")


def goldens(args) -> None:
    assignment_golden()
    inferx = Path(args.inferx)
    if not inferx.exists():
        sys.exit(f"{inferx} not found: build it first (`cargo build --bin inferx`) or pass --inferx")
    for name in CLIPS:
        with tempfile.TemporaryDirectory() as directory:
            frames = Path(directory)
            truth = make_clip(name, frames)
            detections = detect(inferx, frames)
        ids = supervision_ids(detections)
        tracks = [[{"id": i, "box": d["box"]} for d, i in zip(found, frame_ids) if i is not None]
                  for found, frame_ids in zip(detections, ids)]
        golden = {
            "clip": name,
            "size": [WIDTH, HEIGHT],
            "fps": FPS,
            "detector": "inferx run .fixtures/models/nudenet-320n.onnx FRAMES --json --conf 0.1",
            "supervision": {"version": "0.30.9", "arguments": SUPERVISION_ARGS},
            "tracking": OUR_PARAMS,
            "supervision_mot": mot_metrics(truth, tracks),
            "frames": [
                {"detections": found, "supervision_ids": frame_ids, "ground_truth": expected}
                for found, frame_ids, expected in zip(detections, ids, truth)
            ],
        }
        out = REPO / "tests" / "goldens" / f"tracking_{name}.json"
        out.write_text(json.dumps(golden, indent=1) + "\n")
        boxes = sum(len(found) for found in detections)
        print(f"{out.relative_to(REPO)}: {len(detections)} frames, {boxes} boxes, supervision {golden['supervision_mot']}")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    commands = parser.add_subparsers(dest="command", required=True)
    write = commands.add_parser("goldens", help="write tests/goldens/tracking_*.json")
    write.add_argument("--inferx", default=str(REPO / "target" / "debug" / "inferx"))
    clips = commands.add_parser("clips", help="write only the frames and ground truth of every clip")
    clips.add_argument("out", type=Path)
    mot = commands.add_parser("mot", help="MOT metrics of a tracker's run on a golden clip, as JSON")
    mot.add_argument("golden", type=Path)
    mot.add_argument("tracks", type=Path, help="JSON: per frame, a list of {id, box}")
    args = parser.parse_args(argv)
    if args.command == "goldens":
        goldens(args)
    elif args.command == "clips":
        for name in CLIPS:
            truth = make_clip(name, args.out / name)
            (args.out / name / "gt.json").write_text(json.dumps(truth) + "\n")
    else:
        golden = json.loads(args.golden.read_text())
        truth = [frame["ground_truth"] for frame in golden["frames"]]
        print(json.dumps(mot_metrics(truth, json.loads(args.tracks.read_text()))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
