#!/usr/bin/env bash
# HTTP load test, side by side in one run: the InferX-generated server (`inferx`)
# and the hand-written FastAPI baseline (`fastapi`, bench/fastapi_server.py), on
# the same model at the same input size with the same image, plus the model's
# own limit on this machine (bench/model_limit.py) measured in the same run.
#
#   bench/server_load.sh                      # both servers
#   SERVERS=fastapi bench/server_load.sh      # a subset (space-separated)
#
# Per server: start it on a free port, wait until it is ready, record its RSS,
# send RSS_WARMUP_REQUESTS /predict requests and record the RSS, the rest of
# RSS_REQUESTS and record it again (growth after the warm-up is what would keep
# growing), then for each
# concurrency c in CONCURRENCY run wrk for DURATION s against POST /predict
# (the raw image bytes as the body) with c connections and min(2, c) threads,
# and once against GET /health at c=32. Servers run one at a time; wrk runs on
# the same machine, so it takes some CPU from the server (the same for both).
#
# Output: a markdown table on stdout and target/bench/server.json; the raw wrk
# and server logs in target/bench/server-logs/.
#
# Knobs (environment): SERVERS ("inferx fastapi"), DURATION (10), CONCURRENCY
# ("1 8 32"), IMAGE (.fixtures/images/astronaut.png; paths are relative to the
# repository root), RSS_REQUESTS (10000), RSS_WARMUP_REQUESTS (1000),
# RSS_CONCURRENCY (8), MODEL_LIMIT_SECONDS (5), C1_SLICES (5) and
# C1_SLICE_SECONDS (3: a lone request is compared with the model alone, one
# session, in that many alternating slices of that length), READY_TIMEOUT (180 s),
# SKIP_BUILD=1 (reuse the inferx server already built, do not regenerate it).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

SERVERS="${SERVERS:-inferx fastapi}"
DURATION="${DURATION:-10}"
CONCURRENCY="${CONCURRENCY:-1 8 32}"
HEALTH_CONCURRENCY=32
MODEL=".fixtures/models/nudenet-320n.onnx"
SIZE=320
IMAGE="${IMAGE:-.fixtures/images/astronaut.png}"
RSS_REQUESTS="${RSS_REQUESTS:-10000}"
RSS_WARMUP_REQUESTS="${RSS_WARMUP_REQUESTS:-1000}"
RSS_CONCURRENCY="${RSS_CONCURRENCY:-8}"
MODEL_LIMIT_SECONDS="${MODEL_LIMIT_SECONDS:-5}"
C1_SLICES="${C1_SLICES:-5}"
C1_SLICE_SECONDS="${C1_SLICE_SECONDS:-3}"
READY_TIMEOUT="${READY_TIMEOUT:-180}"
SKIP_BUILD="${SKIP_BUILD:-0}"

out_dir="$repo/target/bench"
logs="$out_dir/server-logs"
py="$repo/.venv-tools/bin/python"
# Our server, exactly as a user gets it: the CLI generates the project, which is
# built on its own (a separate target dir, so it never touches the workspace's).
project="$out_dir/inferx-bench-server"
server_bin="$repo/target/generated/release/inferx-bench-server"
cli_bin="${CARGO_TARGET_DIR:-$repo/target}/release/inferx"

log() { echo "server_load: $*" >&2; }
die() { log "error: $*"; exit 1; }

case "$IMAGE" in
    *.png) content_type=image/png ;;
    *.jpg | *.jpeg) content_type=image/jpeg ;;
    *) die "IMAGE must be a .png or .jpg file: $IMAGE" ;;
esac
for s in $SERVERS; do
    [[ "$s" == inferx || "$s" == fastapi ]] || die "unknown server '$s' in SERVERS (known: inferx fastapi)"
done
((RSS_WARMUP_REQUESTS > 0 && RSS_WARMUP_REQUESTS < RSS_REQUESTS)) ||
    die "RSS_WARMUP_REQUESTS ($RSS_WARMUP_REQUESTS) must be above 0 and below RSS_REQUESTS ($RSS_REQUESTS)"

# ------------------------------------------------------------ processes

pids=()  # what we started and have not stopped yet: the server, a background wrk
tmp="$(mktemp -d)"

untrack() {
    local keep=() p
    for p in "${pids[@]}"; do [[ "$p" == "$1" ]] || keep+=("$p"); done
    pids=("${keep[@]}")
}

stop_pid() {
    local pid="$1"
    untrack "$pid"
    kill -TERM "$pid" 2>/dev/null || return 0
    for _ in $(seq 50); do  # up to 10 s for a graceful shutdown
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.2
    done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local pid
    for pid in "${pids[@]}"; do stop_pid "$pid"; done
    rm -rf "$tmp"
    return 0
}
trap cleanup EXIT
trap 'exit 130' INT TERM  # run the EXIT trap on ctrl-c too

free_port() {
    # Bind port 0 and let the kernel choose; the tiny race until the server binds is acceptable here.
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# kB of a /proc/PID/status field (VmRSS: now, VmHWM: peak).
proc_kib() { awk -v key="$2:" '$1 == key { print $2 }' "/proc/$1/status"; }

# CPU seconds all CPUs spent busy since boot (user, nice, system, irq, softirq, steal).
cpu_busy_s() { awk -v hz="$(getconf CLK_TCK)" '$1 == "cpu" { print ($2 + $3 + $4 + $7 + $8 + $9) / hz }' /proc/stat; }

# Sets own_cpu_s: CPU seconds of this shell and the children it has waited for
# (servers, wrk, python), from the times builtin. Never call it inside $( ):
# a subshell has its own, empty counters.
own_cpu() {
    times >"$tmp/times"
    own_cpu_s="$(awk '{ for (i = 1; i <= 2; i++) { split($i, t, /[ms]/); s += t[1] * 60 + t[2] } }
                      END { print s }' "$tmp/times")"
}

wait_ready() {  # pid url log
    local pid="$1" url="$2" server_log="$3" deadline=$((SECONDS + READY_TIMEOUT))
    until curl -sf -o /dev/null "$url"; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 30 "$server_log" >&2 || true
            die "the server exited before it was ready (log: $server_log)"
        fi
        ((SECONDS < deadline)) || die "the server was not ready within ${READY_TIMEOUT}s ($url; log: $server_log)"
        sleep 0.2
    done
}

# ------------------------------------------------------------ prerequisites

if [[ ! -f "$MODEL" || ! -f "$IMAGE" ]]; then
    python3 scripts/fixtures.py >&2
fi
[[ -f "$IMAGE" ]] || die "image not found: $IMAGE"
scripts/tools-env.sh
command -v curl >/dev/null || die "curl is needed (apt-get install -y curl)"
if ! command -v wrk >/dev/null; then
    if [[ "$(id -u)" == 0 ]]; then
        log "installing wrk (Debian package)"
        apt-get install -y wrk >&2 || { apt-get update >&2 && apt-get install -y wrk >&2; }
    else
        die "wrk is needed: sudo apt-get install -y wrk"
    fi
fi
mkdir -p "$out_dir"
rm -rf "$logs"
mkdir -p "$logs"

# yaml_set FILE BLOCK KEY VALUE: set KEY, a direct child of the top-level mapping
# BLOCK, keeping its indentation (the comments elsewhere stay); fails unless
# exactly one line matched.
yaml_set() {
    awk -v block="$2" -v key="$3" -v value="$4" '
        /^[^[:space:]#]/ { inside = ($0 ~ "^" block ":[[:space:]]*(#.*)?$"); indent = "" }
        inside && indent == "" && match($0, /^[[:space:]]+[^[:space:]#]/) { indent = substr($0, 1, RLENGTH - 1) }
        inside && indent != "" && index($0, indent key ":") == 1 { $0 = indent key ": " value; n++ }
        { print }
        END { exit n == 1 ? 0 : 1 }
    ' "$1" >"$1.tmp" || { rm -f "$1.tmp"; die "could not find $2.$3 in $1"; }
    mv "$1.tmp" "$1"
}

build_inferx() {
    if [[ "$SKIP_BUILD" == 1 ]]; then
        [[ -x "$server_bin" && -f "$project/inferx.yaml" ]] ||
            die "SKIP_BUILD=1 but $server_bin or $project/inferx.yaml is missing; run once without it"
        return
    fi
    log "building the inferx CLI (cargo build --release)"
    cargo build --release >&2
    "$cli_bin" template yolo --name inferx-bench-server --model "$MODEL" --api --dir "$out_dir" --force >&2
    local config="$project/inferx.yaml"
    # Both servers at $SIZE, whatever size the model's metadata suggests.
    yaml_set "$config" input width "$SIZE"
    yaml_set "$config" input height "$SIZE"
    # The FastAPI baseline runs without an access log; so does ours, or the
    # comparison would time one JSON line per request on one side only.
    yaml_set "$config" server access_log false
    log "building the generated server (CARGO_TARGET_DIR=target/generated)"
    CARGO_TARGET_DIR="$repo/target/generated" cargo build --release --manifest-path "$project/Cargo.toml" >&2
    # The server loads ONNX Runtime at start; the default version is the one the
    # FastAPI baseline's onnxruntime wheel carries (1.31.1). A no-op when present.
    "$cli_bin" runtime install >&2
}

# ------------------------------------------------------------ measurements

# wrk_run NAME URL CONNECTIONS DURATION_S [BODY_FILE CONTENT_TYPE]; the
# WRK_JSON line of bench/wrk_bench.lua goes to $logs/NAME.json.
wrk_run() {
    local name="$1" url="$2" c="$3" duration="$4"
    shift 4
    local threads=$((c < 2 ? c : 2))
    # --timeout 30s: a slow answer under load is a latency to record, not an error
    # (wrk's default of 2 s would drop it from the histogram).
    wrk -t"$threads" -c"$c" -d"${duration}s" --timeout 30s --latency \
        -s bench/wrk_bench.lua "$url" -- "$@" >"$logs/$name.txt"
    grep '^WRK_JSON ' "$logs/$name.txt" | cut -d' ' -f2- >"$logs/$name.json"
    [[ -s "$logs/$name.json" ]] || die "wrk printed no result for $name (see $logs/$name.txt)"
}

# A fixed number of /predict requests (not a duration), for the RSS figures.
wrk_count() {  # name url count
    local name="$1" url="$2" count="$3" c="$RSS_CONCURRENCY"
    local threads=$((c < 2 ? c : 2)) done_dir="$tmp/done-$1"
    mkdir -p "$done_dir"
    WRK_REQUESTS_PER_THREAD=$(((count + threads - 1) / threads)) WRK_DONE_DIR="$done_dir" \
        wrk -t"$threads" -c"$c" -d3600s --timeout 30s -s bench/wrk_bench.lua "$url" \
        -- "$IMAGE" "$content_type" >"$logs/$name.txt" &
    local wrk_pid=$!
    pids+=("$wrk_pid")
    # wrk only reports at the end of -d; stop it once every thread has its count.
    while kill -0 "$wrk_pid" 2>/dev/null &&
        (($(find "$done_dir" -name 'thread-*' | wc -l) < threads)); do
        sleep 0.2
    done
    kill -INT "$wrk_pid" 2>/dev/null || true
    wait "$wrk_pid" || die "wrk failed for $name (see $logs/$name.txt)"
    untrack "$wrk_pid"
    grep '^WRK_JSON ' "$logs/$name.txt" | cut -d' ' -f2- >"$logs/$name.json"
}

# The model alone, one session, batch 1, for C1_SLICE_SECONDS, into $logs/NAME.json.
model_alone() {  # name
    "$py" bench/model_limit.py --model "$MODEL" --image "$IMAGE" --size "$SIZE" --single-only \
        --seconds "$C1_SLICE_SECONDS" --warmup 0.5 --json "$logs/$1.json" >/dev/null
}

measure_server() {  # name
    local name="$1" port pid server_log="$logs/$1-server.log" ready_path started
    port="$(free_port)"
    started=$EPOCHREALTIME
    case "$name" in
        inferx)
            # cwd must be the project folder: the server reads ./inferx.yaml.
            (cd "$project" && exec "$server_bin" serve --port "$port") >"$server_log" 2>&1 &
            pid=$!
            ready_path=/ready
            ;;
        fastapi)
            # workers=1: the python process is the server itself, so its RSS is the server's.
            "$py" bench/fastapi_server.py --model "$MODEL" --size "$SIZE" --port "$port" --workers 1 \
                >"$server_log" 2>&1 &
            pid=$!
            ready_path=/health
            ;;
    esac
    pids+=("$pid")
    local base="http://127.0.0.1:$port"
    log "$name: started (pid $pid, port $port), waiting for $ready_path"
    wait_ready "$pid" "$base$ready_path" "$server_log"
    awk -v a="$started" -v b="$EPOCHREALTIME" -v pid="$pid" \
        'BEGIN { printf "{\"ready_s\": %.2f, \"pid\": %d}\n", b - a, pid }' >"$logs/$name-start.json"
    local rss_ready
    rss_ready="$(proc_kib "$pid" VmRSS)"

    # One request by hand first: a server that answers /predict wrongly should
    # fail here, not produce a table of fast errors.
    curl -sf -H "Content-Type: $content_type" --data-binary "@$IMAGE" "$base/predict" >"$logs/$name-predict.json" ||
        die "$name: POST /predict failed (log: $server_log)"
    grep -q '"detections"' "$logs/$name-predict.json" || die "$name: /predict answered without detections: $(head -c 300 "$logs/$name-predict.json")"

    # RSS after a warm-up, then after the rest: what grows after the warm-up is what
    # would keep growing.
    log "$name: $RSS_REQUESTS x /predict at c=$RSS_CONCURRENCY for the RSS figures ($RSS_WARMUP_REQUESTS, then the rest)"
    wrk_count "$name-rss-warmup" "$base/predict" "$RSS_WARMUP_REQUESTS"
    local rss_warm rss_after
    rss_warm="$(proc_kib "$pid" VmRSS)"
    wrk_count "$name-rss" "$base/predict" "$((RSS_REQUESTS - RSS_WARMUP_REQUESTS))"
    rss_after="$(proc_kib "$pid" VmRSS)"

    local c
    for c in $CONCURRENCY; do
        log "$name: /predict c=$c for ${DURATION}s"
        wrk_run "$name-predict-c$c" "$base/predict" "$c" "$DURATION" "$IMAGE" "$content_type"
    done
    # A lone request against the model alone, in alternating slices (the server idle while
    # the model runs alone): this machine's speed shifts by up to half within seconds, so
    # only measurements taken side by side compare.
    local slice
    for slice in $(seq "$C1_SLICES"); do
        log "$name: c=1 slice $slice of $C1_SLICES: the model alone, then /predict, ${C1_SLICE_SECONDS}s each"
        model_alone "$name-c1-model-$slice"
        wrk_run "$name-c1-server-$slice" "$base/predict" 1 "$C1_SLICE_SECONDS" "$IMAGE" "$content_type"
    done
    log "$name: /health c=$HEALTH_CONCURRENCY for ${DURATION}s"
    wrk_run "$name-health-c$HEALTH_CONCURRENCY" "$base/health" "$HEALTH_CONCURRENCY" "$DURATION"

    kill -0 "$pid" 2>/dev/null || die "$name: the server died during the run (log: $server_log)"
    echo "{\"ready\": $rss_ready, \"after_warmup\": $rss_warm, \"after_predict\": $rss_after, \"end\": $(proc_kib "$pid" VmRSS)," \
        "\"peak\": $(proc_kib "$pid" VmHWM)}" >"$logs/$name-rss-kib.json"
    stop_pid "$pid"
}

case " $SERVERS " in *" inferx "*) build_inferx ;; esac

load_start="$(cut -d' ' -f1 /proc/loadavg)"
log "load average $load_start on $(nproc) CPUs (numbers mean little if other work is running)"
# To tell afterwards how much CPU other processes took during the run.
wall_start=$SECONDS
busy_start="$(cpu_busy_s)"
own_cpu
own_start="$own_cpu_s"

# The limit first, while nothing else runs.
log "model limit (bench/model_limit.py, ${MODEL_LIMIT_SECONDS}s per configuration)"
"$py" bench/model_limit.py --model "$MODEL" --image "$IMAGE" --size "$SIZE" \
    --seconds "$MODEL_LIMIT_SECONDS" --json "$logs/model_limit.json" >&2

for s in $SERVERS; do
    measure_server "$s"
done

# ------------------------------------------------------------ report

wall_s=$((SECONDS - wall_start))
busy_s="$(awk -v a="$busy_start" -v b="$(cpu_busy_s)" 'BEGIN { print b - a }')"
own_cpu
own_s="$(awk -v a="$own_start" -v b="$own_cpu_s" 'BEGIN { print b - a }')"

"$py" - "$logs" "$out_dir/server.json" <<EOF
import json, os, platform, subprocess, sys, time
from pathlib import Path

logs, out = Path(sys.argv[1]), Path(sys.argv[2])
servers = "$SERVERS".split()
conc = [int(c) for c in "$CONCURRENCY".split()]
health_c = $HEALTH_CONCURRENCY

def wrk(name):
    d = json.loads((logs / f"{name}.json").read_text())
    lat, err = d["latency_us"], d["errors"]
    return {
        "requests": d["requests"],
        "seconds": round(d["duration_us"] / 1e6, 3),
        "rps": round(d["requests"] / (d["duration_us"] / 1e6), 1),
        "p50_ms": round(lat["p50"] / 1e3, 2),
        "p90_ms": round(lat["p90"] / 1e3, 2),
        "p99_ms": round(lat["p99"] / 1e3, 2),
        "max_ms": round(lat["max"] / 1e3, 2),
        "non_2xx": err["status"],
        "socket_errors": {k: err[k] for k in ("connect", "read", "write", "timeout")},
    }

def wrk_version():
    p = subprocess.run(["wrk", "--version"], capture_output=True, text=True)
    return (p.stdout + p.stderr).split(" [")[0].strip()  # "wrk debian/4.1.0-3+b2"

limit = json.loads((logs / "model_limit.json").read_text())
result = {
    "generated_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    "host": {
        "cpus": os.cpu_count(), "machine": platform.machine(), "kernel": platform.release(),
        "load_average_start": float("$load_start"),
        "load_average_end": float(Path("/proc/loadavg").read_text().split()[0]),
        # CPU time of processes other than this benchmark's, over the whole run.
        "run_wall_s": $wall_s,
        "run_cpu_s_all": round($busy_s, 1),
        "run_cpu_s_benchmark": round($own_s, 1),
        "other_cpu_share": round(max(0.0, $busy_s - $own_s) / max(1, $wall_s * os.cpu_count()), 3),
    },
    "wrk": wrk_version(),
    "settings": {
        "model": "$MODEL", "image": "$IMAGE", "content_type": "$content_type", "size": $SIZE,
        "duration_s": $DURATION, "concurrency": conc, "threads": "min(2, c)",
        "rss_requests": $RSS_REQUESTS, "rss_warmup_requests": $RSS_WARMUP_REQUESTS,
        "rss_concurrency": $RSS_CONCURRENCY,
    },
    "model_limit": limit,
    "servers": {},
}
for s in servers:
    start = json.loads((logs / f"{s}-start.json").read_text())
    # The RSS requests: a warm-up run, then the rest.
    rss_runs = [wrk(f"{s}-rss-warmup"), wrk(f"{s}-rss")]
    result["servers"][s] = {
        "ready_s": start["ready_s"],
        "predict": [dict(concurrency=c, **wrk(f"{s}-predict-c{c}")) for c in conc],
        "health": dict(concurrency=health_c, **wrk(f"{s}-health-c{health_c}")),
        "rss_kib": json.loads((logs / f"{s}-rss-kib.json").read_text()),
        "rss_run": {"requests": sum(r["requests"] for r in rss_runs),
                    "rps_after_warmup": rss_runs[1]["rps"],
                    "non_2xx": sum(r["non_2xx"] for r in rss_runs),
                    "socket_errors": {k: sum(r["socket_errors"][k] for r in rss_runs)
                                      for k in rss_runs[0]["socket_errors"]}},
    }
    slices = []
    for i in range(1, $C1_SLICES + 1):
        model = json.loads((logs / f"{s}-c1-model-{i}.json").read_text())
        server = wrk(f"{s}-c1-server-{i}")
        model_p50, model_p99 = model["batch1_p50_ms"], model["configs"][0]["p99_ms_per_call"]
        slices.append({
            "model_alone_p50_ms": model_p50, "server_p50_ms": server["p50_ms"],
            "added_ms": round(server["p50_ms"] - model_p50, 2),
            "model_alone_p99_ms": round(model_p99, 2), "server_p99_ms": server["p99_ms"],
            "added_p99_ms": round(server["p99_ms"] - model_p99, 2),
        })
    median = lambda key: sorted(x[key] for x in slices)[len(slices) // 2]
    result["servers"][s]["c1_vs_model_alone"] = {
        "slices": slices,
        "added_ms_median": median("added_ms"),
        "slices_within_2ms": sum(x["added_ms"] <= 2.0 for x in slices),
        # The tail, paired the same way: each server's p99 over the model alone's p99 in the
        # same slice, so servers measured minutes apart can be compared.
        "added_p99_ms_median": median("added_p99_ms"),
    }
out.write_text(json.dumps(result, indent=2) + "\n")

def errors(r):
    n = r["non_2xx"] + sum(r["socket_errors"].values())
    return str(n) if n else "0"

R = result["servers"]
print(f"## HTTP load: {Path('$MODEL').name} at $SIZE, {Path('$IMAGE').name}, ${DURATION} s per run")
print()
host = result["host"]
print(f"Host: {os.cpu_count()} CPUs, load average {host['load_average_start']} at start; "
      f"other processes used {100 * host['other_cpu_share']:.0f}% of the CPU time during the "
      f"{host['run_wall_s']} s run; {result['wrk']}, threads = min(2, c).")
print()
# Load averages lag and count our own threads, so judge by the CPU time others took.
if host["other_cpu_share"] > 0.05:
    print("**Warning: other work took CPU time during the run, so these numbers are low. "
          "Run again on an idle machine.**")
    print()
head = "| test | c |" + "".join(f" {s} RPS | {s} p50 ms | {s} p99 ms | {s} errors |" for s in servers)
print(head)
print("|---|---:|" + "---:|" * (4 * len(servers)))
for i, c in enumerate(conc):
    row = f"| POST /predict | {c} |"
    for s in servers:
        r = R[s]["predict"][i]
        row += f" {r['rps']:.1f} | {r['p50_ms']:.1f} | {r['p99_ms']:.1f} | {errors(r)} |"
    print(row)
row = f"| GET /health | {health_c} |"
for s in servers:
    r = R[s]["health"]
    row += f" {r['rps']:.0f} | {r['p50_ms']:.2f} | {r['p99_ms']:.2f} | {errors(r)} |"
print(row)
print()
best = limit["best_images_per_s"]
print(f"Model limit (python onnxruntime {limit['onnxruntime']}, session.run only): "
      f"{best:.1f} images/s best ({limit['best_config']}), "
      f"batch-1 single-session p50 {limit['batch1_p50_ms']:.2f} ms:")
print()
print("| model-only config | images/s | p50 ms/call | p99 ms/call |")
print("|---|---:|---:|---:|")
for r in limit["configs"]:
    print(f"| {r['config']} | {r['images_per_s']:.1f} | {r['p50_ms_per_call']:.2f} | {r['p99_ms_per_call']:.2f} |")
print()
for s in servers:
    top = max(R[s]["predict"], key=lambda r: r["rps"])
    print(f"- {s}: best /predict {top['rps']:.1f} RPS at c={top['concurrency']} = "
          f"{100 * top['rps'] / best:.0f}% of the model limit; ready after {R[s]['ready_s']} s")
print()
print(f"A lone request (c=1, p50) against the model alone (one session, batch 1, p50), in $C1_SLICES "
      f"alternating slices of $C1_SLICE_SECONDS s each:")
print()
def slice_cells(k, model_key, server_key, added_key):
    """The per-slice cells of one server's row: model alone, server, and their differences."""
    join = lambda key, form: " / ".join(format(x[key], form) for x in k["slices"])
    return f"{join(model_key, '.2f')} | {join(server_key, '.2f')} | {join(added_key, '+.2f')}"

print("| server | model alone p50 ms per slice | server p50 ms per slice | added ms per slice | median added | slices within 2 ms |")
print("|---|---|---|---|---:|---:|")
for s in servers:
    k = R[s]["c1_vs_model_alone"]
    print(f"| {s} | {slice_cells(k, 'model_alone_p50_ms', 'server_p50_ms', 'added_ms')} | "
          f"{k['added_ms_median']:+.2f} | {k['slices_within_2ms']} of {len(k['slices'])} |")
print()
print("The tail of the same slices: each server's p99 over the model alone's p99 in its slice.")
print()
print("| server | model alone p99 ms per slice | server p99 ms per slice | added ms per slice | median added |")
print("|---|---|---|---|---:|")
for s in servers:
    k = R[s]["c1_vs_model_alone"]
    print(f"| {s} | {slice_cells(k, 'model_alone_p99_ms', 'server_p99_ms', 'added_p99_ms')} | "
          f"{k['added_p99_ms_median']:+.2f} |")
print()
print("| server | RSS ready MiB | after $RSS_WARMUP_REQUESTS /predict MiB | after $RSS_REQUESTS MiB | "
      "growth after the first $RSS_WARMUP_REQUESTS MiB | at end MiB | peak MiB |")
print("|---|---:|---:|---:|---:|---:|---:|")
for s in servers:
    k = R[s]["rss_kib"]
    print(f"| {s} | {k['ready'] / 1024:.1f} | {k['after_warmup'] / 1024:.1f} | {k['after_predict'] / 1024:.1f} | "
          f"{(k['after_predict'] - k['after_warmup']) / 1024:+.1f} | {k['end'] / 1024:.1f} | {k['peak'] / 1024:.1f} |")
print()
print(f"JSON: {out}; logs: {logs}/")
EOF
