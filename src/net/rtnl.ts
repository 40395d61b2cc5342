/**
 * rtnetlink: namespaces (`ip netns`), links (RTM_NEWLINK / DELLINK / GETLINK for netkit,
 * the emulated NICs' plug and unplug, `ip link set`), their dumps and counters, and the
 * stacks' addresses and routes (RTM_NEWADDR / NEWROUTE). Validates every request before
 * it changes anything; the device core (dev.ts) does the registration work.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { fail } from '../errors.js';
import type { Devices } from './dev.js';
import { dropReasonName } from './drop.js';
import { NetDevice, ETH_MAX_MTU, ETH_MIN_MTU, GSO_MAX_SEGS, GSO_MAX_SIZE, macString, parseMac } from './netdev.js';
import * as netkit from './netkit.js';
import { Netns } from './netns.js';
import * as nic from './nic.js';
import { NetdevEvent, type Notifier } from './notifier.js';
import type { DeviceRecords } from './records.js';
import { parseIp } from './stack/packet.js';
import { parseIp6 } from './stack/addr6.js';
import { Stack } from './stack/stack.js';
import type { RouteType } from './stack/route.js';
import type { Traffic } from './traffic.js';
import type { LinkChange, LinkDump, LinkRequest, LinkStats } from './types.js';

export class Rtnl {
  private readonly dp: Dataplane;
  private readonly traffic: Traffic;
  private readonly notifier: Notifier;
  private readonly dev: Devices;
  private readonly records: DeviceRecords;
  private readonly namespaces = new Map<string, Netns>();
  private nextNetnsId = 1;
  private nicCount = 0;
  readonly init: Netns;

  constructor(dp: Dataplane, traffic: Traffic, notifier: Notifier, dev: Devices, records: DeviceRecords) {
    this.dp = dp;
    this.traffic = traffic;
    this.notifier = notifier;
    this.dev = dev;
    this.records = records;
    this.init = this.createNetns('init');
    // The host's lo, brought up at boot.
    const lo = this.init.find('lo')!;
    lo.up = true;
    lo.activated = true;
    this.records.publish(this.init.find('lo')!);
    this.init.stack.linkUp(this.init.find('lo')!.ifindex);
    this.dev.assignPollLists();
  }

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
        changed: () => this.records.fib.publish(ns),
        drop: (d) => this.dp.stackDrop({ ...d, netns: ns.id }),
      },
    });
    this.namespaces.set(name, ns);
    const lo = this.dev.newDevice(ns, {
      kind: 'loopback', name: 'lo', baseFlags: A.IFF_LOOPBACK, mtu: 65536, minMtu: 0, maxMtu: 0,
      mac: new Uint8Array(6), txqlen: 1000, numTxQueues: 1, numRxQueues: 1,
    });
    lo.carrier = true;
    this.dev.register(lo, 1);
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
      this.dev.moveNetns(d, this.init, pattern);
    }
    // Then every other device, newest first, through its dellink (peers elsewhere go
    // too, via their namespace's pending list); lo last.
    const kill: NetDevice[] = [];
    const devs = [...ns.devices.values()].sort((a, b) => b.slot - a.slot);
    for (const d of devs) if (d.kind !== 'loopback') this.dev.dellink(d, kill, ns);
    for (const d of devs) if (d.kind === 'loopback') this.dev.queue(d, kill);
    this.dev.unregisterMany(kill);
    ns.alive = false;
    this.records.fib.forget(ns);
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

  /** A namespace by its internal id (for nsid lookups). */
  namespaceById(id: number): Netns | undefined {
    for (const ns of this.namespaces.values()) if (ns.id === id) return ns;
    return undefined;
  }

  /** `ip netns set NAME NSID` issued in namespace `ns`. */
  setNsid(ns: string, name: string, nsid: number): void {
    this.netns(ns).setNsid(this.netns(name), nsid);
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
      const dev = this.dev.newDevice(home, {
        kind: 'netkit', name: r.ifname ?? 'nk%d', baseFlags: A.IFF_BROADCAST | A.IFF_MULTICAST | A.IFF_NOARP,
        mtu: r.mtu ?? 1500, minMtu: ETH_MIN_MTU, maxMtu: ETH_MAX_MTU, mac: new Uint8Array(6), txqlen: r.txqlen ?? 1000,
        numTxQueues: rq.tx, numRxQueues: rq.rx,
      });
      if (plan.headroom) dev.neededHeadroom = plan.headroom;
      if (plan.tailroom) dev.neededTailroom = plan.tailroom;
      const addr = primary ? mac : r.address !== undefined ? parseMac(r.address) : undefined;
      if (r.address !== undefined && !addr) fail('EINVAL');
      if (l2) dev.mac = addr ?? this.dev.randomMac();
      dev.netkit = { primary, policy, scrub, mode: plan.mode, pairing: plan.pairing, headroom: plan.headroom, peer: undefined, progs: undefined };
      return dev;
    };

    /** Registers one side (its slot given back if that fails); l2 answers ARP; no carrier until both are up. */
    const place = (dev: NetDevice, ifindex: number): void => {
      // alloc_netdev leaves the carrier on; netkit turns it off once registered, which
      // counts as a change (veth does the same: a new pair shows 2 once both are up).
      dev.carrier = true;
      try {
        this.dev.register(dev, ifindex);
      } catch (e) {
        this.dev.freeSlots.push(dev.slot);
        throw e;
      }
      if (plan.mode === A.NETKIT_L2) dev.baseFlags &= ~A.IFF_NOARP;
      dev.carrier = false;
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
        place(peer, peerIfindex);
        created.push(peer);
      }
      const primary = mk(home, req, q, true, plan.policy, plan.scrub);
      place(primary, req.ifindex ?? 0);
      created.unshift(primary);
      if (peer) {
        primary.netkit!.peer = peer;
        peer.netkit!.peer = primary;
      }
    } catch (e) {
      if (created.length) this.dev.unregisterMany(created.map((d) => (this.dev.queue(d, []), d)));
      throw e;
    }
    for (const d of created) this.records.publish(d);
    this.dev.assignPollLists();
    return created;
  }

  /** Runs every namespace's pending unregistration work (the per-netns work items). */
  flushWork(): void {
    for (const ns of [...this.namespaces.values()]) this.dev.flushNetns(ns);
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
    this.dev.dellink(d, kill, caller);
    this.dev.unregisterMany(kill);
  }

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
    // (rtnl_create_link's bounds, 1..4096, before the driver's channel maximum)
    if (!Number.isInteger(rx) || rx < 1 || rx > 4096 || rx > max) fail('EINVAL', 'Invalid number of receive queues');
    if (!Number.isInteger(tx) || tx < 1 || tx > 4096) fail('EINVAL', 'Invalid number of transmit queues');
    let mac: Uint8Array | undefined;
    if (o.address !== undefined) {
      mac = parseMac(o.address);
      if (!mac) fail('EINVAL');
      if ((mac[0]! & 1) !== 0 || mac.every((b) => b === 0)) fail('EADDRNOTAVAIL');
    }
    if (o.name !== undefined && !o.name.includes('%') && ns.byName.has(o.name)) fail('EEXIST');
    const dev = this.dev.newDevice(ns, {
      kind: 'nic', name: o.name ?? 'eth%d', baseFlags: A.IFF_BROADCAST | A.IFF_MULTICAST, mtu: 1500, minMtu: ETH_MIN_MTU,
      maxMtu: 9600, mac: mac ?? this.dev.randomMac(), txqlen: 1000, numTxQueues: tx, numRxQueues: max,
    });
    dev.nic = nic.newNicState(`netdevsim${this.nicCount++}`, rx, max);
    dev.nic.xskZeroCopy = o.xskZeroCopy ?? true;
    dev.nic.xskMaxSegs = o.xskMaxSegs ?? 1;
    try {
      this.dev.registerNic(dev, rx);
    } catch (e) {
      this.dev.freeSlots.push(dev.slot);
      throw e;
    }
    this.dev.assignPollLists();
    return dev;
  }

  /** Removes an emulated NIC as its driver would on unload (the emulator's rmmod). */
  delNic(ns: string, dev: string | number): void {
    this.flushWork();
    const d = this.device(ns, dev);
    if (!d.physical) fail('EOPNOTSUPP');
    d.nic!.present = false;
    const kill: NetDevice[] = [];
    this.dev.queue(d, kill);
    this.dev.unregisterMany(kill);
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
      // (no EBUSY for a device that is up: dev_change_name renames it live since Linux 6.10)
    }
    // (IFLA_AF_SPEC: inet6_validate_link_af refuses a stable_secret mode without a secret)
    if (change.addrgenmode === 'stable_secret') fail('EINVAL');
    if (change.data !== undefined) {
      if (!d.netkit) fail('EOPNOTSUPP');
      netkit.changelink(d, change.data, (x) => this.records.publish(x));
    }
    if (target && target !== d.netns) {
      this.dev.moveNetns(d, target, change.ifname);
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
    if (change.addrgenmode !== undefined) d.netns.stack.inet6.setAddrGenMode(d.ifindex, change.addrgenmode);
    if (change.up === true && !d.up) this.dev.openDev(d);
    if (change.up === false && d.up) this.dev.closeDev(d);
    this.records.publish(d);
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
      qdisc: d.activated ? 'noqueue' : 'noop',
      operstate: d.operstate,
      linkmode: 'DEFAULT',
      group: 'default',
      txqlen: d.txqlen,
      linkType: d.kind === 'loopback' ? 'loopback' : 'ether',
      addrGenMode: ns.stack.inet6.addrGenMode(d.ifindex),
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
      carrierChanges: d.carrierChanges,
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

  /** A namespace's IPv4 stack (addresses, routes, neighbours, sockets, counters). */
  stack(ns = 'init'): Stack {
    return this.netns(ns).stack;
  }

  /** Chooses who consumes a device's rx rings: the stack (default) or a counting drop sink. */
  setRxSink(ns: string, dev: string | number, sink: 'stack' | 'drop'): void {
    const d = this.device(ns, dev);
    d.rxSink = sink === 'drop' ? A.SINK_DROP : A.SINK_STACK;
    this.records.publish(d);
  }

  /**
   * `ip addr add CIDR dev DEV`: e.g. `10.0.0.1/24` (no prefix means /32) or `2001:db8::1/64`
   * (no prefix means /128; `nodad` skips duplicate address detection).
   */
  addAddress(ns: string, dev: string | number, cidr: string, o: { nodad?: boolean; noprefixroute?: boolean } = {}): void {
    const d = this.device(ns, dev);
    if (cidr.includes(':')) {
      const v6 = parseCidr6(cidr, 128);
      d.netns.stack.inet6.addAddress(d.ifindex, v6.addr, v6.prefixLen, o);
      return;
    }
    const { addr, prefixLen } = parseCidr(cidr, 32);
    d.netns.stack.addAddress(d.ifindex, addr, prefixLen);
  }

  /** `ip addr del CIDR dev DEV`. */
  delAddress(ns: string, dev: string | number, cidr: string): void {
    const d = this.device(ns, dev);
    if (cidr.includes(':')) {
      // (inet6_addr_del: no length given is /128, and it must match)
      const v6 = parseCidr6(cidr, 128);
      d.netns.stack.inet6.delAddress(d.ifindex, v6.addr, v6.prefixLen);
      return;
    }
    const { addr, prefixLen } = parseCidr(cidr, 32);
    d.netns.stack.delAddress(d.ifindex, addr, cidr.includes('/') ? prefixLen : undefined);
  }

  /** `ip route add [TYPE] PREFIX|default [via GW] [dev DEV] [src ADDR] [metric N]`. */
  addRoute(ns: string, r: { dst: string; via?: string; dev?: string | number; src?: string; metric?: number; type?: RouteType }): void {
    const n = this.netns(ns);
    const { addr, prefixLen } = r.dst === 'default' ? { addr: 0, prefixLen: 0 } : parseCidr(r.dst, 32);
    const via = r.via === undefined ? undefined : parseCidr(r.via, 32, 'gateway').addr;
    const src = r.src === undefined ? undefined : parseCidr(r.src, 32, 'source').addr;
    const ifindex = r.dev === undefined ? undefined : this.device(n, r.dev).ifindex;
    n.stack.addRoute({ dst: addr, prefixLen, via, ifindex, src, metric: r.metric, type: r.type });
  }

  /** `ip route del [TYPE] PREFIX|default [dev DEV] [metric N]`. */
  delRoute(ns: string, r: { dst: string; dev?: string | number; metric?: number; type?: RouteType }): void {
    const n = this.netns(ns);
    const { addr, prefixLen } = r.dst === 'default' ? { addr: 0, prefixLen: 0 } : parseCidr(r.dst, 32);
    const ifindex = r.dev === undefined ? undefined : this.device(n, r.dev).ifindex;
    n.stack.delRoute({ dst: addr, prefixLen, metric: r.metric, ifindex, type: r.type });
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

/** `ADDR[/LEN]` for IPv6 → address and prefix length. */
export function parseCidr6(s: string, defaultLen: number, what = 'prefix'): { addr: bigint; prefixLen: number } {
  const [a, l, extra] = s.split('/');
  const addr = parseIp6(a ?? '');
  const prefixLen = l === undefined ? defaultLen : /^\d{1,3}$/.test(l) ? Number(l) : NaN;
  if (addr === null || extra !== undefined || !(prefixLen >= 0 && prefixLen <= 128)) fail('EINVAL', `inet6 ${what} is expected rather than "${s}"`);
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
