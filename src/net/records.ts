/**
 * Publication of device records: the dataplane's immutable copy of a device (abi D_*),
 * with its program lists (PGL_*) and NIC steering tables (ST_*, RU_*), built after every
 * change and published by swap; the old record and what it points to are retired past
 * the swap (the emulator's RCU).
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { CallKind, decode, slots } from '../ebpf/insn.js';
import { TAIL_CALL, THREAD_STATE_HELPERS } from '../ebpf/helpers.js';
import type { MprogList } from '../ebpf/mprog.js';
import type { BpfProgram } from '../ebpf/program.js';
import type { XskPool } from '../xdp/socket.js';
import { RegState, type NetDevice, type RxQueue } from './netdev.js';
import * as nic from './nic.js';
import type { MemoryProvider } from './provider.js';
import { FibTables } from './fib.js';
import { ip6Bytes } from './stack/addr6.js';

/** The dataplane's flow type of each ntuple rule flow type (abi FLOW_*). */
const FLOW_IDS: Record<nic.FlowType, number> = {
  tcp4: A.FLOW_TCP4, udp4: A.FLOW_UDP4, ether: A.FLOW_ETHER, tcp6: A.FLOW_TCP6, udp6: A.FLOW_UDP6, ip6: A.FLOW_IP6,
};

export class DeviceRecords {
  private readonly dp: Dataplane;
  /** Wakes the dataplane workers (a new record to pick up). */
  private readonly kick: () => void;
  /** The namespaces' FIBs (bpf_fib_lookup's tables), which list the devices published here. */
  readonly fib: FibTables;

  constructor(dp: Dataplane, kick: () => void) {
    this.dp = dp;
    this.kick = kick;
    this.fib = new FibTables(dp);
  }

  /** Builds the dataplane's record for a device and publishes it (swap + generation). */
  publish(dev: NetDevice): void {
    if (dev.regState !== RegState.REGISTERED) return;
    const dp = this.dp;
    const rec = dp.alloc(A.DEV_SIZE);
    const dv = dp.view();
    const nk = dev.netkit;
    dv.setUint32(rec + A.D_FLAGS, dev.flags, true);
    dv.setInt32(rec + A.D_PEER, nk?.peer && nk.peer.regState === RegState.REGISTERED ? nk.peer.slot : -1, true);
    dv.setUint32(rec + A.D_IFINDEX, dev.ifindex, true);
    dv.setUint32(rec + A.D_NETNS, dev.netns.id, true);
    dv.setUint32(rec + A.D_KIND, dev.kind === 'netkit' ? A.KIND_NETKIT : dev.kind === 'nic' ? A.KIND_NIC : A.KIND_LOOPBACK, true);
    dv.setUint32(rec + A.D_POLICY, nk?.policy ?? 0, true);
    dv.setUint8(rec + A.D_SCRUB, nk?.scrub ?? 0);
    dv.setUint8(rec + A.D_MODE, nk?.mode ?? 0);
    dv.setUint8(rec + A.D_PAIRING, nk?.pairing ?? 0);
    dv.setUint8(rec + A.D_PRIMARY, nk?.primary ? 1 : 0);
    dp.bytes().set(dev.mac, rec + A.D_MAC);
    dv.setUint8(rec + A.D_CAPTURE, dev.capture);
    dv.setUint32(rec + A.D_MTU, dev.mtu, true);
    dv.setUint32(rec + A.D_REAL_NUM_RX, dev.rxq.length, true);
    if (dev.rxq.length) {
      const rings = dp.alloc(dev.rxq.length * 4);
      dev.rxq.forEach((q, i) => dp.view().setUint32(rings + i * 4, q.ring, true));
      dp.view().setUint32(rec + A.D_RX_RINGS, rings, true);
    }
    dv.setUint32(rec + A.D_TX_RING, dev.txRing, true);
    dv.setUint16(rec + A.D_HEADROOM, dev.neededHeadroom, true);
    dv.setUint16(rec + A.D_TAILROOM, dev.neededTailroom, true);
    dv.setUint32(rec + A.D_SLOT, dev.slot, true);
    dv.setUint32(rec + A.D_NUM_RX, dev.numRxQueues, true);
    dv.setUint32(rec + A.D_RX_SINK, dev.rxSink, true);
    dv.setUint32(rec + A.D_WIRE_RING, dev.wireRing, true);
    dv.setUint32(rec + A.D_QSTATS, dev.qstats, true);
    dv.setUint32(rec + A.D_PROGS, this.listRecord(dev.netkit?.progs), true);
    dv.setUint32(rec + A.D_TCX_INGRESS, this.listRecord(dev.tcxIngress), true);
    dv.setUint32(rec + A.D_TCX_EGRESS, this.listRecord(dev.tcxEgress), true);
    if (dev.nic) {
      dv.setUint32(rec + A.D_XDP, dev.nic.xdp?.record ?? 0, true);
      dv.setUint32(rec + A.D_STEER, this.buildSteering(dev), true);
      if (dev.rxq.some((q) => q.provider !== undefined)) {
        const arr = dp.alloc(dev.rxq.length * 4);
        dev.rxq.forEach((q, i) => dp.view().setUint32(arr + i * 4, (q.provider as MemoryProvider | undefined)?.fill ?? 0, true));
        dp.view().setUint32(rec + A.D_PROVIDERS, arr, true);
      }
      // Queues whose AF_XDP pool is zero-copy receive into its UMEM (the pool's owner record).
      const zc = (q: RxQueue): number => { const p = q.pool as XskPool | undefined; return p?.zerocopy ? p.owner.record : 0; };
      if (dev.rxq.some((q) => zc(q) !== 0)) {
        const arr = dp.alloc(dev.rxq.length * 4);
        dev.rxq.forEach((q, i) => dp.view().setUint32(arr + i * 4, zc(q), true));
        dp.view().setUint32(rec + A.D_XSK_ZC, arr, true);
      }
    }
    this.swapRecord(dev.slot, rec);
    this.fib.deviceSeen(dev);
    this.kick();
  }

  /**
   * Whether a list's programs may run over a batch one after another (abi
   * PGLF_INDEPENDENT) instead of all of them per packet: no map in common between two of
   * them, no region one writes and another uses, no maps of maps (their inner maps are
   * not listed), no tail calls, and at most one of them using a helper with per-thread
   * state (THREAD_STATE_HELPERS).
   */
  private independent(progs: BpfProgram[]): boolean {
    if (progs.length < 2) return true;
    const dv = this.dp.view();
    const owner = new Map<number, number>();
    const spans: { lo: number; hi: number; writable: boolean; prog: number }[] = [];
    let stateful = 0;
    for (const [k, p] of progs.entries()) {
      const rec = p.record;
      const mapList = dv.getUint32(rec + A.PR_MAPS, true);
      for (let i = 0; i < dv.getUint32(rec + A.PR_NMAPS, true); i++) {
        const m = dv.getUint32(mapList + i * 4, true);
        const t = dv.getUint32(m + A.MAP_TYPE, true);
        if (t === A.BPF_MAP_TYPE_ARRAY_OF_MAPS || t === A.BPF_MAP_TYPE_HASH_OF_MAPS) return false;
        if ((owner.get(m) ?? k) !== k) return false;
        owner.set(m, k);
      }
      const table = dv.getUint32(rec + A.PR_REGIONS, true);
      for (let i = 0; i < dv.getUint32(rec + A.PR_NREGIONS, true); i++) {
        const at = table + i * A.VM_REGION_SIZE;
        const writable = (dv.getUint32(at + 8, true) & A.VM_REGION_WRITABLE) !== 0;
        const lo = dv.getUint32(at, true);
        const hi = dv.getUint32(at + 4, true);
        // (one program writing what another reads or writes)
        if (spans.some((g) => g.prog !== k && (writable || g.writable) && lo < g.hi && g.lo < hi)) return false;
        spans.push({ lo, hi, writable, prog: k });
      }
      const helpers = new Set<number>();
      for (let pc = 0; pc < slots(p.insns); pc++) {
        const i = decode(p.insns, pc);
        if (i.code === 0x85 && i.src === CallKind.HELPER) helpers.add(i.imm);
      }
      if (helpers.has(TAIL_CALL)) return false;
      if ([...THREAD_STATE_HELPERS].some((id) => helpers.has(id)) && ++stateful > 1) return false;
    }
    return true;
  }

  /** A program list as the dataplane reads it (abi PGL_*), 0 when empty. */
  private listRecord(list: MprogList | undefined): number {
    const progs = list?.programs() as BpfProgram[] | undefined;
    if (!progs?.length) return 0;
    const dp = this.dp;
    const at = dp.alloc(A.PGL_PROGS + progs.length * 4);
    const independent = this.independent(progs);
    dp.view().setUint32(at + A.PGL_COUNT, progs.length, true);
    dp.view().setUint32(at + A.PGL_FLAGS, independent ? A.PGLF_INDEPENDENT : 0, true);
    dp.view().setUint32(at + A.PGL_JIT, independent ? this.listCode(progs) : 0, true);
    progs.forEach((p, i) => dp.view().setUint32(at + A.PGL_PROGS + i * 4, p.record, true));
    return at;
  }

  /** List modules by their programs' ids in order, each held by the list records naming its slot. */
  private readonly listModules = new Map<string, { slot: number; records: number }>();
  /** The same, by slot. */
  private readonly listSlots = new Map<number, string>();
  /** Lists (by their programs' ids, which are never reused) whose module did not compile. */
  private readonly listRefused = new Set<string>();

  /**
   * The JIT slot of the module running `progs` (two or more, independent) as one list
   * (codegen/list.ts), compiled the first time a record names this list and shared by the
   * records naming it; 0 when a program cannot be part of one or it did not compile (the
   * programs then run one after another, each on its own code). Held until the last
   * record naming it is retired (`releaseListCode`).
   */
  private listCode(progs: BpfProgram[]): number {
    if (progs.length < 2 || progs.some((p) => p.listCode === undefined || p.jit.slot === 0)) return 0;
    const key = progs.map((p) => p.id).join(',');
    if (this.listRefused.has(key)) return 0;
    let m = this.listModules.get(key);
    if (!m) {
      // (a list's module is an extra: none while fewer than a quarter of the compiled-code
      // slots are left, which programs need first; the list is tried again at its next record)
      const use = this.dp.jit.inUse;
      if ((A.JIT_SLOTS - A.JIT_BASE - use.highWater) + use.free < (A.JIT_SLOTS - A.JIT_BASE) / 4) return 0;
      const info = this.dp.jit.compileList(progs.map((p) => p.listCode!));
      // (refused, e.g. a helper runs outside the programs' code, or a module this thread may
      // not compile synchronously: the programs' own code runs, and this list is not tried again)
      if (info.slot === 0) {
        // (bounded: a harness attaching lists for hours must not grow it without end; a list
        // forgotten here is only tried again)
        if (this.listRefused.size >= 1024) this.listRefused.clear();
        this.listRefused.add(key);
        info.ready?.then((late) => this.dp.jit.release(late.slot), () => {});
        return 0;
      }
      m = { slot: info.slot, records: 0 };
      this.listModules.set(key, m);
      this.listSlots.set(info.slot, key);
    }
    m.records++;
    return m.slot;
  }

  /** A retired list record named list module `slot`: released once no record names it and no thread can still run it. */
  private releaseListCode(slot: number): void {
    const key = this.listSlots.get(slot);
    const m = key === undefined ? undefined : this.listModules.get(key);
    if (!m || --m.records > 0) return;
    this.listModules.delete(key!);
    this.listSlots.delete(slot);
    this.dp.afterGrace(() => this.dp.jit.release(slot));
  }

  /**
   * Publishes `rec` (0: none) as device `slot`'s record. The old record and what it points
   * to (program lists, rx ring and per-queue arrays, steering tables) are retired after
   * the swap, so they wait for every worker to pass the new generation: a worker that
   * took the old record before the swap may use all of it until its next quiescent point.
   */
  swapRecord(slot: number, rec: number): void {
    const parts = this.recordParts(this.dp.deviceRecord(slot));
    this.dp.publishDevice(slot, rec);
    for (const p of parts) this.dp.retire(p.addr, p.size);
  }

  /** The allocations a device record points to (to retire with it). */
  private recordParts(old: number): { addr: number; size: number }[] {
    if (old === 0) return [];
    const dv = this.dp.view();
    const parts: { addr: number; size: number }[] = [];
    const add = (addr: number, size: number): void => { if (addr !== 0) parts.push({ addr, size }); };
    for (const field of [A.D_PROGS, A.D_TCX_INGRESS, A.D_TCX_EGRESS]) {
      const list = dv.getUint32(old + field, true);
      if (list) add(list, A.PGL_PROGS + dv.getUint32(list + A.PGL_COUNT, true) * 4);
      const code = list ? dv.getUint32(list + A.PGL_JIT, true) : 0;
      if (code) this.releaseListCode(code);
    }
    const perQueue = dv.getUint32(old + A.D_REAL_NUM_RX, true) * 4;
    for (const field of [A.D_RX_RINGS, A.D_PROVIDERS, A.D_XSK_ZC]) add(dv.getUint32(old + field, true), perQueue);
    const steer = dv.getUint32(old + A.D_STEER, true);
    if (steer) {
      const nRules = dv.getUint32(steer + A.ST_N_RULES, true);
      const nCtx = dv.getUint32(steer + A.ST_N_CTX, true);
      const ctx = dv.getUint32(steer + A.ST_CTX, true);
      for (let i = 0; i < nCtx; i++) add(dv.getUint32(ctx + i * 4, true), nic.RSS_TABLE_SIZE * 4);
      add(ctx, Math.max(nCtx, 1) * 4);
      add(dv.getUint32(steer + A.ST_RULES, true), Math.max(nRules, 1) * A.RULE_SIZE);
      add(steer, A.STEER_SIZE);
    }
    return parts;
  }

  /** Encodes a NIC's ntuple rules and RSS tables for the dataplane (abi ST_*, RU_*). */
  private buildSteering(dev: NetDevice): number {
    const dp = this.dp;
    const n = dev.nic!;
    const rules = [...n.rules.values()].sort((a, b) => a.location - b.location);
    const steer = dp.alloc(A.STEER_SIZE);
    const rulesAt = dp.alloc(Math.max(rules.length, 1) * A.RULE_SIZE);
    const maxCtx = Math.max(0, ...n.contexts.keys());
    const ctxAt = dp.alloc((maxCtx + 1) * 4);
    const u8 = dp.bytes();
    for (const [id, ctx] of n.contexts) {
      const table = dp.alloc(nic.RSS_TABLE_SIZE * 4);
      ctx.table.forEach((q, i) => dp.view().setUint32(table + i * 4, q, true));
      dp.view().setUint32(ctxAt + id * 4, table, true);
    }
    rules.forEach((r, i) => {
      const at = rulesAt + i * A.RULE_SIZE;
      const dv = dp.view();
      const flow = FLOW_IDS[r.flowType];
      dv.setUint32(at + A.RU_FLOW, flow, true);
      dv.setInt32(at + A.RU_ACTION, r.action, true);
      dv.setInt32(at + A.RU_CONTEXT, r.context ?? -1, true);
      // Values and masks in packet byte order; an absent field matches anything.
      const ip = (off: number, moff: number, v?: number, m?: number): void => {
        if (v === undefined) return;
        dv.setUint32(at + off, v >>> 0, false);
        dv.setUint32(at + moff, (m ?? 0xffffffff) >>> 0, false);
      };
      const port = (off: number, moff: number, v?: number, m?: number): void => {
        if (v === undefined) return;
        dv.setUint16(at + off, v, false);
        dv.setUint16(at + moff, m ?? 0xffff, false);
      };
      const mac = (off: number, moff: number, v?: Uint8Array, m?: Uint8Array): void => {
        if (!v) return;
        u8.set(v, at + off);
        u8.set(m ?? new Uint8Array(6).fill(0xff), at + moff);
      };
      ip(A.RU_SRC_IP, A.RU_SRC_IP_MASK, r.srcIp, r.srcIpMask);
      ip(A.RU_DST_IP, A.RU_DST_IP_MASK, r.dstIp, r.dstIpMask);
      port(A.RU_SRC_PORT, A.RU_SRC_PORT_MASK, r.srcPort, r.srcPortMask);
      port(A.RU_DST_PORT, A.RU_DST_PORT_MASK, r.dstPort, r.dstPortMask);
      mac(A.RU_SRC_MAC, A.RU_SRC_MAC_MASK, r.srcMac, r.srcMacMask);
      mac(A.RU_DST_MAC, A.RU_DST_MAC_MASK, r.dstMac, r.dstMacMask);
      port(A.RU_PROTO, A.RU_PROTO_MASK, r.proto, r.protoMask);
      const ip6 = (off: number, moff: number, v?: bigint, m?: bigint): void => {
        if (v === undefined) return;
        u8.set(ip6Bytes(v), at + off);
        u8.set(ip6Bytes(m ?? (1n << 128n) - 1n), at + moff);
      };
      const byte = (off: number, moff: number, v?: number, m?: number): void => {
        if (v === undefined) return;
        u8[at + off] = v;
        u8[at + moff] = m ?? 0xff;
      };
      ip6(A.RU_SRC_IP6, A.RU_SRC_IP6_MASK, r.srcIp6, r.srcIp6Mask);
      ip6(A.RU_DST_IP6, A.RU_DST_IP6_MASK, r.dstIp6, r.dstIp6Mask);
      byte(A.RU_TCLASS, A.RU_TCLASS_MASK, r.tclass, r.tclassMask);
      byte(A.RU_TCLASS, A.RU_TCLASS_MASK, r.tos, r.tosMask);
      byte(A.RU_L4PROTO, A.RU_L4PROTO_MASK, r.l4proto, r.l4protoMask);
      if (flow === A.FLOW_ETHER) {
        // The rule's shape: the fields its masks look at.
        const mask = (off: number, n: number): Uint8Array => u8.subarray(at + off, at + off + n);
        const dstMask = mask(A.RU_DST_MAC_MASK, 6);
        let shape = 0;
        if (dstMask.every((b) => b === 0xff)) shape |= A.RUS_DST_MAC | A.RUS_DST_MAC_EXACT;
        else if (dstMask.some((b) => b !== 0)) shape |= A.RUS_DST_MAC;
        if (mask(A.RU_SRC_MAC_MASK, 6).some((b) => b !== 0)) shape |= A.RUS_SRC_MAC;
        if (mask(A.RU_PROTO_MASK, 2).some((b) => b !== 0)) shape |= A.RUS_PROTO;
        dv.setUint32(at + A.RU_FLOW, flow | shape, true);
      }
    });
    const dv = dp.view();
    dv.setUint32(steer + A.ST_N_RULES, rules.length, true);
    dv.setUint32(steer + A.ST_RULES, rulesAt, true);
    dv.setUint32(steer + A.ST_N_CTX, maxCtx + 1, true);
    dv.setUint32(steer + A.ST_CTX, ctxAt, true);
    dv.setUint32(steer + A.ST_TABLE_SIZE, nic.RSS_TABLE_SIZE, true);
    return steer;
  }
}
