/**
 * netkit rtnl_link_ops: newlink / changelink / fill_info / open / close, with the
 * kernel's checks in the kernel's order (spec netkit.md §1–§3).
 */

import * as A from '../abi.generated.js';
import { fail } from '../errors.js';
import type { LinkRequest, NetkitData, NetkitDataDump, NetkitMode, NetkitPairing, NetkitPolicy, NetkitScrub } from './types.js';
import { NetDevice, parseMac, validUnicastMac } from './netdev.js';
import type { Netns } from './netns.js';

export const NETKIT_NUM_RX_QUEUES_MAX = 1024;
export const NETKIT_NUM_TX_QUEUES_MAX = 1;

const POLICY = { forward: A.NETKIT_PASS, blackhole: A.NETKIT_DROP } as const;
const MODE = { l2: A.NETKIT_L2, l3: A.NETKIT_L3 } as const;
const SCRUB = { none: A.NETKIT_SCRUB_NONE, default: A.NETKIT_SCRUB_DEFAULT } as const;
const PAIRING = { pair: A.NETKIT_DEVICE_PAIR, single: A.NETKIT_DEVICE_SINGLE } as const;

function enumValue<T extends string>(field: string, v: T | number, table: Record<T, number>): number {
  if (typeof v === 'number') {
    if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) fail('EINVAL', `${field}: not a u32`);
    return v;
  }
  const n = (table as Record<string, number>)[v];
  if (n === undefined) fail('EINVAL', `${field}: unknown value "${v}" (expected ${Object.keys(table).join(', ')})`);
  return n;
}

export function policyName(v: number): NetkitPolicy {
  return v === A.NETKIT_DROP ? 'blackhole' : 'forward';
}
export function modeName(v: number): NetkitMode {
  return v === A.NETKIT_L2 ? 'l2' : 'l3';
}
export function scrubName(v: number): NetkitScrub {
  return v === A.NETKIT_SCRUB_NONE ? 'none' : 'default';
}
export function pairingName(v: number): NetkitPairing {
  return v === A.NETKIT_DEVICE_SINGLE ? 'single' : 'pair';
}

/** The parsed IFLA_INFO_DATA, after the netlink policy checks (§2.1 step 1). */
export interface NetkitAttrs {
  mode?: number;
  peerInfo?: LinkRequest;
  scrub?: number;
  peerScrub?: number;
  policy?: number;
  peerPolicy?: number;
  headroom?: number;
  tailroom?: number;
  pairing?: number;
}

/** netkit_policy: NLA_REJECT for PRIMARY, max 1 for the enums, u16 room values. */
export function parseNetkitData(data: NetkitData | undefined): NetkitAttrs {
  const out: NetkitAttrs = {};
  if (!data) return out;
  if (data.primary !== undefined) fail('EINVAL', 'Primary attribute is read-only');
  const max1 = (field: string, v: number): number => {
    if (v > 1) fail('EINVAL', 'integer out of range');
    return v;
  };
  const u16 = (field: string, v: number): number => {
    if (!Number.isInteger(v) || v < 0 || v > 0xffff) fail('EINVAL', `${field}: not a u16`);
    return v;
  };
  if (data.mode !== undefined) out.mode = max1('mode', enumValue('mode', data.mode, MODE));
  if (data.scrub !== undefined) out.scrub = max1('scrub', enumValue('scrub', data.scrub, SCRUB));
  if (data.peerScrub !== undefined) out.peerScrub = max1('peerScrub', enumValue('peerScrub', data.peerScrub, SCRUB));
  if (data.pairing !== undefined) out.pairing = max1('pairing', enumValue('pairing', data.pairing, PAIRING));
  if (data.policy !== undefined) out.policy = enumValue('policy', data.policy, POLICY);
  if (data.peerPolicy !== undefined) out.peerPolicy = enumValue('peerPolicy', data.peerPolicy, POLICY);
  if (data.headroom !== undefined) out.headroom = u16('headroom', data.headroom);
  if (data.tailroom !== undefined) out.tailroom = u16('tailroom', data.tailroom);
  if (data.peerInfo !== undefined) out.peerInfo = data.peerInfo;
  return out;
}

/** netkit_validate on the top-level attributes (§2.1 step 2). */
export function validateAddress(address: string | Uint8Array | undefined): Uint8Array | undefined {
  if (address === undefined) return undefined;
  const mac = parseMac(address);
  if (!mac || mac.length !== 6) fail('EINVAL');
  if (!validUnicastMac(mac)) fail('EADDRNOTAVAIL');
  return mac;
}

/** Core queue-count checks, then netkit's allocator limits (§1.6). */
export function checkQueues(req: LinkRequest): { tx: number; rx: number } {
  const tx = req.numTxQueues ?? 1;
  const rx = req.numRxQueues ?? 1;
  if (!Number.isInteger(tx) || tx < 1 || tx > 4096) fail('EINVAL', 'Invalid number of transmit queues');
  if (!Number.isInteger(rx) || rx < 1 || rx > 4096) fail('EINVAL', 'Invalid number of receive queues');
  if (tx > NETKIT_NUM_TX_QUEUES_MAX || rx > NETKIT_NUM_RX_QUEUES_MAX) fail('EOPNOTSUPP');
  return { tx, rx };
}

/** dev_validate_mtu */
export function checkMtu(mtu: number, min: number, max: number): void {
  if (!Number.isInteger(mtu) || mtu < 0) fail('EINVAL');
  // (dev_set_mtu takes an int: an IFLA_MTU past INT_MAX is negative, below any minimum)
  if (mtu < min || mtu > 0x7fffffff) fail('EINVAL', 'mtu less than device minimum');
  // dev_validate_mtu: a max_mtu of 0 (loopback's) sets no maximum
  if (max > 0 && mtu > max) fail('EINVAL', 'mtu greater than device maximum');
}

/** What netkit_new_link decided, before any device exists (§2.2 steps 1–4). */
export interface NetkitPlan {
  mode: number;
  policy: number;
  peerPolicy: number;
  scrub: number;
  peerScrub: number;
  headroom: number;
  tailroom: number;
  pairing: number;
  peer: LinkRequest | undefined;
}

export function planNewlink(req: LinkRequest): NetkitPlan {
  const a = parseNetkitData(req.linkinfo?.data);
  const plan: NetkitPlan = {
    mode: a.mode ?? A.NETKIT_L3,
    policy: A.NETKIT_PASS,
    peerPolicy: A.NETKIT_PASS,
    scrub: a.scrub ?? A.NETKIT_SCRUB_DEFAULT,
    peerScrub: a.peerScrub ?? A.NETKIT_SCRUB_DEFAULT,
    headroom: 0,
    tailroom: 0,
    pairing: A.NETKIT_DEVICE_PAIR,
    peer: a.peerInfo,
  };
  const checkPolicy = (v: number): number => {
    if (v !== A.NETKIT_PASS && v !== A.NETKIT_DROP) fail('EINVAL', 'Provided default xmit policy not supported');
    return v;
  };
  if (a.policy !== undefined) plan.policy = checkPolicy(a.policy);
  if (a.peerPolicy !== undefined) plan.peerPolicy = checkPolicy(a.peerPolicy);
  plan.headroom = a.headroom ?? 0;
  plan.tailroom = a.tailroom ?? 0;
  plan.pairing = a.pairing ?? A.NETKIT_DEVICE_PAIR;
  const seenScrub = a.scrub !== undefined;
  const seenPeer = a.peerInfo !== undefined || a.peerScrub !== undefined || a.peerPolicy !== undefined;
  if (plan.mode !== A.NETKIT_L2 && (req.address !== undefined || a.peerInfo?.address !== undefined)) fail('EOPNOTSUPP');
  if (plan.pairing === A.NETKIT_DEVICE_SINGLE && (a.peerInfo !== undefined || seenPeer || seenScrub || plan.policy !== A.NETKIT_PASS)) {
    fail('EOPNOTSUPP');
  }
  return plan;
}

/** changelink (§2.4). Applies POLICY then PEER_POLICY; no rollback, like the kernel. */
export function changelink(dev: NetDevice, data: NetkitData, publish: (d: NetDevice) => void): void {
  const nk = dev.netkit!;
  const a = parseNetkitData(data);
  if (!nk.primary) fail('EACCES', 'netkit link settings can be changed only through the primary device');
  const fixed: [keyof NetkitAttrs, string][] = [
    ['mode', 'operating mode'], ['scrub', 'scrubbing'], ['peerScrub', 'peer scrubbing'], ['peerInfo', 'peer info'],
    ['headroom', 'headroom'], ['tailroom', 'tailroom'], ['pairing', 'pairing'],
  ];
  for (const [key, what] of fixed) {
    if (a[key] !== undefined) fail('EACCES', `netkit link ${what} cannot be changed after device creation`);
  }
  const checkPolicy = (v: number): number => {
    if (v !== A.NETKIT_PASS && v !== A.NETKIT_DROP) fail('EINVAL', 'Provided default xmit policy not supported');
    return v;
  };
  if (a.policy !== undefined) {
    if (nk.pairing === A.NETKIT_DEVICE_SINGLE) fail('EOPNOTSUPP');
    nk.policy = checkPolicy(a.policy);
    publish(dev);
  }
  if (a.peerPolicy !== undefined) {
    const peer = nk.peer;
    if (!peer) fail('EOPNOTSUPP');
    peer.netkit!.policy = checkPolicy(a.peerPolicy);
    publish(peer);
  }
}

/** fill_info (§3): attributes in the kernel's order; single devices emit no scrub. */
export function fillInfo(dev: NetDevice): NetkitDataDump {
  const nk = dev.netkit!;
  const single = nk.pairing === A.NETKIT_DEVICE_SINGLE;
  const out: NetkitDataDump = {
    primary: nk.primary ? 1 : 0,
    policy: policyName(nk.policy),
    mode: modeName(nk.mode),
    headroom: dev.neededHeadroom,
    tailroom: dev.neededTailroom,
    pairing: pairingName(nk.pairing),
  };
  const ordered: NetkitDataDump = { primary: out.primary, policy: out.policy, mode: out.mode } as NetkitDataDump;
  if (!single) ordered.scrub = scrubName(nk.scrub);
  ordered.headroom = out.headroom;
  ordered.tailroom = out.tailroom;
  ordered.pairing = out.pairing;
  if (nk.peer) {
    ordered.peerPolicy = policyName(nk.peer.netkit!.policy);
    ordered.peerScrub = scrubName(nk.peer.netkit!.scrub);
  }
  return ordered;
}

/** The request that recreates a device from its dump (drops the read-only PRIMARY). */
export function dumpToData(d: NetkitDataDump): NetkitData {
  const { primary: _primary, ...rest } = d;
  return rest;
}

/** ndo_open (§1.7); returns the devices whose carrier changed. */
export function open(dev: NetDevice): NetDevice[] {
  const nk = dev.netkit!;
  if (nk.pairing === A.NETKIT_DEVICE_SINGLE) {
    dev.carrier = true;
    return [dev];
  }
  const peer = nk.peer;
  if (!peer) fail('ENOTCONN');
  if (peer.up) {
    dev.carrier = true;
    peer.carrier = true;
    return [dev, peer];
  }
  return [];
}

/** ndo_stop: carrier off here and on the peer. */
export function close(dev: NetDevice): NetDevice[] {
  const changed = [dev];
  dev.carrier = false;
  const peer = dev.netkit!.peer;
  if (peer) {
    peer.carrier = false;
    changed.push(peer);
  }
  return changed;
}

/** ndo_set_rx_headroom (§1.5): negative resets to NET_SKB_PAD. */
export function setRxHeadroom(dev: NetDevice, headroom: number): NetDevice[] {
  const NET_SKB_PAD = 64;
  const nk = dev.netkit!;
  nk.headroom = headroom < 0 ? NET_SKB_PAD : headroom;
  const peer = nk.peer;
  if (!peer) {
    dev.neededHeadroom = nk.headroom;
    return [dev];
  }
  const h = Math.max(nk.headroom, peer.netkit!.headroom);
  dev.neededHeadroom = h;
  peer.neededHeadroom = h;
  return [dev, peer];
}

export type { Netns };
