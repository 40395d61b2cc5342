/**
 * What a bench is: the options `bench()` and `nkemu bench` take, checked once and
 * resolved into a `BenchConfig` that can cross into the measuring processes as JSON
 * (absolute paths, the script's text, the variants' program names and types).
 *
 * The setup script is `nkemu run` syntax. `$PROG` in it stands for the variant's object
 * (its absolute path), `$SEC` for the section given with `sec`, `$VARIANT` for the
 * variant's name. Its `pktgen` and `wire` lines (also after `ip netns exec NS`) are not
 * run at setup: they are the traffic, sent again and again while measuring.
 */

import { readFileSync } from 'node:fs';
import { basename, resolve } from 'node:path';
import { loadObject } from '../ebpf/elf.js';
import { splitWords } from '../cli/run.js';
import { readCapture } from '../trace/replay.js';

/** A refusal of the bench's inputs: the message names the file, option or line. */
export class BenchError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'BenchError';
  }
}

/** One program variant: an object file, and the section of the program meant. */
export interface VariantOptions {
  /** Shown in the report. Default: the object's file name without `.o` (made unique). */
  name?: string;
  /** Path of a clang-compiled BPF object (ELF). */
  object: string;
  /** Section of the program to measure and attach. Default: `BenchOptions.sec`, else the object's first program. */
  sec?: string;
}

export interface BenchOptions {
  /** The setup script's text (`nkemu run` syntax; `$PROG`, `$SEC`, `$VARIANT` placeholders). */
  script: string;
  /** The script's name in messages. Default `setup`. */
  scriptName?: string;
  /** More traffic lines (`pktgen dev DEV …`, `wire DEV …`), after the script's own. */
  traffic?: string[];
  /** A capture (pcap or pcapng) every traffic line without its own `pcap FILE` replays. */
  pcap?: string;
  /** The variants, measured side by side; the first is the baseline of the ratios. None: the setup alone. */
  variants?: (VariantOptions | string)[];
  /** Default section for the variants. */
  sec?: string;
  /** Measuring processes, run one after another. Default 3. */
  procs?: number;
  /** Rounds per process; each measures every variant once, in an order reversed every other round. Default 5. */
  rounds?: number;
  /** Benchmark.js time per variant per round, seconds. Default 0.25 (a traffic line's `duration` overrides it). */
  time?: number;
  /** Packets per measured operation of a traffic line without `count`. Default 4096. */
  packets?: number;
  /** Repetitions of each test run (ns per program run, per instruction, and the kernel's). Default 2000. */
  repeat?: number;
  /** How many of the traffic's first frames the test runs use. Default 8. */
  testFrames?: number;
  /** Also time each variant with the kernel's BPF_PROG_TEST_RUN (root, bpftool). Default false. */
  kernel?: boolean;
  /** Progress lines (a process started, …). */
  onProgress?: (line: string) => void;
}

export interface ResolvedVariant {
  name: string;
  object: string;
  sec?: string;
  /** The measured program: its function name, section and nkemu program type. */
  program: string;
  section: string;
  type: string;
  /** Why this variant has no kernel column (the kernel refused the object). */
  kernelAbsent?: string;
}

export interface BenchConfig {
  script: string;
  scriptName: string;
  /** Setup lines with 1-based line numbers (traffic lines taken out). */
  setup: { line: number; text: string }[];
  traffic: string[];
  pcap?: string;
  variants: ResolvedVariant[];
  procs: number;
  rounds: number;
  time: number;
  packets: number;
  repeat: number;
  testFrames: number;
  kernel: boolean;
  /** Why the kernel column is absent (asked for, but not possible here). */
  kernelAbsent?: string;
}

function positiveInt(name: string, v: number | undefined, dflt: number): number {
  const n = v ?? dflt;
  if (!Number.isInteger(n) || n < 1) throw new BenchError(`${name} must be a whole number ≥ 1, got ${String(v)}`);
  return n;
}

/** A file's bytes, or a BenchError saying why it cannot be read. */
export function readBytes(path: string, what: string): Uint8Array {
  try {
    return readFileSync(path);
  } catch (e) {
    const code = (e as { code?: string }).code;
    const why = code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code === 'EISDIR' ? 'Is a directory' : (e as Error).message;
    throw new BenchError(`cannot read ${what} ${path}: ${why}`);
  }
}

/** Whether a script line is traffic, and its words without an `ip netns exec NS` prefix. */
export function trafficWords(line: string): { ns: string; words: string[] } | undefined {
  let words = splitWords(line);
  let ns = 'init';
  if (words[0] === 'ip' && words[1] === 'netns' && words[2] === 'exec' && words[3]) {
    ns = words[3];
    words = words.slice(4);
  }
  return words[0] === 'pktgen' || words[0] === 'wire' ? { ns, words } : undefined;
}

/** Checks the options and everything they name (objects, sections, captures); throws BenchError. */
export function resolveConfig(o: BenchOptions, cwd = process.cwd()): BenchConfig {
  if (typeof o.script !== 'string') throw new BenchError('script must be the setup script\'s text');
  const scriptName = o.scriptName ?? 'setup';
  const setup: BenchConfig['setup'] = [];
  const traffic: string[] = [];
  o.script.split('\n').forEach((raw, i) => {
    const text = raw.replace(/(^|\s)#.*$/, '').trim();
    if (text === '') return;
    if (trafficWords(text)) traffic.push(text);
    else setup.push({ line: i + 1, text });
  });
  traffic.push(...(o.traffic ?? []).map((t) => t.trim()).filter((t) => t !== ''));
  for (const t of o.traffic ?? []) if (t.trim() !== '' && !trafficWords(t)) throw new BenchError(`traffic line '${t}' is neither 'pktgen dev DEV …' nor 'wire DEV …'`);
  if (traffic.length === 0) throw new BenchError(`${scriptName}: no traffic: add a line 'pktgen dev DEV [count N] …' or 'wire DEV …' (with 'pcap FILE' to replay a capture)`);
  let pcap: string | undefined;
  if (o.pcap !== undefined) {
    pcap = resolve(cwd, o.pcap);
    readCapture(readBytes(pcap, 'capture'), o.pcap);
  }
  const variants = (o.variants ?? []).map((v) => (typeof v === 'string' ? { object: v } : v));
  // (placeholders count in commands, not in comments)
  const uses = (p: string): boolean => setup.some((l) => l.text.includes(p)) || traffic.some((t) => t.includes(p));
  if (variants.length > 0 && !uses('$PROG')) {
    throw new BenchError(`${scriptName}: the setup script does not say where the program goes: write $PROG where the object's path belongs (e.g. 'ip link set dev eth0 xdp obj $PROG sec xdp', or 'bpftool prog load $PROG /sys/fs/bpf/p' then 'bpftool net attach netkit_primary pinned /sys/fs/bpf/p dev nk1')`);
  }
  if (variants.length === 0 && uses('$PROG')) throw new BenchError(`${scriptName}: the setup script uses $PROG but no program variant was given (--prog FILE)`);
  const names = new Set<string>();
  const resolved = variants.map((v, i): ResolvedVariant => {
    if (typeof v.object !== 'string' || v.object === '') throw new BenchError(`variant ${i + 1}: object must be a path`);
    const object = resolve(cwd, v.object);
    const bytes = readBytes(object, 'object');
    let obj;
    try {
      obj = loadObject(bytes);
    } catch (e) {
      throw new BenchError(`${v.object}: not a loadable BPF object: ${(e as Error).message}`);
    }
    const sec = v.sec ?? o.sec;
    if (uses('$SEC') && sec === undefined) throw new BenchError(`${scriptName}: the setup script uses $SEC but no section was given (--sec S)`);
    const progs = obj.programs.filter((p) => p.autoload);
    const p = sec === undefined ? progs[0] : obj.programs.find((x) => x.section === sec || x.section === `?${sec}`);
    if (!p) {
      const have = [...new Set(obj.programs.map((x) => x.section))];
      throw new BenchError(sec === undefined ? `${v.object}: the object holds no program` : `${v.object}: no program in section '${sec}' (its sections: ${have.join(', ') || 'none'})`);
    }
    let name = v.name ?? basename(v.object).replace(/\.o$/, '');
    if (names.has(name)) name = `${name}#${i + 1}`;
    names.add(name);
    return { name, object, ...(sec !== undefined ? { sec } : {}), program: p.name, section: p.section, type: p.type };
  });
  return {
    script: o.script, scriptName, setup, traffic, ...(pcap !== undefined ? { pcap } : {}), variants: resolved,
    procs: positiveInt('procs', o.procs, 3),
    rounds: positiveInt('rounds', o.rounds, 5),
    time: (() => {
      const t = o.time ?? 0.25;
      if (!Number.isFinite(t) || t <= 0) throw new BenchError(`time must be a positive number of seconds, got ${String(o.time)}`);
      return t;
    })(),
    packets: positiveInt('packets', o.packets, 4096),
    repeat: positiveInt('repeat', o.repeat, 2000),
    testFrames: positiveInt('testFrames', o.testFrames, 8),
    kernel: o.kernel ?? false,
  };
}

/** The setup script of one variant, placeholders filled in. */
export function setupLines(cfg: BenchConfig, v: ResolvedVariant | undefined): { line: number; text: string }[] {
  const quote = (s: string): string => (/[\s'"]/.test(s) ? `'${s}'` : s);
  return cfg.setup.map(({ line, text }) => ({
    line,
    text: v ? text.replaceAll('$PROG', quote(v.object)).replaceAll('$SEC', quote(v.sec ?? v.section)).replaceAll('$VARIANT', quote(v.name)) : text,
  }));
}
