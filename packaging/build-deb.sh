#!/bin/sh
# Build the pidshim Debian package from this source tree.
#
#     packaging/build-deb.sh [OUTDIR]
#
# The tree is copied to a temporary directory, packaging/debian becomes its
# debian/, and dpkg-buildpackage builds the binary package there (the unit tests
# run during the build unless DEB_BUILD_OPTIONS contains nocheck). The .deb (and
# the -dbgsym .ddeb) end up in OUTDIR, ./dist by default. Nothing is written
# into the source tree.
#
# The build dependencies must be installed; packaging/ci-deb.sh installs them.
set -eu

say() { printf 'build-deb: %s\n' "$*"; }
die() {
    printf 'build-deb: error: %s\n' "$*" >&2
    exit 1
}

packaging=$(cd "$(dirname "$0")" && pwd)
src=$(dirname "$packaging")
out=${1:-dist}

# One version: project(pidshim VERSION x.y.z) in CMakeLists.txt. The
# changelog must name the same one.
cmake_version=$(perl -0777 -ne \
    'print $1 if /\bproject\s*\(\s*pidshim\b[^)]*?\bVERSION\s+([0-9][0-9.]*)/si' \
    "$src/CMakeLists.txt")
[ -n "$cmake_version" ] ||
    die "no 'project(pidshim VERSION x.y.z ...)' found in $src/CMakeLists.txt"
deb_version=$(dpkg-parsechangelog -l "$packaging/debian/changelog" -S Version)
upstream_version=${deb_version#*:}
upstream_version=${upstream_version%-*}
if [ "$upstream_version" != "$cmake_version" ]; then
    die "version mismatch: CMakeLists.txt says $cmake_version but" \
        "packaging/debian/changelog says $deb_version; add a changelog entry" \
        "for $cmake_version (dch --changelog packaging/debian/changelog -v $cmake_version)"
fi
say "version $deb_version (CMakeLists.txt: $cmake_version)"

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/pidshim-deb.XXXXXX")
trap 'rm -rf "$work"' EXIT
tree="$work/pidshim-$upstream_version"
mkdir "$tree"

say "copying $src to $tree"
tar -C "$src" --exclude-vcs --exclude='./build*' --exclude='./obj-*' \
    --exclude='./dist' --exclude='./debian' -cf - . | tar -C "$tree" -xf -
cp -R "$tree/packaging/debian" "$tree/debian"

say "dpkg-buildpackage -us -uc -b (DEB_BUILD_OPTIONS='${DEB_BUILD_OPTIONS:-}')"
(cd "$tree" && dpkg-buildpackage -us -uc -b -Jauto) ||
    die "dpkg-buildpackage failed (see the output above)"

found=0
for f in "$work"/*.deb "$work"/*.ddeb; do
    [ -e "$f" ] || continue
    cp "$f" "$out/"
    say "built $out/$(basename "$f")"
    found=1
done
[ "$found" = 1 ] || die "dpkg-buildpackage produced no package"
