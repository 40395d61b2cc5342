/**
 * Request and dump shapes of the link API. They mirror RTM_NEWLINK/RTM_GETLINK
 * attributes (IFLA_*, IFLA_NETKIT_*), so a dump's `linkinfo.data` can be fed back into
 * a create request.
 */

/** netkit default policy: `forward` = NETKIT_PASS (0), `blackhole` = NETKIT_DROP (2). */
export type NetkitPolicy = 'forward' | 'blackhole';
export type NetkitMode = 'l2' | 'l3';
export type NetkitScrub = 'none' | 'default';
export type NetkitPairing = 'pair' | 'single';

/** IFLA_INFO_DATA for kind "netkit". Names or the uapi numbers are accepted. */
export interface NetkitData {
  /** IFLA_NETKIT_PRIMARY: read-only, present in dumps, rejected in requests. */
  primary?: boolean | number;
  policy?: NetkitPolicy | number;
  peerPolicy?: NetkitPolicy | number;
  mode?: NetkitMode | number;
  scrub?: NetkitScrub | number;
  peerScrub?: NetkitScrub | number;
  headroom?: number;
  tailroom?: number;
  pairing?: NetkitPairing | number;
  /** IFLA_NETKIT_PEER_INFO: the peer's own link attributes. */
  peerInfo?: LinkRequest;
}

export interface LinkInfo {
  kind: 'netkit';
  data?: NetkitData;
}

/** RTM_NEWLINK attributes (create) — also used for the peer inside peerInfo. */
export interface LinkRequest {
  /** IFLA_IFNAME; may be a `%d` template. Default `nk%d` for netkit. */
  ifname?: string;
  /** ifinfomsg.ifi_index: request a specific ifindex (EBUSY when taken). */
  ifindex?: number;
  mtu?: number;
  /** IFLA_ADDRESS, `aa:bb:cc:dd:ee:ff` or 6 bytes. */
  address?: string | Uint8Array;
  numRxQueues?: number;
  numTxQueues?: number;
  txqlen?: number;
  /** Namespace (by name) to create the device in; default: the caller's. */
  netns?: string;
  linkinfo?: LinkInfo;
}

/** RTM_NEWLINK on an existing device (`ip link set`). */
export interface LinkChange {
  up?: boolean;
  mtu?: number;
  ifname?: string;
  address?: string | Uint8Array;
  txqlen?: number;
  /** Move to this namespace (by name). */
  netns?: string;
  /** IFLA_INFO_DATA for changelink. */
  data?: NetkitData;
  /** IFLA_INET6_ADDR_GEN_MODE: how the next IPv6 link-local address is made. */
  addrgenmode?: 'eui64' | 'none' | 'stable_secret' | 'random';
}

/** Dump of one device (RTM_GETLINK), in the caller's namespace view. */
export interface LinkDump {
  ifindex: number;
  ifname: string;
  flags: string[];
  /** Raw IFF_* bits as the kernel reports them (admin + operational). */
  rawFlags: number;
  mtu: number;
  minMtu: number;
  maxMtu: number;
  qdisc: string;
  operstate: 'UP' | 'DOWN' | 'UNKNOWN' | 'LOWERLAYERDOWN';
  linkmode: 'DEFAULT' | 'DORMANT';
  group: string;
  txqlen: number;
  linkType: 'ether' | 'loopback';
  /** IFLA_INET6_ADDR_GEN_MODE (`addrgenmode` under -d). */
  addrGenMode: 'eui64' | 'none' | 'stable_secret' | 'random';
  address: string;
  broadcast: string;
  /** ifindex of the peer (iflink), 0 when none. */
  link?: number;
  /** The peer's name when it lives in the same namespace. */
  linkName?: string;
  /** nsid of the peer's namespace as seen from this one, when it differs. */
  linkNetnsid?: number;
  numTxQueues: number;
  numRxQueues: number;
  realNumRxQueues: number;
  gsoMaxSize: number;
  gsoMaxSegs: number;
  tsoMaxSize: number;
  tsoMaxSegs: number;
  groMaxSize: number;
  kind?: string;
  /** fill_info attributes, in the kernel's order (netkit.md §3). */
  data?: NetkitDataDump;
  stats: LinkStats;
  /** IFLA_CARRIER_CHANGES. */
  carrierChanges: number;
}

/** IFLA_INFO_DATA as fill_info emits it (names as ynl prints them). */
export interface NetkitDataDump {
  primary: number;
  policy: NetkitPolicy;
  mode: NetkitMode;
  scrub?: NetkitScrub;
  headroom: number;
  tailroom: number;
  pairing: NetkitPairing;
  peerPolicy?: NetkitPolicy;
  peerScrub?: NetkitScrub;
}

/** rtnl_link_stats64 subset plus the emulator's drop reasons. */
export interface LinkStats {
  rxPackets: bigint;
  rxBytes: bigint;
  txPackets: bigint;
  txBytes: bigint;
  rxDropped: bigint;
  txDropped: bigint;
  rxErrors: bigint;
  txErrors: bigint;
  multicast: bigint;
  /** Drops by reason (only non-zero reasons). */
  dropReasons: Record<string, bigint>;
}

// Frames between the stacks and the dataplane (the host's packet I/O, net/traffic.ts).

/** skb fields a sender sets (SO_MARK, SO_PRIORITY, the protocol of the frame). */
export interface FrameMeta {
  mark?: number;
  priority?: number;
  tstamp?: bigint;
  /** EtherType in host order; default: read from the frame. */
  protocol?: number;
  /**
   * Shared-memory address of a received frame these bytes came from: the frame is sent
   * from that buffer (zero-copy forwarding, as the kernel forwards an skb with its
   * pages) instead of a fresh one. Set by the stack's forwarding path.
   */
  buffer?: number;
}

/** skb fields a receiver sees. */
export interface RxMeta {
  mark: number;
  priority: number;
  pktType: number;
  tstamp: bigint;
  ifindex: number;
  protocol: number;
  /** rx queue the frame was received on (skb->queue_mapping). */
  queue: number;
  /** The flow hash the NIC's RSS gave it (skb->hash; 0 when it is not IPv4). */
  hash: number;
  /** Shared-memory address of the frame's data (zero-copy checks). */
  addr: number;
  /** The frame's buffer came from a memory provider (FMF_PROVIDER). */
  providerBuffer?: boolean;
}
