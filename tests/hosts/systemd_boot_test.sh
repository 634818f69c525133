#!/bin/bash
# The shipped units in config/systemd/ under a real systemd: a minimal Debian 12 tree (made by
# debian-tree.sh, kept between runs) is booted with systemd-nspawn --boot, pidshim is installed
# in it, and systemctl drives nginx-pidshim.service and forking-daemon.service through start
# (Type=notify readiness), reload, kill -s HUP, stop, a daemon crash with its restart, a daemon
# that ignores the stop (--kill-after), and a start that fails; then mariadb-pidshim.service,
# postgresql-pidshim.service and apache2-pidshim.service, unchanged, on the packages' own
# configuration and data, through start, reload, kill -s HUP and stop (about 30 s). Each step checks
# `systemctl show` (MainPID, ExecMainStatus, Result, ...) and the journal, with the priority of
# pidshim's lines taken from their <N> prefixes.
#
# Usage: systemd_boot_test.sh PIDSHIM_BINARY TESTD_BINARY CONFIG_DIR
#
#   PIDSHIM_TEST_BIN   overrides PIDSHIM_BINARY (as for the other tests)
#   PIDSHIM_TEST_DEB   a pidshim .deb (packaging/build-deb.sh): installed with dpkg -i inside
#                      the booted system instead of copying PIDSHIM_BINARY to /usr/bin/pidshim
#   PIDSHIM_HOSTS_CACHE, PIDSHIM_DEBIAN_MIRROR: see debian-tree.sh
#
# The tree itself is never changed: the container runs on a tmpfs overlay of it
# (--volatile=overlay), with a private network (only loopback: nginx's port 80 is its own, and
# apache's once nginx is stopped). The packages' own services (nginx, mariadb, postgresql,
# apache2) are masked at boot: the pidshim units replace them.
# forking-daemon.service runs unchanged; its /usr/sbin/exampled is testd, started with --fork
# and the options a step writes to /etc/default/exampled. The only change to a shipped unit is a
# drop-in with RestartSec=3 for the crash steps, so that the failed state can be read before
# systemd restarts the service.
#
# Exit status: 0 all passed, 1 a check failed, 77 (skipped) where the machine lacks what it
# takes (root, systemd-nspawn, mmdebstrap or debootstrap, or the Debian mirror).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
pidshim=${PIDSHIM_TEST_BIN:-${1:?usage: systemd_boot_test.sh PIDSHIM TESTD CONFIG_DIR}}
testd=${2:?usage: systemd_boot_test.sh PIDSHIM TESTD CONFIG_DIR}
config_dir=${3:?usage: systemd_boot_test.sh PIDSHIM TESTD CONFIG_DIR}
deb=${PIDSHIM_TEST_DEB:-}

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
# check DESCRIPTION COMMAND...: the command's success is the check.
check() {
    local what=$1
    shift
    if "$@"; then ok "$what"; else not_ok "$what"; fi
}
# same DESCRIPTION ACTUAL EXPECTED
same() {
    if [ "$2" = "$3" ]; then ok "$1 ($2)"; else not_ok "$1: '$2', expected '$3'"; fi
}
now_ms() { date +%s%3N; }

[ "$(id -u)" = 0 ] || skip "needs root (systemd-nspawn, mmdebstrap or debootstrap)"
command -v systemd-nspawn >/dev/null ||
    skip "systemd-nspawn not installed (apt-get install systemd-container)"
command -v nsenter >/dev/null || skip "nsenter not installed (util-linux)"
pidshim=$(realpath "$pidshim")
testd=$(realpath "$testd")

t=$SECONDS
tree=$("$here/debian-tree.sh")
rc=$?
[ $rc = 77 ] && skip "no Debian tree (debian-tree.sh said why above)"
[ $rc = 0 ] || { say "FAILED  making the Debian tree"; exit 1; }
say "# tree $tree ready after $((SECONDS - t)) s"

machine=pidshim-systemd-$$
stage=$(mktemp -d /tmp/pidshim-systemd.XXXXXX)
nspawn_pid=
leader=
cgroups=()

# ---------------------------------------------------------------------------------------------
# The container

# A command inside the booted system, with a clean environment, bounded in time.
in_ct() {
    timeout "${limit:-60}" nsenter -t "$leader" -a -- env -i \
        PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
        SYSTEMD_PAGER= SYSTEMD_COLORS=0 "$@"
}
show() { in_ct systemctl show -p "$2" --value "$1"; }

# wait_until SECONDS COMMAND...: true once the command succeeds, false if it never did.
wait_until() {
    local deadline=$(($(now_ms) + $1 * 1000))
    shift
    until "$@"; do
        (($(now_ms) < deadline)) || return 1
        sleep 0.1
    done
}

# Whether a process runs (a zombie does not: nspawn is ours to reap).
running() {
    local state
    state=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null)
    [ -n "$state" ] && [ "$state" != Z ]
}
cleanup() {
    if [ -n "$leader" ] && running "$leader"; then
        limit=10 in_ct systemctl poweroff >/dev/null 2>&1
        # Killing the container's PID 1 ends every process in it.
        wait_until 20 eval '! running "$leader"' || kill -KILL "$leader" 2>/dev/null
    fi
    if [ -n "$nspawn_pid" ]; then
        wait_until 10 eval '! running "$nspawn_pid"' || kill -KILL "$nspawn_pid" 2>/dev/null
        wait "$nspawn_pid" 2>/dev/null
    fi
    # nspawn leaves this directory behind where /run is not a tmpfs (it refuses to remove it).
    rm -rf "/run/systemd/nspawn/propagate/$machine"
    local cg
    for cg in "${cgroups[@]}"; do
        find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null
    done
    rm -rf "$stage" "$stage.boot.log"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP PIPE

# What goes into the container, read-only at /mnt/stage. The units are enabled, as an operator
# would: multi-user.target's reference also keeps a stopped unit loaded, so that systemctl show
# reports how it ended (an unreferenced inactive unit is unloaded and shows defaults).
mkdir -p "$stage/units"
cp "$config_dir"/systemd/nginx-pidshim.service "$config_dir"/systemd/forking-daemon.service \
    "$config_dir"/systemd/mariadb-pidshim.service "$config_dir"/systemd/postgresql-pidshim.service \
    "$config_dir"/systemd/apache2-pidshim.service "$stage/units/"
if [ -n "$deb" ]; then
    cp "$deb" "$stage/pidshim.deb"
else
    cp "$pidshim" "$stage/pidshim"
fi
cp "$testd" "$stage/testd"
cat >"$stage/exampled" <<'EOF'
#!/bin/sh
# exampled for forking-daemon.service: testd, daemonizing (--fork), logging every event to
# /run/exampled.log, with the options the test puts in /etc/default/exampled.
EXAMPLED_OPTS=
[ -r /etc/default/exampled ] && . /etc/default/exampled
exec /usr/local/libexec/testd --fork --log /run/exampled.log $EXAMPLED_OPTS "$@"
EOF
cat >"$stage/restart-delay.conf" <<'EOF'
# The test's only change to the shipped unit: the failed state (Result=, ExecMainStatus=) stays
# readable for 3 s before Restart=on-failure starts the service again.
[Service]
RestartSec=3
EOF

# nspawn runs in a cgroup of its own (it puts the container's payload/ and supervisor/ below its
# own cgroup), which is removed afterwards. On a host that systemd booted, nspawn asks systemd
# for a scope instead.
nspawn_opts=(--register=no)
if [ -d /run/systemd/system ]; then
    :
else
    nspawn_opts+=(--keep-unit)
    for hierarchy in /sys/fs/cgroup/systemd /sys/fs/cgroup/unified /sys/fs/cgroup; do
        if [ -e "$hierarchy/cgroup.procs" ] && mkdir "$hierarchy/$machine" 2>/dev/null; then
            cgroups+=("$hierarchy/$machine")
        fi
        # /sys/fs/cgroup itself only where it is the cgroup2 hierarchy.
        [ "$hierarchy" = /sys/fs/cgroup/unified ] && [ ${#cgroups[@]} -gt 0 ] && break
    done
fi

# The packages' own services, which the pidshim units replace, do not start at boot.
masked=(nginx.service mariadb.service postgresql.service postgresql@15-main.service
    apache2.service apache-htcacheclean.service)
t=$(now_ms)
(
    for cg in "${cgroups[@]}"; do echo "$BASHPID" >"$cg/cgroup.procs"; done
    exec systemd-nspawn --boot --quiet "${nspawn_opts[@]}" --machine="$machine" \
        --directory="$tree" --volatile=overlay --private-network --console=pipe \
        --bind-ro="$stage:/mnt/stage" "${masked[@]/#/systemd.mask=}"
) </dev/null >"$stage.boot.log" 2>&1 &
nspawn_pid=$!
# The container's PID 1: nspawn's child that runs systemd (nspawn forks and exits helpers first).
find_leader() {
    local pid
    for pid in $(pgrep -P "$nspawn_pid"); do
        if [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = systemd ]; then
            leader=$pid
            return 0
        fi
    done
    return 1
}
if ! wait_until 20 find_leader; then
    cat "$stage.boot.log"
    say "FAILED  systemd-nspawn started no container (its output is above)"
    exit 1
fi
# systemctl can talk to systemd once its private socket exists; then it waits for the boot.
wait_until 30 in_ct test -S /run/systemd/private
state=$(limit=60 in_ct systemctl is-system-running --wait 2>&1)
boot_ms=$(($(now_ms) - t))
rm -f "$stage.boot.log"
if [ "$state" != running ]; then
    in_ct systemctl --failed --no-pager
    not_ok "boot: systemctl is-system-running says '$state' after ${boot_ms} ms, expected 'running'"
else
    ok "systemd booted the tree in ${boot_ms} ms (is-system-running: $state)"
fi
say "# $(in_ct systemctl --version | head -n 1), in $(in_ct systemd-detect-virt)"

# ---------------------------------------------------------------------------------------------
# pidshim, the units and exampled inside

if [ -n "$deb" ]; then
    check "dpkg -i of the pidshim .deb" in_ct sh -c \
        'dpkg -i /mnt/stage/pidshim.deb >/tmp/dpkg.log 2>&1 || { cat /tmp/dpkg.log; false; }'
else
    check "pidshim installed as /usr/bin/pidshim" in_ct install -m 755 /mnt/stage/pidshim /usr/bin/pidshim
fi
in_ct sh -c 'install -D -m 755 /mnt/stage/testd /usr/local/libexec/testd &&
    install -m 755 /mnt/stage/exampled /usr/sbin/exampled &&
    cp /mnt/stage/units/*.service /etc/systemd/system/ && systemctl daemon-reload &&
    systemctl --quiet enable nginx-pidshim.service forking-daemon.service \
        mariadb-pidshim.service postgresql-pidshim.service apache2-pidshim.service' ||
    not_ok "installing the units and exampled"
say "# $(in_ct pidshim --version | head -n 1)"

# Helpers on processes inside (the container's pids).
ppid_of() { in_ct ps -o ppid= -p "$1" | tr -d ' '; }
exe_of() { in_ct readlink "/proc/$1/exe"; }
children_of() { in_ct ps -o pid= --ppid "$1" | tr -d ' ' | sort -n | tr '\n' ' '; }
alive() { in_ct kill -0 "$1" 2>/dev/null; }
http_ok() {
    in_ct bash -c 'exec 3<>/dev/tcp/127.0.0.1/80 && printf "GET / HTTP/1.0\r\n\r\n" >&3 &&
        cat <&3' 2>/dev/null | sed -n 1p | grep ' 200 ' >/dev/null
}
state_is() { [ "$(show "$1" ActiveState)/$(show "$1" SubState)" = "$2" ]; }
# The journal of a unit since the test began, message text only.
journal() { in_ct journalctl --no-pager -o cat -u "$@"; }
# journal_has UNIT PRIORITY REGEX: a line of the unit's journal, stored with that priority
# (journalctl -p N..N), that matches REGEX (grep -E).
# (grep reads all: under pipefail, grep -q could end journalctl with SIGPIPE.)
journal_has() {
    journal "$1" -p "$2..$2" | grep -E -- "$3" >/dev/null
}
# journal_count UNIT PRIORITY REGEX
journal_count() {
    journal "$1" -p "$2..$2" | grep -cE -- "$3"
}
# Nothing systemd had to kill itself, nothing left behind when the main process exited.
nothing_left_over() {
    ! journal "$1" | grep -E 'left-over process|Killing process|timed out|Unit process .* remains'
}
# journal_first UNIT REGEX: the first line of the unit's journal that matches.
journal_first() { journal "$1" | grep -E -- "$2" | sed -n 1p; }
# Each step logs the journal lines it produced when a check failed.
dump() {
    say "# --- systemctl status $1"
    in_ct systemctl status --no-pager -n 0 "$1" | sed 's/^/#   /'
    say "# --- journal of $1"
    journal "$1" | tail -n 25 | sed 's/^/#   /'
}
step_failed_before=0
step() {
    say ""
    say "# $*"
    step_failed_before=$failed
}
end_step() {
    [ "$failed" -eq "$step_failed_before" ] || dump "$1"
}

# ---------------------------------------------------------------------------------------------
unit=nginx-pidshim.service

step "$unit: start (Type=notify: start returns once /run/nginx.pid names the master)"
t=$(now_ms)
check "systemctl start $unit" in_ct systemctl start "$unit"
say "#   start took $(($(now_ms) - t)) ms"
same "ActiveState/SubState" "$(show $unit ActiveState)/$(show $unit SubState)" active/running
main=$(show $unit MainPID)
same "MainPID runs /usr/bin/pidshim" "$(exe_of "$main")" /usr/bin/pidshim
master=$(in_ct head -n 1 /run/nginx.pid)
check "when start returned, /run/nginx.pid named a live process ($master)" alive "$master"
same "the nginx master's parent is pidshim" "$(ppid_of "$master")" "$main"
workers=$(children_of "$master")
check "nginx has workers ($workers)" test -n "$workers"
check "nginx answers HTTP 200" http_ok
check "StatusText= from pidshim's STATUS= ('$(show $unit StatusText)')" test -n "$(show $unit StatusText)"
check "journal, priority 6 (info): pidshim: /run/nginx.pid: following pid $master" \
    journal_has $unit 6 "following pid $master( |$)"
end_step $unit

step "$unit: systemctl reload (ExecReload=kill -HUP \$MAINPID; pidshim forwards it)"
check "systemctl reload $unit" in_ct systemctl reload "$unit"
new_workers() {
    local now
    now=$(children_of "$master")
    [ -n "$now" ] && [ -z "$(comm -12 <(tr ' ' '\n' <<<"$workers" | sort) <(tr ' ' '\n' <<<"$now" | sort) | tr -d '\n')" ]
}
check "nginx replaced its workers (was: $workers)" wait_until 10 new_workers
workers=$(children_of "$master")
same "the master is the same" "$(in_ct head -n 1 /run/nginx.pid)" "$master"
same "MainPID is the same" "$(show $unit MainPID)" "$main"
same "ActiveState/SubState" "$(show $unit ActiveState)/$(show $unit SubState)" active/running
check "nginx answers HTTP 200" http_ok
check "journal, priority 6: forwarded SIGHUP to pid $master" \
    journal_has $unit 6 "forwarded SIGHUP to pid $master( |$)"
end_step $unit

step "$unit: systemctl kill --kill-who=main -s HUP (the signal reaches pidshim only)"
check "systemctl kill --kill-who=main -s HUP $unit" in_ct systemctl kill --kill-who=main -s HUP "$unit"
check "nginx replaced its workers again (was: $workers)" wait_until 10 new_workers
same "MainPID is the same" "$(show $unit MainPID)" "$main"
same "ActiveState/SubState" "$(show $unit ActiveState)/$(show $unit SubState)" active/running
check "nginx answers HTTP 200" http_ok
check "journal: two forwarded SIGHUPs so far" \
    test "$(journal_count $unit 6 "forwarded SIGHUP to pid $master( |$)")" -eq 2
end_step $unit

step "$unit: systemctl stop (KillSignal=SIGQUIT to pidshim, which forwards it)"
t=$(now_ms)
check "systemctl stop $unit" in_ct systemctl stop "$unit"
stop_ms=$(($(now_ms) - t))
check "stop took ${stop_ms} ms, well inside TimeoutStopSec=50" test "$stop_ms" -lt 10000
same "ActiveState" "$(show $unit ActiveState)" inactive
same "Result" "$(show $unit Result)" success
same "ExecMainCode (1: exited)" "$(show $unit ExecMainCode)" 1
same "ExecMainStatus (nginx's own, 0 after QUIT)" "$(show $unit ExecMainStatus)" 0
check "no nginx process is left" eval '! in_ct pgrep -x nginx >/dev/null'
check "journal, priority 6: forwarded SIGQUIT to pid $master" \
    journal_has $unit 6 "forwarded SIGQUIT to pid $master( |$)"
check "systemd killed nothing itself and found nothing left over" nothing_left_over $unit
end_step $unit

step "$unit: the nginx master crashes (SIGSEGV); Restart=on-failure starts it again"
in_ct sh -c "mkdir -p /etc/systemd/system/$unit.d &&
    cp /mnt/stage/restart-delay.conf /etc/systemd/system/$unit.d/ && systemctl daemon-reload"
check "systemctl start $unit" in_ct systemctl start "$unit"
main=$(show $unit MainPID)
master=$(in_ct head -n 1 /run/nginx.pid)
workers=$(children_of "$master")
in_ct kill -SEGV "$master"
check "the unit waits to restart (activating/auto-restart)" wait_until 10 state_is $unit activating/auto-restart
same "Result" "$(show $unit Result)" exit-code
same "ExecMainStatus (128 + SIGSEGV)" "$(show $unit ExecMainStatus)" 139
check "pidshim stopped the workers the master left (no nginx process)" eval '! in_ct pgrep -x nginx >/dev/null'
check "journal: systemd saw status 139" \
    test -n "$(journal_first $unit 'Main process exited, code=exited, status=139')"
check "journal, priority 6: pidshim sent SIGTERM to the leftover workers" \
    journal_has $unit 6 "sending SIGTERM to leftover process"
check "restarted: active/running again" wait_until 15 state_is $unit active/running
same "NRestarts" "$(show $unit NRestarts)" 1
new_main=$(show $unit MainPID)
new_master=$(in_ct head -n 1 /run/nginx.pid)
check "a new pidshim ($new_main, was $main) and a new master ($new_master, was $master)" \
    test "$new_main" != "$main" -a "$new_master" != "$master" -a "$(ppid_of "$new_master")" = "$new_main"
check "nginx answers HTTP 200" http_ok
check "systemctl stop $unit" in_ct systemctl stop "$unit"
same "Result after the stop" "$(show $unit Result)" success
in_ct sh -c "rm -r /etc/systemd/system/$unit.d && systemctl daemon-reload"
end_step $unit

# ---------------------------------------------------------------------------------------------
unit=forking-daemon.service
exampled_opts() { in_ct sh -c "echo 'EXAMPLED_OPTS=\"$*\"' >/etc/default/exampled"; }
log_count() { in_ct cat /run/exampled.log 2>/dev/null | grep -c -- "$1"; }
# logged_times COUNT TEXT: exampled's log has TEXT on exactly COUNT lines.
logged_times() { [ "$(log_count "$2")" -eq "$1" ]; }
daemon_of() { in_ct head -n 1 /run/exampled.pid; }

step "$unit: Type=notify readiness (the pidfile comes 2 s after the fork)"
exampled_opts --workers 2 --pidfile-delay 2000
t=$(now_ms)
check "systemctl start --no-block $unit" in_ct systemctl start --no-block "$unit"
check "activating/start while there is no pidfile" wait_until 5 state_is $unit activating/start
check "still no pidfile then" eval '! in_ct test -e /run/exampled.pid'
say "#   StatusText meanwhile: '$(show $unit StatusText)'"
check "systemctl start $unit (waits for the job)" in_ct systemctl start "$unit"
ready_ms=$(($(now_ms) - t))
check "ready after ${ready_ms} ms, not before the pidfile (2000 ms)" test "$ready_ms" -ge 1900
same "ActiveState/SubState" "$(show $unit ActiveState)/$(show $unit SubState)" active/running
main=$(show $unit MainPID)
daemon=$(daemon_of)
same "MainPID runs /usr/bin/pidshim" "$(exe_of "$main")" /usr/bin/pidshim
same "the daemon's parent is pidshim" "$(ppid_of "$daemon")" "$main"
check "the daemon has 2 workers" test "$(children_of "$daemon" | wc -w)" -eq 2
first=$(journal_first $unit "following pid $daemon( |\$)|Started")
check "journal: pidshim followed the daemon before systemd said Started ('$first')" \
    eval '[[ $first == *"following pid $daemon"* ]]'
end_step $unit

step "$unit: systemctl reload, then systemctl kill --kill-who=main -s HUP"
check "systemctl reload $unit" in_ct systemctl reload "$unit"
check "the daemon got HUP" wait_until 5 logged_times 1 "signal pid=$daemon role=daemon sig=HUP"
check "systemctl kill --kill-who=main -s HUP $unit" in_ct systemctl kill --kill-who=main -s HUP "$unit"
check "the daemon got a second HUP" wait_until 5 logged_times 2 "signal pid=$daemon role=daemon sig=HUP"
check "the workers got none (pidshim signals the daemon alone)" test "$(log_count "role=worker sig=HUP")" -eq 0
same "MainPID is the same" "$(show $unit MainPID)" "$main"
check "journal, priority 6: two forwarded SIGHUPs" \
    test "$(journal_count $unit 6 "forwarded SIGHUP to pid $daemon( |$)")" -eq 2
end_step $unit

step "$unit: systemctl stop (SIGTERM kills the daemon: pidshim exits 143, SuccessExitStatus=143)"
check "systemctl stop $unit" in_ct systemctl stop "$unit"
same "ActiveState" "$(show $unit ActiveState)" inactive
same "Result" "$(show $unit Result)" success
same "ExecMainStatus" "$(show $unit ExecMainStatus)" 143
check "the daemon died of the TERM" test "$(log_count "exit pid=$daemon role=daemon sig=TERM")" -eq 1
check "no testd process is left" eval '! in_ct pgrep -f /usr/local/libexec/testd >/dev/null'
check "systemd killed nothing itself and found nothing left over" nothing_left_over $unit
end_step $unit

step "$unit: the daemon is killed (SIGKILL); Restart=on-failure starts it again"
exampled_opts --workers 2
in_ct sh -c "mkdir -p /etc/systemd/system/$unit.d &&
    cp /mnt/stage/restart-delay.conf /etc/systemd/system/$unit.d/ && systemctl daemon-reload"
check "systemctl start $unit" in_ct systemctl start "$unit"
main=$(show $unit MainPID)
daemon=$(daemon_of)
restarts=$(show $unit NRestarts)
in_ct kill -KILL "$daemon"
check "the unit waits to restart (activating/auto-restart)" wait_until 10 state_is $unit activating/auto-restart
same "Result" "$(show $unit Result)" exit-code
same "ExecMainStatus (128 + SIGKILL)" "$(show $unit ExecMainStatus)" 137
check "the workers were stopped with it" eval '! in_ct pgrep -f /usr/local/libexec/testd >/dev/null'
check "restarted: active/running again" wait_until 15 state_is $unit active/running
same "NRestarts" "$(show $unit NRestarts)" $((restarts + 1))
check "a new daemon ($(daemon_of), was $daemon) under a new pidshim" \
    test "$(daemon_of)" != "$daemon" -a "$(show $unit MainPID)" != "$main"
check "systemctl stop $unit" in_ct systemctl stop "$unit"
end_step $unit

step "$unit: a daemon that ignores SIGTERM (--kill-after 10 finishes the stop, not systemd)"
exampled_opts --ignore TERM
check "systemctl start $unit" in_ct systemctl start "$unit"
daemon=$(daemon_of)
t=$(now_ms)
limit=40 in_ct systemctl stop "$unit"
stop_ms=$(($(now_ms) - t))
check "stop took ${stop_ms} ms: the 10 s of --kill-after, less than TimeoutStopSec=30" \
    test "$stop_ms" -ge 9500 -a "$stop_ms" -lt 20000
same "ExecMainStatus (128 + SIGKILL)" "$(show $unit ExecMainStatus)" 137
same "Result (137 is not a success)" "$(show $unit Result)" exit-code
check "the daemon logged the ignored TERM" test "$(log_count "signal pid=$daemon role=daemon sig=TERM ignored")" -eq 1
check "journal, priority 4 (warning): pidshim's SIGKILL" journal_has $unit 4 "still running .* after SIGTERM; sending SIGKILL \\(--kill-after\\)"
check "systemd killed nothing itself" nothing_left_over $unit
in_ct systemctl reset-failed "$unit"
end_step $unit

step "$unit: the daemon's program is missing (pidshim cannot start it; RestartSec=3 still)"
in_ct mv /usr/sbin/exampled /usr/sbin/exampled.away
check "systemctl start $unit fails" eval "! in_ct systemctl start $unit 2>/dev/null"
check "journal, priority 3 (error): pidshim: cannot run '/usr/sbin/exampled'" \
    journal_has $unit 3 "cannot run '/usr/sbin/exampled'"
same "ExecMainStatus" "$(show $unit ExecMainStatus)" 127
in_ct systemctl stop "$unit"
in_ct systemctl reset-failed "$unit"
in_ct mv /usr/sbin/exampled.away /usr/sbin/exampled
in_ct sh -c "rm -r /etc/systemd/system/$unit.d && systemctl daemon-reload"
end_step $unit

# ---------------------------------------------------------------------------------------------
# The servers' units, as shipped (no drop-in): mariadb-pidshim.service, postgresql-pidshim.service
# and apache2-pidshim.service on the packages' own configuration and data (made by their
# postinst when the tree was made; the packages' services are masked at boot). Each goes through
# start, systemctl reload, systemctl kill --kill-who=main -s HUP and stop, and must answer after
# each but the stop, and leave a clean shutdown in its log and no process.

in_ct_long() { limit=120 in_ct "$@"; }
mariadb_answers() { [ "$(in_ct mariadb -N -B -e 'select 1' 2>/dev/null)" = 1 ]; }
mariadb_procs() { in_ct pgrep -f 'mysqld|mariadbd' | tr '\n' ' '; }
# mysqld_safe sends the server's error log to syslog (Debian's 50-mysqld_safe.cnf): the journal.
mariadb_shut_down() {
    local log
    log=$(in_ct journalctl --no-pager -o cat -t mysqld -t mariadbd)
    [[ $log == *"InnoDB: Starting shutdown..."* && $log == *"Shutdown completed; log sequence number"* &&
        $log == *"mariadbd: Shutdown complete"* ]]
}
# mariadbd logs nothing for a HUP (it flushes its logs and privileges).
mariadb_reloaded() { true; }
mariadb_log() { in_ct journalctl --no-pager -o cat -t mysqld -t mariadbd | tail -n 15; }

pg_log=/var/log/postgresql/postgresql-15-main.log
postgresql_answers() { [ "$(in_ct runuser -u postgres -- psql -X -A -t -c 'select 1' 2>/dev/null)" = 1 ]; }
postgresql_procs() { in_ct pgrep -u postgres | tr '\n' ' '; }
postgresql_shut_down() {
    local log
    log=$(in_ct cat "$pg_log")
    [[ $log == *"received fast shutdown request"* && $log == *"database system is shut down"* ]]
}
# postgresql_reloaded COUNT: the postmaster logged COUNT reloads.
postgresql_reloaded() {
    [ "$(in_ct cat "$pg_log" | grep -c 'received SIGHUP, reloading configuration files')" -eq "$1" ]
}
postgresql_log() { in_ct tail -n 15 "$pg_log"; }

apache2_answers() { http_ok; }
apache2_procs() { in_ct pgrep -x apache2 | tr '\n' ' '; }
apache2_shut_down() {
    in_ct cat /var/log/apache2/error.log | grep 'caught SIGWINCH, shutting down gracefully' >/dev/null
}
# apache2_reloaded COUNT: COUNT graceful restarts in the error log (AH00493: SIGUSR1 received).
apache2_reloaded() {
    [ "$(in_ct cat /var/log/apache2/error.log | grep -c 'SIGUSR1 received')" -eq "$1" ]
}
apache2_log() { in_ct tail -n 15 /var/log/apache2/error.log; }

# server_steps NAME PIDFILE EXPECTED_MAP: NAME-pidshim.service; PIDFILE names the daemon;
# EXPECTED_MAP is what HUP is forwarded as (" as SIGUSR1"), empty if as itself.
server_steps() {
    local name=$1 pidfile=$2 as=$3
    local unit=$name-pidshim.service main daemon t ms status procs
    server_started=$(now_ms)

    step "$unit: start (Type=notify: start returns once $pidfile names the server)"
    t=$(now_ms)
    check "systemctl start $unit" in_ct_long systemctl start "$unit"
    say "#   start took $(($(now_ms) - t)) ms"
    same "ActiveState/SubState" "$(show $unit ActiveState)/$(show $unit SubState)" active/running
    main=$(show $unit MainPID)
    same "MainPID runs /usr/bin/pidshim" "$(exe_of "$main")" /usr/bin/pidshim
    daemon=$(in_ct head -n 1 "$pidfile")
    check "when start returned, $pidfile named a live process ($daemon)" alive "$daemon"
    check "$name answers" wait_until 10 "${name}_answers"
    check "journal, priority 6 (info): pidshim: following pid $daemon" \
        journal_has $unit 6 "following pid $daemon( |\$)"
    end_step $unit

    step "$unit: systemctl reload, then systemctl kill --kill-who=main -s HUP"
    check "systemctl reload $unit" in_ct systemctl reload "$unit"
    check "journal, priority 6: forwarded SIGHUP$as to pid $daemon" \
        wait_until 5 journal_has $unit 6 "forwarded SIGHUP$as to pid $daemon( |\$)"
    check "$name took it as a reload" wait_until 5 "${name}_reloaded" 1
    check "$name answers after the reload" wait_until 10 "${name}_answers"
    check "systemctl kill --kill-who=main -s HUP $unit" \
        in_ct systemctl kill --kill-who=main -s HUP "$unit"
    check "journal: two forwarded SIGHUPs" wait_until 5 eval \
        "[ \"\$(journal_count $unit 6 'forwarded SIGHUP$as to pid $daemon( |\$)')\" -eq 2 ]"
    check "$name took it as a second reload" wait_until 5 "${name}_reloaded" 2
    check "$name answers after the HUP" wait_until 10 "${name}_answers"
    same "MainPID is the same" "$(show $unit MainPID)" "$main"
    same "the server is the same" "$(in_ct head -n 1 "$pidfile")" "$daemon"
    same "ActiveState/SubState" "$(show $unit ActiveState)/$(show $unit SubState)" active/running
    end_step $unit

    step "$unit: systemctl stop (SIGTERM to pidshim, which forwards it)"
    t=$(now_ms)
    check "systemctl stop $unit" in_ct_long systemctl stop "$unit"
    ms=$(($(now_ms) - t))
    check "stop took ${ms} ms, well inside the unit's schedule" test "$ms" -lt 20000
    same "ActiveState" "$(show $unit ActiveState)" inactive
    same "Result" "$(show $unit Result)" success
    same "MainPID" "$(show $unit MainPID)" 0
    status=$(show $unit ExecMainStatus)
    check "ExecMainStatus $status (0: the server's own after a clean stop, or 143)" \
        test "$status" = 0 -o "$status" = 143
    procs=$("${name}_procs")
    check "no process of $name is left${procs:+: $procs}" test -z "$procs"
    check "a clean shutdown in $name's log" wait_until 5 "${name}_shut_down"
    check "systemd killed nothing itself and found nothing left over" nothing_left_over $unit
    if [ "$failed" -ne "$step_failed_before" ]; then
        say "# --- $name's log"
        "${name}_log" | sed 's/^/#   /'
    fi
    end_step $unit
    say "#   $unit: $(($(now_ms) - server_started)) ms in all"
}

servers_started=$(now_ms)
server_steps mariadb /run/mysqld/mysqld.pid ""
server_steps postgresql /var/lib/postgresql/15/main/postmaster.pid ""
server_steps apache2 /run/apache2/apache2.pid " as SIGUSR1"
say "# the servers' units took $(($(now_ms) - servers_started)) ms"

step "the journal: pidshim's <N> prefixes became priorities, none was stored as text"
raw=$(in_ct journalctl --no-pager -o cat -u nginx-pidshim.service -u forking-daemon.service \
    -u mariadb-pidshim.service -u postgresql-pidshim.service -u apache2-pidshim.service |
    grep -E '^<[0-7]>' | head -n 3)
check "no journal line starts with a <N> prefix${raw:+: $raw}" test -z "$raw"
same "SYSLOG_IDENTIFIER of pidshim's lines" \
    "$(in_ct journalctl --no-pager -u nginx-pidshim.service -o verbose --output-fields=SYSLOG_IDENTIFIER -p 6..6 -g 'following pid' | grep -o 'SYSLOG_IDENTIFIER=.*' | sort -u)" \
    SYSLOG_IDENTIFIER=pidshim

say ""
say "# $passed passed, $failed failed; $((SECONDS - started)) s in all (boot ${boot_ms} ms)"
[ "$failed" -eq 0 ]
