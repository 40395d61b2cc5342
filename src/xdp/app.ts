/**
 * AF_XDP applications in their own worker (the kernel sample xdpsock's benchmarks):
 * rx-drop (RX → FILL), tx-only (TX → COMPLETION) and l2fwd (RX → swap MACs → TX →
 * COMPLETION → FILL), over a bound socket's rings in the shared memory. The worker runs
 * the application side of the rings and its kicks (whose kernel side, the copy TX pass,
 * runs in the worker's thread slot, like a syscall); binding and everything else stays in
 * the host. Zero-copy TX is the driver's work: it runs with the dataplane (`settle`).
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import { fail } from '../errors.js';
import { buildPacket } from '../packet.js';
import type { XskSocket } from './socket.js';
import { nodeImport } from '../node.js';

export type XskAppMode = 'rxdrop' | 'txonly' | 'l2fwd';

export interface XskAppOptions {
  mode: XskAppMode;
  /** Descriptors per ring operation (xdpsock -b). Default 64. */
  batch?: number;
  /** Kick only when a ring's need_wakeup flag asks (xdpsock's default). Default: as the socket was bound. */
  needWakeup?: boolean;
  /** tx-only: the frame sent from every chunk. Default: a 64-byte UDP frame like xdpsock's (-s 64). */
  frame?: Uint8Array;
  /** tx-only: packets to send, 0 for no limit (xdpsock -C). Default 0. */
  count?: number;
}

export interface XskAppResult {
  rxPackets: number;
  txPackets: number;
  /** Wall-clock seconds from start to stop. */
  seconds: number;
  rxPps: number;
  txPps: number;
  /** Kicks that failed with an error xdpsock would not retry (e.g. ENXIO after an unbind). */
  kickErrors: number;
}

const MODES = { rxdrop: A.APP_RXDROP, txonly: A.APP_TXONLY, l2fwd: A.APP_L2FWD } as const;

/** The tx-only frame's switches (xdpsock -P, -V, -J, -K, -G, -H). */
export interface TxFrameOptions {
  /** UDP payload fill, a 32-bit word repeated in network order (-P). Default 0x12345678. */
  pattern?: number;
  /** An 802.1Q tag (-V) with this VLAN id (-J, default 1) and priority (-K, default 0). */
  vlan?: { id?: number; pri?: number };
  /** Destination and source MACs (-G, -H). Default 3c:fd:fe:9e:7f:71 and ec:b1:d7:98:3a:c0. */
  dmac?: Uint8Array;
  smac?: Uint8Array;
}

/**
 * xdpsock's tx-only frame (gen_eth_hdr_data): Ethernet (or 802.1Q) + IPv4 10.10.10.16 →
 * 10.10.10.32 (TTL 64) + UDP 4096 → 4096, the payload filled with the pattern, both
 * checksums set. `len` is the frame without FCS (xdpsock -s SIZE minus 4; default 60).
 */
export function defaultTxFrame(len = 60, o: TxFrameOptions = {}): Uint8Array {
  const headers = (o.vlan ? 18 : 14) + 28;
  const pat = new Uint8Array(4);
  new DataView(pat.buffer).setUint32(0, (o.pattern ?? 0x12345678) >>> 0);
  const payload = Uint8Array.from({ length: len - headers }, (_, i) => pat[i & 3]!);
  const f = buildPacket({
    eth: { dst: o.dmac ?? '3c:fd:fe:9e:7f:71', src: o.smac ?? 'ec:b1:d7:98:3a:c0' },
    ...(o.vlan ? { vlan: { id: (o.vlan.id ?? 1) & 0x0fff, pcp: (o.vlan.pri ?? 0) & 7 } } : {}),
    ipv4: { src: '10.10.10.16', dst: '10.10.10.32', df: false },
    udp: { sport: 0x1000, dport: 0x1000 },
    payload,
  });
  // (the sample sends a UDP checksum that folds to 0 as 0, not as RFC 768's 0xffff; with a
  // non-zero pseudo-header only that case gives 0xffff)
  const csum = headers - 2;
  if (f[csum] === 0xff && f[csum + 1] === 0xff) f[csum] = f[csum + 1] = 0;
  return f;
}

export class XskApp {
  readonly mode: XskAppMode;
  readonly socket: XskSocket;
  /** The application record (abi APP_*). */
  readonly record: number;
  private readonly dp: Dataplane;
  private readonly thread: number;
  private readonly worker: import('node:worker_threads').Worker;
  private readonly done: Promise<void>;
  private readonly t0: number;
  /** Chunks the application kept back from FILL (rx modes) at the start. */
  private readonly kept: number[];
  private result: XskAppResult | undefined;

  private constructor(dp: Dataplane, socket: XskSocket, mode: XskAppMode, record: number, thread: number, worker: import('node:worker_threads').Worker, done: Promise<void>, kept: number[]) {
    this.dp = dp;
    this.socket = socket;
    this.mode = mode;
    this.record = record;
    this.thread = thread;
    this.worker = worker;
    this.done = done;
    this.kept = kept;
    this.t0 = performance.now();
  }

  /**
   * Starts the application on a bound socket in a new worker: rx modes first hand the
   * UMEM's chunks to FILL (as many as it holds), tx-only writes its frame into every
   * chunk. EBUSY when every application thread slot is taken (`appThreads`), ENXIO when
   * the socket is not bound, EINVAL for a mode the socket's rings cannot run.
   */
  static async start(dp: Dataplane, socket: XskSocket, o: XskAppOptions): Promise<XskApp> {
    const mode = MODES[o.mode];
    if (mode === undefined) fail('EINVAL');
    const b = socket.bound;
    if (!b) fail('ENXIO');
    const batch = o.batch ?? 64;
    if (!Number.isInteger(batch) || batch < 1 || batch > 4096) fail('EINVAL');
    const needRx = o.mode !== 'txonly';
    const needTx = o.mode !== 'rxdrop';
    if ((needRx && socket.rx === 0) || (needTx && socket.tx === 0)) fail('EINVAL');
    const count = o.count ?? 0;
    if (!Number.isInteger(count) || count < 0 || count > 0xffffffff) fail('EINVAL');
    const chunks = socket.umemSize / socket.chunkSize;
    const frame = o.frame ?? defaultTxFrame();
    if (o.mode === 'txonly' && (frame.length === 0 || frame.length > socket.chunkSize)) fail('EINVAL');
    const thread = dp.claimAppThread();
    if (thread === undefined) fail('EBUSY');
    const rec = dp.alloc(A.APP_SIZE);
    dp.bytes().fill(0, rec, rec + A.APP_SIZE);
    const dv = dp.view();
    dv.setUint32(rec + A.APP_MODE, mode, true);
    dv.setUint32(rec + A.APP_SOCKET, socket.record, true);
    dv.setUint32(rec + A.APP_BATCH, batch, true);
    dv.setUint32(rec + A.APP_FLAGS, (o.needWakeup ?? b.pool.needWakeup) ? A.APP_NEED_WAKEUP : 0, true);
    dv.setUint32(rec + A.APP_CHUNKS, chunks, true);
    dv.setUint32(rec + A.APP_FRAME_LEN, frame.length, true);
    dv.setUint32(rec + A.APP_LIMIT, count, true);
    let kept: number[] = [];
    if (needRx) {
      const all = Array.from({ length: chunks }, (_, i) => i * socket.chunkSize);
      const given = socket.fillRing(all);
      kept = all.slice(given);
    } else {
      for (let i = 0; i < chunks; i++) dp.bytes().set(frame, socket.umem + i * socket.chunkSize);
    }
    const { Worker } = await nodeImport<typeof import('node:worker_threads')>('node:worker_threads');
    const url = new URL('./app-worker.mjs', import.meta.url);
    const worker = new Worker(url, {
      workerData: { module: dp.module, memory: dp.memory, app: rec, thread, stopIndex: (rec + A.APP_STOP) >>> 2, drain: needRx },
    });
    let started!: () => void;
    let failed!: (e: unknown) => void;
    const ready = new Promise<void>((res, rej) => { started = res; failed = rej; });
    const done = new Promise<void>((resolve, reject) => {
      worker.on('message', (m: { started?: boolean; done?: boolean }) => {
        if (m.started) started();
        if (m.done) resolve();
      });
      worker.once('error', (e) => { failed(e); reject(e); });
    });
    done.catch(() => undefined);
    try {
      await ready;
    } catch (e) {
      dp.releaseAppThread(thread);
      throw e;
    }
    const app = new XskApp(dp, socket, o.mode, rec, thread, worker, done, kept);
    // (the emulator's close stops the applications still running on its dataplane)
    dp.apps.add(app);
    return app;
  }

  /** Packets received so far (RX descriptors that end a packet). */
  get rxPackets(): number {
    return Number(this.dp.view().getBigUint64(this.record + A.APP_RX_PACKETS, true));
  }

  /** Packets sent so far (descriptors completed). */
  get txPackets(): number {
    return Number(this.dp.view().getBigUint64(this.record + A.APP_TX_PACKETS, true));
  }

  /**
   * The chunks in the application's hands (for the UMEM accounting): rx modes keep the
   * ones FILL had no room for; tx-only holds every chunk not on TX or COMPLETION.
   * Meaningful while the worker is stopped.
   */
  held(): number[] {
    if (this.mode !== 'txonly') return [...this.kept];
    const dv = this.dp.view();
    const chunks = dv.getUint32(this.record + A.APP_CHUNKS, true);
    const next = dv.getUint32(this.record + A.APP_NEXT, true);
    const out = dv.getUint32(this.record + A.APP_OUTSTANDING, true);
    const inFlight = new Set(Array.from({ length: out }, (_, i) => (next - out + i + chunks) % chunks));
    return Array.from({ length: chunks }, (_, i) => i).filter((i) => !inFlight.has(i)).map((i) => i * this.socket.chunkSize);
  }

  /** Stops the worker (after rx modes drained what had arrived) and reports. */
  async stop(): Promise<XskAppResult> {
    if (this.result) return this.result;
    const w = this.dp.words();
    Atomics.store(w, (this.record + A.APP_STOP) >>> 2, 1);
    Atomics.notify(w, (this.record + A.APP_STOP) >>> 2);
    try {
      await this.done;
    } finally {
      await this.worker.terminate();
      this.dp.releaseAppThread(this.thread);
      this.dp.apps.delete(this);
    }
    const seconds = (performance.now() - this.t0) / 1000;
    const rx = this.rxPackets;
    const tx = this.txPackets;
    this.result = {
      rxPackets: rx, txPackets: tx, seconds, rxPps: rx / seconds, txPps: tx / seconds,
      kickErrors: this.dp.view().getUint32(this.record + A.APP_KICK_FAILS, true),
    };
    return this.result;
  }
}
