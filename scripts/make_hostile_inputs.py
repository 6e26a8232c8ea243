#!/usr/bin/env python3
"""Writes the hostile and unusual inputs of tests/cli/hostile.rs into tests/fixtures/hostile/.

Small files, committed; rerun after changing this script:
    .venv-ref/bin/python scripts/make_hostile_inputs.py

Images: decompression bombs whose header alone is over the limits (only the header is real:
a decoder that honours its limits never reaches the pixel data), truncated and corrupt files,
files that are not images, and valid images in every layout a camera or an export tool writes
(grayscale, alpha, palette, 16-bit, CMYK JPEG, progressive JPEG, EXIF-rotated, 1x1, extreme
aspect). Models: random bytes, a truncated real graph, an opset no runtime has, and graphs
whose outputs fit no task's contract.
"""
import io
import pathlib
import random
import struct
import zlib

import numpy as np
import onnx
from onnx import TensorProto, helper
from PIL import Image

OUT = pathlib.Path(__file__).resolve().parent.parent / "tests" / "fixtures" / "hostile"


def png_chunk(kind, data):
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)


def png_header_only(width, height, bit_depth=8, color_type=2):
    """A PNG whose header claims width x height; its pixel data is a few compressed zeros."""
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    idat = zlib.compress(b"\0" * 1024, 9)
    return b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", idat) + png_chunk(b"IEND", b"")


def photo(size=(96, 64)):
    """A deterministic picture with an asymmetric feature (a bright block top-left)."""
    rng = np.random.default_rng(7)
    pixels = rng.integers(40, 200, size=(size[1], size[0], 3), dtype=np.uint8)
    pixels[: size[1] // 3, : size[0] // 3] = 255
    return Image.fromarray(pixels, "RGB")


def save(image, name, **options):
    buffer = io.BytesIO()
    image.save(buffer, **options)
    (OUT / name).write_bytes(buffer.getvalue())
    return buffer.getvalue()


def write_images():
    (OUT / "bomb_dimensions.png").write_bytes(png_header_only(200_000, 200_000))
    # Under the side limit (16384) but 16000 x 16000 x 4 bytes = 1 GB decoded: over max_alloc.
    (OUT / "bomb_pixels.png").write_bytes(png_header_only(16_000, 16_000, color_type=6))
    good_png = save(photo(), "rgb.png", format="PNG")
    (OUT / "truncated.png").write_bytes(good_png[: len(good_png) // 2])
    good_jpeg = save(photo(), "rgb.jpg", format="JPEG", quality=90)
    (OUT / "truncated.jpg").write_bytes(good_jpeg[: len(good_jpeg) // 3])
    corrupt = bytearray(good_png)
    corrupt[40:80] = bytes(40)  # inside IDAT: the zlib stream and its CRC no longer match
    (OUT / "corrupt_data.png").write_bytes(bytes(corrupt))
    (OUT / "empty.png").write_bytes(b"")
    (OUT / "text.png").write_bytes(b"this is a text file with an image's name\n")
    (OUT / "random.jpg").write_bytes(random.Random(3).randbytes(4096))
    (OUT / "header_only.jpg").write_bytes(good_jpeg[:2])
    rgb = photo()
    save(rgb.convert("L"), "gray.png", format="PNG")
    save(rgb.convert("LA"), "gray_alpha.png", format="PNG")
    save(rgb.convert("RGBA"), "rgba.png", format="PNG")
    save(rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16), "palette.png", format="PNG")
    wide = np.asarray(rgb).astype(np.uint16) * 257
    save(Image.fromarray(np.ascontiguousarray(wide[:, :, 0])), "gray16.png", format="PNG")
    (OUT / "rgb16.png").write_bytes(png_rgb16(wide))
    save(rgb.convert("CMYK"), "cmyk.jpg", format="JPEG", quality=90)
    save(rgb.convert("L"), "gray.jpg", format="JPEG", quality=90)
    save(rgb, "progressive.jpg", format="JPEG", quality=90, progressive=True)
    # Stored 96x64 rotated a quarter turn; EXIF orientation 6 turns it back upright (64x96 shown).
    exif = Image.Exif()
    exif[0x0112] = 6
    save(rgb.transpose(Image.Transpose.ROTATE_90), "exif_rotated.jpg", format="JPEG", quality=95, exif=exif)
    save(Image.new("RGB", (1, 1), (200, 10, 10)), "one_pixel.png", format="PNG")
    save(Image.new("RGB", (4000, 2), (90, 90, 90)), "extreme_aspect.png", format="PNG")
    save(rgb, "rgb.webp", format="WEBP", lossless=True)
    save(rgb, "rgb.bmp", format="BMP")
    save(rgb, "rgb.gif", format="GIF")
    save(rgb, "rgb.tiff", format="TIFF")
    (OUT / "ragged_palette.png").write_bytes(png_ragged_palette())


def png_ragged_palette():
    """A 4-bit palette PNG whose PLTE is 49 bytes, not a multiple of 3 (16 entries and a stray
    byte): the png crate 0.18.1 panics on it (found by the `image` fuzz target)."""
    width, height = 16, 8
    palette = bytes(range(48)) + b"\x07"
    rows = b"".join(b"\0" + bytes([0x01, 0x23, 0x45, 0x67, 0x89, 0xAB, 0xCD, 0xEF]) for _ in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 4, 3, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"PLTE", palette)
            + png_chunk(b"IDAT", zlib.compress(rows, 9)) + png_chunk(b"IEND", b""))


def png_rgb16(pixels):
    """A 16-bit RGB PNG (Pillow writes 16-bit only for one channel)."""
    height, width, _ = pixels.shape
    rows = b"".join(b"\0" + pixels[y].astype(">u2").tobytes() for y in range(height))
    ihdr = struct.pack(">IIBBBBB", width, height, 16, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(rows, 9))
            + png_chunk(b"IEND", b""))


def graph_model(outputs, opset=17):
    """A model from NCHW image input [1, 3, 32, 32] to `outputs` (name, shape) via ReduceMean
    and Reshape, so each output has exactly the shape given."""
    nodes, initializers, infos = [], [], []
    nodes.append(helper.make_node("ReduceMean", ["images"], ["pooled"], keepdims=0, axes=[2, 3]))
    for name, shape in outputs:
        size = int(np.prod(shape))
        initializers.append(helper.make_tensor(f"{name}_w", TensorProto.FLOAT, [3, size], np.full(3 * size, 0.1, dtype=np.float32)))
        initializers.append(helper.make_tensor(f"{name}_shape", TensorProto.INT64, [len(shape)], shape))
        nodes.append(helper.make_node("MatMul", ["pooled", f"{name}_w"], [f"{name}_flat"]))
        nodes.append(helper.make_node("Reshape", [f"{name}_flat", f"{name}_shape"], [name]))
        infos.append(helper.make_tensor_value_info(name, TensorProto.FLOAT, shape))
    graph = helper.make_graph(
        nodes, "hostile", [helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 32, 32])], infos, initializers
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)], ir_version=8)
    return model


def write_models(detector):
    (OUT / "random_bytes.onnx").write_bytes(random.Random(5).randbytes(2048))
    (OUT / "empty.onnx").write_bytes(b"")
    data = detector.read_bytes()
    (OUT / "truncated_detector.onnx").write_bytes(data[: 64 * 1024])
    model = graph_model([("output0", [1, 6, 8])])
    onnx.checker.check_model(model)
    onnx.save(model, OUT / "tiny_detector.onnx")
    future = graph_model([("output0", [1, 6, 8])], opset=17)
    future.opset_import[0].version = 99
    onnx.save(future, OUT / "future_opset.onnx")
    # A "detector" whose output is a 3-D tensor too small to hold a box: [1, 3, 8].
    onnx.save(graph_model([("output0", [1, 3, 8])]), OUT / "detector_too_few_channels.onnx")
    # A "classifier" with 4-D output, and an "anomaly" model whose map has 3 channels.
    onnx.save(graph_model([("logits", [1, 2, 2, 2])]), OUT / "classifier_4d_output.onnx")
    onnx.save(graph_model([("features", [1, 3, 2, 2])]), OUT / "anomaly_feature_map.onnx")


if __name__ == "__main__":
    OUT.mkdir(parents=True, exist_ok=True)
    write_images()
    write_models(OUT.parent.parent.parent / ".fixtures" / "models" / "nudenet-320n.onnx")
    for path in sorted(OUT.iterdir()):
        print(f"{path.name}: {path.stat().st_size} bytes")
