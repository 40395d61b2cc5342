/**
 * The host's handle on the eBPF interpreter (assembly/ebpf/vm.ts): a run record and a
 * stack in the shared memory, filled from TypeScript, executed by the dataplane module
 * in the calling thread.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';

export type VmFault = 'read' | 'write' | 'budget' | 'insn' | 'helper' | 'depth' | 'pc' | 'align';

const FAULTS: Record<number, VmFault> = {
  [A.VM_FAULT_READ]: 'read', [A.VM_FAULT_WRITE]: 'write', [A.VM_FAULT_BUDGET]: 'budget', [A.VM_FAULT_INSN]: 'insn',
  [A.VM_FAULT_HELPER]: 'helper', [A.VM_FAULT_DEPTH]: 'depth', [A.VM_FAULT_PC_RANGE]: 'pc', [A.VM_FAULT_ALIGN]: 'align',
};

/** A memory range the program may access besides its stack. */
export interface VmRegion {
  addr: number;
  len: number;
  writable: boolean;
  /** An __sk_buff (abi VM_REGION_SKB_CTX): writable only before `data` and at tstamp. */
  skbCtx?: boolean;
}

export interface VmRunOptions {
  /** r1..r5 at entry. */
  args?: (number | bigint)[];
  regions?: VmRegion[];
  /**
   * The program's own regions, checked after `regions`: a program record's table (abi
   * PR_REGIONS: `count` entries sorted by address, disjoint).
   */
  programRegions?: { table: number; count: number };
  /** Instructions the run may execute before it faults with 'budget'. Default 1,000,000. */
  budget?: number;
  /** Packet for legacy packet loads and the packet helpers; it may move within [lo, hi). */
  packet?: { addr: number; len: number; meta?: number; ctx?: number; lo?: number; hi?: number; xdp?: boolean; dataMeta?: number };
  /** bpf_get_smp_processor_id. Default 0. */
  thread?: number;
  /** Map records the program may pass to the map helpers. */
  maps?: number[];
  /** Run the program's compiled code in this function-table slot (see `Dataplane.jit`). Default: the interpreter. */
  jit?: number;
  /** The namespace the run is in (its internal id): where bpf_fib_lookup looks. Default 0, none. */
  netns?: number;
}

export interface VmResult {
  /** r0 at exit; 0 when the run faulted. */
  r0: bigint;
  fault: VmFault | null;
  faultPc: number;
  /** Instructions executed (including those of callbacks). */
  executed: bigint;
  /** Runs made (`repeat`, or fewer when one faulted: the faulting one included). */
  runs: number;
  /** Where the packet is after the run (packet helpers may move, grow or shrink it). */
  packet: { addr: number; len: number; meta: number };
  /** What bpf_redirect / bpf_redirect_peer asked for, if anything. */
  redirect?: { ifindex: number; ingress: boolean; peer: boolean };
}

/** Writes a region table (abi VM_REGION_SIZE entries: lo, hi, flags) at `at`. */
export function writeRegions(dv: DataView, at: number, regions: readonly VmRegion[]): void {
  regions.forEach((g, i) => {
    const e = at + i * A.VM_REGION_SIZE;
    dv.setUint32(e, g.addr, true);
    dv.setUint32(e + 4, g.addr + g.len, true);
    dv.setUint32(e + 8, (g.writable ? A.VM_REGION_WRITABLE : 0) | (g.skbCtx ? A.VM_REGION_SKB_CTX : 0), true);
    dv.setUint32(e + 12, 0, true);
  });
}

export interface VmExports {
  vmRun(rec: number): number;
  vmRunRepeat(rec: number, n: number, jit: number): number;
  progRun(rec: number, jit: number): number;
  testRunBatch(rec: number, n: number, jit: number, entries: number): number;
}

export class Vm {
  private readonly dp: Dataplane;
  /** The run record (abi/vm.ts). */
  readonly rec: number;
  readonly stack: number;
  private readonly mapList: number;
  /** Batch entries (abi BE_*) for repeated runs on compiled batch code. */
  private readonly entries: number;

  constructor(dp: Dataplane) {
    this.dp = dp;
    this.rec = dp.alloc(A.VM_RECORD_SIZE);
    this.stack = dp.alloc(A.VM_STACK_SIZE);
    this.mapList = dp.alloc(4 * A.PR_MAX_MAPS);
    this.entries = dp.alloc(A.BPF_BATCH_MAX * A.BE_SIZE);
    dp.bytes().fill(0, this.rec, this.rec + A.VM_RECORD_SIZE);
  }

  /** Copies a program image into the shared memory; returns its address (free with `release`). */
  place(insns: Uint8Array): number {
    const at = this.dp.alloc(Math.max(insns.length, 8));
    this.dp.bytes().set(insns, at);
    return at;
  }

  release(addr: number, insns: Uint8Array): void {
    this.dp.release(addr, Math.max(insns.length, 8));
  }

  /**
   * Runs the program at `prog` (`slots` instructions); `repeat` times on the same memory
   * (test runs). `batch`: the repetitions may run on the compiled code's batch entry (a
   * verified tc or XDP program; r1 its context, region 0).
   */
  run(prog: number, slots: number, o: VmRunOptions & { repeat?: number; batch?: boolean } = {}): VmResult {
    const dv = this.dp.view();
    const r = this.rec;
    const regions = o.regions ?? [];
    if (regions.length > A.VM_MAX_REGIONS) throw new RangeError(`at most ${A.VM_MAX_REGIONS} regions`);
    dv.setUint32(r + A.VM_PROG, prog, true);
    dv.setUint32(r + A.VM_SLOTS, slots, true);
    dv.setUint32(r + A.VM_BUDGET, o.budget ?? 1_000_000, true);
    dv.setUint32(r + A.VM_THREAD, o.thread ?? 0, true);
    dv.setUint32(r + A.VM_STACK, this.stack, true);
    dv.setUint32(r + A.VM_NREGIONS, regions.length, true);
    writeRegions(dv, r + A.VM_REGIONS, regions);
    dv.setUint32(r + A.VM_NPROG_REGIONS, o.programRegions?.count ?? 0, true);
    dv.setUint32(r + A.VM_PROG_REGIONS, o.programRegions?.table ?? 0, true);
    for (let i = 0; i < 16; i++) dv.setBigUint64(r + A.VM_REGS + i * 8, 0n, true);
    (o.args ?? []).forEach((v, i) => dv.setBigUint64(r + A.VM_REGS + (i + 1) * 8, BigInt.asUintN(64, BigInt(v)), true));
    dv.setUint32(r + A.VM_PKT, o.packet?.addr ?? 0, true);
    dv.setUint32(r + A.VM_PKT_LEN, o.packet?.len ?? 0, true);
    dv.setUint32(r + A.VM_META, o.packet?.meta ?? 0, true);
    dv.setUint32(r + A.VM_CTX, o.packet?.ctx ?? 0, true);
    dv.setUint32(r + A.VM_DEV, 0, true);
    dv.setUint32(r + A.VM_NETNS, o.netns ?? 0, true);
    // A new skb: no tunnel metadata (kept across the repetitions, which run on the same skb).
    dv.setUint32(r + A.VM_TUNNEL + A.TK_MODE, 0, true);
    dv.setUint32(r + A.VM_CSUM, 0, true); // (and CHECKSUM_NONE, as build_skb leaves it)
    dv.setUint32(r + A.VM_HEAD_PUSHED, 0, true); // (the network header right after the MAC header)
    dv.setUint32(r + A.VM_PKT_LO, o.packet?.lo ?? o.packet?.addr ?? 0, true);
    dv.setUint32(r + A.VM_PKT_HI, o.packet?.hi ?? (o.packet ? o.packet.addr + o.packet.len : 0), true);
    // (XDP: data_meta, where the metadata before the packet starts; none: at the packet)
    dv.setUint32(r + A.VM_PKT_META, o.packet?.xdp ? o.packet.dataMeta ?? o.packet.addr : 0, true);
    dv.setUint32(r + A.VM_REDIRECT_IFINDEX, 0, true);
    dv.setUint32(r + A.VM_REDIRECT_FLAGS, 0, true);
    dv.setBigUint64(r + A.VM_EXECUTED, 0n, true);
    const maps = o.maps ?? [];
    if (maps.length > A.PR_MAX_MAPS) throw new RangeError(`at most ${A.PR_MAX_MAPS} maps`);
    maps.forEach((m, i) => dv.setUint32(this.mapList + i * 4, m, true));
    dv.setUint32(r + A.VM_NMAPS, maps.length, true);
    dv.setUint32(r + A.VM_MAPS, this.mapList, true);
    const ex = this.dp.exports as unknown as VmExports;
    const repeat = o.repeat ?? 1;
    let code = o.batch && o.jit && repeat > 1 ? ex.testRunBatch(r, repeat, o.jit, this.entries) : A.VM_BATCH_DECLINED;
    if (code === A.VM_BATCH_DECLINED) code = repeat > 1 ? ex.vmRunRepeat(r, repeat, o.jit ?? 0) : o.jit ? ex.progRun(r, o.jit) : ex.vmRun(r);
    const v = this.dp.view();
    const flags = v.getUint32(r + A.VM_REDIRECT_FLAGS, true);
    return {
      // (a run that faulted returns nothing: r0 is 0 on both engines, whatever the registers held)
      r0: code === 0 ? v.getBigUint64(r + A.VM_REGS, true) : 0n,
      fault: code === 0 ? null : FAULTS[code] ?? 'insn',
      faultPc: v.getUint32(r + A.VM_FAULT_PC, true),
      executed: v.getBigUint64(r + A.VM_EXECUTED, true),
      runs: repeat > 1 ? v.getUint32(r + A.VM_RUNS, true) : 1,
      packet: { addr: v.getUint32(r + A.VM_PKT, true), len: v.getUint32(r + A.VM_PKT_LEN, true), meta: v.getUint32(r + A.VM_PKT_META, true) },
      ...(flags & A.VM_REDIRECT_SET ? { redirect: { ifindex: v.getUint32(r + A.VM_REDIRECT_IFINDEX, true), ingress: (flags & A.VM_F_INGRESS) !== 0, peer: (flags & A.VM_REDIRECT_PEER) !== 0 } } : {}),
    };
  }

  /** Frees the record and the stack. */
  close(): void {
    this.dp.release(this.rec, A.VM_RECORD_SIZE);
    this.dp.release(this.stack, A.VM_STACK_SIZE);
    this.dp.release(this.mapList, 4 * A.PR_MAX_MAPS);
    this.dp.release(this.entries, A.BPF_BATCH_MAX * A.BE_SIZE);
  }
}
