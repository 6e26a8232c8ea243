#!/usr/bin/env python3
"""`inferx run` against the Python pipeline (bench/python_pipeline.py), side by side in one run.

    cargo build --release --bin inferx
    .venv-tools/bin/python bench/python_compare.py [--inferx target/release/inferx] [--runs 10]
        [--folder-runs 3] [--copies 10] [--json PATH]

Both programs take the same model (the nudenet YOLOv8n detector at 320) and do the same work:
decode, letterbox, ``session.run``, YOLOv8 decoding with NMS, JSON out. Two measurements,
each alternating the two programs so machine noise hits both alike:

* **cold start**: one photo, the whole process from exec to exit (interpreter or binary
  start, library and model load, the first result), ``--runs`` times each, medians;
* **folder**: the nine sample photos copied ``--copies`` times (10: 90 images) in one folder,
  the whole process, ``--folder-runs`` times each, medians, as images per second; also with
  the start-up (the cold start's time) taken off. A larger folder shows the whole process
  approaching the steady state.

Then ``bench/model_limit.py`` measures the model alone, the ceiling for the folder.

Prints a markdown table; ``--json PATH`` writes the numbers.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / ".fixtures"
MODEL = FIXTURES / "models" / "nudenet-320n.onnx"
PHOTO = FIXTURES / "images" / "astronaut.png"


def timed(command: list[str]) -> float:
    started = time.perf_counter()
    result = subprocess.run(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=False)
    elapsed = time.perf_counter() - started
    if result.returncode != 0:
        sys.exit(f"`{' '.join(command)}` failed:\n{result.stderr.decode(errors='replace')}")
    return elapsed


def alternate(commands: dict[str, list[str]], runs: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {name: [] for name in commands}
    names = list(commands)
    for run in range(runs):
        for name in names if run % 2 == 0 else reversed(names):
            times[name].append(timed(commands[name]))
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inferx", default=str(ROOT / "target" / "release" / "inferx"))
    parser.add_argument("--runs", type=int, default=10)
    parser.add_argument("--folder-runs", type=int, default=3)
    parser.add_argument("--copies", type=int, default=10, help="copies of the nine photos in the folder")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args()
    if not Path(args.inferx).is_file():
        sys.exit(f"{args.inferx} is missing: run `cargo build --release --bin inferx` first")
    if not MODEL.is_file():
        sys.exit("fixtures are missing: run `python3 scripts/fixtures.py` first")
    python = [sys.executable, str(ROOT / "bench" / "python_pipeline.py"), str(MODEL)]
    inferx = [args.inferx, "run", str(MODEL), "--size", "320", "--json", "--quiet"]

    # One untimed run each: files in the page cache, inferx's optimised graph saved.
    cold = {"inferx": inferx + [str(PHOTO)], "python": python + [str(PHOTO)]}
    alternate(cold, 1)
    cold_times = alternate(cold, args.runs)

    with tempfile.TemporaryDirectory(prefix="inferx-compare-") as folder:
        photos = sorted(path for path in (FIXTURES / "images").iterdir() if path.suffix in {".png", ".jpg"})
        for copy in range(args.copies):
            for photo in photos:
                shutil.copy(photo, Path(folder) / f"{copy}-{photo.name}")
        count = len(photos) * args.copies
        folder_times = alternate({"inferx": inferx + [folder], "python": python + [folder]}, args.folder_runs)

    # The model alone, right after, on the same machine: the ceiling for the folder.
    with tempfile.NamedTemporaryFile(suffix=".json") as limit_file:
        subprocess.run([sys.executable, str(ROOT / "bench" / "model_limit.py"), "--seconds", "4",
                        "--json", limit_file.name], stdout=subprocess.DEVNULL, check=True)
        limit = json.loads(Path(limit_file.name).read_text())["best_images_per_s"]

    result = {
        "cold_start_ms": {name: statistics.median(times) * 1e3 for name, times in cold_times.items()},
        "folder_images": count,
        "folder_images_per_s": {name: count / statistics.median(times) for name, times in folder_times.items()},
        # The folder's time less the start-up (the cold start of one photo, which includes
        # one prediction: a slight overestimate of the start, so of the steady rate too).
        "folder_steady_images_per_s": {
            name: count / (statistics.median(folder_times[name]) - statistics.median(cold_times[name]))
            for name in folder_times
        },
        "model_limit_images_per_s": limit,
    }
    cold_ms, rate = result["cold_start_ms"], result["folder_images_per_s"]
    print("| | inferx run | Python pipeline | ratio |\n|---|---:|---:|---:|")
    print(f"| cold start, one photo (ms) | {cold_ms['inferx']:.0f} | {cold_ms['python']:.0f} | "
          f"{cold_ms['inferx'] / cold_ms['python']:.2f} |")
    print(f"| folder of {count} photos (images/s) | {rate['inferx']:.1f} | {rate['python']:.1f} | "
          f"{rate['inferx'] / rate['python']:.2f} |")
    steady = result["folder_steady_images_per_s"]
    print(f"| folder, start-up excluded (images/s) | {steady['inferx']:.1f} | {steady['python']:.1f} | "
          f"{steady['inferx'] / steady['python']:.2f} |")
    print(f"\nmodel alone (bench/model_limit.py, same run): {limit:.1f} images/s; inferx's folder run is at "
          f"{100 * rate['inferx'] / limit:.0f} % of it ({100 * steady['inferx'] / limit:.0f} % start-up excluded)")
    print(f"medians: cold start of {args.runs} alternating runs each, folder of {args.folder_runs}")
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
