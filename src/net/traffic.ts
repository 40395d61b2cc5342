/**
 * The host's packet I/O: frames the stacks transmit go onto device tx rings in batches;
 * frames delivered to devices whose consumer is the stack come off their rx rings in
 * batches and are handed to that namespace's stack.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import type { NetDevice } from './netdev.js';
import type { FrameMeta, RxMeta } from './types.js';

export type { FrameMeta, RxMeta } from './types.js';

interface Pending { dev: NetDevice; frame: Uint8Array; meta: FrameMeta; wire: boolean }

/** Hands a received frame on; returns true when its buffer was kept (forwarded zero-copy). */
export type Deliver = (dev: NetDevice, frame: Uint8Array, meta: RxMeta) => boolean;

export class Traffic {
  private readonly dp: Dataplane;
  private pending: Pending[] = [];
  private readonly bases: number[] = [];
  /** Frames the host could not place because its pool was empty (counted, not lost silently). */
  noFrames = 0;

  constructor(dp: Dataplane) {
    this.dp = dp;
  }

  /**
   * Queues a frame for transmission on `dev` (sent on the next flush); with `wire`, a
   * frame arriving at a NIC from outside instead.
   */
  transmit(dev: NetDevice, frame: Uint8Array, meta: FrameMeta = {}, wire = false): void {
    this.pending.push({ dev, frame, meta, wire });
  }

  get backlog(): number {
    return this.pending.length;
  }

  /**
   * Moves queued frames onto tx rings, in order per device, as far as the rings and the
   * host's frame pool allow. Returns how many were placed.
   */
  flush(): number {
    if (this.pending.length === 0) return 0;
    const dp = this.dp;
    const ex = dp.exports;
    const scratch = dp.hostScratch;
    const maxBatch = Math.min(256, dp.scratchSize / A.DESC_SIZE / 2);
    const rest: Pending[] = [];
    const blocked = new Set<NetDevice>();
    let placed = 0;
    let i = 0;
    while (i < this.pending.length) {
      const { dev, wire } = this.pending[i]!;
      // One batch: consecutive frames for the same device and direction.
      let j = i;
      while (j < this.pending.length && j - i < maxBatch && this.pending[j]!.dev === dev && this.pending[j]!.wire === wire) j++;
      const batch = this.pending.slice(i, j);
      i = j;
      if (blocked.has(dev)) { rest.push(...batch); continue; }
      if (dev.txRing === 0 || dp.deviceRecord(dev.slot) === 0) {
        // Device gone: dropped; buffers of frames forwarded zero-copy go back to the pool.
        const kept = batch.filter((b) => b.meta.buffer !== undefined);
        kept.forEach((b, k) => dp.view().setUint32(scratch + k * 4, b.meta.buffer!, true));
        if (kept.length) ex.framesFree(0, scratch, kept.length);
        continue;
      }
      const frames = scratch + maxBatch * A.DESC_SIZE;
      // Frames forwarded zero-copy bring their own buffer; the others take one from the pool.
      const fresh = batch.filter((b) => b.meta.buffer === undefined).length;
      const allocated = fresh ? ex.framesAlloc(0, frames, fresh) : 0;
      let got = 0;
      {
        const dv0 = dp.view();
        let f = 0;
        for (; got < batch.length; got++) {
          const b = batch[got]!.meta.buffer;
          if (b === undefined) {
            if (f >= allocated) break;
            const base = dv0.getUint32(frames + f * 4, true);
            this.bases[got] = base;
            f++;
          } else {
            this.bases[got] = b - (b % dp.frameSize);
          }
        }
        // Frames allocated beyond what the batch could use (a shortfall earlier) go back.
        if (f < allocated) ex.framesFree(0, frames + f * 4, allocated - f);
      }
      if (got < batch.length) this.noFrames += batch.length - got;
      const dv = dp.view();
      const u8 = dp.bytes();
      let n = 0;
      for (let k = 0; k < got; k++) {
        const { frame, meta } = batch[k]!;
        const base = this.bases[k]!;
        const data = meta.buffer ?? base + A.FRAME_HEADROOM;
        const room = base + dp.frameSize - data;
        const len = Math.min(frame.length, room);
        u8.set(frame.subarray(0, len), data);
        dv.setUint32(base + A.FM_MARK, meta.mark ?? 0, true);
        dv.setUint32(base + A.FM_PRIORITY, meta.priority ?? 0, true);
        dv.setBigUint64(base + A.FM_TSTAMP, meta.tstamp ?? 0n, true);
        const proto = meta.protocol ?? (frame.length >= 14 ? (frame[12]! << 8) | frame[13]! : 0);
        dv.setUint16(base + A.FM_PROTOCOL, proto, false);
        const d = scratch + n * A.DESC_SIZE;
        dv.setBigUint64(d + A.DESC_ADDR, BigInt(data), true);
        dv.setUint32(d + A.DESC_LEN, len, true);
        dv.setUint32(d + A.DESC_OPTIONS, 0, true);
        n++;
      }
      const pushed = ex.txPush(dev.slot, scratch, n, wire ? 1 : 0);
      if (pushed < n) {
        // Ring full: give the frames back and retry these packets on the next flush.
        // Frames forwarded zero-copy keep their buffer for the retry: the pending entry still names it.
        let back = 0;
        for (let k = pushed; k < n; k++) {
          if (batch[k]!.meta.buffer !== undefined) continue;
          dv.setUint32(frames + back * 4, Number(dv.getBigUint64(scratch + k * A.DESC_SIZE + A.DESC_ADDR, true)), true);
          back++;
        }
        ex.framesFree(0, frames, back);
        rest.push(...batch.slice(pushed, got));
        blocked.add(dev);
      }
      if (got < batch.length) {
        rest.push(...batch.slice(got));
        blocked.add(dev);
      }
      placed += pushed;
    }
    this.pending = rest;
    return placed;
  }

  /** Drains the rx rings of `devs` and hands every frame to `deliver`. Returns frames drained. */
  drain(devs: Iterable<NetDevice>, deliver: Deliver): number {
    const dp = this.dp;
    const ex = dp.exports;
    const scratch = dp.hostScratch;
    const maxBatch = Math.min(256, dp.scratchSize / A.DESC_SIZE / 2);
    const list = scratch + maxBatch * A.DESC_SIZE;
    let total = 0;
    for (const dev of devs) {
      if (dev.rxSink !== A.SINK_STACK || dp.deviceRecord(dev.slot) === 0) continue;
      for (let q = 0; q < dev.realNumRxQueues; q++) {
        for (;;) {
          const n = ex.rxPop(dev.slot, q, scratch, maxBatch);
          if (n === 0) break;
          const dv = dp.view();
          const u8 = dp.bytes();
          const got: [Uint8Array, RxMeta][] = [];
          for (let k = 0; k < n; k++) {
            const d = scratch + k * A.DESC_SIZE;
            const addr = Number(dv.getBigUint64(d + A.DESC_ADDR, true));
            const len = dv.getUint32(d + A.DESC_LEN, true);
            const base = addr - (addr % dp.frameSize);
            got.push([u8.slice(addr, addr + len), {
              mark: dv.getUint32(base + A.FM_MARK, true),
              priority: dv.getUint32(base + A.FM_PRIORITY, true),
              pktType: dv.getUint8(base + A.FM_PKT_TYPE),
              tstamp: dv.getBigUint64(base + A.FM_TSTAMP, true),
              ifindex: dv.getUint32(base + A.FM_IFINDEX, true),
              protocol: dv.getUint16(base + A.FM_PROTOCOL, false),
              queue: q,
              hash: dv.getUint32(base + A.FM_HASH, true),
              addr,
              providerBuffer: (dv.getUint8(base + A.FM_FLAGS) & A.FMF_PROVIDER) !== 0,
            }]);
          }
          total += n;
          let free = 0;
          for (const [frame, meta] of got) {
            if (deliver(dev, frame, meta)) continue;
            dp.view().setUint32(list + free * 4, meta.addr, true);
            free++;
          }
          ex.framesFree(0, list, free);
        }
      }
    }
    return total;
  }
}
