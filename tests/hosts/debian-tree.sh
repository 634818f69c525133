#!/bin/bash
# Prints the path of a minimal Debian 12 (bookworm) tree made with mmdebstrap or debootstrap,
# making it first if it is not there yet. The systemd test boots it with systemd-nspawn; the container test
# imports it into podman as the image the Dockerfiles start FROM (no image registry is needed).
#
# Usage: debian-tree.sh
#
# The tree is kept between runs in a fixed place, $PIDSHIM_HOSTS_CACHE (/var/tmp/pidshim-hosts
# by default), under a name made from its recipe (suite, packages), so that a changed recipe
# makes a new tree instead of using a stale one. It is made in a temporary directory beside it
# and renamed into place only once debootstrap succeeded; a lock lets one test make it while
# another waits. Nothing inside the tree is changed afterwards: each test works on a copy or on
# an overlay of it.
#
# The mirror is $PIDSHIM_DEBIAN_MIRROR, else the first Debian mirror in /etc/apt/sources.list*,
# else http://deb.debian.org/debian.
#
# mmdebstrap is used where it is installed: it downloads in parallel through apt and took 68 s
# here where debootstrap took 109 to 150 s (the same packages, a loaded 2-core machine). With
# the servers' packages (mariadb, postgresql, apache2: 830 MB instead of 170 MB) mmdebstrap took
# 348 s on that machine while another build used both cores.
#
# Exit status: 0 with the path on stdout; 77 (CTest's "skipped") where the machine cannot make
# the tree (not root, neither mmdebstrap nor debootstrap installed, the mirror unreachable); 1 if
# making it failed.
set -euo pipefail

say() { printf 'debian-tree: %s\n' "$*" >&2; }
skip() {
    say "SKIP: $*"
    exit 77
}

suite=bookworm
# systemd, systemd-sysv and dbus to boot it (systemctl talks to PID 1 without dbus, but logind
# and a clean boot want it); nginx-light for the recipes; procps for kill, ps and pgrep;
# mariadb-server, mariadb-client, postgresql-15 (its postinst makes the cluster 15/main) and
# apache2 for the server units (their own services are masked at boot by the systemd test).
packages=systemd,systemd-sysv,dbus,nginx-light,procps,mariadb-server,mariadb-client
packages+=,postgresql-15,postgresql-client-15,apache2
recipe="1 $suite minbase $packages"

[ "$(id -u)" = 0 ] || skip "making the tree needs root"
if command -v mmdebstrap >/dev/null; then
    bootstrap=mmdebstrap
elif command -v debootstrap >/dev/null; then
    bootstrap=debootstrap
else
    skip "neither mmdebstrap nor debootstrap is installed (apt-get install mmdebstrap)"
fi

cache=${PIDSHIM_HOSTS_CACHE:-/var/tmp/pidshim-hosts}
tree="$cache/$suite-$(printf '%s' "$recipe" | sha256sum | cut -c1-12)"
mkdir -p "$cache"

if [ -e "$tree/.pidshim-tree" ]; then
    echo "$tree"
    exit 0
fi

mirror=${PIDSHIM_DEBIAN_MIRROR:-}
if [ -z "$mirror" ]; then
    mirror=$(sed -e 's/#.*//' /etc/apt/sources.list /etc/apt/sources.list.d/*.list \
        /etc/apt/sources.list.d/*.sources 2>/dev/null |
        grep -o -m1 -E 'https?://[^ ]*/debian/?( |$)' | tr -d ' ' || true)
fi
mirror=${mirror:-http://deb.debian.org/debian}
mirror=${mirror%/}

exec 9>"$cache/.lock"
if ! flock -n 9; then
    say "another run is making the tree; waiting for it"
    flock 9
fi
if [ -e "$tree/.pidshim-tree" ]; then
    echo "$tree"
    exit 0
fi

reachable() {
    if command -v wget >/dev/null; then
        wget -q -T 20 -t 2 -O /dev/null "$1"
    elif command -v curl >/dev/null; then
        curl -fsS -m 40 -o /dev/null "$1"
    fi # neither: the bootstrap itself will tell
}
reachable "$mirror/dists/$suite/InRelease" ||
    skip "the Debian mirror $mirror is not reachable (set PIDSHIM_DEBIAN_MIRROR)"

work=$(mktemp -d "$cache/.making.XXXXXX")
trap 'rm -rf "$work"' EXIT
started=$SECONDS
say "$bootstrap --variant=minbase --include=$packages $suite from $mirror (2 to 6 minutes)"
if ! "$bootstrap" --variant=minbase --include="$packages" "$suite" "$work/tree" "$mirror" \
    >"$work/bootstrap.log" 2>&1; then
    tail -n 30 "$work/bootstrap.log" >&2
    say "$bootstrap failed (the last 30 lines of its output are above)"
    exit 1
fi
# Package caches are not needed in the tree, nor in an image made from it.
rm -rf "$work/tree/var/cache/apt/archives/"*.deb "$work/tree/var/lib/apt/lists/"*_Packages
printf '%s\n' "$recipe" >"$work/tree/.pidshim-tree"
rm -rf "$tree"
mv "$work/tree" "$tree"
say "made $tree with $bootstrap in $((SECONDS - started)) s"
echo "$tree"
