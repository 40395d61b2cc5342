/**
 * A program's tag (bpftool's `tag`): the first 8 bytes of SHA-256 (SHA-1 before Linux
 * 6.16) over its instructions as loaded, with the immediates of map-loading `lddw`s
 * (BPF_PSEUDO_MAP_FD and BPF_PSEUDO_MAP_VALUE: both halves) zeroed, since file descriptors
 * differ from load to load — kernel/bpf/core.c, bpf_prog_calc_tag. Checked against this
 * machine's kernel (test/ebpf/tag.test.ts).
 */

import { sha256 } from '@noble/hashes/sha2.js';

const LDDW = 0x18;
const PSEUDO_MAP_FD = 1, PSEUDO_MAP_VALUE = 2;

export function progTag(insns: Uint8Array): string {
  const b = insns.slice();
  let wasLdMap = false;
  for (let at = 0; at + 8 <= b.length; at += 8) {
    const code = b[at]!, src = b[at + 1]! >> 4, dst = b[at + 1]! & 0xf;
    const off = b[at + 2]! | (b[at + 3]! << 8);
    if (!wasLdMap && code === LDDW && (src === PSEUDO_MAP_FD || src === PSEUDO_MAP_VALUE)) {
      wasLdMap = true;
      b.fill(0, at + 4, at + 8);
    } else if (wasLdMap && code === 0 && dst === 0 && src === 0 && off === 0) {
      wasLdMap = false;
      b.fill(0, at + 4, at + 8);
    } else {
      wasLdMap = false;
    }
  }
  return [...sha256(b).subarray(0, 8)].map((x) => x.toString(16).padStart(2, '0')).join('');
}
