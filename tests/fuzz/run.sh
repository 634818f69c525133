#!/bin/bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS (default
# 30) from its seed corpus. Exits non-zero on any finding. Usage: tests/fuzz/run.sh [SECONDS]
set -euo pipefail
seconds=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${FUZZ_BUILD_DIR:-$root/build-fuzz}
mkdir -p "$out/generated"
sed 's/@PROJECT_VERSION@/fuzz/' "$root/src/version.hpp.in" > "$out/generated/version.hpp"
libs=/usr/lib/x86_64-linux-gnu
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -I"$root/src" -I"$out/generated")
common=("$root/src/signals.cpp" "$root/src/pidfile.cpp" "$root/src/options.cpp" "$root/src/log.cpp")
for target in pidfile signal_map options config; do
    echo "== building ${target}_fuzz"
    clang++ "${flags[@]}" "$here/${target}_fuzz.cpp" "${common[@]}" \
        "$libs/libboost_program_options.a" -o "$out/${target}_fuzz"
done
for target in pidfile signal_map options config; do
    echo "== running ${target}_fuzz for ${seconds}s"
    corpus="$out/corpus/$target"
    mkdir -p "$corpus"
    cp -n "$here/corpus/$target/"* "$corpus/" 2>/dev/null || true
    log="$out/${target}_fuzz.log"
    if ! (cd "$out" && "./${target}_fuzz" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
            -max_len=4096 "$corpus" >"$log" 2>&1); then
        tail -n 40 "$log"
        echo "${target}_fuzz found a problem (artifact in $out)"
        exit 1
    fi
    grep -E '^(stat::number_of_executed_units|stat::peak_rss_mb)|^#[0-9]+ +DONE' "$log"
done
echo "fuzzing finished: no finding"
