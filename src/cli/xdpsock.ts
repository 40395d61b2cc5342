/**
 * `xdpsock`: the kernel's AF_XDP sample (samples/bpf/xdpsock_user.c, now in bpf-examples)
 * over nkemu: binds an AF_XDP socket to DEV:QUEUE and runs rx-drop, tx-only or l2fwd in
 * its own worker (XskApp), then prints the sample's summary. nkemu does not load the
 * sample's XDP program: the socket goes into an XSKMAP — `--map PATH` (pinned with
 * bpftool, key `--map-key K`, default the queue id) — that an attached program redirects
 * into. A trailing `&` runs it in the background until `wait` (or the end of the script).
 */

import type { Emulator } from '../emulator.js';
import { NetError, strerror } from '../errors.js';
import { XskApp, defaultTxFrame, type TxFrameOptions, type XskAppMode } from '../xdp/app.js';
import { XDP_COPY, XDP_USE_NEED_WAKEUP, XDP_ZEROCOPY, XskSocket, type XdpStatistics } from '../xdp/socket.js';
import { pinnedMap } from './bpftool.js';
import { CliError, type Ctx } from './context.js';
import { atoi, getoptLong, type LongOption } from './getopt.js';

/** The sample's usage (bpf-examples AF_XDP-example/xdpsock.c `usage()`), then nkemu's own options. */
const USAGE = [
  '  Usage: xdpsock [OPTIONS]',
  '  Options:',
  '  -r, --rxdrop\t\tDiscard all incoming packets (default)',
  '  -t, --txonly\t\tOnly send packets',
  '  -l, --l2fwd\t\tMAC swap L2 forwarding',
  '  -i, --interface=n\tRun on interface n',
  '  -q, --queue=n\tUse queue n (default 0)',
  '  -p, --poll\t\tUse poll syscall',
  '  -S, --xdp-skb=n\tUse XDP skb-mod',
  '  -N, --xdp-native=n\tEnforce XDP native mode',
  '  -n, --interval=n\tSpecify statistics update interval (default 1 sec).',
  '  -O, --retries=n\tSpecify time-out retries (1s interval) attempt (default 3).',
  '  -z, --zero-copy      Force zero-copy mode.',
  '  -c, --copy           Force copy mode.',
  '  -m, --no-need-wakeup Turn off use of driver need wakeup flag.',
  '  -f, --frame-size=n   Set the frame size (must be a power of two in aligned mode, default is 4096).',
  '  -u, --unaligned\tEnable unaligned chunk placement',
  '  -M, --shared-umem\tEnable XDP_SHARED_UMEM (cannot be used with -R)',
  '  -d, --duration=n\tDuration in secs to run command.',
  '\t\t\tDefault: forever.',
  '  -w, --clock=CLOCK\tClock NAME (default MONOTONIC).',
  '  -b, --batch-size=n\tBatch size for sending or receiving',
  '\t\t\tpackets. Default: 64',
  '  -C, --tx-pkt-count=n\tNumber of packets to send.',
  '\t\t\tDefault: Continuous packets.',
  '  -s, --tx-pkt-size=n\tTransmit packet size.',
  '\t\t\t(Default: 64 bytes)',
  '\t\t\tMin size: 64, Max size 4096.',
  '  -P, --tx-pkt-pattern=nPacket fill pattern. Default: 0x12345678',
  '  -V, --tx-vlan        Send VLAN tagged  packets (For -t|--txonly)',
  '  -J, --tx-vlan-id=n   Tx VLAN ID [1-4095]. Default: 1 (For -V|--tx-vlan)',
  '  -K, --tx-vlan-pri=n  Tx VLAN Priority [0-7]. Default: 0 (For -V|--tx-vlan)',
  '  -G, --tx-dmac=<MAC>  Dest MAC addr of TX frame in aa:bb:cc:dd:ee:ff format (For -V|--tx-vlan)',
  '  -H, --tx-smac=<MAC>  Src MAC addr of TX frame in aa:bb:cc:dd:ee:ff format (For -V|--tx-vlan)',
  '  -T, --tx-cycle=n     Tx cycle time in micro-seconds (For -t|--txonly).',
  '  -y, --tstamp         Add time-stamp to packet (For -t|--txonly).',
  '  -W, --policy=POLICY  Schedule policy. Default: SCHED_OTHER',
  '  -U, --schpri=n       Schedule priority. Default: 0',
  '  -x, --extra-stats\tDisplay extra statistics.',
  '  -Q, --quiet          Do not display any stats.',
  '  -a, --app-stats\tDisplay application (syscall) statistics.',
  '  -I, --irq-string\tDisplay driver interrupt statistics for interface associated with irq-string.',
  '  -B, --busy-poll      Busy poll.',
  '  -R, --reduce-cap\tUse reduced capabilities (cannot be used with -M)',
  '',
  '  nkemu (it does not load the sample\'s XDP program; the socket goes into an XSKMAP):',
  '      --map=PATH       The pinned XSKMAP to insert the socket into (required)',
  '      --map-key=n      Its key (default: the queue id)',
  '  -p, -N, -O, -w, -W, -U, -B change nothing in nkemu; -S, -u, -M, -T, -y, -a, -I, -R are refused.',
  '  In a script, a trailing & runs it in the background until wait.',
  '',
].join('\n');

/** The sample's getopt string and long options (`--force` is listed without a short letter in its switch: usage). */
const OPTSTRING = 'rtli:q:pSNn:w:O:czf:muMd:b:C:s:P:VJ:K:G:H:T:yW:U:xQaI:BR';
const LONGS: LongOption[] = ([
  ['rxdrop', 0, 'r'], ['txonly', 0, 't'], ['l2fwd', 0, 'l'], ['interface', 1, 'i'], ['queue', 1, 'q'], ['poll', 0, 'p'],
  ['xdp-skb', 0, 'S'], ['xdp-native', 0, 'N'], ['interval', 1, 'n'], ['retries', 1, 'O'], ['zero-copy', 0, 'z'],
  ['copy', 0, 'c'], ['frame-size', 1, 'f'], ['no-need-wakeup', 0, 'm'], ['unaligned', 0, 'u'], ['shared-umem', 0, 'M'],
  ['force', 0, 'F'], ['duration', 1, 'd'], ['clock', 1, 'w'], ['batch-size', 1, 'b'], ['tx-pkt-count', 1, 'C'],
  ['tx-pkt-size', 1, 's'], ['tx-pkt-pattern', 1, 'P'], ['tx-vlan', 0, 'V'], ['tx-vlan-id', 1, 'J'], ['tx-vlan-pri', 1, 'K'],
  ['tx-dmac', 1, 'G'], ['tx-smac', 1, 'H'], ['tx-cycle', 1, 'T'], ['tstamp', 0, 'y'], ['policy', 1, 'W'], ['schpri', 1, 'U'],
  ['extra-stats', 0, 'x'], ['quiet', 0, 'Q'], ['app-stats', 0, 'a'], ['irq-string', 0, 'I'], ['busy-poll', 0, 'B'],
  ['reduce-cap', 0, 'R'],
  // nkemu's own
  ['map', 1, 'map'], ['map-key', 1, 'map-key'],
] as const).map(([name, a, val]) => ({ name, hasArg: a === 1, val }));

/** What the sample does with options nkemu cannot emulate. */
const REFUSED: Record<string, string> = {
  S: 'generic (SKB) XDP is not emulated; nkemu runs XDP natively', u: 'unaligned chunk mode is not emulated',
  M: 'XDP_SHARED_UMEM across several sockets is not emulated by xdpsock (the API has it)', T: 'cyclic TX is not emulated',
  y: 'pktgen time stamps are not emulated', a: 'application (syscall) statistics are not emulated',
  I: 'driver interrupt statistics are not emulated', R: 'reduced capabilities are not emulated',
};
const LONG_OF = new Map(LONGS.map((l) => [l.val, l.name]));

interface Job {
  app: XskApp; sock: XskSocket; header: string; deadline?: number; extra: boolean;
  /** What the last statistics block counted from. */
  prev: { t: number; rx: number; tx: number; xs: XdpStatistics };
}

const jobs = new WeakMap<Emulator, Job[]>();

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Until the application has handled what arrived: RX empty and its counters still for a few rounds. */
async function drain(emu: Emulator, j: Job): Promise<void> {
  let last = -1;
  let still = 0;
  const t0 = Date.now();
  while (still < 5 && Date.now() - t0 < 5000) {
    await emu.settle();
    await sleep(2);
    const n = j.app.rxPackets + j.app.txPackets;
    const rxEmpty = j.sock.rx === 0 || emu.dp.ringEmpty(j.sock.rx);
    still = n === last && rxEmpty ? still + 1 : 0;
    last = n;
  }
}

const ZERO_XS: XdpStatistics = { rx_dropped: 0n, rx_invalid_descs: 0n, tx_invalid_descs: 0n, rx_ring_full: 0n, rx_fill_ring_empty_descs: 0n, tx_ring_empty_descs: 0n };

/** dump_stats(): the block the sample prints every interval and once more at its end. */
function dumpStats(ctx: Ctx, j: Job, rx: number, tx: number, xs: XdpStatistics): void {
  const now = performance.now();
  const dt = (now - j.prev.t) / 1000;
  const rate = (n: number | bigint, p: number | bigint): string => (dt > 0 ? Number(BigInt(n) - BigInt(p)) / dt : 0).toFixed(0);
  const line = (name: string, n: number | bigint, p: number | bigint): string => `${name.padEnd(18)} ${rate(n, p).padEnd(14)} ${String(n).padEnd(14)}`;
  ctx.out.push('', ` ${j.header}`);
  ctx.out.push(`${''.padEnd(18)} ${'pps'.padEnd(14)} ${'pkts'.padEnd(14)} ${dt.toFixed(2).padEnd(14)}`);
  ctx.out.push(line('rx', rx, j.prev.rx), line('tx', tx, j.prev.tx));
  if (j.extra) {
    const p = j.prev.xs;
    ctx.out.push(
      line('rx dropped', xs.rx_dropped, p.rx_dropped), line('rx invalid', xs.rx_invalid_descs, p.rx_invalid_descs),
      line('tx invalid', xs.tx_invalid_descs, p.tx_invalid_descs), line('rx queue full', xs.rx_ring_full, p.rx_ring_full),
      line('fill ring empty', xs.rx_fill_ring_empty_descs, p.rx_fill_ring_empty_descs),
      line('tx ring empty', xs.tx_ring_empty_descs, p.tx_ring_empty_descs),
    );
  }
  j.prev = { t: now, rx, tx, xs };
}

/** The sample's end: stop the application, the last statistics block, close the socket. */
async function finish(ctx: Ctx, j: Job): Promise<void> {
  const r = await j.app.stop();
  const xs = j.sock.statistics();
  ctx.emu.xskClose(j.sock);
  dumpStats(ctx, j, r.rxPackets, r.txPackets, xs);
}

/** `wait`: the background xdpsock runs end (at their -d, or now once they handled what arrived) and print their summaries. */
export async function waitJobs(ctx: Ctx): Promise<void> {
  const list = jobs.get(ctx.emu) ?? [];
  jobs.delete(ctx.emu);
  for (const j of list) {
    if (j.deadline !== undefined) {
      while (Date.now() < j.deadline) {
        await ctx.emu.settle();
        await sleep(1);
      }
    } else await drain(ctx.emu, j);
    await finish(ctx, j);
  }
}

/** glibc ether_aton_r: six groups of one or two hex digits separated by ':'. */
function etherAton(s: string): Uint8Array | undefined {
  if (!/^([0-9a-f]{1,2}:){5}[0-9a-f]([0-9a-f]|$|\s)/i.test(s)) return undefined;
  return Uint8Array.from(s.split(':').slice(0, 6).map((g) => parseInt(g.slice(0, 2), 16)));
}

/** strtol(s, NULL, 16) truncated to 32 bits, as the sample stores -P. */
function strtol16(s: string): number {
  const m = /^[ \t\n\v\f\r]*([+-]?)(?:0[xX](?=[0-9a-fA-F]))?([0-9a-fA-F]+)/.exec(s);
  if (!m) return 0;
  let v = BigInt(`0x${m[2]}`);
  if (m[1] === '-') v = -v;
  const max = (1n << 63n) - 1n;
  v = v > max ? max : v < -max - 1n ? -max - 1n : v;
  return Number(BigInt.asUintN(32, v));
}

export async function xdpsock(ctx: Ctx, argv: string[]): Promise<void> {
  const args = [...argv];
  const background = args[args.length - 1] === '&';
  if (background) args.pop();
  const usage = (before?: string): never => { throw new CliError((before === undefined ? '' : `${before}\n`) + USAGE, 1); };
  let mode: XskAppMode = 'rxdrop';
  let dev = '';
  let queue = 0;
  let poll = false;
  let flags = XDP_USE_NEED_WAKEUP;
  let frameSize = 4096;
  let batch = 64;
  let count = 0;
  let pktSize = 64;
  let duration = 0;
  let interval = 1;
  let quiet = false;
  let extra = false;
  const frame: TxFrameOptions = {};
  let vlan = false;
  let vlanId = 1;
  let vlanPri = 0;
  let mapPath: string | undefined;
  let mapKey: number | undefined;
  const { opts } = getoptLong(args, OPTSTRING, LONGS);
  for (const { opt, arg = '' } of opts) {
    if (REFUSED[opt]) throw new CliError(`xdpsock: -${opt} (--${LONG_OF.get(opt)}): ${REFUSED[opt]}`, 1);
    switch (opt) {
      case 'r': mode = 'rxdrop'; break;
      case 't': mode = 'txonly'; break;
      case 'l': mode = 'l2fwd'; break;
      case 'i': dev = arg; break;
      case 'q': queue = atoi(arg); break;
      case 'p': poll = true; break;
      case 'N': case 'O': case 'U': case 'B': break;
      case 'n': interval = atoi(arg); break;
      case 'w':
        if (!/^(REALTIME|TAI|BOOTTIME|MONOTONIC)$/i.test(arg)) ctx.err.push(`ERROR: Invalid clock ${arg}. Default to CLOCK_MONOTONIC.`);
        break;
      case 'W':
        if (!/^(OTHER|FIFO)$/i.test(arg)) ctx.err.push(`ERROR: Invalid policy ${arg}. Default to SCHED_OTHER.`);
        break;
      case 'z': flags |= XDP_ZEROCOPY; break;
      case 'c': flags |= XDP_COPY; break;
      case 'f': frameSize = atoi(arg); break;
      case 'm': flags &= ~XDP_USE_NEED_WAKEUP; break;
      case 'd': duration = atoi(arg); break;
      case 'b': batch = atoi(arg) >>> 0; break;
      case 'C': count = atoi(arg); break;
      case 's':
        // (the sample keeps it in a u16)
        pktSize = atoi(arg) & 0xffff;
        if (pktSize > 4096 || pktSize < 64) usage(`ERROR: Invalid frame size ${pktSize}`);
        break;
      case 'P': frame.pattern = strtol16(arg); break;
      case 'V': vlan = true; break;
      case 'J': vlanId = atoi(arg) & 0xffff; break;
      case 'K': vlanPri = atoi(arg) & 0xffff; break;
      case 'G': case 'H': {
        const mac = etherAton(arg);
        if (!mac) usage(`Invalid ${opt === 'G' ? 'dmac' : 'smac'} address:${arg}`);
        if (opt === 'G') frame.dmac = mac; else frame.smac = mac;
        break;
      }
      case 'x': extra = true; break;
      case 'Q': quiet = true; break;
      case 'map': mapPath = arg; break;
      case 'map-key': mapKey = atoi(arg); break;
      default: usage();
    }
  }
  if (vlan) frame.vlan = { id: vlanId, pri: vlanPri };
  let name: string;
  try {
    if (dev === '') throw new Error();
    name = ctx.emu.device(ctx.ns, dev).name;
  } catch {
    return usage(`ERROR: interface "${dev}" does not exist`);
  }
  if (frameSize & (frameSize - 1)) usage(`--frame-size=${frameSize} is not a power of two`);
  if (!mapPath) throw new CliError('xdpsock: nkemu does not load the sample\'s XDP program: attach one that redirects into an XSKMAP, pin the map (bpftool prog loadall ... pinmaps DIR) and pass --map PATH [--map-key K]', 1);
  const map = pinnedMap(ctx.emu, mapPath);
  if (!map) throw new CliError(`xdpsock: ${mapPath}: No such file or directory`, 1);
  if (map.type !== 'xskmap') throw new CliError(`xdpsock: ${mapPath} is not an XSKMAP`, 1);
  if (pktSize - 4 > frameSize) throw new CliError(`xdpsock: a ${pktSize}-byte packet does not fit a ${frameSize}-byte frame`, 1);
  if (!background && duration <= 0 && !(mode === 'txonly' && count > 0) && !ctx.signal) {
    throw new CliError('xdpsock: in the foreground it needs -d SECONDS (or -t with -C COUNT); or end the line with & and use wait', 1);
  }
  const emu = ctx.emu;
  try {
    const sock = new XskSocket(emu.dp, { umemSize: 4096 * frameSize, chunkSize: frameSize, fillSize: 4096, rxSize: 2048, txSize: 2048, compSize: 2048 });
    emu.xskBind(ctx.ns, dev, queue, sock, { flags });
    try {
      map.setSocket(mapKey ?? queue, sock);
      const app = await XskApp.start(emu.dp, sock, { mode, batch: batch || 64, count, frame: defaultTxFrame(pktSize - 4, frame) });
      const job: Job = {
        app, sock, extra, header: `sock0@${name}:${queue} ${mode} xdp-drv ${poll ? 'poll() ' : ''}`,
        prev: { t: performance.now(), rx: 0, tx: 0, xs: ZERO_XS },
      };
      if (duration > 0) job.deadline = Date.now() + duration * 1000;
      if (background) {
        jobs.set(emu, [...(jobs.get(emu) ?? []), job]);
        return;
      }
      // The sample's poller: a block every interval until the duration ends, the count is
      // sent or SIGINT; then the last block.
      let next = Date.now() + Math.max(1, interval) * 1000;
      const done = (): boolean => (job.deadline !== undefined && Date.now() >= job.deadline)
        || (mode === 'txonly' && count > 0 && app.txPackets >= count) || !!ctx.signal?.aborted;
      while (!done()) {
        await emu.settle();
        await sleep(1);
        if (!quiet && Date.now() >= next) {
          dumpStats(ctx, job, app.rxPackets, app.txPackets, sock.statistics());
          next += Math.max(1, interval) * 1000;
        }
      }
      if (job.deadline === undefined && !ctx.signal?.aborted) await drain(emu, job);
      await finish(ctx, job);
    } catch (e) {
      emu.xskClose(sock);
      throw e;
    }
  } catch (e) {
    if (e instanceof NetError) throw new CliError(`xdpsock: errno: ${e.code}/"${strerror(e.errno)}"`, 1);
    throw e;
  }
}
