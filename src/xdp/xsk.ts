/**
 * AF_XDP sockets on devices (the kernel's net/xdp/xsk.c and xsk_buff_pool.c): bind with
 * its mode, lease and shared-UMEM rules and its errors, the kicks (sendto, recvfrom,
 * poll), the zero-copy drivers' TX rounds, and unbinding on close or unregistration.
 * The socket's own rings and UMEM are in socket.ts.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { BpfMap } from '../ebpf/maps.js';
import { fail } from '../errors.js';
import type { NetDevice, RxQueue } from '../net/netdev.js';
import type { DeviceRecords } from '../net/records.js';
import type { Rtnl } from '../net/rtnl.js';
import { MSG_DONTWAIT, XDP_COPY, XDP_SHARED_UMEM, XDP_USE_NEED_WAKEUP, XDP_USE_SG, XDP_ZEROCOPY, XskSocket, type XskBindOptions, type XskPool } from './socket.js';

/** Kick results from the dataplane (abi XSK_*) as errno names. */
const XSK_ERRNO: Record<number, 'ENXIO' | 'ENETDOWN' | 'EOPNOTSUPP' | 'ENOBUFS'> = {
  [A.XSK_ENXIO]: 'ENXIO', [A.XSK_ENETDOWN]: 'ENETDOWN', [A.XSK_EOPNOTSUPP]: 'EOPNOTSUPP', [A.XSK_ENOBUFS]: 'ENOBUFS',
};

export class Xsk {
  private readonly dp: Dataplane;
  private readonly rtnl: Rtnl;
  private readonly records: DeviceRecords;
  /** Bound zero-copy sockets, whose drivers' TX rounds run with the dataplane. */
  private readonly zcSockets = new Set<XskSocket>();

  constructor(dp: Dataplane, rtnl: Rtnl, records: DeviceRecords) {
    this.dp = dp;
    this.rtnl = rtnl;
    this.records = records;
  }

  /**
   * bind(AF_XDP) (spec/af_xdp.md §1.4, §3.3–§3.4, §6): registers a buffer pool at (dev,
   * queue) — through a netkit queue that leases a physical one the pool lands on the
   * physical queue; binding straight to a leased physical queue is EBUSY — in copy or
   * zero-copy mode (`XDP_ZEROCOPY` fails with the driver's error, otherwise copy mode is
   * the fallback), or, with `XDP_SHARED_UMEM`, shares the UMEM of `sharedUmem`: its pool on
   * the same (dev, queue), a new pool with this socket's FILL/COMPLETION elsewhere.
   */
  bind(ns: string, dev: string | number, queue: number, sock: XskSocket, o: XskBindOptions = {}): void {
    this.rtnl.flushWork();
    const flags = o.flags ?? 0;
    const known = XDP_SHARED_UMEM | XDP_COPY | XDP_ZEROCOPY | XDP_USE_NEED_WAKEUP | XDP_USE_SG;
    if (!Number.isInteger(flags) || (flags & ~known) !== 0) fail('EINVAL');
    if (sock.state !== 'ready') fail('EBUSY');
    const d = this.rtnl.netns(ns).find(dev);
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
        pool = this.assign(d, queue, sock, inherited);
      }
      sock.umem = first.umem;
      sock.umemSize = first.umemSize;
      sock.chunkSize = first.chunkSize;
      sock.headroom = first.headroom;
    } else {
      if (!sock.ownsUmem || own.fill === 0 || own.comp === 0) fail('EINVAL');
      if ((flags & XDP_COPY) && (flags & XDP_ZEROCOPY)) fail('EINVAL');
      sg = (flags & XDP_USE_SG) !== 0;
      pool = this.assign(d, queue, sock, flags);
    }
    pool.sockets.add(sock);
    if (pool.zerocopy) this.zcSockets.add(sock);
    // Its memory may go only after the sockets whose UMEM and pool rings it uses.
    for (const owner of new Set([umemOwner(sock, o.sharedUmem as XskSocket | undefined), pool.owner])) {
      if (owner !== sock) { owner.dependents++; sock.uses.push(owner); }
    }
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
    Atomics.store(this.dp.words(), (r + A.XS_STATE) >>> 2, A.XS_BOUND);
    // A new zero-copy pool: its queue now receives into the UMEM.
    if (pool.zerocopy && pool.sockets.size === 1) this.records.publish(pool.holder.dev);
  }

  /**
   * Creates a pool for `sock` and registers it at (d, queue) (§3.4, §6.2): lease
   * resolution, EINVAL/EBUSY, then zero-copy setup — the device (netkit: its physical
   * queue's driver) must support XSK zero-copy, and multi-buffer needs zero-copy segments;
   * a memory provider on the device is EBUSY. A failure is the bind's error with
   * `XDP_ZEROCOPY`, else the pool falls back to copy mode.
   */
  private assign(d: NetDevice, queue: number, sock: XskSocket, flags: number): XskPool {
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
      const why = this.zeroCopyError(d, holder, (flags & XDP_USE_SG) !== 0);
      if (why && (flags & XDP_ZEROCOPY)) fail(why);
      zerocopy = why === undefined;
    }
    const own = sock.own;
    const pool: XskPool = { fill: own.fill, comp: own.comp, owner: sock, sockets: new Set(), zerocopy, needWakeup: (flags & XDP_USE_NEED_WAKEUP) !== 0, holder };
    holder.pool = pool;
    return pool;
  }

  /** Why zero-copy is impossible on (d, resolved queue `holder`), or undefined (netkit.md §7.2, af_xdp.md §3.4 step 5). */
  private zeroCopyError(d: NetDevice, holder: RxQueue, sg: boolean): 'EOPNOTSUPP' | 'EBUSY' | undefined {
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
  sendto(sock: XskSocket, msgFlags = MSG_DONTWAIT): { sent: number; result: 0 | 'EAGAIN' | 'EBUSY' } {
    const before = sock.txCompleted;
    const err = this.dp.exports.xskSendto(0, sock.record, msgFlags);
    const sent = sock.txCompleted - before;
    if (err === A.XSK_EAGAIN) return { sent, result: 'EAGAIN' };
    if (err === A.XSK_EBUSY) return { sent, result: 'EBUSY' };
    if (err !== 0) fail(XSK_ERRNO[err] ?? 'EINVAL');
    return { sent, result: 0 };
  }

  /** recvfrom(MSG_DONTWAIT) (§2.7): the RX kick; in zero-copy with the FILL flag set it restarts the driver's RX. */
  recvfrom(sock: XskSocket, msgFlags = MSG_DONTWAIT): void {
    const err = this.dp.exports.xskRecvfrom(sock.record, msgFlags);
    if (err !== 0) fail(XSK_ERRNO[err] ?? 'EINVAL');
  }

  /** poll() (§2.7): runs the wakeups the pool needs, returns POLLIN|POLLRDNORM and POLLOUT|POLLWRNORM readiness (0 when unbound or down). */
  poll(sock: XskSocket): number {
    return this.dp.exports.xskPoll(0, sock.record);
  }

  /** The zero-copy drivers' TX rounds (after a wakeup, until idle). Returns descriptors completed. */
  zcRound(): number {
    let n = 0;
    for (const s of this.zcSockets) {
      if (s.state !== 'bound') { this.zcSockets.delete(s); continue; }
      if (s.bound!.pool.zerocopy) n += this.dp.exports.xskZcTx(0, s.record);
    }
    return n;
  }


  /**
   * Unbinds (device unregistration, §5.1, or close): the socket is UNBOUND for good
   * (bind, sendto, recvfrom: EBUSY/ENXIO), frames redirected to it are dropped; the pool's
   * registration goes with its last socket.
   */
  close(sock: XskSocket): void {
    const b = sock.bound;
    if (sock.state === 'ready') sock.state = 'unbound';
    if (!b) return;
    Atomics.store(this.dp.words(), (sock.record + A.XS_STATE) >>> 2, 0);
    b.pool.sockets.delete(sock);
    if (b.pool.sockets.size === 0 && b.pool.holder.pool === b.pool) {
      b.pool.holder.pool = undefined;
      if (b.pool.zerocopy) this.records.publish(b.pool.holder.dev);
    }
    sock.state = 'unbound';
    sock.bound = undefined;
    this.zcSockets.delete(sock);
  }

  /**
   * close(2) on the socket: unbinds it, takes it out of every XSKMAP (xsk_delete_from_maps)
   * and frees its memory after a grace period once no socket shares its UMEM or pool.
   * Later calls on it are EBADF.
   */
  release(sock: XskSocket): void {
    if (!(sock instanceof XskSocket)) fail('EINVAL');
    if (sock.released) fail('EBADF');
    this.close(sock);
    sock.released = true;
    BpfMap.forgetSocket(this.dp, sock.record);
    this.maybeFree(sock);
  }

  private maybeFree(sock: XskSocket): void {
    if (!sock.released || sock.dependents > 0 || sock.freed) return;
    sock.retireMemory();
    const uses = sock.uses;
    sock.uses = [];
    for (const owner of uses) {
      owner.dependents--;
      this.maybeFree(owner);
    }
  }
}

/** The socket whose UMEM `sock` uses (itself when it registered one). */
function umemOwner(sock: XskSocket, shared: XskSocket | undefined): XskSocket {
  if (sock.ownsUmem || !shared) return sock;
  let s = shared;
  while (!s.ownsUmem && s.uses.length) s = s.uses[0]!;
  return s;
}
