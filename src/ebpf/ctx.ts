/**
 * Program contexts (spec/ebpf.md §2): the fields of `struct __sk_buff` and
 * `struct xdp_md`, and which loads/stores each program type may make on them.
 * Plain data, shared by the load-time checks, the interpreter's context region and the
 * code generator. Rules follow net/core/filter.c (`bpf_skb_is_valid_access`,
 * `tc_cls_act_is_valid_access`, `sk_filter_is_valid_access`, `xdp_is_valid_access`).
 *
 * Size rules (all program types): the offset must be a multiple of the access size.
 * A load of a u32 field may be narrow (1, 2 or 4 bytes at a naturally aligned position
 * inside the field) when `narrow` is set; otherwise a load must use one of `read`. A
 * store must use one of `write` (always the full field, except inside `cb`).
 */

/** Program types the emulator knows. `generic`: r1 = plain memory, r2 = its length (uBPF / conformance convention), every access through r1 allowed, every known helper callable. */
export type ProgType = 'socket_filter' | 'sched_cls' | 'sched_act' | 'xdp' | 'generic';

export const PROG_TYPES: readonly ProgType[] = ['socket_filter', 'sched_cls', 'sched_act', 'xdp', 'generic'];

export interface CtxField {
  readonly name: string;
  readonly off: number;
  /** Bytes the field occupies. */
  readonly size: number;
  /** Load sizes allowed at the field start; [] = not readable. */
  readonly read: readonly number[];
  /** Narrow loads (1/2 bytes of a u32, naturally aligned inside the field) allowed. */
  readonly narrow: boolean;
  /** Store sizes allowed; [] = read only. */
  readonly write: readonly number[];
  /** Any naturally aligned access of a `read`/`write` size anywhere inside the field (`cb`). */
  readonly anywhere?: boolean;
  /** The load yields a pointer (packet start/end/meta, socket), not a scalar. */
  readonly pointer?: 'pkt' | 'pkt_end' | 'pkt_meta' | 'sock_or_null';
  /**
   * Bytes the kernel's own field has when fewer than the uapi's (`target_size` of
   * bpf_convert_ctx_access): a narrow load at least this wide reads the whole value
   * wherever inside the field it is, and a store keeps only these bytes (ctx-convert.ts).
   */
  readonly width?: 1 | 2;
}

export interface CtxLayout {
  /** uapi struct name. */
  readonly struct: '__sk_buff' | 'xdp_md';
  readonly size: number;
  readonly fields: readonly CtxField[];
}

const R4 = [4] as const;
const NONE = [] as const;

/** A readable u32 field (narrow loads allowed), optionally writable with 4-byte stores. */
const u32 = (name: string, off: number, writable = false, width?: 1 | 2): CtxField =>
  ({ name, off, size: 4, read: R4, narrow: true, write: writable ? R4 : NONE, ...(width ? { width } : {}) });

/**
 * `struct __sk_buff` as seen by tc (`sched_cls` / `sched_act`; tcx and netkit are sched_cls).
 * `width`: the sk_buff's pkt_type is 3 bits, its queue_mapping, protocol, vlan_tci,
 * vlan_proto, tc_index, tc_classid (qdisc_skb_cb), gso_segs and gso_size (skb_shared_info)
 * 16 bits.
 */
export const SKB_TC: CtxLayout = {
  struct: '__sk_buff',
  size: 192,
  fields: [
    u32('len', 0),
    u32('pkt_type', 4, false, 1),
    u32('mark', 8, true),
    u32('queue_mapping', 12, true, 2),
    u32('protocol', 16, false, 2),
    u32('vlan_present', 20),
    u32('vlan_tci', 24, false, 2),
    u32('vlan_proto', 28, false, 2),
    u32('priority', 32, true),
    u32('ingress_ifindex', 36),
    u32('ifindex', 40),
    u32('tc_index', 44, true, 2),
    { name: 'cb', off: 48, size: 20, read: [1, 2, 4, 8], narrow: false, write: [1, 2, 4, 8], anywhere: true },
    u32('hash', 68),
    u32('tc_classid', 72, true, 2),
    { name: 'data', off: 76, size: 4, read: R4, narrow: false, write: NONE, pointer: 'pkt' },
    { name: 'data_end', off: 80, size: 4, read: R4, narrow: false, write: NONE, pointer: 'pkt_end' },
    u32('napi_id', 84),
    // 88..139 family .. local_port: sk_skb only.
    { name: 'data_meta', off: 140, size: 4, read: R4, narrow: false, write: NONE, pointer: 'pkt_meta' },
    // 144 flow_keys: flow dissector only.
    { name: 'tstamp', off: 152, size: 8, read: [8], narrow: false, write: [8] },
    u32('wire_len', 160),
    u32('gso_segs', 164, false, 2),
    { name: 'sk', off: 168, size: 8, read: [8], narrow: false, write: NONE, pointer: 'sock_or_null' },
    u32('gso_size', 176, false, 2),
    { name: 'tstamp_type', off: 180, size: 1, read: [1], narrow: false, write: NONE },
    // 181..183 padding.
    { name: 'hwtstamp', off: 184, size: 8, read: [8], narrow: false, write: NONE },
  ],
};

/**
 * `struct __sk_buff` as seen by socket filters: no packet pointers, no tc_classid,
 * tstamp, wire_len, hwtstamp or tstamp_type; only `cb` is writable.
 */
export const SKB_SOCKET_FILTER: CtxLayout = {
  struct: '__sk_buff',
  size: 192,
  fields: SKB_TC.fields
    .filter((f) => !['tc_classid', 'data', 'data_end', 'data_meta', 'tstamp', 'wire_len', 'hwtstamp', 'tstamp_type'].includes(f.name))
    .map((f) => (f.name === 'cb' ? f : { ...f, write: NONE })),
};

/** `struct xdp_md`: every field read-only, exactly 4-byte loads. */
export const XDP_MD: CtxLayout = {
  struct: 'xdp_md',
  size: 24,
  fields: [
    { name: 'data', off: 0, size: 4, read: R4, narrow: false, write: NONE, pointer: 'pkt' },
    { name: 'data_end', off: 4, size: 4, read: R4, narrow: false, write: NONE, pointer: 'pkt_end' },
    { name: 'data_meta', off: 8, size: 4, read: R4, narrow: false, write: NONE, pointer: 'pkt_meta' },
    { name: 'ingress_ifindex', off: 12, size: 4, read: R4, narrow: false, write: NONE },
    { name: 'rx_queue_index', off: 16, size: 4, read: R4, narrow: false, write: NONE },
    // egress_ifindex (20) only for expected attach type BPF_XDP_DEVMAP.
  ],
};

/** XDP devmap programs (expected attach type `BPF_XDP_DEVMAP`) may also read `egress_ifindex`. */
export const XDP_MD_DEVMAP: CtxLayout = {
  ...XDP_MD,
  fields: [...XDP_MD.fields, { name: 'egress_ifindex', off: 20, size: 4, read: R4, narrow: false, write: NONE }],
};

/** The context layout of a program type; undefined for `generic` (raw memory, any access). */
export function ctxLayout(type: ProgType, expectedAttachType?: string): CtxLayout | undefined {
  switch (type) {
    case 'sched_cls':
    case 'sched_act':
      return SKB_TC;
    case 'socket_filter':
      return SKB_SOCKET_FILTER;
    case 'xdp':
      // (xdp_is_valid_access: egress_ifindex for BPF_XDP_DEVMAP programs only)
      return expectedAttachType === 'xdp_devmap' ? XDP_MD_DEVMAP : XDP_MD;
    case 'generic':
      return undefined;
  }
}

/**
 * The field a context access at byte `off` of `size` bytes lands on, if the layout
 * allows it; undefined when the kernel would refuse it.
 */
export function ctxAccess(layout: CtxLayout, off: number, size: number, write: boolean): CtxField | undefined {
  if (off < 0 || off + size > layout.size || off % size !== 0) return undefined;
  const f = layout.fields.find((x) => off >= x.off && off < x.off + x.size);
  if (f === undefined || off + size > f.off + f.size) return undefined;
  const sizes = write ? f.write : f.read;
  if (f.anywhere) return sizes.includes(size) ? f : undefined;
  if (off === f.off && sizes.includes(size)) return f;
  // Narrow loads: smaller than the field, naturally aligned (already checked above).
  if (!write && f.narrow && size < f.size) return f;
  return undefined;
}
