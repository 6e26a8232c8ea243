#!/usr/bin/env bash
# The GPU path end to end in one short run, on a machine with an NVIDIA GPU and no network.
#
#   bash scripts/gpu-check.sh pack [BUNDLE]    # here: one compressed bundle, under 40 MB
#   bash scripts/gpu-check.sh run BUNDLE [OUT] # there: the checks, reports under OUT/gpu-check
#   bash scripts/gpu-check.sh selftest [OUT]   # pack, then run here (CI: the fallback path)
#
# `pack` puts the inferx binary (a release build, or INFERX_BIN), the CPU ONNX Runtime library,
# ONNX Runtime's WebGPU plugin, the demo detector and the sample photos into BUNDLE (default
# target/gpu-check.tar.xz) and refuses a bundle of 40 MB or more. The CUDA and TensorRT
# libraries are hundreds of MB: they are the GPU machine's, used where present
# (INFERX_GPU_RUNTIME: a folder with onnxruntime-gpu's libonnxruntime and its CUDA/TensorRT
# providers; else an `onnxruntime-gpu` Python package; CUDA, cuDNN and TensorRT on the
# library path).
#
# `run` (about 5 minutes with a TensorRT engine build) prints `inferx devices`; runs the sample
# photos through cpu, webgpu, cuda, tensorrt and tensorrt with FP16, each with
# --strict-device, comparing every detection with the CPU's (same class, boxes within 1 px,
# scores within 1e-3; FP16 differences are reported, not failed); starts TensorRT twice to
# time the engine build against the warm engine cache; benchmarks each usable device at
# batch 1 and 8; and writes report.json, report.md and every raw output under OUT/gpu-check
# (OUT defaults to $OUT, else the current folder). GPU_CHECK_ITERATIONS sets the timed runs
# per benchmark configuration (default 20 on the CPU runtime, 5 times as many on the GPU's)
# and GPU_CHECK_XZ_LEVEL the bundle's compression (default 6). A device that is not usable here is
# reported with its reason (the fallback path), never measured as another. Exit status 1 when
# a usable device disagrees with the CPU or the CPU itself fails.
set -euo pipefail

LIMIT_BYTES=$((40 * 1000 * 1000))
MODEL_NAME=nudenet-320n.onnx
# Timed runs per benchmark configuration (CI's fallback run takes fewer), and the xz level of
# the bundle.
ITERATIONS=${GPU_CHECK_ITERATIONS:-20}
XZ_LEVEL=${GPU_CHECK_XZ_LEVEL:-6}
# xz's x86 filter packs machine code a tenth tighter (a debug binary: 40.1 -> 35.1 MB in all).
XZ_FILTERS=(--lzma2=preset="$XZ_LEVEL")
[ "$(uname -m)" = x86_64 ] && XZ_FILTERS=(--x86 "${XZ_FILTERS[@]}")
# Temporary folders, removed however the script ends.
SCRATCH=$(mktemp -d)
trap 'rm -rf "$SCRATCH"' EXIT
repo() { cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd; }

# The first of the files given that exists (a glob that matched nothing stays unexpanded).
first() {
    local file
    for file in "$@"; do
        if [ -e "$file" ]; then
            echo "$file"
            return
        fi
    done
}

die() {
    echo "gpu-check: $*" >&2
    exit 2
}

pack() {
    local root bundle binary runtime plugin staging=$SCRATCH/pack
    root=$(repo)
    bundle=${1:-$root/target/gpu-check.tar.xz}
    binary=${INFERX_BIN:-}
    if [ -z "$binary" ]; then
        (cd "$root" && cargo build --release --quiet --bin inferx)
        binary=$root/target/release/inferx
    fi
    [ -x "$binary" ] || die "no inferx binary at $binary"
    runtime=$("$binary" runtime path) || die "no ONNX Runtime: run \`inferx runtime install\`"
    plugin=$("$binary" runtime install --webgpu 2>/dev/null | tail -n 1) ||
        die "no WebGPU plugin: run \`inferx runtime install --webgpu\` where PyPI is reachable"
    [ -f "$root/.fixtures/models/$MODEL_NAME" ] || die "no demo model: run \`bash scripts/setup.sh --quick\`"
    mkdir -p "$staging/gpu-check/lib" "$staging/gpu-check/photos"
    # Symbols only slow the copy down; the checks need none.
    cp "$binary" "$staging/gpu-check/inferx"
    strip "$staging/gpu-check/inferx" 2>/dev/null || true
    cp "$runtime" "$staging/gpu-check/lib/"
    cp "$plugin" "$staging/gpu-check/lib/"
    cp "$root/.fixtures/models/$MODEL_NAME" "$staging/gpu-check/"
    cp "$root"/.fixtures/images/*.{jpg,png} "$staging/gpu-check/photos/"
    cp "$root/scripts/gpu-check.sh" "$staging/gpu-check/"
    {
        echo "inferx $("$binary" --version | awk '{print $2}') ($(cd "$root" && git rev-parse --short HEAD 2>/dev/null || echo unknown))"
        echo "onnxruntime $(basename "$runtime")"
        echo "webgpu plugin $(basename "$(dirname "$plugin")")"
        echo "model $MODEL_NAME $(sha256sum "$root/.fixtures/models/$MODEL_NAME" | cut -c1-64)"
    } >"$staging/gpu-check/MANIFEST"
    mkdir -p "$(dirname "$bundle")"
    tar -C "$staging" -cf - gpu-check | xz "${XZ_FILTERS[@]}" -T0 >"$bundle.partial"
    mv "$bundle.partial" "$bundle"
    local size
    size=$(stat -c %s "$bundle")
    echo "gpu-check: bundle $bundle: $((size / 1000)) kB (limit $((LIMIT_BYTES / 1000)) kB)"
    [ "$size" -lt "$LIMIT_BYTES" ] || die "the bundle is $size bytes, over the 40 MB a short lease can carry"
}

# A folder holding onnxruntime-gpu's libraries, when this machine has one.
gpu_runtime_dir() {
    if [ -n "${INFERX_GPU_RUNTIME:-}" ] && [ -d "$INFERX_GPU_RUNTIME" ]; then
        echo "$INFERX_GPU_RUNTIME"
        return
    fi
    local capi
    capi=$(python3 -c 'import onnxruntime, os; print(os.path.join(os.path.dirname(onnxruntime.__file__), "capi"))' \
        2>/dev/null) || return 0
    if compgen -G "$capi/libonnxruntime_providers_cuda.so" >/dev/null; then
        echo "$capi"
    fi
}

run_checks() {
    local bundle=$1 out=${2:-${OUT:-.}}
    [ -e "$bundle" ] || die "no bundle at $bundle"
    local work=$SCRATCH/run report
    mkdir -p "$work"
    if [ -d "$bundle" ]; then
        cp -r "$bundle" "$work/gpu-check"
    else
        xz -dc "$bundle" | tar -C "$work" -xf -
    fi
    local kit=$work/gpu-check
    report=$out/gpu-check
    mkdir -p "$report"
    local inferx=$kit/inferx cpu_runtime gpu_runtime
    cpu_runtime=$(first "$kit"/lib/libonnxruntime.so* "$kit"/lib/libonnxruntime*.dylib)
    gpu_runtime=$(gpu_runtime_dir)
    local gpu_library=""
    [ -n "$gpu_runtime" ] && gpu_library=$(first "$gpu_runtime"/libonnxruntime.so*)
    export INFERX_CACHE_DIR=$work/cache INFERX_WEBGPU_PLUGIN
    INFERX_WEBGPU_PLUGIN=$(first "$kit"/lib/*onnxruntime_providers_webgpu*)
    cp "$kit/MANIFEST" "$report/MANIFEST"
    echo "== inferx devices (bundled CPU runtime)"
    ORT_DYLIB_PATH=$cpu_runtime "$inferx" devices | tee "$report/devices.txt"
    ORT_DYLIB_PATH=$cpu_runtime "$inferx" devices --json >"$report/devices.json"
    if [ -n "$gpu_runtime" ]; then
        echo "== inferx devices (onnxruntime-gpu in $gpu_runtime)"
        ORT_DYLIB_PATH=$gpu_library "$inferx" devices --json \
            >"$report/devices-gpu-runtime.json" || true
    fi
    local variant device runtime fp16 started elapsed_ms
    for variant in cpu webgpu cuda tensorrt tensorrt-fp16 tensorrt-warm; do
        device=${variant%%-*}
        fp16=0
        [ "$variant" = tensorrt-fp16 ] && fp16=1
        runtime=$cpu_runtime
        case $device in
            cuda | tensorrt)
                if [ -z "$gpu_runtime" ]; then
                    echo "no onnxruntime-gpu libraries on this machine (set INFERX_GPU_RUNTIME)" >"$report/$variant.log"
                    echo '{"status": "skipped"}' >"$report/$variant.status.json"
                    continue
                fi
                runtime=$gpu_library
                ;;
        esac
        echo "== $variant"
        started=$(date +%s%N)
        if ORT_DYLIB_PATH=$runtime INFERX_TRT_FP16=$fp16 "$inferx" run "$kit/$MODEL_NAME" "$kit/photos" \
            --device "$device" --strict-device --json -v >"$report/$variant.json" 2>"$report/$variant.log"; then
            elapsed_ms=$((($(date +%s%N) - started) / 1000000))
            echo "{\"status\": \"ran\", \"wall_ms\": $elapsed_ms}" >"$report/$variant.status.json"
        else
            echo '{"status": "not usable"}' >"$report/$variant.status.json"
            tail -n 1 "$report/$variant.log"
        fi
    done
    # Each device at batch 1 and 8, on the runtime that has it; cold start with and without
    # the compiled-model cache (the benchmark's own).
    ORT_DYLIB_PATH=$cpu_runtime "$inferx" benchmark "$kit/$MODEL_NAME" --devices cpu,webgpu --batch 1,8 \
        --iterations "$ITERATIONS" --warmup 3 --json --no-history >"$report/benchmark-cpu-runtime.json" 2>"$report/benchmark-cpu-runtime.log"
    if [ -n "$gpu_runtime" ]; then
        ORT_DYLIB_PATH=$gpu_library "$inferx" benchmark "$kit/$MODEL_NAME" \
            --devices cuda,tensorrt --batch 1,8 --iterations "$((ITERATIONS * 5))" --warmup 5 --json --no-history \
            >"$report/benchmark-gpu-runtime.json" 2>"$report/benchmark-gpu-runtime.log" || true
    fi
    python3 - "$report" <<'PY'
import json, sys
from pathlib import Path

report = Path(sys.argv[1])
BOX_PX, SCORE = 1.0, 1e-3


def load(name):
    path = report / name
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return None


def detections(records):
    return {
        Path(r["image"]).name: [
            (d["class_id"], d["score"], [d["box"][k] for k in ("x1", "y1", "x2", "y2")]) for d in r.get("detections", [])
        ]
        for r in records
    }


def compare(base, other):
    """The worst box and score differences, and what does not pair up (class, order)."""
    worst_box = worst_score = 0.0
    problems = []
    for image, expected in base.items():
        got = other.get(image)
        if got is None:
            problems.append(f"{image}: missing")
            continue
        if len(got) != len(expected):
            problems.append(f"{image}: {len(got)} detections, cpu has {len(expected)}")
        # Each CPU detection against the nearest unpaired one of its class: scores that tie
        # may come in another order.
        unpaired = list(got)
        for class_a, score_a, box_a in expected:
            same_class = [d for d in unpaired if d[0] == class_a]
            if not same_class:
                problems.append(f"{image}: no class {class_a} detection where cpu has one")
                continue
            nearest = min(same_class, key=lambda d: max(abs(a - b) for a, b in zip(box_a, d[2])))
            unpaired.remove(nearest)
            worst_score = max(worst_score, abs(score_a - nearest[1]))
            worst_box = max(worst_box, max(abs(a - b) for a, b in zip(box_a, nearest[2])))
    return worst_box, worst_score, problems


cpu_records = load("cpu.json")
summary = {"manifest": (report / "MANIFEST").read_text().splitlines(), "devices": {}, "benchmarks": []}
failed = cpu_records is None
base = detections(cpu_records or [])
for variant in ["cpu", "webgpu", "cuda", "tensorrt", "tensorrt-fp16", "tensorrt-warm"]:
    status = load(f"{variant}.status.json") or {"status": "skipped"}
    entry = dict(status)
    log = (report / f"{variant}.log").read_text(errors="replace") if (report / f"{variant}.log").exists() else ""
    if status["status"] == "ran":
        records = load(f"{variant}.json") or []
        box, score, problems = compare(base, detections(records))
        within = box <= BOX_PX and score <= SCORE and not problems
        entry.update(max_box_px=round(box, 4), max_score=round(score, 6), problems=problems)
        entry["detections"] = sum(len(r.get("detections", [])) for r in records)
        if variant == "tensorrt-fp16":
            entry["verdict"] = "fp16: within cpu tolerance" if within else "fp16: differs (reported, not failed)"
        else:
            entry["verdict"] = "matches cpu" if within else "DIFFERS from cpu"
            failed |= not within
        engine = [line for line in log.splitlines() if "TensorRT engines" in line]
        if engine:
            entry["engine_log"] = engine[-1].strip()
    else:
        lines = [line.strip() for line in log.splitlines() if line.strip()]
        entry["reason"] = lines[-1] if lines else ""
    summary["devices"][variant] = entry
for name in ["benchmark-cpu-runtime.json", "benchmark-gpu-runtime.json"]:
    bench = load(name)
    for result in (bench or {}).get("results", []):
        cold = result.get("cold_start") or {}
        summary["benchmarks"].append({
            "device": result["device"], "batch": result["batch"], "status": result["status"],
            "reason": result.get("reason"), "device_used": result.get("device_used"),
            "p50_ms": (result.get("latency_ms") or {}).get("p50"), "img_per_s": result.get("throughput"),
            "cold_session_ms": cold.get("session_ms"), "warm_session_ms": cold.get("warm_session_ms"),
            "cache": cold.get("cache"),
        })
summary["passed"] = not failed
(report / "report.json").write_text(json.dumps(summary, indent=2) + "\n")

fmt = lambda value, digits=2: "-" if value is None else f"{value:.{digits}f}"
lines = ["# GPU check", "", *[f"- {line}" for line in summary["manifest"]], "",
         "## Detections against the CPU (boxes within 1 px, scores within 1e-3)", "",
         "| run | status | wall ms | detections | max box px | max score | verdict / reason |", "|---|---|---|---|---|---|---|"]
for variant, entry in summary["devices"].items():
    verdict = entry.get("verdict") or entry.get("reason", "")
    lines.append(f"| {variant} | {entry['status']} | {fmt(entry.get('wall_ms'), 0)} | {entry.get('detections', '-')} | "
                 f"{fmt(entry.get('max_box_px'), 3)} | {fmt(entry.get('max_score'), 5)} | {verdict} |")
lines += ["", "## Benchmarks (model only; cold = session with nothing cached, warm = from the cache it filled)", "",
          "| device | batch | used | p50 ms | img/s | cold session ms | warm session ms | cache | status |",
          "|---|---|---|---|---|---|---|---|---|"]
for b in summary["benchmarks"]:
    lines.append(f"| {b['device']} | {b['batch']} | {b['device_used'] or '-'} | {fmt(b['p50_ms'])} | {fmt(b['img_per_s'], 1)} | "
                 f"{fmt(b['cold_session_ms'], 0)} | {fmt(b['warm_session_ms'], 0)} | {b['cache'] or '-'} | {b['reason'] or b['status']} |")
lines += ["", f"**{'PASSED' if summary['passed'] else 'FAILED'}**", ""]
(report / "report.md").write_text("\n".join(lines))
print("\n".join(lines))
sys.exit(0 if summary["passed"] else 1)
PY
}

case ${1:-} in
    pack) pack "${2:-}" ;;
    run)
        [ $# -ge 2 ] || die "usage: gpu-check.sh run BUNDLE [OUT]"
        run_checks "$2" "${3:-}"
        ;;
    selftest)
        pack "$SCRATCH/gpu-check.tar.xz"
        run_checks "$SCRATCH/gpu-check.tar.xz" "${2:-}"
        ;;
    *) die "usage: gpu-check.sh pack [BUNDLE] | run BUNDLE [OUT] | selftest [OUT]" ;;
esac
