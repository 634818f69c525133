#!/bin/bash
# Build, check, install, run and purge the pidshim Debian package, as CI does.
#
#     packaging/ci-deb.sh
#
# Run as root on a Debian 12 machine. It installs what it needs with apt-get;
# builds the .deb with packaging/build-deb.sh, the unit tests running during the
# build (or takes it from $PIDSHIM_DEB_DIR, where build-deb.sh made it already);
# runs lintian; installs the package with dpkg -i; runs the installed
# /usr/bin/pidshim on a real forking daemon (redis-server), then the integration
# and hardening suites against it (the test programs of $PIDSHIM_BUILD_DIR, else
# build/, built there if missing); and purges the package again. Each step is
# printed; any failure ends the run non-zero.
set -euo pipefail

packaging=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$packaging")
passed=0

step() { printf '\n==> %s\n' "$*"; }
ok() {
    passed=$((passed + 1))
    printf '    ok: %s\n' "$*"
}
fail() {
    printf '    FAIL: %s\n' "$*" >&2
    printf 'ci-deb: %d passed, 1 failed\n' "$passed"
    exit 1
}

[ "$(id -u)" = 0 ] || fail "run as root: this script installs and purges packages"

tmp=$(mktemp -d "${TMPDIR:-/tmp}/pidshim-ci.XXXXXX")
shim_pid=
daemon_pid=
policy_rc_d=
cleanup() {
    # Only what this script started.
    [ -n "$shim_pid" ] && kill -KILL "$shim_pid" 2>/dev/null
    [ -n "$daemon_pid" ] && kill -KILL "$daemon_pid" 2>/dev/null
    [ -n "$policy_rc_d" ] && rm -f "$policy_rc_d"
    rm -rf "$tmp"
}
trap cleanup EXIT

# A process counts as gone when it no longer exists or is a zombie.
alive() {
    local state
    state=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
    [ -n "$state" ] && [ "$state" != Z ]
}

# Wait up to $1 seconds for the command that follows to succeed.
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        ((SECONDS < deadline)) || return 1
        sleep 0.1
    done
}

installed() {
    [ "$(dpkg-query -W -f='${db:Status-Status}' "$1" 2>/dev/null)" = installed ]
}

# --------------------------------------------------------------------------
step "Installing build and test dependencies"
# Build-Depends come from packaging/debian/control itself; the rest are the
# tools this script checks the package with.
test_packages=(lintian man-db bash-completion redis-server redis-tools supervisor)
missing=()
for p in "${test_packages[@]}"; do
    installed "$p" || missing+=("$p")
done
if dpkg-checkbuilddeps "$packaging/debian/control" 2>/dev/null && ((${#missing[@]} == 0)); then
    ok "build dependencies and ${test_packages[*]} already installed"
else
    export DEBIAN_FRONTEND=noninteractive
    # Installing redis-server and supervisor must not start their system
    # services on the CI machine.
    if [ ! -e /usr/sbin/policy-rc.d ]; then
        policy_rc_d=/usr/sbin/policy-rc.d
        printf '#!/bin/sh\nexit 101\n' >"$policy_rc_d"
        chmod 755 "$policy_rc_d"
    fi
    apt-get update -q
    mkdir "$tmp/builddep"
    ln -s "$packaging/debian" "$tmp/builddep/debian"
    (cd "$tmp/builddep" && apt-get build-dep -y -q --no-install-recommends ./)
    apt-get install -y -q --no-install-recommends dpkg-dev fakeroot "${test_packages[@]}"
    if [ -n "$policy_rc_d" ]; then
        rm -f "$policy_rc_d"
        policy_rc_d=
    fi
    dpkg-checkbuilddeps "$packaging/debian/control" || fail "build dependencies still unmet"
    ok "installed build dependencies and ${test_packages[*]}"
fi

# --------------------------------------------------------------------------
case " ${DEB_BUILD_OPTIONS:-} " in
*" nocheck "*) fail "DEB_BUILD_OPTIONS contains nocheck: CI must run the tests" ;;
esac
# PIDSHIM_DEB_DIR: the package was built already, by packaging/build-deb.sh PIDSHIM_DEB_DIR
# (CI builds it while the test suite runs).
dist=${PIDSHIM_DEB_DIR:-}
if [ -n "$dist" ]; then
    step "The package packaging/build-deb.sh built in $dist (the unit tests ran in dh_auto_test)"
else
    step "Building the package (packaging/build-deb.sh; the unit tests run in dh_auto_test)"
    dist=$tmp/dist
    "$packaging/build-deb.sh" "$dist" || fail "package build failed"
fi
debs=("$dist"/pidshim_*.deb)
if [ ${#debs[@]} != 1 ] || [ ! -f "${debs[0]}" ]; then
    fail "expected one pidshim_*.deb, found: ${debs[*]}"
fi
deb=${debs[0]}
version=$(dpkg-deb -f "$deb" Version)
ok "built $(basename "$deb")"

# --------------------------------------------------------------------------
step "lintian $(basename "$deb")"
lintian --fail-on none "$deb" >"$tmp/lintian.txt" 2>&1 || fail "lintian did not run"
sed 's/^/    /' "$tmp/lintian.txt"
if grep -E '^[EW]: ' "$tmp/lintian.txt" | grep -v ' initial-upload-closes-no-bugs' >/dev/null; then
    fail "lintian reports errors or warnings"
fi
ok "lintian: no errors, no warnings"

step "Dependencies come from dpkg-shlibdeps: none, the binary is static; Built-Using names glibc"
depends=$(dpkg-deb -f "$deb" Depends)
echo "    Depends: $depends"
for dep in $(echo "$depends" | tr ',|' '\n' | sed 's/(.*)//; s/ //g' | sort -u); do
    fail "unexpected dependency $dep (is pidshim still linked statically?)"
done
built_using=$(dpkg-deb -f "$deb" Built-Using)
echo "    Built-Using: $built_using"
case $built_using in
glibc\ \(=\ *\)) ;;
*) fail "Built-Using does not name the glibc linked into pidshim" ;;
esac
ok "Depends: ${depends:-nothing}; Built-Using: $built_using"

# --------------------------------------------------------------------------
step "Installing with dpkg -i"
dpkg -i "$deb" || fail "dpkg -i failed"
installed pidshim || fail "pidshim is not installed after dpkg -i"
ok "pidshim $version installed"

step "Checking the installed files"
dpkg -L pidshim >"$tmp/files.txt"
expected=(
    /usr/bin/pidshim
    /usr/share/man/man1/pidshim.1.gz
    /usr/share/bash-completion/completions/pidshim
    /usr/share/doc/pidshim/copyright
    /usr/share/doc/pidshim/changelog.gz
)
while IFS= read -r f; do
    expected+=("/usr/share/doc/pidshim/examples/${f#./}")
done < <(cd "$src/config" && find . -type f | sort)
for f in "${expected[@]}"; do
    grep -qxF "$f" "$tmp/files.txt" || grep -qxF "$f.gz" "$tmp/files.txt" ||
        fail "dpkg -L pidshim does not list $f"
    [ -e "$f" ] || [ -e "$f.gz" ] || fail "$f is listed but not on disk"
done
ok "dpkg -L pidshim lists all ${#expected[@]} expected files"

installed_version=$(/usr/bin/pidshim --version) || fail "pidshim --version failed"
case $installed_version in
*"$version"*) ok "pidshim --version: $installed_version" ;;
*) fail "pidshim --version says '$installed_version', the package is $version" ;;
esac

manpage=$(man -w pidshim) || fail "man -w pidshim finds no manual page"
[ "$manpage" = /usr/share/man/man1/pidshim.1.gz ] || fail "man -w pidshim: $manpage"
warnings=$(LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 pidshim 2>&1 >/dev/null)
[ -z "$warnings" ] || fail "man --warnings pidshim: $warnings"
ok "man -w pidshim: $manpage, renders without warnings"

completion=$(bash -c 'source /usr/share/bash-completion/bash_completion &&
    _completion_loader pidshim; complete -p pidshim' 2>&1) ||
    fail "bash completion for pidshim does not load: $completion"
ok "bash completion loads: $completion"

status=0
env -u NOTIFY_SOCKET /usr/bin/pidshim --config /usr/share/doc/pidshim/examples/pidshim.conf \
    "$tmp/none.pid" /bin/sh -c 'exit 3' 2>"$tmp/config.err" || status=$?
[ "$status" = 3 ] ||
    fail "the example pidshim.conf is not accepted (exit $status): $(cat "$tmp/config.err")"
ok "the example pidshim.conf is accepted (COMMAND's exit 3 passed through)"

# --------------------------------------------------------------------------
step "No file conflicts with supervisor (which owns /usr/bin/pidproxy)"
owner=$(dpkg -S /usr/bin/pidproxy) || fail "dpkg -S /usr/bin/pidproxy: no owner"
[ "$owner" = "supervisor: /usr/bin/pidproxy" ] || fail "dpkg -S /usr/bin/pidproxy: $owner"
ok "dpkg -S /usr/bin/pidproxy: $owner"
while IFS= read -r f; do
    if [ ! -f "$f" ] || [ -L "$f" ]; then
        continue
    fi
    owners=$(dpkg -S "$f" | sed 's/: .*//')
    [ "$owners" = pidshim ] || fail "$f is owned by: $owners"
done <"$tmp/files.txt"
ok "every file of pidshim is owned by pidshim alone"
# Configuration files (marked c) may have been edited by the admin; the
# others must be exactly as supervisor shipped them.
changed=$(dpkg --verify supervisor | awk '$2 != "c"') || true
[ -z "$changed" ] || fail "dpkg --verify supervisor reports changed files: $changed"
ok "dpkg --verify supervisor: its files are untouched"

# --------------------------------------------------------------------------
step "Running /usr/bin/pidshim on a forking daemon (redis-server --daemonize yes)"
env -u NOTIFY_SOCKET /usr/bin/pidshim -t 10 "$tmp/redis.pid" \
    redis-server --daemonize yes --port 0 --unixsocket "$tmp/r.sock" \
    --pidfile "$tmp/redis.pid" --dir "$tmp" >"$tmp/pidshim.log" 2>&1 &
shim_pid=$!
echo "    pidshim pid $shim_pid"
redis_answers() { [ "$(redis-cli -s "$tmp/r.sock" ping 2>/dev/null)" = PONG ]; }
wait_for 15 redis_answers || {
    cat "$tmp/pidshim.log" >&2
    fail "redis did not answer PING on $tmp/r.sock within 15 s"
}
daemon_pid=$(head -n 1 "$tmp/redis.pid")
ok "redis (pid $daemon_pid, from $tmp/redis.pid) answers PING"
alive "$shim_pid" || fail "pidshim exited while redis runs"
parent=$(sed -n 's/^PPid:[[:space:]]*//p' "/proc/$daemon_pid/status")
[ "$parent" = "$shim_pid" ] || fail "redis's parent is $parent, not pidshim ($shim_pid)"
ok "pidshim is in the foreground and redis, daemonized, is its child (subreaper)"

kill -TERM "$shim_pid"
echo "    sent SIGTERM to pidshim"
gone() { ! alive "$1"; }
wait_for 15 gone "$shim_pid" || fail "pidshim still runs 15 s after SIGTERM"
status=0
wait "$shim_pid" || status=$?
shim_pid=
sed 's/^/    | /' "$tmp/pidshim.log"
[ "$status" = 0 ] || fail "pidshim exited with status $status, expected redis's 0"
ok "pidshim exited with status 0"
wait_for 2 gone "$daemon_pid" || fail "redis (pid $daemon_pid) still runs after pidshim exited"
daemon_pid=
ok "redis is gone"

# --------------------------------------------------------------------------
# The package build ran the unit tests; the tests that drive the binary against real
# processes run here, against the binary the package installed.
build=${PIDSHIM_BUILD_DIR:-$src/build}
step "The integration and hardening suites against /usr/bin/pidshim (test programs from $build)"
listed=$(ctest --test-dir "$build" -N -L integration 2>/dev/null || true)
if ! grep -q 'integration\.' <<<"$listed"; then
    cmake -S "$src" -B "$build" -DPIDSHIM_HOST_TESTS=OFF -DPIDSHIM_SOAK=OFF -DPIDSHIM_BENCH=OFF ||
        fail "cannot configure the test suite in $build"
    cmake --build "$build" -j2 || fail "cannot build the test suite in $build"
fi
PIDSHIM_TEST_BIN=/usr/bin/pidshim ctest --test-dir "$build" --output-on-failure -j2 \
    -L 'integration|hardening' >"$tmp/ctest.log" 2>&1 || {
    cat "$tmp/ctest.log"
    fail "the suites fail against /usr/bin/pidshim"
}
ok "integration and hardening suites pass against /usr/bin/pidshim:" \
    "$(grep -m1 'tests passed' "$tmp/ctest.log")"

# --------------------------------------------------------------------------
step "Purging with dpkg --purge"
dpkg --purge pidshim || fail "dpkg --purge pidshim failed"
[ ! -e /usr/bin/pidshim ] || fail "/usr/bin/pidshim is still there after purge"
! installed pidshim || fail "pidshim is still installed"
[ -e /usr/bin/pidproxy ] || fail "/usr/bin/pidproxy went away with pidshim"
ok "pidshim purged; /usr/bin/pidshim is gone, /usr/bin/pidproxy stays"

printf '\nci-deb: %d passed, 0 failed\n' "$passed"
