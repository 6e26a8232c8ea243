#!/usr/bin/env bash
# A lone request (c=1) on two builds of a generated server, to tell whether a change
# to the server helps:
#
#     bench/server_ab.sh PROJECT_DIR OLD_BINARY NEW_BINARY
#
# Only one server is alive at a time (an idle one's threads could still be busy on
# these 2 cores), and the two alternate in pairs of short windows, the order
# swapped every pair, because this machine's speed shifts by half within seconds:
# only a window next to the other compares. Each window starts the server from
# PROJECT_DIR (it reads ./inferx.yaml there), sends 5 requests to warm it, then
# runs wrk at one connection for WINDOW seconds (3) with IMAGE
# (.fixtures/images/astronaut.png) as the raw body. PAIRS (8) pairs.
#
# Prints each window's p50 and fastest request, then the medians over the pairs of
# NEW minus OLD: the p50 difference moves with the machine, the fastest request's
# much less.
#
# CONNECTIONS=8 (or any c > 1) compares throughput instead: wrk with c connections
# and 2 threads, each window's requests/s and p50, then the median over the pairs of
# NEW / OLD requests/s.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
[[ $# == 3 ]] || { sed -n '2,21p' "$0"; exit 2; }
project="$(cd "$1" && pwd)"
binaries=("$(realpath "$2")" "$(realpath "$3")")
IMAGE="$(realpath "${IMAGE:-$repo/.fixtures/images/astronaut.png}")"
WINDOW="${WINDOW:-3}"
PAIRS="${PAIRS:-8}"
CONNECTIONS="${CONNECTIONS:-1}"
for binary in "${binaries[@]}"; do [[ -x "$binary" ]] || { echo "not an executable: $binary" >&2; exit 1; }; done
command -v wrk >/dev/null || { echo "wrk is needed: apt-get install -y wrk" >&2; exit 1; }

port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
url="http://127.0.0.1:$port"
pid=""
trap '[[ -n "$pid" ]] && kill "$pid" 2>/dev/null; true' EXIT

# window BINARY: prints "p50_ms fastest_ms" of one window.
window() {
    (cd "$project" && exec "$1" serve --port "$port") >/dev/null 2>&1 &
    pid=$!
    for _ in $(seq 300); do curl -sf -o /dev/null "$url/ready" && break; sleep 0.1; done
    for _ in 1 2 3 4 5; do
        curl -sf -o /dev/null -H "Content-Type: image/png" --data-binary "@$IMAGE" "$url/predict"
    done
    local threads=$((CONNECTIONS > 1 ? 2 : 1))
    (cd "$repo" && wrk -t"$threads" -c"$CONNECTIONS" -d"${WINDOW}s" -s bench/wrk_bench.lua "$url/predict" -- "$IMAGE" image/png) |
        sed -n 's/^WRK_JSON //p' |
        if ((CONNECTIONS > 1)); then
            python3 -c 'import json, sys; d = json.load(sys.stdin); print(round(d["requests"] / d["duration_us"] * 1e6, 2), d["latency_us"]["p50"] / 1e3)'
        else
            python3 -c 'import json, sys; d = json.load(sys.stdin)["latency_us"]; print(d["p50"] / 1e3, d["min"] / 1e3)'
        fi
    kill "$pid"
    wait "$pid" 2>/dev/null || true
    pid=""
}

results=()
for pair in $(seq "$PAIRS"); do
    order=(0 1)
    ((pair % 2)) || order=(1 0)
    declare -A seen=()
    for which in "${order[@]}"; do
        seen[$which]="$(window "${binaries[$which]}")"
        if ((CONNECTIONS > 1)); then
            echo "pair $pair: $([[ $which == 0 ]] && echo old || echo new) requests/s, p50 ms: ${seen[$which]}"
        else
            echo "pair $pair: $([[ $which == 0 ]] && echo old || echo new) p50 / fastest ms: ${seen[$which]}"
        fi
    done
    results+=("${seen[0]} ${seen[1]}")
done
if ((CONNECTIONS > 1)); then
    printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [list(map(float, line.split())) for line in sys.stdin]
ratio = statistics.median(new / old for old, _, new, _ in rows)
better = sum(new > old for old, _, new, _ in rows)
print(f"new / old requests/s at c='"$CONNECTIONS"', median over {len(rows)} pairs: {ratio:.3f} "
      f"(new faster in {better} of {len(rows)} pairs)")
'
    exit 0
fi
printf '%s\n' "${results[@]}" | python3 -c '
import statistics, sys
rows = [list(map(float, line.split())) for line in sys.stdin]
p50 = statistics.median(new - old for old, _, new, _ in rows)
fastest = statistics.median(new - old for _, old, _, new in rows)
better = sum(new < old for _, old, _, new in rows)
print(f"new - old, median over {len(rows)} pairs: p50 {p50:+.2f} ms, fastest request {fastest:+.2f} ms "
      f"(new faster in {better} of {len(rows)} pairs)")
'
