#!/usr/bin/env python3
"""How many images/s the model alone does on this machine (python onnxruntime, CPU).

    .venv-tools/bin/python bench/model_limit.py [--model M] [--size 320] [--seconds 5] [--json PATH]

The ceiling for any server of this model here: nothing but ``session.run`` on
one fixed, already letterboxed input (``--image``, by the same code as the
FastAPI baseline), so decode, pre/post-processing and HTTP cost nothing.
onnxruntime is the version pinned in scripts/requirements-tools.txt, the same
as requirements-reference.txt.

Configurations, each timed for ``--seconds`` after ``--warmup`` seconds:

* ``1 session, batch 1``: default session options (ORT picks its threads).
* ``1 session, batch 4`` / ``batch 8``: the same session, the input repeated.
* ``N sessions x 1 thread, batch 1``: N = ``--sessions`` (default: the CPU
  count) sessions with ``intra_op_num_threads=1``, each driven by its own
  Python thread (ORT releases the GIL inside ``run``), as a server with one
  model per worker would.

``--single-only`` measures the first configuration alone.

Prints a table; ``--json`` also writes the numbers, with ``best_images_per_s``
and ``batch1_p50_ms`` (single session, batch 1) at the top level.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import threading
import time
from pathlib import Path

import cv2
import numpy as np
import onnxruntime as ort

sys.dont_write_bytecode = True  # keep bench/ free of __pycache__
sys.path.insert(0, str(Path(__file__).resolve().parent))
from yolo_detector import preprocess  # noqa: E402  (same input as the baseline server)

REPO_ROOT = Path(__file__).resolve().parent.parent


def make_session(model: str, threads: int | None) -> ort.InferenceSession:
    so = ort.SessionOptions()
    if threads is not None:
        so.intra_op_num_threads = threads
        so.inter_op_num_threads = 1
    return ort.InferenceSession(model, so, providers=["CPUExecutionProvider"])


def drive(session: ort.InferenceSession, x: np.ndarray, warmup_s: float, seconds: float,
          start: threading.Barrier | None = None) -> tuple[list[float], float]:
    """Run ``session`` on ``x`` back to back; return the timed window's per-call latencies and wall time (s)."""
    name = session.get_inputs()[0].name
    feed = {name: x}
    end = time.perf_counter() + warmup_s
    while True:  # at least one warm-up call, even with --warmup 0
        session.run(None, feed)
        if time.perf_counter() >= end:
            break
    if start is not None:
        start.wait()  # every thread starts timing together
    latencies = []
    begin = time.perf_counter()
    end = begin + seconds
    while True:
        t0 = time.perf_counter()
        session.run(None, feed)
        t1 = time.perf_counter()
        latencies.append(t1 - t0)
        if t1 >= end:
            return latencies, t1 - begin


def percentile_ms(latencies: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(latencies), q) * 1e3)


def result(label: str, sessions: int, threads: str, batch: int, wall_s: float,
           latencies: list[float]) -> dict:
    calls = len(latencies)
    return {
        "config": label,
        "sessions": sessions,
        "intra_op_threads": threads,
        "batch": batch,
        "calls": calls,
        "images": calls * batch,
        "seconds": round(wall_s, 3),
        "images_per_s": round(calls * batch / wall_s, 2),
        "p50_ms_per_call": round(percentile_ms(latencies, 50), 3),
        "p99_ms_per_call": round(percentile_ms(latencies, 99), 3),
    }


def single_session(model: str, x1: np.ndarray, batch: int, warmup_s: float, seconds: float,
                   session: ort.InferenceSession | None = None) -> tuple[dict, ort.InferenceSession]:
    session = session or make_session(model, None)
    x = np.ascontiguousarray(np.repeat(x1, batch, axis=0))
    lat, wall = drive(session, x, warmup_s, seconds)
    return result(f"1 session, batch {batch}", 1, "default", batch, wall, lat), session


def many_sessions(model: str, x1: np.ndarray, n: int, warmup_s: float, seconds: float) -> dict:
    sessions = [make_session(model, 1) for _ in range(n)]
    start = threading.Barrier(n + 1)
    per_thread: list[list[float]] = [[] for _ in range(n)]

    def worker(i: int) -> None:
        per_thread[i] = drive(sessions[i], x1, warmup_s, seconds, start)[0]

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat = [v for p in per_thread for v in p]
    return result(f"{n} sessions x 1 thread, batch 1", n, "1", 1, wall, lat)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", default=str(REPO_ROOT / ".fixtures/models/nudenet-320n.onnx"))
    ap.add_argument("--image", default=str(REPO_ROOT / ".fixtures/images/astronaut.png"),
                    help="image letterboxed once into the fixed input")
    ap.add_argument("--size", type=int, default=320, help="square input size (default 320)")
    ap.add_argument("--seconds", type=float, default=5.0, help="timed seconds per configuration (default 5)")
    ap.add_argument("--warmup", type=float, default=1.0, help="warm-up seconds per configuration (default 1)")
    ap.add_argument("--sessions", type=int, default=os.cpu_count() or 1,
                    help="sessions for the one-thread-each configuration (default: CPU count)")
    ap.add_argument("--single-only", action="store_true",
                    help="only `1 session, batch 1`: the latency a lone request could have "
                         "(bench/server_load.sh measures it just before and after each c=1 run)")
    ap.add_argument("--json", type=Path, help="also write the results here")
    args = ap.parse_args(argv)
    for p in (args.model, args.image):
        if not Path(p).is_file():
            ap.error(f"not found: {p} (run `python3 scripts/fixtures.py`)")

    bgr = cv2.imread(args.image, cv2.IMREAD_COLOR)
    x1, _, _, _ = preprocess(bgr, args.size)

    load_before = os.getloadavg()
    results = []
    r, session = single_session(args.model, x1, 1, args.warmup, args.seconds)
    results.append(r)
    if not args.single_only:
        for batch in (4, 8):
            results.append(single_session(args.model, x1, batch, args.warmup, args.seconds, session)[0])
        del session
        results.append(many_sessions(args.model, x1, args.sessions, args.warmup, args.seconds))
    load_after = os.getloadavg()

    best = max(results, key=lambda r: r["images_per_s"])
    out = {
        "model": Path(args.model).name,
        "image": Path(args.image).name,
        "size": args.size,
        "onnxruntime": ort.__version__,
        "cpu_count": os.cpu_count(),
        "machine": platform.machine(),
        "seconds_per_config": args.seconds,
        "load_average_before_after": [round(load_before[0], 2), round(load_after[0], 2)],
        "best_images_per_s": best["images_per_s"],
        "best_config": best["config"],
        "batch1_p50_ms": results[0]["p50_ms_per_call"],
        "configs": results,
    }

    print(f"model limit: {out['model']} at {args.size}x{args.size}, onnxruntime {out['onnxruntime']}, "
          f"{out['cpu_count']} CPUs, load average {load_before[0]:.2f} -> {load_after[0]:.2f}")
    print()
    print("| config | images/s | p50 ms/call | p99 ms/call | calls |")
    print("|---|---:|---:|---:|---:|")
    for r in results:
        print(f"| {r['config']} | {r['images_per_s']:.1f} | {r['p50_ms_per_call']:.2f} | "
              f"{r['p99_ms_per_call']:.2f} | {r['calls']} |")
    print()
    print(f"best: {best['images_per_s']:.1f} images/s ({best['config']}); "
          f"batch-1 single-session p50 {out['batch1_p50_ms']:.2f} ms")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(out, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
