/**
 * The bpf syscall (the kernel's kernel/bpf/syscall.c and the attach code it calls):
 * BPF_PROG_LOAD (placing a program and compiling it), program references and their
 * release, BPF_PROG_ATTACH / DETACH / QUERY and BPF_LINK_CREATE / UPDATE / DETACH on
 * netkit and tcx (bpf_mprog rules in mprog.ts), PROG_ARRAY slots, native XDP on NICs,
 * and BPF_PROG_TEST_RUN.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { fail, strerror, withLog } from '../errors.js';
import type { NetDevice } from '../net/netdev.js';
import type { DeviceRecords } from '../net/records.js';
import type { Rtnl } from '../net/rtnl.js';
import { drainPrintk } from '../trace/printk.js';
import type { WorkerPool } from '../worker/pool.js';
import { codegenMap, type CompileOptions } from './codegen/compile.js';
import { listable } from './codegen/list.js';
import { loadBpfObject, maxMapsLine, type LoadedObject, type LoadObjectOptions } from './load.js';
import { BpfMap } from './maps.js';
import { BPF_F_REPLACE, MprogList, type QueryResult, type Relative } from './mprog.js';
import { BpfLink, BpfProgram, BpfRegistry, type AttachType, type BpfFs, type ProgType } from './program.js';
import { PACKET_STATE_HELPERS, TAIL_CALL } from './helpers.js';
import { CallKind, decode } from './insn.js';
import { readStats, setStatsOn, type ProgStats } from './stats.js';
import { progTag } from './tag.js';
import { testRun, type TestRunOptions, type TestRunResult } from './testrun.js';
import { ctxFacts, verify } from './verifier.js';
import { convertCtxAccesses } from './ctx-convert.js';
import { Vm, writeRegions } from './vm.js';

/** BPF_PROG_LOAD's attributes (Emulator.loadProgram). */
export interface LoadProgramOptions {
  name: string;
  type: ProgType;
  /** The image, 8 bytes per slot (already relocated). */
  insns: Uint8Array;
  expectedAttachType?: AttachType;
  /** Memory the program may address directly (nkemu's raw-address maps and globals). */
  regions?: { addr: number; len: number; writable: boolean }[];
  /** Map records the program uses (helpers taking a map get one of these). */
  maps?: number[];
  /** Compile to WebAssembly (default: the emulator's setting). */
  jit?: boolean;
  /**
   * Run the load-time checks (default true, as the kernel always does). `false` loads
   * bytecode the kernel would refuse; for conformance-style tests and differential
   * fuzzing only: such a program may fail at run time where the kernel never runs it.
   */
  verify?: boolean;
}

/** A program record's bytes: the record (abi PR_*), its region table and its map list. */
export function progRecordSize(regions: number, maps: number): number {
  return A.PR_SIZE + regions * A.VM_REGION_SIZE + maps * 4;
}

export class BpfSyscall {
  private readonly dp: Dataplane;
  private readonly pool: WorkerPool | undefined;
  private readonly rtnl: Rtnl;
  private readonly records: DeviceRecords;
  private readonly jitDefault: boolean;
  readonly bpf = new BpfRegistry();
  /** The bpffs (ProgramLoader's). */
  get bpffs(): BpfFs { return this.bpf.fs; }
  private readonly jitPending = new Set<Promise<void>>();
  private readonly progSlots = new WeakMap<BpfMap, Map<number, BpfProgram>>();
  /** BPF_PROG_TEST_RUN's interpreter (made on first use). */
  testVm: Vm | undefined;

  constructor(dp: Dataplane, pool: WorkerPool | undefined, rtnl: Rtnl, records: DeviceRecords, o: { jit: boolean }) {
    this.dp = dp;
    this.pool = pool;
    this.rtnl = rtnl;
    this.records = records;
    this.jitDefault = o.jit;
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

  /**
   * BPF_PROG_LOAD of one program image (already relocated): verifies it as `loadObject`
   * does (a refusal is a VerifierError: the kernel's errno, `err.log` the verifier's
   * line), registers it under a new id and places it in the shared memory for the
   * dataplane. `verify: false` loads bytecode the checks would refuse (conformance-style
   * tests, differential fuzzing): the interpreter's run-time checks still apply.
   * `proven` (internal, loadBpfObject's: its checks ran on the image before relocation, map
   * references typed): the accesses those checks proved in bounds, beside what the checks
   * of the relocated image prove.
   */
  loadProgram(o: LoadProgramOptions, proven?: Uint8Array): BpfProgram {
    try {
      return this.loadProgramImage(o, proven);
    } catch (e) {
      // (as libbpf reports a refused BPF_PROG_LOAD whose verifier log is empty)
      throw withLog(e, (r) => `prog '${o.name}': BPF program load failed: ${strerror(r.errno)}${r.extack === undefined ? '' : `\n${r.extack}`}`);
    }
  }

  private loadProgramImage(o: LoadProgramOptions, proven?: Uint8Array): BpfProgram {
    if (o.insns.length === 0 || o.insns.length % 8 !== 0) fail('EINVAL');
    const attach = o.expectedAttachType === 'xdp_devmap' || o.expectedAttachType === 'xdp_cpumap' ? o.expectedAttachType : undefined;
    if (attach && o.type !== 'xdp') fail('EINVAL');
    if (o.verify !== false) verify(o.insns, { type: o.type, ...(attach ? { expectedAttachType: attach } : {}) });
    // (sorted by address: the dataplane finds an access's region by bisection)
    const regions = [...(o.regions ?? [])].sort((a, b) => a.addr - b.addr || a.len - b.len);
    const maps = o.maps ?? [];
    if (maps.length > A.PR_MAX_MAPS || regions.length > A.PR_MAX_REGIONS) fail('E2BIG', maxMapsLine());
    for (let i = 1; i < regions.length; i++) {
      if (regions[i - 1]!.addr + regions[i - 1]!.len > regions[i]!.addr) fail('EINVAL', `regions [${regions[i - 1]!.addr}, +${regions[i - 1]!.len}) and [${regions[i]!.addr}, +${regions[i]!.len}) overlap`);
    }
    // (the image the dataplane runs: context accesses converted as the kernel converts them)
    const facts = ctxFacts(o.insns, o.type, attach);
    const insns = facts.accesses ? convertCtxAccesses(o.insns, o.type, facts.accesses) : o.insns;
    const prog = new BpfProgram({ ...o, insns, id: this.bpf.progId() });
    prog.tag = progTag(o.insns);
    this.placeProg(prog);
    let rec: number;
    try {
      rec = this.dp.alloc(progRecordSize(regions.length, maps.length));
    } catch (e) {
      // (ENOMEM with the image placed: nothing was published, so it goes back at once)
      this.dp.release(prog.addr, prog.insns.length);
      prog.addr = 0;
      throw e;
    }
    const dv = this.dp.view();
    dv.setUint32(rec + A.PR_INSNS, prog.addr, true);
    dv.setUint32(rec + A.PR_SLOTS, insns.length / 8, true);
    const table = rec + A.PR_SIZE;
    const list = table + regions.length * A.VM_REGION_SIZE;
    dv.setUint32(rec + A.PR_NREGIONS, regions.length, true);
    dv.setUint32(rec + A.PR_REGIONS, table, true);
    writeRegions(dv, table, regions);
    dv.setUint32(rec + A.PR_NMAPS, maps.length, true);
    dv.setUint32(rec + A.PR_MAPS, list, true);
    maps.forEach((m, i) => dv.setUint32(list + i * 4, m, true));
    const batch = o.type === 'sched_cls' ? 'skb' : o.type === 'xdp' ? 'xdp' : undefined;
    const mapInfo = maps.map((m) => codegenMap(dv, m));
    if (o.jit ?? this.jitDefault) {
      // (the checks' proofs name the instructions they checked: kept while the conversion moved none)
      const verified = (facts.use & A.PR_CTX_VERIFIED) !== 0;
      let sure = verified && insns.length === o.insns.length ? facts.proven : undefined;
      if (sure && proven?.length === sure.length) sure = sure.map((x, pc) => x | proven[pc]!);
      const options: CompileOptions = { regions, batch, maps: mapInfo, verified, ...(sure ? { proven: sure } : {}) };
      prog.jit = this.dp.jit.compile(insns, options);
      // (kept for a list's module: a list of such programs may run as one, net/records.ts)
      if (listable(insns, options) === '') prog.listCode = { insns, o: options };
    }
    else prog.jit = { slot: 0, reason: 'compilation is off for this program', bytes: 0, compileMs: 0 };
    dv.setUint32(rec + A.PR_JIT, prog.jit.slot, true);
    dv.setUint32(rec + A.PR_ID, prog.id, true);
    dv.setUint32(rec + A.PR_CTX_USE, facts.use, true);
    const ready = prog.jit.ready;
    if (ready) {
      // Compiling in the background: the record switches to the compiled code when it is
      // installed (one aligned store; a packet sees the interpreter or the code, both right).
      const done = ready.then((info) => {
        this.jitPending.delete(done);
        if (prog.record === 0) { this.dp.jit.release(info.slot); return; }
        prog.jit = info;
        Atomics.store(this.dp.words(), (prog.record + A.PR_JIT) >>> 2, info.slot);
      });
      this.jitPending.add(done);
    }
    prog.record = rec;
    this.holdMaps(prog, maps);
    this.bpf.progs.set(prog.id, prog);
    for (let pc = 0; pc < insns.length / 8; pc++) {
      const i = decode(insns, pc);
      if (i.code !== 0x85 || i.src !== CallKind.HELPER) continue;
      if (i.imm === TAIL_CALL) prog.tailCalls = true;
      if (PACKET_STATE_HELPERS.has(i.imm)) prog.packetState = true;
    }
    if (prog.tailCalls) this.markTailCalls();
    return prog;
  }

  /**
   * Loads a clang-compiled BPF object (ELF): its maps are created in the shared memory,
   * its programs verified, relocated and placed. `programs` picks some by function name;
   * `type` (a section-name prefix such as `xdp` or `classifier`) sets every program's type,
   * as bpftool's `type TYPE` does. Maps of a legacy `maps` section are made as iproute2's
   * legacy loader makes them, pinned on the bpffs (`pinning`: its custom pinning ids).
   */
  loadObject(bytes: Uint8Array, o: LoadObjectOptions = {}): LoadedObject {
    try {
      return loadBpfObject(this.dp, this, bytes, o);
    } catch (e) {
      throw withLog(e, (r) => `failed to load object: ${r.message}`);
    }
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
    if (map.freed || (prog && (prog.closed || !this.bpf.prog(prog.id)))) fail('EBADF');
    if (prog && prog.type !== 'sched_cls' && prog.type !== 'xdp') fail('EINVAL');
    map.slotCheck(index);
    let slots = this.progSlots.get(map);
    if (!slots) this.progSlots.set(map, (slots = new Map()));
    const old = slots.get(index);
    if (prog) {
      prog.refs++;
      slots.set(index, prog);
    } else {
      slots.delete(index);
    }
    // The marks of programs whose tail calls now reach one keeping packet state go on before
    // the slot is filled, and those no longer reaching any come off after (a batch never
    // runs into such a target).
    this.markTailCalls(true);
    map.setSlot(index, prog?.record ?? 0);
    this.markTailCalls();
    if (old) this.progPut(old);
  }

  /**
   * PR_CTX_TAIL_UNSAFE on every program with tail calls that may reach, through the
   * PROG_ARRAYs it and its targets use as they are filled now, a program keeping state on
   * the packet in the run record (it then runs one packet at a time: see the flag's
   * comment in assembly/abi/layout.ts); off on the others. `only`: set marks, clear none.
   */
  private markTailCalls(only = false): void {
    const w = this.dp.words();
    for (const p of this.bpf.progs.values()) {
      if (!p.tailCalls || p.record === 0) continue;
      const at = (p.record + A.PR_CTX_USE) >>> 2;
      if (this.tailReachesPacketState(p)) Atomics.or(w, at, A.PR_CTX_TAIL_UNSAFE | 0);
      else if (!only) Atomics.and(w, at, ~A.PR_CTX_TAIL_UNSAFE);
    }
  }

  private tailReachesPacketState(root: BpfProgram): boolean {
    const seen = new Set<BpfProgram>([root]);
    const maps = new Set<BpfMap>();
    const todo = [root];
    for (let p = todo.pop(); p; p = todo.pop()) {
      if (p !== root && p.packetState) return true;
      for (const m of p.usedMaps) {
        if (!(m instanceof BpfMap) || m.type !== 'prog_array' || maps.has(m)) continue;
        maps.add(m);
        for (const t of this.progSlots.get(m)?.values() ?? []) if (!seen.has(t)) { seen.add(t); todo.push(t); }
      }
    }
    return false;
  }


  /**
   * `ip link set dev DEV xdp obj …` / `xdp off`: a native XDP program on a NIC (undefined
   * detaches). netkit has no native XDP (EOPNOTSUPP); a memory provider bound to one of
   * the NIC's queues refuses it (EEXIST), as the kernel's netdev core does.
   */
  setXdp(ns: string, dev: string | number, prog: BpfProgram | undefined): void {
    this.rtnl.flushWork();
    const d = this.rtnl.device(ns, dev);
    if (!d.nic) fail('EOPNOTSUPP');
    if (prog) {
      this.checkProg(prog, 'xdp');
      // (dev_xdp_attach: programs for devmap and cpumap entries run there only)
      if (prog.expectedAttachType === 'xdp_devmap') fail('EINVAL', 'BPF_XDP_DEVMAP programs can not be attached to a device');
      if (prog.expectedAttachType === 'xdp_cpumap') fail('EINVAL', 'BPF_XDP_CPUMAP programs can not be attached to a device');
      if (d.rxq.some((q) => q.provider !== undefined)) fail('EEXIST', 'unable to install XDP to device using memory provider');
    }
    const old = d.nic.xdp;
    if (old === prog) return;
    d.nic.xdp = prog;
    if (prog) prog.refs++;
    this.records.publish(d);
    if (old) this.progPut(old);
  }

  /**
   * kernel.bpf_stats_enabled (0 or 1, as bpf_stats_handler takes it): while 1, every run
   * of a program from a hook or a test run adds to its run_cnt and run_time_ns. Counts
   * stay when it goes back to 0 (as the kernel's do).
   */
  get statsEnabled(): number { return this.statsSysctl; }
  set statsEnabled(v: number) {
    if (v !== 0 && v !== 1) fail('EINVAL');
    this.statsSysctl = v;
    setStatsOn(this.dp, v !== 0);
  }
  private statsSysctl = 0;

  /** A loaded program's run statistics (bpf_prog_info's run_time_ns, run_cnt, recursion_misses). */
  progStats(prog: BpfProgram): ProgStats {
    if (this.bpf.prog(prog.id) !== prog || prog.record === 0) fail('EBADF');
    return readStats(this.dp, prog.record);
  }

  /** BPF_PROG_TEST_RUN: runs a loaded program on a packet (and context) in this thread. */
  testRun(prog: BpfProgram, o: TestRunOptions): TestRunResult {
    if (!this.bpf.prog(prog.id)) fail('EBADF');
    if (prog.type !== 'sched_cls' && prog.type !== 'xdp') fail('EOPNOTSUPP');
    // (bpf_prog_test_run_xdp refuses programs for devmap and cpumap entries)
    if (prog.expectedAttachType === 'xdp_devmap' || prog.expectedAttachType === 'xdp_cpumap') fail('EINVAL');
    this.testVm ??= new Vm(this.dp);
    // (an xdp_md's ingress_ifindex names a device of the caller's namespace, init's here;
    // every device has at least one rx queue, which nkemu lists only once it is set up)
    const init = this.rtnl.netns('init');
    return testRun(this.dp, this.testVm, prog, o, (ifindex) => {
      const dev = init.find(ifindex);
      return dev && { realNumRxQueues: Math.max(1, dev.realNumRxQueues) };
    }, init.id);
  }


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
    const d = this.rtnl.netns(ns).find(ifindex);
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
    const d = this.rtnl.netns(ns).find(ifindex);
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
    const ns = this.rtnl.namespaceById(l.netns);
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
  progPut(prog: BpfProgram): void {
    prog.refs--;
    if (prog.closed && prog.refs <= 0) this.freeProg(prog);
  }

  /** The program holds each map it uses (named by record) until it is freed. */
  private holdMaps(prog: BpfProgram, records: number[]): void {
    for (const r of new Set(records)) {
      const m = BpfMap.byRecord(this.dp, r);
      if (m) { m.hold(); prog.usedMaps.push(m); }
    }
  }

  /**
   * Closes a map's handle: a PROG_ARRAY lets go of its programs (the kernel clears it
   * when the last user reference goes); the map goes when no program holds it.
   */
  closeMap(map: BpfMap): void {
    if (!map.handleOpen) fail('EBADF');
    const slots = this.progSlots.get(map);
    if (slots) {
      for (const [index] of slots) this.progArraySet(map, index, undefined);
      this.progSlots.delete(map);
    }
    map.close();
  }

  /** bpf_object__close: closes the object's programs and map handles that are still open. */
  closeObject(obj: LoadedObject): void {
    for (const p of obj.programs.values()) this.closeProgram(p);
    for (const m of obj.maps.values()) if (m.handleOpen) this.closeMap(m);
  }

  /** Called when the last reference to a program goes (the engine frees its image). */
  protected freeProg(prog: BpfProgram): void {
    this.bpf.progs.delete(prog.id);
    const maps = prog.usedMaps;
    prog.usedMaps = [];
    for (const m of maps) m.put();
    if (prog.addr) this.dp.retire(prog.addr, prog.insns.length);
    if (prog.record) {
      const dv = this.dp.view();
      this.dp.retire(prog.record, progRecordSize(dv.getUint32(prog.record + A.PR_NREGIONS, true), dv.getUint32(prog.record + A.PR_NMAPS, true)));
    }
    this.dp.jit.release(prog.jit.slot);
    prog.addr = 0;
    prog.record = 0;
  }

  /** Publishes a device's program list to the dataplane (swap with its record). */
  protected publishProgs(d: NetDevice): void {
    this.records.publish(d);
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
    const link = new BpfLink({ id: 0, type, prog: r.prog, attachType: r.attachType, ifindex: r.ifindex, netns: this.rtnl.netns(ns).id });
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
}
