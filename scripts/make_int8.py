#!/usr/bin/env python3
"""Quantize the real nudenet YOLOv8n detector to int8 in the QDQ format, the way a user would
with ONNX Runtime's own tool, so the tests can show the runtime runs such a model.

    scripts/reference-env.sh && .venv-ref/bin/python scripts/make_int8.py

onnxruntime.quantization.quantize_static: QuantizeLinear/DequantizeLinear pairs around every
Conv and the other quantizable operators of the backbone, neck and head convolutions (the
head's box decoding stays float, see below), uint8 activations and int8 per-channel weights,
calibrated with MinMax on the sample photos letterboxed to 320x320 as the runtime feeds them.
Which nodes stay float is `inferx quantize`'s rule (`detection_head_decode` in
src/commands/quantize/quantize.py, imported from there: one home). Users run `inferx quantize`,
which also calibrates through InferX's own preprocessing; this script makes a fixture before
the CLI is built, with the reference environment. Writes .fixtures/models/nudenet-320n-int8-qdq.onnx (skipped when it exists: quantization
takes a few seconds and the result depends only on the pinned inputs and ORT version).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np
from PIL import Image

sys.dont_write_bytecode = True

REPO = Path(__file__).resolve().parent.parent
SOURCE = "nudenet-320n.onnx"
TARGET = "nudenet-320n-int8-qdq.onnx"
SIZE = 320
CALIBRATION = ["astronaut.png", "chelsea.png", "coffee.png", "motorcycle_left.png", "rocket.jpg", "grace_hopper.jpg"]


def letterbox(path: Path) -> np.ndarray:
    """RGB, scaled to fit SIZE keeping the aspect ratio, padded grey (114), [1, 3, H, W] / 255."""
    with Image.open(path) as image:
        rgb = image.convert("RGB")
    scale = min(SIZE / rgb.width, SIZE / rgb.height)
    width, height = round(rgb.width * scale), round(rgb.height * scale)
    canvas = np.full((SIZE, SIZE, 3), 114, dtype=np.uint8)
    left, top = (SIZE - width) // 2, (SIZE - height) // 2
    canvas[top:top + height, left:left + width] = np.asarray(rgb.resize((width, height), Image.BILINEAR))
    return (canvas.astype(np.float32) / 255.0).transpose(2, 0, 1)[None]


class Photos:
    """onnxruntime's CalibrationDataReader protocol over the sample photos."""

    def __init__(self, images: Path, input_name: str):
        self.batches = iter([{input_name: letterbox(images / name)} for name in CALIBRATION])

    def get_next(self):
        return next(self.batches, None)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--fixtures", type=Path, default=REPO / ".fixtures")
    ap.add_argument("--force", action="store_true", help="quantize again even if the model exists")
    args = ap.parse_args(argv)
    source = args.fixtures / "models" / SOURCE
    target = args.fixtures / "models" / TARGET
    if target.exists() and not args.force:
        print(f"{TARGET}: present")
        return 0

    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    sys.path.insert(0, str(REPO / "src/commands/quantize"))
    from quantize import detection_head_decode

    input_name = onnx.load(str(source), load_external_data=False).graph.input[0].name
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        # ORT's recommended pre-processing: shape inference and graph optimisation, so every
        # tensor has a known shape for the quantizer.
        quant_pre_process(str(source), str(prepared), skip_symbolic_shape=True)
        # The Detect head's convolutions are quantized, its decoding stays float (see there).
        head_decoding = detection_head_decode(onnx.load(str(prepared), load_external_data=False).graph)
        staged = Path(scratch) / TARGET
        quantize_static(
            str(prepared),
            str(staged),
            Photos(args.fixtures / "images", input_name),
            quant_format=QuantFormat.QDQ,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            per_channel=True,
            calibrate_method=CalibrationMethod.MinMax,
            nodes_to_exclude=head_decoding,
        )
        model = onnx.load(str(staged))
        ops = [node.op_type for node in model.graph.node]
        assert ops.count("QuantizeLinear") > 50 and ops.count("DequantizeLinear") > 50, "not a QDQ graph"
        staged.replace(target)
    print(f"{TARGET}: {target.stat().st_size} bytes, {ops.count('QuantizeLinear')} QuantizeLinear, "
          f"{ops.count('DequantizeLinear')} DequantizeLinear")
    return 0


if __name__ == "__main__":
    sys.exit(main())
