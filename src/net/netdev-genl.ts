/**
 * The netdev generic-netlink family: queues (`queue-create` with a lease, `queue-get`),
 * memory providers bound to rx queues (io_uring zcrx, devmem), and per-queue statistics.
 * The lease rules themselves are in lease.ts, the providers' buffers in provider.ts.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { fail } from '../errors.js';
import type { Devices } from './dev.js';
import { queueCreate, queueDump, queueInfo, type LeaseHost, type QueueCreateRequest, type QueueInfo } from './lease.js';
import { MemoryProvider, providerTarget, type ProviderKind } from './provider.js';
import type { DeviceRecords } from './records.js';
import type { Rtnl } from './rtnl.js';

export class NetdevGenl {
  private readonly dp: Dataplane;
  private readonly rtnl: Rtnl;
  private readonly records: DeviceRecords;
  private readonly leaseHost: LeaseHost;
  /** Open memory providers (their buffers are refilled every dataplane round). */
  readonly providers = new Set<MemoryProvider>();

  constructor(dp: Dataplane, rtnl: Rtnl, dev: Devices, records: DeviceRecords) {
    this.dp = dp;
    this.rtnl = rtnl;
    this.records = records;
    this.leaseHost = {
      addRxQueue: (d) => dev.addRxQueue(d),
      publish: (d) => records.publish(d),
      namespaceById: (id) => rtnl.namespaceById(id),
    };
  }

  /** netdev `queue-create` issued from namespace `ns`. */
  queueCreate(req: QueueCreateRequest, ns = 'init'): { id: number } {
    this.rtnl.flushWork();
    return queueCreate(this.leaseHost, this.rtnl.netns(ns), req);
  }

  /** netdev `queue-get` (do). */
  queueGet(ns: string, q: { ifindex: number; id: number; type: 'rx' | 'tx' }): QueueInfo {
    this.rtnl.flushWork();
    const d = this.rtnl.netns(ns).devices.get(q.ifindex);
    if (!d) fail('ENODEV');
    return queueInfo(d, q.id, q.type);
  }

  /** netdev `queue-get` (dump), optionally for one ifindex. */
  queueDump(ns = 'init', ifindex?: number): QueueInfo[] {
    this.rtnl.flushWork();
    return queueDump(this.rtnl.links(ns), ifindex);
  }


  /**
   * Opens a memory provider (an io_uring zcrx or devmem receiver) on rx queue `queue` of
   * `dev` (a netkit queue with a lease, or a physical queue): its `buffers` buffers are
   * what the physical queue receives into. Close it with closeProvider().
   */
  bindProvider(ns: string, dev: string | number, queue: number, o: { kind?: ProviderKind; buffers?: number } = {}): MemoryProvider {
    this.rtnl.flushWork();
    const d = this.rtnl.device(ns, dev);
    const kind = o.kind ?? 'io_uring';
    const target = providerTarget(d, queue, kind, (dev) => dev.nic?.xdp !== undefined);
    const p = new MemoryProvider(this.dp, kind, d.rxq[queue]!, target, o.buffers ?? 256);
    target.provider = p;
    this.providers.add(p);
    this.records.publish(target.dev);
    return p;
  }

  /** Closes a memory provider: the physical queue returns to the driver's buffers. */
  closeProvider(p: MemoryProvider): void {
    if (p.closed) return;
    p.closed = true;
    this.providers.delete(p);
    if (p.queue.provider === p) {
      p.queue.provider = undefined;
      this.records.publish(p.queue.dev);
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

  /** A NIC's per-queue counters (rx queue i, and tx on queue 0), summed over threads. */
  queueStats(ns: string, dev: string | number): { rxPackets: bigint; rxBytes: bigint; txPackets: bigint; txBytes: bigint }[] {
    const d = this.rtnl.device(ns, dev);
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
}
