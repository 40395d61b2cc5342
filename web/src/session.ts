/**
 * The page's emulator and the one queue every command goes through (typed lines,
 * scenario scripts, the panels' buttons), so that they run one at a time as in a shell.
 * Scripts run as `nkemu run` runs them (src/cli/run.ts runScript): line by line, the
 * first failing line stops the run with `Command failed FILE:LINE`, background xdpsock
 * runs are waited for at the end; each line is echoed after a prompt first.
 */

import { Emulator } from '../../src/emulator.js';
import { runCommand, splitWords, type CommandResult } from '../../src/cli/run.js';
import type { Capture } from '../../src/trace/capture.js';

export type Write = (text: string, stream?: 'stdout' | 'stderr' | 'echo') => void;

export interface SessionOptions {
  workers: number;
  write: Write;
  /** After every command (the setup may have changed). */
  changed: () => void;
}

export class Session {
  emu!: Emulator;
  capture: Capture | undefined;
  readonly workers: number;
  private readonly write: Write;
  private readonly changed: () => void;
  private queue: Promise<unknown> = Promise.resolve();
  private abort: AbortController | undefined;
  /** Bumped by reset(): panels drop what they kept from the previous emulator. */
  generation = 0;
  busy = false;
  /** False while the emulator is being replaced (panels leave it alone then). */
  ready = false;
  /** Typed lines run to the end so far (tests wait on it). */
  completed = 0;

  constructor(o: SessionOptions) {
    this.workers = o.workers;
    this.write = o.write;
    this.changed = o.changed;
  }

  /** A fresh emulator (the old one closed), with the tracer on, a capture running and run counts on. */
  async reset(): Promise<void> {
    await this.enqueue(async () => {
      const old = this.emu;
      this.ready = false;
      if (old) await old.close();
      this.emu = await Emulator.create({
        workers: this.workers, seed: 42,
        wasmUrl: new URL('./dataplane.wasm', import.meta.url),
        workerUrl: new URL('./worker.js', import.meta.url),
      });
      this.emu.tracer.enable();
      // (the eBPF panel shows each program's run count: kernel.bpf_stats_enabled on, as
      // `sysctl -w kernel.bpf_stats_enabled=1` would turn it on; `=0` turns it off)
      this.emu.setBpfStats(true);
      this.capture = this.emu.startCapture();
      this.generation++;
      this.ready = true;
    });
    this.changed();
  }

  /** Ctrl-C: stops the running command (ping prints its statistics). */
  interrupt(): boolean {
    if (!this.abort) return false;
    this.abort.abort();
    return true;
  }

  private enqueue<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(async () => {
      this.busy = true;
      try {
        return await fn();
      } finally {
        this.busy = false;
      }
    });
    this.queue = p.catch(() => undefined);
    return p;
  }

  private async exec(argv: string[]): Promise<CommandResult> {
    this.abort = new AbortController();
    try {
      return await runCommand(this.emu, argv, 'init', { onOutput: (s, t) => this.write(t, s), signal: this.abort.signal });
    } finally {
      this.abort = undefined;
    }
  }

  /** One typed line: like `nkemu TOOL ARGS...` against this page's emulator (background runs keep going). */
  async line(text: string, o: { echo?: boolean } = {}): Promise<number> {
    const r = await this.enqueue(async () => {
      if (o.echo) this.write(`${prompt()}${text}\n`, 'echo');
      const argv = splitWords(text);
      return argv.length ? (await this.exec(argv)).code : 0;
    });
    this.completed++;
    this.changed();
    return r;
  }

  /** A command whose output is for a panel, not the console (bpftool -j dumps). */
  async quiet(argv: string[]): Promise<CommandResult> {
    return this.enqueue(() => runCommand(this.emu, argv));
  }

  /** Runs `fn` on the current emulator between commands (panels reading several things at once). */
  async read<T>(fn: (emu: Emulator) => Promise<T> | T): Promise<T> {
    return this.enqueue(async () => fn(this.emu));
  }

  /** `nkemu run FILE` with each line echoed first. */
  async script(text: string, file: string): Promise<number> {
    return this.enqueue(async () => {
      const lines = text.split('\n');
      for (let i = 0; i < lines.length; i++) {
        const raw = lines[i]!;
        const line = raw.replace(/(^|\s)#.*$/, '').trim();
        if (line === '') {
          if (raw.trim().startsWith('#')) this.write(`${raw.trim()}\n`, 'echo');
          continue;
        }
        this.write(`${prompt()}${line}\n`, 'echo');
        const r = await this.exec(splitWords(line));
        this.changed();
        if (r.code !== 0) {
          this.write(`Command failed ${file}:${i + 1}\n`, 'stderr');
          await runCommand(this.emu, ['wait']);
          return r.code;
        }
      }
      const r = await this.exec(['wait']);
      this.changed();
      return r.code;
    });
  }
}

export function prompt(): string {
  return 'nkemu$ ';
}
