#!/bin/bash
# Checks every unit in config/systemd/: systemd-analyze verify accepts it, and its settings
# agree with the pidshim options on its ExecStart= line.
#
# Usage: verify-units.sh PIDSHIM_BINARY [UNIT_DIR]
# PIDSHIM_TEST_BIN, when set, overrides PIDSHIM_BINARY (as for the other tests).
#
# systemd-analyze refuses a unit whose ExecStart= binary does not exist, and /usr/bin/pidshim
# need not be installed where the tests run: each unit is verified as a copy whose pidshim
# path names PIDSHIM_BINARY. Documentation= man pages are not looked up (--man=no), since
# pidshim's own is only installed with the package.
set -euo pipefail

pidshim=${PIDSHIM_TEST_BIN:-${1:?usage: verify-units.sh PIDSHIM_BINARY [UNIT_DIR]}}
unit_dir=$(realpath "${2:-$(dirname "$0")/../../config/systemd}")
pidshim=$(realpath "$pidshim")

if ! command -v systemd-analyze >/dev/null; then
    echo "verify-units: systemd-analyze not found (Debian: apt-get install systemd)" >&2
    exit 1
fi

work=$(mktemp -d /tmp/pidshim-units.XXXXXX)
trap 'rm -rf "$work"' EXIT

failures=0
fail() {
    echo "FAIL $unit: $*" >&2
    failures=$((failures + 1))
}

# The value of KEY in the [Service] section (the last one wins, as in systemd).
service_value() {
    awk -v key="$1" '
        /^\[/ { in_service = ($0 == "[Service]"); next }
        in_service && index($0, key "=") == 1 { value = substr($0, length(key) + 2) }
        END { print value }' "$unit"
}

# A time span in whole seconds; only the plain forms these units use ("30", "30s", "2min").
seconds() {
    case $1 in
    *min) echo $((${1%min} * 60)) ;;
    *s) echo "${1%s}" ;;
    '') echo "" ;;
    *) echo "$1" ;;
    esac
}

# The value of a pidshim option on the ExecStart= line (options end at PIDFILE), or DEFAULT.
option_value() {
    local long=$1 short=$2 default=$3
    set -f
    set -- $(service_value ExecStart)
    set +f
    shift # pidshim itself
    while [ $# -gt 0 ]; do
        case $1 in
        "$long" | "$short") echo "$2"; return ;;
        "$long"=*) echo "${1#*=}"; return ;;
        -g | --group | --notify-mainpid | -v | --verbose | -q | --quiet) shift ;;
        --) break ;;
        -*) shift 2 ;;
        *) break ;;
        esac
    done
    echo "$default"
}

# The seconds a --stop-schedule can take in all (a lone N is N/KILL/N, fractions round up), or
# nothing if it waits forever or never sends KILL: then only systemd's SIGKILL would end a daemon
# that ignores the stop.
schedule_seconds() {
    awk -v schedule="$1" 'BEGIN {
        n = split(schedule, step, "/")
        if (n == 1) { step[2] = "KILL"; step[3] = step[1]; n = 3 }
        for (i = 1; i <= n; i++) {
            if (step[i] == "forever") exit
            if (step[i] ~ /^[0-9]+(\.[0-9]+)?$/) {
                total += step[i]
            } else if (toupper(step[i]) ~ /^(SIG)?KILL$|^-?9$/) {
                kill = 1
            }
        }
        if (kill) print (total == int(total)) ? total : int(total) + 1
    }'
}

units=("$unit_dir"/*.service)
[ -e "${units[0]}" ] || { echo "verify-units: no units in $unit_dir" >&2; exit 1; }

for unit in "${units[@]}"; do
    failures_before=$failures
    name=$(basename "$unit")
    copy="$work/$name"
    grep -q '^ExecStart=/usr/bin/pidshim ' "$unit" || fail "ExecStart= does not run /usr/bin/pidshim"
    sed "s#/usr/bin/pidshim #$pidshim #" "$unit" >"$copy"

    # verify exits 0 on warnings such as an unknown key: any line about this unit is a failure.
    output=$(systemd-analyze verify --man=no "$copy" 2>&1) || fail "systemd-analyze verify failed"
    if grep -F -e "$name" -e "$copy" <<<"$output" >/dev/null; then
        fail "systemd-analyze verify complained"
    fi
    [ -z "$output" ] || printf '%s\n' "$output" | sed "s#^#  systemd-analyze: #" >&2

    [ "$(service_value Type)" = notify ] || fail "Type= is not notify"
    [ "$(service_value KillMode)" = mixed ] || fail "KillMode= is not mixed"
    grep -qw 143 <<<"$(service_value SuccessExitStatus)" || fail "SuccessExitStatus= lacks 143"
    # After MAINPID= names the daemon, pidshim is no longer the main process and its STOPPING=1
    # is only accepted with NotifyAccess=all.
    if grep -q -- '--notify-mainpid' <<<"$(service_value ExecStart)" &&
        [ "$(service_value NotifyAccess)" != all ]; then
        fail "--notify-mainpid needs NotifyAccess=all"
    fi
    reload=$(service_value ExecReload)
    if [ -n "$reload" ] && [ "$reload" != '/bin/kill -HUP $MAINPID' ]; then
        fail "ExecReload= is not '/bin/kill -HUP \$MAINPID' (pidshim forwards it)"
    fi

    kill_after=$(seconds "$(option_value --kill-after --kill-after 0)")
    schedule=$(option_value --stop-schedule --stop-schedule "")
    stop=$(seconds "$(service_value TimeoutStopSec)")
    if [ -n "$schedule" ]; then
        # The schedule's waits, then pidshim's default 5 s between SIGTERM and SIGKILL for what
        # the daemon left (--kill-after, which would set that grace, cannot come with it).
        waits=$(schedule_seconds "$schedule")
        if [ -z "$waits" ]; then
            fail "--stop-schedule $schedule waits forever or never sends KILL: only systemd's SIGKILL would end a daemon that ignores the stop"
        elif [ -z "$stop" ] || [ "$stop" -lt $((waits + 5 + 5)) ]; then
            fail "TimeoutStopSec=${stop:-default} leaves no room for --stop-schedule $schedule ($waits s), 5 s for what the daemon left, plus 5 s"
        fi
    elif [ "${kill_after%.*}" -eq 0 ]; then
        fail "no --kill-after or --stop-schedule: only systemd's SIGKILL would end a daemon that ignores the stop"
    elif [ -z "$stop" ] || [ "$stop" -lt $((2 * ${kill_after%.*} + 5)) ]; then
        fail "TimeoutStopSec=${stop:-default} leaves no room for --kill-after $kill_after twice (daemon, then what it left) plus 5 s"
    fi

    timeout=$(seconds "$(option_value --timeout -t 300)")
    start=$(seconds "$(service_value TimeoutStartSec)")
    if [ -z "$start" ] || [ "${timeout%.*}" -eq 0 ] || [ "$start" -le "${timeout%.*}" ]; then
        fail "TimeoutStartSec=${start:-default} must exceed pidshim's --timeout ($timeout) so that pidshim reports a missing pidfile"
    fi

    if [ "$failures" -eq "$failures_before" ]; then echo "ok   $name"; fi
done

[ "$failures" -eq 0 ] || { echo "verify-units: $failures problem(s)" >&2; exit 1; }
