#!/usr/bin/env python3
"""`inferx run MODEL clip.mp4 --track --json` against the model alone and the Python video pipeline.

    cargo build --release --features video --bin inferx
    .venv-ref/bin/python bench/video_compare.py [--seconds 10] [--runs 3] [--long-minutes 10]
        [--long-stride 10] [--json PATH]

Makes a 640x360 H.264 clip (30 frames/s, B-frames) of the astronaut's face crossing the coffee
photo with the ffmpeg command line, then, in turns within each run (so a busy neighbour slows
all three alike):

* **inferx**: ``target/release/inferx run MODEL clip.mp4 --track --json --size 320``; frames/s
  from its summary line (decode, preprocess, model, tracking, JSON; the model's load excluded);
* **model alone**: python onnxruntime ``session.run`` (default session: ORT picks its threads,
  as inferx's does) on every frame of the same clip, letterboxed beforehand, so nothing but the
  model is timed: the ceiling;
* **Python**: ``bench/python_video.py`` (OpenCV VideoCapture + onnxruntime + supervision 0.30.9
  ByteTrack), frames/s from its summary line (the model's load excluded too).

Then peak RSS (``wait4``'s ``ru_maxrss``) of ``inferx run --track --json`` on the 10-second clip
and on a ``--long-minutes`` clip of the same scene, both with ``--vid-stride --long-stride``
(every frame decoded, one in N detected, so ten minutes take about a minute): equal peaks
mean memory does not grow with the file's length.

The machine may be shared: compare the ratios, measured side by side, not the absolute figures.
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnxruntime as ort

sys.dont_write_bytecode = True
sys.path.insert(0, str(Path(__file__).resolve().parent))
from yolo_detector import preprocess  # noqa: E402

REPO = Path(__file__).resolve().parent.parent
MODEL = REPO / ".fixtures/models/nudenet-320n.onnx"
IMAGES = REPO / ".fixtures/images"
SIZE = 320


def make_clip(path: Path, seconds: float) -> None:
    # The face loops across the picture every 6 s, so a clip of any length has it.
    scene = (
        "[0]scale=640:360[bg];[1]crop=170:170:140:50,scale=150:150[face];"
        "[bg][face]overlay=x='mod(20+80*t\\,480)':y=110,format=yuv420p"
    )
    subprocess.run(
        ["ffmpeg", "-hide_banner", "-loglevel", "error", "-y", "-framerate", "30", "-loop", "1",
         "-i", str(IMAGES / "coffee.png"), "-framerate", "30", "-loop", "1", "-i", str(IMAGES / "astronaut.png"),
         "-filter_complex", scene, "-t", str(seconds), "-r", "30", "-c:v", "libx264", "-preset", "veryfast",
         "-bf", "3", str(path)],
        check=True,
    )


def run_timed(command: list[str]) -> tuple[str, str, float, int]:
    """stdout, stderr, wall seconds, peak RSS (KiB) of one process.

    The peak comes from ``/usr/bin/time -f %M``: a child forked from this Python process would
    count this process's own (large) resident set in its ``ru_maxrss`` until it execs.
    """
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err, \
            tempfile.NamedTemporaryFile(mode="r") as peak:
        started = time.perf_counter()
        process = subprocess.run(["/usr/bin/time", "-f", "%M", "-o", peak.name, *command], stdout=out, stderr=err)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
        peak_kib = int(peak.read().strip().splitlines()[-1])
    if process.returncode != 0:
        raise SystemExit(f"{command[0]} failed ({process.returncode}): {stderr}")
    return stdout, stderr, wall, peak_kib


def frames_per_second(stderr: str) -> float:
    match = re.search(r"\(([\d.]+) frames/s\)|: ([\d.]+) frames/s", stderr)
    if not match:
        raise SystemExit(f"no frames/s in: {stderr}")
    return float(match.group(1) or match.group(2))


def model_alone(clip: Path) -> float:
    """frames/s of ``session.run`` alone on every frame of ``clip``, letterboxed beforehand."""
    import cv2

    capture = cv2.VideoCapture(str(clip))
    tensors = []
    while True:
        ok, bgr = capture.read()
        if not ok:
            break
        tensors.append(preprocess(bgr, SIZE)[0])
    session = ort.InferenceSession(str(MODEL), providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    for x in tensors[:5]:
        session.run(None, {name: x})
    started = time.perf_counter()
    for x in tensors:
        session.run(None, {name: x})
    return len(tensors) / (time.perf_counter() - started)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inferx", default=str(REPO / "target/release/inferx"))
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--long-minutes", type=float, default=10.0)
    parser.add_argument("--long-stride", type=int, default=10)
    parser.add_argument("--memory-only", action="store_true", help="skip the speed runs")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="inferx-video-bench-") as folder:
        clip = Path(folder) / "clip.mp4"
        make_clip(clip, args.seconds)
        inferx = [args.inferx, "run", str(MODEL), str(clip), "--track", "--json", "--size", str(SIZE)]
        python = [sys.executable, str(REPO / "bench/python_video.py"), str(MODEL), str(clip), "--size", str(SIZE)]
        rows = []
        for run in range(0 if args.memory_only else args.runs):
            _, inferx_err, _, _ = run_timed(inferx)
            alone = model_alone(clip)
            _, python_err, _, _ = run_timed(python)
            row = {
                "run": run + 1,
                "inferx_fps": frames_per_second(inferx_err),
                "model_alone_fps": alone,
                "python_fps": frames_per_second(python_err),
            }
            row["inferx_share_of_model"] = row["inferx_fps"] / alone
            row["inferx_over_python"] = row["inferx_fps"] / row["python_fps"]
            rows.append(row)
            print(json.dumps(row), file=sys.stderr)
        long_clip = Path(folder) / "long.mp4"
        make_clip(long_clip, args.long_minutes * 60)
        memory = {}
        for name, path in [("short", clip), ("long", long_clip)]:
            command = [args.inferx, "run", str(MODEL), str(path), "--track", "--json", "--size", str(SIZE),
                       "--vid-stride", str(args.long_stride)]
            stdout, stderr, wall, peak_kib = run_timed(command)
            memory[name] = {"frames_detected": stdout.count("\n"), "peak_rss_mib": peak_kib / 1024, "wall_s": wall}
    print("| run | inferx frames/s | model alone frames/s | inferx / model | Python frames/s | inferx / Python |")
    print("|---:|---:|---:|---:|---:|---:|")
    for row in rows:
        print(f"| {row['run']} | {row['inferx_fps']:.1f} | {row['model_alone_fps']:.1f} | "
              f"{row['inferx_share_of_model']:.2f} | {row['python_fps']:.1f} | {row['inferx_over_python']:.2f} |")
    median = {key: statistics.median(row[key] for row in rows) if rows else None for key in
              ("inferx_share_of_model", "inferx_over_python")}
    if rows:
        print(f"\nmedian: inferx at {median['inferx_share_of_model']:.0%} of the model alone, "
              f"{median['inferx_over_python']:.2f}x the Python pipeline")
    print(f"\npeak RSS, --vid-stride {args.long_stride}: {args.seconds:g} s clip "
          f"{memory['short']['peak_rss_mib']:.1f} MiB ({memory['short']['frames_detected']} frames detected), "
          f"{args.long_minutes:g} min clip {memory['long']['peak_rss_mib']:.1f} MiB "
          f"({memory['long']['frames_detected']} frames detected, {memory['long']['wall_s']:.0f} s)")
    if args.json:
        args.json.write_text(json.dumps({"runs": rows, "median": median, "memory": memory}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
