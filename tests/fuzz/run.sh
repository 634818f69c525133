#!/bin/bash
# Builds the libFuzzer targets with clang (ASan + UBSan) and runs each for SECONDS (default
# 30) from its seed corpus, two at a time. Exits non-zero on any finding.
# Usage: tests/fuzz/run.sh [SECONDS]     build, then run
#        tests/fuzz/run.sh build         build only
#        tests/fuzz/run.sh run SECONDS   run what was built
set -euo pipefail
build=yes run=yes
case ${1:-} in
build) run=no ;;
run)
    build=no
    shift
    ;;
esac
seconds=${1:-30}
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out=${FUZZ_BUILD_DIR:-$root/build-fuzz}
mkdir -p "$out/generated" "$out/obj"
sed 's/@PROJECT_VERSION@/fuzz/' "$root/src/version.hpp.in" > "$out/generated/version.hpp"
libs=/usr/lib/x86_64-linux-gnu
flags=(-std=c++20 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
       -I"$root/src" -I"$out/generated")
targets=(pidfile signal_map options config)
common_objects=()
for name in signals pidfile options log exit_map stop_schedule; do
    common_objects+=("$out/obj/$name.o")
done

# Runs "$@" in the background, at most two jobs at a time (CI machines have two cores); a
# failing job fails the script when it is waited for.
running=()
in_background() {
    if [ ${#running[@]} -ge 2 ]; then
        wait "${running[0]}"
        running=("${running[@]:1}")
    fi
    "$@" &
    running+=($!)
}
wait_all() {
    local pid
    for pid in "${running[@]}"; do
        wait "$pid"
    done
    running=()
}

compile() { clang++ "${flags[@]}" -c "$1" -o "$2"; }

fuzz() {
    local target=$1 corpus="$out/corpus/$1" log="$out/$1_fuzz.log"
    mkdir -p "$corpus"
    cp -n "$here/corpus/$target/"* "$corpus/" 2>/dev/null || true
    if ! (cd "$out" && "./${target}_fuzz" -max_total_time="$seconds" -timeout=10 \
            -print_final_stats=1 -max_len=4096 "$corpus" >"$log" 2>&1); then
        tail -n 40 "$log"
        echo "${target}_fuzz found a problem (artifact in $out)"
        return 1
    fi
    echo "== ${target}_fuzz ran ${seconds}s:" \
        $(grep -E '^stat::(number_of_executed_units|peak_rss_mb)' "$log" | tr -s ' ')
}

if [ $build = yes ]; then
    echo "== building ${targets[*]/%/_fuzz}"
    for name in signals pidfile options log exit_map stop_schedule; do
        in_background compile "$root/src/$name.cpp" "$out/obj/$name.o"
    done
    for target in "${targets[@]}"; do
        in_background compile "$here/${target}_fuzz.cpp" "$out/obj/${target}_fuzz.o"
    done
    wait_all
    for target in "${targets[@]}"; do
        in_background clang++ "${flags[@]}" "$out/obj/${target}_fuzz.o" "${common_objects[@]}" \
            "$libs/libboost_program_options.a" -o "$out/${target}_fuzz"
    done
    wait_all
fi
[ $run = yes ] || exit 0

for target in "${targets[@]}"; do
    in_background fuzz "$target"
done
wait_all
echo "fuzzing finished: no finding"
