#!/bin/sh
# Compiles test/fixtures/bpf/*.c into BPF ELF objects next to their sources, at
# -mcpu=v3 (NAME.o) and, where the program compiles there, v1 and v2 (NAME.v1.o, NAME.v2.o).
# The objects are committed (tests read them without clang); run this after editing a source.
set -eu
cd "$(dirname "$0")/../test/fixtures/bpf"
CLANG=${CLANG:-clang}
ARCH_INC=/usr/include/$(uname -m)-linux-gnu
for src in *.c; do
	base=${src%.c}
	"$CLANG" -O2 -g -target bpf -mcpu=v3 -I"$ARCH_INC" -c "$src" -o "$base.o"
	for cpu in v1 v2; do
		if "$CLANG" -O2 -g -target bpf -mcpu=$cpu -I"$ARCH_INC" -c "$src" -o "$base.$cpu.o" 2>/dev/null; then :; else
			rm -f "$base.$cpu.o"
			echo "$base: does not compile at -mcpu=$cpu" >&2
		fi
	done
	echo "built $base"
done
# The program corpus (test/fixtures/corpus): -mcpu=v3 only (NAME.o), the only objects it records.
cd ../corpus
for src in *.c; do
	"$CLANG" -O2 -g -target bpf -mcpu=v3 -I"$ARCH_INC" -c "$src" -o "${src%.c}.o"
	echo "built corpus/${src%.c}"
done
