// The eBPF interpreter's run record: one per run context (a thread's netkit hook, a test
// run). The host or the calling dataplane code fills it, `vmRun` executes the program
// and leaves r0, the fault (if any) and the redirect request in it.
//
//   +0   prog (u32 addr of the 8-byte slots)   +4   slots (u32)
//   +8   budget (u32 instructions left)        +12  fault (u32 VM_FAULT_*)
//   +16  fault pc (u32)                        +20  thread (u32, bpf_get_smp_processor_id)
//   +24  stack (u32 addr of VM_STACK_SIZE bytes: 8 frames of 512)
//   +28  regions (u32 count)                   +32  regions[8] {lo u32, hi u32, writable u32, pad}
//        (the run's own: a dataplane run's context and packet; the program's are at +680)
//   +160 regs r0..r15 (u64 each; r11..r15 are never valid, kept inside the record)
//   +288 frames[8] {return pc u32, pad u32, r6..r9 u64}
//   +608 skb: packet data (u32), packet len (u32), frame meta (u32), ctx (u32)
//   +624 redirect: ifindex (u32), flags (u32)   +632 prng state (u64)
//   +640 executed instructions (u64)            +648 tail calls left (u32)
//   +652 maps (u32 count)  +656 maps (u32 addr of the u32 list of map records the program may pass to helpers)
//   +664 packet bounds lo, hi (u32)  +672 xdp data_meta (u32)  +676 tail-call target (u32 program record)
//   +680 program regions (u32 count)  +684 program regions (u32 addr of the program record's table)
//   +688 saved program part (repeated test runs, see VM_SAVED)  +792 program id of the record's program part
//   +796 dev  +800 kview  +808 kview area  +872 tunnel metadata  +920 netns
export const VM_PROG: u32 = 0;
export const VM_SLOTS: u32 = 4;
export const VM_BUDGET: u32 = 8;
export const VM_FAULT: u32 = 12;
export const VM_FAULT_PC: u32 = 16;
export const VM_THREAD: u32 = 20;
export const VM_STACK: u32 = 24;
export const VM_NREGIONS: u32 = 28;
export const VM_REGIONS: u32 = 32;
export const VM_REGION_SIZE: u32 = 16;
export const VM_MAX_REGIONS: u32 = 8;
export const VM_REGS: u32 = 160;
export const VM_FRAMES: u32 = 288;
export const VM_FRAME_SIZE: u32 = 40;
export const VM_MAX_FRAMES: u32 = 8;
export const VM_PKT: u32 = 608;
export const VM_PKT_LEN: u32 = 612;
export const VM_META: u32 = 616;
export const VM_CTX: u32 = 620;
export const VM_REDIRECT_IFINDEX: u32 = 624;
export const VM_REDIRECT_FLAGS: u32 = 628;
export const VM_PRNG: u32 = 632;
export const VM_EXECUTED: u32 = 640;
export const VM_TAIL_CALLS: u32 = 648;
export const VM_NMAPS: u32 = 652;
export const VM_MAPS: u32 = 656;
// The packet may move and grow within [lo, hi) (frame headroom and tailroom); region 1 of
// the table is always the packet, and helpers that change it keep it current.
export const VM_PKT_LO: u32 = 664;
export const VM_PKT_HI: u32 = 668;
// XDP: where data_meta is (== data when empty); 0 for skb programs.
export const VM_PKT_META: u32 = 672;
// bpf_tail_call: the program record it jumped to (compiled code hands the run back to
// `progRun`, which continues with that program's compiled code or the interpreter).
export const VM_TAIL_PROG: u32 = 676;
// The running program's own regions (its global data and map values): the program record's
// table (abi PR_REGIONS: sorted by address, disjoint), checked after the inline ones above
// (the context and the packet in a dataplane run). A tail call points them at its target's.
export const VM_NPROG_REGIONS: u32 = 680;
export const VM_PROG_REGIONS: u32 = 684;
// Test runs with `repeat`: the program part of the record (what a tail call replaces) as
// it was before the first run, put back before every run after a tail call.
//   +688 program regions (count)  +692 program regions (table)  +696 nmaps  +700 maps
export const VM_SAVED: u32 = 688;
// xmit: the id of the program whose part of the record (regions, maps) is in place.
export const VM_PROG_ID: u32 = 792;
// The device the packet is on (skb->dev; its record address, 0 = none), for kfuncs.
export const VM_DEV: u32 = 796;
// bpf_cast_to_kern_ctx: set to VM_KVIEW_AREA when this run asked for the kernel's view of
// its sk_buff (0 at the start of every run): that area is then readable, not writable.
export const VM_KVIEW: u32 = 800;
// The view (abi KV_*): a struct sk_buff and, KV_DEV on, the struct net_device its `dev`
// points to, with the fields CO-RE relocations name (src/ebpf/btf.ts KERNEL_STRUCTS).
export const VM_KVIEW_AREA: u32 = 808;
export const VM_KVIEW_SIZE: u32 = 64;
export const KV_SKB_DEV: u32 = 0;
export const KV_SKB_MARK: u32 = 8;
export const KV_SKB_PRIORITY: u32 = 12;
export const KV_SKB_LEN: u32 = 16;
export const KV_DEV: u32 = 32;
export const KV_DEV_HEADROOM: u32 = 32;
export const KV_DEV_TAILROOM: u32 = 34;
export const KV_DEV_IFINDEX: u32 = 36;
export const KV_DEV_MTU: u32 = 40;
// The packet's tunnel metadata (the kernel's metadata_dst ip_tunnel_info that
// bpf_skb_set_tunnel_key attaches to the skb): cleared when a packet's program list starts
// (and once per test run), kept for the rest of that list. Byte order as the kernel keeps
// it in ip_tunnel_key: addresses in network order, the label too.
//   +0 mode (TK_MODE_*: 0 = no metadata)  +4 tun_id (u32)  +8 tos (u8)  +9 ttl (u8)
//   +10 tun_flags (__be16, the TUNNEL_* bits)  +12 label (__be32)  +16 src[16]  +32 dst[16]
// (an IPv4 tunnel's src and dst are the first 4 bytes of each)
export const VM_TUNNEL: u32 = 872;
export const TK_MODE: u32 = 0;
export const TK_ID: u32 = 4;
export const TK_TOS: u32 = 8;
export const TK_TTL: u32 = 9;
export const TK_FLAGS: u32 = 10;
export const TK_LABEL: u32 = 12;
export const TK_SRC: u32 = 16;
export const TK_DST: u32 = 32;
export const TK_SIZE: u32 = 48;
export const TK_MODE_TX: u32 = 1;
export const TK_MODE_IPV6: u32 = 2;
// The namespace the run is in (its internal id, as D_NETNS): where bpf_fib_lookup looks.
// Set by whoever starts the run (a device's list: the device's; a test run: the caller's).
export const VM_NETNS: u32 = 920;
// The packet's checksum state as bpf_csum_level sees it: 0 = CHECKSUM_NONE, else
// CHECKSUM_UNNECESSARY with csum_level = the value - 1 (0..3). Cleared where VM_TUNNEL is.
export const VM_CSUM: u32 = 924;
// bpf_for_each_map_elem on an array: the key (u32 index) its callback is handed a pointer
// to (read-only, like the kernel's PTR_TO_MAP_KEY); saved and restored around nested walks.
export const VM_ITER_KEY: u32 = 928;
// Bytes bpf_skb_change_head put in front of the MAC header: the network header stays where it
// was, so its offset from the packet's start (bpf_skb_change_tail's floor, __bpf_skb_min_len)
// is ETH_HLEN plus this. Cleared where VM_CSUM is.
export const VM_HEAD_PUSHED: u32 = 932;
// The tunnel metadata's options (bpf_skb_set_tunnel_opt: ip_tunnel_info's options_len and
// the bytes after it; the options-present flags as a word): reset by set_tunnel_key.
export const VM_TUNNEL_OPT_LEN: u32 = 936;
export const VM_TUNNEL_OPT_PRESENT: u32 = 940;
export const VM_TUNNEL_OPTS: u32 = 944;
export const TUNNEL_OPTS_MAX: u32 = 255;
// How many runs the last vmRunRepeat or testRunBatch made (the faulting one included): a
// test run's addition to the program's run_cnt.
export const VM_RUNS: u32 = 1200;
export const VM_RECORD_SIZE: u32 = 1208;
// Kernel functions (call src_reg 2): the helper dispatcher takes VM_KFUNC_BASE + the id.
export const VM_KFUNC_BASE: u32 = 0x10000;
export const KFUNC_CAST_TO_KERN_CTX: u32 = 1;
// The XDP RX metadata kfuncs: taken only by device-bound programs, which nkemu does not load
// (BPF_F_XDP_DEV_BOUND_ONLY), so the verifier refuses them as the kernel does any other program.
export const KFUNC_XDP_METADATA_RX_TIMESTAMP: u32 = 2;
export const KFUNC_XDP_METADATA_RX_HASH: u32 = 3;
export const KFUNC_XDP_METADATA_RX_VLAN_TAG: u32 = 4;
// Dynptrs over the packet (assembly/ebpf/dynptr.ts): bpf_dynptr_from_skb / _from_xdp make one
// in a 16-byte stack slot, bpf_dynptr_slice / _rdwr return a pointer into the packet or NULL.
export const KFUNC_DYNPTR_FROM_SKB: u32 = 5;
export const KFUNC_DYNPTR_FROM_XDP: u32 = 6;
export const KFUNC_DYNPTR_SLICE: u32 = 7;
export const KFUNC_DYNPTR_SLICE_RDWR: u32 = 8;

// Compiled programs (src/ebpf/codegen): each thread's dataplane instance has its own
// function table; slots JIT_BASE.. hold compiled programs' entry points, every other slot
// (and a slot a thread has not installed yet) holds `jitFallback`, the interpreter. A program
// record's PR_JIT is its slot (0 = not compiled).
export const JIT_BASE: u32 = 16;
export const JIT_SLOTS: u32 = 16384;
// Slot s + JIT_SLOTS holds the same program's batch entry, `batch(rec, entries, n)`: it
// runs the program once per entry (abi BE_*) and returns n, or 0 when it does not run
// batches (a program with tail calls; `jitBatchFallback` in slots nobody installed).
export const JIT_TABLE_SIZE: u32 = 32768;

// Stack: frame k occupies [stack + k*512, stack + (k+1)*512); r10 of frame k is its top.
export const VM_FRAME_STACK: u32 = 512;
export const VM_STACK_SIZE: u32 = 4096;

// Fault codes (VM_FAULT). A fault aborts the run; callers count it (netkit: BPF_FAULT drop).
export const VM_OK: u32 = 0;
export const VM_FAULT_READ: u32 = 1;
export const VM_FAULT_WRITE: u32 = 2;
export const VM_FAULT_BUDGET: u32 = 3;
export const VM_FAULT_INSN: u32 = 4;
export const VM_FAULT_HELPER: u32 = 5;
export const VM_FAULT_DEPTH: u32 = 6;
export const VM_FAULT_PC_RANGE: u32 = 7;
export const VM_FAULT_ALIGN: u32 = 8;
// Not a fault: the helper replaced the program (bpf_tail_call); execution restarts at its pc 0.
export const VM_TAIL_CALL: u32 = 0x100;
// testRunBatch: the program runs no batches (no batch code, or tail calls); nothing ran.
export const VM_BATCH_DECLINED: u32 = 0x101;
// jitTail: the tail call fell through (MAX_TAIL_CALL_CNT reached); nothing ran.
export const VM_TAIL_FELL: u32 = 0xffffffff;
// batch(rec, entries, n | VM_BATCH_STOP): stop after the first entry that faults.
export const VM_BATCH_STOP: u32 = 0x80000000;
// batch(rec, entries, n | VM_BATCH_CHAIN): each run starts from the packet (and XDP
// metadata) the run before left in the record, not the entry's (repeated test runs).
export const VM_BATCH_CHAIN: u32 = 0x40000000;
// batch(rec, entries, n | VM_BATCH_SKIP): entries a program before this one finished (a
// fault, or a verdict other than NETKIT_NEXT) are left as they are: a list's next program.
export const VM_BATCH_SKIP: u32 = 0x20000000;
export const MAX_TAIL_CALL_CNT: u32 = 33;

// Region flags.
export const VM_REGION_WRITABLE: u32 = 1;
// A tc program's __sk_buff: writable only before `data` (mark, priority, cb, tc_classid, …)
// and at tstamp; data, data_end, data_meta and what follows are read-only at run time, as
// the kernel's verifier keeps them, so no store can move the packet bounds the checks and
// the batch code rely on.
export const VM_REGION_SKB_CTX: u32 = 2;

// Redirect flags recorded by bpf_redirect / bpf_redirect_peer.
export const VM_REDIRECT_SET: u32 = 0x100;
export const VM_REDIRECT_PEER: u32 = 0x200;
export const VM_F_INGRESS: u32 = 1;

// Map record (what `lddw rX, map` hands a program; helpers take it in r1):
//   +0 type  +4 key_size  +8 value_size  +12 max_entries  +16 values (addr)  +20 value stride
//   +24 lock (hash updates)  +28 count (hash elements)  +32 slot size (hash)  +36 capacity (hash slots)
//   +40 copies (per-CPU maps: one value set per thread)  +44 flags
// Array values: values + key * stride (+ thread * max_entries * stride for per-CPU).
// Hash slots: {state u32 (0 free, 1 used, 2 deleted), hash u32, last use u32, pad, key (rounded to 8), value}.
//   +48 clock (LRU: bumped by every use; a slot keeps the clock of its last use)
// LPM tries are hash maps keyed by (prefixlen, data masked to prefixlen): a lookup tries
// each prefix length from the key's down to 0.
export const MAP_TYPE: u32 = 0;
export const MAP_KEY_SIZE: u32 = 4;
export const MAP_VALUE_SIZE: u32 = 8;
export const MAP_MAX_ENTRIES: u32 = 12;
export const MAP_VALUES: u32 = 16;
export const MAP_STRIDE: u32 = 20;
export const MAP_LOCK: u32 = 24;
export const MAP_COUNT: u32 = 28;
export const MAP_SLOT_SIZE: u32 = 32;
export const MAP_CAPACITY: u32 = 36;
export const MAP_COPIES: u32 = 40;
export const MAP_FLAGS: u32 = 44;
export const MAP_CLOCK: u32 = 48;
// Ring buffers: consumer and producer positions (free-running), records in the values area:
// {len u32 (bit 31 BUSY, bit 30 DISCARD), offset u32, data, padded to 8}.
export const MAP_RB_CONS: u32 = 56;
export const MAP_RB_PROD: u32 = 60;
export const MAP_RECORD_SIZE: u32 = 64;
export const RB_BUSY: u32 = 0x80000000;
export const RB_DISCARD: u32 = 0x40000000;
export const RB_HDR: u32 = 8;
export const BPF_MAP_TYPE_RINGBUF: u32 = 27;
export const BPF_MAP_TYPE_DEVMAP: u32 = 14;
export const BPF_MAP_TYPE_ARRAY_OF_MAPS: u32 = 12;
// Perf event arrays: value i is the ring (a ringbuf-shaped map record) of perf buffer i, 0 = not open.
export const BPF_MAP_TYPE_PERF_EVENT_ARRAY: u32 = 4;
export const BPF_MAP_TYPE_HASH_OF_MAPS: u32 = 13;
export const BPF_MAP_TYPE_XSKMAP: u32 = 17;
// Redirect through a map (bpf_redirect_map): the map type is kept with the target.
export const VM_REDIRECT_MAP: u32 = 0x400;
// Set by the dataplane on redirects from a tc ingress hook (where bpf_redirect_peer is valid).
export const VM_REDIRECT_FROM_INGRESS: u32 = 0x800;
export const MAP_SLOT_USE: u32 = 8;
export const MAP_SLOT_KEY: u32 = 16;
export const BPF_MAP_TYPE_HASH: u32 = 1;
export const BPF_MAP_TYPE_ARRAY: u32 = 2;
export const BPF_MAP_TYPE_PROG_ARRAY: u32 = 3;
export const BPF_MAP_TYPE_PERCPU_HASH: u32 = 5;
export const BPF_MAP_TYPE_PERCPU_ARRAY: u32 = 6;
export const BPF_MAP_TYPE_LRU_HASH: u32 = 9;
export const BPF_MAP_TYPE_LRU_PERCPU_HASH: u32 = 10;
export const BPF_MAP_TYPE_LPM_TRIE: u32 = 11;
// Queue and stack maps (kernel/bpf/queue_stack_maps.c): a ring of max_entries + 1 values
// in the values area (one slot stays empty: full is head + 1 == tail), the positions where
// ring buffers keep theirs: +56 tail (the oldest value), +60 head (the next free slot).
export const BPF_MAP_TYPE_QUEUE: u32 = 22;
export const BPF_MAP_TYPE_STACK: u32 = 23;
export const MAP_QS_TAIL: u32 = 56;
export const MAP_QS_HEAD: u32 = 60;
// mapPushPop's operation (bpf_map_push_elem, pop_elem, peek_elem).
export const QS_PUSH: u32 = 0;
export const QS_POP: u32 = 1;
export const QS_PEEK: u32 = 2;
// Bloom filters (kernel/bpf/bloom_filter.c): the values area is the bit array; +52 the hash
// seed, +56 the bit mask (bits - 1), +60 the number of hash functions.
export const BPF_MAP_TYPE_BLOOM_FILTER: u32 = 30;
export const MAP_BLOOM_SEED: u32 = 52;
export const MAP_BLOOM_MASK: u32 = 56;
export const MAP_BLOOM_HASHES: u32 = 60;
// DEVMAP_HASH: a hash map of {ifindex, prog} keyed by any u32; redirects like a devmap.
export const BPF_MAP_TYPE_DEVMAP_HASH: u32 = 25;
// CPUMAP: an array indexed by CPU (dataplane thread) of {qsize, prog}; qsize 0 = no entry.
// bpf_redirect_map into it records the CPU + 1 as the target (0 means none).
export const BPF_MAP_TYPE_CPUMAP: u32 = 16;
// CGROUP_ARRAY: an array of cgroups for bpf_skb_under_cgroup (one word a slot: 0 empty,
// CGROUP_ROOT for nkemu's one cgroup, the root of its cgroup v2 hierarchy).
export const BPF_MAP_TYPE_CGROUP_ARRAY: u32 = 8;
export const CGROUP_ROOT: u32 = 1;
// SOCKMAP and SOCKHASH: nkemu has no sockets to put in them; they stay empty.
export const BPF_MAP_TYPE_SOCKMAP: u32 = 15;
export const BPF_MAP_TYPE_SOCKHASH: u32 = 18;
export const BPF_ANY: u32 = 0;
export const BPF_NOEXIST: u32 = 1;
export const BPF_EXIST: u32 = 2;
