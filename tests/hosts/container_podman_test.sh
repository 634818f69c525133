#!/bin/bash
# The container recipes in config/container/ under a real container runtime: podman (with crun
# or runc) from Debian's packages. No image registry is needed: a minimal Debian 12 tree (made by
# debian-tree.sh, kept between runs) is imported as the image the Dockerfiles start FROM
# (debian:12-slim, and debian:12 for the full build), in a podman store of the test's own that is
# removed afterwards.
#
# Usage: container_podman_test.sh PIDSHIM_BINARY CONFIG_DIR [SOURCE_DIR]
#
#   PIDSHIM_TEST_BIN   overrides PIDSHIM_BINARY (as for the other tests)
#   PIDSHIM_CONTAINER_FULL_BUILD=1
#                      build config/container/Dockerfile exactly as written, from SOURCE_DIR
#                      (its build stage installs the compiler and Boost with apt-get and
#                      compiles pidshim: several minutes), instead of the quick build below
#   PIDSHIM_OCI_RUNTIME  the runtime to use (crun, runc); by default the first that works
#   PIDSHIM_HOSTS_CACHE, PIDSHIM_DEBIAN_MIRROR: see debian-tree.sh
#
# The quick build runs each Dockerfile's last stage as written (FROM debian:12-slim, its RUN
# apt-get lines against Debian's mirror, COPY, STOPSIGNAL, ENTRYPOINT, CMD), with the one line
# that copies pidshim out of the build stage taking PIDSHIM_BINARY instead.
#
# Dockerfile: run -> pidshim is PID 1 and nginx serves on a published port; kill -s HUP -> nginx
# reloads (new workers, its log says the HUP came from PID 1); an orphan left by podman exec is
# reaped; stop -> SIGQUIT, a graceful stop well inside the 10 s grace time, exit status 0
# (nginx's); a master killed by SIGKILL -> the container exits 137.
# Dockerfile.foreground (if present): run -> python serves; stop -> exit status 0 (143 mapped).
#
# Exit status: 0 all passed, 1 a check failed, 77 (skipped) where the machine lacks what it
# takes (root, podman, a runtime that can start a container here, mmdebstrap or debootstrap,
# or the Debian mirror).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
usage="usage: container_podman_test.sh PIDSHIM CONFIG_DIR [SOURCE_DIR]"
pidshim=${PIDSHIM_TEST_BIN:-${1:?$usage}}
config_dir=$(realpath "${2:?$usage}")
source_dir=$(realpath "${3:-$config_dir/..}")

started=$SECONDS
passed=0
failed=0
say() { printf '%s\n' "$*"; }
skip() {
    say "SKIP: $*"
    exit 77
}
ok() {
    passed=$((passed + 1))
    say "ok      $*"
}
not_ok() {
    failed=$((failed + 1))
    say "FAILED  $*"
}
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
same() {
    if [ "$2" = "$3" ]; then ok "$1 ($2)"; else not_ok "$1: '$2', expected '$3'"; fi
}
now_ms() { date +%s%3N; }
quiet() { "$@" >/dev/null; }
wait_until() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@"; do
        (($(now_ms) < deadline)) || return 1
        sleep 0.1
    done
}

[ "$(id -u)" = 0 ] || skip "needs root (rootful podman, mmdebstrap or debootstrap)"
command -v podman >/dev/null || skip "podman not installed (apt-get install podman runc)"
pidshim=$(realpath "$pidshim")

t=$SECONDS
tree=$("$here/debian-tree.sh")
rc=$?
[ $rc = 77 ] && skip "no Debian tree (debian-tree.sh said why above)"
[ $rc = 0 ] || { say "FAILED  making the Debian tree"; exit 1; }
say "# tree $tree ready after $((SECONDS - t)) s"

# A podman store of this run's own: nothing it tags (debian:12-slim is our tree) is seen by
# anyone else, and removing the directory removes every image, container and layer.
store=$(mktemp -d /var/tmp/pidshim-podman.XXXXXX)
podman=(podman --root "$store/root" --runroot "$store/run" --tmpdir "$store/tmp")
cleanup() {
    "${podman[@]}" rm -a -f -t 0 >/dev/null 2>&1
    # Whatever is still mounted below the store (nothing, normally), innermost first.
    awk -v store="$store" 'index($5, store) == 1 {print $5}' /proc/self/mountinfo | sort -r |
        xargs -r umount -l 2>/dev/null
    rm -rf "$store"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

# Without CAP_SYS_RESOURCE (as in this sandbox) the runtime cannot set podman 4.3's default
# limits: RLIMIT_NOFILE 1048576, and RLIMIT_NPROC above the 32768 podman lowers its own to. The
# container then gets the limits this process has, which it may keep.
limits=()
cap_eff=$(awk '/^CapEff:/ {print $2}' /proc/self/status)
if (((0x$cap_eff >> 24 & 1) == 0)); then
    nofile=$(ulimit -Hn)
    nproc=$(ulimit -Hu)
    [ "$nproc" = unlimited ] || [ "$nproc" -gt 32768 ] && nproc=32768
    limits=(--ulimit "nofile=$nofile:$nofile" --ulimit "nproc=$nproc:$nproc")
    say "# no CAP_SYS_RESOURCE: ${limits[*]}"
fi

t=$SECONDS
tar -C "$tree" -c . | "${podman[@]}" import -q - docker.io/library/debian:12-slim >/dev/null ||
    { say "FAILED  podman import of the tree"; exit 1; }
"${podman[@]}" tag docker.io/library/debian:12-slim docker.io/library/debian:12
say "# imported the tree as debian:12-slim and debian:12 in $((SECONDS - t)) s"

# The first runtime that starts a container here.
read -r -a runtimes <<<"${PIDSHIM_OCI_RUNTIME:-crun runc}"
runtime=
for rt in "${runtimes[@]}"; do
    if ! command -v "$rt" >/dev/null; then
        say "# runtime $rt: not installed"
        continue
    fi
    if out=$("${podman[@]}" --runtime "$rt" run --rm "${limits[@]}" debian:12-slim true 2>&1); then
        runtime=$rt
        break
    fi
    say "# runtime $rt cannot start a container here: $out"
done
[ -n "$runtime" ] || skip "no OCI runtime of ${runtimes[*]} starts a container here (errors above)"
podman+=(--runtime "$runtime")
say "# $(podman --version), runtime $("$runtime" --version | head -n 1)"

# ---------------------------------------------------------------------------------------------
# Building

# build IMAGE DOCKERFILE: the Dockerfile's last stage as written, pidshim copied in from
# PIDSHIM_BINARY instead of the build stage.
build_quick() {
    local image=$1 dockerfile=$2 ctx
    ctx=$(mktemp -d "$store/context.XXXXXX")
    mkdir -p "$ctx/config/container"
    cp "$pidshim" "$ctx/pidshim"
    cp "$config_dir"/container/nginx.conf "$ctx/config/container/"
    awk '/^FROM /{n++} {line[NR] = $0; stage[NR] = n} END {for (i = 1; i <= NR; i++) if (stage[i] == n) print line[i]}' \
        "$dockerfile" |
        sed 's#^COPY --from=build /build/pidshim #COPY pidshim #' >"$ctx/Containerfile"
    grep -q '^COPY pidshim ' "$ctx/Containerfile" || {
        say "FAILED  $dockerfile: no 'COPY --from=build /build/pidshim' line in its last stage"
        return 1
    }
    "${podman[@]}" build -q "${limits[@]}" -f "$ctx/Containerfile" -t "$image" "$ctx" >"$ctx/build.log" 2>&1 ||
        { tail -n 30 "$ctx/build.log"; return 1; }
}

# The Dockerfile as written, from a copy of the sources (no .git, build trees or dist, as its
# .dockerignore says, whether or not this podman reads that file).
# One copy serves both Dockerfiles, so that the second reuses the build stage's layers.
full_ctx=
build_full() {
    local image=$1 dockerfile=$2
    if [ -z "$full_ctx" ]; then
        full_ctx=$(mktemp -d "$store/context.XXXXXX")
        tar -C "$source_dir" --exclude-vcs --exclude='./build*' --exclude='./obj-*' \
            --exclude='./dist' --exclude='./Testing' -cf - . | tar -C "$full_ctx" -xf -
    fi
    "${podman[@]}" build "${limits[@]}" -f "$full_ctx/config/container/$(basename "$dockerfile")" \
        -t "$image" "$full_ctx" >"$store/build.log" 2>&1 ||
        { tail -n 30 "$store/build.log"; return 1; }
}

build=build_quick
[ "${PIDSHIM_CONTAINER_FULL_BUILD:-0}" = 1 ] && build=build_full

say ""
say "# Dockerfile ($build)"
t=$SECONDS
if ! $build localhost/nginx-pidshim "$config_dir/container/Dockerfile"; then
    not_ok "podman build of config/container/Dockerfile"
    exit 1
fi
ok "podman build of config/container/Dockerfile in $((SECONDS - t)) s"
same "the image's stop signal" "$("${podman[@]}" image inspect -f '{{.Config.StopSignal}}' localhost/nginx-pidshim)" SIGQUIT

# ---------------------------------------------------------------------------------------------
# nginx in daemon mode, pidshim as PID 1

port=23797
# The status code of GET / on 127.0.0.1:PORT (bash's /dev/tcp: no HTTP client needed).
http_status() {
    timeout 5 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$0" &&
        printf "GET / HTTP/1.0\r\nHost: localhost\r\n\r\n" >&3 &&
        IFS= read -r line <&3 && printf "%s\n" "${line:9:3}"' "$1" 2>/dev/null
}
serves() { [ "$(http_status "$1")" = 200 ]; }
in_web() { "${podman[@]}" exec web "$@"; }
ps_web() { in_web ps -eo pid=,ppid=,stat=,comm=; }
# logs_have CONTAINER REGEX: a line of the container's output (podman logs) matches.
# (grep reads all: under pipefail, grep -q could end podman logs with SIGPIPE.)
logs_have() { "${podman[@]}" logs "$1" 2>&1 | grep -E -- "$2" >/dev/null; }
children_in_web() { in_web ps -o pid= --ppid "$1" | tr -d ' ' | sort -n | tr '\n' ' '; }

say ""
say "# run"
check "podman run -d -p 127.0.0.1:$port:80" \
    quiet "${podman[@]}" run -d "${limits[@]}" --name web -p "127.0.0.1:$port:80" localhost/nginx-pidshim
check "nginx serves (HTTP 200)" wait_until 10 serves $port
same "PID 1 is" "$(in_web cat /proc/1/comm)" pidshim
same "PID 1 runs" "$(in_web readlink /proc/1/exe)" /usr/bin/pidshim
master=$(in_web head -n 1 /run/nginx.pid)
same "the nginx master's parent" "$(in_web ps -o ppid= -p "$master" | tr -d ' ')" 1
workers=$(children_in_web "$master")
check "nginx has workers ($workers)" test -n "$workers"
check "log: pidshim follows the master" \
    wait_until 5 logs_have web "pidshim: /run/nginx.pid: following pid $master "

say ""
say "# kill -s HUP"
check "podman kill -s HUP" quiet "${podman[@]}" kill -s HUP web
new_workers() {
    local now
    now=$(children_in_web "$master")
    [ -n "$now" ] && [ -z "$(comm -12 <(tr ' ' '\n' <<<"$workers" | sort) <(tr ' ' '\n' <<<"$now" | sort) | tr -d '\n')" ]
}
check "nginx replaced its workers (was: $workers)" wait_until 10 new_workers
same "the master is the same" "$(in_web head -n 1 /run/nginx.pid)" "$master"
check "log: nginx got SIGHUP from PID 1" logs_have web "signal 1 \\(SIGHUP\\) received from 1,"
check "log: pidshim forwarded it" logs_have web "pidshim: forwarded SIGHUP to pid $master( |$)"
check "nginx serves (HTTP 200)" serves $port

say ""
say "# an orphan left by podman exec is PID 1's to reap"
in_web sh -c 'sleep 2 </dev/null >/dev/null 2>&1 & exit 0'
orphan=$(ps_web | awk '$4 == "sleep" {print $1 " " $2}')
check "the orphaned sleep was re-parented to PID 1 (pid ppid: $orphan)" test "${orphan#* }" = 1
no_sleep_nor_zombie() { [ -z "$(ps_web | awk '$4 == "sleep" || $3 ~ /^Z/')" ]; }
check "it is gone once it exits, no zombie left" wait_until 5 no_sleep_nor_zombie

say ""
say "# stop (SIGQUIT, 10 s before podman would SIGKILL)"
t=$(now_ms)
check "podman stop" quiet "${podman[@]}" stop web
stop_ms=$(($(now_ms) - t))
check "stopped in ${stop_ms} ms, within the 10 s grace time" test "$stop_ms" -lt 9000
same "exit status (nginx's own after QUIT)" "$("${podman[@]}" inspect -f '{{.State.ExitCode}}' web)" 0
check "log: pidshim forwarded SIGQUIT to the master" logs_have web "pidshim: forwarded SIGQUIT to pid $master( |$)"
check "log: nginx exited with status 0" logs_have web "pidshim: pid $master \\(nginx\\) exited with status 0"

say ""
say "# the master is killed (SIGKILL): the container exits with 128 + 9"
check "podman start" quiet "${podman[@]}" start web
check "nginx serves (HTTP 200)" wait_until 10 serves $port
master=$(in_web head -n 1 /run/nginx.pid)
in_web kill -KILL "$master"
same "podman wait: exit status" "$(timeout 30 "${podman[@]}" wait web)" 137
check "log: pidshim stopped the workers the master left" \
    logs_have web "pidshim: sending SIGTERM to leftover process"
"${podman[@]}" rm -f web >/dev/null

# ---------------------------------------------------------------------------------------------
# A foreground program (python3 -m http.server) with pidshim --no-pidfile as PID 1

foreground=$config_dir/container/Dockerfile.foreground
if [ -e "$foreground" ]; then
    say ""
    say "# Dockerfile.foreground ($build)"
    t=$SECONDS
    if $build localhost/web-pidshim "$foreground"; then
        ok "podman build of config/container/Dockerfile.foreground in $((SECONDS - t)) s"
        port=23798
        check "podman run -d -p 127.0.0.1:$port:8000" \
            quiet "${podman[@]}" run -d "${limits[@]}" --name fg -p "127.0.0.1:$port:8000" localhost/web-pidshim
        check "python serves (HTTP 200)" wait_until 10 serves $port
        same "PID 1 is" "$("${podman[@]}" exec fg cat /proc/1/comm)" pidshim
        t=$(now_ms)
        check "podman stop" quiet "${podman[@]}" stop fg
        stop_ms=$(($(now_ms) - t))
        check "stopped in ${stop_ms} ms, within the 10 s grace time" test "$stop_ms" -lt 9000
        same "exit status (python died of SIGTERM: 143, mapped to 0)" \
            "$("${podman[@]}" inspect -f '{{.State.ExitCode}}' fg)" 0
        "${podman[@]}" rm -f fg >/dev/null
    else
        not_ok "podman build of config/container/Dockerfile.foreground"
    fi
fi

say ""
say "# $passed passed, $failed failed; $((SECONDS - started)) s in all"
[ "$failed" -eq 0 ]
