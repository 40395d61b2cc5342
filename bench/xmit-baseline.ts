/**
 * The xmit bench's baseline: the same work as the dataplane's pktgen → netkit xmit →
 * drop sink, written as a plain TypeScript loop over the same shared memory and records
 * (free stack, frame metadata, device records, peer rx ring, per-thread counters).
 * It exists only to be measured against; the emulator never runs it.
 */

import * as A from '../src/abi.generated.js';
import type { Dataplane } from '../src/dataplane.js';

export function tsPktgen(dp: Dataplane, slot: number, tmpl: number, len: number, count: number, batch: number): number {
  const buf = dp.memory.buffer as unknown as SharedArrayBuffer;
  const u8 = new Uint8Array(buf);
  const u32 = new Uint32Array(buf);
  const i32 = new Int32Array(buf);
  const G = A.GLOBALS >> 2;
  const frameSize = u32[G + (A.G_FRAME_SIZE >> 2)]!;
  const table = u32[G + (A.G_DEV_TABLE >> 2)]!;
  const counters = u32[G + (A.G_COUNTERS >> 2)]!;
  const ts = u32[G + (A.G_THREADS >> 2)]!; // thread 0
  const stack = u32[(ts + A.T_FREE_STACK) >> 2]!;
  const template = u8.slice(tmpl, tmpl + len);
  const descs = new Uint32Array(batch * 2);
  let sent = 0;
  while (sent < count) {
    const nb = Math.min(batch, count - sent);
    // pktgen: allocate and fill frames
    let top = u32[(ts + A.T_FREE_TOP) >> 2]!;
    let k = 0;
    for (; k < nb && top > 0; k++) {
      top--;
      const base = u32[(stack >> 2) + top]!;
      u8.fill(0, base, base + A.FRAME_META);
      const data = base + A.FRAME_HEADROOM;
      u8.set(template, data);
      descs[k * 2] = data;
      descs[k * 2 + 1] = len;
    }
    u32[(ts + A.T_FREE_TOP) >> 2] = top;
    // xmit
    const dev = u32[(table >> 2) + slot]!;
    const peerSlot = i32[(dev + A.D_PEER) >> 2]!;
    const peer = u32[(table >> 2) + peerSlot]!;
    const cDev = counters + slot * A.COUNTERS_SIZE;
    const cPeer = counters + peerSlot * A.COUNTERS_SIZE;
    const rx = u32[(peer + A.D_RX_RINGS) >> 2]!;
    const ring = u32[rx >> 2]!;
    const xnet = u32[(dev + A.D_NETNS) >> 2] !== u32[(peer + A.D_NETNS) >> 2];
    const scrubDefault = u8[dev + A.D_SCRUB] === A.NETKIT_SCRUB_DEFAULT;
    const peerIfindex = u32[(peer + A.D_IFINDEX) >> 2]!;
    const policy = u32[(dev + A.D_POLICY) >> 2]!;
    const size = u32[(ring + A.R_SIZE) >> 2]!;
    const mask = size - 1;
    let prod = u32[(ring + A.R_PRODUCER) >> 2]!;
    const cons = Atomics.load(u32, (ring + A.R_CONSUMER) >> 2);
    let room = cons + size - prod;
    let queued = 0;
    let bytes = 0;
    let dropped = 0;
    const free = (base: number): void => {
      const top = u32[(ts + A.T_FREE_TOP) >> 2]!;
      u32[(stack >> 2) + top] = base;
      u32[(ts + A.T_FREE_TOP) >> 2] = top + 1;
    };
    for (let i = 0; i < k; i++) {
      const addr = descs[i * 2]!;
      const l = descs[i * 2 + 1]!;
      const meta = addr - (addr % frameSize);
      if ((u32[(peer + A.D_FLAGS) >> 2]! & A.IFF_UP) === 0 || l < A.ETH_HLEN) { dropped++; free(meta); continue; }
      u32[(meta + A.FM_INGRESS_IFINDEX) >> 2] = 0;
      u8[meta + A.FM_FLAGS]! &= ~A.FMF_IGNORE_DF;
      if (xnet) {
        u32[(meta + A.FM_TSTAMP) >> 2] = 0;
        u32[(meta + A.FM_TSTAMP + 4) >> 2] = 0;
        if (scrubDefault) { u32[(meta + A.FM_MARK) >> 2] = 0; u32[(meta + A.FM_PRIORITY) >> 2] = 0; }
      }
      let type = A.PACKET_OTHERHOST;
      let eq = true;
      for (let b = 0; b < 6; b++) if (u8[addr + b] !== u8[peer + A.D_MAC + b]) { eq = false; break; }
      if (eq) type = A.PACKET_HOST;
      else if (u8[addr]! === 0xff && u8[addr + 1] === 0xff && u8[addr + 2] === 0xff && u8[addr + 3] === 0xff && u8[addr + 4] === 0xff && u8[addr + 5] === 0xff) type = A.PACKET_BROADCAST;
      else if ((u8[addr]! & 1) !== 0) type = A.PACKET_MULTICAST;
      u8[meta + A.FM_PKT_TYPE] = type;
      u32[(meta + A.FM_IFINDEX) >> 2] = peerIfindex;
      if (policy === A.NETKIT_PASS && room > 0) {
        const e = ring + A.RING_ENTRIES + (prod & mask) * A.DESC_SIZE;
        u32[e >> 2] = addr;
        u32[(e >> 2) + 1] = 0;
        u32[(e + A.DESC_LEN) >> 2] = l;
        u32[(e + A.DESC_OPTIONS) >> 2] = 0;
        prod = (prod + 1) >>> 0;
        room--;
        queued++;
        bytes += l;
      } else {
        dropped++;
        free(meta);
      }
    }
    Atomics.store(u32, (ring + A.R_PRODUCER) >> 2, prod);
    u32[(ring + A.R_CACHED_CONS) >> 2] = (cons + size) >>> 0;
    const add = (block: number, idx: number, v: number): void => {
      const at = (block + idx * 8) >> 2;
      const lo = u32[at]! + v;
      u32[at] = lo >>> 0;
      if (lo > 0xffffffff) u32[at + 1]!++;
    };
    add(cDev, A.C_TX_PACKETS, queued);
    add(cDev, A.C_TX_BYTES, bytes);
    add(cDev, A.C_TX_DROPPED, dropped);
    add(cPeer, A.C_RX_PACKETS, queued);
    add(cPeer, A.C_RX_BYTES, bytes);
    // drop sink: consume the peer's ring and return frames to the free stack
    let c = u32[(ring + A.R_CONSUMER) >> 2]!;
    const p = Atomics.load(u32, (ring + A.R_PRODUCER) >> 2);
    let t = u32[(ts + A.T_FREE_TOP) >> 2]!;
    while (c !== p) {
      const e = ring + A.RING_ENTRIES + (c & mask) * A.DESC_SIZE;
      const addr = u32[e >> 2]!;
      u32[(stack >> 2) + t] = addr - (addr % frameSize);
      t++;
      c = (c + 1) >>> 0;
    }
    u32[(ts + A.T_FREE_TOP) >> 2] = t;
    u32[(ring + A.R_CACHED_PROD) >> 2] = p;
    Atomics.store(u32, (ring + A.R_CONSUMER) >> 2, c);
    sent += k;
    if (k === 0) break;
  }
  return sent;
}
