/**
 * BPF_PROG_TEST_RUN (spec/ebpf.md §6.5): runs a loaded program on a packet and an input
 * context, `repeat` times on the same packet, and returns r0, the packet and the context
 * afterwards, with the kernel's rules for what the context may set and what comes back.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { fail } from '../errors.js';
import type { BpfProgram } from './program.js';
import { Vm, type VmFault } from './vm.js';

export interface TestRunOptions {
  data: Uint8Array;
  /** __sk_buff (tc, 192 bytes) or xdp_md (24 bytes) given as ctx_in. */
  ctx?: Uint8Array;
  /** Runs on the same packet. Default 1. */
  repeat?: number;
  /** Run on the interpreter even when the program has compiled code. Default false. */
  interpreter?: boolean;
}

export interface TestRunResult {
  /** r0 as an unsigned 32-bit number, as the kernel reports it. */
  retval: number;
  dataOut: Uint8Array;
  ctxOut: Uint8Array;
  /** Average time per repetition (wall clock). */
  durationNs: number;
  /** Instructions executed by the last repetition. */
  executed: number;
  /** Why the run stopped early (nkemu's own: a kernel-verified program never faults), and where. */
  fault: VmFault | null;
  /** The instruction that faulted; null when none did. */
  faultPc: number | null;
}

const SKB_SIZE = 192;
// __sk_buff fields ctx_in may set (mark, priority, ingress_ifindex, ifindex, cb, tstamp, wire_len, gso_segs, gso_size, hwtstamp).
const SKB_IN: [number, number][] = [[8, 4], [32, 4], [36, 4], [40, 4], [48, 20], [152, 8], [160, 4], [164, 4], [176, 4], [184, 8]];

function allowedOnly(ctx: Uint8Array, fields: [number, number][]): boolean {
  const ok = new Uint8Array(ctx.length);
  for (const [o, n] of fields) ok.fill(1, o, o + n);
  return ctx.every((b, i) => b === 0 || ok[i] === 1);
}

/** Runs `prog` (sched_cls or xdp) like BPF_PROG_TEST_RUN; throws EINVAL where the kernel does. */
export function testRun(dp: Dataplane, vm: Vm, prog: BpfProgram, o: TestRunOptions): TestRunResult {
  const d = o.data;
  if (d.length < 14) fail('EINVAL');
  const proto = (d[12]! << 8) | d[13]!;
  if ((proto === 0x0800 && d.length < 34) || (proto === 0x86dd && d.length < 54)) fail('EINVAL');
  const repeat = o.repeat ?? 1;
  if (!Number.isInteger(repeat) || repeat < 1) fail('EINVAL');
  const xdp = prog.type === 'xdp';
  const ctxSize = xdp ? 24 : SKB_SIZE;
  const ctxIn = o.ctx ?? new Uint8Array(ctxSize);
  if (ctxIn.length > ctxSize) fail('E2BIG');
  const cin = new Uint8Array(ctxSize);
  cin.set(ctxIn);
  const cv = new DataView(cin.buffer);
  if (!xdp) {
    if (!allowedOnly(cin, SKB_IN)) fail('EINVAL');
    const wire = cv.getUint32(160, true);
    if (wire !== 0 && (wire < d.length || wire > 65536)) fail('EINVAL');
  } else if (cin.some((b) => b !== 0)) {
    fail('EINVAL');
  }
  // Packet with XDP-like headroom, the context, both in the shared memory.
  const head = 256;
  const buf = dp.alloc(head + d.length + 64);
  const data = buf + head;
  const ctx = dp.alloc(ctxSize);
  const rec = prog.record;
  const dv = dp.view();
  const nr = dv.getUint32(rec + A.PR_NREGIONS, true);
  const regions = Array.from({ length: nr }, (_, i) => {
    const at = rec + A.PR_REGIONS + i * A.VM_REGION_SIZE;
    return { addr: dv.getUint32(at, true), len: dv.getUint32(at + 4, true) - dv.getUint32(at, true), writable: dv.getUint32(at + 8, true) !== 0 };
  });
  const maps = Array.from({ length: dv.getUint32(rec + A.PR_NMAPS, true) }, (_, i) => dv.getUint32(rec + A.PR_MAPS + i * 4, true));
  try {
    dp.bytes().set(d, data);
    // One context set-up; the repetitions run inside the dataplane on the same skb and packet.
    const c = dp.bytes().subarray(ctx, ctx + ctxSize);
    c.fill(0);
    const v = new DataView(dp.memory.buffer, ctx, ctxSize);
    if (xdp) {
      v.setUint32(0, data, true);
      v.setUint32(4, data + d.length, true);
      v.setUint32(8, data, true);
      v.setUint32(12, 1, true);
    } else {
      c.set(cin);
      v.setUint32(0, d.length, true);
      v.setUint32(16, ((proto & 0xff) << 8) | (proto >> 8), true);
      if (v.getUint32(40, true) === 0) v.setUint32(40, 1, true);
      v.setUint32(76, data, true);
      v.setUint32(80, data + d.length, true);
      v.setUint32(140, data, true);
      if (v.getUint32(160, true) === 0) v.setUint32(160, d.length, true);
    }
    const t0 = performance.now();
    const r = vm.run(prog.addr, prog.insns.length / 8, {
      args: [ctx], regions: [{ addr: ctx, len: ctxSize, writable: !xdp, skbCtx: !xdp }, { addr: data, len: d.length, writable: true }, ...regions],
      maps, packet: { addr: data, len: d.length, ctx, lo: buf, hi: buf + head + d.length + 64, xdp }, repeat,
      jit: o.interpreter ? 0 : prog.jit.slot,
      batch: (dv.getUint32(rec + A.PR_CTX_USE, true) & A.PR_CTX_VERIFIED) !== 0,
    });
    const durationNs = ((performance.now() - t0) * 1e6) / repeat;
    const after = dp.bytes().slice(ctx, ctx + ctxSize);
    // ctx_out carries back only what ctx_in may set (the rest reads as zero).
    const out = new Uint8Array(ctxSize);
    if (!xdp) for (const [off, n] of SKB_IN) out.set(after.subarray(off, off + n), off);
    else {
      out.set(after.subarray(12, 20), 12);
      new DataView(out.buffer).setUint32(0, 0, true);
    }
    return {
      // XDP: data_out starts at data_meta (metadata included), as the kernel copies it.
      retval: Number(r.r0 & 0xffffffffn),
      dataOut: dp.bytes().slice(xdp && r.packet.meta ? r.packet.meta : r.packet.addr, r.packet.addr + r.packet.len), ctxOut: out,
      durationNs, executed: Number(r.executed) / repeat, fault: r.fault, faultPc: r.fault ? r.faultPc : null,
    };
  } finally {
    dp.release(buf, head + d.length + 64);
    dp.release(ctx, ctxSize);
  }
}
