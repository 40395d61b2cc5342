/**
 * What a command runs against: the emulator, the current namespace (`ip netns exec`,
 * `ip -n`), output switches, and the lines it printed.
 */

import type { Emulator } from '../emulator.js';

export interface Ctx {
  emu: Emulator;
  ns: string;
  json: boolean;
  details: boolean;
  /** `-s` given this many times (`-s -s` adds the error counters). */
  stats: number;
  pretty: boolean;
  /** `-br`: one line per device, fixed-width columns. */
  brief: boolean;
  /** `-o`: each record on one line, its line breaks printed as `\`. */
  oneline: boolean;
  /** `-4` / `-6` / `-0` / `-f FAMILY`: undefined for all. */
  family?: 'inet' | 'inet6' | 'link' | 'mpls' | 'bridge';
  out: string[];
  err: string[];
  /** Aborted on SIGINT: long commands (ping) stop and print what they have. */
  signal?: AbortSignal;
}

/** A command failure: the text the real tool prints on stderr and its exit status. */
export class CliError extends Error {
  readonly code: number;
  constructor(message: string, code = 1) {
    super(message);
    this.name = 'CliError';
    this.code = code;
  }
}

/** Where a command's lines go as they are printed (the executable streams them). */
export type OutputSink = (stream: 'stdout' | 'stderr', text: string) => void;

export function newCtx(emu: Emulator, ns = 'init', o: { onOutput?: OutputSink; signal?: AbortSignal } = {}): Ctx {
  const ctx: Ctx = { emu, ns, json: false, details: false, stats: 0, pretty: false, brief: false, oneline: false, out: [], err: [], signal: o.signal };
  const sink = o.onOutput;
  if (sink) {
    // Each line goes out as it is printed, and is kept for the command's result too.
    const tee = (lines: string[], stream: 'stdout' | 'stderr'): void => {
      const push = lines.push.bind(lines);
      lines.push = (...more: string[]): number => { for (const l of more) sink(stream, `${l}\n`); return push(...more); };
    };
    tee(ctx.out, 'stdout');
    tee(ctx.err, 'stderr');
  }
  return ctx;
}
