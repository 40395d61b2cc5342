#!/bin/sh
# Compiles test/fixtures/bpf/*.c into BPF ELF objects next to their sources.
# The objects are committed; CI rebuilds them to check they still compile.
set -eu
cd "$(dirname "$0")/../test/fixtures/bpf"
CLANG=${CLANG:-clang}
ARCH_INC=/usr/include/$(uname -m)-linux-gnu
for src in *.c; do
	obj=${src%.c}.o
	"$CLANG" -O2 -g -target bpf -mcpu=v3 -I"$ARCH_INC" -c "$src" -o "$obj"
	echo "built $obj"
done
