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
import { addStats, statsOn } from './stats.js';

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

/** GSO_MAX_SEGS: ctx_in's gso_segs may not exceed it. */
const GSO_MAX_SEGS = 65535;

/** sizeof(struct bpf_sock). */
const BPF_SOCK_SIZE = 80;

/**
 * The socket a tc test run's skb carries (bpf_prog_test_run_skb's dummy, which __sk_buff's
 * `sk` points at), as a `struct bpf_sock` reads it: family AF_INET or AF_INET6 by the
 * packet's protocol (AF_UNSPEC otherwise) with the IP header's source and destination
 * addresses when the header is there, TCP_CLOSE, no rx queue (-1); type, protocol, mark,
 * priority, bound device and ports 0.
 */
function dummySocket(b: Uint8Array, d: Uint8Array, proto: number): void {
  b.fill(0);
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  if (proto === 0x0800) {
    v.setUint32(4, 2, true);
    if (d.length >= 14 + 20) { b.set(d.subarray(26, 30), 24); b.set(d.subarray(30, 34), 52); }
  } else if (proto === 0x86dd) {
    v.setUint32(4, 10, true);
    if (d.length >= 14 + 40) { b.set(d.subarray(22, 38), 28); b.set(d.subarray(38, 54), 56); }
  }
  v.setUint32(72, 7, true);
  v.setInt32(76, -1, true);
}

/** The linear part followed by the fragments (none: the linear part itself). */
function withFrags(lin: Uint8Array, frags: Uint8Array): Uint8Array {
  if (frags.length === 0) return lin;
  const out = new Uint8Array(lin.length + frags.length);
  out.set(lin);
  out.set(frags, lin.length);
  return out;
}

/** What an XDP test run asks of the device an xdp_md's ingress_ifindex names (its namespace's). */
export type TestRunDevice = (ifindex: number) => { realNumRxQueues: number } | undefined;

/** Where a test run's XDP frame ends: a page, less SKB_DATA_ALIGN(sizeof(struct skb_shared_info)). */
const XDP_FRAME_END = 4096 - 320;

/** XDP metadata: at most 32 bytes, in 4-byte units (the kernel's xdp_metalen_invalid). */
const XDP_META_MAX = 32;

/**
 * Runs `prog` (sched_cls or xdp) like BPF_PROG_TEST_RUN; throws EINVAL where the kernel
 * does. `device` resolves an XDP context's ingress_ifindex (bpf_prog_test_run_xdp's
 * xdp_convert_md_to_buff): without one only the loopback (1) exists. `netns` is the
 * caller's namespace (its internal id), where the run's skb or xdp_buff is.
 */
export function testRun(dp: Dataplane, vm: Vm, prog: BpfProgram, o: TestRunOptions, device: TestRunDevice = (i) => (i === 1 ? { realNumRxQueues: 1 } : undefined), netns = 0): TestRunResult {
  const d = o.data;
  if (d.length < 14) fail('EINVAL');
  const proto = (d[12]! << 8) | d[13]!;
  // (an skb needs its network header: the tc rule only, not XDP's)
  if (prog.type !== 'xdp' && ((proto === 0x0800 && d.length < 34) || (proto === 0x86dd && d.length < 54))) fail('EINVAL');
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
    if (cv.getUint32(164, true) > GSO_MAX_SEGS) fail('EINVAL');
  }
  // xdp_md as ctx_in (bpf_prog_test_run_xdp): data is where the packet starts after the
  // metadata at the front of data_in, data_end the whole input, data_meta 0; an
  // ingress_ifindex names a device of this namespace and rx_queue_index one of its queues.
  // data_end below the input's end makes the rest fragments (multi-buffer): the program
  // sees the linear part; the fragments come back after it unchanged.
  let metaLen = 0;
  let ingress = 1;
  let rxq = 0;
  let linear = d.length;
  if (xdp && o.ctx) {
    metaLen = cv.getUint32(0, true);
    linear = cv.getUint32(4, true);
    if (cv.getUint32(8, true) !== 0 || linear > d.length || metaLen > linear) fail('EINVAL');
    if ((metaLen & 3) !== 0 || metaLen > XDP_META_MAX) fail('EINVAL');
    if (cv.getUint32(20, true) !== 0) fail('EINVAL');
    rxq = cv.getUint32(16, true);
    const ifindex = cv.getUint32(12, true);
    if (ifindex === 0 && rxq !== 0) fail('EINVAL');
    if (ifindex !== 0) {
      const dev = device(ifindex);
      if (!dev) fail('ENODEV');
      if (rxq >= dev.realNumRxQueues) fail('EINVAL');
      ingress = ifindex;
    }
  }
  // Packet with XDP-like headroom, the context, both in the shared memory.
  // XDP: the kernel's page-sized frame, XDP_PACKET_HEADROOM in front and the shared info
  // (320 bytes) at the end, so bpf_xdp_adjust_tail grows up to 3520 bytes of packet. tc: the
  // kernel reallocates the skb's head and tail as helpers grow it, so leave room for the
  // largest growth the helpers take (adjust_room's 0xfff bytes; change_head, change_tail).
  const head = xdp ? 256 : 256 + 8192;
  const size = xdp ? Math.max(XDP_FRAME_END, head + d.length + 64) : head + d.length + 8192;
  const buf = dp.alloc(size);
  const data = buf + head;
  const ctx = dp.alloc(ctxSize);
  const sk = xdp ? 0 : dp.alloc(BPF_SOCK_SIZE);
  const rec = prog.record;
  const dv = dp.view();
  const programRegions = { count: dv.getUint32(rec + A.PR_NREGIONS, true), table: dv.getUint32(rec + A.PR_REGIONS, true) };
  const mapList = dv.getUint32(rec + A.PR_MAPS, true);
  const maps = Array.from({ length: dv.getUint32(rec + A.PR_NMAPS, true) }, (_, i) => dv.getUint32(mapList + i * 4, true));
  try {
    dp.bytes().set(d.subarray(0, linear), data);
    // One context set-up; the repetitions run inside the dataplane on the same skb and packet.
    const c = dp.bytes().subarray(ctx, ctx + ctxSize);
    c.fill(0);
    const v = new DataView(dp.memory.buffer, ctx, ctxSize);
    if (xdp) {
      v.setUint32(0, data + metaLen, true);
      v.setUint32(4, data + linear, true);
      v.setUint32(8, data, true);
      v.setUint32(12, ingress, true);
      v.setUint32(16, rxq, true);
    } else {
      c.set(cin);
      v.setUint32(0, d.length, true);
      v.setUint32(16, ((proto & 0xff) << 8) | (proto >> 8), true);
      if (v.getUint32(40, true) === 0) v.setUint32(40, 1, true);
      // pkt_type as eth_type_trans sets it against the run's device, the loopback (its
      // address and its broadcast address all zeros): a zero destination is this host's,
      // any other group address multicast (ff:ff:ff:ff:ff:ff too), any other unicast
      // another host's. (A device named by ctx_in's ifindex has its own address: not modelled.)
      if (v.getUint32(40, true) === 1) v.setUint32(4, d.subarray(0, 6).every((b) => b === 0) ? 0 : (d[0]! & 1) !== 0 ? 2 : 3, true);
      v.setUint32(76, data, true);
      v.setUint32(80, data + d.length, true);
      v.setUint32(140, data, true);
      // (wire_len: ctx_in's, or the length; no ctx_in leaves qdisc_skb_cb's pkt_len 0)
      if (o.ctx && v.getUint32(160, true) === 0) v.setUint32(160, d.length, true);
      // (gso_size goes into skb_shared_info's 16 bits)
      v.setUint32(176, v.getUint32(176, true) & 0xffff, true);
      v.setUint32(168, sk, true);
      dummySocket(dp.bytes().subarray(sk, sk + BPF_SOCK_SIZE), d, proto);
    }
    const t0 = performance.now();
    const r = vm.run(prog.addr, prog.insns.length / 8, {
      args: [ctx], regions: [{ addr: ctx, len: ctxSize, writable: !xdp, skbCtx: !xdp }, { addr: data, len: linear, writable: true }, ...(sk ? [{ addr: sk, len: BPF_SOCK_SIZE, writable: false }] : [])], programRegions,
      maps, packet: { addr: data + metaLen, len: linear - metaLen, ctx, lo: buf, hi: buf + size, xdp, dataMeta: data }, repeat,
      jit: o.interpreter ? 0 : prog.jit.slot, netns,
      // (the batch code starts each XDP run with no metadata: runs with some go one by one)
      batch: (dv.getUint32(rec + A.PR_CTX_USE, true) & A.PR_CTX_VERIFIED) !== 0 && metaLen === 0,
    });
    const elapsedNs = (performance.now() - t0) * 1e6;
    const durationNs = elapsedNs / repeat;
    // (bpf_test_run runs each repetition through bpf_prog_run: every one counts into run_cnt)
    if (statsOn(dp)) addStats(dp, rec, r.runs, elapsedNs);
    const after = dp.bytes().slice(ctx, ctx + ctxSize);
    // ctx_out carries back only what ctx_in may set (the rest reads as zero).
    const out = new Uint8Array(ctxSize);
    // (convert_skb_to___skb: gso_size stays ctx_in's)
    if (!xdp) for (const [off, n] of SKB_IN) out.set((off === 176 ? cin : after).subarray(off, off + n), off);
    else {
      // xdp_convert_buff_to_md: data and data_end as offsets from data_meta; the rest as given.
      out.set(cin);
      const ov = new DataView(out.buffer);
      const metaAt = r.packet.meta || r.packet.addr;
      ov.setUint32(0, r.packet.addr - metaAt, true);
      ov.setUint32(4, r.packet.addr + r.packet.len - metaAt, true);
    }
    return {
      // XDP: data_out starts at data_meta (metadata included), as the kernel copies it.
      retval: Number(r.r0 & 0xffffffffn),
      dataOut: withFrags(dp.bytes().slice(xdp && r.packet.meta ? r.packet.meta : r.packet.addr, r.packet.addr + r.packet.len), d.subarray(linear)), ctxOut: out,
      durationNs, executed: Number(r.executed) / repeat, fault: r.fault, faultPc: r.fault ? r.faultPc : null,
    };
  } finally {
    dp.release(buf, size);
    dp.release(ctx, ctxSize);
    if (sk) dp.release(sk, BPF_SOCK_SIZE);
  }
}
