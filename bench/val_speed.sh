#!/usr/bin/env bash
# `inferx val` against `inferx run DIR` on the same folder, at the same confidence (0.001)
# and max-det (300): images/s of each, measured side by side in alternating rounds so load
# from other processes hits both alike. val must stay within 10% of run (it runs the same
# folder pipeline; its extra work is reading labels and the COCO evaluation).
#
#   bash bench/val_speed.sh                    # target/release/inferx, 8 copies, 5 rounds
#   INFERX=target/debug/inferx COPIES=4 ROUNDS=3 bash bench/val_speed.sh
#
# The folder: the labelled set of `scripts/reference_val.py sets` (the sample photos at
# several sizes, an EXIF-rotated JPEG), copied COPIES times. Needs .venv-ref
# (scripts/reference-env.sh) and the fixtures. Both rates are the ones each command prints:
# images over the wall time of its prediction loop (decoding included, loading excluded).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bin="${INFERX:-$repo/target/release/inferx}"
copies="${COPIES:-8}"
rounds="${ROUNDS:-5}"
model="${MODEL:-$repo/.fixtures/models/nudenet-320n.onnx}"
[[ -x "$bin" ]] || { echo "no inferx at $bin: cargo build --release (or set INFERX)" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

"$repo/.venv-ref/bin/python" "$repo/scripts/reference_val.py" sets "$work/sets" >/dev/null
mkdir -p "$work/set/images/val" "$work/set/labels/val"
for copy in $(seq 1 "$copies"); do
    for image in "$work"/sets/yolo/images/val/*; do
        name="$(basename "$image")"
        cp "$image" "$work/set/images/val/${copy}_$name"
        cp "$work/sets/yolo/labels/val/${name%.*}.txt" "$work/set/labels/val/${copy}_${name%.*}.txt"
    done
done
sed 's/^path: .*/path: ./' "$work/sets/yolo/data.yaml" > "$work/set/data.yaml"
images="$(ls "$work/set/images/val" | wc -l)"

rate() { sed -n 's/.*(\([0-9.]*\) images\/s).*/\1/p' | tail -1; }
run_rates=() val_rates=()
for round in $(seq 1 "$rounds"); do
    # The order flips every round.
    for side in $([[ $((round % 2)) -eq 1 ]] && echo "run val" || echo "val run"); do
        if [[ $side == run ]]; then
            value="$("$bin" run "$model" "$work/set/images/val" --conf 0.001 --iou 0.7 --max-det 300 --json 2>&1 >/dev/null | rate)"
            run_rates+=("$value")
        else
            value="$("$bin" val "$model" --data "$work/set/data.yaml" --conf 0.001 --iou 0.7 --max-det 300 2>&1 >/dev/null | rate)"
            val_rates+=("$value")
        fi
        echo "round $round $side: $value images/s" >&2
    done
done

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }
run_median="$(median "${run_rates[@]}")"
val_median="$(median "${val_rates[@]}")"
ratio="$(awk -v v="$val_median" -v r="$run_median" 'BEGIN { printf "%.3f", v / r }')"
echo "$images images, $rounds rounds, $(nproc) cores, $(basename "$bin") at $bin"
echo "inferx run DIR: median $run_median images/s (${run_rates[*]})"
echo "inferx val:     median $val_median images/s (${val_rates[*]})"
echo "val / run: $ratio (target >= 0.90)"
awk -v ratio="$ratio" 'BEGIN { exit !(ratio >= 0.90) }' || { echo "val is more than 10% slower than run" >&2; exit 1; }
