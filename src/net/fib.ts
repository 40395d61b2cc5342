/**
 * bpf_fib_lookup's tables: each namespace's IPv4 FIB as the dataplane reads it (abi FIB_*,
 * assembly/ebpf/fib.ts), built from its stack (main-table routes, the local table its
 * addresses make, neighbours in a NUD_VALID state, the forwarding switch) and device list.
 * Rebuilt whenever one of them changes and published by swap in the FIB directory
 * (G_FIB_DIR); the old record and directory are retired past the swap.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import type { Netns } from './netns.js';
import { RegState, type NetDevice } from './netdev.js';
import { maskOf } from './stack/packet.js';
import type { RouteType } from './stack/route.js';

const RTN: Record<RouteType, number> = { unicast: A.RTN_UNICAST, blackhole: A.RTN_BLACKHOLE, unreachable: A.RTN_UNREACHABLE, prohibit: A.RTN_PROHIBIT };

interface Published {
  addr: number;
  size: number;
  /** The devices it lists: ifindex → device-table slot. */
  devs: Map<number, number>;
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
    // NUD_VALID: the states a neighbour's address may be used in
    const neigh = st.neighbours().filter((n) => n.state === 'PERMANENT' || n.state === 'NOARP' || n.state === 'REACHABLE' || n.state === 'STALE');
    const size = A.FIB_HDR + devs.length * A.FD_SIZE + routes.length * A.FR_SIZE + locals.length * A.FL_SIZE + neigh.length * A.FN_SIZE;
    const rec = this.dp.alloc(size);
    const dv = this.dp.view();
    this.dp.bytes().fill(0, rec, rec + size);
    dv.setUint32(rec + A.FIB_FLAGS, st.forwarding ? A.FIB_FORWARDING : 0, true);
    dv.setUint32(rec + A.FIB_NDEVS, devs.length, true);
    dv.setUint32(rec + A.FIB_NROUTES, routes.length, true);
    dv.setUint32(rec + A.FIB_NLOCAL, locals.length, true);
    dv.setUint32(rec + A.FIB_NNEIGH, neigh.length, true);
    let at = rec + A.FIB_HDR;
    const listed = new Map<number, number>();
    for (const d of devs) {
      dv.setUint32(at + A.FD_IFINDEX, d.ifindex, true);
      dv.setUint32(at + A.FD_SLOT, d.slot, true);
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
