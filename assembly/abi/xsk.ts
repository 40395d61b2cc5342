// AF_XDP socket record (copy-mode receive), written by the host at bind, read by the
// dataplane when an XDP program redirects into the socket through an XSKMAP:
//
//   +0  state (XS_BOUND)            +4  ifindex (bound device)   +8  queue (bound queue)
//   +12 physical ifindex  +16 physical queue (the leased queue, when bound through netkit)
//   +20 umem base  +24 umem size  +28 chunk size  +32 headroom
//   +36 fill ring (u64 addresses)   +40 rx ring (16-byte descs)
//   +48 rx_dropped (u64)  +56 rx_ring_full (u64)  +64 rx_fill_ring_empty_descs (u64)
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
export const XS_RX_DROPPED: u32 = 48;
export const XS_RX_RING_FULL: u32 = 56;
export const XS_RX_FILL_EMPTY: u32 = 64;
export const XS_SIZE: u32 = 72;
export const XS_BOUND: u32 = 1;
// Copy mode puts the frame at buffer + headroom + XDP_PACKET_HEADROOM.
export const XDP_PACKET_HEADROOM: u32 = 256;
