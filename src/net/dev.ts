/**
 * The device core (the kernel's net/core/dev.c): device slots and the table of registered
 * devices, register_netdevice and unregister_netdevice_many with their notifier order,
 * the batch and per-netns pending lists, open/close, moves between namespaces, and
 * which dataplane thread polls which device.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { fail } from '../errors.js';
import type { BpfLink, BpfProgram } from '../ebpf/program.js';
import type { WorkerPool } from '../worker/pool.js';
import type { XskPool, XskSocket } from '../xdp/socket.js';
import { lessees, releaseLeases } from './lease.js';
import { NetDevice, RegState, type RxQueue } from './netdev.js';
import * as netkit from './netkit.js';
import type { Netns } from './netns.js';
import { NetdevEvent, type Notifier } from './notifier.js';
import { MemoryProvider } from './provider.js';
import type { DeviceRecords } from './records.js';

/** What unregistration asks of the subsystems above (the bpf syscall, netdev-genl, xsk). */
export interface UnregisterHooks {
  /** Drops an attachment's reference to a program. */
  progPut(prog: BpfProgram): void;
  closeProvider(p: MemoryProvider): void;
  xskClose(sock: XskSocket): void;
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

export class Devices {
  private readonly dp: Dataplane;
  private readonly pool: WorkerPool | undefined;
  private readonly notifier: Notifier;
  private readonly records: DeviceRecords;
  /** Set by the emulator once the subsystems above exist. */
  hooks!: UnregisterHooks;
  private readonly random: () => number;
  private readonly perNetnsUnregister: boolean;
  readonly freeSlots: number[] = [];
  private nextSlot = 0;
  /** Every registered device, by slot. */
  readonly bySlot = new Map<number, NetDevice>();

  constructor(dp: Dataplane, pool: WorkerPool | undefined, notifier: Notifier, records: DeviceRecords, o: { seed: number; perNetnsUnregister: boolean }) {
    this.dp = dp;
    this.pool = pool;
    this.notifier = notifier;
    this.records = records;
    this.random = prng(o.seed);
    this.perNetnsUnregister = o.perNetnsUnregister;
    this.notifier.subscribe(this.netkitNotifier);
  }

  newDevice(ns: Netns, o: ConstructorParameters<typeof NetDevice>[0] extends infer T ? Omit<T & object, 'slot' | 'netns'> : never): NetDevice {
    const slot = this.freeSlots.pop() ?? this.nextSlot++;
    if (slot >= this.dp.maxDevices) {
      this.nextSlot--;
      fail('ENOSPC');
    }
    return new NetDevice({ ...o, slot, netns: ns });
  }

  randomMac(): Uint8Array {
    const mac = Uint8Array.from({ length: 6 }, () => Math.floor(this.random() * 256));
    mac[0] = (mac[0]! & 0xfe) | 0x02;
    return mac;
  }

  /** register_netdevice: name, ifindex, rings, publish, NETDEV_REGISTER. */
  register(dev: NetDevice, ifindex = 0, taken?: Set<string>): void {
    const ns = dev.netns;
    dev.name = ns.allocName(dev.name, taken);
    dev.ifindex = ns.allocIfindex(ifindex);
    if (dev.kind !== 'loopback') {
      dev.txRing = this.dp.allocRing(this.dp.ringSize, A.DESC_SIZE);
      const real = dev.kind === 'nic' ? dev.numRxQueues : 1;
      for (let i = 0; i < real; i++) this.addRxQueue(dev);
    }
    this.finishRegister(dev);
  }

  /** The common end of register() and registerNic(): list, publish, notify. */
  private finishRegister(dev: NetDevice): void {
    dev.netns.list(dev);
    dev.regState = RegState.REGISTERED;
    this.bySlot.set(dev.slot, dev);
    this.dp.clearCounters(dev.slot);
    this.records.publish(dev);
    this.notifier.emit(NetdevEvent.REGISTER, dev);
  }

  /** Appends a real rx queue (with its ring) to a device; publish() makes it visible. */
  addRxQueue(dev: NetDevice): RxQueue {
    const q: RxQueue = { dev, index: dev.rxq.length, ring: this.dp.allocRing(this.dp.ringSize, A.DESC_SIZE) };
    dev.rxq.push(q);
    return q;
  }

  registerNic(dev: NetDevice, rx: number): void {
    const ns = dev.netns;
    dev.name = ns.allocName(dev.name);
    dev.ifindex = ns.allocIfindex();
    dev.txRing = this.dp.allocRing(this.dp.ringSize, A.DESC_SIZE);
    dev.wireRing = this.dp.allocRing(this.dp.ringSize, A.DESC_SIZE);
    dev.qstats = this.dp.alloc(this.dp.threads * dev.numRxQueues * A.QS_COUNT * 8);
    for (let i = 0; i < rx; i++) this.addRxQueue(dev);
    this.finishRegister(dev);
  }

  /** Spreads devices over the workers (slot modulo workers), or all on the host inline. */
  assignPollLists(): void {
    const slots = [...this.bySlot.values()].filter((d) => d.kind !== 'loopback').map((d) => d.slot);
    if (!this.pool) {
      this.dp.publishPollList(0, slots);
      return;
    }
    const n = this.dp.workers;
    for (let w = 1; w <= n; w++) this.dp.publishPollList(w, slots.filter((s) => s % n === w - 1));
    this.pool.kick();
  }

  /** The thread whose poll list holds a device. */
  ownerThread(dev: NetDevice): number {
    return this.pool ? (dev.slot % this.dp.workers) + 1 : 0;
  }

  /** Queues a device on a batch list (once; never also on a pending list). */
  queue(dev: NetDevice, list: NetDevice[]): void {
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
  dellink(dev: NetDevice, list: NetDevice[], onBehalf: Netns = dev.netns): void {
    this.queue(dev, list);
    const peer = dev.netkit?.peer;
    if (peer) this.queueNet(onBehalf, peer, list);
  }

  /** Runs the per-netns unregistration work of one namespace (unregister_netdevice_many_net). */
  flushNetns(ns: Netns): void {
    if (ns.pending.length === 0) return;
    const batch: NetDevice[] = [];
    for (const d of ns.pending.splice(0)) {
      d.pendingIn = undefined;
      this.queue(d, batch);
    }
    this.unregisterMany(batch);
  }

  /**
   * unregister_netdevice_many (netns-unregister.md §2.2): each step for the whole batch
   * before the next. A NETDEV_UNREGISTER listener may run a nested batch.
   */
  unregisterMany(devs: NetDevice[]): void {
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
      this.records.swapRecord(d.slot, 0);
    }
    for (const d of batch) {
      this.notifier.emit(NetdevEvent.UNREGISTER, d);
      if (d.nic) {
        if (d.nic.xdp) {
          this.hooks.progPut(d.nic.xdp);
          d.nic.xdp = undefined;
        }
        d.nic.contexts.clear();
        for (const q of d.rxq) if (q.provider instanceof MemoryProvider) this.hooks.closeProvider(q.provider);
      }
      this.notifier.emit(NetdevEvent.PRE_UNINIT, d);
      // AF_XDP sockets bound to the device (or through its leases) are unbound.
      for (const q of d.rxq) {
        for (const pool of [q.pool as XskPool | undefined, q.lease?.pool as XskPool | undefined]) {
          for (const s of [...(pool?.sockets ?? [])]) if (s.bound?.dev === d || pool === q.pool) this.hooks.xskClose(s);
        }
      }
      // ndo_uninit: netkit drops its peer link and its leases.
      if (d.netkit) {
        // Providers opened through this device's leases go with them.
        for (const q of d.rxq) if (q.lease?.provider instanceof MemoryProvider && (q.lease.provider as MemoryProvider).opened.dev === d) this.hooks.closeProvider(q.lease.provider as MemoryProvider);
        releaseLeases(d);
        const peer = d.netkit.peer;
        d.netkit.peer = undefined;
        if (peer?.netkit && peer.netkit.peer === d) {
          peer.netkit.peer = undefined;
          this.records.publish(peer);
        }
      }
      // §5.6: the attach point empties; link-owned entries leave their links detached.
      for (const list of [d.netkit?.progs, d.tcxIngress, d.tcxEgress]) {
        if (!list) continue;
        for (const l of list.links()) (l as BpfLink).ifindex = 0;
        for (const prog of list.clear()) this.hooks.progPut(prog as BpfProgram);
        this.records.publish(d);
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

  openDev(d: NetDevice): void {
    this.notifier.emit(NetdevEvent.PRE_UP, d);
    let changed: NetDevice[] = [];
    if (d.netkit) changed = netkit.open(d);
    d.up = true;
    d.activated = true;
    if (d.kind !== 'netkit') d.carrier = true;
    this.notifier.emit(NetdevEvent.UP, d);
    for (const c of changed) {
      this.notifier.emit(NetdevEvent.CHANGE, c);
      if (c !== d) this.records.publish(c);
    }
    d.netns.stack.linkUp(d.ifindex);
    if (d.netkit?.peer) d.netkit.peer.netns.stack.linkUp(d.netkit.peer.ifindex);
  }

  closeDev(d: NetDevice): void {
    this.notifier.emit(NetdevEvent.GOING_DOWN, d);
    d.up = false;
    const changed = d.netkit ? netkit.close(d) : [d];
    if (d.kind !== 'netkit') d.carrier = false;
    this.notifier.emit(NetdevEvent.DOWN, d);
    for (const c of changed) if (c !== d) this.records.publish(c);
    d.netns.stack.linkDown(d.ifindex);
  }

  /** dev_change_net_namespace (netns-unregister.md §4.2). */
  moveNetns(d: NetDevice, target: Netns, newName?: string): void {
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
    this.records.publish(d);
    if (d.netkit?.peer) this.records.publish(d.netkit.peer);
  }
}
