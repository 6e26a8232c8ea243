#!/usr/bin/env python3
"""The YOLOv8 detector of the Python baselines: OpenCV letterbox, onnxruntime, numpy decoding and NMS.

Shared by ``fastapi_server.py`` (the FastAPI baseline), ``python_pipeline.py`` (images) and
``python_video.py`` (video), so every baseline does the same work. Pre/post-processing follows
Ultralytics YOLOv8 (``LetterBox(auto=False)``, pad 114, BGR->RGB, /255; class-aware NMS, max_det
300), the same as ``scripts/reference.py``.
"""

from __future__ import annotations

import ast

import cv2
import numpy as np
import onnxruntime as ort

MAX_WH = 7680  # Ultralytics' class offset for class-aware NMS in one pass
MAX_DET = 300


# ------------------------------------------------------------ pre-processing


def letterbox(bgr: np.ndarray, size: int) -> tuple[np.ndarray, float, int, int]:
    """Ultralytics LetterBox(auto=False, scaleup=True, center=True), pad 114.

    Returns (size x size image, scale, left pad, top pad).
    """
    h, w = bgr.shape[:2]
    r = min(size / h, size / w)
    new_w, new_h = int(round(w * r)), int(round(h * r))
    dw, dh = (size - new_w) / 2, (size - new_h) / 2
    if (w, h) != (new_w, new_h):
        bgr = cv2.resize(bgr, (new_w, new_h), interpolation=cv2.INTER_LINEAR)
    # The -0.1/+0.1 puts the odd pixel at the bottom/right, as Ultralytics does.
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    out = cv2.copyMakeBorder(bgr, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(114, 114, 114))
    return out, r, left, top


def preprocess(bgr: np.ndarray, size: int) -> tuple[np.ndarray, float, int, int]:
    """BGR uint8 HWC -> RGB float32 [1, 3, size, size] in [0, 1], plus the letterbox numbers."""
    img, r, left, top = letterbox(bgr, size)
    x = img[:, :, ::-1].transpose(2, 0, 1)[None]  # BGR->RGB, HWC->NCHW
    x = np.ascontiguousarray(x, dtype=np.float32) / 255.0
    return x, r, left, top


# ------------------------------------------------------------ post-processing


def nms(boxes: np.ndarray, scores: np.ndarray, iou_threshold: float) -> list[int]:
    """Greedy NMS (torchvision semantics): highest score first, drop later boxes with IoU > threshold."""
    order = np.argsort(-scores, kind="stable")
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1) * (y2 - y1)
    suppressed = np.zeros(len(boxes), dtype=bool)
    keep: list[int] = []
    for i in order:
        if suppressed[i]:
            continue
        keep.append(int(i))
        if len(keep) == MAX_DET:
            break
        inter = (np.clip(np.minimum(x2[i], x2) - np.maximum(x1[i], x1), 0, None)
                 * np.clip(np.minimum(y2[i], y2) - np.maximum(y1[i], y1), 0, None))
        suppressed |= inter / (areas[i] + areas - inter) > iou_threshold
    return keep


def decode(output: np.ndarray, r: float, left: int, top: int, width: int, height: int,
           conf: float, iou: float, labels: list[str]) -> list[dict]:
    """YOLOv8 output [1, 4 + C, anchors] (cx, cy, w, h in input pixels, then class scores)."""
    pred = output[0].T  # [anchors, 4 + C]
    class_scores = pred[:, 4:]
    class_id = class_scores.argmax(1)
    score = class_scores[np.arange(len(pred)), class_id]
    keep = score > conf
    pred, class_id, score = pred[keep], class_id[keep], score[keep]
    if len(pred) == 0:
        return []
    cx, cy, w, h = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    boxes = np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=1).astype(np.float64)
    kept = nms(boxes + class_id[:, None] * float(MAX_WH), score, iou)
    # Back to original-image pixels: undo the padding and the scale, then clip.
    boxes = boxes[kept]
    boxes[:, [0, 2]] = np.clip((boxes[:, [0, 2]] - left) / r, 0, width)
    boxes[:, [1, 3]] = np.clip((boxes[:, [1, 3]] - top) / r, 0, height)
    detections = []
    for (x1, y1, x2, y2), c, s in zip(boxes.tolist(), class_id[kept].tolist(), score[kept].tolist()):
        detections.append({
            "label": labels[c] if c < len(labels) else str(c),
            "class_id": c,
            "score": s,
            "bbox": {"x1": x1, "y1": y1, "x2": x2, "y2": y2},
        })
    return detections


# ------------------------------------------------------------ model


class Detector:
    def __init__(self, model: str, size: int, conf: float, iou: float) -> None:
        # The plain default session: ORT picks its own thread count.
        self.session = ort.InferenceSession(model, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        self.size, self.conf, self.iou = size, conf, iou
        # Ultralytics exports store names as a Python dict literal: "{0: 'person', ...}".
        names = self.session.get_modelmeta().custom_metadata_map.get("names")
        self.labels: list[str] = []
        if names:
            parsed = ast.literal_eval(names)
            self.labels = [str(parsed[i]) for i in range(len(parsed))]

    def __call__(self, bgr: np.ndarray) -> list[dict]:
        x, r, left, top = preprocess(bgr, self.size)
        output = self.session.run(None, {self.input_name: x})[0]
        h, w = bgr.shape[:2]
        return decode(output, r, left, top, w, h, self.conf, self.iou, self.labels)
