// Shared-memory layout of the dataplane: the ONE definition of every record that
// crosses between the host (TypeScript) and the dataplane (this module).
//
// Rules for this file: only `export const NAME: u32 = <literal or arithmetic of earlier
// constants>;` lines (scripts/gen-abi.mjs mirrors them into src/abi.generated.ts, and
// test/abi.test.ts compares the mirror with the globals this module exports).
//
// Memory map (addresses are byte offsets in the one shared WebAssembly.Memory):
//
//   0x00000000  +------------------------------+
//               | unused (null page)           |
//   GLOBALS     +------------------------------+  4 KiB: the globals block below
//               | ...                          |
//   64 KiB      | module static data (r/o)     |  re-written by every instantiation
//   HOST_BASE   +------------------------------+  1 MiB: host allocator's arena
//               | device table, counters,      |  handed out by src/memory.ts,
//               | frame pools, rings, records  |  64-byte aligned
//               +------------------------------+

export const ABI_MAGIC: u32 = 0x4e4b454d; // "NKEM"
export const ABI_VERSION: u32 = 1;
export const CACHE_LINE: u32 = 64;
export const GLOBALS: u32 = 4096;
export const HOST_BASE: u32 = 0x100000;

// Globals block (at GLOBALS), written once by the host before any worker starts,
// except G_GENERATION, G_CLOCK_NS and G_BPF_STATS which change while running.
//
//   +0  magic        +4  version      +8  generation   +12 max_devices
//   +16 dev_table    +20 counters     +24 max_threads  +28 frame_size
//   +32 frames/thr   +36 pool_base    +40 threads      +44 trace_flags
//   +48 clock_ns (u64)                +56 trace_slots  +60 capture_snaplen
//   +64 hash key (2 x u64)           +80 fib_dir      +84 bpf_stats
export const G_MAGIC: u32 = 0;
export const G_VERSION: u32 = 4;
export const G_GENERATION: u32 = 8;
export const G_MAX_DEVICES: u32 = 12;
export const G_DEV_TABLE: u32 = 16;
export const G_COUNTERS: u32 = 20;
export const G_MAX_THREADS: u32 = 24;
export const G_FRAME_SIZE: u32 = 28;
export const G_FRAMES_PER_THREAD: u32 = 32;
export const G_POOL_BASE: u32 = 36;
export const G_THREADS: u32 = 40;
export const G_TRACE_FLAGS: u32 = 44;
export const G_CLOCK_NS: u32 = 48;
export const G_TRACE_SLOTS: u32 = 56;
export const G_CAPTURE_SNAPLEN: u32 = 60;
// +64 flow hash key (2 x u64: the emulator's hashrnd, from its seed; wire/flowhash.ts)
export const G_HASH_KEY: u32 = 64;
// +80 FIB directory (published by swap when a namespace's FIB changes; FIB_DIR_* below)
export const G_FIB_DIR: u32 = 80;
// +84 kernel.bpf_stats_enabled as the dataplane sees it (0 = off): non-zero, every program
// run adds to its record's PR_RUN_CNT and PR_RUN_TIME_NS (read once per run or batch).
export const G_BPF_STATS: u32 = 84;
export const GLOBALS_SIZE: u32 = 88;

// G_TRACE_FLAGS bits.
export const TRACE_ON: u32 = 1;

// Per-thread state, THREAD_SIZE bytes at threads + id * THREAD_SIZE. Thread 0 is the
// host; workers are 1..max_threads-1. Each line is written by one side only.
//
//   line 0 (owner writes):  +0 seen_generation  +4 busy  +8 polled_total
//   line 1 (host writes):   +64 poll_list  +68 doorbell  +72 stop
//   line 2 (owner only):    +128 free_top  +132 free_stack  +136 return_rings
//                           +140 trace_ring  +144 capture_ring  +148 scratch
//                           +152 bpf (this thread's BPF run area: VM record, stack, __sk_buff)
//                           +156 redirect_ring (frames programs redirected, for the host)
//                           +160 printk_ring (bpf_trace_printk records, for the host)
export const T_SEEN_GENERATION: u32 = 0;
export const T_BUSY: u32 = 4;
export const T_POLLED: u32 = 8;
export const T_POLL_LIST: u32 = 64;
export const T_DOORBELL: u32 = 68;
export const T_STOP: u32 = 72;
export const T_FREE_TOP: u32 = 128;
export const T_FREE_STACK: u32 = 132;
export const T_RETURN_RINGS: u32 = 136;
export const T_TRACE_RING: u32 = 140;
export const T_CAPTURE_RING: u32 = 144;
export const T_SCRATCH: u32 = 148;
export const T_BPF: u32 = 152;
export const T_REDIRECT_RING: u32 = 156;
export const T_PRINTK_RING: u32 = 160;
export const THREAD_SIZE: u32 = 192;

// A thread's BPF run area (T_BPF): the interpreter's run record, its 8-frame stack,
// the __sk_buff the programs see, and batches (below).
//   +0 VM record (VM_RECORD_SIZE)  +BPF_STACK stack (VM_STACK_SIZE)  64-byte gap
//   +BPF_SKB __sk_buff (192)
// The gap: an access just above the stack's top (r10 + 0, which the kernel's verifier
// refuses) faults whatever the run, and does not reach this __sk_buff (a region of a
// per-packet run, but not of a batch run, whose contexts sit at BPF_BATCH_CTX).
export const BPF_VM: u32 = 0;
export const BPF_STACK: u32 = 1280;
export const BPF_SKB: u32 = 5440;
export const SKB_CTX_SIZE: u32 = 192;

// struct __sk_buff (uapi; spec/ebpf.md §2.1), the context tc and netkit programs see: the
// offsets nkemu fills or helpers refresh. Fields it does not model read 0.
//   +0 len  +4 pkt_type  +8 mark  +12 queue_mapping  +16 protocol (be16)  +20 vlan_present
//   +24 vlan_tci  +28 vlan_proto  +32 priority  +36 ingress_ifindex  +40 ifindex  +44 tc_index
//   +48 cb[5]  +68 hash  +72 tc_classid  +76 data  +80 data_end  +140 data_meta
//   +152 tstamp (u64)  +160 wire_len  +164 gso_segs
export const SKB_LEN: u32 = 0;
export const SKB_PKT_TYPE: u32 = 4;
export const SKB_MARK: u32 = 8;
export const SKB_QUEUE_MAPPING: u32 = 12;
export const SKB_PROTOCOL: u32 = 16;
export const SKB_VLAN_PRESENT: u32 = 20;
export const SKB_VLAN_TCI: u32 = 24;
export const SKB_VLAN_PROTO: u32 = 28;
export const SKB_PRIORITY: u32 = 32;
export const SKB_INGRESS_IFINDEX: u32 = 36;
export const SKB_IFINDEX: u32 = 40;
export const SKB_TC_INDEX: u32 = 44;
export const SKB_CB: u32 = 48;
export const SKB_HASH: u32 = 68;
export const SKB_TC_CLASSID: u32 = 72;
export const SKB_DATA: u32 = 76;
export const SKB_DATA_END: u32 = 80;
export const SKB_DATA_META: u32 = 140;
export const SKB_TSTAMP: u32 = 152;
export const SKB_WIRE_LEN: u32 = 160;
export const SKB_GSO_SEGS: u32 = 164;

// Batches for compiled programs (xmit with one program; assembly/dev/netkit.ts): up to
// BPF_BATCH_MAX entries at +BPF_BATCH, each packet's own __sk_buff at +BPF_BATCH_CTX.
//   entry: +0 data  +4 len  +8 frame metadata  +12 its __sk_buff  +16 frame end (what
//   packet helpers may grow into)  then what the run left: +20 r0 (low half)  +24 fault
//   +28 redirect ifindex  +32 redirect flags; +36, +44 the caller's own (xmit: the length
//   the packet was handed over with; the NIC: the flow hash, queue | EtherType << 16);
//   +40 where the packet may grow down to (helpers)
export const BPF_BATCH: u32 = 5632;
export const BPF_BATCH_MAX: u32 = 64;
export const BE_DATA: u32 = 0;
export const BE_LEN: u32 = 4;
export const BE_META: u32 = 8;
export const BE_CTX: u32 = 12;
export const BE_HI: u32 = 16;
export const BE_VERDICT: u32 = 20;
export const BE_FAULT: u32 = 24;
export const BE_RD_IFINDEX: u32 = 28;
export const BE_RD_FLAGS: u32 = 32;
export const BE_AUX: u32 = 36;
export const BE_LO: u32 = 40;
export const BE_AUX2: u32 = 44;
export const BE_SIZE: u32 = 48;
export const BPF_BATCH_CTX: u32 = 8704;
// The NIC's side of a batch: per entry (u32), the wire descriptor whose bytes its flow hash
// is still to be computed from (0: the entry's +36 holds the hash).
export const BPF_BATCH_WIRE: u32 = 20992;
export const BPF_AREA_SIZE: u32 = 21248;

// Redirect ring entries (per thread, producer = the thread, consumer = the host), for
// REDIRECT verdicts: the host resolves the target in the device's namespace and sends
// the frame out of it (egress), up its stack (BPF_F_INGRESS) or its peer's (redirect_peer).
//   +0 addr (u64)  +8 len  +12 target ifindex  +16 netns id  +20 flags (VM_F_INGRESS, VM_REDIRECT_PEER)
//   +24 from slot (the device that redirected)
export const RD_ADDR: u32 = 0;
export const RD_LEN: u32 = 8;
export const RD_IFINDEX: u32 = 12;
export const RD_NETNS: u32 = 16;
export const RD_FLAGS: u32 = 20;
export const RD_FROM: u32 = 24;
export const RD_SIZE: u32 = 32;

// bpf_trace_printk records (per thread; the host formats them like trace_pipe):
//   +0 tstamp (u64)  +8 format length  +12 pad  +16 args[3] (u64)  +40 format (PK_FMT_MAX bytes)
export const PK_TSTAMP: u32 = 0;
export const PK_FMT_LEN: u32 = 8;
export const PK_ARGS: u32 = 16;
export const PK_FMT: u32 = 40;
export const PK_FMT_MAX: u32 = 88;
export const PK_SIZE: u32 = 128;

// bpf_fib_lookup's tables (assembly/ebpf/fib.ts), built by src/net/fib.ts from each
// namespace's IPv4 stack and device list, published by swap.
// The directory (at G_FIB_DIR): +0 count  +4 entries[count] {netns id u32, FIB record u32}.
export const FIB_DIR_COUNT: u32 = 0;
export const FIB_DIR_ENTRIES: u32 = 4;
export const FIB_DIR_ENTRY: u32 = 8;
// A namespace's FIB record: a header, then its devices, main-table routes (longest prefix
// first, then lowest metric: the first match wins), local-table entries and neighbours,
// then the same for IPv6 and its addresses (for source selection).
// Addresses and masks in network byte order, as struct bpf_fib_lookup holds them.
//   +0 flags (FIB_FORWARDING: IPv4 forwarding on; FIB_FORWARDING6: IPv6's)  +4 n_devs
//   +8 n_routes  +12 n_local  +16 n_neigh  +20 n_routes6  +24 n_local6  +28 n_neigh6
//   +32 n_addr6  +48 devs[n_devs] (FD_*)  routes[n_routes] (FR_*)  local[n_local] (FL_*)
//   neigh[n_neigh] (FN_*)  routes6[n_routes6] (FR6_*)  local6[n_local6] (FL6_*)
//   neigh6[n_neigh6] (FN6_*)  addr6[n_addr6] (FA6_*)
export const FIB_FLAGS: u32 = 0;
export const FIB_NDEVS: u32 = 4;
export const FIB_NROUTES: u32 = 8;
export const FIB_NLOCAL: u32 = 12;
export const FIB_NNEIGH: u32 = 16;
export const FIB_NROUTES6: u32 = 20;
export const FIB_NLOCAL6: u32 = 24;
export const FIB_NNEIGH6: u32 = 28;
export const FIB_NADDR6: u32 = 32;
export const FIB_HDR: u32 = 48;
export const FIB_FORWARDING: u32 = 1;
export const FIB_FORWARDING6: u32 = 2;
// Device: its ifindex, device-table slot (the live record has its MAC, MTU and flags; one
// whose record names another ifindex or namespace has gone) and its own switches
// (FD_FORWARDING6: net.ipv6.conf.DEV.forwarding on).
export const FD_IFINDEX: u32 = 0;
export const FD_SLOT: u32 = 4;
export const FD_FLAGS: u32 = 8;
export const FD_SIZE: u32 = 12;
export const FD_FORWARDING6: u32 = 1;
// Route: +0 dst  +4 mask  +8 ifindex  +12 gateway (0: connected)  +16 preferred source
// (fib_result_prefsrc)  +20 metric  +24 type (RTN_*)
export const FR_DST: u32 = 0;
export const FR_MASK: u32 = 4;
export const FR_IFINDEX: u32 = 8;
export const FR_GW: u32 = 12;
export const FR_PREFSRC: u32 = 16;
export const FR_METRIC: u32 = 20;
export const FR_TYPE: u32 = 24;
export const FR_SIZE: u32 = 32;
// Local table entry (local and broadcast addresses, a loopback device's whole prefix; the
// kernel keeps them in one trie with the main table's while a namespace has no rules of
// its own, as nkemu's never have): +0 dst  +4 mask  +8 ifindex.
export const FL_DST: u32 = 0;
export const FL_MASK: u32 = 4;
export const FL_IFINDEX: u32 = 8;
export const FL_SIZE: u32 = 16;
// Neighbour in a NUD_VALID state: +0 ifindex  +4 address  +8 lladdr[6].
export const FN_IFINDEX: u32 = 0;
export const FN_ADDR: u32 = 4;
export const FN_LLADDR: u32 = 8;
export const FN_SIZE: u32 = 16;
// IPv6 main-table route, in fib6_table_lookup's order (longest prefix, then lowest metric,
// then the oldest: the first match wins): +0 dst[16]  +16 mask[16]  +32 gateway[16]
// (:: connected)  +48 ifindex  +52 metric  +56 type (RTN_*)
export const FR6_DST: u32 = 0;
export const FR6_MASK: u32 = 16;
export const FR6_GW: u32 = 32;
export const FR6_IFINDEX: u32 = 48;
export const FR6_METRIC: u32 = 52;
export const FR6_TYPE: u32 = 56;
export const FR6_SIZE: u32 = 64;
// IPv6 local-table entry (all /128: an address past DAD, RTN_LOCAL; its subnet-router
// anycast while forwarding is on, RTN_ANYCAST): +0 addr[16]  +16 ifindex  +20 type
// +24 from (u64: the G_CLOCK_NS its address's DAD ends at, 0 when it has; the entry
// counts from then, with no republish at that moment).
export const FL6_ADDR: u32 = 0;
export const FL6_IFINDEX: u32 = 16;
export const FL6_TYPE: u32 = 20;
export const FL6_FROM: u32 = 24;
export const FL6_SIZE: u32 = 32;
// IPv6 neighbour in a NUD_VALID state: +0 address[16]  +16 ifindex  +20 lladdr[6].
export const FN6_ADDR: u32 = 0;
export const FN6_IFINDEX: u32 = 16;
export const FN6_LLADDR: u32 = 20;
export const FN6_SIZE: u32 = 32;
// IPv6 address a source may be chosen from (once past DAD), in the stack's list order:
// +0 addr[16]  +16 ifindex  +20 scope rank (as addr6.ts's scopeRank6)  +24 prefix length
// +32 from (u64, as FL6_FROM).
export const FA6_ADDR: u32 = 0;
export const FA6_IFINDEX: u32 = 16;
export const FA6_SCOPE: u32 = 20;
export const FA6_PLEN: u32 = 24;
export const FA6_FROM: u32 = 32;
export const FA6_SIZE: u32 = 40;
// Route types (rtnetlink RTN_*).
export const RTN_UNICAST: u32 = 1;
export const RTN_LOCAL: u32 = 2;
export const RTN_ANYCAST: u32 = 4;
export const RTN_BLACKHOLE: u32 = 6;
export const RTN_UNREACHABLE: u32 = 7;
export const RTN_PROHIBIT: u32 = 8;

// Program list (an attach point's bpf_mprog entry), published by swap with the device
// record (D_PROGS). Programs in run order:
//   +0 count  +4 flags  +8 list code  +12 prog[0] ...   (u32 program record addresses)
export const PGL_COUNT: u32 = 0;
export const PGL_FLAGS: u32 = 4;
// The JIT table slot of the list's module (src/ebpf/codegen/list.ts: every program's code
// in one loop over a batch), 0 when it has none.
export const PGL_JIT: u32 = 8;
export const PGL_PROGS: u32 = 12;
// The programs share no state a packet's run could leave for another packet's run of a
// later program (no map, region or per-thread helper state in common, no tail calls):
// running each program over a batch in turn gives what running the list per packet does.
export const PGLF_INDEPENDENT: u32 = 1;

// Program record, one per loaded program, immutable while any list holds it (but for the
// run statistics at +40 and +48, which every thread adds to atomically):
//   +0 insns (addr)  +4 slots  +8 nregions  +12 regions (u32 addr of the region table)
//   +16 nmaps  +20 maps (u32 addr of the u32 list of map record addresses helpers accept)
//   +24 jit (u32 function-table slot of its compiled code, 0 = interpreter only)
//   +28 id (u32, the program id: never reused, unlike the record's memory)
//   +32 ctx use: bit w (0..23) = the program may read __sk_buff bytes [8w, 8w + 8);
//        PR_CTX_WRITES = it may write fields (the dataplane copies them back to the frame);
//        PR_CTX_VERIFIED = it passed the load-time checks (reads no register before writing it);
//        PR_CTX_TAIL_UNSAFE = its tail calls may reach, through the PROG_ARRAYs it uses, a
//        program that keeps state on the packet in the run record (tunnel metadata, checksum
//        level: syscall.ts PACKET_STATE_HELPERS), so it runs one packet at a time (batch code
//        finishes a tail call inside its loop, where that state is the whole batch's)
//   +40 run_cnt (u64)  +48 run_time_ns (u64): the kernel's bpf_prog_stats, added to while
//        G_BPF_STATS is on (the program's runs from a hook or a test run; a tail call's
//        target is not counted, the run of the program that made it is)
//   +PR_SIZE the region table (nregions x VM_REGION_SIZE), then the map list (nmaps x u32),
//        in the record's own block (prRecordSize bytes)
// The regions are the program's global data and map values (what lddw hands it): sorted by
// address and disjoint, so a check finds the one an access may be in by bisection. Up to
// 64 maps (the kernel's MAX_USED_MAPS; global data sections count as maps there too).
export const PR_INSNS: u32 = 0;
export const PR_SLOTS: u32 = 4;
export const PR_NREGIONS: u32 = 8;
export const PR_REGIONS: u32 = 12;
export const PR_MAX_REGIONS: u32 = 64;
export const PR_NMAPS: u32 = 16;
export const PR_MAPS: u32 = 20;
export const PR_MAX_MAPS: u32 = 64;
export const PR_JIT: u32 = 24;
export const PR_ID: u32 = 28;
export const PR_CTX_USE: u32 = 32;
export const PR_CTX_WRITES: u32 = 0x80000000;
export const PR_CTX_VERIFIED: u32 = 0x40000000;
export const PR_CTX_TAIL_UNSAFE: u32 = 0x20000000;
// An `xdp` program's ctx use: bit w (0..2) = it may read xdp_md bytes [8w, 8w + 8) (data
// and data_end; data_meta and ingress_ifindex; rx_queue_index and egress_ifindex), every
// word when the ctx pointer escapes or it calls anything but XDP_PLAIN_HELPERS (verifier.ts);
// PR_CTX_XDP_PLAIN = it calls nothing but those (map element ops, time, random, CPU id: no
// tail call, kfunc or packet helper), so no helper reads the run record's packet bounds or
// metadata: its batch entries need only the packet (BE_DATA, BE_LEN) and the words it reads.
export const PR_CTX_XDP_PLAIN: u32 = 0x10000000;
export const PR_RUN_CNT: u32 = 40;
export const PR_RUN_TIME_NS: u32 = 48;
export const PR_SIZE: u32 = 56;

// Poll list (published by swap): which devices' tx rings a thread services.
//   +0 count  +4 slot[0]  +8 slot[1] ...   (u32 device slots)
export const PL_COUNT: u32 = 0;
export const PL_SLOTS: u32 = 4;

// Ring header; entries follow at RING_ENTRIES. AF_XDP-shaped: power-of-two size,
// free-running u32 indexes, producer and consumer on separate cache lines, each side
// keeping its cached copy of the other side's index on its own line.
//
//   +0   producer      +4  cached_cons   (producer's line)
//   +64  consumer      +68 cached_prod   (consumer's line)
//   +128 size  +132 mask  +136 flags  +140 entry_size
//   +192 entries[size]
export const R_PRODUCER: u32 = 0;
export const R_CACHED_CONS: u32 = 4;
export const R_CONSUMER: u32 = 64;
export const R_CACHED_PROD: u32 = 68;
export const R_SIZE: u32 = 128;
export const R_MASK: u32 = 132;
export const R_FLAGS: u32 = 136;
export const R_ENTRY_SIZE: u32 = 140;
export const RING_ENTRIES: u32 = 192;
export const RING_NEED_WAKEUP: u32 = 1;

// Descriptor (16 bytes, struct xdp_desc): addr points at the first data byte.
//   +0 addr (u64)  +8 len (u32)  +12 options (u32)
export const DESC_ADDR: u32 = 0;
export const DESC_LEN: u32 = 8;
export const DESC_OPTIONS: u32 = 12;
export const DESC_SIZE: u32 = 16;

// Frames. A pool per thread: frames_per_thread frames of frame_size bytes (a power of
// two; pools aligned to it), so a frame's base and owner follow from any address in it.
// The first FRAME_META bytes hold the skb-like metadata; data starts at FRAME_HEADROOM.
//
//   +0  mark  +4 priority  +8 tstamp (u64)  +16 ifindex  +20 ingress_ifindex (skb_iif)
//   +24 protocol (u16, network order)  +26 pkt_type (u8)  +27 meta_flags (u8)
//   +28 hash  +32 queue_mapping  +36 tc_index  +40 cb[5]  +60 vlan_tci (u16)  +62 vlan_proto (u16)
export const FM_MARK: u32 = 0;
export const FM_PRIORITY: u32 = 4;
export const FM_TSTAMP: u32 = 8;
export const FM_IFINDEX: u32 = 16;
export const FM_INGRESS_IFINDEX: u32 = 20;
export const FM_PROTOCOL: u32 = 24;
export const FM_PKT_TYPE: u32 = 26;
export const FM_FLAGS: u32 = 27;
export const FM_HASH: u32 = 28;
export const FM_QUEUE_MAPPING: u32 = 32;
export const FM_TC_INDEX: u32 = 36;
export const FM_CB: u32 = 40;
export const FM_VLAN_TCI: u32 = 60;
export const FM_VLAN_PROTO: u32 = 62;
export const FRAME_META: u32 = 64;
export const FRAME_HEADROOM: u32 = 256;
export const FRAME_MIN_SIZE: u32 = 2048;

// FM_FLAGS bits.
export const FMF_IGNORE_DF: u32 = 1;
// Received into a memory provider's buffer (io_uring zcrx, devmem); cleared when the frame is reused.
export const FMF_PROVIDER: u32 = 2;

// skb->pkt_type values.
export const PACKET_HOST: u32 = 0;
export const PACKET_BROADCAST: u32 = 1;
export const PACKET_MULTICAST: u32 = 2;
export const PACKET_OTHERHOST: u32 = 3;

// Device record, DEV_SIZE bytes, immutable once published in the device table
// (dev_table[slot] holds its address; a change publishes a new record).
//
//   read by xmit:
//   +0  flags (IFF_*)  +4 peer_slot (i32, -1 none)  +8 ifindex  +12 netns_id
//   +16 kind  +20 policy  +24 scrub  +25 mode  +26 pairing  +27 primary
//   +28 progs (program list address, 0 = none)  +32 mac[6]  +38 capture (u8: CAP_DIR_*)
//   +40 mtu  +44 real_num_rx  +48 rx_rings (address of u32[num_rx] ring addresses)
//   +52 tx_ring  +56 steer (NIC steering record, 0 = none)
//   +60 needed_headroom (u16)  +62 needed_tailroom (u16)
//   +64 slot  +68 num_rx (allocated)  +72 rx_sink (per-device consumer mode)
//   +76 wire_ring (NIC: frames arriving from the wire)  +80 qstats (NIC per-queue counters)
//   +84 providers (NIC: u32[real_num_rx] fill rings of memory providers, 0 = none)
export const D_FLAGS: u32 = 0;
export const D_PEER: u32 = 4;
export const D_IFINDEX: u32 = 8;
export const D_NETNS: u32 = 12;
export const D_KIND: u32 = 16;
export const D_POLICY: u32 = 20;
export const D_SCRUB: u32 = 24;
export const D_MODE: u32 = 25;
export const D_PAIRING: u32 = 26;
export const D_PRIMARY: u32 = 27;
export const D_PROGS: u32 = 28;
export const D_MAC: u32 = 32;
export const D_CAPTURE: u32 = 38;
export const D_MTU: u32 = 40;
export const D_REAL_NUM_RX: u32 = 44;
export const D_RX_RINGS: u32 = 48;
export const D_TX_RING: u32 = 52;
export const D_STEER: u32 = 56;
export const D_HEADROOM: u32 = 60;
export const D_TAILROOM: u32 = 62;
export const D_SLOT: u32 = 64;
export const D_NUM_RX: u32 = 68;
export const D_RX_SINK: u32 = 72;
export const D_WIRE_RING: u32 = 76;
export const D_QSTATS: u32 = 80;
export const D_PROVIDERS: u32 = 84;
// NIC: the XDP program's record (abi PR_*), 0 = none. Runs on every frame from the wire.
export const D_XDP: u32 = 88;
// tcx ingress program list (abi PGL_*), 0 = none: runs when a frame enters the device.
export const D_TCX_INGRESS: u32 = 92;
// tcx egress program list, 0 = none: runs before the device transmits a frame.
export const D_TCX_EGRESS: u32 = 96;
// NIC: u32[real_num_rx], per queue the zero-copy AF_XDP pool installed on it (the pool
// owner's socket record, abi XS_*; 0 = none); the address 0 when no queue has one.
// Frames for such a queue are received into the pool's UMEM chunks (xsk.ts zcRxBuffer).
export const D_XSK_ZC: u32 = 100;
export const DEV_SIZE: u32 = 128;

// NIC per-queue counters: u64 [thread][queue][QS_COUNT] at the device's qstats, for
// num_rx (allocated) queues; written by one thread each, summed by the host.
export const QS_RX_PACKETS: u32 = 0;
export const QS_RX_BYTES: u32 = 1;
export const QS_TX_PACKETS: u32 = 2;
export const QS_TX_BYTES: u32 = 3;
export const QS_COUNT: u32 = 4;

// NIC steering record (published by swap with the device record):
//   +0 n_rules  +4 rules (address of n_rules RULE_SIZE records, ascending location)
//   +8 n_ctx    +12 ctx (address of u32[n_ctx] table addresses by context id, 0 = none)
//   +16 table_size (entries of every indirection table, u32 queue each)
export const ST_N_RULES: u32 = 0;
export const ST_RULES: u32 = 4;
export const ST_N_CTX: u32 = 8;
export const ST_CTX: u32 = 12;
export const ST_TABLE_SIZE: u32 = 16;
export const STEER_SIZE: u32 = 64;

// ntuple rule (RULE_SIZE bytes); addresses, ports and MACs as they sit in the packet.
//   +0 flow_type (low byte; an ether rule's RUS_* bits above it)  +4 action (i32, -1 drop)  +8 context (i32, -1 none)
//   +12 src_ip +16 src_ip_mask +20 dst_ip +24 dst_ip_mask
//   +28 src_port +30 src_port_mask +32 dst_port +34 dst_port_mask (u16)
//   +36 src_mac[6] +42 src_mac_mask[6] +48 dst_mac[6] +54 dst_mac_mask[6]
//   +60 proto (u16, EtherType) +62 proto_mask
//   IPv6 rules (tcp6, udp6, ip6): +64 src_ip6[16] +80 src_ip6_mask[16] +96 dst_ip6[16] +112 dst_ip6_mask[16]
//   +128 tclass (a tcp4/udp4 rule's TOS) +129 tclass_mask +130 l4proto (ip6) +131 l4proto_mask (u8); their ports (an ip6
//   rule's first four L4 bytes) in the port fields above
export const RU_FLOW: u32 = 0;
export const RU_ACTION: u32 = 4;
export const RU_CONTEXT: u32 = 8;
export const RU_SRC_IP: u32 = 12;
export const RU_SRC_IP_MASK: u32 = 16;
export const RU_DST_IP: u32 = 20;
export const RU_DST_IP_MASK: u32 = 24;
export const RU_SRC_PORT: u32 = 28;
export const RU_SRC_PORT_MASK: u32 = 30;
export const RU_DST_PORT: u32 = 32;
export const RU_DST_PORT_MASK: u32 = 34;
export const RU_SRC_MAC: u32 = 36;
export const RU_SRC_MAC_MASK: u32 = 42;
export const RU_DST_MAC: u32 = 48;
export const RU_DST_MAC_MASK: u32 = 54;
export const RU_PROTO: u32 = 60;
export const RU_PROTO_MASK: u32 = 62;
export const RU_SRC_IP6: u32 = 64;
export const RU_SRC_IP6_MASK: u32 = 80;
export const RU_DST_IP6: u32 = 96;
export const RU_DST_IP6_MASK: u32 = 112;
export const RU_TCLASS: u32 = 128;
export const RU_TCLASS_MASK: u32 = 129;
export const RU_L4PROTO: u32 = 130;
export const RU_L4PROTO_MASK: u32 = 131;
export const RULE_SIZE: u32 = 136;
export const FLOW_TCP4: u32 = 1;
export const FLOW_UDP4: u32 = 2;
export const FLOW_ETHER: u32 = 3;
export const FLOW_TCP6: u32 = 4;
export const FLOW_UDP6: u32 = 5;
export const FLOW_IP6: u32 = 6; // ethtool's ip6 (IPV6_USER_FLOW): any next header, or l4proto
// An ether rule's shape, with its flow type: which fields its masks look at (none of a
// field's mask bits set: the field is not compared), and a destination MAC matched whole.
export const RU_FLOW_TYPE: u32 = 0xff;
export const RUS_DST_MAC: u32 = 0x100;
export const RUS_DST_MAC_EXACT: u32 = 0x200;
export const RUS_SRC_MAC: u32 = 0x400;
export const RUS_PROTO: u32 = 0x800;

// Device kinds.
export const KIND_NONE: u32 = 0;
export const KIND_NETKIT: u32 = 1;
export const KIND_NIC: u32 = 2;
export const KIND_LOOPBACK: u32 = 3;

// Interface flags (kernel IFF_* values).
export const IFF_UP: u32 = 0x1;
export const IFF_BROADCAST: u32 = 0x2;
export const IFF_LOOPBACK: u32 = 0x8;
export const IFF_POINTOPOINT: u32 = 0x10;
export const IFF_RUNNING: u32 = 0x40;
export const IFF_NOARP: u32 = 0x80;
export const IFF_PROMISC: u32 = 0x100;
export const IFF_MULTICAST: u32 = 0x1000;
export const IFF_LOWER_UP: u32 = 0x10000;
export const IFF_DORMANT: u32 = 0x20000;

// netkit enums (uapi).
export const NETKIT_NEXT: i32 = -1;
export const NETKIT_PASS: u32 = 0;
export const NETKIT_DROP: u32 = 2;
export const NETKIT_REDIRECT: u32 = 7;
export const NETKIT_L2: u32 = 0;
export const NETKIT_L3: u32 = 1;
export const NETKIT_SCRUB_NONE: u32 = 0;
export const NETKIT_SCRUB_DEFAULT: u32 = 1;
export const NETKIT_DEVICE_PAIR: u32 = 0;
export const NETKIT_DEVICE_SINGLE: u32 = 1;

// Rx sink modes: who consumes a device's rx rings.
export const SINK_STACK: u32 = 0; // the host's network stack drains them
export const SINK_DROP: u32 = 1; // the dataplane counts and frees (rx-drop, benches)

// Counters: one block per (thread, device slot) at
// counters + (thread * max_devices + slot) * COUNTERS_SIZE, u64 each, written only by
// that thread (per-CPU counters, summed by the host).
export const C_RX_PACKETS: u32 = 0;
export const C_RX_BYTES: u32 = 1;
export const C_TX_PACKETS: u32 = 2;
export const C_TX_BYTES: u32 = 3;
export const C_RX_DROPPED: u32 = 4;
export const C_TX_DROPPED: u32 = 5;
export const DROP_FIRST: u32 = 6; // drop reasons follow; each drop bumps one of them
export const DROP_NO_PEER: u32 = 6;
export const DROP_PEER_DOWN: u32 = 7;
export const DROP_PKT_TOO_SMALL: u32 = 8;
export const DROP_POLICY: u32 = 9;
export const DROP_BPF_DROP: u32 = 10;
export const DROP_BPF_VERDICT: u32 = 11;
export const DROP_BACKLOG_FULL: u32 = 12;
export const DROP_BPF_FAULT: u32 = 13;
export const DROP_REDIRECT: u32 = 14;
export const DROP_NTUPLE: u32 = 15; // NIC rx: an ntuple rule with action -1 (RX_CLS_FLOW_DISC)
export const DROP_PROVIDER_EMPTY: u32 = 16; // NIC rx: the queue's memory provider had no free buffer
export const DROP_XDP: u32 = 17; // NIC rx: the XDP program returned XDP_DROP
export const DROP_XDP_ABORTED: u32 = 18; // XDP_ABORTED, an invalid action, or a fault
export const DROP_TCX: u32 = 19; // tcx ingress: TCX_DROP or a program fault (no rx_dropped, as in the kernel)
export const DROP_XSK_NO_BUFFER: u32 = 20; // NIC rx, zero-copy queue: no UMEM buffer (free list and FILL empty, or the driver stopped)
export const DROP_NOMEM: u32 = 21; // NIC rx, zero-copy queue: no frame for the copy an XDP_PASS or devmap redirect needs
export const DROP_LAST: u32 = 21;
// NIC rx also uses BACKLOG_FULL (its rx ring full). Slots up to COUNTERS_COUNT-1 are spare.
export const COUNTERS_COUNT: u32 = 32;
export const COUNTERS_SIZE: u32 = 256;

// Trace records (per-thread ring, TRACE_SIZE bytes each), written when TRACE_ON:
//   +0 tstamp (u64)  +8 ifindex  +12 peer_ifindex  +16 netns  +20 len
//   +24 hook (u8)  +25 verdict (i8)  +26 reason (u16)  +28 mark
//   +32 nprogs: how many programs of the hook's list ran (0: none attached, the policy decided)
//   +36 prog_last: PR_ID of the last one that ran, whose verdict (or fault) ended the walk
//   +40 progs: PR_ID of the first TR_MAX_PROGS that ran (u32 each; the list ran in order,
//       each before the last said NEXT)  +60 queue: the rx queue (hook xdp)
// At the xdp hook (a NIC's XDP program on a frame from the wire) the verdict is the XDP
// action; peer_ifindex is where a redirect went: a devmap's device, or the device an
// AF_XDP socket is bound to (its pool on the frame's queue); mark (no skb yet) is the
// redirect's map type (BPF_MAP_TYPE_XSKMAP for a socket, 0 for none or bpf_redirect).
export const TR_TSTAMP: u32 = 0;
export const TR_IFINDEX: u32 = 8;
export const TR_PEER_IFINDEX: u32 = 12;
export const TR_NETNS: u32 = 16;
export const TR_LEN: u32 = 20;
export const TR_HOOK: u32 = 24;
export const TR_VERDICT: u32 = 25;
export const TR_REASON: u32 = 26;
export const TR_MARK: u32 = 28;
export const TR_NPROGS: u32 = 32;
export const TR_PROG_LAST: u32 = 36;
export const TR_PROGS: u32 = 40;
export const TR_MAX_PROGS: u32 = 5;
export const TR_QUEUE: u32 = 60;
export const TRACE_SIZE: u32 = 64;

// Trace hooks.
export const HOOK_NETKIT_XMIT: u32 = 1;
export const HOOK_RX_SINK: u32 = 2;
export const HOOK_XDP: u32 = 3;

// Replay list (pktgenList), host-built, read-only while the call runs: one entry per frame,
// in replay order:  +0 frame bytes (u32 addr)  +4 length (u16)  +6 EtherType as skb->protocol
// stores it (u16, network order)
export const RP_ADDR: u32 = 0;
export const RP_LEN: u32 = 4;
export const RP_PROTO: u32 = 6;
export const RP_SIZE: u32 = 8;

// Capture records (per-thread ring, entry = CAP_HEADER + snaplen bytes):
//   +0 tstamp (u64)  +8 ifindex  +12 netns  +16 orig_len  +20 cap_len  +24 direction
//   +28 reason (drop reason, 0 = delivered)  +32 data
export const CAP_TSTAMP: u32 = 0;
export const CAP_IFINDEX: u32 = 8;
export const CAP_NETNS: u32 = 12;
export const CAP_ORIG_LEN: u32 = 16;
export const CAP_LEN: u32 = 20;
export const CAP_DIRECTION: u32 = 24;
export const CAP_REASON: u32 = 28;
export const CAP_HEADER: u32 = 32;
export const CAP_DIR_IN: u32 = 1;
export const CAP_DIR_OUT: u32 = 2;

// Ethernet.
export const ETH_HLEN: u32 = 14;
export const ETH_ALEN: u32 = 6;
