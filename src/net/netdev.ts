/**
 * A network device as the control plane keeps it. The dataplane sees an immutable copy
 * (the device record, abi D_*), rebuilt and published by swap after every change.
 */

import * as A from '../abi.generated.js';
import type { Netns } from './netns.js';
import type { BpfProgram } from '../ebpf/program.js';

/** enum netdev_reg_state */
export enum RegState { UNINITIALIZED = 0, REGISTERED = 1, UNREGISTERING = 2, UNREGISTERED = 3, RELEASED = 4 }

import type { MprogList } from '../ebpf/mprog.js';

export type DeviceKind = 'netkit' | 'nic' | 'loopback';

/** A real rx queue (struct netdev_rx_queue): its ring and who else holds it. */
export interface RxQueue {
  dev: NetDevice;
  index: number;
  /** Dataplane rx ring address. */
  ring: number;
  /** The other end of a queue lease (virtual → physical or physical → virtual). */
  lease?: RxQueue;
  /** An AF_XDP buffer pool bound to this queue. */
  pool?: unknown;
  /** A memory provider (io_uring zcrx, devmem) bound to this queue. */
  provider?: unknown;
}

/** netkit private state (struct netkit), control side. */
export interface NetkitState {
  primary: boolean;
  /** NETKIT_PASS or NETKIT_DROP */
  policy: number;
  scrub: number;
  mode: number;
  pairing: number;
  /** Headroom this device asked for (ndo_set_rx_headroom), netkit.md §1.5. */
  headroom: number;
  peer: NetDevice | undefined;
  /** This device's attach point (BPF_NETKIT_PRIMARY on the primary, _PEER on the peer). */
  progs: MprogList | undefined;
}

// Physical NIC state (the driver's side lives in nic.ts).

export type FlowType = 'tcp4' | 'udp4' | 'ether' | 'tcp6' | 'udp6' | 'ip6';

/** An ntuple rule as ethtool passes it (masks are "bits to match"). */
export interface NtupleRule {
  flowType: FlowType;
  location: number;
  /** Queue (or -1 to drop); with `context` a base added to the context's pick. */
  action: number;
  context?: number;
  srcIp?: number; srcIpMask?: number;
  dstIp?: number; dstIpMask?: number;
  srcPort?: number; srcPortMask?: number;
  dstPort?: number; dstPortMask?: number;
  srcMac?: Uint8Array; srcMacMask?: Uint8Array;
  dstMac?: Uint8Array; dstMacMask?: Uint8Array;
  proto?: number; protoMask?: number;
  /** tcp4, udp4: the IPv4 TOS byte. */
  tos?: number; tosMask?: number;
  /** tcp6, udp6, ip6: the IPv6 addresses (an ip6 rule's ports are its first four L4 bytes). */
  srcIp6?: bigint; srcIp6Mask?: bigint;
  dstIp6?: bigint; dstIp6Mask?: bigint;
  tclass?: number; tclassMask?: number;
  /** ip6: the next header. */
  l4proto?: number; l4protoMask?: number;
}

export interface RssContext {
  id: number;
  table: number[];
  /** Set by the user (`ethtool -X`), so channel changes must respect it. */
  configured: boolean;
}

/** Per-NIC state beyond the common device fields. */
export interface NicState {
  /** The parent bus device's name (e.g. "netdevsim1"); physical means having one. */
  parent: string;
  /** Present in the system (false once its driver started removing it). */
  present: boolean;
  maxChannels: number;
  contexts: Map<number, RssContext>;
  rules: Map<number, NtupleRule>;
  /** The native XDP program, if any. */
  xdp?: BpfProgram;
  /** AF_XDP zero-copy support in the driver, and its max segments per packet. */
  xskZeroCopy: boolean;
  xskMaxSegs: number;
}

declare module './netns.js' {
  /** A namespace holds NetDevices (see NsDeviceType). */
  interface NsDeviceType {
    device: NetDevice;
  }
}

export const ETH_MIN_MTU = 68;
export const ETH_MAX_MTU = 65535;
export const GSO_MAX_SIZE = 65536;
export const GSO_MAX_SEGS = 65535;

export class NetDevice {
  /** Dataplane slot (index in the device table). */
  readonly slot: number;
  readonly kind: DeviceKind;
  ifindex: number;
  name: string;
  netns: Netns;
  regState = RegState.UNINITIALIZED;
  /** Queued on an unregister batch. */
  queued = false;
  /** The namespace whose pending unregistration list holds this device, if any. */
  pendingIn: Netns | undefined;
  /** Administrative state (IFF_UP). */
  up = false;
  private carrierOn = false;
  /**
   * IFLA_CARRIER_CHANGES: netif_carrier_on/off count a transition only once the device is
   * registered (`ip -s -s link` prints it as `transns`).
   */
  carrierChanges = 0;
  /**
   * dev_activate attached the device's qdisc (noqueue: netkit, veth and loopback are
   * IFF_NO_QUEUE) at its first open; dev_deactivate leaves it, so only a device never
   * opened shows `noop`.
   */
  activated = false;
  /** Static IFF_* bits (BROADCAST, MULTICAST, NOARP, LOOPBACK). */
  baseFlags: number;
  mtu: number;
  minMtu: number;
  maxMtu: number;
  mac: Uint8Array;
  txqlen: number;
  numTxQueues: number;
  numRxQueues: number;
  neededHeadroom = 0;
  neededTailroom = 0;
  /** Real rx queues (real_num_rx_queues of them), each with its dataplane ring. */
  rxq: RxQueue[] = [];
  /** Dataplane tx ring (frames the stack hands to xmit). */
  txRing = 0;
  /** NIC only: ring of frames arriving from the wire, and per-queue counters. */
  wireRing = 0;
  qstats = 0;
  rxSink: number = A.SINK_STACK;
  /** CAP_DIR_* bits: capture traffic leaving / entering this device. */
  capture = 0;
  netkit: NetkitState | undefined;
  /** tcx ingress programs (BPF_TCX_INGRESS), run when a frame enters the device. */
  tcxIngress: MprogList | undefined;
  /** tcx egress programs (BPF_TCX_EGRESS), run before the device transmits a frame. */
  tcxEgress: MprogList | undefined;
  nic: NicState | undefined;

  constructor(o: {
    slot: number; kind: DeviceKind; name: string; netns: Netns; baseFlags: number; mtu: number; minMtu: number; maxMtu: number;
    mac: Uint8Array; txqlen: number; numTxQueues: number; numRxQueues: number;
  }) {
    this.slot = o.slot;
    this.kind = o.kind;
    this.name = o.name;
    this.netns = o.netns;
    this.ifindex = 0;
    this.baseFlags = o.baseFlags;
    this.mtu = o.mtu;
    this.minMtu = o.minMtu;
    this.maxMtu = o.maxMtu;
    this.mac = o.mac;
    this.txqlen = o.txqlen;
    this.numTxQueues = o.numTxQueues;
    this.numRxQueues = o.numRxQueues;
  }

  get realNumRxQueues(): number {
    return this.rxq.length;
  }

  /** Physical: has a parent bus device (dev->dev.parent). */
  get physical(): boolean {
    return this.nic !== undefined;
  }

  get carrier(): boolean {
    return this.carrierOn;
  }

  set carrier(on: boolean) {
    if (on !== this.carrierOn && this.regState === RegState.REGISTERED) this.carrierChanges++;
    this.carrierOn = on;
  }

  /** IFF_* flags as the kernel reports them (dev_get_flags). */
  get flags(): number {
    let f = this.baseFlags;
    if (this.up) {
      f |= A.IFF_UP;
      if (this.carrier) f |= A.IFF_RUNNING | A.IFF_LOWER_UP;
    }
    return f;
  }

  get noarp(): boolean {
    return (this.baseFlags & A.IFF_NOARP) !== 0;
  }

  /**
   * RFC 2863 operstate as rtnl_fill_ifinfo reports it: DOWN when not running, else
   * default_operstate — without carrier, LOWERLAYERDOWN when the device its iflink names
   * (looked up in this device's own namespace) has no carrier either, as a netkit or veth
   * whose peer is down.
   */
  get operstate(): 'UP' | 'DOWN' | 'UNKNOWN' | 'LOWERLAYERDOWN' {
    if (this.kind === 'loopback') return this.up ? 'UNKNOWN' : 'DOWN';
    if (!this.up) return 'DOWN';
    if (this.carrier) return 'UP';
    const iflink = this.iflink;
    if (iflink === this.ifindex) return 'DOWN';
    const lower = this.netns.find(iflink);
    return lower && !lower.carrier ? 'LOWERLAYERDOWN' : 'DOWN';
  }

  /** iflink: the peer's ifindex for netkit (0 without a peer), own ifindex otherwise. */
  get iflink(): number {
    if (this.netkit) return this.netkit.peer?.ifindex ?? 0;
    return this.ifindex;
  }
}

export function macString(mac: Uint8Array): string {
  return Array.from(mac, (b) => b.toString(16).padStart(2, '0')).join(':');
}

export function parseMac(v: string | Uint8Array): Uint8Array | undefined {
  if (v instanceof Uint8Array) return v;
  const parts = v.split(':');
  if (parts.length !== 6 || parts.some((p) => !/^[0-9a-fA-F]{1,2}$/.test(p))) return undefined;
  return Uint8Array.from(parts.map((p) => parseInt(p, 16)));
}

/** is_valid_ether_addr: not multicast, not all-zero. */
export function validUnicastMac(mac: Uint8Array): boolean {
  return (mac[0]! & 1) === 0 && mac.some((b) => b !== 0);
}

export { validName } from './netns.js';
