#!/usr/bin/env bash
# Peak memory of the generated server under the largest images it accepts, sent by
# many clients at once, against its configured bound (server.memory_budget_bytes).
#
#   bench/server_memory.sh
#   CLIENTS=64 MAX_ALLOC=268435456 BUDGET=536870912 bench/server_memory.sh
#
# The image is a 16-bit RGB PNG whose decode peak (decoded pixels + the 8-bit RGB
# copy preprocessing makes, 9 bytes a pixel) is just under limits.max_alloc_bytes:
# the most one request may take. It compresses to a small body, so memory is all
# decoding. The server runs WORKERS workers; each round sends CLIENTS such requests
# at once, ROUNDS times. Recorded: the server's RSS when ready, its peak (VmHWM)
# at the end, and the answers by status (200 served, 503 refused while the budget
# was spent). The bound checked: peak - ready <= budget + CLIENTS x body size.
# Run it once with BUDGET large (e.g. 68719476736) to see the peak without the
# budget, bounded then only by WORKERS x max_alloc.
#
# Output: a markdown summary on stdout and target/bench/server-memory.json.
# Knobs: CLIENTS (32), ROUNDS (3), WORKERS (4), MAX_ALLOC (134217728, 128 MiB),
# BUDGET (402653184, 384 MiB), PROFILE (release; debug builds faster here),
# READY_TIMEOUT (180 s), SKIP_BUILD=1 (reuse the server built before).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"

CLIENTS="${CLIENTS:-32}"
ROUNDS="${ROUNDS:-3}"
WORKERS="${WORKERS:-4}"
MAX_ALLOC="${MAX_ALLOC:-134217728}"
BUDGET="${BUDGET:-402653184}"
PROFILE="${PROFILE:-release}"
READY_TIMEOUT="${READY_TIMEOUT:-180}"
SKIP_BUILD="${SKIP_BUILD:-0}"
MODEL=".fixtures/models/nudenet-320n.onnx"
NAME="inferx-memory-server"

out_dir="$repo/target/bench"
logs="$out_dir/server-memory-logs"
py="$repo/.venv-tools/bin/python"
project="$out_dir/$NAME"
profile_flag=()
[[ "$PROFILE" == release ]] && profile_flag=(--release)
server_bin="$repo/target/generated/$PROFILE/$NAME"
cli_bin="${CARGO_TARGET_DIR:-$repo/target}/$PROFILE/inferx"

log() { echo "server_memory: $*" >&2; }
die() { log "error: $*"; exit 1; }
mkdir -p "$logs"

if [[ "$SKIP_BUILD" != 1 ]]; then
    log "building the inferx CLI ($PROFILE)"
    cargo build "${profile_flag[@]}" --bin inferx >&2
    "$cli_bin" template yolo --name "$NAME" --model "$MODEL" --api --dir "$out_dir" --force >&2
    log "building the generated server (CARGO_TARGET_DIR=target/generated)"
    CARGO_TARGET_DIR="$repo/target/generated" cargo build "${profile_flag[@]}" --manifest-path "$project/Cargo.toml" >&2
    "$cli_bin" runtime install >&2
fi
[[ -x "$server_bin" ]] || die "$server_bin is missing; run without SKIP_BUILD=1"

# The settings under test, in a config of their own beside inferx.yaml.
"$py" - "$project" "$MAX_ALLOC" "$BUDGET" "$WORKERS" <<'EOF'
import sys, yaml
from pathlib import Path
project, max_alloc, budget, workers = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
config = yaml.safe_load((project / "inferx.yaml").read_text())
config.setdefault("limits", {})["max_alloc_bytes"] = max_alloc
server = config.setdefault("server", {})
server.update({"memory_budget_bytes": budget, "workers": workers, "max_queue": 256, "access_log": False,
               "request_timeout_ms": 600000})
server.setdefault("connections", {})["max"] = 1024
(project / "inferx.memory.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
EOF

# The largest image allowed: 16-bit RGB, side chosen so 9 bytes a pixel stay under MAX_ALLOC.
image="$out_dir/memory-largest.png"
"$py" - "$image" "$MAX_ALLOC" <<'EOF'
import math, struct, sys, zlib
path, max_alloc = sys.argv[1], int(sys.argv[2])
side = math.isqrt(max_alloc // 9)
row = b"\x00" + bytes(range(256)) * (side * 6 // 256) + b"\x00" * (side * 6 % 256)
compressor = zlib.compressobj(9)
data = b"".join(compressor.compress(row) for _ in range(side)) + compressor.flush()
chunk = lambda kind, body: struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))
png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", side, side, 16, 2, 0, 0, 0)) + chunk(b"IDAT", data) + chunk(b"IEND", b"")
open(path, "wb").write(png)
print(f"server_memory: image {side}x{side} 16-bit RGB, {len(png)} bytes, decode peak {side * side * 9} bytes", file=sys.stderr)
EOF
body_bytes="$(stat -c %s "$image")"

(cd "$project" && exec "$server_bin" --config inferx.memory.yaml serve --port 0 >"$logs/server.out" 2>"$logs/server.err") &
pid=$!
# shellcheck disable=SC2064
trap "kill $pid 2>/dev/null || true" EXIT
url=""
for _ in $(seq "$((READY_TIMEOUT * 10))"); do
    url="$(sed -n 's/^listening on //p' "$logs/server.out" | head -1)"
    [[ -n "$url" ]] && curl -fsS "$url/ready" >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || die "the server exited: $(tail -5 "$logs/server.err")"
    sleep 0.1
done
[[ -n "$url" ]] || die "the server did not start within $READY_TIMEOUT s"
rss_kib() { awk -v key="$1:" '$1 == key { print $2 }' "/proc/$pid/status"; }
ready_kib="$(rss_kib VmRSS)"
log "ready at $url, RSS $ready_kib KiB; $ROUNDS rounds of $CLIENTS clients"

statuses="$logs/statuses"
: >"$statuses"
for round in $(seq "$ROUNDS"); do
    for _ in $(seq "$CLIENTS"); do
        curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: image/png' --data-binary "@$image" \
            "$url/predict" >>"$statuses" &
    done
    wait $(jobs -p | grep -v "^$pid$") 2>/dev/null || true
    log "round $round: peak RSS $(rss_kib VmHWM) KiB"
done
peak_kib="$(rss_kib VmHWM)"
kill "$pid"

"$py" - "$statuses" "$ready_kib" "$peak_kib" "$BUDGET" "$MAX_ALLOC" "$CLIENTS" "$ROUNDS" "$WORKERS" "$body_bytes" "$PROFILE" \
    "$out_dir/server-memory.json" <<'EOF'
import collections, json, sys
statuses, ready, peak, budget, max_alloc, clients, rounds, workers, body, profile, out = sys.argv[1:]
counts = collections.Counter(line.strip() for line in open(statuses) if line.strip())
ready, peak, budget, max_alloc, clients, body = int(ready), int(peak), int(budget), int(max_alloc), int(clients), int(body)
grown = (peak - ready) * 1024
bound = budget + clients * body
result = {"profile": profile, "clients": clients, "rounds": int(rounds), "workers": int(workers),
          "max_alloc_bytes": max_alloc, "memory_budget_bytes": budget, "image_body_bytes": body,
          "rss_ready_kib": ready, "rss_peak_kib": peak, "growth_bytes": grown, "bound_bytes": bound,
          "statuses": dict(counts), "within_bound": grown <= bound}
open(out, "w").write(json.dumps(result, indent=2) + "\n")
mib = lambda value: f"{value / 2**20:.0f} MiB"
print(f"| clients x rounds | workers | max_alloc_bytes | memory_budget_bytes | RSS ready | RSS peak | growth | bound (budget + bodies) | answers |")
print(f"|---|---|---|---|---|---|---|---|---|")
print(f"| {clients} x {rounds} | {workers} | {mib(max_alloc)} | {mib(budget)} | {mib(ready * 1024)} | {mib(peak * 1024)} | {mib(grown)} | {mib(bound)} | "
      + ", ".join(f"{count} x {status}" for status, count in sorted(counts.items())) + " |")
sys.exit(0 if grown <= bound else 1)
EOF
