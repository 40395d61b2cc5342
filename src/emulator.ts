/**
 * The emulator: owns the shared memory and the workers, the network namespaces and the
 * devices in them, and drives traffic between the stacks and the dataplane.
 */

import * as A from './abi.generated.js';
import { Dataplane, type DataplaneOptions } from './dataplane.js';
import { NetError, fail } from './errors.js';
import { NetDevice, RegState, type RxQueue, ETH_MAX_MTU, ETH_MIN_MTU, GSO_MAX_SEGS, GSO_MAX_SIZE, macString, parseMac } from './net/netdev.js';
import { Netns } from './net/netns.js';
import * as netkit from './net/netkit.js';
import { Traffic, type FrameMeta, type RxMeta } from './net/traffic.js';
import { lessees, queueCreate, queueDump, queueInfo, releaseLeases, type QueueCreateRequest, type QueueInfo } from './net/lease.js';
import * as nic from './net/nic.js';
import { MemoryProvider, providerTarget, type ProviderKind } from './net/provider.js';
import type { LinkChange, LinkDump, LinkRequest, LinkStats } from './net/types.js';
import { Stack } from './net/stack/stack.js';
import { formatIp, parseIp } from './net/stack/packet.js';
import { PingResult, type PingOptions } from './net/stack/ping.js';
import { Notifier, NetdevEvent } from './net/notifier.js';
import { Capture } from './trace/capture.js';
import { BPF_F_REPLACE, MprogList, type QueryResult, type Relative } from './ebpf/mprog.js';
import { BpfLink, BpfProgram, BpfRegistry, type AttachType, type ProgType } from './ebpf/program.js';
import { loadBpfObject, type LoadedObject } from './ebpf/load.js';
import { testRun, type TestRunOptions, type TestRunResult } from './ebpf/testrun.js';
import { Vm, writeRegions } from './ebpf/vm.js';
import { ctxUse } from './ebpf/verifier.js';
import { CallKind, decode, slots } from './ebpf/insn.js';
import { codegenMap } from './ebpf/codegen/compile.js';
import { TAIL_CALL, THREAD_STATE_HELPERS } from './ebpf/helpers.js';
import type { BpfMap } from './ebpf/maps.js';
import { MSG_DONTWAIT, XDP_COPY, XDP_SHARED_UMEM, XDP_USE_NEED_WAKEUP, XDP_USE_SG, XDP_ZEROCOPY, XskSocket, type XskBindOptions, type XskPool } from './xdp/socket.js';
import { Tracer } from './trace/trace.js';
import { drainPrintk } from './trace/printk.js';
import { WorkerPool } from './worker/pool.js';

/** `appThreads` (AF_XDP applications in workers at once) defaults to 1 here. */
export interface EmulatorOptions extends DataplaneOptions {
  /** Seed for everything random (MAC addresses, generators). Default 1. */
  seed?: number;
  /** Virtual nanoseconds that pass per dataplane round in `settle()`. Default 1000. */
  roundNs?: number;
  /**
   * Per-netns device unregistration (netns-unregister.md §3): a paired device's peer in
   * another namespace is unregistered by that namespace's work, after the request
   * returned. Default true; false unregisters both in one batch (global RTNL).
   */
  perNetnsUnregister?: boolean;
  /**
   * Compile loaded programs to WebAssembly (src/ebpf/codegen) and run them as compiled
   * code; a program the generator cannot handle runs on the interpreter
   * (`BpfProgram.jit.reason` says why). Default true.
   */
  jit?: boolean;
}

/** mulberry32: small, fast, seeded. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Kick results from the dataplane (abi XSK_*) as errno names. */
const XSK_ERRNO: Record<number, 'ENXIO' | 'ENETDOWN' | 'EOPNOTSUPP' | 'ENOBUFS'> = {
  [A.XSK_ENXIO]: 'ENXIO', [A.XSK_ENETDOWN]: 'ENETDOWN', [A.XSK_EOPNOTSUPP]: 'EOPNOTSUPP', [A.XSK_ENOBUFS]: 'ENOBUFS',
};

const DROP_NAMES: Record<number, string> = {
  [A.DROP_NO_PEER]: 'NETKIT_NO_PEER',
  [A.DROP_PEER_DOWN]: 'NETKIT_PEER_DOWN',
  [A.DROP_PKT_TOO_SMALL]: 'PKT_TOO_SMALL',
  [A.DROP_POLICY]: 'NETKIT_POLICY_DROP',
  [A.DROP_BPF_DROP]: 'BPF_DROP',
  [A.DROP_BPF_VERDICT]: 'BPF_BAD_VERDICT',
  [A.DROP_BACKLOG_FULL]: 'BACKLOG_FULL',
  [A.DROP_BPF_FAULT]: 'BPF_FAULT',
  [A.DROP_REDIRECT]: 'REDIRECT_FAILED',
  [A.DROP_NTUPLE]: 'NTUPLE_DISCARD',
  [A.DROP_PROVIDER_EMPTY]: 'PROVIDER_EMPTY',
  [A.DROP_XDP]: 'XDP_DROP',
  [A.DROP_XDP_ABORTED]: 'XDP_ABORTED',
  [A.DROP_TCX]: 'TCX_DROP',
  [A.DROP_XSK_NO_BUFFER]: 'XSK_NO_BUFFER',
  [A.DROP_NOMEM]: 'NOMEM',
};

/** Name of a drop reason counter index (A.DROP_*). */
export function dropReasonName(reason: number): string {
  if (reason === 0) return 'NONE';
  return DROP_NAMES[reason] ?? `DROP_${reason}`;
}

export class Emulator {
  readonly dp: Dataplane;
  readonly notifier = new Notifier();
  readonly traffic: Traffic;
  private readonly pool: WorkerPool | undefined;
  private readonly namespaces = new Map<string, Netns>();
  private readonly random: () => number;
  private readonly roundNs: bigint;
  private nextNetnsId = 1;
  private readonly perNetnsUnregister: boolean;
  private readonly jitDefault: boolean;
  private readonly freeSlots: number[] = [];
  private nextSlot = 0;
  /** Every registered device, by slot. */
  private readonly bySlot = new Map<number, NetDevice>();
  readonly init: Netns;

  private constructor(dp: Dataplane, pool: WorkerPool | undefined, o: EmulatorOptions) {
    this.dp = dp;
    this.pool = pool;
    this.traffic = new Traffic(dp);
    this.random = prng(o.seed ?? 1);
    this.roundNs = BigInt(o.roundNs ?? 1000);
    this.perNetnsUnregister = o.perNetnsUnregister ?? true;
    this.jitDefault = o.jit ?? true;
    this.notifier.subscribe(this.netkitNotifier);
    this.init = this.createNetns('init');
    this.init.find('lo')!.up = true;
    this.publish(this.init.find('lo')!);
    this.init.stack.linkUp(this.init.find('lo')!.ifindex);
    this.assignPollLists();
  }

  /** Creates an emulator; `workers: 0` (the default) runs the dataplane inline. */
  static async create(opts: EmulatorOptions = {}): Promise<Emulator> {
    const dp = await Dataplane.create({ appThreads: 1, ...opts });
    const pool = dp.workers > 0 ? await WorkerPool.start(dp) : undefined;
    return new Emulator(dp, pool, opts);
  }

  /** Stops the workers. */
  async close(): Promise<void> {
    await this.pool?.stop();
  }

  get workers(): number {
    return this.dp.workers;
  }

  /**
   * Resolves once every dataplane worker has installed (or uninstalled) the compiled code
   * of every program loaded (or freed) so far. Loading is synchronous and workers install
   * later; until then they run the program on the interpreter, with the same results.
   * `settle()` and `pktgen()` wait for this first. It also waits for modules compiling in
   * the background (browsers' main threads refuse synchronous compiles of larger modules).
   */
  async settleJit(): Promise<void> {
    while (this.jitPending.size) await Promise.all([...this.jitPending]);
    await this.pool?.jitSettled();
  }
  private readonly jitPending = new Set<Promise<void>>();

  /**
   * For each dataplane thread (0 = this one, then workers 1..N), whether it runs the
   * program's compiled code now (false: the interpreter, also for programs not compiled).
   */
  async jitInstalled(prog: BpfProgram): Promise<boolean[]> {
    const slot = prog.jit.slot;
    const host = slot !== 0 && this.dp.jit.installed(slot);
    const workers = this.pool ? await this.pool.jitInstalled(slot) : [];
    return [host, ...workers];
  }

  // ---- namespaces ----------------------------------------------------------------

  private createNetns(name: string): Netns {
    const ns = new Netns(this.nextNetnsId++, name);
    ns.stack = new Stack({
      io: {
        links: () => [...ns.devices.values()].map((d) => ({
          ifindex: d.ifindex, name: d.name, mac: d.mac, up: d.up && (d.carrier || d.kind === 'loopback'), noarp: d.noarp, mtu: d.mtu,
          loopback: d.kind === 'loopback',
        })),
        xmit: (ifindex, frame, meta) => {
          const dev = ns.devices.get(ifindex);
          if (dev && dev.kind !== 'loopback') this.traffic.transmit(dev, frame, meta);
        },
        nowNs: () => this.dp.clockNs,
      },
    });
    this.namespaces.set(name, ns);
    const lo = this.newDevice(ns, {
      kind: 'loopback', name: 'lo', baseFlags: A.IFF_LOOPBACK, mtu: 65536, minMtu: 0, maxMtu: 0x7fffffff,
      mac: new Uint8Array(6), txqlen: 1000, numTxQueues: 1, numRxQueues: 1,
    });
    lo.carrier = true;
    this.register(lo, 1);
    return ns;
  }

  /** `ip netns add NAME` */
  addNetns(name: string): Netns {
    if (!/^[^/\0]{1,255}$/.test(name) || name === '.' || name === '..') fail('EINVAL');
    if (this.namespaces.has(name)) fail('EEXIST');
    return this.createNetns(name);
  }

  /** `ip netns del NAME`: dismantle per netns-unregister.md §4.3. */
  delNetns(name: string): void {
    this.flushWork();
    const ns = this.namespaces.get(name);
    if (!ns || ns === this.init) fail('ENOENT');
    // Physical devices go back to the initial namespace first (renamed on a clash).
    for (const d of [...ns.devices.values()].sort((a, b) => a.ifindex - b.ifindex)) {
      if (!d.physical) continue;
      const clash = this.init.byName.has(d.name);
      const pattern = clash ? (this.init.byName.has(`dev${d.ifindex}`) ? 'dev%d' : `dev${d.ifindex}`) : undefined;
      this.moveNetns(d, this.init, pattern);
    }
    // Then every other device, newest first, through its dellink (peers elsewhere go
    // too, via their namespace's pending list); lo last.
    const kill: NetDevice[] = [];
    const devs = [...ns.devices.values()].sort((a, b) => b.slot - a.slot);
    for (const d of devs) if (d.kind !== 'loopback') this.dellink(d, kill, ns);
    for (const d of devs) if (d.kind === 'loopback') this.queue(d, kill);
    this.unregisterMany(kill);
    ns.alive = false;
    this.namespaces.delete(name);
    // The dismantle completes only after the cross-netns work it queued has run.
    this.flushWork();
    for (const other of this.namespaces.values()) other.forgetNsid(ns);
  }

  /** Names of the namespaces created with addNetns (as `ip netns list`, newest first). */
  listNetns(): string[] {
    return [...this.namespaces.keys()].filter((n) => n !== 'init').reverse();
  }

  /** A namespace by name ("init" for the initial one); ENOENT when absent. */
  netns(name = 'init'): Netns {
    const ns = this.namespaces.get(name);
    if (!ns) fail('ENOENT');
    return ns;
  }

  hasNetns(name: string): boolean {
    return this.namespaces.has(name);
  }

  // ---- devices -------------------------------------------------------------------

  private newDevice(ns: Netns, o: ConstructorParameters<typeof NetDevice>[0] extends infer T ? Omit<T & object, 'slot' | 'netns'> : never): NetDevice {
    const slot = this.freeSlots.pop() ?? this.nextSlot++;
    if (slot >= this.dp.maxDevices) {
      this.nextSlot--;
      fail('ENOSPC');
    }
    return new NetDevice({ ...o, slot, netns: ns });
  }

  private randomMac(): Uint8Array {
    const mac = Uint8Array.from({ length: 6 }, () => Math.floor(this.random() * 256));
    mac[0] = (mac[0]! & 0xfe) | 0x02;
    return mac;
  }

  /** register_netdevice: name, ifindex, rings, publish, NETDEV_REGISTER. */
  private register(dev: NetDevice, ifindex = 0, taken?: Set<string>): void {
    const ns = dev.netns;
    dev.name = ns.allocName(dev.name, taken);
    dev.ifindex = ns.allocIfindex(ifindex);
    if (dev.kind !== 'loopback') {
      dev.txRing = this.dp.allocRing(this.dp.ringSize, A.DESC_SIZE);
      const real = dev.kind === 'nic' ? dev.numRxQueues : 1;
      for (let i = 0; i < real; i++) this.addRxQueue(dev);
    }
    ns.list(dev);
    dev.regState = RegState.REGISTERED;
    this.bySlot.set(dev.slot, dev);
    this.dp.clearCounters(dev.slot);
    this.publish(dev);
    this.notifier.emit(NetdevEvent.REGISTER, dev);
  }

  /** Appends a real rx queue (with its ring) to a device; publish() makes it visible. */
  addRxQueue(dev: NetDevice): RxQueue {
    const q: RxQueue = { dev, index: dev.rxq.length, ring: this.dp.allocRing(this.dp.ringSize, A.DESC_SIZE) };
    dev.rxq.push(q);
    return q;
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
    this.pool?.kick();
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
      for (let i = 0; i < dv.getUint32(rec + A.PR_NMAPS, true); i++) {
        const m = dv.getUint32(rec + A.PR_MAPS + i * 4, true);
        const t = dv.getUint32(m + A.MAP_TYPE, true);
        if (t === A.BPF_MAP_TYPE_ARRAY_OF_MAPS || t === A.BPF_MAP_TYPE_HASH_OF_MAPS) return false;
        if ((owner.get(m) ?? k) !== k) return false;
        owner.set(m, k);
      }
      for (let i = 0; i < dv.getUint32(rec + A.PR_NREGIONS, true); i++) {
        const at = rec + A.PR_REGIONS + i * A.VM_REGION_SIZE;
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
    dp.view().setUint32(at + A.PGL_COUNT, progs.length, true);
    dp.view().setUint32(at + A.PGL_FLAGS, this.independent(progs) ? A.PGLF_INDEPENDENT : 0, true);
    progs.forEach((p, i) => dp.view().setUint32(at + A.PGL_PROGS + i * 4, p.record, true));
    return at;
  }

  /**
   * Publishes `rec` (0: none) as device `slot`'s record. The old record and what it points
   * to (program lists, rx ring and per-queue arrays, steering tables) are retired after
   * the swap, so they wait for every worker to pass the new generation: a worker that
   * took the old record before the swap may use all of it until its next quiescent point.
   */
  private swapRecord(slot: number, rec: number): void {
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
      const flow = r.flowType === 'tcp4' ? A.FLOW_TCP4 : r.flowType === 'udp4' ? A.FLOW_UDP4 : A.FLOW_ETHER;
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

  /** Spreads devices over the workers (slot modulo workers), or all on the host inline. */
  private assignPollLists(): void {
    const slots = [...this.bySlot.values()].filter((d) => d.kind !== 'loopback').map((d) => d.slot);
    if (!this.pool) {
      this.dp.publishPollList(0, slots);
      return;
    }
    const n = this.workers;
    for (let w = 1; w <= n; w++) this.dp.publishPollList(w, slots.filter((s) => s % n === w - 1));
    this.pool.kick();
  }

  /** The thread whose poll list holds a device. */
  ownerThread(dev: NetDevice): number {
    return this.pool ? (dev.slot % this.workers) + 1 : 0;
  }

  /** Finds a device in a namespace by name or ifindex; ENODEV when absent. */
  device(ns: string | Netns, dev: string | number): NetDevice {
    const n = typeof ns === 'string' ? this.netns(ns) : ns;
    const d = n.find(dev);
    if (!d) fail('ENODEV');
    return d;
  }

  /**
   * RTM_NEWLINK with NLM_F_CREATE|NLM_F_EXCL for kind netkit, in namespace `ns` (the
   * caller's). Returns the created devices, primary first. On error nothing changes.
   */
  addLink(req: LinkRequest, ns = 'init'): NetDevice[] {
    this.flushWork();
    const caller = this.netns(ns);
    const home = req.netns !== undefined ? this.netns(req.netns) : caller;
    if (req.linkinfo?.kind !== 'netkit') fail('EOPNOTSUPP', `Unknown device type`);
    if (req.ifname !== undefined && !req.ifname.includes('%') && home.byName.has(req.ifname)) fail('EEXIST');
    // §2.1: policy (inside planNewlink), validate hook, core allocation of the primary.
    const plan0 = netkit.parseNetkitData(req.linkinfo.data);
    void plan0;
    const mac = netkit.validateAddress(req.address);
    const q = netkit.checkQueues(req);
    if (req.mtu !== undefined) netkit.checkMtu(req.mtu, ETH_MIN_MTU, ETH_MAX_MTU);
    const plan = netkit.planNewlink(req);

    const created: NetDevice[] = [];
    const mk = (home: Netns, r: LinkRequest, rq: { tx: number; rx: number }, primary: boolean, policy: number, scrub: number): NetDevice => {
      const l2 = plan.mode === A.NETKIT_L2;
      const dev = this.newDevice(home, {
        kind: 'netkit', name: r.ifname ?? 'nk%d', baseFlags: A.IFF_BROADCAST | A.IFF_MULTICAST | A.IFF_NOARP,
        mtu: r.mtu ?? 1500, minMtu: ETH_MIN_MTU, maxMtu: ETH_MAX_MTU, mac: new Uint8Array(6), txqlen: r.txqlen ?? 1000,
        numTxQueues: rq.tx, numRxQueues: rq.rx,
      });
      if (plan.headroom) dev.neededHeadroom = plan.headroom;
      if (plan.tailroom) dev.neededTailroom = plan.tailroom;
      const addr = primary ? mac : r.address !== undefined ? parseMac(r.address) : undefined;
      if (r.address !== undefined && !addr) fail('EINVAL');
      if (l2) dev.mac = addr ?? this.randomMac();
      dev.netkit = { primary, policy, scrub, mode: plan.mode, pairing: plan.pairing, headroom: plan.headroom, peer: undefined, progs: undefined };
      return dev;
    };

    let peer: NetDevice | undefined;
    try {
      if (plan.pairing === A.NETKIT_DEVICE_PAIR) {
        const pr = plan.peer ?? {};
        const peerHome = pr.netns !== undefined ? this.netns(pr.netns) : caller;
        const pq = netkit.checkQueues(pr);
        if (pr.mtu !== undefined) netkit.checkMtu(pr.mtu, ETH_MIN_MTU, ETH_MAX_MTU);
        peer = mk(peerHome, pr, pq, false, plan.peerPolicy, plan.peerScrub);
        const peerIfindex = plan.peer && (req.ifindex ?? 0) !== 0 ? plan.peer.ifindex ?? 0 : 0;
        try {
          this.register(peer, peerIfindex);
        } catch (e) {
          this.freeSlots.push(peer.slot);
          throw e;
        }
        created.push(peer);
        if (plan.mode === A.NETKIT_L2) peer.baseFlags &= ~A.IFF_NOARP;
        peer.carrier = false;
      }
      const primary = mk(home, req, q, true, plan.policy, plan.scrub);
      try {
        this.register(primary, req.ifindex ?? 0);
      } catch (e) {
        this.freeSlots.push(primary.slot);
        throw e;
      }
      created.unshift(primary);
      if (plan.mode === A.NETKIT_L2) primary.baseFlags &= ~A.IFF_NOARP;
      primary.carrier = false;
      if (peer) {
        primary.netkit!.peer = peer;
        peer.netkit!.peer = primary;
      }
    } catch (e) {
      if (created.length) this.unregisterMany(created.map((d) => (this.queue(d, []), d)));
      throw e;
    }
    for (const d of created) this.publish(d);
    this.assignPollLists();
    return created;
  }

  /** Queues a device on a batch list (once; never also on a pending list). */
  private queue(dev: NetDevice, list: NetDevice[]): void {
    if (dev.queued || dev.regState !== RegState.REGISTERED) return;
    if (dev.pendingIn) this.unpend(dev);
    dev.queued = true;
    list.push(dev);
  }

  /**
   * unregister_netdevice_queue_net: a device of namespace `onBehalf` joins the local
   * batch; one living elsewhere goes on its own namespace's pending list, flushed when
   * that namespace's lock is released, by its work, or at a dismantle (§3.3).
   */
  private queueNet(onBehalf: Netns, dev: NetDevice, list: NetDevice[]): void {
    if (!this.perNetnsUnregister || dev.netns === onBehalf) return this.queue(dev, list);
    if (dev.queued || dev.pendingIn || dev.regState !== RegState.REGISTERED) return;
    dev.pendingIn = dev.netns;
    dev.netns.pending.push(dev);
  }

  private unpend(dev: NetDevice): void {
    const ns = dev.pendingIn!;
    ns.pending.splice(ns.pending.indexOf(dev), 1);
    dev.pendingIn = undefined;
  }

  /** rtnl_link_ops->dellink: netkit queues both ends (a peer already queued is skipped). */
  private dellink(dev: NetDevice, list: NetDevice[], onBehalf: Netns = dev.netns): void {
    this.queue(dev, list);
    const peer = dev.netkit?.peer;
    if (peer) this.queueNet(onBehalf, peer, list);
  }

  /** Runs the per-netns unregistration work of one namespace (unregister_netdevice_many_net). */
  private flushNetns(ns: Netns): void {
    if (ns.pending.length === 0) return;
    const batch: NetDevice[] = [];
    for (const d of ns.pending.splice(0)) {
      d.pendingIn = undefined;
      this.queue(d, batch);
    }
    this.unregisterMany(batch);
  }

  /** Runs every namespace's pending unregistration work (the per-netns work items). */
  flushWork(): void {
    for (const ns of [...this.namespaces.values()]) this.flushNetns(ns);
  }

  /** Devices waiting on a namespace's pending unregistration list (not flushed). */
  pendingUnregister(ns = 'init'): string[] {
    return this.netns(ns).pending.map((d) => d.name);
  }

  /** `ip link del DEV` in namespace ns. */
  delLink(ns: string, dev: string | number): void {
    this.flushWork();
    const caller = this.netns(ns);
    const d = this.device(caller, dev);
    if (d.kind !== 'netkit') fail('EOPNOTSUPP');
    const kill: NetDevice[] = [];
    this.dellink(d, kill, caller);
    this.unregisterMany(kill);
  }

  /**
   * unregister_netdevice_many (netns-unregister.md §2.2): each step for the whole batch
   * before the next. A NETDEV_UNREGISTER listener may run a nested batch.
   */
  private unregisterMany(devs: NetDevice[]): void {
    const batch = devs.filter((d) => d.regState === RegState.REGISTERED);
    for (const d of devs) if (d.regState !== RegState.REGISTERED) d.queued = false;
    if (batch.length === 0) return;
    const upDevs = batch.filter((d) => d.up);
    for (const d of upDevs) this.notifier.emit(NetdevEvent.GOING_DOWN, d);
    for (const d of upDevs) {
      d.up = false;
      if (d.netkit) netkit.close(d);
      d.netns.stack.linkDown(d.ifindex);
    }
    for (const d of upDevs) this.notifier.emit(NetdevEvent.DOWN, d);
    for (const d of batch) {
      d.netns.unlist(d);
      d.regState = RegState.UNREGISTERING;
      if (d.pendingIn) this.unpend(d);
      this.swapRecord(d.slot, 0);
    }
    for (const d of batch) {
      this.notifier.emit(NetdevEvent.UNREGISTER, d);
      if (d.nic) {
        if (d.nic.xdp) {
          this.progPut(d.nic.xdp);
          d.nic.xdp = undefined;
        }
        d.nic.contexts.clear();
        for (const q of d.rxq) if (q.provider instanceof MemoryProvider) this.closeProvider(q.provider);
      }
      this.notifier.emit(NetdevEvent.PRE_UNINIT, d);
      // AF_XDP sockets bound to the device (or through its leases) are unbound.
      for (const q of d.rxq) {
        for (const pool of [q.pool as XskPool | undefined, q.lease?.pool as XskPool | undefined]) {
          for (const s of [...(pool?.sockets ?? [])]) if (s.bound?.dev === d || pool === q.pool) this.xskClose(s);
        }
      }
      // ndo_uninit: netkit drops its peer link and its leases.
      if (d.netkit) {
        // Providers opened through this device's leases go with them.
        for (const q of d.rxq) if (q.lease?.provider instanceof MemoryProvider && (q.lease.provider as MemoryProvider).opened.dev === d) this.closeProvider(q.lease.provider as MemoryProvider);
        releaseLeases(d);
        const peer = d.netkit.peer;
        d.netkit.peer = undefined;
        if (peer?.netkit && peer.netkit.peer === d) {
          peer.netkit.peer = undefined;
          this.publish(peer);
        }
      }
      // §5.6: the attach point empties; link-owned entries leave their links detached.
      for (const list of [d.netkit?.progs, d.tcxIngress, d.tcxEgress]) {
        if (!list) continue;
        for (const l of list.links()) (l as BpfLink).ifindex = 0;
        for (const prog of list.clear()) this.progPut(prog as BpfProgram);
        this.publishProgs(d);
      }
      d.netns.stack.forgetLink(d.ifindex);
    }
    for (const d of batch) {
      d.regState = RegState.UNREGISTERED;
      this.bySlot.delete(d.slot);
      const rings = [d.txRing, d.wireRing, ...d.rxq.map((q) => q.ring)].filter((r) => r !== 0);
      const qstats = d.qstats;
      d.txRing = 0;
      d.wireRing = 0;
      d.qstats = 0;
      d.rxq = [];
      this.dp.afterGrace(() => {
        for (const r of rings) this.dp.freeRingFrames(r);
        for (const r of rings) this.dp.release(r, this.dp.ringBytes(this.dp.ringSize, A.DESC_SIZE));
        if (qstats) this.dp.release(qstats, this.dp.threads * d.numRxQueues * A.QS_COUNT * 8);
        this.freeSlots.push(d.slot);
        d.regState = RegState.RELEASED;
      });
      d.queued = false;
    }
    this.assignPollLists();
  }

  /** The netkit notifier (netkit.md §7.1): a physical device really going away takes its lessees along. */
  private netkitNotifier = (event: NetdevEvent, dev: NetDevice): void => {
    if (event !== NetdevEvent.UNREGISTER || dev.regState !== RegState.UNREGISTERING || !dev.physical) return;
    const kill: NetDevice[] = [];
    for (const v of lessees(dev)) {
      if (v.queued) continue;
      this.queue(v, kill);
      if (v.netkit?.peer) this.queue(v.netkit.peer, kill);
    }
    this.unregisterMany(kill);
  };

  // ---- physical NICs, channels, steering ------------------------------------------

  private nicCount = 0;

  /**
   * Plugs in an emulated physical NIC (a netdevsim-like device with a parent bus
   * device): `rxQueues` real rx queues (channels), a MAC (random unless given).
   */
  addNic(o: {
    name?: string; rxQueues?: number; txQueues?: number; address?: string; netns?: string; maxChannels?: number;
    /** The driver supports AF_XDP zero-copy (XDP_SETUP_XSK_POOL, ndo_xsk_wakeup). Default true. */
    xskZeroCopy?: boolean;
    /** Zero-copy multi-buffer: the most buffers per packet (xdp_zc_max_segs). Default 1 (no multi-buffer in zero-copy). */
    xskMaxSegs?: number;
  } = {}): NetDevice {
    this.flushWork();
    const ns = this.netns(o.netns ?? 'init');
    const rx = o.rxQueues ?? 1;
    const tx = o.txQueues ?? rx;
    const max = o.maxChannels ?? Math.max(rx, 64);
    if (o.xskMaxSegs !== undefined && (!Number.isInteger(o.xskMaxSegs) || o.xskMaxSegs < 1)) fail('EINVAL');
    if (!Number.isInteger(rx) || rx < 1 || rx > max) fail('EINVAL', 'Invalid number of receive queues');
    if (!Number.isInteger(tx) || tx < 1 || tx > 4096) fail('EINVAL', 'Invalid number of transmit queues');
    let mac: Uint8Array | undefined;
    if (o.address !== undefined) {
      mac = parseMac(o.address);
      if (!mac) fail('EINVAL');
      if ((mac[0]! & 1) !== 0 || mac.every((b) => b === 0)) fail('EADDRNOTAVAIL');
    }
    if (o.name !== undefined && !o.name.includes('%') && ns.byName.has(o.name)) fail('EEXIST');
    const dev = this.newDevice(ns, {
      kind: 'nic', name: o.name ?? 'eth%d', baseFlags: A.IFF_BROADCAST | A.IFF_MULTICAST, mtu: 1500, minMtu: ETH_MIN_MTU,
      maxMtu: 9600, mac: mac ?? this.randomMac(), txqlen: 1000, numTxQueues: tx, numRxQueues: max,
    });
    dev.nic = nic.newNicState(`netdevsim${this.nicCount++}`, rx, max);
    dev.nic.xskZeroCopy = o.xskZeroCopy ?? true;
    dev.nic.xskMaxSegs = o.xskMaxSegs ?? 1;
    try {
      this.registerNic(dev, rx);
    } catch (e) {
      this.freeSlots.push(dev.slot);
      throw e;
    }
    this.assignPollLists();
    return dev;
  }

  private registerNic(dev: NetDevice, rx: number): void {
    const ns = dev.netns;
    dev.name = ns.allocName(dev.name);
    dev.ifindex = ns.allocIfindex();
    dev.txRing = this.dp.allocRing(this.dp.ringSize, A.DESC_SIZE);
    dev.wireRing = this.dp.allocRing(this.dp.ringSize, A.DESC_SIZE);
    dev.qstats = this.dp.alloc(this.dp.threads * dev.numRxQueues * A.QS_COUNT * 8);
    for (let i = 0; i < rx; i++) this.addRxQueue(dev);
    ns.list(dev);
    dev.regState = RegState.REGISTERED;
    this.bySlot.set(dev.slot, dev);
    this.dp.clearCounters(dev.slot);
    this.publish(dev);
    this.notifier.emit(NetdevEvent.REGISTER, dev);
  }

  /** Removes an emulated NIC as its driver would on unload (the emulator's rmmod). */
  delNic(ns: string, dev: string | number): void {
    this.flushWork();
    const d = this.device(ns, dev);
    if (!d.physical) fail('EOPNOTSUPP');
    d.nic!.present = false;
    const kill: NetDevice[] = [];
    this.queue(d, kill);
    this.unregisterMany(kill);
  }

  /** `ethtool -l`: channel counts (netkit has no get_channels: EOPNOTSUPP). */
  channels(ns: string, dev: string | number): { maxCombined: number; combined: number; maxRx: number; maxTx: number } {
    this.flushWork();
    const d = this.device(ns, dev);
    if (!d.nic) fail('EOPNOTSUPP');
    return { maxCombined: d.nic.maxChannels, combined: d.realNumRxQueues, maxRx: 0, maxTx: 0 };
  }

  /** `ethtool -L DEV combined N`. */
  setChannels(ns: string, dev: string | number, count: number): void {
    this.flushWork();
    const d = this.device(ns, dev);
    if (!d.nic) fail('EOPNOTSUPP');
    nic.checkChannels(d, count);
    if (count === d.realNumRxQueues) return;
    while (d.realNumRxQueues < count) this.addRxQueue(d);
    const gone = d.rxq.splice(count);
    const ctx0 = d.nic.contexts.get(0)!;
    if (!ctx0.configured) ctx0.table = nic.defaultTable(count);
    this.publish(d);
    const rings = gone.map((q) => q.ring);
    this.dp.afterGrace(() => {
      for (const r of rings) this.dp.freeRingFrames(r);
      for (const r of rings) this.dp.release(r, this.dp.ringBytes(this.dp.ringSize, A.DESC_SIZE));
    });
  }

  /** `ethtool -X`; returns the context id (a new one for `context: 'new'`). */
  setRss(ns: string, dev: string | number, o: Parameters<typeof nic.setIndirection>[1]): number {
    this.flushWork();
    const d = this.device(ns, dev);
    if (!d.nic) fail('EOPNOTSUPP');
    const id = nic.setIndirection(d, o);
    this.publish(d);
    return id;
  }

  /** `ethtool -N DEV flow-type ...`; returns the rule's location. */
  addNtuple(ns: string, dev: string | number, rule: Parameters<typeof nic.addRule>[1]): number {
    this.flushWork();
    const d = this.device(ns, dev);
    if (!d.nic) fail('EOPNOTSUPP');
    const loc = nic.addRule(d, rule);
    this.publish(d);
    return loc;
  }

  /** `ethtool -N DEV delete LOC`. */
  delNtuple(ns: string, dev: string | number, location: number): void {
    this.flushWork();
    const d = this.device(ns, dev);
    if (!d.nic) fail('EOPNOTSUPP');
    nic.deleteRule(d, location);
    this.publish(d);
  }

  // ---- queue leasing ----------------------------------------------------------------

  /** netdev `queue-create` issued from namespace `ns`. */
  queueCreate(req: QueueCreateRequest, ns = 'init'): { id: number } {
    this.flushWork();
    return queueCreate(this, this.netns(ns), req);
  }

  /** netdev `queue-get` (do). */
  queueGet(ns: string, q: { ifindex: number; id: number; type: 'rx' | 'tx' }): QueueInfo {
    this.flushWork();
    const d = this.netns(ns).devices.get(q.ifindex);
    if (!d) fail('ENODEV');
    return queueInfo(d, q.id, q.type);
  }

  /** netdev `queue-get` (dump), optionally for one ifindex. */
  queueDump(ns = 'init', ifindex?: number): QueueInfo[] {
    this.flushWork();
    return queueDump(this.links(ns), ifindex);
  }

  private readonly providers = new Set<MemoryProvider>();

  /**
   * Opens a memory provider (an io_uring zcrx or devmem receiver) on rx queue `queue` of
   * `dev` (a netkit queue with a lease, or a physical queue): its `buffers` buffers are
   * what the physical queue receives into. Close it with closeProvider().
   */
  bindProvider(ns: string, dev: string | number, queue: number, o: { kind?: ProviderKind; buffers?: number } = {}): MemoryProvider {
    this.flushWork();
    const d = this.device(ns, dev);
    const kind = o.kind ?? 'io_uring';
    const target = providerTarget(d, queue, kind, (dev) => dev.nic?.xdp !== undefined);
    const p = new MemoryProvider(this.dp, kind, d.rxq[queue]!, target, o.buffers ?? 256);
    target.provider = p;
    this.providers.add(p);
    this.publish(target.dev);
    return p;
  }

  /** Closes a memory provider: the physical queue returns to the driver's buffers. */
  closeProvider(p: MemoryProvider): void {
    if (p.closed) return;
    p.closed = true;
    this.providers.delete(p);
    if (p.queue.provider === p) {
      p.queue.provider = undefined;
      this.publish(p.queue.dev);
    }
    const dp = this.dp;
    dp.afterGrace(() => {
      // Buffers still in the fill ring go back to the host pool.
      const list = dp.hostScratch;
      let n = 0;
      dp.drainRing(p.fill, (e) => {
        dp.view().setUint32(list + n * 4, dp.view().getUint32(e, true), true);
        if (++n === 256) { dp.exports.framesFree(0, list, n); n = 0; }
      });
      dp.exports.framesFree(0, list, n);
      dp.release(p.fill, dp.ringBytes(dp.view().getUint32(p.fill + A.R_SIZE, true), 4));
    });
  }

  /** A namespace by its internal id (for nsid lookups). */
  namespaceById(id: number): Netns | undefined {
    for (const ns of this.namespaces.values()) if (ns.id === id) return ns;
    return undefined;
  }

  /** `ip netns set NAME NSID` issued in namespace `ns`. */
  setNsid(ns: string, name: string, nsid: number): void {
    this.netns(ns).setNsid(this.netns(name), nsid);
  }

  /** `ip link set DEV ...` (RTM_NEWLINK on an existing device). */
  setLink(ns: string, dev: string | number, change: LinkChange): void {
    this.flushWork();
    const d = this.device(ns, dev);
    // Validate everything that can be validated before changing anything.
    const target = change.netns !== undefined ? this.netns(change.netns) : undefined;
    if (change.mtu !== undefined) netkit.checkMtu(change.mtu, d.minMtu, d.maxMtu);
    let mac: Uint8Array | undefined;
    if (change.address !== undefined) {
      if (d.netkit && d.netkit.mode !== A.NETKIT_L2) fail('EOPNOTSUPP');
      mac = parseMac(change.address);
      if (!mac) fail('EINVAL');
      if ((mac[0]! & 1) !== 0 || mac.every((b) => b === 0)) fail('EADDRNOTAVAIL');
    }
    if (change.ifname !== undefined && change.ifname !== d.name) {
      if (!netkitValidName(change.ifname)) fail('EINVAL');
      if ((target ?? d.netns).byName.has(change.ifname)) fail('EEXIST');
      if (change.netns === undefined && d.up) fail('EBUSY');
    }
    if (change.data !== undefined) {
      if (!d.netkit) fail('EOPNOTSUPP');
      netkit.changelink(d, change.data, (x) => this.publish(x));
    }
    if (target && target !== d.netns) {
      this.moveNetns(d, target, change.ifname);
    } else if (change.ifname !== undefined && change.ifname !== d.name) {
      d.netns.unlist(d);
      d.name = change.ifname;
      d.netns.list(d);
      this.notifier.emit(NetdevEvent.CHANGENAME, d);
    }
    if (change.mtu !== undefined && change.mtu !== d.mtu) {
      d.mtu = change.mtu;
      this.notifier.emit(NetdevEvent.CHANGEMTU, d);
    }
    if (mac) {
      d.mac = mac;
      this.notifier.emit(NetdevEvent.CHANGEADDR, d);
    }
    if (change.txqlen !== undefined) d.txqlen = change.txqlen;
    if (change.up === true && !d.up) this.openDev(d);
    if (change.up === false && d.up) this.closeDev(d);
    this.publish(d);
  }

  private openDev(d: NetDevice): void {
    this.notifier.emit(NetdevEvent.PRE_UP, d);
    let changed: NetDevice[] = [];
    if (d.netkit) changed = netkit.open(d);
    d.up = true;
    if (d.kind !== 'netkit') d.carrier = true;
    this.notifier.emit(NetdevEvent.UP, d);
    for (const c of changed) {
      this.notifier.emit(NetdevEvent.CHANGE, c);
      if (c !== d) this.publish(c);
    }
    d.netns.stack.linkUp(d.ifindex);
    if (d.netkit?.peer) d.netkit.peer.netns.stack.linkUp(d.netkit.peer.ifindex);
  }

  private closeDev(d: NetDevice): void {
    this.notifier.emit(NetdevEvent.GOING_DOWN, d);
    d.up = false;
    const changed = d.netkit ? netkit.close(d) : [d];
    if (d.kind !== 'netkit') d.carrier = false;
    this.notifier.emit(NetdevEvent.DOWN, d);
    for (const c of changed) if (c !== d) this.publish(c);
    d.netns.stack.linkDown(d.ifindex);
  }

  /** dev_change_net_namespace (netns-unregister.md §4.2). */
  private moveNetns(d: NetDevice, target: Netns, newName?: string): void {
    if (d.kind === 'loopback') fail('EINVAL');
    if (d.regState !== RegState.REGISTERED) fail('EINVAL');
    let name = d.name;
    if (target.byName.has(name)) {
      if (newName === undefined) fail('EEXIST');
      name = target.allocName(newName);
    } else if (newName !== undefined) {
      name = target.allocName(newName);
    }
    if (d.up) this.closeDev(d);
    d.netns.stack.linkDown(d.ifindex);
    d.netns.unlist(d);
    this.notifier.emit(NetdevEvent.UNREGISTER, d);
    const ifindex = target.devices.has(d.ifindex) ? target.allocIfindex() : d.ifindex;
    d.netns.stack.forgetLink(d.ifindex);
    const from = d.netns;
    d.netns = target;
    d.ifindex = ifindex;
    // A device pending on the old namespace's list moves to the tail of the new one's.
    if (d.pendingIn === from) {
      from.pending.splice(from.pending.indexOf(d), 1);
      target.pending.push(d);
      d.pendingIn = target;
    }
    d.name = name;
    target.list(d);
    this.notifier.emit(NetdevEvent.REGISTER, d);
    this.publish(d);
    if (d.netkit?.peer) this.publish(d.netkit.peer);
  }

  /** All devices of a namespace, by ifindex. */
  links(ns = 'init'): NetDevice[] {
    this.flushWork();
    return [...this.netns(ns).devices.values()].sort((a, b) => a.ifindex - b.ifindex);
  }

  /** RTM_GETLINK dump of one device, as seen from its namespace. */
  dump(d: NetDevice): LinkDump {
    const ns = d.netns;
    const flags = d.flags;
    const out: LinkDump = {
      ifindex: d.ifindex,
      ifname: d.name,
      flags: flagNames(flags),
      rawFlags: flags,
      mtu: d.mtu,
      minMtu: d.minMtu,
      maxMtu: d.maxMtu,
      qdisc: d.kind === 'loopback' ? (d.up ? 'noqueue' : 'noop') : d.up ? 'noqueue' : 'noop',
      operstate: d.operstate,
      linkmode: 'DEFAULT',
      group: 'default',
      txqlen: d.txqlen,
      linkType: d.kind === 'loopback' ? 'loopback' : 'ether',
      address: macString(d.mac),
      broadcast: d.kind === 'loopback' ? '00:00:00:00:00:00' : 'ff:ff:ff:ff:ff:ff',
      numTxQueues: d.numTxQueues,
      numRxQueues: d.numRxQueues,
      realNumRxQueues: d.realNumRxQueues,
      gsoMaxSize: GSO_MAX_SIZE,
      gsoMaxSegs: GSO_MAX_SEGS,
      tsoMaxSize: GSO_MAX_SIZE,
      tsoMaxSegs: GSO_MAX_SEGS,
      groMaxSize: GSO_MAX_SIZE,
      stats: this.stats(d),
    };
    if (d.netkit) {
      const peer = d.netkit.peer;
      out.link = d.iflink;
      if (peer && peer.netns === ns) out.linkName = peer.name;
      if (peer && peer.netns !== ns) out.linkNetnsid = ns.nsidOf(peer.netns);
      out.kind = 'netkit';
      out.data = netkit.fillInfo(d);
    }
    return out;
  }

  /** Counters of a device: the dataplane's per-thread blocks summed. */
  stats(d: NetDevice): LinkStats {
    const c = this.dp.counters(d.slot);
    const dropReasons: Record<string, bigint> = {};
    for (let r = A.DROP_FIRST; r <= A.DROP_LAST; r++) if (c[r]! > 0n) dropReasons[dropReasonName(r)] = c[r]!;
    return {
      rxPackets: c[A.C_RX_PACKETS]!, rxBytes: c[A.C_RX_BYTES]!, txPackets: c[A.C_TX_PACKETS]!, txBytes: c[A.C_TX_BYTES]!,
      rxDropped: c[A.C_RX_DROPPED]!, txDropped: c[A.C_TX_DROPPED]!, rxErrors: 0n, txErrors: 0n, multicast: 0n, dropReasons,
    };
  }

  // ---- traffic -------------------------------------------------------------------

  /** Sends a raw Ethernet frame out of a device, as the namespace's stack would. */
  transmit(ns: string, dev: string | number, frame: Uint8Array, meta?: FrameMeta): void {
    this.traffic.transmit(this.device(ns, dev), frame, meta);
  }

  /** Frames arriving on a NIC from the wire (steered by its ntuple rules and RSS). */
  wireIn(ns: string, dev: string | number, frame: Uint8Array, meta?: FrameMeta): void {
    const d = this.device(ns, dev);
    if (!d.nic) fail('EOPNOTSUPP');
    this.checkFrameLength(frame);
    this.traffic.transmit(d, frame, meta, true);
  }

  /** EMSGSIZE for a frame larger than a frame buffer holds (the NIC's receive buffers, pktgen's frames). */
  private checkFrameLength(frame: Uint8Array): void {
    if (frame.length > this.dp.frameSize - A.FRAME_HEADROOM) fail('EMSGSIZE');
  }

  /** A NIC's per-queue counters (rx queue i, and tx on queue 0), summed over threads. */
  queueStats(ns: string, dev: string | number): { rxPackets: bigint; rxBytes: bigint; txPackets: bigint; txBytes: bigint }[] {
    const d = this.device(ns, dev);
    if (!d.nic) fail('EOPNOTSUPP');
    const dv = this.dp.view();
    const out = Array.from({ length: d.numRxQueues }, () => ({ rxPackets: 0n, rxBytes: 0n, txPackets: 0n, txBytes: 0n }));
    for (let t = 0; t < this.dp.threads; t++) {
      for (let q = 0; q < d.numRxQueues; q++) {
        const at = d.qstats + ((t * d.numRxQueues + q) * A.QS_COUNT) * 8;
        const o = out[q]!;
        o.rxPackets += dv.getBigUint64(at + A.QS_RX_PACKETS * 8, true);
        o.rxBytes += dv.getBigUint64(at + A.QS_RX_BYTES * 8, true);
        o.txPackets += dv.getBigUint64(at + A.QS_TX_PACKETS * 8, true);
        o.txBytes += dv.getBigUint64(at + A.QS_TX_BYTES * 8, true);
      }
    }
    return out.slice(0, Math.max(d.realNumRxQueues, 1));
  }

  /** Hooks run for every frame the stack receives (tests, tools); return to unsubscribe. */
  onReceive(fn: (dev: NetDevice, frame: Uint8Array, meta: RxMeta) => void): () => void {
    this.receivers.add(fn);
    return () => this.receivers.delete(fn);
  }
  private readonly receivers = new Set<(dev: NetDevice, frame: Uint8Array, meta: RxMeta) => void>();

  private deliver = (dev: NetDevice, frame: Uint8Array, meta: RxMeta): boolean => {
    for (const fn of this.receivers) fn(dev, frame, meta);
    // A memory provider's receiver sees frames that reach its namespace in its own buffers.
    if (meta.providerBuffer) for (const p of this.providers) if (p.opened.dev.netns === dev.netns && p.owns(meta.addr)) p.delivered++;
    return dev.netns.alive ? dev.netns.stack.receive(dev.ifindex, frame, meta) : false;
  };

  /**
   * Runs the dataplane until nothing is left to do: queued frames transmitted, every
   * delivered frame handed to its stack, replies sent in turn. Returns rounds run.
   */
  async settle(maxRounds = 10_000): Promise<number> {
    await this.settleJit();
    this.flushWork();
    let rounds = 0;
    for (; rounds < maxRounds; rounds++) {
      this.dp.clockNs = this.dp.clockNs + this.roundNs;
      for (const p of this.providers) p.refill();
      const placed = this.traffic.flush();
      if (this.pool) {
        this.pool.kick();
        await this.pool.idle(() => this.txRingsEmpty());
      } else {
        this.dp.exports.poll(0, 0x7fffffff);
      }
      const drained = this.traffic.drain(this.bySlot.values(), this.deliver);
      for (const c of this.captures.keys()) c.drain();
      const zc = this.xskZcRound();
      const redirected = this.drainRedirects();
      this.dp.reclaim();
      if (placed === 0 && drained === 0 && redirected === 0 && zc === 0 && this.traffic.backlog === 0 && this.txRingsEmpty()) break;
    }
    return rounds;
  }

  /**
   * Frames that programs redirected (REDIRECT verdicts), resolved in the namespace of the
   * device they were on: out of the target (egress), up the target's stack
   * (BPF_F_INGRESS), or up the stack of the target's peer (bpf_redirect_peer). A target
   * that does not exist or is down drops the frame (REDIRECT_FAILED on the sender).
   */
  private drainRedirects(): number {
    const dp = this.dp;
    let total = 0;
    for (let t = 0; t < dp.threads; t++) {
      const jobs: { frame: Uint8Array; meta: FrameMeta; rx: RxMeta; ifindex: number; netns: number; flags: number; from: number }[] = [];
      const list = dp.hostScratch;
      let n = 0;
      total += dp.drainRing(dp.thread(t).redirect, (e) => {
        const dv = dp.view();
        const addr = Number(dv.getBigUint64(e + A.RD_ADDR, true));
        const len = dv.getUint32(e + A.RD_LEN, true);
        const base = addr - (addr % dp.frameSize);
        const mark = dv.getUint32(base + A.FM_MARK, true);
        const priority = dv.getUint32(base + A.FM_PRIORITY, true);
        jobs.push({
          frame: dp.bytes().slice(addr, addr + len), meta: { mark, priority }, ifindex: dv.getUint32(e + A.RD_IFINDEX, true),
          rx: { mark, priority, pktType: dv.getUint8(base + A.FM_PKT_TYPE), tstamp: 0n, ifindex: 0, protocol: dv.getUint16(base + A.FM_PROTOCOL, false), queue: 0, hash: dv.getUint32(base + A.FM_HASH, true), addr: 0 },
          netns: dv.getUint32(e + A.RD_NETNS, true), flags: dv.getUint32(e + A.RD_FLAGS, true), from: dv.getUint32(e + A.RD_FROM, true),
        });
        dv.setUint32(list + n * 4, addr, true);
        n++;
      });
      if (n) dp.exports.framesFree(0, list, n);
      for (const j of jobs) {
        const ns = this.namespaceById(j.netns);
        let target = ns?.find(j.ifindex);
        // bpf_redirect_peer works only at tc ingress (skb_do_redirect): from netkit's xmit it drops.
        if (j.flags & A.VM_REDIRECT_PEER) target = j.flags & A.VM_REDIRECT_FROM_INGRESS ? target?.netkit?.peer : undefined;
        if (!target || !target.up || target.regState !== RegState.REGISTERED) {
          const from = this.bySlot.get(j.from);
          if (from) {
            const at = dp.countersAddr(0, from.slot) + A.DROP_REDIRECT * 8;
            dp.view().setBigUint64(at, dp.view().getBigUint64(at, true) + 1n, true);
          }
          continue;
        }
        if (j.flags & (A.VM_F_INGRESS | A.VM_REDIRECT_PEER)) this.deliver(target, j.frame, { ...j.rx, ifindex: target.ifindex });
        else this.traffic.transmit(target, j.frame, j.meta);
      }
    }
    return total;
  }

  private txRingsEmpty(): boolean {
    for (const d of this.bySlot.values()) {
      if (d.txRing !== 0 && !this.dp.ringEmpty(d.txRing)) return false;
      if (d.wireRing !== 0 && !this.dp.ringEmpty(d.wireRing)) return false;
    }
    return true;
  }

  /**
   * pktgen: `count` copies of `frame` sent on a device by its owner thread, in batches
   * (default 64), optionally spreading `flows` UDP source ports at byte `portOffset`.
   * Out of a netkit device: into its xmit, as many as there are frames for (the count
   * returned). Into a NIC: from the wire, all `count`; its driver receives each into a
   * buffer of the queue it steers to, and drops one it has no buffer for (NOMEM, or
   * XSK_NO_BUFFER on a zero-copy AF_XDP queue). EMSGSIZE for a frame larger than a frame
   * buffer holds; EINVAL for a count, batch (1 to 64) or flows that is not a whole number
   * in range, or a varied port outside the frame.
   */
  async pktgen(ns: string, dev: string | number, frame: Uint8Array, o: { count: number; batch?: number; flows?: number; portOffset?: number }): Promise<number> {
    const d = this.device(ns, dev);
    const int = (v: number, lo: number, hi: number): boolean => Number.isInteger(v) && v >= lo && v <= hi;
    const flows = o.flows ?? 1;
    const portOffset = o.portOffset ?? 0;
    if (!int(o.count, 0, 0xffffffff) || !int(o.batch ?? 64, 1, 64) || !int(flows, 1, 0xffff)) fail('EINVAL');
    // The varied port must lie inside the frame.
    if (!int(portOffset, 0, 0xffff) || (flows > 1 && portOffset + 2 > frame.length)) fail('EINVAL');
    this.checkFrameLength(frame);
    const tmpl = this.dp.alloc(frame.length);
    this.dp.bytes().set(frame, tmpl);
    const proto = frame.length >= 14 ? (frame[12]! << 8) | frame[13]! : 0;
    const args = [d.slot, tmpl, frame.length, o.count, o.batch ?? 64, flows, portOffset, ((proto & 0xff) << 8) | (proto >> 8)] as const;
    const thread = this.ownerThread(d);
    await this.settleJit();
    const sent = this.pool ? await this.pool.pktgen(thread, ...args) : this.dp.exports.pktgen(0, ...args);
    this.dp.retire(tmpl, frame.length);
    return sent;
  }

  /**
   * `ping`: ICMP echo requests from a namespace's stack to `dst`, one per `interval` of
   * virtual time; each waits for the dataplane to settle (and for ARP, which retries every
   * virtual second, three times). Throws ENETUNREACH when no route leads to `dst`.
   */
  async ping(ns: string, dst: string, o: PingOptions = {}): Promise<PingResult> {
    const n = this.netns(ns);
    const target = parseIp(dst);
    if (target === null) fail('EINVAL', `ping: ${dst}: Name or service not known`);
    const count = o.count ?? 1;
    const size = o.size ?? 56;
    const intervalNs = BigInt(Math.round((o.interval ?? 1) * 1e9));
    if (!Number.isInteger(count) || count < 1) fail('EINVAL', `ping: invalid argument: '${o.count}'`);
    if (!Number.isInteger(size) || size < 0 || size > 65507) fail('EINVAL', `ping: invalid argument: '${o.size}'`);
    const ifindex = o.device === undefined ? undefined : this.device(n, o.device).ifindex;
    const result = new PingResult(dst, size, count);
    const sent = new Map<number, bigint>();
    const pinger = n.stack.openPing((e) => {
      const t0 = sent.get(e.seq);
      if (t0 === undefined) return;
      if (e.kind === 'reply') result.reply(e.seq, formatIp(e.from), e.bytes, e.ttl, e.atNs - t0);
      else result.error(e.seq, formatIp(e.from), e.kind);
    });
    try {
      const start = this.dp.clockNs;
      for (let seq = 1; seq <= count; seq++) {
        const t0 = start + intervalNs * BigInt(seq - 1);
        if (this.dp.clockNs < t0) this.dp.clockNs = t0;
        const data = new Uint8Array(size);
        for (let i = 0; i < size; i++) data[i] = i & 0xff;
        sent.set(seq, this.dp.clockNs);
        n.stack.echo(target, pinger.id, seq, data, { ttl: o.ttl, tos: o.tos, ifindex, meta: { mark: o.mark, priority: o.priority } });
        result.transmitted++;
        await this.settle();
        for (let tries = 0; !result.answered(seq) && n.stack.resolving && tries < 4; tries++) {
          this.dp.clockNs = this.dp.clockNs + 1_000_000_000n;
          n.stack.tick();
          await this.settle();
        }
      }
      result.timeMs = Number((intervalNs * BigInt(count - 1)) / 1_000_000n);
    } finally {
      pinger.close();
    }
    return result;
  }

  /** `ip addr add CIDR dev DEV`: e.g. `10.0.0.1/24` (no prefix means /32). */
  addAddress(ns: string, dev: string | number, cidr: string): void {
    const d = this.device(ns, dev);
    const { addr, prefixLen } = parseCidr(cidr, 32);
    d.netns.stack.addAddress(d.ifindex, addr, prefixLen);
  }

  /** `ip addr del CIDR dev DEV`. */
  delAddress(ns: string, dev: string | number, cidr: string): void {
    const d = this.device(ns, dev);
    const { addr, prefixLen } = parseCidr(cidr, 32);
    d.netns.stack.delAddress(d.ifindex, addr, cidr.includes('/') ? prefixLen : undefined);
  }

  /** `ip route add PREFIX|default [via GW] [dev DEV] [src ADDR] [metric N]`. */
  addRoute(ns: string, r: { dst: string; via?: string; dev?: string | number; src?: string; metric?: number }): void {
    const n = this.netns(ns);
    const { addr, prefixLen } = r.dst === 'default' ? { addr: 0, prefixLen: 0 } : parseCidr(r.dst, 32);
    const via = r.via === undefined ? undefined : parseCidr(r.via, 32, 'gateway').addr;
    const src = r.src === undefined ? undefined : parseCidr(r.src, 32, 'source').addr;
    const ifindex = r.dev === undefined ? undefined : this.device(n, r.dev).ifindex;
    n.stack.addRoute({ dst: addr, prefixLen, via, ifindex, src, metric: r.metric });
  }

  /** `ip route del PREFIX|default [dev DEV] [metric N]`. */
  delRoute(ns: string, r: { dst: string; dev?: string | number; metric?: number }): void {
    const n = this.netns(ns);
    const { addr, prefixLen } = r.dst === 'default' ? { addr: 0, prefixLen: 0 } : parseCidr(r.dst, 32);
    const ifindex = r.dev === undefined ? undefined : this.device(n, r.dev).ifindex;
    n.stack.delRoute({ dst: addr, prefixLen, metric: r.metric, ifindex });
  }

  /**
   * Starts capturing frames sent and received by the given devices (default: every
   * device registered now) into a pcapng file; frames are collected as the dataplane runs.
   */
  startCapture(o: { devices?: { ns: string; dev: string | number }[] } = {}): Capture {
    const devs = o.devices ? o.devices.map((x) => this.device(x.ns, x.dev)) : [...this.bySlot.values()];
    const c = new Capture(this.dp, (netns, ifindex) => {
      const ns = this.namespaceById(netns);
      const d = ns?.find(ifindex);
      return { name: d?.name ?? `if${ifindex}`, description: `netns ${ns?.name ?? netns} ifindex ${ifindex}` };
    }, dropReasonName);
    this.captures.set(c, devs);
    for (const d of devs) {
      d.capture = A.CAP_DIR_IN | A.CAP_DIR_OUT;
      this.publish(d);
    }
    return c;
  }

  /** Stops a capture and returns the pcapng file. */
  stopCapture(c: Capture): Uint8Array {
    const devs = this.captures.get(c);
    if (devs) {
      this.captures.delete(c);
      const still = new Set([...this.captures.values()].flat());
      for (const d of devs) {
        if (still.has(d) || d.regState !== RegState.REGISTERED) continue;
        d.capture = 0;
        this.publish(d);
      }
      c.drain();
      c.active = false;
    }
    return c.bytes();
  }
  private readonly captures = new Map<Capture, NetDevice[]>();

  /** Per-packet trace (device, hook, verdict, drop reason); `enable()` it, then `drain()`. */
  get tracer(): Tracer {
    return (this.tracerInstance ??= new Tracer(this.dp));
  }
  private tracerInstance: Tracer | undefined;

  // ---- BPF programs on netkit (netkit.md §5) -----------------------------------------

  readonly bpf = new BpfRegistry();

  /**
   * BPF_PROG_LOAD of one program image (already relocated): registers it under a new id
   * and places it in the shared memory for the dataplane.
   */
  loadProgram(o: { name: string; type: ProgType; insns: Uint8Array; expectedAttachType?: AttachType; regions?: { addr: number; len: number; writable: boolean }[]; maps?: number[]; jit?: boolean }): BpfProgram {
    if (o.insns.length === 0 || o.insns.length % 8 !== 0) fail('EINVAL');
    const regions = o.regions ?? [];
    const maps = o.maps ?? [];
    if (regions.length > A.PR_MAX_REGIONS || maps.length > A.PR_MAX_MAPS) fail('E2BIG');
    const prog = new BpfProgram({ ...o, id: this.bpf.progId() });
    this.placeProg(prog);
    const rec = this.dp.alloc(A.PR_SIZE);
    const dv = this.dp.view();
    dv.setUint32(rec + A.PR_INSNS, prog.addr, true);
    dv.setUint32(rec + A.PR_SLOTS, o.insns.length / 8, true);
    dv.setUint32(rec + A.PR_NREGIONS, regions.length, true);
    writeRegions(dv, rec + A.PR_REGIONS, regions);
    dv.setUint32(rec + A.PR_NMAPS, maps.length, true);
    maps.forEach((m, i) => dv.setUint32(rec + A.PR_MAPS + i * 4, m, true));
    const batch = o.type === 'sched_cls' ? 'skb' : o.type === 'xdp' ? 'xdp' : undefined;
    const mapInfo = maps.map((m) => codegenMap(dv, m));
    if (o.jit ?? this.jitDefault) prog.jit = this.dp.jit.compile(o.insns, { regions, batch, maps: mapInfo });
    else prog.jit = { slot: 0, reason: 'compilation is off for this program', bytes: 0, compileMs: 0 };
    dv.setUint32(rec + A.PR_JIT, prog.jit.slot, true);
    dv.setUint32(rec + A.PR_ID, prog.id, true);
    dv.setUint32(rec + A.PR_CTX_USE, ctxUse(o.insns, o.type), true);
    const ready = prog.jit.ready;
    if (ready) {
      // Compiling in the background: the record switches to the compiled code when it is
      // installed (one aligned store; a packet sees the interpreter or the code, both right).
      const done = ready.then((info) => {
        this.jitPending.delete(done);
        if (prog.record === 0) { this.dp.jit.release(info.slot); return; }
        prog.jit = info;
        Atomics.store(this.dp.words(), (prog.record + A.PR_JIT) >> 2, info.slot);
      });
      this.jitPending.add(done);
    }
    prog.record = rec;
    this.bpf.progs.set(prog.id, prog);
    return prog;
  }

  /**
   * Loads a clang-compiled BPF object (ELF): its maps are created in the shared memory,
   * its programs verified, relocated and placed. `programs` picks some by function name.
   */
  loadObject(bytes: Uint8Array, o: { programs?: string[] } = {}): LoadedObject {
    return loadBpfObject(this.dp, this, bytes, o);
  }

  /** bpf_trace_printk output since the last call, as trace_pipe lines. */
  tracePipe(): string[] {
    return drainPrintk(this.dp);
  }

  /**
   * BPF_MAP_UPDATE_ELEM on a PROG_ARRAY: `prog` in slot `index` (undefined empties it). The
   * slot holds a reference: a program whose handle is closed lives on while a slot has it,
   * and goes when the last slot and attachment let it go.
   */
  progArraySet(map: BpfMap, index: number, prog: BpfProgram | undefined): void {
    if (prog && (prog.closed || !this.bpf.prog(prog.id))) fail('EBADF');
    if (prog && prog.type !== 'sched_cls' && prog.type !== 'xdp') fail('EINVAL');
    map.setSlot(index, prog?.record ?? 0);
    let slots = this.progSlots.get(map);
    if (!slots) this.progSlots.set(map, (slots = new Map()));
    const old = slots.get(index);
    if (prog) {
      prog.refs++;
      slots.set(index, prog);
    } else {
      slots.delete(index);
    }
    if (old) this.progPut(old);
  }
  private readonly progSlots = new WeakMap<BpfMap, Map<number, BpfProgram>>();

  /**
   * `ip link set dev DEV xdp obj …` / `xdp off`: a native XDP program on a NIC (undefined
   * detaches). netkit has no native XDP (EOPNOTSUPP); a memory provider bound to one of
   * the NIC's queues refuses it (EEXIST), as the kernel's netdev core does.
   */
  setXdp(ns: string, dev: string | number, prog: BpfProgram | undefined): void {
    this.flushWork();
    const d = this.device(ns, dev);
    if (!d.nic) fail('EOPNOTSUPP');
    if (prog) {
      this.checkProg(prog, 'xdp');
      if (d.rxq.some((q) => q.provider !== undefined)) fail('EEXIST', 'unable to install XDP to device using memory provider');
    }
    const old = d.nic.xdp;
    if (old === prog) return;
    d.nic.xdp = prog;
    if (prog) prog.refs++;
    this.publish(d);
    if (old) this.progPut(old);
  }

  /**
   * bind(AF_XDP) (spec/af_xdp.md §1.4, §3.3–§3.4, §6): registers a buffer pool at (dev,
   * queue) — through a netkit queue that leases a physical one the pool lands on the
   * physical queue; binding straight to a leased physical queue is EBUSY — in copy or
   * zero-copy mode (`XDP_ZEROCOPY` fails with the driver's error, otherwise copy mode is
   * the fallback), or, with `XDP_SHARED_UMEM`, shares the UMEM of `sharedUmem`: its pool on
   * the same (dev, queue), a new pool with this socket's FILL/COMPLETION elsewhere.
   */
  xskBind(ns: string, dev: string | number, queue: number, sock: XskSocket, o: XskBindOptions = {}): void {
    this.flushWork();
    const flags = o.flags ?? 0;
    const known = XDP_SHARED_UMEM | XDP_COPY | XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP | XDP_USE_SG;
    if (!Number.isInteger(flags) || (flags & ~known) !== 0) fail('EINVAL');
    if (sock.state !== 'ready') fail('EBUSY');
    const d = this.netns(ns).find(dev);
    if (!d) fail('ENODEV');
    if (sock.rx === 0 && sock.tx === 0) fail('EINVAL');
    const own = sock.own;
    let pool: XskPool;
    let sg: boolean;
    if (flags & XDP_SHARED_UMEM) {
      if (flags !== XDP_SHARED_UMEM) fail('EINVAL');
      if (sock.ownsUmem) fail('EINVAL');
      const first = o.sharedUmem as unknown;
      if (!(first instanceof XskSocket)) fail('ENOTSOCK');
      const fb = first.bound;
      if (!fb) fail('EBADF');
      sg = first.sg;
      if (fb.dev === d && fb.queue === queue) {
        if (own.fill !== 0 || own.comp !== 0) fail('EINVAL');
        pool = fb.pool;
      } else {
        if (own.fill === 0 || own.comp === 0) fail('EINVAL');
        // A new pool on the same UMEM inherits the mode (forced) and need_wakeup.
        const inherited = (fb.pool.zerocopy ? XDP_ZEROCOPY : XDP_COPY) | (fb.pool.needWakeup ? XDP_USE_NEED_WAKEUP : 0) | (sg ? XDP_USE_SG : 0);
        pool = this.xskAssign(d, queue, sock, inherited);
      }
      sock.umem = first.umem;
      sock.umemSize = first.umemSize;
      sock.chunkSize = first.chunkSize;
      sock.headroom = first.headroom;
    } else {
      if (!sock.ownsUmem || own.fill === 0 || own.comp === 0) fail('EINVAL');
      if ((flags & XDP_COPY) && (flags & XDP_ZEROCOPY)) fail('EINVAL');
      sg = (flags & XDP_USE_SG) !== 0;
      pool = this.xskAssign(d, queue, sock, flags);
    }
    pool.sockets.add(sock);
    if (pool.zerocopy) this.xskZcSockets.add(sock);
    sock.sg = sg;
    const phys = pool.holder.dev !== d ? { dev: pool.holder.dev, queue: pool.holder.index } : undefined;
    sock.bound = { dev: d, queue, phys, pool };
    sock.state = 'bound';
    // TX: copy mode on the socket device's TX queue `queue` (none past its real TX queues,
    // e.g. a leased netkit queue); zero-copy through a lease on the physical queue.
    const txDev = pool.zerocopy && phys ? phys.dev : d;
    const txQueue = pool.zerocopy && phys ? phys.queue : queue;
    const dv = this.dp.view();
    const r = sock.record;
    dv.setUint32(r + A.XS_IFINDEX, d.ifindex, true);
    dv.setUint32(r + A.XS_QUEUE, queue, true);
    dv.setUint32(r + A.XS_PHYS_IFINDEX, phys?.dev.ifindex ?? 0, true);
    dv.setUint32(r + A.XS_PHYS_QUEUE, phys?.queue ?? 0xffffffff, true);
    dv.setUint32(r + A.XS_UMEM, sock.umem, true);
    dv.setUint32(r + A.XS_UMEM_SIZE, sock.umemSize, true);
    dv.setUint32(r + A.XS_CHUNK, sock.chunkSize, true);
    dv.setUint32(r + A.XS_HEADROOM, sock.headroom, true);
    dv.setUint32(r + A.XS_FILL, pool.fill, true);
    dv.setUint32(r + A.XS_COMP, pool.comp, true);
    dv.setUint32(r + A.XS_POOL, pool.owner.record, true);
    dv.setUint32(r + A.XS_FLAGS, (pool.zerocopy ? A.XSF_ZEROCOPY : 0) | (pool.needWakeup ? A.XSF_NEED_WAKEUP : 0) | (sg ? A.XSF_SG : 0), true);
    dv.setUint32(r + A.XS_TX_SLOT, txDev.slot, true);
    dv.setUint32(r + A.XS_TX_QUEUE, txQueue < txDev.numTxQueues ? txQueue : 0xffffffff, true);
    dv.setUint32(r + A.XS_DEV_SLOT, d.slot, true);
    // A new pool (this socket owns it): its free list, buffers taken from FILL and not
    // delivered (room for every chunk of the UMEM).
    if (pool.owner === sock) {
      const cap = sock.umemSize / sock.chunkSize;
      dv.setUint32(r + A.XS_FREE, this.dp.alloc(cap * 4), true);
      dv.setUint32(r + A.XS_FREE_CAP, cap, true);
    }
    // State last: the dataplane reads the other fields once it sees BOUND.
    Atomics.store(this.dp.words(), (r + A.XS_STATE) >> 2, A.XS_BOUND);
    // A new zero-copy pool: its queue now receives into the UMEM.
    if (pool.zerocopy && pool.sockets.size === 1) this.publish(pool.holder.dev);
  }

  /**
   * Creates a pool for `sock` and registers it at (d, queue) (§3.4, §6.2): lease
   * resolution, EINVAL/EBUSY, then zero-copy setup — the device (netkit: its physical
   * queue's driver) must support XSK zero-copy, and multi-buffer needs zero-copy segments;
   * a memory provider on the device is EBUSY. A failure is the bind's error with
   * `XDP_ZEROCOPY`, else the pool falls back to copy mode.
   */
  private xskAssign(d: NetDevice, queue: number, sock: XskSocket, flags: number): XskPool {
    if (!Number.isInteger(queue) || queue < 0 || queue >= Math.max(d.realNumRxQueues, d.numTxQueues, 1)) fail('EINVAL');
    let holder = d.rxq[queue];
    if (!holder) fail('EINVAL');
    if (holder.lease) {
      if (d.physical) fail('EBUSY');
      holder = holder.lease;
    }
    if (holder.pool !== undefined) fail('EBUSY');
    if (holder.provider !== undefined) fail('EBUSY');
    let zerocopy = false;
    if (!(flags & XDP_COPY)) {
      const why = this.xskZeroCopyError(d, holder, (flags & XDP_USE_SG) !== 0);
      if (why && (flags & XDP_ZEROCOPY)) fail(why);
      zerocopy = why === undefined;
    }
    const own = sock.own;
    const pool: XskPool = { fill: own.fill, comp: own.comp, owner: sock, sockets: new Set(), zerocopy, needWakeup: (flags & XDP_USE_NEED_WAKEUP) !== 0, holder };
    holder.pool = pool;
    return pool;
  }

  /** Why zero-copy is impossible on (d, resolved queue `holder`), or undefined (netkit.md §7.2, af_xdp.md §3.4 step 5). */
  private xskZeroCopyError(d: NetDevice, holder: RxQueue, sg: boolean): 'EOPNOTSUPP' | 'EBUSY' | undefined {
    let phys = d;
    if (d.netkit) {
      // Only a single netkit advertises the XSK feature set; its zero-copy max segments is 1.
      if (d.netkit.pairing !== A.NETKIT_DEVICE_SINGLE) return 'EOPNOTSUPP';
      if (sg) return 'EOPNOTSUPP';
      if (holder.dev === d) return 'EOPNOTSUPP'; // queue not leased
      phys = holder.dev;
    }
    if (!phys.nic || !phys.nic.xskZeroCopy) return 'EOPNOTSUPP';
    if (sg && phys.nic.xskMaxSegs <= 1) return 'EOPNOTSUPP';
    if (phys.rxq.some((q) => q.provider !== undefined)) return 'EBUSY';
    return undefined;
  }

  /**
   * sendto(MSG_DONTWAIT) on an AF_XDP socket (§2.7): ENXIO unbound, ENETDOWN device down,
   * EOPNOTSUPP blocking, ENOBUFS without a TX ring. Copy mode runs the TX pass here (up to
   * the budget, out of the bound device's TX queue; a queue the device does not have sends
   * nothing) and `result` is its 0, EAGAIN or EBUSY; zero-copy wakes the driver, whose TX
   * round runs with the dataplane (`settle`), and only when the pool needs a TX wakeup.
   */
  xskSendto(sock: XskSocket, msgFlags = MSG_DONTWAIT): { sent: number; result: 0 | 'EAGAIN' | 'EBUSY' } {
    const before = sock.txCompleted;
    const err = this.dp.exports.xskSendto(0, sock.record, msgFlags);
    const sent = sock.txCompleted - before;
    if (err === A.XSK_EAGAIN) return { sent, result: 'EAGAIN' };
    if (err === A.XSK_EBUSY) return { sent, result: 'EBUSY' };
    if (err !== 0) fail(XSK_ERRNO[err] ?? 'EINVAL');
    return { sent, result: 0 };
  }

  /** recvfrom(MSG_DONTWAIT) (§2.7): the RX kick; in zero-copy with the FILL flag set it restarts the driver's RX. */
  xskRecvfrom(sock: XskSocket, msgFlags = MSG_DONTWAIT): void {
    const err = this.dp.exports.xskRecvfrom(sock.record, msgFlags);
    if (err !== 0) fail(XSK_ERRNO[err] ?? 'EINVAL');
  }

  /** poll() (§2.7): runs the wakeups the pool needs, returns POLLIN|POLLRDNORM and POLLOUT|POLLWRNORM readiness (0 when unbound or down). */
  xskPoll(sock: XskSocket): number {
    return this.dp.exports.xskPoll(0, sock.record);
  }

  /** The zero-copy drivers' TX rounds (after a wakeup, until idle). Returns descriptors completed. */
  private xskZcRound(): number {
    let n = 0;
    for (const s of this.xskZcSockets) {
      if (s.state !== 'bound') { this.xskZcSockets.delete(s); continue; }
      if (s.bound!.pool.zerocopy) n += this.dp.exports.xskZcTx(0, s.record);
    }
    return n;
  }
  private readonly xskZcSockets = new Set<XskSocket>();

  /**
   * Unbinds (device unregistration, §5.1, or close): the socket is UNBOUND for good
   * (bind, sendto, recvfrom: EBUSY/ENXIO), frames redirected to it are dropped; the pool's
   * registration goes with its last socket.
   */
  xskClose(sock: XskSocket): void {
    const b = sock.bound;
    if (sock.state === 'ready') sock.state = 'unbound';
    if (!b) return;
    Atomics.store(this.dp.words(), (sock.record + A.XS_STATE) >> 2, 0);
    b.pool.sockets.delete(sock);
    if (b.pool.sockets.size === 0 && b.pool.holder.pool === b.pool) {
      b.pool.holder.pool = undefined;
      if (b.pool.zerocopy) this.publish(b.pool.holder.dev);
    }
    sock.state = 'unbound';
    sock.bound = undefined;
    this.xskZcSockets.delete(sock);
  }

  /** BPF_PROG_TEST_RUN: runs a loaded program on a packet (and context) in this thread. */
  testRun(prog: BpfProgram, o: TestRunOptions): TestRunResult {
    if (!this.bpf.prog(prog.id)) fail('EBADF');
    if (prog.type !== 'sched_cls' && prog.type !== 'xdp') fail('EOPNOTSUPP');
    this.testVm ??= new Vm(this.dp);
    return testRun(this.dp, this.testVm, prog, o);
  }
  private testVm: Vm | undefined;

  /** Closes the loader's reference; the program goes when no attach point holds it. */
  closeProgram(prog: BpfProgram): void {
    if (prog.closed) return;
    prog.closed = true;
    if (prog.refs <= 0) this.freeProg(prog);
  }

  /** Copies a program's image into the shared memory (the dataplane runs it from there). */
  private placeProg(prog: BpfProgram): void {
    prog.addr = this.dp.alloc(prog.insns.length);
    this.dp.bytes().set(prog.insns, prog.addr);
  }

  /** §5.1: the device whose list an attach type names, resolved in the caller's namespace. */
  private netkitTarget(ns: string, ifindex: number, attachType: AttachType): NetDevice {
    if (attachType !== 'netkit_primary' && attachType !== 'netkit_peer') fail('EINVAL');
    const d = this.netns(ns).find(ifindex);
    if (!d) fail('ENODEV');
    if (!d.netkit) fail('ENXIO');
    if (!d.netkit.primary) fail('EACCES');
    if (d.netkit.pairing === A.NETKIT_DEVICE_SINGLE) fail('EOPNOTSUPP');
    if (attachType === 'netkit_primary') return d;
    if (!d.netkit.peer) fail('ENODEV');
    return d.netkit.peer;
  }

  /** The device an attach type names: netkit's rules (§5.1), or for tcx any device (ENODEV). */
  private target(ns: string, ifindex: number, attachType: AttachType): NetDevice {
    if (attachType !== 'tcx_ingress' && attachType !== 'tcx_egress') return this.netkitTarget(ns, ifindex, attachType);
    const d = this.netns(ns).find(ifindex);
    if (!d) fail('ENODEV');
    return d;
  }

  private listOf(d: NetDevice, attachType: AttachType): MprogList | undefined {
    return attachType === 'tcx_ingress' ? d.tcxIngress : attachType === 'tcx_egress' ? d.tcxEgress : d.netkit?.progs;
  }

  private progList(d: NetDevice, attachType: AttachType): MprogList {
    if (attachType === 'tcx_ingress') return (d.tcxIngress ??= new MprogList(this.bpf));
    if (attachType === 'tcx_egress') return (d.tcxEgress ??= new MprogList(this.bpf));
    return (d.netkit!.progs ??= new MprogList(this.bpf));
  }

  private linkTarget(l: BpfLink): NetDevice | undefined {
    const ns = this.namespaceById(l.netns);
    const d = ns?.find(l.ifindex);
    if (l.attachType === 'tcx_ingress' || l.attachType === 'tcx_egress') return d;
    if (!d?.netkit) return undefined;
    return l.attachType === 'netkit_primary' ? d : d.netkit.peer;
  }

  private checkProg(prog: BpfProgram, type: 'sched_cls' | 'xdp' = 'sched_cls'): void {
    if (prog.closed || this.bpf.prog(prog.id) !== prog) fail('EBADF');
    if (prog.type !== type) fail('EINVAL');
  }

  /**
   * Drops an attachment's reference; a closed program with none left is freed. Called
   * after the list without it is published, so its record is retired past that swap.
   */
  private progPut(prog: BpfProgram): void {
    prog.refs--;
    if (prog.closed && prog.refs <= 0) this.freeProg(prog);
  }

  /** Called when the last reference to a program goes (the engine frees its image). */
  protected freeProg(prog: BpfProgram): void {
    this.bpf.progs.delete(prog.id);
    if (prog.addr) this.dp.retire(prog.addr, prog.insns.length);
    if (prog.record) this.dp.retire(prog.record, A.PR_SIZE);
    this.dp.jit.release(prog.jit.slot);
    prog.addr = 0;
    prog.record = 0;
  }

  /** Publishes a device's program list to the dataplane (swap with its record). */
  protected publishProgs(d: NetDevice): void {
    this.publish(d);
  }

  /** BPF_PROG_ATTACH with attach type netkit_primary / netkit_peer (through the primary's ifindex). */
  progAttach(ns: string, r: { ifindex: number; attachType: AttachType; prog: BpfProgram; flags?: number; relative?: Relative; expectedRevision?: number; replace?: BpfProgram }): number {
    this.checkProg(r.prog);
    const d = this.target(ns, r.ifindex, r.attachType);
    const rev = this.progList(d, r.attachType).attach({ prog: r.prog, flags: r.flags, relative: r.relative, expectedRevision: r.expectedRevision, replace: r.replace });
    r.prog.refs++;
    this.publishProgs(d);
    // (after the swap: a replaced program may be freed only once no worker can still run it)
    if (r.replace) this.progPut(r.replace);
    return rev;
  }

  /** BPF_PROG_DETACH. Without a program the last one goes. */
  progDetach(ns: string, r: { ifindex: number; attachType: AttachType; prog?: BpfProgram; flags?: number; relative?: Relative; expectedRevision?: number }): void {
    const d = this.target(ns, r.ifindex, r.attachType);
    const list = this.listOf(d, r.attachType);
    if (!list || list.count === 0) fail('ENOENT');
    const gone = list.detach({ prog: r.prog, flags: r.flags, relative: r.relative, expectedRevision: r.expectedRevision });
    this.publishProgs(d);
    this.progPut(gone as BpfProgram);
  }

  /** BPF_PROG_QUERY: program ids, link ids, count and revision; `size` caps the arrays (ENOSPC). */
  progQuery(ns: string, r: { ifindex: number; attachType: AttachType; size?: number; queryFlags?: number }): QueryResult {
    const d = this.target(ns, r.ifindex, r.attachType);
    return (this.listOf(d, r.attachType) ?? new MprogList(this.bpf)).query(r.size, { queryFlags: r.queryFlags });
  }

  /** BPF_LINK_CREATE (link type netkit): attaches like progAttach, owned by the returned link. */
  linkCreate(ns: string, r: { ifindex: number; attachType: AttachType; prog: BpfProgram; flags?: number; relative?: Relative; expectedRevision?: number }): BpfLink {
    this.checkProg(r.prog);
    if ((r.flags ?? 0) & BPF_F_REPLACE) fail('EINVAL');
    const d = this.target(ns, r.ifindex, r.attachType);
    const type = r.attachType === 'tcx_ingress' || r.attachType === 'tcx_egress' ? 'tcx' : 'netkit';
    const link = new BpfLink({ id: 0, type, prog: r.prog, attachType: r.attachType, ifindex: r.ifindex, netns: this.netns(ns).id });
    this.progList(d, r.attachType).attach({ prog: r.prog, link, flags: r.flags, relative: r.relative, expectedRevision: r.expectedRevision });
    const id = this.bpf.linkId();
    const real = Object.assign(link, { id });
    this.bpf.links.set(id, real);
    r.prog.refs++;
    this.publishProgs(d);
    return real;
  }

  /** BPF_LINK_UPDATE: ENOLINK when the device went away; EPERM when `old` is not the link's program. */
  linkUpdate(link: BpfLink, prog: BpfProgram, old?: BpfProgram): void {
    this.checkProg(prog);
    const d = link.ifindex ? this.linkTarget(link) : undefined;
    const list = d ? this.listOf(d, link.attachType) : undefined;
    if (!d || !list || !link.attached) fail('ENOLINK');
    const prev = link.prog;
    list.updateLink(link, prog, old);
    if (prev !== prog) prog.refs++;
    this.publishProgs(d);
    if (prev !== prog) this.progPut(prev);
  }

  /** BPF_LINK_DETACH, or closing the link's last fd (then the link id goes too). */
  linkDetach(link: BpfLink, release = false): void {
    const d = link.ifindex ? this.linkTarget(link) : undefined;
    const list = d ? this.listOf(d, link.attachType) : undefined;
    if (d && list && link.attached) {
      list.detachLink(link);
      this.publishProgs(d);
      this.progPut(link.prog);
    }
    link.attached = false;
    link.ifindex = 0;
    if (release) this.bpf.links.delete(link.id);
  }

  /** A namespace's IPv4 stack (addresses, routes, neighbours, sockets, counters). */
  stack(ns = 'init'): Stack {
    return this.netns(ns).stack;
  }

  /** Chooses who consumes a device's rx rings: the stack (default) or a counting drop sink. */
  setRxSink(ns: string, dev: string | number, sink: 'stack' | 'drop'): void {
    const d = this.device(ns, dev);
    d.rxSink = sink === 'drop' ? A.SINK_DROP : A.SINK_STACK;
    this.publish(d);
  }
}

/** `A.B.C.D[/LEN]` → address and prefix length (iproute2's "invalid prefix" errors). */
export function parseCidr(s: string, defaultLen: number, what = 'prefix'): { addr: number; prefixLen: number } {
  const [a, l, extra] = s.split('/');
  const addr = parseIp(a ?? '');
  const prefixLen = l === undefined ? defaultLen : /^\d{1,2}$/.test(l) ? Number(l) : NaN;
  if (addr === null || extra !== undefined || !(prefixLen >= 0 && prefixLen <= 32)) fail('EINVAL', `any valid ${what} is expected rather than "${s}"`);
  return { addr, prefixLen };
}

function netkitValidName(name: string): boolean {
  return name.length > 0 && name.length < 16 && !/[/:\s%]/.test(name) && name !== '.' && name !== '..';
}

const FLAG_ORDER: [number, string][] = [
  [A.IFF_LOOPBACK, 'LOOPBACK'], [A.IFF_BROADCAST, 'BROADCAST'], [A.IFF_MULTICAST, 'MULTICAST'], [A.IFF_NOARP, 'NOARP'],
  [A.IFF_PROMISC, 'PROMISC'], [A.IFF_UP, 'UP'], [A.IFF_LOWER_UP, 'LOWER_UP'], [A.IFF_DORMANT, 'DORMANT'],
];

/** iproute2's flag names, in its print order. */
export function flagNames(flags: number): string[] {
  return FLAG_ORDER.filter(([bit]) => (flags & bit) !== 0).map(([, n]) => n);
}

export { NetError };
