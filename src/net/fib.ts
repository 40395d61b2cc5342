/**
 * bpf_fib_lookup's tables: each namespace's IPv4 and IPv6 FIBs as the dataplane reads them
 * (abi FIB_*, assembly/ebpf/fib.ts), built from its stack (main-table routes, the local
 * table its addresses make, neighbours in a NUD_VALID state, the forwarding switches; for
 * IPv6 also the addresses a source may be chosen from) and device list.
 * Rebuilt whenever one of them changes and published by swap in the FIB directory
 * (G_FIB_DIR); the old record and directory are retired past the swap.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import type { Netns } from './netns.js';
import { RegState, type NetDevice } from './netdev.js';
import { ip6Bytes, mask6, scopeRank6 } from './stack/addr6.js';
import { maskOf, type NeighState } from './stack/packet.js';
import type { RouteType } from './stack/route.js';

const RTN: Record<RouteType, number> = { unicast: A.RTN_UNICAST, blackhole: A.RTN_BLACKHOLE, unreachable: A.RTN_UNREACHABLE, prohibit: A.RTN_PROHIBIT };

interface Published {
  addr: number;
  size: number;
  /** The devices it lists: ifindex → device-table slot. */
  devs: Map<number, number>;
}

/** NUD_VALID: the states a neighbour's address may be used in. */
function valid(s: NeighState): boolean {
  return s === 'PERMANENT' || s === 'NOARP' || s === 'REACHABLE' || s === 'STALE';
}

export class FibTables {
  private readonly dp: Dataplane;
  private readonly tables = new Map<number, Published>();
  private dir = 0;
  private dirSize = 0;

  constructor(dp: Dataplane) {
    this.dp = dp;
  }

  /** Builds namespace `ns`'s FIB record from its stack and devices and publishes it. */
  publish(ns: Netns): void {
    if (!ns.alive || !ns.stack) return;
    const st = ns.stack;
    const devs = [...ns.devices.values()].filter((d) => d.regState === RegState.REGISTERED);
    const up = (ifindex: number): boolean => ns.devices.get(ifindex)?.up === true;
    const routes = st.routes.list();
    // The local table (fib_add_ifaddr, for a device that is up): each address, the subnet
    // broadcast of one shorter than /31, a loopback device's whole prefix.
    const locals: { dst: number; mask: number; ifindex: number }[] = [];
    for (const a of st.addresses()) {
      if (!up(a.ifindex)) continue;
      const mask = maskOf(a.prefixLen);
      locals.push({ dst: a.local, mask: 0xffffffff, ifindex: a.ifindex });
      if (ns.devices.get(a.ifindex)?.kind === 'loopback') locals.push({ dst: (a.local & mask) >>> 0, mask, ifindex: a.ifindex });
      if (a.prefixLen < 31) locals.push({ dst: a.broadcast || ((a.local | ~mask) >>> 0), mask: 0xffffffff, ifindex: a.ifindex });
    }
    const neigh = st.neighbours().filter((n) => valid(n.state));
    // IPv6 (addrconf.ts, ipv6.ts): the main table in fib6_table_lookup's order; the local
    // table of addresses past DAD and, while their device forwards, their subnet-router
    // anycast (addrconf_join_anycast: not for /127 or /128, not ::).
    const routes6 = [...st.inet6.routeList()].sort((a, b) => b.prefixLen - a.prefixLen || a.metric - b.metric || a.seq - b.seq);
    // (an address in DAD goes in with the time its DAD ends: the dataplane's clock passing
    // it settles the address there as addrconf.ts's addresses() does here)
    const addrs6 = st.inet6.addresses().flatMap((a) => {
      const from = st.inet6.settlesAtNs(a);
      return from === undefined ? [] : [{ a, from }];
    });
    const locals6: { addr: bigint; ifindex: number; type: number; from: bigint }[] = addrs6.map(({ a, from }) => ({ addr: a.addr, ifindex: a.ifindex, type: A.RTN_LOCAL, from }));
    for (const { a, from } of addrs6) {
      const net = a.addr & mask6(a.prefixLen);
      if (st.ip6.deviceForwarding(a.ifindex) && a.prefixLen < 127 && net !== 0n) locals6.push({ addr: net, ifindex: a.ifindex, type: A.RTN_ANYCAST, from });
    }
    const neigh6 = st.ip6.neighbours().filter((n) => n.lladdr && valid(n.state));
    const size = A.FIB_HDR + devs.length * A.FD_SIZE + routes.length * A.FR_SIZE + locals.length * A.FL_SIZE + neigh.length * A.FN_SIZE
      + routes6.length * A.FR6_SIZE + locals6.length * A.FL6_SIZE + neigh6.length * A.FN6_SIZE + addrs6.length * A.FA6_SIZE;
    const rec = this.dp.alloc(size);
    const dv = this.dp.view();
    this.dp.bytes().fill(0, rec, rec + size);
    dv.setUint32(rec + A.FIB_FLAGS, (st.forwarding ? A.FIB_FORWARDING : 0) | (st.ip6.forwarding ? A.FIB_FORWARDING6 : 0), true);
    dv.setUint32(rec + A.FIB_NDEVS, devs.length, true);
    dv.setUint32(rec + A.FIB_NROUTES, routes.length, true);
    dv.setUint32(rec + A.FIB_NLOCAL, locals.length, true);
    dv.setUint32(rec + A.FIB_NNEIGH, neigh.length, true);
    dv.setUint32(rec + A.FIB_NROUTES6, routes6.length, true);
    dv.setUint32(rec + A.FIB_NLOCAL6, locals6.length, true);
    dv.setUint32(rec + A.FIB_NNEIGH6, neigh6.length, true);
    dv.setUint32(rec + A.FIB_NADDR6, addrs6.length, true);
    let at = rec + A.FIB_HDR;
    const listed = new Map<number, number>();
    for (const d of devs) {
      dv.setUint32(at + A.FD_IFINDEX, d.ifindex, true);
      dv.setUint32(at + A.FD_SLOT, d.slot, true);
      dv.setUint32(at + A.FD_FLAGS, st.ip6.deviceForwarding(d.ifindex) ? A.FD_FORWARDING6 : 0, true);
      listed.set(d.ifindex, d.slot);
      at += A.FD_SIZE;
    }
    // Addresses in network byte order (big-endian stores), as the program's struct has them.
    for (const r of routes) {
      dv.setUint32(at + A.FR_DST, r.dst, false);
      dv.setUint32(at + A.FR_MASK, maskOf(r.prefixLen), false);
      dv.setUint32(at + A.FR_IFINDEX, r.ifindex, true);
      dv.setUint32(at + A.FR_GW, r.via, false);
      dv.setUint32(at + A.FR_PREFSRC, st.prefSource(r), false);
      dv.setUint32(at + A.FR_METRIC, r.metric, true);
      dv.setUint32(at + A.FR_TYPE, RTN[r.type ?? 'unicast'], true);
      at += A.FR_SIZE;
    }
    for (const l of locals) {
      dv.setUint32(at + A.FL_DST, l.dst, false);
      dv.setUint32(at + A.FL_MASK, l.mask, false);
      dv.setUint32(at + A.FL_IFINDEX, l.ifindex, true);
      at += A.FL_SIZE;
    }
    for (const n of neigh) {
      dv.setUint32(at + A.FN_IFINDEX, n.ifindex, true);
      dv.setUint32(at + A.FN_ADDR, n.dst, false);
      if (n.lladdr) this.dp.bytes().set(n.lladdr.subarray(0, 6), at + A.FN_LLADDR);
      at += A.FN_SIZE;
    }
    const bytes = this.dp.bytes();
    for (const r of routes6) {
      bytes.set(ip6Bytes(r.dst), at + A.FR6_DST);
      bytes.set(ip6Bytes(mask6(r.prefixLen)), at + A.FR6_MASK);
      bytes.set(ip6Bytes(r.via), at + A.FR6_GW);
      dv.setUint32(at + A.FR6_IFINDEX, r.ifindex, true);
      dv.setUint32(at + A.FR6_METRIC, r.metric, true);
      dv.setUint32(at + A.FR6_TYPE, RTN[r.type ?? 'unicast'], true);
      at += A.FR6_SIZE;
    }
    for (const l of locals6) {
      bytes.set(ip6Bytes(l.addr), at + A.FL6_ADDR);
      dv.setUint32(at + A.FL6_IFINDEX, l.ifindex, true);
      dv.setUint32(at + A.FL6_TYPE, l.type, true);
      dv.setBigUint64(at + A.FL6_FROM, l.from, true);
      at += A.FL6_SIZE;
    }
    for (const n of neigh6) {
      bytes.set(ip6Bytes(n.dst), at + A.FN6_ADDR);
      dv.setUint32(at + A.FN6_IFINDEX, n.ifindex, true);
      bytes.set(n.lladdr!.subarray(0, 6), at + A.FN6_LLADDR);
      at += A.FN6_SIZE;
    }
    for (const { a, from } of addrs6) {
      bytes.set(ip6Bytes(a.addr), at + A.FA6_ADDR);
      dv.setUint32(at + A.FA6_IFINDEX, a.ifindex, true);
      dv.setUint32(at + A.FA6_SCOPE, scopeRank6(a.addr), true);
      dv.setUint32(at + A.FA6_PLEN, a.prefixLen, true);
      dv.setBigUint64(at + A.FA6_FROM, from, true);
      at += A.FA6_SIZE;
    }
    const old = this.tables.get(ns.id);
    this.tables.set(ns.id, { addr: rec, size, devs: listed });
    this.publishDir();
    if (old) this.dp.retire(old.addr, old.size);
  }

  /** A device's record was published: its namespace's table must list it (new, or moved there). */
  deviceSeen(dev: NetDevice): void {
    if (this.tables.get(dev.netns.id)?.devs.get(dev.ifindex) !== dev.slot) this.publish(dev.netns);
  }

  /** The namespace is gone: its table goes with it. */
  forget(ns: Netns): void {
    const old = this.tables.get(ns.id);
    if (!old) return;
    this.tables.delete(ns.id);
    this.publishDir();
    this.dp.retire(old.addr, old.size);
  }

  /** A new directory naming every namespace's record, swapped in at G_FIB_DIR. */
  private publishDir(): void {
    const size = A.FIB_DIR_ENTRIES + this.tables.size * A.FIB_DIR_ENTRY;
    const dir = this.dp.alloc(size);
    const dv = this.dp.view();
    dv.setUint32(dir + A.FIB_DIR_COUNT, this.tables.size, true);
    let at = dir + A.FIB_DIR_ENTRIES;
    for (const [id, t] of this.tables) {
      dv.setUint32(at, id, true);
      dv.setUint32(at + 4, t.addr, true);
      at += A.FIB_DIR_ENTRY;
    }
    const old = { addr: this.dir, size: this.dirSize };
    this.dir = dir;
    this.dirSize = size;
    this.dp.publishWord(A.GLOBALS + A.G_FIB_DIR, dir, old);
  }
}
