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
import { XskApp, defaultTxFrame, type XskAppMode } from '../xdp/app.js';
import { XDP_COPY, XDP_USE_NEED_WAKEUP, XDP_ZEROCOPY, XskSocket } from '../xdp/socket.js';
import { pinnedMap } from './bpftool.js';
import { CliError, type Ctx } from './context.js';

const USAGE = `Usage: xdpsock [OPTIONS]
Options:
  -r, --rxdrop         Discard all incoming packets (default)
  -t, --txonly         Only send packets
  -l, --l2fwd          MAC swap L2 forwarding
  -i, --interface=n    Run on interface n
  -q, --queue=n        Use queue n (default 0)
  -N, --xdp-native     Enforce XDP native mode
  -c, --copy           Force copy mode
  -z, --zero-copy      Force zero-copy mode
  -m, --no-need-wakeup Turn off use of driver need wakeup flag
  -f, --frame-size=n   Set the frame size (must be a power of two in aligned mode, default 4096)
  -b, --batch-size=n   Batch size for sending or receiving packets (default 64)
  -C, --tx-pkt-count=n Number of packets to send (default: until stopped)
  -s, --tx-pkt-size=n  Transmit packet size (default 64, including the 4-byte FCS)
  -d, --duration=n     Duration in secs to run command (default: until wait / end of script)
      --map PATH       The pinned XSKMAP to insert the socket into
      --map-key K      Its key (default: the queue id)`;

interface Job { app: XskApp; header: string; deadline?: number; sock: XskSocket }

const jobs = new WeakMap<Emulator, Job[]>();

function int(v: string | undefined, what: string): number {
  if (v === undefined || !/^\d+$/.test(v)) throw new CliError(`xdpsock: invalid ${what}: '${v ?? ''}'\n${USAGE}`, 1);
  return Number(v);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Settles the dataplane (zero-copy drivers run there) while the application works. */
async function run(emu: Emulator, ms: number, done: () => boolean = () => false): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < ms && !done()) {
    await emu.settle();
    await sleep(1);
  }
}

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

async function finish(ctx: Ctx, j: Job): Promise<void> {
  if (j.deadline !== undefined) await run(ctx.emu, Math.max(0, j.deadline - Date.now()));
  else await drain(ctx.emu, j);
  const r = await j.app.stop();
  ctx.emu.xskClose(j.sock);
  const pad = (s: string, n: number): string => s.padEnd(n);
  ctx.out.push('', ` ${j.header}`);
  ctx.out.push(`${pad('', 18)} ${pad('pps', 14)} ${pad('pkts', 14)} ${r.seconds.toFixed(2)}`);
  ctx.out.push(`${pad('rx', 18)} ${pad(r.rxPps.toFixed(0), 14)} ${pad(String(r.rxPackets), 14)}`);
  ctx.out.push(`${pad('tx', 18)} ${pad(r.txPps.toFixed(0), 14)} ${pad(String(r.txPackets), 14)}`);
}

/** `wait`: the background xdpsock runs end (at their -d, or now once they handled what arrived) and print their summaries. */
export async function waitJobs(ctx: Ctx): Promise<void> {
  const list = jobs.get(ctx.emu) ?? [];
  jobs.delete(ctx.emu);
  for (const j of list) await finish(ctx, j);
}

export async function xdpsock(ctx: Ctx, argv: string[]): Promise<void> {
  const args = [...argv];
  const background = args[args.length - 1] === '&';
  if (background) args.pop();
  let mode: XskAppMode = 'rxdrop';
  let dev: string | undefined;
  let queue = 0;
  let native = false;
  let flags = XDP_USE_NEED_WAKEUP;
  let frameSize = 4096;
  let batch = 64;
  let count = 0;
  let pktSize = 64;
  let duration: number | undefined;
  let mapPath: string | undefined;
  let mapKey: number | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    const eq = a.indexOf('=');
    const [opt, inline] = a.startsWith('--') && eq > 0 ? [a.slice(0, eq), a.slice(eq + 1)] : [a, undefined];
    const val = (): string | undefined => inline ?? args[++i];
    switch (opt) {
      case '-r': case '--rxdrop': mode = 'rxdrop'; break;
      case '-t': case '--txonly': mode = 'txonly'; break;
      case '-l': case '--l2fwd': mode = 'l2fwd'; break;
      case '-i': case '--interface': dev = val(); break;
      case '-q': case '--queue': queue = int(val(), 'queue'); break;
      case '-N': case '--xdp-native': native = true; break;
      case '-S': case '--xdp-skb': throw new CliError('xdpsock: generic (SKB) XDP is not emulated; nkemu runs XDP natively', 1);
      case '-c': case '--copy': flags |= XDP_COPY; break;
      case '-z': case '--zero-copy': flags |= XDP_ZEROCOPY; break;
      case '-m': case '--no-need-wakeup': flags &= ~XDP_USE_NEED_WAKEUP; break;
      case '-f': case '--frame-size': frameSize = int(val(), 'frame size'); break;
      case '-b': case '--batch-size': batch = int(val(), 'batch size'); break;
      case '-C': case '--tx-pkt-count': count = int(val(), 'packet count'); break;
      case '-s': case '--tx-pkt-size': pktSize = int(val(), 'packet size'); break;
      case '-d': case '--duration': duration = int(val(), 'duration'); break;
      case '--map': mapPath = val(); break;
      case '--map-key': mapKey = int(val(), 'map key'); break;
      case '-h': case '--help': ctx.out.push(USAGE); return;
      default: throw new CliError(`xdpsock: unrecognized option '${a}'\n${USAGE}`, 1);
    }
  }
  if (!dev) throw new CliError(`xdpsock: an interface is required (-i)\n${USAGE}`, 1);
  if (!mapPath) throw new CliError('xdpsock: nkemu does not load the sample\'s XDP program: attach one that redirects into an XSKMAP, pin the map (bpftool prog loadall ... pinmaps DIR) and pass --map PATH [--map-key K]', 1);
  const map = pinnedMap(ctx.emu, mapPath);
  if (!map) throw new CliError(`xdpsock: ${mapPath}: No such file or directory`, 1);
  if (map.type !== 'xskmap') throw new CliError(`xdpsock: ${mapPath} is not an XSKMAP`, 1);
  if (pktSize < 64 || pktSize - 4 > frameSize) throw new CliError(`xdpsock: invalid packet size ${pktSize}`, 1);
  if (!background && duration === undefined && !(mode === 'txonly' && count > 0)) {
    throw new CliError('xdpsock: in the foreground it needs -d SECONDS (or -t with -C COUNT); or end the line with & and use wait', 1);
  }
  const emu = ctx.emu;
  try {
    const sock = new XskSocket(emu.dp, { umemSize: 4096 * frameSize, chunkSize: frameSize, fillSize: 4096, rxSize: 2048, txSize: 2048, compSize: 2048 });
    emu.xskBind(ctx.ns, dev, queue, sock, { flags });
    try {
      map.setSocket(mapKey ?? queue, sock);
      const app = await XskApp.start(emu.dp, sock, { mode, batch, count, frame: defaultTxFrame(pktSize - 4) });
      const name = emu.device(ctx.ns, dev).name;
      const job: Job = { app, sock, header: `sock0@${name}:${queue} ${mode} ${native ? 'xdp-drv ' : '\t'}` };
      if (duration !== undefined) job.deadline = Date.now() + duration * 1000;
      if (background) {
        jobs.set(emu, [...(jobs.get(emu) ?? []), job]);
        return;
      }
      if (job.deadline === undefined) {
        await run(emu, 3_600_000, () => app.txPackets >= count);
        await drain(emu, job);
      }
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
