"""Static int8 quantization with ONNX Runtime's own tool, driven by `inferx quantize`.

`inferx quantize` embeds this file, runs it in the virtualenv it keeps in its cache (the
pinned, hash-checked requirements-quantize.txt) and hands it the calibration tensors its own
preprocessing made, so the model is calibrated on exactly what `predict` feeds it:

    python quantize.py --model IN.onnx --out OUT.onnx --calibration DIR [options]

DIR holds `calibration.json` ({"input": NAME, "tensors": [{"file": F, "shape": [...]}]}) and
one raw little-endian float32 file per image. The last line on stdout is a JSON summary.
Exit status 2 means ONNX Runtime's tool refused the model (the reason is on stderr).

scripts/make_int8.py imports `detection_head_decode` from here: one home for the rule.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
from pathlib import Path

sys.dont_write_bytecode = True

# Operators ONNX Runtime's quantizer writes; a model holding any is already quantized.
QUANTIZED_OPERATORS = {"QuantizeLinear", "DequantizeLinear", "QLinearConv", "QLinearMatMul", "ConvInteger",
                       "MatMulInteger", "DynamicQuantizeLinear"}

# The convolutions of an Ultralytics head (boxes, classes, masks, keypoints, the v10 one-to-one
# branch, the mask prototypes): quantized like the rest of the network.
HEAD_CONVOLUTIONS = ("cv2", "cv3", "cv4", "one2one_cv2", "one2one_cv3", "one2one_cv4", "proto")


def detection_head_decode(graph) -> list[str]:
    """The nodes of a YOLO-family (Ultralytics) head that decode its outputs, to leave in float.

    The head is the `/model.N/` module whose nodes write the graph's outputs. Its decoding
    (DFL softmax and convolution, anchor arithmetic, sigmoid, the Concats up to the output)
    stays float: quantized, the final Concat shares one uint8 scale between pixel coordinates
    and 0-1 scores, and every score rounds to 0 (onnxruntime#14233). Its convolutions stay
    quantized. An empty list for other models.
    """
    producers = {output: node for node in graph.node for output in node.output}
    heads = set()
    for output in graph.output:
        node = producers.get(output.name)
        match = re.match(r"^(/model\.\d+/)", node.name) if node is not None else None
        if match:
            heads.add(match.group(1))
    decode = []
    for node in graph.node:
        head = next((prefix for prefix in heads if node.name.startswith(prefix)), None)
        if head is not None and not node.name[len(head):].startswith(HEAD_CONVOLUTIONS):
            decode.append(node.name)
    return decode


def noisiest_consumers(graph, quantized: Path, tensors: "Tensors", count: int, images: int = 4) -> list[str]:
    """The nodes that read the `count` activations quantization disturbs most, to leave in float.

    ONNX Runtime's qdq_loss_debug runs the QDQ model on the first `images` calibration tensors
    with every intermediate tensor as an output; each activation's signal-to-quantization-noise
    ratio (its value before against after its QuantizeLinear/DequantizeLinear pair) ranks them.
    Leaving the readers of an activation in float removes its QDQ pair."""
    import numpy as np
    from onnxruntime.quantization import qdq_loss_debug

    augmented = quantized.with_name("augmented.onnx")
    qdq_loss_debug.modify_model_output_intermediate_tensors(str(quantized), str(augmented))
    tensors.rewind()
    batches = []
    while len(batches) < images and (batch := tensors.get_next()) is not None:
        batches.append(batch)
    activations = qdq_loss_debug.collect_activations(str(augmented), batches)
    matching = qdq_loss_debug.create_activation_matching(activations)
    noise = {}
    for name, pair in matching.items():
        if pair.get("pre_qdq") is None or pair.get("post_qdq") is None:
            continue
        noise[name] = qdq_loss_debug.compute_signal_to_quantization_noice_ratio(pair["pre_qdq"], pair["post_qdq"])
    readers: dict[str, list[str]] = {}
    for node in graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node.name)
    worst = sorted((ratio, name) for name, ratio in noise.items() if np.isfinite(ratio) and name in readers)
    chosen: list[str] = []
    for _, name in worst[:count]:
        chosen += [node for node in readers[name] if node not in chosen]
    tensors.rewind()
    return chosen


PER_CHANNEL_OPSET = 13


def upgrade_for_per_channel(prepared: Path) -> str | None:
    """Converts the model to opset 13 in place when it is older; a refusal message on failure."""
    import onnx
    from onnx import version_converter

    model = onnx.load(str(prepared))
    opset = next((entry.version for entry in model.opset_import if entry.domain in ("", "ai.onnx")), None)
    if opset is None or opset >= PER_CHANNEL_OPSET:
        return None
    try:
        converted = version_converter.convert_version(model, PER_CHANNEL_OPSET)
        onnx.checker.check_model(converted)
    except Exception as error:  # noqa: BLE001
        return (f"the model's opset {opset} is older than the {PER_CHANNEL_OPSET} per-channel weights need, and "
                f"onnx could not convert it ({type(error).__name__}: {error}); pass --per-tensor")
    onnx.save(converted, str(prepared))
    return None


class Tensors:
    """onnxruntime's CalibrationDataReader protocol over the tensors InferX wrote."""

    def __init__(self, folder: Path):
        import numpy as np

        self.folder = folder
        manifest = json.loads((folder / "calibration.json").read_text())
        self.input = manifest["input"]
        self.entries = manifest["tensors"]
        self.np = np
        self.rewind()

    def get_next(self):
        entry = next(self.position, None)
        if entry is None:
            return None
        values = self.np.fromfile(self.folder / entry["file"], dtype="<f4").reshape(entry["shape"])
        return {self.input: values}

    def rewind(self):
        self.position = iter(self.entries)

    # With `CalibStridedMinMax`, ONNX Runtime calibrates a slice at a time: set_range, then
    # get_next until None.
    def __len__(self):
        return len(self.entries)

    def set_range(self, start_index: int, end_index: int):
        self.position = iter(self.entries[start_index:end_index])


def histogram_stride(images: int, most: int = 4) -> int:
    """Images per slice for the histogram methods (entropy, percentile): ONNX Runtime keeps
    every activation of a slice in memory (hundreds of MB per image for a detector at 640)
    before it folds them into its histograms. The slices must divide the images evenly."""
    return max(size for size in range(1, min(most, images) + 1) if images % size == 0)


# The line of stderr that carries a refusal (ONNX Runtime writes its own warnings there too).
REFUSAL = "inferx-refusal: "


def refuse(message: str) -> int:
    print(REFUSAL + message, file=sys.stderr)
    return 2


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", type=Path, required=True)
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument("--calibration", type=Path, required=True)
    ap.add_argument("--method", choices=["minmax", "entropy", "percentile"], default="minmax")
    ap.add_argument("--per-tensor", action="store_true", help="one scale per weight tensor, not per channel")
    ap.add_argument("--reduce-range", action="store_true", help="7-bit weights (CPUs without VNNI)")
    ap.add_argument("--exclude", nargs="*", default=[], help="nodes to leave in float")
    ap.add_argument("--keep-head", action="store_true",
                    help="quantize a YOLO head's decode too (it breaks the scores: a test of the gate)")
    ap.add_argument("--float-noisiest", type=int, default=0, metavar="K",
                    help="quantize, rank the activations by quantization noise, and quantize again with the "
                         "readers of the K noisiest left in float")
    ap.add_argument("--metadata", nargs="*", default=[], help="KEY=VALUE pairs to add to the model's metadata")
    args = ap.parse_args(argv)

    import onnx
    import onnxruntime
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnxruntime.set_default_logger_severity(3)  # errors only: its warnings are not the user's business
    source = onnx.load(str(args.model))
    found = sorted({node.op_type for node in source.graph.node} & QUANTIZED_OPERATORS)
    if found:
        return refuse(f"the model is already quantized (it has {', '.join(found)})")
    tensors = Tensors(args.calibration)
    method = {"minmax": CalibrationMethod.MinMax, "entropy": CalibrationMethod.Entropy,
              "percentile": CalibrationMethod.Percentile}[args.method]
    with tempfile.TemporaryDirectory() as scratch:
        prepared = Path(scratch) / "prepared.onnx"
        try:
            # ORT's recommended pre-processing: graph optimisation and shape inference, so every
            # tensor has a known shape for the quantizer. The symbolic pass fails on some
            # exporters' graphs and is not needed for vision models with a fixed rank.
            quant_pre_process(str(args.model), str(prepared), skip_symbolic_shape=True)
        except Exception as error:  # noqa: BLE001 - the tool raises many kinds; each is a refusal
            return refuse(f"ONNX Runtime's quant_pre_process refused the model: {type(error).__name__}: {error}")
        if not args.per_tensor:
            # Per-channel QDQ needs DequantizeLinear's `axis` (opset 13); ORT's quantizer only
            # warns about older models and writes a file ONNX Runtime then refuses to load.
            status = upgrade_for_per_channel(prepared)
            if status:
                return refuse(status)
        graph = onnx.load(str(prepared), load_external_data=False).graph
        automatic = [] if args.keep_head else detection_head_decode(graph)
        known = {node.name for node in graph.node}
        unknown = [name for name in args.exclude if name not in known]
        if unknown:
            return refuse(f"--exclude names nodes the model does not have: {', '.join(unknown)}")
        excluded = sorted(set(automatic) | set(args.exclude))
        staged = Path(scratch) / "quantized.onnx"

        extra_options = {}
        if method != CalibrationMethod.MinMax:
            extra_options["CalibStridedMinMax"] = histogram_stride(len(tensors))

        def run(nodes_to_exclude: list[str]) -> None:
            tensors.rewind()
            quantize_static(
                str(prepared),
                str(staged),
                tensors,
                quant_format=QuantFormat.QDQ,
                activation_type=QuantType.QUInt8,
                weight_type=QuantType.QInt8,
                per_channel=not args.per_tensor,
                reduce_range=args.reduce_range,
                calibrate_method=method,
                nodes_to_exclude=nodes_to_exclude,
                extra_options=extra_options,
            )

        noisiest: list[str] = []
        try:
            run(excluded)
            if args.float_noisiest > 0:
                noisiest = [name for name in noisiest_consumers(graph, staged, tensors, args.float_noisiest)
                            if name not in excluded]
                excluded = sorted(set(excluded) | set(noisiest))
                run(excluded)
        except Exception as error:  # noqa: BLE001
            return refuse(f"ONNX Runtime's quantize_static refused the model: {type(error).__name__}: {error}")
        model = onnx.load(str(staged))
        operators = [node.op_type for node in model.graph.node]
        if operators.count("QuantizeLinear") == 0:
            return refuse("ONNX Runtime's quantize_static found nothing to quantize in the model "
                          "(no convolution or matrix product it supports)")
        # The pre-processing and the quantizer keep metadata_props only sometimes: copy the
        # source's (names, imgsz, stride, task...) so the int8 file describes itself the same.
        del model.metadata_props[:]
        for prop in source.metadata_props:
            model.metadata_props.add(key=prop.key, value=prop.value)
        for pair in args.metadata:
            key, _, value = pair.partition("=")
            model.metadata_props.add(key=key, value=value)
        onnx.save(model, str(args.out))
    print(json.dumps({
        "excluded": excluded,
        "automatic_exclusions": len(automatic),
        "noisiest_exclusions": len(noisiest),
        "quantize_linear": operators.count("QuantizeLinear"),
        "dequantize_linear": operators.count("DequantizeLinear"),
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
