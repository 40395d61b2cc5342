// Dynptrs over the packet (issue 17 item 13), for both engines through vmHelper:
// bpf_dynptr_from_skb / bpf_dynptr_from_xdp (kfuncs), bpf_dynptr_read / bpf_dynptr_write
// (helpers 201 / 202) and bpf_dynptr_slice (kfunc), as kernel/bpf/helpers.c and
// net/core/filter.c run them on a linear packet (nkemu's packets have no fragments).
//
// The 16-byte `struct bpf_dynptr` on the program's stack is laid out as the kernel's
// bpf_dynptr_kern: [0, 8) data (here the context's address; 0 for a NULL dynptr),
// [8, 12) size | type << 28 | rdonly << 31, [12, 16) offset (always 0 here).

import { VM_REGS, VM_PKT, VM_PKT_LEN, VM_FAULT_READ, VM_FAULT_WRITE, VM_FAULT_HELPER, VM_KFUNC_BASE } from "../abi/vm";
import { KFUNC_DYNPTR_FROM_SKB, KFUNC_DYNPTR_FROM_XDP, KFUNC_DYNPTR_SLICE, KFUNC_DYNPTR_SLICE_RDWR } from "../abi/vm";
import { arg, ret, vmCheck, vmFault } from "./access";
import { E2BIG, EFAULT, EINVAL } from "./errno";

const DYNPTR_SIZE: u32 = 16;
const TYPE_SHIFT: u32 = 28;
const SIZE_MASK: u32 = 0xffffff;
const RDONLY: u32 = 0x80000000;
const TYPE_SKB: u32 = 3;
const TYPE_XDP: u32 = 4;
const BPF_F_RECOMPUTE_CSUM: u64 = 1;
const BPF_F_INVALIDATE_HASH: u64 = 2;


/** Whether `id` (the dispatcher's number) is one of this file's. */
export function isDynptrCall(id: u32): bool {
  return id == 201 || id == 202 || (id >= VM_KFUNC_BASE + KFUNC_DYNPTR_FROM_SKB && id <= VM_KFUNC_BASE + KFUNC_DYNPTR_SLICE_RDWR);
}

/** The packet's bytes [off, off + len) as an address, or 0 when they are not all in it. */
function pktRange(rec: usize, off: u64, len: u64): usize {
  const plen = <u64>load<u32>(rec, VM_PKT_LEN);
  if (off > plen || len > plen - off) return 0;
  return <usize>load<u32>(rec, VM_PKT) + <usize>off;
}

/** bpf_dynptr_check_off_len: [off, off + len) inside the dynptr (else -E2BIG). */
@inline function inside(d: usize, off: u64, len: u64): bool {
  const size = <u64>(load<u32>(d, 8) & SIZE_MASK);
  return !(len > size || off > size - len);
}

@inline function kind(d: usize): u32 {
  return (load<u32>(d, 8) >> TYPE_SHIFT) & 7;
}

/** Runs dynptr helper or kfunc `id` (isDynptrCall) for the instruction at `pc`. Returns 0 or a fault code. */
export function dynptrCall(rec: usize, id: u32, pc: u32): u32 {
  if (id == VM_KFUNC_BASE + KFUNC_DYNPTR_FROM_SKB || id == VM_KFUNC_BASE + KFUNC_DYNPTR_FROM_XDP) {
    // (ctx, flags, ptr__uninit): flags must be 0, else a NULL dynptr and -EINVAL
    const d = vmCheck(rec, arg(rec, 3), DYNPTR_SIZE, true);
    if (d == 0) return vmFault(rec, VM_FAULT_WRITE, pc);
    if (arg(rec, 2) != 0) {
      memory.fill(d, 0, DYNPTR_SIZE);
      ret(rec, <u64>EINVAL);
      return 0;
    }
    const t = id == VM_KFUNC_BASE + KFUNC_DYNPTR_FROM_SKB ? TYPE_SKB : TYPE_XDP;
    store<u64>(d, arg(rec, 1));
    store<u32>(d, (load<u32>(rec, VM_PKT_LEN) & SIZE_MASK) | t << TYPE_SHIFT, 8);
    store<u32>(d, 0, 12);
    ret(rec, 0);
    return 0;
  }
  if (id == VM_KFUNC_BASE + KFUNC_DYNPTR_SLICE || id == VM_KFUNC_BASE + KFUNC_DYNPTR_SLICE_RDWR) {
    // (p, offset, buffer__opt, buffer__szk): a pointer into the (linear) packet, or NULL
    const d = vmCheck(rec, arg(rec, 1), DYNPTR_SIZE, false);
    if (d == 0) return vmFault(rec, VM_FAULT_READ, pc);
    const off = <u64><u32>arg(rec, 2);
    const len = <u64><u32>arg(rec, 4);
    let p: usize = 0;
    const rdonly = (load<u32>(d, 8) & RDONLY) != 0;
    if (load<u64>(d) != 0 && !(rdonly && id == VM_KFUNC_BASE + KFUNC_DYNPTR_SLICE_RDWR) && inside(d, off, len)) {
      // (bpf_xdp_pointer: past 0xffff is an error, NULL here)
      if (kind(d) != TYPE_XDP || (off <= 0xffff && len <= 0xffff)) p = pktRange(rec, off + <u64>load<u32>(d, 12), len);
    }
    ret(rec, <u64>p);
    return 0;
  }
  if (id == 201) { // dynptr_read(dst, len, src, offset, flags)
    const len = <u64><u32>arg(rec, 2);
    const dst: usize = len != 0 ? vmCheck(rec, arg(rec, 1), <u32>len, true) : 1;
    const d = vmCheck(rec, arg(rec, 3), DYNPTR_SIZE, false);
    if (dst == 0) return vmFault(rec, VM_FAULT_WRITE, pc);
    if (d == 0) return vmFault(rec, VM_FAULT_READ, pc);
    const off = <u64><u32>arg(rec, 4);
    if (load<u64>(d) == 0 || arg(rec, 5) != 0) { ret(rec, <u64>EINVAL); return 0; }
    if (!inside(d, off, len)) { ret(rec, <u64>E2BIG); return 0; }
    const from = pktRange(rec, off + <u64>load<u32>(d, 12), len);
    if (from == 0) {
      // (the packet shrank since: skb_load_bytes zeroes the buffer, EFAULT; xdp_load_bytes EINVAL)
      if (kind(d) == TYPE_SKB) { if (len != 0) memory.fill(dst, 0, <usize>len); ret(rec, <u64>EFAULT); } else ret(rec, <u64>EINVAL);
      return 0;
    }
    if (len != 0) memory.copy(dst, from, <usize>len);
    ret(rec, 0);
    return 0;
  }
  if (id == 202) { // dynptr_write(dst, offset, src, len, flags)
    const len = <u64><u32>arg(rec, 4);
    const d = vmCheck(rec, arg(rec, 1), DYNPTR_SIZE, false);
    const src: usize = len != 0 ? vmCheck(rec, arg(rec, 3), <u32>len, false) : 1;
    if (d == 0 || src == 0) return vmFault(rec, VM_FAULT_READ, pc);
    const off = <u64><u32>arg(rec, 2);
    const flags = arg(rec, 5);
    if (load<u64>(d) == 0 || (load<u32>(d, 8) & RDONLY) != 0) { ret(rec, <u64>EINVAL); return 0; }
    if (!inside(d, off, len)) { ret(rec, <u64>E2BIG); return 0; }
    const allowed: u64 = kind(d) == TYPE_SKB ? BPF_F_RECOMPUTE_CSUM | BPF_F_INVALIDATE_HASH : 0;
    if ((flags & ~allowed) != 0) { ret(rec, <u64>EINVAL); return 0; }
    const to = pktRange(rec, off + <u64>load<u32>(d, 12), len);
    if (to == 0) { ret(rec, kind(d) == TYPE_SKB ? <u64>EFAULT : <u64>EINVAL); return 0; }
    if (len != 0) memory.copy(to, src, <usize>len);
    ret(rec, 0);
    return 0;
  }
  return vmFault(rec, VM_FAULT_HELPER, pc);
}
