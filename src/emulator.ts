/**
 * The emulator: owns the shared memory and the workers, and wires the subsystems that
 * own the rest, each where the kernel keeps it: rtnetlink (namespaces, links, addresses;
 * net/rtnl.ts) over the device core (net/dev.ts) and the published device records
 * (net/records.ts), the netdev family (queues, leases, providers; net/netdev-genl.ts),
 * ethtool (net/ethtool.ts), the bpf syscall (ebpf/syscall.ts), AF_XDP (xdp/xsk.ts),
 * traffic (net/datapath.ts) and capture (trace/capture.ts). Its methods delegate.
 */

import { Dataplane, type DataplaneOptions } from './dataplane.js';
import { NetError } from './errors.js';
import { guardMethods } from './args.js';
import { CAPTURE_SIGNATURES, MAP_SIGNATURES, SIGNATURES, STACK_SIGNATURES, TRACER_SIGNATURES, UDP_SIGNATURES, UDP6_SIGNATURES, XSK_SIGNATURES } from './emulator-args.js';
import { checkOptions } from './options.js';
import { Devices } from './net/dev.js';
import { Datapath } from './net/datapath.js';
import { Ethtool } from './net/ethtool.js';
import type { QueueCreateRequest, QueueInfo } from './net/lease.js';
import type { NetDevice, RxQueue } from './net/netdev.js';
import { NetdevGenl } from './net/netdev-genl.js';
import type { Netns } from './net/netns.js';
import type * as nic from './net/nic.js';
import { Notifier } from './net/notifier.js';
import type { MemoryProvider, ProviderKind } from './net/provider.js';
import { DeviceRecords } from './net/records.js';
import { Rtnl } from './net/rtnl.js';
import type { PingOptions, PingResult } from './net/stack/ping.js';
import type { RouteType } from './net/stack/route.js';
import { Stack, UdpSocket } from './net/stack/stack.js';
import { Udp6Socket } from './net/stack/udp6.js';
import { Traffic, type FrameMeta, type RxMeta } from './net/traffic.js';
import type { LinkChange, LinkDump, LinkRequest, LinkStats } from './net/types.js';
import type { LoadedObject, LoadObjectOptions } from './ebpf/load.js';
import { BpfMap } from './ebpf/maps.js';
import type { QueryResult, Relative } from './ebpf/mprog.js';
import type { AttachType, BpfLink, BpfProgram, BpfRegistry } from './ebpf/program.js';
import { BpfSyscall, type LoadProgramOptions } from './ebpf/syscall.js';
import type { ProgStats } from './ebpf/stats.js';
import type { TestRunOptions, TestRunResult } from './ebpf/testrun.js';
import type { Vm } from './ebpf/vm.js';
import { Capture, Captures } from './trace/capture.js';
import { Tracer } from './trace/trace.js';
import { WorkerPool } from './worker/pool.js';
import { MSG_DONTWAIT, type XskBindOptions, XskSocket } from './xdp/socket.js';
import { Xsk } from './xdp/xsk.js';

export { prng } from './net/dev.js';
export { dropReasonName } from './net/drop.js';
export { flagNames, parseCidr } from './net/rtnl.js';

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

export class Emulator {
  readonly dp: Dataplane;
  readonly notifier = new Notifier();
  readonly traffic: Traffic;
  readonly init: Netns;
  readonly bpf: BpfRegistry;
  private readonly pool: WorkerPool | undefined;
  private readonly records: DeviceRecords;
  private readonly dev: Devices;
  private readonly rtnl: Rtnl;
  private readonly genl: NetdevGenl;
  private readonly ethtool: Ethtool;
  private readonly syscall: BpfSyscall;
  private readonly xsk: Xsk;
  private readonly captures: Captures;
  private readonly datapath: Datapath;
  private tracerInstance: Tracer | undefined;

  private constructor(dp: Dataplane, pool: WorkerPool | undefined, o: EmulatorOptions) {
    this.dp = dp;
    this.pool = pool;
    dp.setHashKey(o.seed ?? 1);
    this.traffic = new Traffic(dp);
    this.records = new DeviceRecords(dp, () => pool?.kick());
    this.dev = new Devices(dp, pool, this.notifier, this.records, { seed: o.seed ?? 1, perNetnsUnregister: o.perNetnsUnregister ?? true });
    this.rtnl = new Rtnl(dp, this.traffic, this.notifier, this.dev, this.records);
    this.init = this.rtnl.init;
    this.genl = new NetdevGenl(dp, this.rtnl, this.dev, this.records);
    this.ethtool = new Ethtool(dp, this.rtnl, this.dev, this.records);
    this.syscall = new BpfSyscall(dp, pool, this.rtnl, this.records, { jit: o.jit ?? true });
    this.bpf = this.syscall.bpf;
    this.xsk = new Xsk(dp, this.rtnl, this.records);
    this.dev.hooks = {
      progPut: (p) => this.syscall.progPut(p),
      closeProvider: (p) => this.genl.closeProvider(p),
      xskClose: (s) => this.xsk.close(s),
    };
    this.captures = new Captures(dp, this.rtnl, this.dev, this.records);
    const s = { rtnl: this.rtnl, dev: this.dev, genl: this.genl, syscall: this.syscall, xsk: this.xsk, captures: this.captures };
    this.datapath = new Datapath(dp, pool, this.traffic, s, { roundNs: o.roundNs ?? 1000 });
  }

  /** Creates an emulator; `workers: 0` (the default) runs the dataplane inline. */
  static async create(opts: EmulatorOptions = {}): Promise<Emulator> {
    checkOptions(opts);
    const dp = await Dataplane.create({ appThreads: 1, ...opts });
    const pool = dp.workers > 0 ? await WorkerPool.start(dp) : undefined;
    return new Emulator(dp, pool, opts);
  }

  private closing: Promise<void> | undefined;

  /**
   * Stops the workers and application threads and lets go of the shared memory: every
   * reference the emulator holds is dropped at once (the memory goes with the last one,
   * at the engine's next collection). Every later call throws NetError ESHUTDOWN (async
   * ones reject with it); calling close again resolves when the first call is done.
   */
  close(): Promise<void> {
    if (this.closing) return this.closing;
    const pool = this.pool;
    const apps = [...this.dp.apps];
    shutDown(this);
    this.closing = (async () => {
      // applications first (their workers poll the rings the dataplane serves), then the pool
      await Promise.allSettled(apps.map((a) => a.stop()));
      await pool?.stop();
    })();
    return this.closing;
  }

  get workers(): number {
    return this.dp.workers;
  }

  // ---- rtnetlink: namespaces, links, addresses, routes (net/rtnl.ts, net/dev.ts) ------

  /** `ip netns add NAME` */
  addNetns(name: string): Netns { return this.rtnl.addNetns(name); }
  /** `ip netns del NAME`: dismantle per netns-unregister.md §4.3. */
  delNetns(name: string): void { this.rtnl.delNetns(name); }
  /** Names of the namespaces created with addNetns (as `ip netns list`, newest first). */
  listNetns(): string[] { return this.rtnl.listNetns(); }
  /** A namespace by name ("init" for the initial one); ENOENT when absent. */
  netns(name = 'init'): Netns { return this.rtnl.netns(name); }
  hasNetns(name: string): boolean { return this.rtnl.hasNetns(name); }
  /** A namespace by its internal id (for nsid lookups). */
  namespaceById(id: number): Netns | undefined { return this.rtnl.namespaceById(id); }
  /** `ip netns set NAME NSID` issued in namespace `ns`. */
  setNsid(ns: string, name: string, nsid: number): void { this.rtnl.setNsid(ns, name, nsid); }
  /** Finds a device in a namespace by name or ifindex; ENODEV when absent. */
  device(ns: string | Netns, dev: string | number): NetDevice { return this.rtnl.device(ns, dev); }
  /** RTM_NEWLINK (create) for kind netkit in namespace `ns`: the created devices, primary first. */
  addLink(req: LinkRequest, ns = 'init'): NetDevice[] { return this.rtnl.addLink(req, ns); }
  /** `ip link set DEV ...` (RTM_NEWLINK on an existing device). */
  setLink(ns: string, dev: string | number, change: LinkChange): void { this.rtnl.setLink(ns, dev, change); }
  /** `ip link del DEV` in namespace ns. */
  delLink(ns: string, dev: string | number): void { this.rtnl.delLink(ns, dev); }
  /** All devices of a namespace, by ifindex. */
  links(ns = 'init'): NetDevice[] { return this.rtnl.links(ns); }
  /** RTM_GETLINK dump of one device, as seen from its namespace. */
  dump(d: NetDevice): LinkDump { return this.rtnl.dump(d); }
  /** Counters of a device: the dataplane's per-thread blocks summed. */
  stats(d: NetDevice): LinkStats { return this.rtnl.stats(d); }
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
    return this.rtnl.addNic(o);
  }
  /** Removes an emulated NIC as its driver would on unload (the emulator's rmmod). */
  delNic(ns: string, dev: string | number): void { this.rtnl.delNic(ns, dev); }
  /** Runs every namespace's pending unregistration work (the per-netns work items). */
  flushWork(): void { this.rtnl.flushWork(); }
  /** Devices waiting on a namespace's pending unregistration list (not flushed). */
  pendingUnregister(ns = 'init'): string[] { return this.rtnl.pendingUnregister(ns); }
  /** A namespace's IPv4 stack (addresses, routes, neighbours, sockets, counters). */
  stack(ns = 'init'): Stack { return this.rtnl.stack(ns); }
  /** Chooses who consumes a device's rx rings: the stack (default) or a counting drop sink. */
  setRxSink(ns: string, dev: string | number, sink: 'stack' | 'drop'): void { this.rtnl.setRxSink(ns, dev, sink); }
  /**
   * `ip addr add CIDR dev DEV`: e.g. `10.0.0.1/24` (no prefix means /32) or `2001:db8::1/64`
   * (no prefix means /128; `nodad` skips DAD, `noprefixroute` the prefix route).
   */
  addAddress(ns: string, dev: string | number, cidr: string, o: { nodad?: boolean; noprefixroute?: boolean } = {}): void { this.rtnl.addAddress(ns, dev, cidr, o); }
  /** `ip addr del CIDR dev DEV` (IPv6: no prefix means /128, which must match). */
  delAddress(ns: string, dev: string | number, cidr: string): void { this.rtnl.delAddress(ns, dev, cidr); }
  /**
   * `ip route add [TYPE] PREFIX|default [via GW] [dev DEV] [src ADDR] [metric N]`. `type`
   * (default `unicast`): `blackhole`, `unreachable` and `prohibit` routes take no gateway or device.
   */
  addRoute(ns: string, r: { dst: string; via?: string; dev?: string | number; src?: string; metric?: number; type?: RouteType }): void { this.rtnl.addRoute(ns, r); }
  /** `ip route del [TYPE] PREFIX|default [dev DEV] [metric N]` (a type, when given, must be the route's). */
  delRoute(ns: string, r: { dst: string; dev?: string | number; metric?: number; type?: RouteType }): void { this.rtnl.delRoute(ns, r); }
  /** Appends a real rx queue (with its ring) to a device; publish() makes it visible. */
  addRxQueue(dev: NetDevice): RxQueue { return this.dev.addRxQueue(dev); }
  /** Builds the dataplane's record for a device and publishes it (swap + generation). */
  publish(dev: NetDevice): void { this.records.publish(dev); }
  /** The thread whose poll list holds a device. */
  ownerThread(dev: NetDevice): number { return this.dev.ownerThread(dev); }
  /** dev_change_net_namespace (tests reach it directly). */
  protected moveNetns(d: NetDevice, target: Netns, newName?: string): void { this.dev.moveNetns(d, target, newName); }

  // ---- ethtool (net/ethtool.ts) -----------------------------------------------------

  /** `ethtool -l`: channel counts (netkit has no get_channels: EOPNOTSUPP). */
  channels(ns: string, dev: string | number): { maxCombined: number; combined: number; maxRx: number; maxTx: number } { return this.ethtool.channels(ns, dev); }
  /** `ethtool -L DEV combined N`. */
  setChannels(ns: string, dev: string | number, count: number): void { this.ethtool.setChannels(ns, dev, count); }
  /** `ethtool -X`; returns the context id (a new one for `context: 'new'`). */
  setRss(ns: string, dev: string | number, o: Parameters<typeof nic.setIndirection>[1]): number { return this.ethtool.setRss(ns, dev, o); }
  /** `ethtool -N DEV flow-type ...`; returns the rule's location. */
  addNtuple(ns: string, dev: string | number, rule: Parameters<typeof nic.addRule>[1]): number { return this.ethtool.addNtuple(ns, dev, rule); }
  /** `ethtool -N DEV delete LOC`. */
  delNtuple(ns: string, dev: string | number, location: number): void { this.ethtool.delNtuple(ns, dev, location); }

  // ---- netdev family: queues, leases, memory providers (net/netdev-genl.ts) ----------

  /** netdev `queue-create` issued from namespace `ns`. */
  queueCreate(req: QueueCreateRequest, ns = 'init'): { id: number } { return this.genl.queueCreate(req, ns); }
  /** netdev `queue-get` (do). */
  queueGet(ns: string, q: { ifindex: number; id: number; type: 'rx' | 'tx' }): QueueInfo { return this.genl.queueGet(ns, q); }
  /** netdev `queue-get` (dump), optionally for one ifindex. */
  queueDump(ns = 'init', ifindex?: number): QueueInfo[] { return this.genl.queueDump(ns, ifindex); }
  /** A NIC's per-queue counters (rx queue i, and tx on queue 0), summed over threads. */
  queueStats(ns: string, dev: string | number): { rxPackets: bigint; rxBytes: bigint; txPackets: bigint; txBytes: bigint }[] { return this.genl.queueStats(ns, dev); }
  /** Opens a memory provider (io_uring zcrx or devmem) on rx queue `queue` of `dev`. */
  bindProvider(ns: string, dev: string | number, queue: number, o: { kind?: ProviderKind; buffers?: number } = {}): MemoryProvider { return this.genl.bindProvider(ns, dev, queue, o); }
  /** Closes a memory provider: the physical queue returns to the driver's buffers. */
  closeProvider(p: MemoryProvider): void { this.genl.closeProvider(p); }

  // ---- the bpf syscall (ebpf/syscall.ts) ---------------------------------------------

  /** BPF_PROG_LOAD of one program image (already relocated), verified unless `verify: false`. */
  loadProgram(o: LoadProgramOptions): BpfProgram { return this.syscall.loadProgram(o); }
  /** Loads a clang-compiled BPF object (ELF); `programs` picks some by function name. */
  loadObject(bytes: Uint8Array, o: LoadObjectOptions = {}): LoadedObject { return this.syscall.loadObject(bytes, o); }
  /** Closes the loader's reference; the program goes when no attach point holds it. */
  closeProgram(prog: BpfProgram): void { this.syscall.closeProgram(prog); }
  /** Closes a map's handle; the map goes when no program (or outer map) holds it. A PROG_ARRAY lets go of its programs. */
  closeMap(map: BpfMap): void { this.syscall.closeMap(map); }
  /** bpf_object__close: closes the object's programs and its maps' handles. */
  closeObject(obj: LoadedObject): void { this.syscall.closeObject(obj); }
  /** BPF_MAP_UPDATE_ELEM on a PROG_ARRAY: `prog` in slot `index` (undefined empties it). */
  progArraySet(map: BpfMap, index: number, prog: BpfProgram | undefined): void { this.syscall.progArraySet(map, index, prog); }
  /** BPF_PROG_ATTACH (netkit_primary / netkit_peer through the primary's ifindex, tcx). */
  progAttach(ns: string, r: { ifindex: number; attachType: AttachType; prog: BpfProgram; flags?: number; relative?: Relative; expectedRevision?: number; replace?: BpfProgram }): number { return this.syscall.progAttach(ns, r); }
  /** BPF_PROG_DETACH. Without a program the last one goes. */
  progDetach(ns: string, r: { ifindex: number; attachType: AttachType; prog?: BpfProgram; flags?: number; relative?: Relative; expectedRevision?: number }): void { this.syscall.progDetach(ns, r); }
  /** BPF_PROG_QUERY: program ids, link ids, count and revision; `size` caps the arrays (ENOSPC). */
  progQuery(ns: string, r: { ifindex: number; attachType: AttachType; size?: number; queryFlags?: number }): QueryResult { return this.syscall.progQuery(ns, r); }
  /** BPF_LINK_CREATE: attaches like progAttach, owned by the returned link. */
  linkCreate(ns: string, r: { ifindex: number; attachType: AttachType; prog: BpfProgram; flags?: number; relative?: Relative; expectedRevision?: number }): BpfLink { return this.syscall.linkCreate(ns, r); }
  /** BPF_LINK_UPDATE: ENOLINK when the device went away; EPERM when `old` is not the link's program. */
  linkUpdate(link: BpfLink, prog: BpfProgram, old?: BpfProgram): void { this.syscall.linkUpdate(link, prog, old); }
  /** BPF_LINK_DETACH, or closing the link's last fd (then the link id goes too). */
  linkDetach(link: BpfLink, release = false): void { this.syscall.linkDetach(link, release); }
  /** Native XDP on a NIC (undefined detaches). */
  setXdp(ns: string, dev: string | number, prog: BpfProgram | undefined): void { this.syscall.setXdp(ns, dev, prog); }
  /** BPF_PROG_TEST_RUN: runs a loaded program on a packet (and context) in this thread. */
  testRun(prog: BpfProgram, o: TestRunOptions): TestRunResult { return this.syscall.testRun(prog, o); }
  /**
   * kernel.bpf_stats_enabled: while on, each program's runs (from a hook or a test run) are
   * counted and timed (`progStats`). Default off; counts stay when it goes off again.
   */
  setBpfStats(enabled: boolean): void { this.syscall.statsEnabled = enabled ? 1 : 0; }
  /** Whether kernel.bpf_stats_enabled is on. */
  bpfStatsEnabled(): boolean { return this.syscall.statsEnabled !== 0; }
  /** A loaded program's run_cnt, run_time_ns and recursion_misses (bpf_prog_info), all 0 until stats are on. */
  progStats(prog: BpfProgram): ProgStats { return this.syscall.progStats(prog); }
  /** bpf_trace_printk output since the last call, as trace_pipe lines. */
  tracePipe(): string[] { return this.syscall.tracePipe(); }
  /** Resolves once every dataplane worker has installed (or uninstalled) the compiled code of every program loaded (or freed) so far. */
  settleJit(): Promise<void> { return this.syscall.settleJit(); }
  /** For each dataplane thread (0 = this one, then workers 1..N), whether it runs the program's compiled code now. */
  jitInstalled(prog: BpfProgram): Promise<boolean[]> { return this.syscall.jitInstalled(prog); }
  /** BPF_PROG_TEST_RUN's interpreter (tests reach it directly). */
  protected get testVm(): Vm | undefined { return this.syscall.testVm; }

  // ---- AF_XDP (xdp/xsk.ts) -----------------------------------------------------------

  /** bind(AF_XDP): registers a buffer pool at (dev, queue), in copy or zero-copy mode, or shares a UMEM. */
  xskBind(ns: string, dev: string | number, queue: number, sock: XskSocket, o: XskBindOptions = {}): void { this.xsk.bind(ns, dev, queue, sock, o); }
  /** sendto(MSG_DONTWAIT) on an AF_XDP socket: the TX kick. */
  xskSendto(sock: XskSocket, msgFlags = MSG_DONTWAIT): { sent: number; result: 0 | 'EAGAIN' | 'EBUSY' } { return this.xsk.sendto(sock, msgFlags); }
  /** recvfrom(MSG_DONTWAIT): the RX kick. */
  xskRecvfrom(sock: XskSocket, msgFlags = MSG_DONTWAIT): void { this.xsk.recvfrom(sock, msgFlags); }
  /** poll(): POLLIN|POLLRDNORM and POLLOUT|POLLWRNORM readiness (0 when unbound or down). */
  xskPoll(sock: XskSocket): number { return this.xsk.poll(sock); }
  /** Unbinds (close, or device unregistration): the socket is UNBOUND for good. */
  xskClose(sock: XskSocket): void { this.xsk.release(sock); }

  // ---- traffic (net/datapath.ts) -----------------------------------------------------

  /** Sends a raw Ethernet frame out of a device, as the namespace's stack would. */
  transmit(ns: string, dev: string | number, frame: Uint8Array, meta?: FrameMeta): void { this.datapath.transmit(ns, dev, frame, meta); }
  /** Frames arriving on a NIC from the wire (steered by its ntuple rules and RSS). */
  wireIn(ns: string, dev: string | number, frame: Uint8Array, meta?: FrameMeta): void { this.datapath.wireIn(ns, dev, frame, meta); }
  /** Hooks run for every frame the stack receives (tests, tools); return to unsubscribe. */
  onReceive(fn: (dev: NetDevice, frame: Uint8Array, meta: RxMeta) => void): () => void { return this.datapath.onReceive(fn); }
  /** Runs the dataplane until nothing is left to do. Returns rounds run. */
  settle(maxRounds = 10_000): Promise<number> { return this.datapath.settle(maxRounds); }
  /** pktgen: `count` copies of `frame` sent on a device by its owner thread, in batches. */
  pktgen(ns: string, dev: string | number, frame: Uint8Array, o: { count: number; batch?: number; flows?: number; portOffset?: number }): Promise<number> { return this.datapath.pktgen(ns, dev, frame, o); }
  /**
   * `sleep`: the virtual clock moves on by `seconds` (what waits on it, such as an IPv6
   * address's duplicate address detection, sees the time pass).
   */
  sleep(seconds: number): void {
    if (!(seconds >= 0 && Number.isFinite(seconds))) throw new NetError('EINVAL', `seconds: must be a finite number of 0 or more, got ${seconds}`);
    this.dp.clockNs += BigInt(Math.round(seconds * 1e9));
  }
  /** `ping`: ICMP echo requests from a namespace's stack to `dst`, one per `interval` of virtual time. */
  ping(ns: string, dst: string, o: PingOptions = {}): Promise<PingResult> { return this.datapath.ping(ns, dst, o); }

  // ---- capture and trace (trace/) ----------------------------------------------------

  /** Starts capturing the given devices' frames (default: every device registered now) into a pcapng file. */
  startCapture(o: { devices?: { ns: string; dev: string | number }[] } = {}): Capture { return this.captures.start(o); }
  /** Stops a capture and returns the pcapng file. */
  stopCapture(c: Capture): Uint8Array { return this.captures.stop(c); }

  /** Per-packet trace (device, hook, verdict, drop reason); `enable()` it, then `drain()`. */
  get tracer(): Tracer {
    return (this.tracerInstance ??= new Tracer(this.dp));
  }
}

/** Methods that return promises: after close they reject instead of throwing. */
const ASYNC = new Set(['settle', 'pktgen', 'ping', 'settleJit', 'jitInstalled']);

/**
 * After close: every method and property of the emulator throws ESHUTDOWN (its fields,
 * which hold the memory, the workers and every subsystem, are dropped).
 */
function shutDown(emu: Emulator): void {
  const err = (): NetError => new NetError('ESHUTDOWN', 'the emulator is closed');
  // (how many workers it had stays readable: a constant, not a call into the emulator)
  Object.defineProperty(emu, 'workers', { value: emu.workers, configurable: true });
  for (const key of Object.keys(emu)) {
    if (key === 'closing') continue;
    Object.defineProperty(emu, key, { get: () => { throw err(); }, configurable: true, enumerable: false });
  }
  for (const key of Object.getOwnPropertyNames(Emulator.prototype)) {
    if (key === 'constructor' || key === 'close' || key === 'workers') continue;
    const d = Object.getOwnPropertyDescriptor(Emulator.prototype, key)!;
    if (d.get) Object.defineProperty(emu, key, { get: () => { throw err(); }, configurable: true });
    else if (ASYNC.has(key)) Object.defineProperty(emu, key, { value: () => Promise.reject(err()), configurable: true });
    else Object.defineProperty(emu, key, { value: () => { throw err(); }, configurable: true });
  }
}

// Every public method checks its arguments' shapes first (emulator-args.ts): EINVAL
// naming the argument, before anything changes.
guardMethods('Emulator', Emulator.prototype, Object.fromEntries(Object.entries(SIGNATURES).filter(([name]) => name !== 'close')), ASYNC);
// (and the objects it hands out: maps and AF_XDP sockets)
guardMethods('BpfMap', BpfMap.prototype, MAP_SIGNATURES);
guardMethods('XskSocket', XskSocket.prototype, XSK_SIGNATURES);
guardMethods('Stack', Stack.prototype, STACK_SIGNATURES);
guardMethods('UdpSocket', UdpSocket.prototype, UDP_SIGNATURES);
guardMethods('Udp6Socket', Udp6Socket.prototype, UDP6_SIGNATURES);
guardMethods('Tracer', Tracer.prototype, TRACER_SIGNATURES);
guardMethods('Capture', Capture.prototype, CAPTURE_SIGNATURES);

export { NetError };
