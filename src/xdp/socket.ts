/**
 * AF_XDP sockets (spec/af_xdp.md §1–§4, §6): a UMEM in the shared memory, the four rings
 * with the libxdp verbs, bind (`Emulator.xskBind`) with the kernel's checks — copy or
 * zero-copy, need_wakeup, multi-buffer, a UMEM shared with another socket, and binding
 * through a netkit queue that leases a physical one (the proxy pool) — and the getsockopts
 * (XDP_STATISTICS, XDP_OPTIONS). Frames arrive when an XDP program redirects into the
 * socket through an XSKMAP (`BpfMap.setSocket`).
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { fail } from '../errors.js';
import type { NetDevice, RxQueue } from '../net/netdev.js';

/** Bind flags (sockaddr_xdp.sxdp_flags). */
export const XDP_SHARED_UMEM = 1 << 0;
export const XDP_COPY = 1 << 1;
export const XDP_ZEROCOPY = 1 << 2;
export const XDP_USE_NEED_WAKEUP = 1 << 3;
export const XDP_USE_SG = 1 << 4;
/** Descriptor option: the packet continues in the next descriptor. */
export const XDP_PKT_CONTD = A.XDP_PKT_CONTD;
/** The ring flag a kick clears (FILL) or that asks for a kick (TX). */
export const XDP_RING_NEED_WAKEUP = A.RING_NEED_WAKEUP;
/** sendto/recvfrom flag; AF_XDP only supports non-blocking calls. */
export const MSG_DONTWAIT = A.XSK_MSG_DONTWAIT;
/** poll() bits. */
export const POLLIN = 0x1;
export const POLLOUT = 0x4;
export const POLLRDNORM = 0x40;
export const POLLWRNORM = 0x100;

export interface XskOptions {
  /** UMEM bytes (a multiple of the chunk size), or 0 for none (a socket that will share another's). Default 1 MiB. */
  umemSize?: number;
  /** Chunk (frame) size: a power of two, 2048..4096. Default 4096. */
  chunkSize?: number;
  /** Headroom before each frame's data. Default 0. */
  headroom?: number;
  /** FILL, RX, TX and COMPLETION ring entries (powers of two; 0 = ring not created). Default 2048 each. */
  fillSize?: number;
  rxSize?: number;
  txSize?: number;
  compSize?: number;
}

export interface XskBindOptions {
  /** XDP_COPY, XDP_ZEROCOPY, XDP_USE_NEED_WAKEUP, XDP_USE_SG, or XDP_SHARED_UMEM alone. Default 0. */
  flags?: number;
  /** With XDP_SHARED_UMEM: the bound socket whose UMEM this one shares (sxdp_shared_umem_fd). */
  sharedUmem?: XskSocket;
}

export interface XdpStatistics {
  rx_dropped: bigint;
  rx_invalid_descs: bigint;
  tx_invalid_descs: bigint;
  rx_ring_full: bigint;
  rx_fill_ring_empty_descs: bigint;
  tx_ring_empty_descs: bigint;
}

/** A descriptor as the application sees it on RX (data copied out) or writes on TX. */
export interface XdpDesc { addr: number; len: number; options?: number }

/**
 * A buffer pool: one per (device, queue) a UMEM is bound to, with that queue's FILL and
 * COMPLETION rings; sockets binding with XDP_SHARED_UMEM to the same (device, queue) share it.
 * @internal
 */
export interface XskPool {
  fill: number;
  comp: number;
  /** The socket whose record holds the pool's FILL counters. */
  owner: XskSocket;
  sockets: Set<XskSocket>;
  zerocopy: boolean;
  needWakeup: boolean;
  /** The rx queue the pool is registered on (the physical one when leased). */
  holder: RxQueue;
}

export type XskState = 'ready' | 'bound' | 'unbound';

const pow2 = (v: number): boolean => Number.isInteger(v) && v > 0 && (v & (v - 1)) === 0;

export class XskSocket {
  /** The socket record (abi XS_*): what an XSKMAP holds. */
  readonly record: number;
  /** UMEM base address in the shared memory (a shared socket's is its partner's, from bind). */
  umem: number;
  umemSize: number;
  chunkSize: number;
  headroom: number;
  readonly rx: number;
  readonly tx: number;
  /** This socket's own FILL and COMPLETION rings (0 when not created). */
  private readonly ownFill: number;
  private readonly ownComp: number;
  /** The UMEM was registered on this socket (XDP_UMEM_REG). */
  readonly ownsUmem: boolean;
  /** Multi-buffer (XDP_USE_SG) on this UMEM. */
  sg = false;
  state: XskState = 'ready';
  bound: { dev: NetDevice; queue: number; phys?: { dev: NetDevice; queue: number }; pool: XskPool } | undefined;
  /** @internal Sockets using this socket's UMEM or its pool's rings (its memory waits for them). */
  dependents = 0;
  /** @internal The sockets whose UMEM and pool rings this one uses (set by bind). */
  uses: XskSocket[] = [];
  /** Closed by its owner (the fd): its memory is freed once nothing uses it; every call is EBADF. */
  released = false;
  /** @internal Its memory is retired. */
  freed = false;
  private readonly dp: Dataplane;

  /** socket(AF_XDP) + XDP_UMEM_REG + the ring setsockopts (§1.1, §2.1). */
  constructor(dp: Dataplane, o: XskOptions = {}) {
    const chunk = o.chunkSize ?? 4096;
    const size = o.umemSize ?? 1 << 20;
    const headroom = o.headroom ?? 0;
    const ring = (v: number | undefined): number => {
      const n = v ?? 2048;
      if (n !== 0 && !pow2(n)) fail('EINVAL');
      return n;
    };
    const [fillSize, rxSize, txSize, compSize] = [ring(o.fillSize), ring(o.rxSize), ring(o.txSize), ring(o.compSize)];
    if (size !== 0) {
      if (!pow2(chunk) || chunk < 2048 || chunk > 4096) fail('EINVAL');
      if (size < 0 || size % chunk !== 0) fail('EINVAL');
      if (headroom < 0 || headroom >= chunk - A.XDP_PACKET_HEADROOM) fail('EINVAL');
    }
    this.dp = dp;
    this.ownsUmem = size !== 0;
    this.umemSize = size;
    this.chunkSize = size ? chunk : 0;
    this.headroom = size ? headroom : 0;
    this.sizes = { umem: size, fill: fillSize, rx: rxSize, tx: txSize, comp: compSize };
    // All or nothing: a socket that cannot get its memory (ENOMEM) leaves none taken.
    const taken: [number, number][] = [];
    const take = (bytes: number, f: () => number): number => {
      if (!bytes) return 0;
      try {
        const at = f();
        taken.push([at, bytes]);
        return at;
      } catch (e) {
        for (const [a, b] of taken) dp.release(a, b);
        throw e;
      }
    };
    this.umem = take(size, () => dp.alloc(size, 4096));
    this.ownFill = take(fillSize && dp.ringBytes(fillSize, 8), () => dp.allocRing(fillSize, 8));
    this.rx = take(rxSize && dp.ringBytes(rxSize, A.DESC_SIZE), () => dp.allocRing(rxSize, A.DESC_SIZE));
    this.tx = take(txSize && dp.ringBytes(txSize, A.DESC_SIZE), () => dp.allocRing(txSize, A.DESC_SIZE));
    this.ownComp = take(compSize && dp.ringBytes(compSize, 8), () => dp.allocRing(compSize, 8));
    // "TX must be kicked the first time": the TX ring starts with need_wakeup set.
    if (this.tx) dp.view().setUint32(this.tx + A.R_FLAGS, A.RING_NEED_WAKEUP, true);
    this.record = take(A.XS_SIZE, () => dp.alloc(A.XS_SIZE));
    dp.bytes().fill(0, this.record, this.record + A.XS_SIZE);
    const dv = dp.view();
    const r = this.record;
    dv.setUint32(r + A.XS_RX, this.rx, true);
    dv.setUint32(r + A.XS_TX, this.tx, true);
    dv.setUint32(r + A.XS_TX_BUDGET, 32, true);
    dv.setUint32(r + A.XS_POOL, r, true);
  }

  private readonly sizes: { umem: number; fill: number; rx: number; tx: number; comp: number };

  /**
   * @internal Retires the socket's memory (record, rings, its UMEM if it registered one,
   * its pool's free list) past a grace period: the dataplane may still be reading it.
   */
  retireMemory(): void {
    if (this.freed) return;
    this.freed = true;
    const dp = this.dp;
    const free = dp.view().getUint32(this.record + A.XS_FREE, true);
    if (free) dp.retire(free, dp.view().getUint32(this.record + A.XS_FREE_CAP, true) * 4);
    if (this.ownsUmem && this.umem) dp.retire(this.umem, this.sizes.umem);
    if (this.ownFill) dp.retire(this.ownFill, dp.ringBytes(this.sizes.fill, 8));
    if (this.rx) dp.retire(this.rx, dp.ringBytes(this.sizes.rx, A.DESC_SIZE));
    if (this.tx) dp.retire(this.tx, dp.ringBytes(this.sizes.tx, A.DESC_SIZE));
    if (this.ownComp) dp.retire(this.ownComp, dp.ringBytes(this.sizes.comp, 8));
    dp.retire(this.record, A.XS_SIZE);
  }

  private live(): void {
    if (this.released) fail('EBADF');
  }

  /** The FILL ring the application produces to: its own before bind, the pool's after. */
  get fill(): number {
    return this.bound?.pool.fill ?? this.ownFill;
  }

  /** The COMPLETION ring the application consumes: its own before bind, the pool's after. */
  get comp(): number {
    return this.bound?.pool.comp ?? this.ownComp;
  }

  /** @internal the rings this socket created itself (bind moves FILL/COMP into a pool). */
  get own(): { fill: number; comp: number } {
    return { fill: this.ownFill, comp: this.ownComp };
  }

  /** Copy-mode TX budget per kick (setsockopt XDP_MAX_TX_SKB_BUDGET). Default 32. */
  get txBudget(): number {
    return this.dp.view().getUint32(this.record + A.XS_TX_BUDGET, true);
  }

  /** setsockopt(XDP_MAX_TX_SKB_BUDGET): 32..TX ring size, else EACCES. */
  setTxBudget(budget: number): void {
    this.live();
    const size = this.tx ? this.dp.view().getUint32(this.tx + A.R_SIZE, true) : 0;
    if (!Number.isInteger(budget) || budget < 32 || budget > size) fail('EACCES');
    this.dp.view().setUint32(this.record + A.XS_TX_BUDGET, budget, true);
  }

  /** getsockopt(XDP_OPTIONS): XDP_OPTIONS_ZEROCOPY when bound in zero-copy mode. */
  options(): { zerocopy: boolean } {
    return { zerocopy: this.bound?.pool.zerocopy ?? false };
  }

  /** xsk_ring_prod__needs_wakeup on FILL or TX (the XDP_RING_NEED_WAKEUP bit of the ring's flags). */
  needsWakeup(ring: 'fill' | 'tx'): boolean {
    const r = ring === 'fill' ? this.fill : this.tx;
    return r !== 0 && (Atomics.load(this.dp.words(), (r + A.R_FLAGS) >>> 2) & A.RING_NEED_WAKEUP) !== 0;
  }

  /** xsk_ring_prod__reserve/submit on FILL: hands chunk addresses to the kernel side. Returns how many fit. */
  fillRing(addrs: number[]): number {
    this.live();
    return this.produce(this.fill, addrs.length, (e, i) => this.dp.view().setBigUint64(e, BigInt(addrs[i]!), true));
  }

  /** xsk_ring_prod__reserve/submit on TX: frames (UMEM address, length, options) to send at the next kick. */
  txRing(frames: XdpDesc[]): number {
    this.live();
    return this.produce(this.tx, frames.length, (e, i) => {
      const dv = this.dp.view();
      dv.setBigUint64(e + A.DESC_ADDR, BigInt(frames[i]!.addr), true);
      dv.setUint32(e + A.DESC_LEN, frames[i]!.len, true);
      dv.setUint32(e + A.DESC_OPTIONS, frames[i]!.options ?? 0, true);
    });
  }

  /** xsk_ring_cons__peek/release on RX: the descriptors received, with their data copied out. */
  recv(max = Infinity): (Required<XdpDesc> & { data: Uint8Array })[] {
    this.live();
    const dv = this.dp.view();
    return this.consume(this.rx, max, (e) => {
      const addr = Number(dv.getBigUint64(e + A.DESC_ADDR, true));
      const len = dv.getUint32(e + A.DESC_LEN, true);
      return { addr, len, options: dv.getUint32(e + A.DESC_OPTIONS, true), data: this.dp.bytes().slice(this.umem + addr, this.umem + addr + len) };
    });
  }

  /** xsk_ring_cons__peek/release on COMPLETION: the addresses of sent frames, back to the application. */
  completions(max = Infinity): number[] {
    this.live();
    return this.consume(this.comp, max, (e) => Number(this.dp.view().getBigUint64(e, true)));
  }

  private produce(ring: number, n: number, write: (entry: number, i: number) => void): number {
    if (ring === 0) return 0;
    const dv = this.dp.view();
    const w = this.dp.words();
    const prod = dv.getUint32(ring + A.R_PRODUCER, true);
    const cons = Atomics.load(w, (ring + A.R_CONSUMER) >>> 2) >>> 0;
    const k = Math.min(n, dv.getUint32(ring + A.R_SIZE, true) - ((prod - cons) >>> 0));
    const mask = dv.getUint32(ring + A.R_MASK, true);
    const size = dv.getUint32(ring + A.R_ENTRY_SIZE, true);
    for (let i = 0; i < k; i++) write(ring + A.RING_ENTRIES + ((prod + i) & mask) * size, i);
    Atomics.store(w, (ring + A.R_PRODUCER) >>> 2, (prod + k) | 0);
    return k;
  }

  private consume<T>(ring: number, max: number, read: (entry: number) => T): T[] {
    const out: T[] = [];
    if (ring === 0) return out;
    const dv = this.dp.view();
    const w = this.dp.words();
    let cons = dv.getUint32(ring + A.R_CONSUMER, true);
    const prod = Atomics.load(w, (ring + A.R_PRODUCER) >>> 2) >>> 0;
    const mask = dv.getUint32(ring + A.R_MASK, true);
    const size = dv.getUint32(ring + A.R_ENTRY_SIZE, true);
    for (; cons !== prod && out.length < max; cons = (cons + 1) >>> 0) out.push(read(ring + A.RING_ENTRIES + (cons & mask) * size));
    Atomics.store(w, (ring + A.R_CONSUMER) >>> 2, cons | 0);
    return out;
  }

  /**
   * Where every UMEM chunk is: in FILL, RX, TX, COMPLETION, the application's hands
   * (`held`), or a pool's free list (the kernel took it from FILL, zero-copy, and did not
   * deliver it: `kernelHeld`). Returns the chunks found in more than one place or in none —
   * an empty list when every chunk is accounted for once. `sharing` lists the other sockets
   * on this UMEM (their rings are walked too; rings shared through a pool only once).
   */
  unaccounted(held: readonly number[], sharing: readonly XskSocket[] = []): number[] {
    const dv = this.dp.view();
    const count = new Map<number, number>();
    const add = (addr: number): void => {
      const c = addr - (addr % this.chunkSize);
      count.set(c, (count.get(c) ?? 0) + 1);
    };
    const walk = (ring: number, read: (e: number) => number): void => {
      const cons = dv.getUint32(ring + A.R_CONSUMER, true);
      const prod = dv.getUint32(ring + A.R_PRODUCER, true);
      const mask = dv.getUint32(ring + A.R_MASK, true);
      const size = dv.getUint32(ring + A.R_ENTRY_SIZE, true);
      for (let i = cons; i !== prod; i = (i + 1) >>> 0) add(read(ring + A.RING_ENTRIES + (i & mask) * size));
    };
    const u64 = (e: number): number => Number(dv.getBigUint64(e, true));
    const rings = new Map<number, (e: number) => number>();
    for (const s of [this, ...sharing]) {
      for (const r of [s.fill, s.comp]) if (r) rings.set(r, u64);
      for (const r of [s.rx, s.tx]) if (r) rings.set(r, (e) => u64(e + A.DESC_ADDR));
    }
    for (const [r, read] of rings) walk(r, read);
    held.forEach(add);
    const pools = new Set([this, ...sharing].map((x) => x.poolRecord));
    for (const p of pools) for (const c of this.kernelHeldIn(p)) add(c);
    const bad: number[] = [];
    for (let c = 0; c < this.umemSize; c += this.chunkSize) if ((count.get(c) ?? 0) !== 1) bad.push(c);
    return bad;
  }

  /**
   * The chunks on this socket's pool's free list: taken from FILL and not delivered (a
   * zero-copy driver's buffer for a frame XDP dropped, passed or sent back; in either mode
   * one that found RX full); the kernel reuses them before new FILL entries and never
   * gives them back (af_xdp.md §1.3, §5.2).
   */
  kernelHeld(): number[] {
    return this.kernelHeldIn(this.poolRecord);
  }

  /** The record of the socket's pool (its owner's; the last one it was bound to after unbind). */
  private get poolRecord(): number {
    return this.bound?.pool.owner.record ?? this.dp.view().getUint32(this.record + A.XS_POOL, true);
  }

  private kernelHeldIn(pool: number): number[] {
    const dv = this.dp.view();
    const list = dv.getUint32(pool + A.XS_FREE, true);
    return Array.from({ length: dv.getUint32(pool + A.XS_FREE_N, true) }, (_, i) => dv.getUint32(list + i * 4, true));
  }

  /** getsockopt(XDP_STATISTICS), the full struct (rx_fill_ring_empty_descs is the pool's FILL counter). */
  statistics(): XdpStatistics {
    this.live();
    const dv = this.dp.view();
    const r = this.record;
    const u64 = (at: number): bigint => dv.getBigUint64(at, true);
    const pool = this.poolRecord;
    return {
      rx_dropped: u64(r + A.XS_RX_DROPPED), rx_invalid_descs: 0n, tx_invalid_descs: u64(r + A.XS_TX_INVALID),
      rx_ring_full: u64(r + A.XS_RX_RING_FULL),
      rx_fill_ring_empty_descs: this.state === 'ready' ? 0n : u64(pool + A.XS_RX_FILL_EMPTY),
      tx_ring_empty_descs: u64(r + A.XS_TX_EMPTY),
    };
  }

  /** Descriptors the kicks and the zero-copy driver have completed so far. */
  get txCompleted(): number {
    return Number(this.dp.view().getBigUint64(this.record + A.XS_TX_DONE, true));
  }
}
