#!/bin/sh
# Builds ip and tc with iproute2's legacy ELF loader (lib/bpf_legacy.c) into
# /var/tmp/nkemu-iproute2-legacy/ (or $NKEMU_IPROUTE2_LEGACY): the Debian source of the installed
# iproute2, configured with --libbpf_force off. The distribution's ip/tc are built with
# libbpf, and since iproute2 5.18 such a build hands every object to libbpf, so the legacy
# loader is only reachable in a build without it (the only loader left that reads a legacy
# `maps` section of struct bpf_elf_map). test/ebpf/loader-forms.test.ts,
# test/ebpf/legacy-maps.test.ts and scripts/record-loader-forms.ts load with these (their
# live parts skip, with the reason, where it is missing). Needs root (apt-get installs the
# build dependencies; the source comes through a private source list, the system's apt
# configuration is not touched). .ci/run runs it.
set -eu
OUT=${NKEMU_IPROUTE2_LEGACY:-/var/tmp/nkemu-iproute2-legacy}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
SUITE=$(. /etc/os-release && echo "$VERSION_CODENAME")
mkdir -p "$WORK/apt/lists/partial" "$WORK/src" "$OUT"
# (the machine's own deb822 sources as deb-src, else Debian's mirror)
if [ -f /etc/apt/sources.list.d/debian.sources ]; then
  sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources > "$WORK/apt/src.sources"
else
  cat > "$WORK/apt/src.sources" <<SRC
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $SUITE
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
fi
APT="-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts=$WORK/apt -o Dir::State::Lists=$WORK/apt/lists"
# shellcheck disable=SC2086
apt-get $APT update >/dev/null
VERSION=$(dpkg-query -W -f '${Version}' iproute2)
cd "$WORK/src"
# shellcheck disable=SC2086
apt-get $APT source --download-only "iproute2=$VERSION" >/dev/null
dpkg-source -x iproute2_*.dsc src >/dev/null
cd src
./configure --libbpf_force off >/dev/null
make -j"$(nproc)" SUBDIRS="lib ip tc" >/dev/null
install -m 755 ip/ip tc/tc "$OUT/"
"$OUT/ip" -V
