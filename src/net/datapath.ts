/**
 * Driving traffic through the dataplane: frames sent from a stack or arriving from the
 * wire, `settle()` (dataplane rounds until nothing is left: rings polled, frames handed
 * to the stacks, redirects resolved, zero-copy TX rounds, captures drained), pktgen
 * batches and ping.
 */

import * as A from '../abi.generated.js';
import type { Dataplane } from '../dataplane.js';
import type { BpfSyscall } from '../ebpf/syscall.js';
import { fail } from '../errors.js';
import type { Captures } from '../trace/capture.js';
import type { WorkerPool } from '../worker/pool.js';
import type { Xsk } from '../xdp/xsk.js';
import type { Devices } from './dev.js';
import { RegState, type NetDevice } from './netdev.js';
import type { NetdevGenl } from './netdev-genl.js';
import type { Rtnl } from './rtnl.js';
import { formatIp6, parseIp6 } from './stack/addr6.js';
import { formatIp, parseIp } from './stack/packet.js';
import { PingResult, type PingOptions } from './stack/ping.js';
import type { Traffic } from './traffic.js';
import type { FrameMeta, RxMeta } from './types.js';

/** Frames per inline pktgen call between yields to the event loop. */
const PKTGEN_CHUNK = 1 << 16;

function yieldToEventLoop(): Promise<void> {
  return new Promise((r) => (typeof setImmediate === 'function' ? setImmediate(r) : setTimeout(r, 0)));
}

export class Datapath {
  private readonly dp: Dataplane;
  private readonly pool: WorkerPool | undefined;
  private readonly traffic: Traffic;
  private readonly rtnl: Rtnl;
  private readonly dev: Devices;
  private readonly genl: NetdevGenl;
  private readonly syscall: BpfSyscall;
  private readonly xsk: Xsk;
  private readonly captures: Captures;
  private readonly roundNs: bigint;

  constructor(
    dp: Dataplane, pool: WorkerPool | undefined, traffic: Traffic,
    s: { rtnl: Rtnl; dev: Devices; genl: NetdevGenl; syscall: BpfSyscall; xsk: Xsk; captures: Captures },
    o: { roundNs: number },
  ) {
    this.dp = dp;
    this.pool = pool;
    this.traffic = traffic;
    this.rtnl = s.rtnl;
    this.dev = s.dev;
    this.genl = s.genl;
    this.syscall = s.syscall;
    this.xsk = s.xsk;
    this.captures = s.captures;
    this.roundNs = BigInt(o.roundNs);
  }

  /** Sends a raw Ethernet frame out of a device, as the namespace's stack would. */
  transmit(ns: string, dev: string | number, frame: Uint8Array, meta?: FrameMeta): void {
    this.traffic.transmit(this.rtnl.device(ns, dev), frame, meta);
  }

  /** Frames arriving on a NIC from the wire (steered by its ntuple rules and RSS). */
  wireIn(ns: string, dev: string | number, frame: Uint8Array, meta?: FrameMeta): void {
    const d = this.rtnl.device(ns, dev);
    if (!d.nic) fail('EOPNOTSUPP');
    this.checkFrameLength(frame);
    this.traffic.transmit(d, frame, meta, true);
  }

  /** EMSGSIZE for a frame larger than a frame buffer holds (the NIC's receive buffers, pktgen's frames). */
  private checkFrameLength(frame: Uint8Array): void {
    if (frame.length > this.dp.frameSize - A.FRAME_HEADROOM) fail('EMSGSIZE');
  }

  /** Hooks run for every frame the stack receives (tests, tools); return to unsubscribe. */
  onReceive(fn: (dev: NetDevice, frame: Uint8Array, meta: RxMeta) => void): () => void {
    this.receivers.add(fn);
    return () => this.receivers.delete(fn);
  }

  private readonly receivers = new Set<(dev: NetDevice, frame: Uint8Array, meta: RxMeta) => void>();

  private deliver = (dev: NetDevice, frame: Uint8Array, meta: RxMeta): boolean => {
    for (const fn of this.receivers) fn(dev, frame, meta);
    // A memory provider's receiver sees frames that reach its namespace in its own buffers.
    if (meta.providerBuffer) for (const p of this.genl.providers) if (p.opened.dev.netns === dev.netns && p.owns(meta.addr)) p.delivered++;
    return dev.netns.alive ? dev.netns.stack.receive(dev.ifindex, frame, meta) : false;
  };

  /**
   * Runs the dataplane until nothing is left to do: queued frames transmitted, every
   * delivered frame handed to its stack, replies sent in turn. Returns rounds run.
   */
  async settle(maxRounds = 10_000): Promise<number> {
    await this.syscall.settleJit();
    this.rtnl.flushWork();
    let rounds = 0;
    for (; rounds < maxRounds; rounds++) {
      this.dp.clockNs = this.dp.clockNs + this.roundNs;
      for (const p of this.genl.providers) p.refill();
      const placed = this.traffic.flush();
      if (this.pool) {
        this.pool.kick();
        await this.pool.idle(() => this.txRingsEmpty());
      } else {
        this.dp.exports.poll(0, 0x7fffffff);
      }
      const drained = this.traffic.drain(this.dev.bySlot.values(), this.deliver);
      this.captures.drain();
      const zc = this.xsk.zcRound();
      const redirected = this.drainRedirects();
      this.dp.reclaim();
      if (placed === 0 && drained === 0 && redirected === 0 && zc === 0 && this.traffic.backlog === 0 && this.txRingsEmpty()) break;
      // Inline, every so often: let timers and other tasks run.
      if (!this.pool && rounds % 64 === 63) await yieldToEventLoop();
    }
    // Records retired during the rounds go once every worker has quiesced past them.
    if (this.pool && this.dp.pendingRetired > 0) {
      this.pool.kick();
      await this.pool.idle(() => { this.dp.reclaim(); return this.dp.pendingRetired === 0; }, 2_000).catch(() => undefined);
    }
    return rounds;
  }

  /**
   * Frames that programs redirected (REDIRECT verdicts), resolved in the namespace of the
   * device they were on: out of the target (egress), up the target's stack
   * (BPF_F_INGRESS), or up the stack of the target's peer (bpf_redirect_peer). A target
   * that does not exist or is down drops the frame (REDIRECT_FAILED on the sender).
   */
  private drainRedirects(): number {
    const dp = this.dp;
    let total = 0;
    for (let t = 0; t < dp.threads; t++) {
      const jobs: { frame: Uint8Array; meta: FrameMeta; rx: RxMeta; ifindex: number; netns: number; flags: number; from: number }[] = [];
      const list = dp.hostScratch;
      let n = 0;
      total += dp.drainRing(dp.thread(t).redirect, (e) => {
        const dv = dp.view();
        const addr = Number(dv.getBigUint64(e + A.RD_ADDR, true));
        const len = dv.getUint32(e + A.RD_LEN, true);
        const base = addr - (addr % dp.frameSize);
        const mark = dv.getUint32(base + A.FM_MARK, true);
        const priority = dv.getUint32(base + A.FM_PRIORITY, true);
        jobs.push({
          frame: dp.bytes().slice(addr, addr + len), meta: { mark, priority }, ifindex: dv.getUint32(e + A.RD_IFINDEX, true),
          rx: { mark, priority, pktType: dv.getUint8(base + A.FM_PKT_TYPE), tstamp: 0n, ifindex: 0, protocol: dv.getUint16(base + A.FM_PROTOCOL, false), queue: 0, hash: dv.getUint32(base + A.FM_HASH, true), addr: 0 },
          netns: dv.getUint32(e + A.RD_NETNS, true), flags: dv.getUint32(e + A.RD_FLAGS, true), from: dv.getUint32(e + A.RD_FROM, true),
        });
        dv.setUint32(list + n * 4, addr, true);
        n++;
      });
      if (n) dp.exports.framesFree(0, list, n);
      for (const j of jobs) {
        if ((j.flags & A.VM_REDIRECT_MAP) && j.flags >>> 16 === A.BPF_MAP_TYPE_CPUMAP) {
          this.cpumapReceive(t, j);
          continue;
        }
        const ns = this.rtnl.namespaceById(j.netns);
        let target = ns?.find(j.ifindex);
        // bpf_redirect_peer works only at tc ingress (skb_do_redirect): from netkit's xmit it drops.
        if (j.flags & A.VM_REDIRECT_PEER) target = j.flags & A.VM_REDIRECT_FROM_INGRESS ? target?.netkit?.peer : undefined;
        if (!target || !target.up || target.regState !== RegState.REGISTERED) {
          const from = this.dev.bySlot.get(j.from);
          if (from) {
            const at = dp.countersAddr(0, from.slot) + A.DROP_REDIRECT * 8;
            dp.view().setBigUint64(at, dp.view().getBigUint64(at, true) + 1n, true);
          }
          continue;
        }
        if (j.flags & (A.VM_F_INGRESS | A.VM_REDIRECT_PEER)) this.deliver(target, j.frame, { ...j.rx, ifindex: target.ifindex });
        else this.traffic.transmit(target, j.frame, j.meta);
      }
    }
    return total;
  }

  /**
   * XDP_REDIRECT into a cpumap: CPU `ifindex - 1` (a dataplane thread) takes the frame and
   * receives it on the device it arrived on (cpu_map_kthread_run builds an skb and hands it
   * to netif_receive_skb there): that thread's rx counters count it. The device gone or
   * down drops it (REDIRECT on the thread that redirected it, `from`).
   */
  private cpumapReceive(from: number, j: { frame: Uint8Array; rx: RxMeta; ifindex: number; from: number }): void {
    const dp = this.dp;
    const dev = this.dev.bySlot.get(j.from);
    const bump = (thread: number, counter: number, by: number): void => {
      if (!dev) return;
      const at = dp.countersAddr(thread, dev.slot) + counter * 8;
      dp.view().setBigUint64(at, dp.view().getBigUint64(at, true) + BigInt(by), true);
    };
    const cpu = j.ifindex - 1;
    if (!dev || !dev.up || dev.regState !== RegState.REGISTERED || cpu >= dp.workers + 1) {
      bump(from, A.DROP_REDIRECT, 1);
      return;
    }
    bump(cpu, A.C_RX_PACKETS, 1);
    bump(cpu, A.C_RX_BYTES, j.frame.length);
    this.deliver(dev, j.frame, { ...j.rx, ifindex: dev.ifindex });
  }

  private txRingsEmpty(): boolean {
    for (const d of this.dev.bySlot.values()) {
      if (d.txRing !== 0 && !this.dp.ringEmpty(d.txRing)) return false;
      if (d.wireRing !== 0 && !this.dp.ringEmpty(d.wireRing)) return false;
    }
    return true;
  }

  /**
   * pktgen: `count` copies of `frame` sent on a device by its owner thread, in batches
   * (default 64), optionally spreading `flows` UDP source ports at byte `portOffset`.
   * Out of a netkit device: into its xmit, as many as there are frames for (the count
   * returned). Into a NIC: from the wire, all `count`; its driver receives each into a
   * buffer of the queue it steers to, and drops one it has no buffer for (NOMEM, or
   * XSK_NO_BUFFER on a zero-copy AF_XDP queue). EMSGSIZE for a frame larger than a frame
   * buffer holds; EINVAL for a count, batch (1 to 64) or flows that is not a whole number
   * in range, or a varied port outside the frame.
   */
  async pktgen(ns: string, dev: string | number, frame: Uint8Array, o: { count: number; batch?: number; flows?: number; portOffset?: number }): Promise<number> {
    const d = this.rtnl.device(ns, dev);
    const int = (v: number, lo: number, hi: number): boolean => Number.isInteger(v) && v >= lo && v <= hi;
    const flows = o.flows ?? 1;
    const portOffset = o.portOffset ?? 0;
    if (!int(o.count, 0, 0xffffffff) || !int(o.batch ?? 64, 1, 64) || !int(flows, 1, 0xffff)) fail('EINVAL');
    // The varied port must lie inside the frame.
    if (!int(portOffset, 0, 0xffff) || (flows > 1 && portOffset + 2 > frame.length)) fail('EINVAL');
    this.checkFrameLength(frame);
    // (the wire carries runts, which a NIC counts as PKT_TOO_SMALL; a device's xmit takes none)
    if (frame.length < A.ETH_HLEN && !d.nic) fail('EINVAL', `pktgen: a frame needs an Ethernet header (${A.ETH_HLEN} bytes), got ${frame.length}`);
    const tmpl = this.dp.alloc(frame.length);
    this.dp.bytes().set(frame, tmpl);
    const proto = frame.length >= 14 ? (frame[12]! << 8) | frame[13]! : 0;
    const args = [d.slot, tmpl, frame.length, o.count, o.batch ?? 64, flows, portOffset, ((proto & 0xff) << 8) | (proto >> 8)] as const;
    const thread = this.dev.ownerThread(d);
    await this.syscall.settleJit();
    let sent = 0;
    try {
      if (this.pool) sent = await this.pool.pktgen(thread, ...args);
      else {
        // Inline: in chunks (a whole number of flow cycles), yielding to the event loop
        // between them so timers and other tasks run.
        const chunk = flows * Math.max(1, Math.floor(PKTGEN_CHUNK / flows));
        while (sent < o.count) {
          const want = Math.min(chunk, o.count - sent);
          const n = this.dp.exports.pktgen(0, d.slot, tmpl, frame.length, want, o.batch ?? 64, flows, portOffset, args[7]);
          sent += n;
          if (n < want || sent >= o.count) break;
          await yieldToEventLoop();
        }
      }
    } finally {
      this.dp.retire(tmpl, frame.length);
    }
    return sent;
  }

  /**
   * `ping`: ICMP echo requests from a namespace's stack to `dst`, one per `interval` of
   * virtual time; each waits for the dataplane to settle (and for ARP, which retries every
   * virtual second, three times). Throws ENETUNREACH when no route leads to `dst`.
   */
  async ping(ns: string, dst: string, o: PingOptions = {}): Promise<PingResult> {
    const n = this.rtnl.netns(ns);
    const target6 = parseIp6(dst);
    const target = target6 === null ? parseIp(dst) : 0;
    if (target === null) fail('EINVAL', `ping: ${dst}: Name or service not known`);
    const count = o.count ?? 1;
    const size = o.size ?? 56;
    const intervalNs = BigInt(Math.round((o.interval ?? 1) * 1e9));
    if (!Number.isInteger(count) || count < 1) fail('EINVAL', `ping: invalid argument: '${o.count}'`);
    if (!Number.isInteger(size) || size < 0 || size > 65507) fail('EINVAL', `ping: invalid argument: '${o.size}'`);
    const ifindex = o.device === undefined ? undefined : this.rtnl.device(n, o.device).ifindex;
    const result = new PingResult(dst, size, count, o.onLine);
    const sent = new Map<number, bigint>();
    const pinger = n.stack.openPing((e) => {
      const t0 = sent.get(e.seq);
      if (t0 === undefined) return;
      const from = e.from6 !== undefined ? formatIp6(e.from6) : formatIp(e.from);
      if (e.kind === 'reply') result.reply(e.seq, from, e.bytes, e.ttl, e.atNs - t0);
      else result.error(e.seq, from, e.kind, e.code);
    });
    try {
      const start = this.dp.clockNs;
      let lastYield = performance.now();
      for (let seq = 1; seq <= count; seq++) {
        if (o.signal?.aborted) break;
        // (a long run lets timers and signal handlers in: SIGINT can stop it)
        if (performance.now() - lastYield > 20) { await yieldToEventLoop(); lastYield = performance.now(); }
        if (o.signal?.aborted) break;
        const t0 = start + intervalNs * BigInt(seq - 1);
        if (this.dp.clockNs < t0) this.dp.clockNs = t0;
        const data = new Uint8Array(size);
        for (let i = 0; i < size; i++) data[i] = i & 0xff;
        // (the ICMP sequence number is 16 bits: past 65535 it wraps, as iputils' does)
        sent.set(seq & 0xffff, this.dp.clockNs);
        result.sending(seq & 0xffff);
        if (target6 !== null) n.stack.ip6.echo(target6, pinger.id, seq, data, { hopLimit: o.ttl, ifindex, meta: { mark: o.mark, priority: o.priority } });
        else n.stack.echo(target, pinger.id, seq, data, { ttl: o.ttl, tos: o.tos, ifindex, meta: { mark: o.mark, priority: o.priority } });
        result.transmitted++;
        await this.settle();
        for (let tries = 0; !result.answered(seq) && n.stack.resolving && tries < 4; tries++) {
          this.dp.clockNs = this.dp.clockNs + 1_000_000_000n;
          n.stack.tick();
          await this.settle();
        }
      }
      result.timeMs = Number((intervalNs * BigInt(Math.max(0, result.transmitted - 1))) / 1_000_000n);
    } finally {
      pinger.close();
    }
    return result;
  }
}
