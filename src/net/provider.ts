/**
 * Memory providers (io_uring zero-copy receive, devmem): the buffers a NIC rx queue
 * receives into come from the provider's fill ring instead of the driver's pool. Opened
 * on a netkit queue that leases a physical one, they are installed on the physical
 * queue (netkit.md §6.4).
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { fail } from '../errors.js';
import type { NetDevice, RxQueue } from './netdev.js';

export type ProviderKind = 'io_uring' | 'devmem';

export class MemoryProvider {
  readonly kind: ProviderKind;
  /** The queue the provider was opened on (netkit or physical). */
  readonly opened: RxQueue;
  /** The physical queue that receives into its buffers. */
  readonly queue: RxQueue;
  /** Fill ring of buffer addresses (u32 frame bases), consumed by the NIC's rx. */
  readonly fill: number;
  readonly buffers: number;
  /** Every buffer address ever handed to the NIC (so a receiver can check where data landed). */
  readonly supplied = new Set<number>();
  closed = false;
  /** Frames that reached the opened device's namespace still in this provider's buffers. */
  delivered = 0;
  private readonly dp: Dataplane;

  constructor(dp: Dataplane, kind: ProviderKind, opened: RxQueue, queue: RxQueue, buffers: number) {
    this.dp = dp;
    this.kind = kind;
    this.opened = opened;
    this.queue = queue;
    this.buffers = buffers;
    let size = 64;
    while (size < buffers) size *= 2;
    this.fill = dp.allocRing(size, 4);
    this.refill();
  }

  /** Buffers waiting in the fill ring. */
  get available(): number {
    const dv = this.dp.view();
    return (dv.getUint32(this.fill + A.R_PRODUCER, true) - dv.getUint32(this.fill + A.R_CONSUMER, true)) >>> 0;
  }

  /** Tops the fill ring up to `buffers` from the host's frame pool (the application returning buffers). */
  refill(): void {
    if (this.closed) return;
    const want = this.buffers - this.available;
    if (want <= 0) return;
    const dp = this.dp;
    const list = dp.hostScratch;
    const n = dp.exports.framesAlloc(0, list, Math.min(want, 1024));
    const dv = dp.view();
    const prod = dv.getUint32(this.fill + A.R_PRODUCER, true);
    const mask = dv.getUint32(this.fill + A.R_MASK, true);
    for (let i = 0; i < n; i++) {
      const base = dv.getUint32(list + i * 4, true);
      this.supplied.add(base);
      dv.setUint32(this.fill + A.RING_ENTRIES + ((prod + i) & mask) * 4, base, true);
    }
    Atomics.store(dp.words(), (this.fill + A.R_PRODUCER) >>> 2, (prod + n) | 0);
  }

  /** True if `addr` (any address inside a frame) is one of this provider's buffers. */
  owns(addr: number): boolean {
    return this.supplied.has(addr - (addr % this.dp.frameSize));
  }
}

/**
 * The checks of opening a provider on (dev, index) in the kernel's order (netkit.md
 * §6.4); returns the physical queue it is installed on.
 */
export function providerTarget(dev: NetDevice, index: number, kind: ProviderKind, hasXdp: (d: NetDevice) => boolean): RxQueue {
  if (!Number.isInteger(index) || index < 0 || index >= dev.realNumRxQueues) fail('ERANGE', 'rx queue index out of range');
  let q = dev.rxq[index]!;
  if (!dev.physical) {
    if (!q.lease) fail('EBUSY', 'rx queue is mapped to a virtual netdev');
    q = q.lease;
  } else if (q.lease) {
    // io_uring finds no DMA device for the physical side of a lease and gives up first.
    if (kind === 'io_uring') fail('EOPNOTSUPP');
    fail('EBUSY', 'rx queue peered to a virtual netdev');
  }
  if (hasXdp(q.dev)) fail('EEXIST', 'unable to custom memory provider to device with XDP program attached');
  if (q.provider !== undefined) fail('EEXIST', 'designated queue already memory provider bound');
  if (q.pool !== undefined) fail('EBUSY', 'designated queue already in use by AF_XDP');
  return q;
}
