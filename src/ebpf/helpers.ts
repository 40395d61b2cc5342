/**
 * Helper functions (spec/ebpf.md §3): ids and names of `enum bpf_func_id` (frozen at 211),
 * and for the helpers the emulator knows, their argument count and which program types
 * may call them (net/core/filter.c `*_func_proto`, `bpf_base_func_proto`). Plain data,
 * shared by the load-time checks, the interpreter and the code generator.
 */

import type { ProgType } from './ctx.js';
import * as A from '../abi.generated.js';
import type { Errno } from '../errors.js';

/**
 * Kernel functions (kfuncs: `extern ... __ksym` calls, src_reg 2) the emulator has, by
 * name, with nkemu's ids (the kernel's are vmlinux BTF ids) and the program types that may
 * call them. bpf_cast_to_kern_ctx gives a tc program the kernel's sk_buff (and its dev).
 * `devBound`: the XDP RX metadata kfuncs, which the kernel takes only in a device-bound
 * program (BPF_F_XDP_DEV_BOUND_ONLY with prog_ifindex); nkemu loads none, so its verifier
 * refuses them as the kernel refuses them in any other program (add_kfunc_call:
 * "metadata kfuncs require device-bound program", EINVAL, before it walks the program).
 */
export interface Kfunc {
  id: number;
  types: readonly ProgType[];
  devBound?: boolean;
  /**
   * Arguments (r1..): `ctx` the program's context, unmodified; `scalar` anything;
   * `dynptr` a 16-byte `struct bpf_dynptr` on the stack at a constant offset; `mem_opt` a
   * buffer or NULL (not followed); `szk` a known constant. Default: [`ctx`].
   */
  args?: readonly ('ctx' | 'scalar' | 'dynptr' | 'mem_opt' | 'szk')[];
  /** r0: `int` an unknown scalar; otherwise an untyped pointer (checked at run time). */
  ret?: 'int';
  /** The kernel's refusal of any call of it (errno, line), as recorded on its kernel. */
  refused?: readonly [Errno, string];
}

export const KFUNCS: ReadonlyMap<string, Kfunc> = new Map<string, Kfunc>([
  ['bpf_cast_to_kern_ctx', { id: A.KFUNC_CAST_TO_KERN_CTX, types: ['sched_cls'] as ProgType[] }],
  // Dynptrs over the packet (assembly/ebpf/dynptr.ts); bpf_dynptr_read/_write are helpers 201/202.
  ['bpf_dynptr_from_skb', { id: A.KFUNC_DYNPTR_FROM_SKB, types: ['sched_cls', 'sched_act'] as ProgType[], args: ['ctx', 'scalar', 'dynptr'], ret: 'int' }],
  ['bpf_dynptr_from_xdp', { id: A.KFUNC_DYNPTR_FROM_XDP, types: ['xdp'] as ProgType[], args: ['ctx', 'scalar', 'dynptr'], ret: 'int' }],
  ['bpf_dynptr_slice', { id: A.KFUNC_DYNPTR_SLICE, types: ['sched_cls', 'sched_act', 'xdp'] as ProgType[], args: ['dynptr', 'scalar', 'mem_opt', 'szk'] }],
  // (6.18 as libbpf 1.1 loads it refuses every call, EPERM; kernel-recorded: kfunc_dynptr_rdwr.c)
  ['bpf_dynptr_slice_rdwr', { id: A.KFUNC_DYNPTR_SLICE_RDWR, types: ['sched_cls', 'sched_act', 'xdp'] as ProgType[], args: ['dynptr', 'scalar', 'mem_opt', 'szk'], refused: ['EPERM', 'bpf_dynptr_slice_rdwr() is not allowed'] }],
  ['bpf_xdp_metadata_rx_timestamp', { id: A.KFUNC_XDP_METADATA_RX_TIMESTAMP, types: ['xdp'] as ProgType[], devBound: true }],
  ['bpf_xdp_metadata_rx_hash', { id: A.KFUNC_XDP_METADATA_RX_HASH, types: ['xdp'] as ProgType[], devBound: true }],
  ['bpf_xdp_metadata_rx_vlan_tag', { id: A.KFUNC_XDP_METADATA_RX_VLAN_TAG, types: ['xdp'] as ProgType[], devBound: true }],
]);

/** A kfunc's name from nkemu's id. */
export function kfuncName(id: number): string | undefined {
  for (const [name, k] of KFUNCS) if (k.id === id) return name;
  return undefined;
}

/** `enum bpf_func_id` names by id (`bpf_` prefix omitted, as in the uapi FN() list). */
export const HELPER_NAMES: readonly string[] = [
  'unspec', 'map_lookup_elem', 'map_update_elem', 'map_delete_elem', 'probe_read', 'ktime_get_ns',
  'trace_printk', 'get_prandom_u32', 'get_smp_processor_id', 'skb_store_bytes', 'l3_csum_replace',
  'l4_csum_replace', 'tail_call', 'clone_redirect', 'get_current_pid_tgid', 'get_current_uid_gid',
  'get_current_comm', 'get_cgroup_classid', 'skb_vlan_push', 'skb_vlan_pop', 'skb_get_tunnel_key',
  'skb_set_tunnel_key', 'perf_event_read', 'redirect', 'get_route_realm', 'perf_event_output',
  'skb_load_bytes', 'get_stackid', 'csum_diff', 'skb_get_tunnel_opt', 'skb_set_tunnel_opt',
  'skb_change_proto', 'skb_change_type', 'skb_under_cgroup', 'get_hash_recalc', 'get_current_task',
  'probe_write_user', 'current_task_under_cgroup', 'skb_change_tail', 'skb_pull_data', 'csum_update',
  'set_hash_invalid', 'get_numa_node_id', 'skb_change_head', 'xdp_adjust_head', 'probe_read_str',
  'get_socket_cookie', 'get_socket_uid', 'set_hash', 'setsockopt', 'skb_adjust_room', 'redirect_map',
  'sk_redirect_map', 'sock_map_update', 'xdp_adjust_meta', 'perf_event_read_value',
  'perf_prog_read_value', 'getsockopt', 'override_return', 'sock_ops_cb_flags_set', 'msg_redirect_map',
  'msg_apply_bytes', 'msg_cork_bytes', 'msg_pull_data', 'bind', 'xdp_adjust_tail', 'skb_get_xfrm_state',
  'get_stack', 'skb_load_bytes_relative', 'fib_lookup', 'sock_hash_update', 'msg_redirect_hash',
  'sk_redirect_hash', 'lwt_push_encap', 'lwt_seg6_store_bytes', 'lwt_seg6_adjust_srh', 'lwt_seg6_action',
  'rc_repeat', 'rc_keydown', 'skb_cgroup_id', 'get_current_cgroup_id', 'get_local_storage',
  'sk_select_reuseport', 'skb_ancestor_cgroup_id', 'sk_lookup_tcp', 'sk_lookup_udp', 'sk_release',
  'map_push_elem', 'map_pop_elem', 'map_peek_elem', 'msg_push_data', 'msg_pop_data', 'rc_pointer_rel',
  'spin_lock', 'spin_unlock', 'sk_fullsock', 'tcp_sock', 'skb_ecn_set_ce', 'get_listener_sock',
  'skc_lookup_tcp', 'tcp_check_syncookie', 'sysctl_get_name', 'sysctl_get_current_value',
  'sysctl_get_new_value', 'sysctl_set_new_value', 'strtol', 'strtoul', 'sk_storage_get',
  'sk_storage_delete', 'send_signal', 'tcp_gen_syncookie', 'skb_output', 'probe_read_user',
  'probe_read_kernel', 'probe_read_user_str', 'probe_read_kernel_str', 'tcp_send_ack',
  'send_signal_thread', 'jiffies64', 'read_branch_records', 'get_ns_current_pid_tgid', 'xdp_output',
  'get_netns_cookie', 'get_current_ancestor_cgroup_id', 'sk_assign', 'ktime_get_boot_ns', 'seq_printf',
  'seq_write', 'sk_cgroup_id', 'sk_ancestor_cgroup_id', 'ringbuf_output', 'ringbuf_reserve',
  'ringbuf_submit', 'ringbuf_discard', 'ringbuf_query', 'csum_level', 'skc_to_tcp6_sock',
  'skc_to_tcp_sock', 'skc_to_tcp_timewait_sock', 'skc_to_tcp_request_sock', 'skc_to_udp6_sock',
  'get_task_stack', 'load_hdr_opt', 'store_hdr_opt', 'reserve_hdr_opt', 'inode_storage_get',
  'inode_storage_delete', 'd_path', 'copy_from_user', 'snprintf_btf', 'seq_printf_btf',
  'skb_cgroup_classid', 'redirect_neigh', 'per_cpu_ptr', 'this_cpu_ptr', 'redirect_peer',
  'task_storage_get', 'task_storage_delete', 'get_current_task_btf', 'bprm_opts_set',
  'ktime_get_coarse_ns', 'ima_inode_hash', 'sock_from_file', 'check_mtu', 'for_each_map_elem', 'snprintf',
  'sys_bpf', 'btf_find_by_name_kind', 'sys_close', 'timer_init', 'timer_set_callback', 'timer_start',
  'timer_cancel', 'get_func_ip', 'get_attach_cookie', 'task_pt_regs', 'get_branch_snapshot',
  'trace_vprintk', 'skc_to_unix_sock', 'kallsyms_lookup_name', 'find_vma', 'loop', 'strncmp',
  'get_func_arg', 'get_func_ret', 'get_func_arg_cnt', 'get_retval', 'set_retval', 'xdp_get_buff_len',
  'xdp_load_bytes', 'xdp_store_bytes', 'copy_from_user_task', 'skb_set_tstamp', 'ima_file_hash',
  'kptr_xchg', 'map_lookup_percpu_elem', 'skc_to_mptcp_sock', 'dynptr_from_mem', 'ringbuf_reserve_dynptr',
  'ringbuf_submit_dynptr', 'ringbuf_discard_dynptr', 'dynptr_read', 'dynptr_write', 'dynptr_data',
  'tcp_raw_gen_syncookie_ipv4', 'tcp_raw_gen_syncookie_ipv6', 'tcp_raw_check_syncookie_ipv4',
  'tcp_raw_check_syncookie_ipv6', 'ktime_get_tai_ns', 'user_ringbuf_drain', 'cgrp_storage_get',
  'cgrp_storage_delete',
];

/** `__BPF_FUNC_MAX_ID`: ids at or above it are "invalid func". */
export const HELPER_MAX_ID = HELPER_NAMES.length;

export interface HelperInfo {
  readonly id: number;
  /** Name without the `bpf_` prefix. */
  readonly name: string;
  /** Registers r1.. the implementation reads (the verifier checks those HELPER_PROTOS declares: trace_printk's r3..r5 are not). */
  readonly args: number;
  /** Program types whose func_proto returns this helper (`generic` allows every helper listed here). */
  readonly types: readonly ProgType[];
  /** Requires a GPL-compatible license. */
  readonly gpl?: boolean;
  /** May move or reallocate the packet (✱ in the spec): packet pointers die, ctx pointer fields must be refreshed. */
  readonly pktChanging?: boolean;
}

const ALL: readonly ProgType[] = ['socket_filter', 'sched_cls', 'sched_act', 'xdp'];
const SKF_TC_XDP = ALL;
const TC: readonly ProgType[] = ['sched_cls', 'sched_act'];
const TC_XDP: readonly ProgType[] = ['sched_cls', 'sched_act', 'xdp'];
const SKF_TC: readonly ProgType[] = ['socket_filter', 'sched_cls', 'sched_act'];
const XDP: readonly ProgType[] = ['xdp'];

type Row = [id: number, args: number, types: readonly ProgType[], flags?: 'gpl' | 'pkt'];

// Availability: `bpf_base_func_proto` helpers are ALL; the rest from the per-type tables.
const ROWS: readonly Row[] = [
  [1, 2, ALL], [2, 4, ALL], [3, 2, ALL], [5, 0, ALL], [6, 5, ALL, 'gpl'], [7, 0, ALL], [8, 0, ALL],
  [9, 5, TC, 'pkt'], [10, 5, TC, 'pkt'], [11, 5, TC, 'pkt'], [12, 3, ALL], [13, 3, TC, 'pkt'],
  [17, 1, ALL], [18, 3, TC, 'pkt'], [19, 1, TC, 'pkt'], [20, 4, TC], [21, 4, TC], [23, 2, TC_XDP],
  [24, 1, TC], [25, 5, SKF_TC_XDP, 'gpl'], [26, 4, SKF_TC], [28, 5, TC_XDP], [29, 3, TC], [30, 3, TC],
  [31, 3, TC, 'pkt'], [32, 2, TC], [33, 3, TC], [34, 1, TC], [38, 3, TC, 'pkt'], [39, 2, TC, 'pkt'],
  [40, 2, TC], [41, 1, TC], [42, 0, ALL], [43, 3, TC, 'pkt'], [44, 2, XDP, 'pkt'], [46, 1, SKF_TC],
  [47, 1, SKF_TC], [48, 2, TC], [50, 4, TC, 'pkt'], [51, 3, XDP], [54, 2, XDP, 'pkt'], [65, 2, XDP, 'pkt'],
  [66, 5, TC], [68, 5, SKF_TC], [69, 4, TC_XDP, 'gpl'], [79, 1, TC], [83, 2, TC], [84, 5, TC_XDP], [85, 5, TC_XDP],
  [86, 1, TC_XDP], [87, 3, ALL], [88, 2, ALL], [89, 2, ALL], [93, 1, ALL], [94, 1, ALL], [95, 1, TC],
  [96, 1, TC], [97, 1, TC], [98, 1, TC], [99, 5, TC_XDP], [100, 5, TC_XDP], [110, 5, TC_XDP],
  [122, 1, SKF_TC], [124, 3, TC], [125, 0, ALL], [130, 4, ALL], [131, 3, ALL], [132, 2, ALL], [133, 2, ALL],
  [134, 2, ALL], [135, 2, TC], [151, 1, TC], [152, 4, TC], [155, 2, TC], [160, 0, ALL], [163, 5, TC_XDP],
  [164, 4, ALL], [165, 5, ALL, 'gpl'], [169, 3, ALL], [170, 2, ALL], [171, 3, ALL], [172, 1, ALL],
  [181, 4, ALL], [182, 3, ALL], [188, 1, XDP], [189, 4, XDP], [190, 4, XDP], [192, 3, TC],
  [194, 2, ALL], [195, 3, ALL], [197, 4, ALL], [198, 4, ALL], [199, 2, ALL], [200, 2, ALL], [201, 5, ALL],
  [202, 5, ALL], [203, 3, ALL], [204, 3, TC_XDP], [205, 3, TC_XDP], [206, 2, TC_XDP], [207, 2, TC_XDP],
  [208, 0, ALL],
];

/** The helpers the emulator knows, by id. */
export const HELPERS: ReadonlyMap<number, HelperInfo> = new Map(
  ROWS.map(([id, args, types, flag]) => [
    id,
    { id, name: HELPER_NAMES[id]!, args, types, gpl: flag === 'gpl' || undefined, pktChanging: flag === 'pkt' || undefined },
  ]),
);

// How nkemu's implementations (assembly/ebpf/helpers.ts) use the run record: facts the
// code generator and the load-time checks rely on, kept next to each other here and
// checked against those implementations by test/ebpf/helper-facts.test.ts (a change to a
// helper's body that breaks one of them fails there).

/**
 * Helpers that only read r1..r5 and set r0: no callbacks, no tail call, the packet neither
 * moved nor resized. Compiled calls to them hand over just those registers.
 */
export const PLAIN_HELPERS: ReadonlySet<number> = new Set([1, 2, 3, 5, 6, 7, 8, 9, 10, 11, 20, 21, 23, 25, 26, 28, 29, 30, 33, 34, 41, 48, 51, 66, 69, 87, 88, 89, 97, 122, 130, 131, 132, 133, 134, 135, 155, 163, 165, 192, 195]);

/**
 * Helpers that move or resize the packet (`setPacket`) but otherwise behave like plain
 * ones (vlan_push/pop, change_proto, change_tail, change_head, adjust_room, xdp_adjust_head/tail/meta):
 * r1..r5 in, r0 out, then the packet's new bounds.
 */
export const PACKET_MOVING_HELPERS: ReadonlySet<number> = new Set([18, 19, 31, 38, 43, 44, 50, 54, 65]);

/**
 * Helpers whose run leaves per-thread state for the next run's: trace_printk (the order of
 * the thread's trace ring) and get_prandom_u32 (the run context's generator).
 */
export const THREAD_STATE_HELPERS: ReadonlySet<number> = new Set([6, 7]);

/**
 * Helpers that keep state on the packet in the run record (the tunnel metadata of
 * skb_set_tunnel_key / skb_get_tunnel_key and their options, csum_level's checksum state), for the packet's
 * later programs: batch code runs its packets on one record, so programs calling them run
 * one packet at a time.
 */
export const PACKET_STATE_HELPERS: ReadonlySet<number> = new Set([20, 21, 29, 30, 135]);

/** bpf_tail_call: the run goes on in another program (one the caller's list does not name). */
export const TAIL_CALL = 12;

/**
 * Helpers that may get the context in r1 without reading it: they work on the packet and
 * the frame through the run record, at most writing context fields.
 */
export const CTX_ARG_NOT_READ: ReadonlySet<number> = new Set([9, 10, 11, 18, 19, 20, 21, 26, 29, 30, 31, 33, 34, 38, 39, 41, 43, 48, 50, 66, 69, 135, 192]);

/** The kernel's `func_id_name()`: `bpf_<name>`, or `unknown` outside the enum. */
export function helperName(id: number): string {
  return id >= 0 && id < HELPER_MAX_ID ? `bpf_${HELPER_NAMES[id]!}` : 'unknown';
}

/** Whether a program of `type` may call helper `id`. */
export function helperAllowed(id: number, type: ProgType): boolean {
  const h = HELPERS.get(id);
  if (h === undefined) return false;
  return type === 'generic' || h.types.includes(type);
}

/**
 * An argument type of a helper's `bpf_func_proto` (enum bpf_arg_type with its flags), as
 * check_func_arg reads it. `anything`: ARG_ANYTHING (any initialised register). The `_or_null`
 * ones take a scalar 0 too (PTR_MAYBE_NULL); `uninit_*` ones are written by the helper
 * (MEM_UNINIT); `mem` is ARG_PTR_TO_MEM | MEM_RDONLY (the helper reads it), `mem_rw` ARG_PTR_TO_MEM (it
 * may write it too: the stack bounds are checked as a write);
 * `size`/`size_or_zero` are ARG_CONST_SIZE[_OR_ZERO], the size of the argument before them;
 * `fixed:N` is ARG_PTR_TO_FIXED_SIZE_MEM of N bytes (arg_size); the socket, lock, timer,
 * callback, dynptr and kptr ones name objects nkemu's verifier does not follow.
 */
export type ArgType =
  | 'anything' | 'ctx' | 'ctx_or_null' | 'map_ptr' | 'map_key' | 'map_value' | 'uninit_map_value'
  | 'mem' | 'mem_rw' | 'mem_or_null' | 'uninit_mem' | 'uninit_mem_or_null' | 'size' | 'size_or_zero' | 'alloc_size_or_zero'
  | `fixed:${number}` | 'sock_common' | 'btf_sock_common' | 'btf_sock_common_release' | 'spin_lock' | 'ringbuf_mem_release'
  | 'func' | 'stack_or_null' | 'const_str' | 'timer' | 'dynptr' | 'dynptr_uninit' | 'dynptr_release' | 'kptr' | 'btf_id_or_null_release';

/**
 * What a helper returns (enum bpf_return_type): r0 after the call. `integer` is an unknown
 * scalar; `void` leaves r0 uninitialised (check_helper_call marks it NOT_INIT: reading it
 * is `R0 !read_ok`); the `_or_null` pointers must be compared with 0 before use.
 */
export type RetType =
  | 'integer' | 'void' | 'map_value_or_null' | 'socket_or_null' | 'tcp_sock_or_null' | 'sock_common_or_null'
  | 'ringbuf_mem_or_null' | 'dynptr_mem_or_null' | 'btf_id_or_null';

export interface HelperProto {
  readonly ret: RetType;
  /** arg1_type.. in order; registers past the last are ARG_DONTCARE: never read. */
  readonly args: readonly ArgType[];
  /** `.pkt_access`: a packet pointer may be passed as memory (may_access_direct_pkt_data). */
  readonly pkt?: boolean;
}

const P = (ret: RetType, args: ArgType[], pkt?: boolean): HelperProto => ({ ret, args, ...(pkt ? { pkt } : {}) });
const CTX_ONLY = P('integer', ['ctx']);
const CTX_ANY = P('integer', ['ctx', 'anything']);
const CTX_ANY2 = P('integer', ['ctx', 'anything', 'anything']);
const NONE = P('integer', []);
// (the tuple's size may be 0: this kernel accepts a zero-sized tuple)
const SK_LOOKUP = (ret: RetType): HelperProto => P(ret, ['ctx', 'mem', 'size_or_zero', 'anything', 'anything'], true);
const SYNCOOKIE = P('integer', ['btf_sock_common', 'mem', 'size', 'mem', 'size'], true);

/**
 * The kernel's `bpf_func_proto` of every helper nkemu implements, by id (facts from
 * kernel/bpf/helpers.c, net/core/filter.c, kernel/trace/bpf_trace.c, kernel/bpf/ringbuf.c
 * and friends, for the program types nkemu runs). The verifier checks a call's arguments
 * against it: a declared register must be initialised and of an accepted type, an
 * undeclared one is not read (bpf_trace_printk declares 2: its format arguments in r3..r5
 * are the implementation's, not the verifier's).
 */
export const HELPER_PROTOS: ReadonlyMap<number, HelperProto> = new Map<number, HelperProto>([
  [1, P('map_value_or_null', ['map_ptr', 'map_key'], true)],
  [2, P('integer', ['map_ptr', 'map_key', 'map_value', 'anything'], true)],
  [3, P('integer', ['map_ptr', 'map_key'], true)],
  [5, NONE],
  [6, P('integer', ['mem', 'size'])],
  [7, NONE],
  [8, NONE],
  [9, P('integer', ['ctx', 'anything', 'mem', 'size', 'anything'])],
  [10, P('integer', ['ctx', 'anything', 'anything', 'anything', 'anything'])],
  [11, P('integer', ['ctx', 'anything', 'anything', 'anything', 'anything'])],
  [12, P('void', ['ctx', 'map_ptr', 'anything'])],
  [13, CTX_ANY2],
  [17, CTX_ONLY],
  [18, CTX_ANY2],
  [19, CTX_ONLY],
  [20, P('integer', ['ctx', 'uninit_mem', 'size', 'anything'])],
  [21, P('integer', ['ctx', 'mem', 'size', 'anything'])],
  [23, P('integer', ['anything', 'anything'])],
  [24, CTX_ONLY],
  [25, P('integer', ['ctx', 'map_ptr', 'anything', 'mem', 'size_or_zero'])],
  [26, P('integer', ['ctx', 'anything', 'uninit_mem', 'size'])],
  [28, P('integer', ['mem_or_null', 'size_or_zero', 'mem_or_null', 'size_or_zero', 'anything'], true)],
  [29, P('integer', ['ctx', 'uninit_mem', 'size'])],
  [30, P('integer', ['ctx', 'mem', 'size'])],
  [31, CTX_ANY2],
  [32, CTX_ANY],
  [33, P('integer', ['ctx', 'map_ptr', 'anything'])],
  [34, CTX_ONLY],
  [38, CTX_ANY2],
  [39, CTX_ANY],
  [40, CTX_ANY],
  [41, CTX_ONLY],
  [42, NONE],
  [43, CTX_ANY2],
  [44, CTX_ANY],
  [46, CTX_ONLY],
  [47, CTX_ONLY],
  [48, CTX_ANY],
  [50, P('integer', ['ctx', 'anything', 'anything', 'anything'])],
  [51, P('integer', ['map_ptr', 'anything', 'anything'])],
  [54, CTX_ANY],
  [65, CTX_ANY],
  [66, P('integer', ['ctx', 'anything', 'uninit_mem', 'size', 'anything'])],
  [68, P('integer', ['ctx', 'anything', 'uninit_mem', 'size', 'anything'])],
  [69, P('integer', ['ctx', 'mem_rw', 'size', 'anything'])],
  [79, CTX_ONLY],
  [83, CTX_ANY],
  [84, SK_LOOKUP('socket_or_null')],
  [85, SK_LOOKUP('socket_or_null')],
  [86, P('integer', ['btf_sock_common_release'])],
  [87, P('integer', ['map_ptr', 'map_value', 'anything'], true)],
  [88, P('integer', ['map_ptr', 'uninit_map_value'])],
  [89, P('integer', ['map_ptr', 'uninit_map_value'])],
  [93, P('void', ['spin_lock'])],
  [94, P('void', ['spin_lock'])],
  [95, P('socket_or_null', ['sock_common'])],
  [96, P('tcp_sock_or_null', ['sock_common'])],
  [97, CTX_ONLY],
  [98, P('socket_or_null', ['sock_common'])],
  [99, SK_LOOKUP('sock_common_or_null')],
  [100, SYNCOOKIE],
  [110, SYNCOOKIE],
  [122, P('integer', ['ctx_or_null'])],
  [124, P('integer', ['ctx', 'btf_sock_common', 'anything'])],
  [125, NONE],
  [130, P('integer', ['map_ptr', 'mem', 'size_or_zero', 'anything'])],
  [131, P('ringbuf_mem_or_null', ['map_ptr', 'alloc_size_or_zero', 'anything'])],
  [132, P('void', ['ringbuf_mem_release', 'anything'])],
  [133, P('void', ['ringbuf_mem_release', 'anything'])],
  [134, P('integer', ['map_ptr', 'anything'])],
  [135, CTX_ANY],
  [151, CTX_ONLY],
  [152, P('integer', ['anything', 'mem_or_null', 'size_or_zero', 'anything'])],
  [155, P('integer', ['anything', 'anything'])],
  [160, NONE],
  [163, P('integer', ['ctx', 'anything', 'fixed:4', 'anything', 'anything'])],
  [164, P('integer', ['map_ptr', 'func', 'stack_or_null', 'anything'])],
  [165, P('integer', ['uninit_mem_or_null', 'size_or_zero', 'const_str', 'mem_or_null', 'size_or_zero'])],
  [169, P('integer', ['timer', 'map_ptr', 'anything'])],
  [170, P('integer', ['timer', 'func'])],
  [171, P('integer', ['timer', 'anything', 'anything'])],
  [172, P('integer', ['timer'])],
  [181, P('integer', ['anything', 'func', 'stack_or_null', 'anything'])],
  [182, P('integer', ['mem', 'size', 'const_str'])],
  [188, CTX_ONLY],
  [189, P('integer', ['ctx', 'anything', 'uninit_mem', 'size'])],
  [190, P('integer', ['ctx', 'anything', 'mem', 'size'])],
  [192, CTX_ANY2],
  [194, P('btf_id_or_null', ['kptr', 'btf_id_or_null_release'])],
  [195, P('map_value_or_null', ['map_ptr', 'map_key', 'anything'], true)],
  [197, P('integer', ['uninit_mem', 'size_or_zero', 'anything', 'dynptr_uninit'])],
  [198, P('integer', ['map_ptr', 'anything', 'anything', 'dynptr_uninit'])],
  [199, P('void', ['dynptr_release', 'anything'])],
  [200, P('void', ['dynptr_release', 'anything'])],
  [201, P('integer', ['uninit_mem', 'size_or_zero', 'dynptr', 'anything', 'anything'])],
  [202, P('integer', ['dynptr', 'anything', 'mem', 'size_or_zero', 'anything'])],
  [203, P('dynptr_mem_or_null', ['dynptr', 'anything', 'alloc_size_or_zero'])],
  [204, P('integer', ['fixed:20', 'mem', 'size_or_zero'], true)],
  [205, P('integer', ['fixed:40', 'mem', 'size_or_zero'], true)],
  [206, P('integer', ['fixed:20', 'fixed:20'], true)],
  [207, P('integer', ['fixed:40', 'fixed:20'], true)],
  [208, NONE],
]);
