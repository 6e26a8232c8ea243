#!/usr/bin/env python3
"""FastAPI + onnxruntime YOLOv8 detection server: the baseline a user writes by hand.

    scripts/tools-env.sh
    .venv-tools/bin/python bench/fastapi_server.py --model .fixtures/models/nudenet-320n.onnx \\
        --size 320 --port 8000 [--workers 1]

    curl --data-binary @.fixtures/images/astronaut.png -H 'Content-Type: image/png' \\
        http://127.0.0.1:8000/predict
    curl -F file=@.fixtures/images/astronaut.png http://127.0.0.1:8000/predict

It is deliberately "the usual way", not tuned: one default onnxruntime CPU
session per worker process, a sync endpoint that FastAPI runs in its threadpool,
OpenCV decode and letterbox, numpy decoding, dict responses. Served by uvicorn
with uvloop/httptools when installed (``uvicorn[standard]``), no access log.

* ``GET /health`` -> ``{"status": "ok"}``
* ``POST /predict``: the image as the raw body (``Content-Type: image/*`` or
  ``application/octet-stream``) or as multipart field ``file``. Answers
  ``{"detections": [{"label", "class_id", "score", "bbox": {"x1", "y1", "x2", "y2"}}]}``,
  boxes in original-image pixels.

Pre/post-processing follows Ultralytics YOLOv8 (``LetterBox(auto=False)``, pad
114, BGR->RGB, /255; conf 0.25, class-aware NMS IoU 0.7, max_det 300), the same
as ``scripts/reference.py``, so the answers match ``tests/goldens/``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

import cv2
import numpy as np
from fastapi import Depends, FastAPI, HTTPException, Request
from starlette.datastructures import UploadFile

# The detector lives beside this file, shared with the other baselines.
sys.path.insert(0, str(Path(__file__).resolve().parent))
from yolo_detector import Detector  # noqa: E402

# uvicorn imports this module by name (needed for --workers), so the settings
# travel from the command line to create_app() through the environment.
ENV_MODEL = "FASTAPI_BENCH_MODEL"
ENV_SIZE = "FASTAPI_BENCH_SIZE"
ENV_CONF = "FASTAPI_BENCH_CONF"
ENV_IOU = "FASTAPI_BENCH_IOU"

# ------------------------------------------------------------ app


async def image_bytes(request: Request) -> bytes:
    """The uploaded image: multipart field ``file``, or the raw body for an image content type."""
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPException(422, "multipart body needs a file field named 'file'")
        data = await upload.read()
    elif content_type.startswith("image/") or content_type == "application/octet-stream":
        data = await request.body()
    else:
        raise HTTPException(415, "send the image as the body (Content-Type: image/*) or as multipart field 'file'")
    if not data:
        raise HTTPException(400, "empty image")
    return data


_BINARY = {"schema": {"type": "string", "format": "binary"}}
PREDICT_BODY = {  # the body is read by hand (two encodings), so describe it for /docs
    "requestBody": {
        "required": True,
        "content": {
            "image/png": _BINARY,
            "image/jpeg": _BINARY,
            "application/octet-stream": _BINARY,
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}},
            }},
        },
    }
}


def create_app() -> FastAPI:
    detector = Detector(
        os.environ[ENV_MODEL],
        int(os.environ.get(ENV_SIZE, "640")),
        float(os.environ.get(ENV_CONF, "0.25")),
        float(os.environ.get(ENV_IOU, "0.7")),
    )
    app = FastAPI(title="YOLOv8 FastAPI baseline")

    @app.get("/health")
    def health() -> dict:
        return {"status": "ok"}

    # A sync def: FastAPI runs it in its threadpool, so inference does not block
    # the event loop (onnxruntime releases the GIL while it runs).
    @app.post("/predict", openapi_extra=PREDICT_BODY, responses={
        400: {"description": "empty or undecodable image"},
        415: {"description": "neither an image body nor a multipart form"},
        422: {"description": "multipart form without a 'file' field"},
    })
    def predict(data: bytes = Depends(image_bytes)) -> dict:
        bgr = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if bgr is None:
            raise HTTPException(400, "cannot decode the image")
        return {"detections": detector(bgr)}

    return app


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="YOLOv8 detection model (.onnx)")
    ap.add_argument("--size", type=int, default=640, help="square input size (default 640)")
    ap.add_argument("--conf", type=float, default=0.25, help="score threshold (default 0.25)")
    ap.add_argument("--iou", type=float, default=0.7, help="NMS IoU threshold (default 0.7)")
    ap.add_argument("--host", default="127.0.0.1")
    ap.add_argument("--port", type=int, default=8000)
    ap.add_argument("--workers", type=int, default=1, help="uvicorn worker processes (default 1)")
    args = ap.parse_args(argv)
    if not Path(args.model).is_file():
        ap.error(f"model not found: {args.model}")

    import uvicorn

    os.environ[ENV_MODEL] = str(Path(args.model).resolve())
    os.environ[ENV_SIZE] = str(args.size)
    os.environ[ENV_CONF] = str(args.conf)
    os.environ[ENV_IOU] = str(args.iou)
    # An import string (not the app object) because uvicorn needs one for workers > 1.
    uvicorn.run(
        "fastapi_server:create_app", factory=True, app_dir=str(Path(__file__).resolve().parent),
        host=args.host, port=args.port, workers=args.workers,
        loop="auto", http="auto", access_log=False,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
