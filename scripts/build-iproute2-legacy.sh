#!/bin/sh
# Builds ip and tc with iproute2's legacy ELF loader (lib/bpf_legacy.c) into
# tmp/iproute2-legacy/ (or $NKEMU_IPROUTE2_LEGACY): the Debian source of the installed
# iproute2, configured with --libbpf_force off. The distribution's ip/tc are built with
# libbpf, and since iproute2 5.18 such a build hands every object to libbpf, so the legacy
# loader is only reachable in a build without it. test/ebpf/loader-forms.test.ts and
# scripts/record-loader-forms.ts load the object forms only that loader takes with these.
# Needs root (apt-get), a deb-src-capable apt (a private source list is used, the system's
# is not touched), libelf-dev, libmnl-dev, bison, flex and a C compiler.
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${NKEMU_IPROUTE2_LEGACY:-$ROOT/tmp/iproute2-legacy}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SUITE=$(. /etc/os-release && echo "$VERSION_CODENAME")
mkdir -p "$WORK/apt/lists/partial" "$WORK/src" "$OUT"
cat > "$WORK/apt/src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
APT="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$WORK/apt -o Dir::State::Lists=$WORK/apt/lists"
# shellcheck disable=SC2086
apt-get $APT update
VERSION=$(dpkg-query -W -f '${Version}' iproute2)
cd "$WORK/src"
# shellcheck disable=SC2086
apt-get $APT source --download-only "iproute2=$VERSION"
tar xf iproute2_*.orig.tar.*
cd iproute2-*/
./configure --libbpf_force off
make -j"$(nproc)" SUBDIRS="lib ip tc"
cp ip/ip tc/tc "$OUT/"
"$OUT/ip" -V
