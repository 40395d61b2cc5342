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

export function newCtx(emu: Emulator, ns = 'init'): Ctx {
  return { emu, ns, json: false, details: false, stats: 0, pretty: false, brief: false, oneline: false, out: [], err: [] };
}
