#!/usr/bin/env python3
"""Build small, honest synthetic ONNX models for the tasks no real fixture covers.

    scripts/reference-env.sh && .venv-ref/bin/python scripts/make_models.py

numpy + onnx only (no training framework, no OpenCV, no network). Everything is
deterministic: fixed seeds, integer noise, float64 arithmetic without
transcendental functions, so every run writes the same bytes.

Outputs (opset 17, IR version 8, float32, input ``input`` [N, 3, H, W], N dynamic):

  .fixtures/models/anomaly_patchstats.onnx   anomalib-style detector, 256x256,
      ImageNet mean/std input; outputs ``pred_score`` [N], ``anomaly_map`` [N, 1, 256, 256]
  .fixtures/models/semantic_rgb.onnx         4-class semantic segmentation, 64x64,
      input x/255; output ``logits`` [N, 4, 64, 64]
  .fixtures/models/yoloseg_fixed.onnx        YOLOv8-seg layout, 64x64, input-independent;
      outputs ``output0`` [N, 10, 64], ``output1`` [N, 4, 16, 16]

  tests/goldens/inputs/anomaly_good.png      held-out good sample (not in the memory set)
  tests/goldens/inputs/anomaly_defect.png    the same sample with a dark stain (DEFECT_RECT)
  tests/goldens/inputs/semantic_shapes.png   solid shapes on black, class map known exactly

PNG inputs are rewritten only when their pixels would change. The construction
constants below are imported by scripts/reference.py, which runs the models with
onnxruntime, writes the goldens and asserts that the run agrees with the construction.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper
from PIL import Image

sys.dont_write_bytecode = True  # keep scripts/ free of __pycache__

REPO = Path(__file__).resolve().parent.parent
OPSET = 17
IR_VERSION = 8  # opset 17 <-> IR 8; onnxruntime 1.31 loads it
PRODUCER = "inferx scripts/make_models.py"

# ====================================================================== anomaly

ANOMALY_MODEL = "anomaly_patchstats.onnx"
ANOMALY_SIZE = 256  # input H = W
PATCH = 16  # feature grid: 256 / 16 = 16 x 16 locations
GRID = ANOMALY_SIZE // PATCH
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
VAR_EPS = 1e-4  # added to every per-location feature variance
THRESHOLD_MARGIN = 2.0  # T = margin * max raw score of the calibration goods
TEXTURE_SEED = 20240611
TEXTURE_SIZE = 320  # good images are 256x256 crops at offsets 0..64
N_MEMORY = 32  # good images whose feature statistics are the "memory bank"
N_CALIBRATION = 8  # further good images, used only to set the threshold
TEST_GOOD_SEED = 7777  # the held-out good sample (anomaly_good.png)
ANOMALY_GOOD = "anomaly_good.png"
ANOMALY_DEFECT = "anomaly_defect.png"
# The defect: pixels inside a rotated ellipse (centre, semi-axes, unit direction of
# the major axis) are darkened to DEFECT_GAIN of their value (a dark stain that
# keeps a trace of the texture).
DEFECT_CENTER = (172.0, 92.0)
DEFECT_AXES = (30.0, 17.0)
DEFECT_DIR = (0.8, 0.6)
DEFECT_GAIN = 0.3

ANOMALY_PREPROCESS = {
    "resize": "plain (stretch) resize to 256x256; the test images are already 256x256, so none",
    "channel_order": "RGB",
    "scale": "1/255",
    "mean": list(IMAGENET_MEAN),
    "std": list(IMAGENET_STD),
    "normalize": "(pixel / 255 - mean[c]) / std[c], float32",
    "layout": "NCHW float32 [N, 3, 256, 256]",
}

ANOMALY_DOC = (
    "Patch-statistics anomaly detector (PaDiM-like, diagonal covariance). Features: per 16x16 patch "
    "and channel, mean and standard deviation of the ImageNet-normalised input (AveragePool of x and "
    "x*x), 6 features on a 16x16 grid. Memory: per-location feature mean mu and variance var over "
    f"{N_MEMORY} synthetic good images. Raw map d = sum_f (f - mu)^2 / (var + {VAR_EPS}), Resize "
    "linear half_pixel x16 to 256x256. Normalised map = d / (d + T) with T = "
    f"{THRESHOLD_MARGIN} x the largest raw patch score over {N_CALIBRATION} further good images, so "
    "d = T maps to 0.5 (anomalib convention: anomalous when > 0.5) and the map lies in [0, 1). "
    "pred_score = max of the normalised map."
)


def _box_sum(a: np.ndarray, r: int, axis: int) -> np.ndarray:
    """Circular box filter (sum over 2r+1 taps) in exact integer arithmetic."""
    out = np.zeros_like(a)
    for k in range(-r, r + 1):
        out += np.roll(a, k, axis=axis)
    return out


def _standardise(a: np.ndarray) -> np.ndarray:
    a = a.astype(np.float64)
    a = a - a.mean()
    return a / np.sqrt((a * a).mean())


def texture() -> np.ndarray:
    """A stationary 'brushed surface' texture, float64, zero mean, unit variance."""
    rng = np.random.default_rng(TEXTURE_SEED)
    shape = (TEXTURE_SIZE, TEXTURE_SIZE)

    def smooth(r: int, rx: int | None = None, passes: int = 2) -> np.ndarray:
        a = rng.integers(0, 256, size=shape, dtype=np.int64)
        for _ in range(passes):
            a = _box_sum(_box_sum(a, r, 0), r if rx is None else rx, 1)
        return _standardise(a)

    blotches, grain, streaks = smooth(4), smooth(1), smooth(1, rx=16)
    return _standardise(0.6 * blotches + 0.3 * grain + 0.5 * streaks)


def good_image(tex: np.ndarray, seed: int) -> np.ndarray:
    """One good product image: a shifted 256x256 crop, tinted, with brightness jitter."""
    rng = np.random.default_rng(seed)
    dx, dy = (int(v) for v in rng.integers(0, TEXTURE_SIZE - ANOMALY_SIZE + 1, size=2))
    gain = 1.0 + rng.uniform(-0.06, 0.06)
    crop = tex[dy:dy + ANOMALY_SIZE, dx:dx + ANOMALY_SIZE]
    tint = np.array([0.80, 0.72, 0.60])
    offset = np.array([10.0, 12.0, 16.0])
    rgb = (150.0 + 28.0 * crop)[..., None] * tint * gain + offset
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def defect_mask() -> np.ndarray:
    """Boolean [256, 256] mask of the stain, evaluated at pixel centres."""
    yy, xx = np.mgrid[0:ANOMALY_SIZE, 0:ANOMALY_SIZE].astype(np.float64) + 0.5
    dx, dy = xx - DEFECT_CENTER[0], yy - DEFECT_CENTER[1]
    ux, uy = DEFECT_DIR
    u = (dx * ux + dy * uy) / DEFECT_AXES[0]
    v = (-dx * uy + dy * ux) / DEFECT_AXES[1]
    return u * u + v * v <= 1.0


def defect_rect() -> list[int]:
    """[x1, y1, x2, y2) of the stain in pixels (x2, y2 exclusive)."""
    ys, xs = np.nonzero(defect_mask())
    return [int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1]


def add_defect(rgb: np.ndarray) -> np.ndarray:
    out = rgb.copy()
    m = defect_mask()
    out[m] = np.rint(out[m].astype(np.float64) * DEFECT_GAIN).astype(np.uint8)
    return out


def normalise_imagenet(rgb: np.ndarray) -> np.ndarray:
    """HWC uint8 -> HWC float64, (x / 255 - mean) / std."""
    return (rgb.astype(np.float64) / 255.0 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD)


def patch_features(rgb: np.ndarray) -> np.ndarray:
    """[6, 16, 16] float64: per-patch channel means then channel standard deviations."""
    x = normalise_imagenet(rgb).reshape(GRID, PATCH, GRID, PATCH, 3)
    m = x.mean(axis=(1, 3))
    m2 = (x * x).mean(axis=(1, 3))
    s = np.sqrt(np.maximum(m2 - m * m, 0.0))
    return np.concatenate([m, s], axis=-1).transpose(2, 0, 1)


def raw_scores(features: np.ndarray, mu: np.ndarray, inv_var: np.ndarray) -> np.ndarray:
    """[16, 16] raw patch distances."""
    return (((features - mu) ** 2) * inv_var).sum(axis=0)


def anomaly_construction() -> dict:
    tex = texture()
    memory = [good_image(tex, 1000 + i) for i in range(N_MEMORY)]
    calibration = [good_image(tex, 2000 + i) for i in range(N_CALIBRATION)]
    feats = np.stack([patch_features(im) for im in memory])  # [M, 6, 16, 16]
    mu = feats.mean(axis=0).astype(np.float32)
    var = feats.var(axis=0)
    inv_var = (1.0 / (var + VAR_EPS)).astype(np.float32)
    mu64, iv64 = mu.astype(np.float64), inv_var.astype(np.float64)
    cal_max = [float(raw_scores(patch_features(im), mu64, iv64).max()) for im in calibration]
    threshold = float(np.float32(THRESHOLD_MARGIN * max(cal_max)))
    good = good_image(tex, TEST_GOOD_SEED)
    return {
        "mu": mu[None],  # [1, 6, 16, 16]
        "inv_var": inv_var[None],
        "threshold": threshold,
        "calibration_raw_max": cal_max,
        "good": good,
        "defect": add_defect(good),
    }


def anomaly_model(c: dict) -> onnx.ModelProto:
    f32 = np.float32
    inits = [
        numpy_helper.from_array(c["mu"], "memory_mean"),
        numpy_helper.from_array(c["inv_var"], "memory_inv_var"),
        numpy_helper.from_array(np.array([1], np.int64), "feature_axis"),
        numpy_helper.from_array(np.array([1, 1, PATCH, PATCH], f32), "upsample_scales"),
        numpy_helper.from_array(np.array(c["threshold"], f32), "threshold_T"),
    ]
    pool = dict(kernel_shape=[PATCH, PATCH], strides=[PATCH, PATCH])
    nodes = [
        helper.make_node("AveragePool", ["input"], ["patch_mean"], name="patch_mean", **pool),
        helper.make_node("Mul", ["input", "input"], ["input_sq"], name="square"),
        helper.make_node("AveragePool", ["input_sq"], ["patch_mean_sq"], name="patch_mean_sq", **pool),
        helper.make_node("Mul", ["patch_mean", "patch_mean"], ["mean_sq"], name="mean_sq"),
        helper.make_node("Sub", ["patch_mean_sq", "mean_sq"], ["patch_var_raw"], name="var"),
        helper.make_node("Relu", ["patch_var_raw"], ["patch_var"], name="var_nonneg"),
        helper.make_node("Sqrt", ["patch_var"], ["patch_std"], name="std"),
        helper.make_node("Concat", ["patch_mean", "patch_std"], ["features"], name="features", axis=1),
        helper.make_node("Sub", ["features", "memory_mean"], ["diff"], name="diff"),
        helper.make_node("Mul", ["diff", "diff"], ["diff_sq"], name="diff_sq"),
        helper.make_node("Mul", ["diff_sq", "memory_inv_var"], ["z_sq"], name="z_sq"),
        helper.make_node("ReduceSum", ["z_sq", "feature_axis"], ["raw_map"], name="distance", keepdims=1),
        helper.make_node("Resize", ["raw_map", "", "upsample_scales"], ["raw_map_up"], name="upsample",
                         mode="linear", coordinate_transformation_mode="half_pixel"),
        helper.make_node("Add", ["raw_map_up", "threshold_T"], ["raw_plus_T"], name="raw_plus_T"),
        helper.make_node("Div", ["raw_map_up", "raw_plus_T"], ["anomaly_map"], name="normalise"),
        helper.make_node("ReduceMax", ["anomaly_map"], ["pred_score"], name="pred_score",
                         axes=[1, 2, 3], keepdims=0),
    ]
    s = ANOMALY_SIZE
    graph = helper.make_graph(
        nodes, "anomaly_patchstats",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, s, s])],
        [helper.make_tensor_value_info("pred_score", TensorProto.FLOAT, ["N"]),
         helper.make_tensor_value_info("anomaly_map", TensorProto.FLOAT, ["N", 1, s, s])],
        initializer=inits,
    )
    return finish(graph, ANOMALY_DOC, {})


# ===================================================================== semantic

SEMANTIC_MODEL = "semantic_rgb.onnx"
SEMANTIC_SIZE = 64
SEMANTIC_IMAGE = "semantic_shapes.png"
SEMANTIC_LABELS = ["background", "red", "green", "blue"]
SEMANTIC_GAIN = 10.0  # logit_c = 10 * x_c for the colour classes
SEMANTIC_BG_LOGIT = 2.0  # background logit: wins when max(r, g, b) < 0.2
# Shapes drawn in order on black (later ones on top): (kind, geometry, RGB, class).
# rect: (x1, y1, x2, y2) with x2/y2 exclusive; disc: (cx, cy, r) covering the
# integer pixels with (x - cx)^2 + (y - cy)^2 <= r^2.
SEMANTIC_SHAPES = [
    ("rect", (4, 4, 28, 20), (220, 40, 30), 1),
    ("disc", (44, 16, 10), (30, 200, 60), 2),
    ("rect", (6, 34, 30, 58), (40, 70, 230), 3),
    ("disc", (18, 46, 6), (200, 170, 20), 1),  # yellow-ish: red dominates, on the blue square
    ("rect", (38, 36, 60, 44), (30, 30, 30), 0),  # dark grey: below 0.2 everywhere -> background
    ("rect", (38, 48, 60, 60), (60, 90, 250), 3),
    ("disc", (50, 54, 3), (35, 210, 45), 2),  # green disc on the blue bar
]

SEMANTIC_PREPROCESS = {
    "resize": "stretch to 64x64 (the test image is 64x64: none)",
    "channel_order": "RGB",
    "scale": "1/255",
    "mean": [0.0, 0.0, 0.0],
    "std": [1.0, 1.0, 1.0],
    "normalize": "pixel / 255, float32 (no mean/std)",
    "layout": "NCHW float32 [N, 3, 64, 64]",
}

SEMANTIC_DOC = (
    "Semantic segmentation by colour. One 1x1 Conv: logit_0 = 2 (background), logit_1..3 = "
    "10 * r, 10 * g, 10 * b of the x/255 input. Class = argmax: background when max(r, g, b) < 0.2, "
    "otherwise the dominant channel (red 1, green 2, blue 3)."
)


def semantic_construction() -> tuple[np.ndarray, np.ndarray]:
    """The 64x64 RGB image and its class map (drawn together, so exact)."""
    s = SEMANTIC_SIZE
    img = np.zeros((s, s, 3), np.uint8)
    classes = np.zeros((s, s), np.uint8)
    yy, xx = np.mgrid[0:s, 0:s]
    for kind, geo, rgb, cls in SEMANTIC_SHAPES:
        if kind == "rect":
            x1, y1, x2, y2 = geo
            m = (xx >= x1) & (xx < x2) & (yy >= y1) & (yy < y2)
        else:
            cx, cy, r = geo
            m = (xx - cx) ** 2 + (yy - cy) ** 2 <= r * r
        img[m] = rgb
        classes[m] = cls
    return img, classes


def semantic_model() -> onnx.ModelProto:
    w = np.zeros((4, 3, 1, 1), np.float32)
    for c in range(3):
        w[c + 1, c, 0, 0] = SEMANTIC_GAIN
    b = np.array([SEMANTIC_BG_LOGIT, 0.0, 0.0, 0.0], np.float32)
    s = SEMANTIC_SIZE
    graph = helper.make_graph(
        [helper.make_node("Conv", ["input", "classifier.weight", "classifier.bias"], ["logits"],
                          name="classifier", kernel_shape=[1, 1])],
        "semantic_rgb",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, s, s])],
        [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["N", 4, s, s])],
        initializer=[numpy_helper.from_array(w, "classifier.weight"),
                     numpy_helper.from_array(b, "classifier.bias")],
    )
    labels = "[" + ", ".join(f'"{name}"' for name in SEMANTIC_LABELS) + "]"
    return finish(graph, SEMANTIC_DOC, {"labels": labels})


# ====================================================================== yoloseg

YOLOSEG_MODEL = "yoloseg_fixed.onnx"
YOLOSEG_SIZE = 64
YOLOSEG_ANCHORS = 64
YOLOSEG_PROTO = 16  # prototype maps are 16x16 (stride 4)
YOLOSEG_LABELS = ["rect", "ell"]
YOLOSEG_CONF = 0.25  # Ultralytics predict defaults
YOLOSEG_IOU = 0.7
# Prototypes, 16x16 each: 0/1 indicator maps of blocks of proto cells, given as
# (row0, row1, col0, col1) with row1/col1 exclusive, plus a constant-1 "bias" map.
YOLOSEG_PROTO_BLOCKS = [
    [(3, 9, 3, 7)],  # 0: instance A's region (a rectangle)
    [(6, 13, 10, 12)],  # 1: instance B's vertical bar
    [(10, 13, 12, 14)],  # 2: instance B's foot (disjoint from 1, together an L)
    None,  # 3: constant 1
]
# Anchors: (anchor index, (cx, cy, w, h) in input pixels, (score class 0, score class 1),
# mask coefficients). All other anchors are zero. Coefficients give mask logits of
# +4 inside an instance's region and -4 everywhere else (symmetric, so bilinear
# interpolation of logits and of sigmoids agree on the > 0.5 decision).
YOLOSEG_ANCHOR_ROWS = [
    (5, (20.0, 24.0, 24.0, 32.0), (0.9, 0.05), (8.0, 0.0, 0.0, -4.0)),  # A: class 0, box (8,8)-(32,40)
    (33, (48.0, 38.0, 24.0, 36.0), (0.1, 0.8), (0.0, 8.0, 8.0, -4.0)),  # B: class 1, box (36,20)-(60,56)
    (20, (22.0, 24.0, 24.0, 32.0), (0.6, 0.0), (0.0, 8.0, 0.0, -4.0)),  # duplicate of A: IoU 0.846, NMS drops it
    (47, (32.0, 56.0, 16.0, 8.0), (0.0, 0.2), (0.0, 0.0, 8.0, -4.0)),  # below conf 0.25
]
# What decoding must give (score descending): class, score, box x1y1x2y2 (input
# pixels), the anchor it came from, and the region it covers (proto blocks of that
# anchor's positive coefficients) with its counts of convex / concave corners.
YOLOSEG_EXPECTED = [
    {"anchor": 5, "class_id": 0, "score": 0.9, "box": [8.0, 8.0, 32.0, 40.0], "protos": [0],
     "convex_corners": 4, "concave_corners": 0},
    {"anchor": 33, "class_id": 1, "score": 0.8, "box": [36.0, 20.0, 60.0, 56.0], "protos": [1, 2],
     "convex_corners": 5, "concave_corners": 1},
]

YOLOSEG_PREPROCESS = {
    "resize": "any; the outputs do not depend on the pixels. Goldens are in 64x64 input pixels "
              "(feed a 64x64 image, e.g. semantic_shapes.png, and source pixels = input pixels)",
    "scale": "1/255 (Ultralytics)",
    "layout": "NCHW float32 [N, 3, 64, 64]",
}

YOLOSEG_DOC = (
    "YOLOv8-seg output layout with constant outputs (Expand of initializers to the batch size): "
    "output0 [N, 4 + 2 + 4, 64] rows cx, cy, w, h (input pixels), class scores (post-sigmoid), "
    "4 mask coefficients; output1 [N, 4, 16, 16] prototypes. Two instances (class 0 'rect' "
    "0.9 at (8,8)-(32,40); class 1 'ell' 0.8 at (36,20)-(60,56)), one duplicate removed by NMS "
    "(IoU 0.846 > 0.7) and one candidate below 0.25."
)


def yoloseg_protos() -> np.ndarray:
    p = np.zeros((len(YOLOSEG_PROTO_BLOCKS), YOLOSEG_PROTO, YOLOSEG_PROTO), np.float32)
    for k, blocks in enumerate(YOLOSEG_PROTO_BLOCKS):
        if blocks is None:
            p[k] = 1.0
            continue
        for r0, r1, c0, c1 in blocks:
            p[k, r0:r1, c0:c1] = 1.0
    return p


def yoloseg_output0() -> np.ndarray:
    nm = len(YOLOSEG_PROTO_BLOCKS)
    out = np.zeros((4 + len(YOLOSEG_LABELS) + nm, YOLOSEG_ANCHORS), np.float32)
    for anchor, box, scores, coefs in YOLOSEG_ANCHOR_ROWS:
        out[:, anchor] = [*box, *scores, *coefs]
    return out


def yoloseg_model() -> onnx.ModelProto:
    out0 = yoloseg_output0()[None]
    out1 = yoloseg_protos()[None]
    inits = [
        numpy_helper.from_array(out0, "output0_const"),
        numpy_helper.from_array(out1, "output1_const"),
        numpy_helper.from_array(np.array([0], np.int64), "zero"),
        numpy_helper.from_array(np.array([1], np.int64), "one"),
        numpy_helper.from_array(np.array(out0.shape[1:], np.int64), "output0_tail"),
        numpy_helper.from_array(np.array(out1.shape[1:], np.int64), "output1_tail"),
    ]
    nodes = [
        helper.make_node("Shape", ["input"], ["input_shape"], name="input_shape"),
        helper.make_node("Slice", ["input_shape", "zero", "one"], ["batch"], name="batch"),
        helper.make_node("Concat", ["batch", "output0_tail"], ["output0_shape"], name="output0_shape", axis=0),
        helper.make_node("Concat", ["batch", "output1_tail"], ["output1_shape"], name="output1_shape", axis=0),
        helper.make_node("Expand", ["output0_const", "output0_shape"], ["output0"], name="output0"),
        helper.make_node("Expand", ["output1_const", "output1_shape"], ["output1"], name="output1"),
    ]
    s, a, p = YOLOSEG_SIZE, YOLOSEG_ANCHORS, YOLOSEG_PROTO
    graph = helper.make_graph(
        nodes, "yoloseg_fixed",
        [helper.make_tensor_value_info("input", TensorProto.FLOAT, ["N", 3, s, s])],
        [helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["N", out0.shape[1], a]),
         helper.make_tensor_value_info("output1", TensorProto.FLOAT, ["N", out1.shape[1], p, p])],
        initializer=inits,
    )
    names = "{" + ", ".join(f"{i}: '{n}'" for i, n in enumerate(YOLOSEG_LABELS)) + "}"
    return finish(graph, YOLOSEG_DOC, {"names": names, "task": "segment", "imgsz": f"[{s}, {s}]"})


# ======================================================================= common


def finish(graph: onnx.GraphProto, doc: str, metadata: dict[str, str]) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET)],
                              producer_name=PRODUCER, producer_version="1", doc_string=doc)
    model.ir_version = IR_VERSION
    for key in sorted(metadata):
        entry = model.metadata_props.add()
        entry.key, entry.value = key, metadata[key]
    onnx.checker.check_model(model, full_check=True)
    return model


def write_bytes(path: Path, data: bytes) -> None:
    if path.exists() and path.read_bytes() == data:
        return
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_bytes(data)
    tmp.replace(path)


def write_png(path: Path, rgb: np.ndarray) -> None:
    """Writes an RGB PNG unless the file already holds exactly these pixels."""
    if path.exists():
        with Image.open(path) as im:
            if im.mode == "RGB" and np.array_equal(np.asarray(im), rgb):
                return
    Image.fromarray(rgb, mode="RGB").save(path, optimize=True)
    size = path.stat().st_size
    assert size < 100_000, f"{path} is {size} bytes"


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description="Write the synthetic ONNX test models and their inputs.")
    ap.add_argument("--models", type=Path, default=REPO / ".fixtures" / "models")
    ap.add_argument("--inputs", type=Path, default=REPO / "tests" / "goldens" / "inputs")
    args = ap.parse_args(argv)
    args.models.mkdir(parents=True, exist_ok=True)
    args.inputs.mkdir(parents=True, exist_ok=True)

    c = anomaly_construction()
    semantic_img, _ = semantic_construction()
    models = {
        ANOMALY_MODEL: anomaly_model(c),
        SEMANTIC_MODEL: semantic_model(),
        YOLOSEG_MODEL: yoloseg_model(),
    }
    for name, model in models.items():
        data = model.SerializeToString()
        write_bytes(args.models / name, data)
        print(f"{name}: {len(data)} bytes, sha256 {hashlib.sha256(data).hexdigest()}")
    for name, rgb in [(ANOMALY_GOOD, c["good"]), (ANOMALY_DEFECT, c["defect"]), (SEMANTIC_IMAGE, semantic_img)]:
        write_png(args.inputs / name, rgb)
        print(f"{name}: {(args.inputs / name).stat().st_size} bytes")
    print(f"anomaly threshold T = {c['threshold']:.6g}; defect rect {defect_rect()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
