// AF_XDP socket record, written by the host at bind, read by the dataplane when an XDP
// program redirects into the socket through an XSKMAP (receive) and by whichever thread
// kicks the socket (the copy TX pass of sendto/poll, the zero-copy driver's TX pass).
//
//   +0  state (XS_BOUND)            +4  ifindex (bound device)   +8  queue (bound queue)
//   +12 physical ifindex  +16 physical queue (the leased queue, when bound through netkit)
//   +20 umem base  +24 umem size  +28 chunk size  +32 headroom
//   +36 fill ring (u64 addresses)   +40 rx ring (16-byte descs)     <- the pool's FILL
//   +44 tx ring (16-byte descs)     +48 completion ring (u64)       <- the pool's COMPLETION
//   +52 flags (XSF_*)   +56 TX device slot   +60 TX queue (0xffffffff: the device has none)
//   +64 pool record (the socket record whose FILL counters the pool uses; itself if owner)
//   +68 copy-mode TX budget (XDP_MAX_TX_SKB_BUDGET)
//   +72  rx_dropped (u64)  +80 rx_ring_full  +88 rx_fill_ring_empty_descs (pool's)
//   +96  tx_invalid_descs  +104 tx_ring_empty_descs  +112 fill invalid (pool's, private)
//   +120 tx descriptors completed (u64; what the kicks sent)   +128 bound device slot
//   +132 free list (u32[capacity] UMEM chunk offsets; the pool's, on its owner's record)
//   +136 free list length  +140 free list capacity (the UMEM's chunks)
// Counters are written with atomic adds: receive (any dataplane thread) and TX (the kicking
// thread) may run at once. A ring pointer of 0 means the socket did not create that ring.
export const XS_STATE: u32 = 0;
export const XS_IFINDEX: u32 = 4;
export const XS_QUEUE: u32 = 8;
export const XS_PHYS_IFINDEX: u32 = 12;
export const XS_PHYS_QUEUE: u32 = 16;
export const XS_UMEM: u32 = 20;
export const XS_UMEM_SIZE: u32 = 24;
export const XS_CHUNK: u32 = 28;
export const XS_HEADROOM: u32 = 32;
export const XS_FILL: u32 = 36;
export const XS_RX: u32 = 40;
export const XS_TX: u32 = 44;
export const XS_COMP: u32 = 48;
export const XS_FLAGS: u32 = 52;
export const XS_TX_SLOT: u32 = 56;
export const XS_TX_QUEUE: u32 = 60;
export const XS_POOL: u32 = 64;
export const XS_TX_BUDGET: u32 = 68;
export const XS_RX_DROPPED: u32 = 72;
export const XS_RX_RING_FULL: u32 = 80;
export const XS_RX_FILL_EMPTY: u32 = 88;
export const XS_TX_INVALID: u32 = 96;
export const XS_TX_EMPTY: u32 = 104;
export const XS_FILL_INVALID: u32 = 112;
export const XS_TX_DONE: u32 = 120;
export const XS_DEV_SLOT: u32 = 128;
// The pool's free list (af_xdp.md §1.3): buffers the kernel took from FILL that were not
// delivered (zero-copy: the XDP program dropped or passed the frame, RX was full); reused
// before new FILL entries.
export const XS_FREE: u32 = 132;
export const XS_FREE_N: u32 = 136;
export const XS_FREE_CAP: u32 = 140;
export const XS_SIZE: u32 = 144;
export const XS_BOUND: u32 = 1;
// XS_FLAGS bits: the pool's mode (zero-copy, need_wakeup), multi-buffer (XDP_USE_SG), and
// the zero-copy driver's TX state (kicked, not yet idle).
export const XSF_ZEROCOPY: u32 = 1;
export const XSF_NEED_WAKEUP: u32 = 2;
export const XSF_SG: u32 = 4;
export const XSF_TX_ACTIVE: u32 = 8;
// Copy mode puts the frame at buffer + headroom + XDP_PACKET_HEADROOM.
export const XDP_PACKET_HEADROOM: u32 = 256;
// xdp_desc.options: the packet continues in the next descriptor (multi-buffer).
export const XDP_PKT_CONTD: u32 = 1;
// xdp_desc.options: TX metadata precedes addr (accepted; nkemu has no TX offloads).
export const XDP_TX_METADATA: u32 = 2;
// Copy-mode TX: at most this many fragments after the first in one packet (MAX_SKB_FRAGS).
export const XSK_MAX_FRAGS: u32 = 17;
// Kick results (errno numbers) returned by the TX passes.
export const XSK_ENXIO: u32 = 6;
export const XSK_EAGAIN: u32 = 11;
export const XSK_EBUSY: u32 = 16;
export const XSK_EOPNOTSUPP: u32 = 95;
export const XSK_ENETDOWN: u32 = 100;
export const XSK_ENOBUFS: u32 = 105;
// sendto/recvfrom flag: the only mode AF_XDP supports (blocking is EOPNOTSUPP).
export const XSK_MSG_DONTWAIT: u32 = 0x40;
// poll() bits: POLLIN|POLLRDNORM and POLLOUT|POLLWRNORM.
export const XSK_POLLIN: u32 = 0x41;
export const XSK_POLLOUT: u32 = 0x104;

// An AF_XDP application (xdpsock's loops, run by its own worker): one record each, written
// by that worker; the host writes it before the start and reads the counters.
//
//   +0  mode (APP_*)   +4 socket record   +8 batch   +12 flags (APP_NEED_WAKEUP)
//   +16 rx packets (u64)   +24 tx packets (u64, completed)
//   +32 tx-only: next chunk   +36 tx-only: chunks used   +40 tx-only: frame length
//   +44 tx-only: packets to send (0: no limit)   +48 packets submitted to TX
//   +52 outstanding TX descriptors   +56 kicks that failed   +60 last kick errno
//   +64 l2fwd: inside a multi-buffer packet (1) or at a packet start (0)
//   +68 stop (the host sets it to 1; the worker drains and exits)
export const APP_MODE: u32 = 0;
export const APP_SOCKET: u32 = 4;
export const APP_BATCH: u32 = 8;
export const APP_FLAGS: u32 = 12;
export const APP_RX_PACKETS: u32 = 16;
export const APP_TX_PACKETS: u32 = 24;
export const APP_NEXT: u32 = 32;
export const APP_CHUNKS: u32 = 36;
export const APP_FRAME_LEN: u32 = 40;
export const APP_LIMIT: u32 = 44;
export const APP_SUBMITTED: u32 = 48;
export const APP_OUTSTANDING: u32 = 52;
export const APP_KICK_FAILS: u32 = 56;
export const APP_KICK_ERRNO: u32 = 60;
export const APP_IN_PKT: u32 = 64;
export const APP_STOP: u32 = 68;
export const APP_SIZE: u32 = 72;
export const APP_RXDROP: u32 = 1;
export const APP_TXONLY: u32 = 2;
export const APP_L2FWD: u32 = 3;
export const APP_NEED_WAKEUP: u32 = 1;
