#!/usr/bin/python3
"""A long live run: ``inferx run MODEL rtsp://...`` against tests/live/rtsp_server.py for minutes.

    cargo build --release --features video --bin inferx
    bash scripts/live-env.sh
    /usr/bin/python3 bench/live_rtsp.py [--seconds 180] [--fps 30] [--model M] [--image PICTURE]

The server streams a still picture (a face the demo detector finds) as RTP/JPEG at ``--fps``,
faster than the model runs on a small machine. At one third and two thirds of the run it is
killed for ``--outage`` seconds and restarted at another frame size (640x480, then 1280x720,
then 640x480 again). ``inferx run --track --json`` reads it the whole time; this prints, from
its JSON Lines and its summary:

* frames detected, frames dropped (a newer one arrived first), reconnects;
* lag (arrival to result, ``lag_ms``): median, p95, max, and the median of the first and the last
  minute (a buffering reader's lag grows with the run; a freshest-frame one's does not);
* the model's own time per frame (detector and tracker, from the summary) and ``lag - model``,
  against one frame interval (``1000 / fps`` ms): the frame waits at most one interval;
* each outage's recovery: the gap between the last frame before it and the first after it;
* track ids: how many the face got (1 when tracks survive the outages).

The machine may be shared: the figures are of one run, and say so.
"""

from __future__ import annotations

import argparse
import json
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def start_server(port: int, size: str, fps: int, image: Path) -> subprocess.Popen:
    server = subprocess.Popen(
        ["/usr/bin/python3", str(REPO / "tests/live/rtsp_server.py"), "--port", str(port), "--size", size,
         "--fps", str(fps), "--image", str(image), "--seconds", "3600"],
        stdout=subprocess.PIPE, text=True)
    line = server.stdout.readline().strip()
    if not line.startswith("ready "):
        server.kill()
        sys.exit(f"the RTSP server did not start ({line!r}): run `bash scripts/live-env.sh`")
    return server


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[round(share * (len(ordered) - 1))]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=180.0)
    parser.add_argument("--fps", type=int, default=30)
    parser.add_argument("--outage", type=float, default=2.0)
    parser.add_argument("--size", type=int, default=320, help="the model's input size")
    parser.add_argument("--model", default=str(REPO / ".fixtures/models/nudenet-320n.onnx"))
    parser.add_argument("--image", default=str(REPO / ".fixtures/images/astronaut.png"))
    parser.add_argument("--inferx", default=str(REPO / "target/release/inferx"))
    args = parser.parse_args()

    port = free_port()
    sizes = ["640x480", "1280x720", "640x480"]
    server = start_server(port, sizes[0], args.fps, Path(args.image))
    url = f"rtsp://bench:secret@127.0.0.1:{port}/live"
    run = subprocess.Popen(
        [args.inferx, "run", args.model, url, "--size", str(args.size), "--track", "--json",
         "--duration", str(args.seconds)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    started = time.monotonic()
    outages: list[tuple[float, float]] = []
    state = {"server": server}

    def restarts() -> None:
        for index, size in enumerate(sizes[1:], start=1):
            time.sleep(max(0.0, started + args.seconds * index / 3 - time.monotonic()))
            state["server"].send_signal(signal.SIGKILL)
            state["server"].wait()
            down = time.monotonic() - started
            time.sleep(args.outage)
            state["server"] = start_server(port, size, args.fps, Path(args.image))
            outages.append((down * 1000.0, (time.monotonic() - started) * 1000.0))

    restarter = threading.Thread(target=restarts, daemon=True)
    restarter.start()
    records = [json.loads(line) for line in run.stdout]
    stderr = run.stderr.read()
    run.wait()
    state["server"].kill()
    if run.returncode != 0:
        print(stderr, file=sys.stderr)
        return 1
    summary = next((line for line in stderr.splitlines() if " frames in " in line), "")
    model = re.search(r"model and tracker (\d+) ms", summary)
    dropped = re.search(r"(\d+) dropped", summary)
    reconnects = re.search(r"(\d+) reconnects", summary)
    lags = [record["lag_ms"] for record in records]
    times = [record["pts_ms"] for record in records]
    first_minute = [lag for lag, at in zip(lags, times) if at < 60_000]
    last_minute = [lag for lag, at in zip(lags, times) if at > times[-1] - 60_000]
    interval = 1000.0 / args.fps
    model_ms = float(model.group(1)) if model else float("nan")
    ids = {d["track_id"] for record in records for d in record["detections"]}
    print(f"live RTSP run, {args.seconds:.0f} s, stream {args.fps} frames/s (interval {interval:.1f} ms), "
          f"model input {args.size}; one run on a shared machine")
    print(f"summary: {summary.strip()}")
    print(f"frames detected {len(records)} ({len(records) / args.seconds:.1f}/s), "
          f"dropped {dropped.group(1) if dropped else '?'}, reconnects {reconnects.group(1) if reconnects else '?'}")
    print(f"lag ms: median {statistics.median(lags):.0f}, p95 {percentile(lags, 0.95):.0f}, max {max(lags):.0f}; "
          f"first minute median {statistics.median(first_minute):.0f}, last minute median {statistics.median(last_minute):.0f}")
    excess = statistics.median(lags) - model_ms
    print(f"model and tracker per frame (median) {model_ms:.0f} ms; lag - model {excess:.0f} ms "
          f"({'within' if excess <= interval else 'beyond'} one frame interval, {interval:.1f} ms)")
    for down_ms, up_ms in outages:
        before = max((at for at in times if at <= down_ms), default=float("nan"))
        after = min((at for at in times if at >= up_ms), default=float("nan"))
        print(f"outage at {down_ms / 1000:.1f} s for {(up_ms - down_ms) / 1000:.1f} s: frames resumed "
              f"{(after - up_ms) / 1000:.2f} s after the server was back (gap {(after - before) / 1000:.2f} s)")
    print(f"track ids of the face: {sorted(ids)}")
    print(f"password in the output: {'secret' in stderr}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
