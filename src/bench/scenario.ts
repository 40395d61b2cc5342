/**
 * One variant's scenario in one process: a fresh inline emulator, the setup script run
 * in it with the variant's placeholders filled in, the traffic lines turned into lists
 * of frames in shared memory, and the measured operation — every traffic line's packets
 * sent once (`pktgenList`: in order, looping over the list, straight into xmit or from
 * the wire, as `pktgen` sends), then the dataplane settled.
 *
 * By default every device's received frames go to the counting drop sink (as the
 * project's xmit bench does), so what is measured is the path up to the receiving
 * device: xmit, scrub, the programs, the verdicts, NIC steering and XDP. A traffic line
 * with `sink stack` hands them to the namespaces' stacks instead.
 */

import { resolve } from 'node:path';
import * as A from '../abi.generated.js';
import { Emulator } from '../emulator.js';
import type { BpfProgram } from '../ebpf/program.js';
import { runCommand, splitWords } from '../cli/run.js';
import { CliError } from '../cli/context.js';
import { frameArgs, udpFrame } from '../cli/tools.js';
import { readCapture } from '../trace/replay.js';
import type { NetDevice } from '../net/netdev.js';
import { median } from './stats.js';
import { BenchError, readBytes, setupLines, trafficWords, type BenchConfig, type ResolvedVariant } from './config.js';

/**
 * A traffic line made ready: its device, its frames and their replay list (abi RP_*) in
 * shared memory (kept for the emulator's life: the emulator is the scenario's own).
 */
interface Stream {
  dev: NetDevice;
  frames: Uint8Array[];
  list: number;
  /** Packets per operation. */
  count: number;
  /** Next list index to send (replay continues where the last operation stopped). */
  next: number;
}

/** A traffic line's words parsed: frame fields (as pktgen/wire), plus the bench's own keys. */
export interface TrafficLine {
  verb: 'pktgen' | 'wire';
  ns: string;
  dev: string;
  pcap?: string;
  count?: number;
  duration?: number;
  sink: 'drop' | 'stack';
  /** The words left for pktgen's/wire's own parser. */
  rest: string[];
}

const TEMPLATE_KEYS = new Set(['size', 'src', 'dst', 'sport', 'dport', 'flows', 'proto', 'dst_mac']);

/** Parses a traffic line; throws BenchError naming the line. */
export function parseTraffic(line: string, pcapDefault?: string): TrafficLine {
  const t = trafficWords(line);
  if (!t) throw new BenchError(`traffic line '${line}' is neither 'pktgen dev DEV …' nor 'wire DEV …'`);
  const verb = t.words[0] as 'pktgen' | 'wire';
  let words = t.words.slice(1);
  let dev = '';
  if (verb === 'wire') {
    dev = words[0] ?? '';
    words = words.slice(1);
  }
  const out: TrafficLine = { verb, ns: t.ns, dev, sink: 'drop', rest: [] };
  let template = false;
  for (let i = 0; i < words.length; i += 2) {
    const k = words[i]!;
    const v = words[i + 1];
    const need = (): string => {
      if (v === undefined) throw new BenchError(`'${line}': ${k} needs a value`);
      return v;
    };
    if (k === 'pcap') out.pcap = need();
    else if (k === 'duration') {
      const d = Number(need());
      if (!Number.isFinite(d) || d <= 0) throw new BenchError(`'${line}': invalid duration: '${v}' (seconds per variant per round)`);
      out.duration = d;
    } else if (k === 'sink') {
      if (v !== 'drop' && v !== 'stack') throw new BenchError(`'${line}': invalid sink: '${v ?? ''}' (drop or stack)`);
      out.sink = v;
    } else if (k === 'count') {
      if (!/^\d+$/.test(need()) || Number(v) < 1) throw new BenchError(`'${line}': invalid count: '${v}'`);
      out.count = Number(v);
    } else if (k === 'dev' && verb === 'pktgen') out.dev = need();
    else {
      if (TEMPLATE_KEYS.has(k)) template = true;
      out.rest.push(k, ...(v === undefined ? [] : [v]));
    }
  }
  if (out.dev === '') throw new BenchError(`'${line}': a device is required`);
  out.pcap ??= pcapDefault;
  if (out.pcap !== undefined && template) throw new BenchError(`'${line}': pcap replays the capture's frames; drop the frame template keys (${[...TEMPLATE_KEYS].join(', ')})`);
  try {
    frameArgs(['dev', out.dev, ...out.rest], verb);
  } catch (e) {
    if (e instanceof CliError) throw new BenchError(`'${line}': ${e.message}`);
    throw e;
  }
  return out;
}

export class Scenario {
  readonly emu: Emulator;
  readonly variant: ResolvedVariant | undefined;
  /** The variant's program as the setup script loaded it (test runs use it, with its maps). */
  readonly prog: BpfProgram | undefined;
  /** The first frames of the traffic (the test runs' packets). */
  readonly testFrames: Uint8Array[];
  /** Seconds per round a traffic line asked for (`duration`), if any. */
  readonly duration: number | undefined;
  private readonly streams: Stream[];
  private readonly settleEach: boolean;

  private constructor(emu: Emulator, variant: ResolvedVariant | undefined, prog: BpfProgram | undefined, streams: Stream[], testFrames: Uint8Array[], duration: number | undefined, settleEach: boolean) {
    this.emu = emu;
    this.variant = variant;
    this.prog = prog;
    this.streams = streams;
    this.testFrames = testFrames;
    this.duration = duration;
    this.settleEach = settleEach;
  }

  /** Builds the scenario of `variant` (undefined: the setup alone); throws BenchError naming the script line that failed. */
  static async create(cfg: BenchConfig, variant: ResolvedVariant | undefined): Promise<Scenario> {
    const emu = await Emulator.create({ workers: 0 });
    try {
      const label = variant ? `${variant.name}: ` : '';
      for (const { line, text } of setupLines(cfg, variant)) {
        const r = await runCommand(emu, splitWords(text));
        if (r.code !== 0) throw new BenchError(`${label}${cfg.scriptName}:${line}: '${text}' failed: ${r.stderr.trim() || `exit status ${r.code}`}`);
      }
      const lines = cfg.traffic.map((t) => parseTraffic(t, cfg.pcap));
      const streams = lines.map((t) => stream(emu, t, cfg.packets));
      for (const t of lines) if (t.sink === 'drop') drainAll(emu);
      await emu.settle();
      const all = streams.flatMap((s) => s.frames);
      const testFrames = all.slice(0, cfg.testFrames);
      let prog: BpfProgram | undefined;
      if (variant) {
        const want = variant.program.slice(0, 15);
        const cands = [...emu.bpf.progs.values()].filter((p) => p.name === want);
        prog = cands.filter((p) => p.refs > 0).pop() ?? cands.pop();
        if (!prog) throw new BenchError(`${label}${cfg.scriptName}: the setup script loaded no program '${variant.program}' from $PROG (load and attach it there: bpftool prog load $PROG …, ip link set … xdp obj $PROG …)`);
      }
      const durations = lines.flatMap((t) => (t.duration === undefined ? [] : [t.duration]));
      const duration = durations.length ? Math.max(...durations) : undefined;
      return new Scenario(emu, variant, prog, streams, testFrames, duration, lines.some((t) => t.sink === 'stack'));
    } catch (e) {
      await emu.close();
      throw e;
    }
  }

  /** Packets per operation (every traffic line's count). */
  get packetsPerOp(): number {
    return this.streams.reduce((a, s) => a + s.count, 0);
  }

  /**
   * Whether the operation can run without settling: every traffic line ends in the drop
   * sink, which the dataplane drains as it sends. (A verdict that sends a frame elsewhere —
   * REDIRECT, XDP_TX — leaves it for the host, which carries it out when the round ends.)
   */
  get synchronous(): boolean {
    return !this.settleEach;
  }

  /** The synchronous operation (see `synchronous`): each traffic line's packets, in order. Returns the packets sent. */
  runSync(): number {
    let sent = 0;
    for (const s of this.streams) sent += this.send(s, s.count);
    return sent;
  }

  private send(s: Stream, n: number): number {
    const k = this.emu.dp.exports.pktgenList(0, s.dev.slot, s.list, s.frames.length, s.next, n, 64);
    s.next = (s.next + k) % s.frames.length;
    return k;
  }

  /**
   * The measured operation: each traffic line's packets, in order, then the dataplane
   * settled (redirects carried out, stacks fed). Returns the packets sent.
   */
  async run(): Promise<number> {
    let sent = 0;
    const half = Math.max(1, this.emu.dp.ringSize >> 1);
    for (const s of this.streams) {
      // (to a stack sink in chunks of half a ring, each settled: no BACKLOG_FULL by design)
      const chunk = this.settleEach ? half : s.count;
      for (let done = 0; done < s.count; done += chunk) {
        sent += this.send(s, Math.min(chunk, s.count - done));
        if (this.settleEach) await this.emu.settle();
      }
    }
    await this.emu.settle();
    return sent;
  }

  /** Drops by reason summed over every device of every namespace. */
  drops(): Map<string, bigint> {
    const m = new Map<string, bigint>();
    for (const ns of ['init', ...this.emu.listNetns()]) {
      for (const d of this.emu.links(ns)) {
        for (const [k, v] of Object.entries(this.emu.stats(d).dropReasons)) m.set(k, (m.get(k) ?? 0n) + v);
      }
    }
    return m;
  }

  /**
   * BPF_PROG_TEST_RUN of the program on each test frame: mean over the frames of ns per
   * run, and ns per executed instruction. Each frame's `repeat` runs are made in five
   * chunks and the median chunk counts: a chunk the machine preempted is an outlier.
   */
  testRun(repeat: number): { nsPerRun: number; nsPerInsn: number } {
    if (!this.prog) throw new Error('the setup alone has no program to test-run');
    const chunk = Math.max(1, Math.ceil(repeat / 5));
    let ns = 0;
    let insns = 0;
    this.testFrames.forEach((data, i) => {
      const times: number[] = [];
      let executed = 0;
      for (let k = 0; k < 5; k++) {
        const r = this.emu.testRun(this.prog!, { data, repeat: chunk });
        if (r.fault) throw new BenchError(`${this.variant!.name}: the program faulted (${r.fault}) on a test run of frame ${i + 1}`);
        times.push(r.durationNs);
        executed = r.executed;
      }
      ns += median(times);
      insns += executed;
    });
    return { nsPerRun: ns / this.testFrames.length, nsPerInsn: ns / Math.max(1, insns) };
  }

  close(): Promise<void> {
    return this.emu.close();
  }
}

/** Every device's received frames to the counting drop sink. */
function drainAll(emu: Emulator): void {
  for (const ns of ['init', ...emu.listNetns()]) {
    for (const d of emu.links(ns)) if (d.kind !== 'loopback') emu.setRxSink(ns, d.ifindex, 'drop');
  }
}

/** A traffic line's frames (the template with its flows, or the capture), copied into shared memory. */
function stream(emu: Emulator, t: TrafficLine, packets: number): Stream {
  const where = `${t.verb} ${t.dev}`;
  const dev = emu.netns(t.ns).find(t.dev);
  if (!dev) throw new BenchError(`'${where}': Cannot find device "${t.dev}" (netns ${t.ns}) after the setup script`);
  let frames: Uint8Array[];
  if (t.pcap !== undefined) {
    frames = readCapture(readBytes(resolve(t.pcap), 'capture'), t.pcap).frames;
  } else {
    const f = frameArgs(['dev', t.dev, ...t.rest], t.verb);
    // As the verbs build them: pktgen's without a UDP checksum, from the device's own MAC;
    // wire's from 02:ee:00:00:00:01, checksummed.
    const src = t.verb === 'pktgen' ? dev.mac : new Uint8Array([2, 0xee, 0, 0, 0, 1]);
    frames = Array.from({ length: f.flows }, (_, i) => udpFrame({ dstMac: f.dstMac ?? dev.mac, srcMac: src, ...f, sport: (f.sport + i) & 0xffff, ...(t.verb === 'pktgen' ? { checksum: false } : {}) }));
  }
  const max = emu.dp.frameSize - A.FRAME_HEADROOM;
  frames.forEach((f, i) => {
    if (f.length > max) throw new BenchError(`'${where}': frame ${i + 1} is ${f.length} bytes, more than a frame buffer holds (${max})`);
    if (f.length < A.ETH_HLEN && !dev.nic) throw new BenchError(`'${where}': frame ${i + 1} is ${f.length} bytes, shorter than an Ethernet header`);
  });
  const byteLen = frames.reduce((a, f) => a + ((f.length + 63) & ~63), 0);
  const bytes = emu.dp.alloc(Math.max(64, byteLen));
  const list = emu.dp.alloc(frames.length * A.RP_SIZE);
  const mem = emu.dp.bytes();
  const v = emu.dp.view();
  let at = bytes;
  frames.forEach((f, i) => {
    mem.set(f, at);
    const e = list + i * A.RP_SIZE;
    v.setUint32(e + A.RP_ADDR, at, true);
    v.setUint16(e + A.RP_LEN, f.length, true);
    // (skb->protocol as xmit stores it: the EtherType's bytes as read little-endian)
    v.setUint16(e + A.RP_PROTO, f.length >= 14 ? f[12]! | (f[13]! << 8) : 0, true);
    at += (f.length + 63) & ~63;
  });
  return { dev, frames, list, count: t.count ?? packets, next: 0 };
}
