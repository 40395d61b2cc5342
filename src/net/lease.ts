/**
 * netdev `queue-create` with a lease, `queue-get`, and lease release (netkit.md §6).
 * A lease ties a new netkit rx queue to a physical rx queue, both ways.
 */

import * as A from '../abi.generated.js';
import { NetError, fail } from '../errors.js';
import type { NetDevice, RxQueue } from './netdev.js';
import type { Netns } from './netns.js';

/** The ynl request of `queue-create` (attribute names as in the netdev YAML spec). */
export interface QueueCreateRequest {
  ifindex?: number;
  type?: 'rx' | 'tx' | number;
  lease?: {
    ifindex?: number;
    queue?: { id?: number; type?: 'rx' | 'tx' | number };
    'netns-id'?: number;
  };
}

/** One `queue-get` record, with keys as ynl prints them. */
export interface QueueInfo {
  id: number;
  type: 'rx' | 'tx';
  ifindex: number;
  'napi-id'?: number;
  lease?: { ifindex: number; queue: { id: number; type: 'rx' }; 'netns-id'?: number };
  'io-uring'?: Record<string, never>;
  dmabuf?: number;
  xsk?: Record<string, never>;
}

/** What lease handling needs from the emulator. */
export interface LeaseHost {
  addRxQueue(dev: NetDevice): RxQueue;
  publish(dev: NetDevice): void;
  namespaceById(id: number): Netns | undefined;
}

const NETDEV_QUEUE_TYPE_RX = 0;

/** A netlink error that names an attribute (ynl prints bad-attr / miss-type). */
function attrError(errno: 'EINVAL' | 'ERANGE', kind: 'missing' | 'bad', attr: string): never {
  const e = new NetError(errno);
  Object.assign(e, { attr, attrProblem: kind });
  throw e;
}

function queueType(v: 'rx' | 'tx' | number | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = v === 'rx' ? 0 : v === 'tx' ? 1 : v;
  if (!Number.isInteger(n) || n < 0 || n > 1) fail('EINVAL', 'integer out of range');
  return n;
}

function u32min1(v: number | undefined): number | undefined {
  if (v === undefined) return undefined;
  if (!Number.isInteger(v) || v < 1 || v > 0xffffffff) fail('EINVAL', 'integer out of range');
  return v;
}

/** The highest real rx queue's lease target device, if it is leased. */
function leasedFrom(dev: NetDevice): NetDevice | undefined {
  const top = dev.rxq[dev.rxq.length - 1];
  return top?.lease?.dev;
}

/**
 * netdev_nl_queue_create_doit: checks in the kernel's order (netkit.md §6.2); the
 * caller's namespace is `caller`. Returns the new virtual queue id.
 */
export function queueCreate(host: LeaseHost, caller: Netns, req: QueueCreateRequest): { id: number } {
  // 1. policy
  const ifindex = u32min1(req.ifindex);
  const type = queueType(req.type);
  const lease = req.lease;
  const leaseIfindex = u32min1(lease?.ifindex);
  const leaseQType = queueType(lease?.queue?.type);
  const netnsId = lease?.['netns-id'];
  if (netnsId !== undefined && (!Number.isInteger(netnsId) || netnsId < -2147483648 || netnsId > 2147483647)) fail('EINVAL', 'integer out of range');
  // 2–7. presence and types
  if (ifindex === undefined) attrError('EINVAL', 'missing', 'ifindex');
  if (type === undefined) attrError('EINVAL', 'missing', 'type');
  if (lease === undefined) attrError('EINVAL', 'missing', 'lease');
  if (type !== NETDEV_QUEUE_TYPE_RX) attrError('EINVAL', 'bad', 'type');
  if (leaseIfindex === undefined) attrError('EINVAL', 'missing', 'lease.ifindex');
  if (lease.queue === undefined) attrError('EINVAL', 'missing', 'lease.queue');
  const leaseQid = lease.queue.id;
  if (leaseQid === undefined) attrError('EINVAL', 'missing', 'lease.queue.id');
  if (!Number.isInteger(leaseQid) || leaseQid < 0 || leaseQid > 0xffffffff) fail('EINVAL', 'integer out of range');
  if (leaseQType === undefined) attrError('EINVAL', 'missing', 'lease.queue.type');
  if (leaseQType !== NETDEV_QUEUE_TYPE_RX) attrError('EINVAL', 'bad', 'lease.queue.type');
  // 8–9. the virtual device, in the caller's namespace
  const virt = caller.devices.get(ifindex);
  if (!virt) fail('ENODEV');
  let msg: string | undefined;
  if (virt.realNumRxQueues < 1 || virt.numTxQueues < 1) msg = 'Device must have at least one real queue';
  if (virt.kind !== 'netkit') msg = 'Device does not support queue creation';
  if (virt.physical) msg = 'Device is not a virtual device';
  if (msg) fail('EINVAL', msg);
  // 10–11. the physical device, in the caller's namespace or the one netns-id names
  let physNs = caller;
  if (netnsId !== undefined && netnsId >= 0) {
    const target = caller.nsidTarget(netnsId);
    const ns = target === undefined ? undefined : host.namespaceById(target);
    if (!ns) fail('ENONET');
    physNs = ns;
  }
  const phys = physNs.devices.get(leaseIfindex);
  if (!phys) fail('ENODEV');
  // 12–13. can it lend queues?
  if (!phys.physical) fail('EINVAL', 'Lease device is a virtual device');
  if (!phys.nic!.present) fail('EINVAL', 'Lease device has been removed from the system');
  // 14. queue range
  if (leaseQid >= phys.realNumRxQueues) attrError('ERANGE', 'bad', 'lease.queue.id');
  // 15. busy
  const pq = phys.rxq[leaseQid]!;
  if (pq.pool !== undefined) fail('EBUSY', 'Device queue in use by AF_XDP');
  if (pq.lease !== undefined) fail('EBUSY', 'Device queue in use due to queue leasing');
  if (pq.provider !== undefined) fail('EBUSY', 'Device queue in use by memory provider');
  // 16. one lessor per virtual device
  const from = leasedFrom(virt);
  if (from && from !== phys) fail('EOPNOTSUPP', 'Leasing queues from different devices not supported');
  // 17. netkit's ndo_queue_create
  const nk = virt.netkit!;
  if (nk.pairing === A.NETKIT_DEVICE_PAIR && nk.primary) fail('EOPNOTSUPP', 'netkit can only lease against the peer device');
  if (virt.realNumRxQueues + 1 > virt.numRxQueues) fail('EINVAL', 'netkit maximum queue limit reached');
  // 18. lease
  const vq = host.addRxQueue(virt);
  vq.lease = pq;
  pq.lease = vq;
  host.publish(virt);
  return { id: vq.index };
}

/** The nsid of `of`'s namespace as seen from `from`'s, or undefined in the same one. */
function netnsIdBetween(from: NetDevice, of: NetDevice): number | undefined {
  return from.netns === of.netns ? undefined : from.netns.nsidOf(of.netns);
}

/** queue-get for one queue (netkit.md §6.5). */
export function queueInfo(dev: NetDevice, id: number, type: 'rx' | 'tx'): QueueInfo {
  if (!dev.up) fail('ENOENT');
  const count = type === 'rx' ? dev.realNumRxQueues : dev.numTxQueues;
  if (!Number.isInteger(id) || id < 0 || id >= count) fail('EINVAL');
  const info: QueueInfo = { id, type, ifindex: dev.ifindex };
  if (dev.kind === 'nic') info['napi-id'] = napiId(dev, id, type);
  if (type === 'rx') {
    const q = dev.rxq[id]!;
    // Providers and pools of a leased virtual queue live on the physical queue.
    const holder = !dev.physical && q.lease ? q.lease : q;
    if (dev.physical && q.lease) {
      const virt = q.lease;
      info.lease = { ifindex: virt.dev.ifindex, queue: { id: virt.index, type: 'rx' } };
      const nsid = netnsIdBetween(dev, virt.dev);
      if (nsid !== undefined) info.lease['netns-id'] = nsid;
    }
    if (holder.provider !== undefined) info['io-uring'] = {};
    if (holder.pool !== undefined) info.xsk = {};
  }
  return info;
}

/** NAPI ids as netdevsim hands them out: one per channel, from 8192 + ifindex * 64 (emulator's choice). */
function napiId(dev: NetDevice, id: number, type: 'rx' | 'tx'): number {
  return 8192 + dev.ifindex * 64 + (type === 'rx' ? id : id);
}

/** queue-get dump: rx then tx queues of every up device of the namespace, optionally one ifindex. */
export function queueDump(devs: Iterable<NetDevice>, ifindex?: number): QueueInfo[] {
  const out: QueueInfo[] = [];
  for (const d of devs) {
    if (!d.up || d.kind === 'loopback' || (ifindex !== undefined && d.ifindex !== ifindex)) continue;
    for (let i = 0; i < d.realNumRxQueues; i++) out.push(queueInfo(d, i, 'rx'));
    for (let i = 0; i < d.numTxQueues; i++) out.push(queueInfo(d, i, 'tx'));
  }
  return out;
}

/** netkit uninit: every leased queue 1..real-1 is unleased, the physical queue freed. */
export function releaseLeases(dev: NetDevice): void {
  for (const q of dev.rxq) {
    if (q.lease && !dev.physical) {
      q.lease.lease = undefined;
      q.lease = undefined;
    }
  }
}

/** The netkit devices holding leases on a physical device's real rx queues. */
export function lessees(phys: NetDevice): NetDevice[] {
  const out: NetDevice[] = [];
  for (const q of phys.rxq) {
    const v = q.lease?.dev;
    if (v && v.kind === 'netkit' && !out.includes(v)) out.push(v);
  }
  return out;
}
