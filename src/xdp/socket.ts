/**
 * AF_XDP sockets, receive side in copy mode (spec/af_xdp.md §1–§3, §6): a UMEM in the
 * shared memory, FILL and RX rings with the libxdp verbs, bind with the kernel's checks —
 * including binding through a netkit queue that leases a physical one (the proxy pool) —
 * and XDP_STATISTICS. Frames arrive when an XDP program redirects into the socket through
 * an XSKMAP (`BpfMap.setSocket`).
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { fail } from '../errors.js';
import type { NetDevice } from '../net/netdev.js';

export interface XskOptions {
  /** UMEM bytes (a multiple of the chunk size). Default 1 MiB. */
  umemSize?: number;
  /** Chunk (frame) size: a power of two, 2048..4096. Default 4096. */
  chunkSize?: number;
  /** Headroom before each frame's data. Default 0. */
  headroom?: number;
  /** FILL, RX, TX and COMPLETION ring entries (powers of two). Default 2048 each. */
  fillSize?: number;
  rxSize?: number;
  txSize?: number;
  compSize?: number;
}

export interface XdpStatistics {
  rx_dropped: bigint;
  rx_invalid_descs: bigint;
  tx_invalid_descs: bigint;
  rx_ring_full: bigint;
  rx_fill_ring_empty_descs: bigint;
  tx_ring_empty_descs: bigint;
}

const pow2 = (v: number): boolean => Number.isInteger(v) && v > 0 && (v & (v - 1)) === 0;

export class XskSocket {
  /** The socket record (abi XS_*): what an XSKMAP holds. */
  readonly record: number;
  readonly umem: number;
  readonly umemSize: number;
  readonly chunkSize: number;
  readonly headroom: number;
  readonly fill: number;
  readonly rx: number;
  readonly tx: number;
  readonly comp: number;
  private txInvalid = 0n;
  private txEmpty = 0n;
  /** Copy-mode TX budget per kick (XDP_MAX_TX_SKB_BUDGET). Default 32. */
  txBudget = 32;
  bound: { dev: NetDevice; queue: number; phys?: { dev: NetDevice; queue: number } } | undefined;
  private readonly dp: Dataplane;

  /** socket(AF_XDP) + XDP_UMEM_REG + the FILL and RX rings (§1.1, §2.1). */
  constructor(dp: Dataplane, o: XskOptions = {}) {
    const chunk = o.chunkSize ?? 4096;
    const size = o.umemSize ?? 1 << 20;
    const headroom = o.headroom ?? 0;
    if (!pow2(chunk) || chunk < 2048 || chunk > 4096) fail('EINVAL');
    if (size <= 0 || size % chunk !== 0) fail('EINVAL');
    if (headroom < 0 || headroom > chunk - A.XDP_PACKET_HEADROOM - 128) fail('EINVAL');
    const fillSize = o.fillSize ?? 2048;
    const rxSize = o.rxSize ?? 2048;
    if (!pow2(fillSize) || !pow2(rxSize)) fail('EINVAL');
    this.dp = dp;
    this.umemSize = size;
    this.chunkSize = chunk;
    this.headroom = headroom;
    this.umem = dp.alloc(size, 4096);
    this.fill = dp.allocRing(fillSize, 8);
    this.rx = dp.allocRing(rxSize, A.DESC_SIZE);
    const txSize = o.txSize ?? 2048;
    const compSize = o.compSize ?? 2048;
    if (!pow2(txSize) || !pow2(compSize)) fail('EINVAL');
    this.tx = dp.allocRing(txSize, A.DESC_SIZE);
    this.comp = dp.allocRing(compSize, 8);
    this.record = dp.alloc(A.XS_SIZE);
    dp.bytes().fill(0, this.record, this.record + A.XS_SIZE);
    const dv = dp.view();
    const r = this.record;
    dv.setUint32(r + A.XS_UMEM, this.umem, true);
    dv.setUint32(r + A.XS_UMEM_SIZE, size, true);
    dv.setUint32(r + A.XS_CHUNK, chunk, true);
    dv.setUint32(r + A.XS_HEADROOM, headroom, true);
    dv.setUint32(r + A.XS_FILL, this.fill, true);
    dv.setUint32(r + A.XS_RX, this.rx, true);
  }

  /** xsk_ring_prod__reserve/submit on FILL: hands chunk addresses to the kernel side. Returns how many fit. */
  fillRing(addrs: number[]): number {
    const dv = this.dp.view();
    const w = this.dp.words();
    const prod = dv.getUint32(this.fill + A.R_PRODUCER, true);
    const cons = Atomics.load(w, (this.fill + A.R_CONSUMER) >> 2) >>> 0;
    const size = dv.getUint32(this.fill + A.R_SIZE, true);
    const mask = dv.getUint32(this.fill + A.R_MASK, true);
    const n = Math.min(addrs.length, size - ((prod - cons) >>> 0));
    for (let i = 0; i < n; i++) dv.setBigUint64(this.fill + A.RING_ENTRIES + ((prod + i) & mask) * 8, BigInt(addrs[i]!), true);
    Atomics.store(w, (this.fill + A.R_PRODUCER) >> 2, (prod + n) | 0);
    return n;
  }

  /** xsk_ring_cons__peek/release on RX: the frames received, with their data copied out. */
  recv(max = Infinity): { addr: number; len: number; data: Uint8Array }[] {
    const out: { addr: number; len: number; data: Uint8Array }[] = [];
    const dv = this.dp.view();
    const w = this.dp.words();
    let cons = dv.getUint32(this.rx + A.R_CONSUMER, true);
    const prod = Atomics.load(w, (this.rx + A.R_PRODUCER) >> 2) >>> 0;
    const mask = dv.getUint32(this.rx + A.R_MASK, true);
    while (cons !== prod && out.length < max) {
      const e = this.rx + A.RING_ENTRIES + (cons & mask) * A.DESC_SIZE;
      const addr = Number(dv.getBigUint64(e + A.DESC_ADDR, true));
      const len = dv.getUint32(e + A.DESC_LEN, true);
      out.push({ addr, len, data: this.dp.bytes().slice(this.umem + addr, this.umem + addr + len) });
      cons = (cons + 1) >>> 0;
    }
    Atomics.store(w, (this.rx + A.R_CONSUMER) >> 2, cons | 0);
    return out;
  }

  /**
   * Where every UMEM chunk is: in FILL, RX, TX, COMPLETION, or the application's hands (`held`). Returns the chunks found in more
   * than one place or in none — an empty list when every chunk is accounted for once.
   */
  unaccounted(held: readonly number[]): number[] {
    const dv = this.dp.view();
    const count = new Map<number, number>();
    const add = (addr: number): void => {
      const c = addr - (addr % this.chunkSize);
      count.set(c, (count.get(c) ?? 0) + 1);
    };
    const walk = (ring: number, size: number, read: (e: number) => number): void => {
      const cons = dv.getUint32(ring + A.R_CONSUMER, true);
      const prod = dv.getUint32(ring + A.R_PRODUCER, true);
      const mask = dv.getUint32(ring + A.R_MASK, true);
      for (let i = cons; i !== prod; i = (i + 1) >>> 0) add(read(ring + A.RING_ENTRIES + (i & mask) * size));
    };
    walk(this.fill, 8, (e) => Number(dv.getBigUint64(e, true)));
    walk(this.rx, A.DESC_SIZE, (e) => Number(dv.getBigUint64(e + A.DESC_ADDR, true)));
    walk(this.tx, A.DESC_SIZE, (e) => Number(dv.getBigUint64(e + A.DESC_ADDR, true)));
    walk(this.comp, 8, (e) => Number(dv.getBigUint64(e, true)));
    held.forEach(add);
    const bad: number[] = [];
    for (let c = 0; c < this.umemSize; c += this.chunkSize) if ((count.get(c) ?? 0) !== 1) bad.push(c);
    return bad;
  }

  /** xsk_ring_prod__reserve/submit on TX: frames (UMEM address and length) to send at the next kick. */
  txRing(frames: { addr: number; len: number }[]): number {
    const dv = this.dp.view();
    const w = this.dp.words();
    const prod = dv.getUint32(this.tx + A.R_PRODUCER, true);
    const cons = Atomics.load(w, (this.tx + A.R_CONSUMER) >> 2) >>> 0;
    const mask = dv.getUint32(this.tx + A.R_MASK, true);
    const n = Math.min(frames.length, dv.getUint32(this.tx + A.R_SIZE, true) - ((prod - cons) >>> 0));
    for (let i = 0; i < n; i++) {
      const e = this.tx + A.RING_ENTRIES + ((prod + i) & mask) * A.DESC_SIZE;
      dv.setBigUint64(e + A.DESC_ADDR, BigInt(frames[i]!.addr), true);
      dv.setUint32(e + A.DESC_LEN, frames[i]!.len, true);
      dv.setUint32(e + A.DESC_OPTIONS, 0, true);
    }
    Atomics.store(w, (this.tx + A.R_PRODUCER) >> 2, (prod + n) | 0);
    return n;
  }

  /** xsk_ring_cons__peek/release on COMPLETION: the addresses of sent frames, back to the application. */
  completions(): number[] {
    const out: number[] = [];
    const dv = this.dp.view();
    let cons = dv.getUint32(this.comp + A.R_CONSUMER, true);
    const prod = dv.getUint32(this.comp + A.R_PRODUCER, true);
    const mask = dv.getUint32(this.comp + A.R_MASK, true);
    for (; cons !== prod; cons = (cons + 1) >>> 0) out.push(Number(dv.getBigUint64(this.comp + A.RING_ENTRIES + (cons & mask) * 8, true)));
    Atomics.store(this.dp.words(), (this.comp + A.R_CONSUMER) >> 2, cons | 0);
    return out;
  }

  /**
   * The copy-mode TX pass of a kick (sendto, §3.6): up to `txBudget` descriptors become
   * frames sent with `send`, each completed on COMPLETION. Returns the frames sent and, as
   * the kick's result, 0 or EAGAIN (budget spent, or no COMPLETION slot).
   */
  txPass(send: (frame: Uint8Array) => void, realTx: number): { sent: number; result: 0 | 'EAGAIN' } {
    if (!this.bound) fail('ENXIO');
    if (this.bound.queue >= realTx) return { sent: 0, result: 0 }; // e.g. a leased netkit queue ≥ its one TX queue
    const dv = this.dp.view();
    const w = this.dp.words();
    const txMask = dv.getUint32(this.tx + A.R_MASK, true);
    const compMask = dv.getUint32(this.comp + A.R_MASK, true);
    const compSize = dv.getUint32(this.comp + A.R_SIZE, true);
    let cons = dv.getUint32(this.tx + A.R_CONSUMER, true);
    const prod = Atomics.load(w, (this.tx + A.R_PRODUCER) >> 2) >>> 0;
    let cprod = dv.getUint32(this.comp + A.R_PRODUCER, true);
    let sent = 0;
    let result: 0 | 'EAGAIN' = 0;
    for (;;) {
      if (cons === prod) { this.txEmpty++; break; }
      if (sent >= this.txBudget) { result = 'EAGAIN'; break; }
      const e = this.tx + A.RING_ENTRIES + (cons & txMask) * A.DESC_SIZE;
      const addr = Number(dv.getBigUint64(e + A.DESC_ADDR, true));
      const len = dv.getUint32(e + A.DESC_LEN, true);
      if (len === 0 || addr + len > this.umemSize || (addr % this.chunkSize) + len > this.chunkSize) {
        this.txInvalid++;
        cons = (cons + 1) >>> 0;
        break;
      }
      const ccons = Atomics.load(w, (this.comp + A.R_CONSUMER) >> 2) >>> 0;
      if (((cprod - ccons) >>> 0) >= compSize) { result = 'EAGAIN'; break; }
      send(this.dp.bytes().slice(this.umem + addr, this.umem + addr + len));
      dv.setBigUint64(this.comp + A.RING_ENTRIES + (cprod & compMask) * 8, BigInt(addr), true);
      cprod = (cprod + 1) >>> 0;
      cons = (cons + 1) >>> 0;
      sent++;
    }
    Atomics.store(w, (this.tx + A.R_CONSUMER) >> 2, cons | 0);
    Atomics.store(w, (this.comp + A.R_PRODUCER) >> 2, cprod | 0);
    return { sent, result };
  }

  /** getsockopt(XDP_STATISTICS), the full struct. */
  statistics(): XdpStatistics {
    const dv = this.dp.view();
    return {
      rx_dropped: dv.getBigUint64(this.record + A.XS_RX_DROPPED, true), rx_invalid_descs: 0n, tx_invalid_descs: this.txInvalid,
      rx_ring_full: dv.getBigUint64(this.record + A.XS_RX_RING_FULL, true),
      rx_fill_ring_empty_descs: this.bound ? dv.getBigUint64(this.record + A.XS_RX_FILL_EMPTY, true) : 0n,
      tx_ring_empty_descs: this.txEmpty,
    };
  }

  /** @internal the emulator's bind publishes the socket state after every field. */
  publishBound(ifindex: number, queue: number, phys: { ifindex: number; queue: number } | undefined): void {
    const dv = this.dp.view();
    dv.setUint32(this.record + A.XS_IFINDEX, ifindex, true);
    dv.setUint32(this.record + A.XS_QUEUE, queue, true);
    dv.setUint32(this.record + A.XS_PHYS_IFINDEX, phys?.ifindex ?? 0, true);
    dv.setUint32(this.record + A.XS_PHYS_QUEUE, phys?.queue ?? 0xffffffff, true);
    Atomics.store(this.dp.words(), (this.record + A.XS_STATE) >> 2, this.bound ? A.XS_BOUND : 0);
  }
}
