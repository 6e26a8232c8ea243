#!/usr/bin/env bash
# Runs every fuzz target of fuzz/ for a bounded time (INFERX_FUZZ_SECONDS each, default 20),
# starting from its corpus in fuzz/corpus/<target>. Used by the test suite in CI.
#
# It builds the libFuzzer binaries with the stable toolchain: the coverage instrumentation
# cargo-fuzz adds (sancov) is made of stable codegen flags. Only AddressSanitizer needs nightly,
# and the code under test is safe Rust, where a memory error shows as a panic anyway; for a
# longer local run with ASan use `cd fuzz && cargo +nightly fuzz run <target>`.
#
# New inputs the fuzzer finds go to a scratch folder, not into the repo. A crash stops the run
# with a non-zero exit and the input that caused it saved under target/fuzz/artifacts/; copy
# it into fuzz/corpus/<target>/ so the test suite replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${INFERX_FUZZ_SECONDS:-20}"
host="$(rustc -vV | sed -n 's/^host: //p')"
out="$PWD/target/fuzz"
flags=(
    --cfg fuzzing
    -Cpasses=sancov-module
    -Cllvm-args=-sanitizer-coverage-level=4
    -Cllvm-args=-sanitizer-coverage-inline-8bit-counters
    -Cllvm-args=-sanitizer-coverage-pc-table
    -Cllvm-args=-sanitizer-coverage-trace-compares
    -Cdebug-assertions
    -Coverflow-checks
)
# --target keeps the instrumentation off build scripts and proc macros, as cargo-fuzz does.
RUSTFLAGS="${flags[*]}" cargo build --manifest-path fuzz/Cargo.toml --locked --release \
    --target "$host" --target-dir "$out" --bins --quiet
mkdir -p "$out/artifacts"
for target in $(sed -n 's/^name = "\(.*\)"$/\1/p' fuzz/Cargo.toml | grep -v '^inferx-fuzz$'); do
    if [[ ! -d "fuzz/corpus/$target" ]]; then
        echo "fuzz: fuzz/corpus/$target is missing: every target keeps its corpus in the repository" >&2
        exit 1
    fi
    scratch="$(mktemp -d)"
    echo "fuzz: $target for ${seconds}s from $(ls "fuzz/corpus/$target" | wc -l) corpus inputs"
    # -rss_limit_mb and -timeout turn a memory blow-up or a hang into a reported failure.
    if ! "$out/$host/release/$target" "$scratch" "fuzz/corpus/$target" \
        -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 -print_final_stats=1 \
        -artifact_prefix="$out/artifacts/$target-" 2> "$out/$target.log"; then
        tail -n 60 "$out/$target.log"
        echo "fuzz: $target failed; the input is in $out/artifacts/" >&2
        rm -rf "$scratch"
        exit 1
    fi
    grep -E '^stat::number_of_executed_units|^Done' "$out/$target.log" | sed "s/^/fuzz: $target: /" || true
    rm -rf "$scratch"
done
