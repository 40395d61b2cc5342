/**
 * Running tool command lines against an emulator: one line (`runCommand`), or a script
 * of them (`runScript`). Tools: ip, ping, ping6, pktgen, wire, nic, ethtool, ynl, zcrx, sysctl, sleep,
 * bpftool, xdpsock (and `wait` for the xdpsock runs started with a trailing `&`).
 */

import type { Emulator } from '../emulator.js';
import { NetError } from '../errors.js';
import { CliError, newCtx, type Ctx, type OutputSink } from './context.js';
import { bpftool } from './bpftool.js';
import { ipCommand } from './ip.js';
import { ethtool, nicCmd, ping, pktgen, wire, ynl, zcrx } from './tools.js';
import { sysctl } from './sysctl.js';
import { waitJobs, xdpsock } from './xdpsock.js';

export interface CommandResult {
  stdout: string;
  stderr: string;
  code: number;
}

export const USAGE = `Usage: nkemu [--workers N] TOOL [ARGS...]
       nkemu [--workers N] run FILE        run a script (one command per line, # comments)
       nkemu bench SCRIPT [--prog FILE]... measure a setup and program variants (nkemu bench --help)
       nkemu demo                         the built-in scenario
Tools: ip, ping, ping6, pktgen, wire, nic, ethtool, ynl, zcrx, sysctl, bpftool, xdpsock, wait, sleep`;

/** Splits a script line like a shell would for these tools: words, 'single' and "double" quotes. */
export function splitWords(line: string): string[] {
  const out: string[] = [];
  const re = /'([^']*)'|"((?:[^"\\]|\\.)*)"|(\S+)/g;
  for (let m = re.exec(line); m; m = re.exec(line)) out.push(m[1] ?? m[2]?.replace(/\\(.)/g, '$1') ?? m[3]!);
  return out;
}

async function dispatch(ctx: Ctx, argv: string[]): Promise<number> {
  const [tool, ...rest] = argv;
  const exec = async (ns: string, inner: string[]): Promise<void> => {
    const saved = ctx.ns;
    ctx.ns = ns;
    try {
      const code = await dispatch(ctx, inner);
      if (code !== 0) throw new CliError('', code);
    } finally {
      ctx.ns = saved;
    }
  };
  switch (tool) {
    case 'ip': await ipCommand(ctx, rest, exec); return 0;
    case 'ping': return ping(ctx, rest);
    case 'ping6': return ping(ctx, rest, 6);
    case 'pktgen': await pktgen(ctx, rest); return 0;
    case 'wire': await wire(ctx, rest); return 0;
    case 'nic': nicCmd(ctx, rest); return 0;
    case 'ethtool': ethtool(ctx, rest); return 0;
    case 'ynl': ynl(ctx, rest); return 0;
    case 'zcrx': zcrx(ctx, rest); return 0;
    case 'bpftool': bpftool(ctx, rest); return 0;
    case 'xdpsock': await xdpsock(ctx, rest); return 0;
    case 'wait': await waitJobs(ctx); return 0;
    case 'sleep': {
      // (coreutils' sleep NUMBER[s]: here the virtual clock's time passes, at once)
      const v = rest.length === 1 ? /^(\d+(?:\.\d*)?|\.\d+)s?$/.exec(rest[0]!) : null;
      if (!v) throw new CliError(rest.length === 0 ? 'sleep: missing operand' : `sleep: invalid time interval '${rest.join(' ')}'`, 1);
      ctx.emu.sleep(Number(v[1]));
      return 0;
    }
    case 'sysctl': {
      return sysctl(ctx, rest);
    }
    default: throw new CliError(USAGE, 1);
  }
}

/** How a command runs: its lines streamed as printed, and a signal that stops it (SIGINT). */
export interface RunOptions {
  onOutput?: OutputSink;
  signal?: AbortSignal;
}

/**
 * Runs one command line (already split into words) against `emu` in namespace `ns`; the
 * result holds everything it printed (also streamed to `o.onOutput` as printed).
 */
export async function runCommand(emu: Emulator, argv: string[], ns = 'init', o: RunOptions = {}): Promise<CommandResult> {
  const ctx = newCtx(emu, ns, o);
  let code = 0;
  try {
    code = await dispatch(ctx, argv);
  } catch (e) {
    code = fail(ctx, e, argv);
  }
  return { stdout: ctx.out.map((l) => `${l}\n`).join(''), stderr: ctx.err.map((l) => `${l}\n`).join(''), code };
}

function fail(ctx: Ctx, e: unknown, argv: string[]): number {
  if (e instanceof CliError) {
    if (e.message) ctx.err.push(e.message);
    return e.code;
  }
  if (e instanceof NetError) {
    ctx.err.push(e.iproute2());
    return 2;
  }
  // A bug of nkemu's, not the user's: one line saying so (no host error text, no stack),
  // EX_SOFTWARE. test/cli/fuzz.test.ts feeds every tool random arguments to keep it unreached.
  ctx.err.push(`nkemu: internal error running '${argv.join(' ')}' (${e instanceof Error ? e.name : typeof e}); please report it`);
  return 70;
}

/**
 * `nkemu run FILE`: each line in order, its output printed; like `ip -batch`, the first
 * failing line stops the run with `Command failed FILE:LINE`.
 */
export async function runScript(emu: Emulator, text: string, file = '-', o: RunOptions = {}): Promise<CommandResult> {
  const out: string[] = [];
  const err: string[] = [];
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!.replace(/(^|\s)#.*$/, '').trim();
    if (line === '') continue;
    const r = await runCommand(emu, splitWords(line), 'init', o);
    out.push(r.stdout);
    err.push(r.stderr);
    // (interrupted: the script ends with the status of the line SIGINT stopped)
    if (o.signal?.aborted) {
      await runCommand(emu, ['wait']);
      return { stdout: out.join(''), stderr: err.join(''), code: r.code };
    }
    if (r.code !== 0) {
      err.push(`Command failed ${file}:${i + 1}\n`);
      o.onOutput?.('stderr', `Command failed ${file}:${i + 1}\n`);
      await runCommand(emu, ['wait']); // background runs end with the script, their summaries unprinted
      return { stdout: out.join(''), stderr: err.join(''), code: r.code };
    }
  }
  // Background runs (`xdpsock ... &`) end with the script, like a shell waiting for its jobs.
  const r = await runCommand(emu, ['wait'], 'init', o);
  out.push(r.stdout);
  err.push(r.stderr);
  return { stdout: out.join(''), stderr: err.join(''), code: r.code };
}
