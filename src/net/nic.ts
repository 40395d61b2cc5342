/**
 * Emulated physical NICs (a device with a parent bus device, like netdevsim): channels,
 * RSS contexts with indirection tables, and ntuple rules (netns-unregister.md §6).
 * The steering tables reach the dataplane as one published record (abi N_*).
 */

import { fail } from '../errors.js';
import type { NetDevice, NicState, NtupleRule, RxQueue } from './netdev.js';

/** Indirection table size of every RSS context (ETH_RSS_HASH size typical of NICs). */
export const RSS_TABLE_SIZE = 128;
/** Ntuple rule slots (locations 0..NTUPLE_SLOTS-1; 0 has the highest priority). */
export const NTUPLE_SLOTS = 1024;

export const RX_CLS_FLOW_DISC = -1;

export type { FlowType, NicState, NtupleRule, RssContext } from './netdev.js';

export function defaultTable(queues: number): number[] {
  return Array.from({ length: RSS_TABLE_SIZE }, (_, i) => i % queues);
}

export function newNicState(parent: string, queues: number, maxChannels: number): NicState {
  return {
    parent,
    present: true,
    maxChannels,
    contexts: new Map([[0, { id: 0, table: defaultTable(queues), configured: false }]]),
    rules: new Map(),
    xskZeroCopy: true,
    xskMaxSegs: 1,
  };
}

/** `ethtool -X DEV [context N|new] equal N | start S equal N | weight W... | default`. */
export function setIndirection(
  dev: NetDevice,
  o: { context?: number | 'new'; start?: number; equal?: number; weights?: number[]; reset?: boolean; delete?: boolean },
): number {
  const nic = dev.nic!;
  const queues = dev.realNumRxQueues;
  let ctxId = o.context === undefined ? 0 : o.context;
  if (o.delete) {
    if (ctxId === 'new' || ctxId === 0) fail('EINVAL');
    if (!nic.contexts.has(ctxId)) fail('ENOENT');
    for (const r of nic.rules.values()) if (r.context === ctxId) fail('EBUSY');
    nic.contexts.delete(ctxId);
    return ctxId;
  }
  let table: number[];
  if (o.reset) {
    table = defaultTable(queues);
  } else if (o.weights) {
    if (o.weights.length > queues) fail('EINVAL');
    const sum = o.weights.reduce((a, b) => a + b, 0);
    if (sum === 0) fail('EINVAL');
    const start = o.start ?? 0;
    // ethtool spreads entries proportionally to the weights
    table = [];
    let acc = 0;
    let q = 0;
    for (let i = 0; i < RSS_TABLE_SIZE; i++) {
      while (q < o.weights.length - 1 && i >= Math.floor(((acc + o.weights[q]!) * RSS_TABLE_SIZE) / sum)) acc += o.weights[q++]!;
      table.push(start + q);
    }
  } else {
    const start = o.start ?? 0;
    const equal = o.equal ?? queues - start;
    if (!Number.isInteger(equal) || equal < 1 || !Number.isInteger(start) || start < 0 || start + equal > queues) fail('EINVAL');
    table = Array.from({ length: RSS_TABLE_SIZE }, (_, i) => start + (i % equal));
  }
  if (ctxId === 'new') {
    ctxId = 1;
    while (nic.contexts.has(ctxId)) ctxId++;
  } else if (!nic.contexts.has(ctxId)) {
    fail('ENOENT');
  }
  nic.contexts.set(ctxId, { id: ctxId, table, configured: !o.reset });
  return ctxId;
}

/** `ethtool -N DEV flow-type ... action Q [context C] [loc L]`; returns the location. */
export function addRule(dev: NetDevice, rule: Omit<NtupleRule, 'location'> & { location?: number }): number {
  const nic = dev.nic!;
  // (the fields of another flow type's spec: ethtool's parser never sets them; a driver refuses what it cannot match)
  const v6 = rule.flowType === 'tcp6' || rule.flowType === 'udp6' || rule.flowType === 'ip6';
  const v4Fields = rule.srcIp !== undefined || rule.dstIp !== undefined;
  const v6Fields = rule.srcIp6 !== undefined || rule.dstIp6 !== undefined || rule.tclass !== undefined || rule.l4proto !== undefined;
  if (!['tcp4', 'udp4', 'ether', 'tcp6', 'udp6', 'ip6'].includes(rule.flowType)) fail('EINVAL');
  if ((v6 && v4Fields) || (!v6 && v6Fields) || (rule.l4proto !== undefined && rule.flowType !== 'ip6')) fail('EINVAL');
  if (rule.tos !== undefined && rule.flowType !== 'tcp4' && rule.flowType !== 'udp4') fail('EINVAL');
  for (const b of [rule.srcIp6, rule.srcIp6Mask, rule.dstIp6, rule.dstIp6Mask]) if (b !== undefined && (b < 0n || b >= 1n << 128n)) fail('EINVAL');
  if (rule.action !== RX_CLS_FLOW_DISC && (!Number.isInteger(rule.action) || rule.action < 0)) fail('EINVAL');
  if (rule.context !== undefined) {
    const ctx = nic.contexts.get(rule.context);
    if (!ctx) fail('EINVAL');
    if (rule.action >= 0 && rule.action + Math.max(...ctx.table) >= dev.realNumRxQueues) fail('EINVAL');
  } else if (rule.action >= dev.realNumRxQueues) {
    fail('EINVAL');
  }
  let loc = rule.location;
  if (loc === undefined) {
    // ethtool's fallback: the highest free slot (lowest priority).
    loc = NTUPLE_SLOTS - 1;
    while (loc >= 0 && nic.rules.has(loc)) loc--;
    if (loc < 0) fail('ENOSPC');
  } else if (!Number.isInteger(loc) || loc < 0 || loc >= NTUPLE_SLOTS) {
    fail('EINVAL');
  }
  nic.rules.set(loc, { ...rule, location: loc });
  return loc;
}

export function deleteRule(dev: NetDevice, location: number): void {
  if (!dev.nic!.rules.delete(location)) fail('ENOENT');
}

/** Why a queue cannot go away: AF_XDP pool, a lease, or a memory provider. */
export function queueBusy(q: RxQueue): boolean {
  return q.pool !== undefined || q.lease !== undefined || q.provider !== undefined;
}

/**
 * `ethtool -L DEV combined N` (or rx N): the checks of ethnl_set_channels in order, then
 * the new real queue count. Returns whether anything changed.
 */
export function checkChannels(dev: NetDevice, count: number): void {
  const nic = dev.nic!;
  if (!Number.isInteger(count) || count < 1 || count > nic.maxChannels) fail('EINVAL', 'requested channel count exceeds maximum');
  let maxRxfh = -1;
  for (const ctx of nic.contexts.values()) if (ctx.configured || ctx.id !== 0) maxRxfh = Math.max(maxRxfh, ...ctx.table);
  if (maxRxfh >= 0 && count <= maxRxfh) fail('EINVAL', `requested channel counts are too low for existing indirection table (${maxRxfh})`);
  let maxRule = -1;
  for (const r of nic.rules.values()) if (r.action >= 0) maxRule = Math.max(maxRule, r.action);
  if (count <= maxRule) fail('EINVAL', 'requested channel counts are too low for existing ntuple filter settings');
  for (let i = count; i < dev.rxq.length; i++) {
    if (queueBusy(dev.rxq[i]!)) fail('EINVAL', 'requested channel counts are too low due to busy queues (AF_XDP or queue leasing)');
  }
}
