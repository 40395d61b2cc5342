/**
 * `bpftool` in its own words, over an emulated bpffs: prog load/loadall/show/run,
 * map dump/lookup/update, link show, net show, and — an nkemu extension, since bpftool
 * lists netkit attachments but cannot make them — `net attach|detach netkit_primary|netkit_peer`.
 */

import { readFileSync, writeFileSync } from 'node:fs';
import type { Emulator } from '../emulator.js';
import { errnoNumber, NetError, strerror, type Errno } from '../errors.js';
import { LoadError } from '../ebpf/load-error.js';
import { BPF_F_AFTER, BPF_F_BEFORE, BPF_F_REPLACE } from '../ebpf/mprog.js';
import type { BpfMap } from '../ebpf/maps.js';
import type { AttachType, BpfFs, BpfProgram, Pinned } from '../ebpf/program.js';
import type { NetDevice } from '../net/netdev.js';
import * as A from '../abi.generated.js';
import { btfDump } from './btf-dump.js';
import { CliError, type Ctx } from './context.js';
import { jsonWrite } from './json-writer.js';
import { BPFTOOL_VERSION, BPFTOOL_LINK_USAGE, BPFTOOL_MAP_USAGE, BPFTOOL_NET_USAGE, BPFTOOL_PROG_USAGE, BPFTOOL_USAGE } from './usage.js';

const allMaps = new WeakMap<Emulator, BpfMap[]>();

/** The emulator's bpffs (src/ebpf/bpffs.ts), which its object loader pins maps on too. */
function bpffs(emu: Emulator): BpfFs {
  return emu.bpf.fs;
}

/**
 * The maps bpftool can see: those its own loads made, and those pinned (by `ip`'s object
 * loader, say), by id; freed ones left out.
 */
function knownMaps(emu: Emulator): BpfMap[] {
  const out = new Set(allMaps.get(emu) ?? []);
  for (const [, e] of bpffs(emu).entries()) if (e.kind === 'map') out.add(e.map);
  return [...out].filter((m) => !m.freed).sort((a, b) => a.id - b.id);
}

function pin(emu: Emulator, path: string, obj: Pinned): void {
  if (!path.startsWith('/sys/fs/bpf/')) throw new CliError(`Error: failed to pin program: ${path} is not on a bpffs (use /sys/fs/bpf/...)`, 255);
  const f = bpffs(emu);
  if (f.has(path)) throw new CliError(`Error: can't pin the object (${path}): File exists`, 255);
  f.pin(path, obj);
}

/** `id N`, `pinned PATH`, `name NAME`, `tag TAG` → a program. */
function progRef(emu: Emulator, args: string[], i: number): [BpfProgram, number] {
  const how = args[i];
  const v = args[i + 1];
  if (v === undefined) throw new CliError(`Error: expected PROG`, 255);
  let p: BpfProgram | undefined;
  if (how === 'id') p = emu.bpf.prog(parseId(v));
  else if (how === 'pinned') p = pinned(emu, v, 'prog')?.prog;
  else if (how === 'name') p = [...emu.bpf.progs.values()].find((x) => x.name === v);
  else throw new CliError(`Error: expected 'id', 'tag', 'name' or 'pinned', got: '${how}'?`, 255);
  if (!p) throw new CliError(`Error: get by id (${v}): No such file or directory`, 255);
  return [p, i + 2];
}

/** strtoul on an id, as bpftool reads `id N`: a whole word of digits. */
function parseId(v: string | undefined): number {
  const n = v === undefined ? undefined : strtoul(v, 0);
  if (n === undefined) throw new CliError(`Error: can't parse ${v} as ID`, 255);
  return Number(n);
}

/** The object pinned at `path` (bpf obj get), which must be of the kind asked for. */
function pinned<K extends Pinned['kind']>(emu: Emulator, path: string, kind: K): Extract<Pinned, { kind: K }> {
  const e = bpffs(emu).get(path);
  if (!e) throw new CliError(`Error: bpf obj get (${path}): No such file or directory`, 255);
  if (e.kind !== kind) throw new CliError(`Error: incorrect object type: ${e.kind}`, 255);
  return e as Extract<Pinned, { kind: K }>;
}

function mapRef(emu: Emulator, args: string[], i: number): [BpfMap, number] {
  const how = args[i];
  const v = args[i + 1];
  const maps = knownMaps(emu);
  let m: BpfMap | undefined;
  if (how === 'id') m = maps.find((x) => x.id === parseId(v));
  else if (how === 'pinned') m = pinned(emu, v ?? '', 'map')?.map;
  else if (how === 'name') m = maps.find((x) => x.name === v);
  else throw new CliError(`Error: expected 'id', 'name' or 'pinned', got: '${how ?? ''}'?`, 255);
  if (!m) throw new CliError(`Error: get map by ${how} (${v ?? ''}): No such file or directory`, 255);
  return [m, i + 2];
}

/**
 * `value cgroup PATH`: PATH is a cgroup's directory under nkemu's cgroup v2 mount,
 * /sys/fs/cgroup, which holds one cgroup, its root; the path inside it (`/`), for setCgroup.
 */
function cgroupPath(path: string | undefined): string {
  const m = /^\/sys\/fs\/cgroup(\/.*)?$/.exec(path ?? '');
  const inside = (m?.[1] ?? '/').replace(/\/+$/, '') || '/';
  if (!m || inside !== '/') throw new CliError(`Error: can't open cgroup ${path ?? ''}: nkemu has one cgroup, its root, /sys/fs/cgroup`, 255);
  return inside;
}

/**
 * A key whose value bpftool could not read, as its print_entry_error_msg prints it: on one
 * line when key and message are short, else each after its name on lines of their own.
 */
function entryError(key: Uint8Array, msg: string): string[] {
  const breakNames = key.length > 16 || msg.length > 16;
  const single = key.length + msg.length <= 24 && !breakNames;
  const k = `key:${breakNames ? '\n' : ' '}${hexBytes(key)}`;
  const v = `value:${breakNames ? '\n' : ' '}${msg}`;
  return single ? [`${k}  ${v}`] : [k, v];
}

function hexBytes(b: Uint8Array): string {
  return [...b].map((x) => x.toString(16).padStart(2, '0')).join(' ');
}

/**
 * `key|value [hex] BYTES…` as bpftool's parse_bytes reads them: each word by strtoul with
 * base 0 (`0x` hex, a leading `0` octal, else decimal) or 16 after `hex`, kept as its low
 * byte (an unsigned char); a word that is not all digits is an error.
 */
function parseBytes(args: string[], i: number, n: number, what: string): [Uint8Array, number] {
  let base = 0;
  if (args[i] !== undefined && 'hex'.startsWith(args[i]!) && args[i]!.length > 0) { base = 16; i++; }
  const out = new Uint8Array(n);
  let k = 0;
  for (; k < n && args[i + k] !== undefined; k++) {
    const v = strtoul(args[i + k]!, base);
    if (v === undefined) throw new CliError(`Error: error parsing byte: ${args[i + k]}`, 255);
    out[k] = Number(v & 0xffn);
  }
  if (k !== n) throw new CliError(`Error: ${what} expected ${n} bytes got ${k}`, 255);
  return [out, i + n];
}

/** C's strtoul on a whole word (leading white space and a sign allowed, as in C); undefined where digits stop early. */
function strtoul(word: string, base: number): bigint | undefined {
  const m = /^\s*([+-]?)(.*)$/s.exec(word)!;
  let t = m[2]!;
  let b = base;
  if ((b === 0 || b === 16) && /^0x[0-9a-f]/i.test(t)) { t = t.slice(2); b = 16; }
  else if (b === 0) b = t.startsWith('0') ? 8 : 10;
  const digits = b === 16 ? /^[0-9a-f]+$/i : b === 8 ? /^[0-7]+$/ : /^[0-9]+$/;
  if (!digits.test(t)) return undefined;
  const v = BigInt.asUintN(64, [...t.toLowerCase()].reduce((acc, c) => acc * BigInt(b) + BigInt(parseInt(c, 16)), 0n));
  return m[1] === '-' ? BigInt.asUintN(64, -v) : v;
}

const PAGE_SIZE = 4096;

/**
 * A program's memlock, as the kernel counts it (prog->pages, whole pages): here the pages of
 * what nkemu holds for it in the shared memory, its image and its program record.
 */
function progMemlock(p: BpfProgram): number {
  return Math.ceil((p.insns.length + A.PR_SIZE) / PAGE_SIZE) * PAGE_SIZE;
}

/** A map's memlock (the kernel's map_mem_usage, in bytes): its record and its values or slots here. */
function mapMemlock(m: BpfMap): number {
  return A.MAP_RECORD_SIZE + m.valuesSize;
}

/** The ids of the maps a program uses, in the order it first names them (the kernel's used_maps). */
function progMapIds(p: BpfProgram): number[] {
  return (p.usedMaps as BpfMap[]).map((m) => m.id);
}

/** strftime's `%FT%T%z` in local time, as bpftool prints loaded_at. */
function isoLocal(ms: number): string {
  const d = new Date(ms);
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const off = -d.getTimezoneOffset();
  const z = `${off < 0 ? '-' : '+'}${p2(Math.floor(Math.abs(off) / 60))}${p2(Math.abs(off) % 60)}`;
  return `${d.getFullYear()}-${p2(d.getMonth() + 1)}-${p2(d.getDate())}T${p2(d.getHours())}:${p2(d.getMinutes())}:${p2(d.getSeconds())}${z}`;
}

/**
 * bpftool's show_prog_json, in its order. "jited": compiled to WebAssembly, its size the
 * module's; uid 0, since every nkemu program is loaded by its (root) user. run_time_ns and
 * run_cnt only when run_time_ns is not 0, recursion_misses only when not 0 (as bpftool).
 */
function progJson(emu: Emulator, p: BpfProgram): Record<string, unknown> {
  const maps = progMapIds(p);
  const st = emu.progStats(p);
  return {
    id: p.id, type: p.type, name: p.name, tag: p.tag || '0000000000000000', gpl_compatible: true,
    ...(st.runTimeNs ? { run_time_ns: st.runTimeNs, run_cnt: st.runCnt } : {}),
    ...(st.recursionMisses ? { recursion_misses: st.recursionMisses } : {}),
    loaded_at: Math.floor(p.loadedAt / 1000), uid: 0,
    bytes_xlated: p.insns.length, jited: p.jit.slot !== 0, ...(p.jit.slot !== 0 ? { bytes_jited: p.jit.bytes } : {}),
    bytes_memlock: progMemlock(p), ...(maps.length ? { map_ids: maps } : {}), ...(p.btfId ? { btf_id: p.btfId } : {}),
  };
}

/**
 * show_prog_plain: the header (with run_time_ns and run_cnt once run_time_ns is not 0, and
 * recursion_misses when not 0), loaded_at and uid, sizes, memlock and maps, then the BTF.
 */
function progText(emu: Emulator, p: BpfProgram): string[] {
  const maps = progMapIds(p);
  const st = emu.progStats(p);
  const stats = `${st.runTimeNs ? ` run_time_ns ${st.runTimeNs} run_cnt ${st.runCnt}` : ''}${st.recursionMisses ? ` recursion_misses ${st.recursionMisses}` : ''}`;
  return [
    `${p.id}: ${p.type}  name ${p.name}  tag ${p.tag || '0000000000000000'}  gpl${stats}`,
    `\tloaded_at ${isoLocal(p.loadedAt)}  uid 0`,
    `\txlated ${p.insns.length}B  ${p.jit.slot !== 0 ? `jited ${p.jit.bytes}B` : 'not jited'}  memlock ${progMemlock(p)}B${maps.length ? `  map_ids ${maps.join(',')}` : ''}`,
    ...(p.btfId ? [`\tbtf_id ${p.btfId}`] : []),
  ];
}

/** show_map_close_json, in its order (nkemu has no map freezing: frozen 0). */
function mapJson(m: BpfMap): Record<string, unknown> {
  return {
    // (bpftool leaves out an empty name: iproute2's legacy loader names no map)
    id: m.id, type: m.type, ...(m.name ? { name: m.name } : {}), flags: m.flags, bytes_key: m.keySize, bytes_value: m.valueSize, max_entries: m.maxEntries,
    bytes_memlock: mapMemlock(m), frozen: 0, ...(m.btf ? { btf_id: m.btf.id } : {}),
  };
}

function mapText(m: BpfMap): string[] {
  return [
    `${m.id}: ${m.type}  ${m.name ? `name ${m.name}  ` : ''}flags 0x${m.flags.toString(16)}`,
    `\tkey ${m.keySize}B  value ${m.valueSize}B  max_entries ${m.maxEntries}  memlock ${mapMemlock(m)}B`,
    ...(m.btf ? [`\tbtf_id ${m.btf.id}`] : []),
  ];
}

/** `net attach TYPE PROG dev DEV …` / `net detach TYPE dev DEV …`: the program, the device and what follows. */
function attachArgs(emu: Emulator, ns: string, verb: string, rest: string[]): { prog: BpfProgram | undefined; dev: NetDevice; next: number } {
  let i = 1;
  let prog: BpfProgram | undefined;
  if (verb === 'attach') [prog, i] = progRef(emu, rest, 1);
  if (rest[i] !== 'dev' || !rest[i + 1]) throw new CliError('Error: expected \'dev\', got: \'' + (rest[i] ?? '') + '\'', 255);
  const dev = emu.netns(ns).find(rest[i + 1]!);
  if (!dev) throw new CliError(`Error: invalid devname ${rest[i + 1]}`, 255);
  return { prog, dev, next: i + 2 };
}

const STRICT_NOTE = 'Warning: bpftool is now running in libbpf strict mode and has more stringent requirements about BPF programs.\nIf it used to work for this object file but now doesn\'t, see --legacy option for more details.\n';

function readObject(file: string | undefined): Uint8Array {
  if (!file) throw new CliError('Error: expected OBJ', 255);
  try {
    return new Uint8Array(readFileSync(file));
  } catch (e) {
    // (libbpf's open(2) failure, its errno's text; a directory opens, and is no ELF object)
    const code = (e as { code?: string }).code;
    if (code === 'EISDIR') throw new CliError(`libbpf: elf: failed to open ${file} as ELF file: invalid file descriptor\nError: failed to open object file`, 255);
    const text = code === 'ENOENT' ? 'No such file or directory' : code === 'EACCES' ? 'Permission denied' : code === 'ENOTDIR' ? 'Not a directory' : code === 'ENAMETOOLONG' ? 'File name too long' : 'Input/output error';
    throw new CliError(`libbpf: elf: failed to open ${file}: ${text}\nError: failed to open object file`, 255);
  }
}

function load(ctx: Ctx, file: string, only?: string[], type?: string): ReturnType<Emulator['loadObject']> {
  const bytes = readObject(file);
  // (libelf's elf_kind: a file without the ELF magic is no ELF object at all)
  if (bytes.length < 4 || bytes[0] !== 0x7f || bytes[1] !== 0x45 || bytes[2] !== 0x4c || bytes[3] !== 0x46) {
    throw new CliError(`libbpf: elf: '${file}' is not a proper ELF object\nError: failed to open object file`, 255);
  }
  try {
    const obj = ctx.emu.loadObject(bytes, { ...(only ? { programs: only } : {}), ...(type !== undefined ? { type } : {}) });
    allMaps.set(ctx.emu, [...(allMaps.get(ctx.emu) ?? []), ...obj.maps.values()]);
    return obj;
  } catch (e) {
    // (the object itself refused: libbpf's open; a program the checks refuse: its load)
    if (e instanceof LoadError) throw new CliError(`${e.message.split('\n').map((l) => `libbpf: ${l}`).join('\n')}\nError: failed to open object file`, 255);
    if (e instanceof NetError) {
      // (bpftool 7.1 adds its libbpf-strict-mode note to every failed object load)
      const what = e.libbpfLog ?? `libbpf: ${e.log ?? e.message}`;
      throw new CliError(`${what}\nlibbpf: failed to load object '${file}'\nError: failed to load object file\n${STRICT_NOTE}`, 255);
    }
    throw new CliError(`libbpf: ${(e as Error).message}\nError: failed to open object file`, 255);
  }
}

const ATTACH: Record<string, AttachType> = { netkit_primary: 'netkit_primary', netkit_peer: 'netkit_peer' };

// The commands of bpftool's main.c and of each object, in its order: a word selects the
// first command it is a prefix of (is_prefix), so `bpftool p s` is `bpftool prog show`.
const OBJECTS = ['help', 'prog', 'map', 'link', 'cgroup', 'perf', 'net', 'feature', 'btf', 'gen', 'struct_ops', 'iter', 'batch', 'version'];
const VERBS: Record<string, string[]> = {
  prog: ['show', 'list', 'help', 'dump', 'pin', 'load', 'loadall', 'attach', 'detach', 'tracelog', 'run', 'profile'],
  map: ['show', 'list', 'help', 'dump', 'update', 'lookup', 'getnext', 'delete', 'pin', 'event_pipe', 'create', 'peek', 'push', 'enqueue', 'pop', 'dequeue', 'freeze'],
  link: ['show', 'list', 'help', 'pin', 'detach'],
  net: ['show', 'list', 'attach', 'detach', 'help'],
};
const USAGE: Record<string, string> = { '': BPFTOOL_USAGE, prog: BPFTOOL_PROG_USAGE, map: BPFTOOL_MAP_USAGE, link: BPFTOOL_LINK_USAGE, net: BPFTOOL_NET_USAGE };

/** bpftool's is_prefix: the first command `word` begins (undefined: none). */
function pick(word: string, table: readonly string[]): string | undefined {
  return table.find((c) => c.startsWith(word));
}

/**
 * `bpftool [OPTIONS] OBJECT COMMAND …`. Errors are bpftool's: `Error: …` on stderr, or
 * `{"error": …}` on stdout with -j (libbpf's own lines stay on stderr), exit 255.
 */
export function bpftool(ctx: Ctx, argv: string[]): void {
  let json = false;
  let pretty = false;
  try {
    // (the options before the object: -p is pretty JSON, and JSON without -j)
    const first = argv.findIndex((b) => !b.startsWith('-'));
    const opts = first < 0 ? argv : argv.slice(0, first);
    pretty = opts.some((a) => a === '-p' || a === '--pretty');
    json = pretty || opts.some((a) => a === '-j' || a === '--json');
    bpftoolCommand(ctx, argv);
  } catch (e) {
    if (!(e instanceof CliError) || !json) throw e;
    const lines = e.message.split('\n');
    const at = lines.findIndex((l) => l.startsWith('Error: '));
    if (at < 0) throw e;
    ctx.out.push(jsonWrite({ error: lines[at]!.slice('Error: '.length) }, pretty));
    throw new CliError(lines.filter((_, i) => i !== at).join('\n'), e.code);
  }
}

/** A help text: on stderr (stdout `null` with -j), exit 0 when asked for, 255 after a wrong word. */
function usage(ctx: Ctx, json: boolean, obj: string, asked: boolean, typed = obj): void {
  if (json) ctx.out.push('null');
  // (an object's text names it as typed: `bpftool m help` prints `Usage: bpftool m …`)
  const text = json ? '' : USAGE[obj]!.replace(/\n$/, '').replaceAll(`bpftool ${obj} `, `bpftool ${typed} `);
  if (asked) { if (text) ctx.err.push(text); return; }
  throw new CliError(text, 255);
}

/** `bpftool version` / `-V`: the bpftool whose texts nkemu's follows (do_version's lines, or its JSON). */
function version(ctx: Ctx, json: boolean, pretty: boolean): void {
  const v = BPFTOOL_VERSION;
  if (json) { ctx.out.push(jsonWrite({ version: v.version, libbpf_version: v.libbpf, features: v.features }, pretty)); return; }
  const on = Object.entries(v.features).filter(([, x]) => x).map(([k]) => k);
  ctx.out.push(`bpftool v${v.version}`, `using libbpf v${v.libbpf}`, `features:${on.length ? ` ${on.join(', ')}` : ''}`);
}

function bpftoolCommand(ctx: Ctx, argv: string[]): void {
  const args = [...argv];
  let json = false;
  let pretty = false;
  while (args[0]?.startsWith('-') && args[0] !== '-') {
    const o = args.shift()!;
    if (o === '-j' || o === '--json') json = true;
    else if (o === '-p' || o === '--pretty') json = pretty = true;
    else if (o === '-h' || o === '--help') return usage(ctx, json, '', true);
    else if (o === '-V' || o === '--version') return version(ctx, json, pretty);
    else if (o === '-d' || o === '--debug' || o === '-l' || o === '--legacy') continue;
    else {
      if (json) { ctx.out.push(jsonWrite({ error: `unrecognized option '${o}'` }, pretty)); throw new CliError('', 255); }
      throw new CliError(`Error: unrecognized option '${o}'\n${BPFTOOL_USAGE.replace(/\n$/, '')}`, 255);
    }
  }
  if (args.length === 0) return usage(ctx, json, '', true);
  const obj = pick(args[0]!, OBJECTS);
  if (obj === undefined) return usage(ctx, json, '', false);
  if (obj === 'help') return usage(ctx, json, '', true);
  if (obj === 'version') return version(ctx, json, pretty);
  if (!(obj in VERBS)) throw new CliError(`Error: nkemu's bpftool has no '${obj}' (it implements prog, map, link and net)`, 255);
  const verb = args[1] === undefined ? undefined : pick(args[1], VERBS[obj]!);
  if (args[1] !== undefined && verb === undefined) return usage(ctx, json, obj, false, args[0]);
  if (verb === 'help') return usage(ctx, json, obj, true, args[0]);
  const rest = args.slice(2);
  const { emu } = ctx;
  const print = (v: unknown): void => { ctx.out.push(jsonWrite(v, pretty)); };
  if (obj === 'prog') {
    if (verb === 'load' || verb === 'loadall') {
      const [file, path] = rest;
      if (!path) throw new CliError('Error: expected OBJ PATH', 255);
      // (`type TYPE`: every program's type, as a section-name prefix)
      const ti = rest.indexOf('type', 2);
      if (ti >= 0 && rest[ti + 1] === undefined) throw new CliError('Error: expected TYPE', 255);
      const o = load(ctx, file!, undefined, ti >= 0 ? rest[ti + 1] : undefined);
      const progs = [...o.programs.values()];
      if (verb === 'load') {
        if (!progs.length) throw new CliError('Error: object file doesn\'t contain any bpf program', 255);
        pin(emu, path, { kind: 'prog', prog: progs[0]! });
      } else {
        for (const p of progs) pin(emu, `${path}/${p.name}`, { kind: 'prog', prog: p });
        const mi = rest.indexOf('pinmaps');
        if (mi >= 0) for (const [name, m] of o.maps) pin(emu, `${rest[mi + 1]}/${name}`, { kind: 'map', map: m });
      }
      return;
    }
    if (verb === 'show' || verb === 'list' || verb === undefined) {
      // (one PROG is two words; anything else is BAD_ARG on the first)
      if (rest.length !== 0 && rest.length !== 2) throw new CliError(`Error: what is '${rest[0]}'?`, 255);
      const progs = rest.length ? [progRef(emu, rest, 0)[0]] : [...emu.bpf.progs.values()];
      // One PROG prints its object, the listing an array (bpftool's show_prog vs do_show).
      if (json) return print(rest.length ? progJson(emu, progs[0]!) : progs.map((p) => progJson(emu, p)));
      for (const p of progs) ctx.out.push(...progText(emu, p));
      return;
    }
    if (verb === 'tracelog') {
      ctx.out.push(...emu.tracePipe());
      return;
    }
    if (verb === 'run') {
      const [p, next] = progRef(emu, rest, 0);
      const opt = new Map<string, string>();
      for (let i = next; i < rest.length; i += 2) opt.set(rest[i]!, rest[i + 1] ?? '');
      const dataIn = opt.get('data_in');
      if (!dataIn) throw new CliError('Error: \'data_in\' must be provided', 255);
      const read = (f: string): Uint8Array => { try { return new Uint8Array(readFileSync(f)); } catch { throw new CliError(`Error: failed to open input file ${f}`, 255); } };
      // (bpf_test_run: repeat 0 runs once)
      const repeat = opt.has('repeat') ? Number(opt.get('repeat')) : 1;
      let r;
      try {
        r = emu.testRun(p, { data: read(dataIn), ctx: opt.has('ctx_in') ? read(opt.get('ctx_in')!) : undefined, repeat: repeat === 0 ? 1 : repeat });
      } catch (e) {
        if (e instanceof NetError) throw new CliError(`Error: failed to run program: ${e.message}`, 255);
        throw e;
      }
      if (r.fault) {
        // The kernel's verifier keeps a loaded program from faulting, so a fault is no return
        // value: bpftool's error for a failed run (on stdout as JSON with -j), exit 255.
        const msg = `failed to run program: the program faulted (${r.fault} at instruction ${r.faultPc}), which the kernel's verifier would have refused to load`;
        if (json) {
          print({ error: msg });
          throw new CliError('', 255);
        }
        throw new CliError(`Error: ${msg}`, 255);
      }
      if (opt.has('data_out')) writeFileSync(opt.get('data_out')!, r.dataOut);
      if (opt.has('ctx_out')) writeFileSync(opt.get('ctx_out')!, r.ctxOut);
      const dur = Math.round(r.durationNs);
      if (json) return print({ retval: r.retval, duration: dur });
      ctx.out.push(`Return value: ${r.retval}, duration${(Number(opt.get('repeat') ?? 1) > 1) ? ' (average)' : ''}: ${dur}ns`);
      return;
    }
    throw new CliError(`Error: nkemu's bpftool does not implement '${obj} ${verb}'`, 255);
  }
  if (obj === 'map') {
    if (verb === 'show' || verb === 'list' || verb === undefined) {
      // (bpftool map show [MAP]: one map, printed as an object, or all, as an array)
      if (rest.length !== 0 && rest.length !== 2) throw new CliError(`Error: what is '${rest[0]}'?`, 255);
      const maps = rest.length ? [mapRef(emu, rest, 0)[0]] : knownMaps(emu);
      if (json) return print(rest.length ? mapJson(maps[0]!) : maps.map(mapJson));
      for (const m of maps) ctx.out.push(...mapText(m));
      return;
    }
    const [m, next] = mapRef(emu, rest, 0);
    // A per-CPU map's value is one per CPU (nkemu's: one per dataplane thread), listed as
    // "values" even when there is one CPU, as bpftool goes by the map's type.
    const perCpu = m.type === 'percpu_hash' || m.type === 'percpu_array' || m.type === 'lru_percpu_hash';
    const ofMaps = m.type === 'array_of_maps' || m.type === 'hash_of_maps';
    const lookup = (key: Uint8Array): Uint8Array | Uint8Array[] | undefined => {
      // (a map of maps gives user space its inner map's id: map_fd_sys_lookup_elem)
      if (ofMaps) { const inner = m.innerAt(key); return inner && new Uint8Array(new Uint32Array([inner.id]).buffer); }
      const v = m.lookup(key);
      return perCpu && v !== undefined && !Array.isArray(v) ? [v] : v;
    };
    // One element as bpftool prints it (dump and lookup alike): text lines, or a JSON object.
    const jsonBytes = (b: Uint8Array): string[] => [...b].map((x) => `0x${x.toString(16).padStart(2, '0')}`);
    // A map created with BTF key and value types: bpftool's btf_dumper formats each element,
    // after its bytes with -j ("formatted"), alone as a pretty JSON object without (do_dump_btf).
    const kv = m.btf && m.btf.key && m.btf.value ? { btf: m.btf.types, key: m.btf.key, value: m.btf.value } : undefined;
    const formatted = kv && ((key: Uint8Array, value: Uint8Array | Uint8Array[], plain: boolean): object => (Array.isArray(value)
      ? { key: btfDump(kv.btf, kv.key, key, plain), values: value.map((v, cpu) => ({ cpu, value: btfDump(kv.btf, kv.value, v, plain) })) }
      : { key: btfDump(kv.btf, kv.key, key, plain), value: btfDump(kv.btf, kv.value, value, plain) }));
    const elemJson = (key: Uint8Array, value: Uint8Array | Uint8Array[]): object => ({
      ...(Array.isArray(value)
        ? { key: jsonBytes(key), values: value.map((v, cpu) => ({ cpu, value: jsonBytes(v) })) }
        : { key: jsonBytes(key), value: jsonBytes(value) }),
      ...(formatted ? { formatted: formatted(key, value, false) } : {}),
    });
    const elemText = (key: Uint8Array, value: Uint8Array | Uint8Array[]): string[] => (Array.isArray(value)
      ? [`key:\n${hexBytes(key)}`, ...value.map((v, cpu) => `value (CPU ${String(cpu).padStart(2, '0')}): ${hexBytes(v)}`)]
      : [`key: ${hexBytes(key)}  value: ${hexBytes(value)}`]);
    // (bpftool exits with the negative errno's low byte: 239 for EEXIST, 254 for ENOENT, 244 for ENOTSUPP)
    const exitOf = (e: NetError): number => (256 - e.code) & 0xff;
    const keyless = m.type === 'queue' || m.type === 'stack' || m.type === 'bloom_filter';
    if (verb === 'dump') {
      // A key whose lookup fails (a sockmap's empty slot, a cgroup array's any) is listed with
      // the error, as bpftool's dump_map_elem does, and not counted.
      const all = m.keys().map((k) => {
        try {
          const value = lookup(k);
          return value === undefined ? { key: k, error: strerror('ENOENT') } : { key: k, value };
        } catch (e) {
          if (e instanceof NetError) return { key: k, error: e.message };
          throw e;
        }
      });
      // (print_entry_error: a map of maps' or a prog array's ENOENT is no entry, not an error)
      const noEntry = strerror('ENOENT');
      const shown = all.filter((r) => !(r.value === undefined && r.error === noEntry && (ofMaps || m.type === 'prog_array')));
      const rows = shown.filter((r): r is { key: Uint8Array; value: Uint8Array | Uint8Array[] } => r.value !== undefined);
      if (json) print(shown.map((r) => (r.value !== undefined ? elemJson(r.key, r.value) : { key: jsonBytes(r.key), value: { error: r.error } })));
      // (its own pretty writer, whatever -p says; no "Found N elements" after it)
      else if (formatted) ctx.out.push(jsonWrite(rows.map((r) => formatted(r.key, r.value, true)), true));
      else {
        for (const r of shown) ctx.out.push(...(r.value !== undefined ? elemText(r.key, r.value) : entryError(r.key, r.error === strerror('ENOENT') ? '<no entry>' : r.error!)));
        ctx.out.push(`Found ${rows.length} element${rows.length === 1 ? '' : 's'}`);
      }
      // A queue, stack or bloom filter has no keys to walk: BPF_MAP_GET_NEXT_KEY fails (EINVAL, EOPNOTSUPP).
      if (keyless) throw new CliError('', m.type === 'bloom_filter' ? 256 - 95 : 256 - 22);
      return;
    }
    // bpftool map push|enqueue MAP value BYTES, peek MAP, pop|dequeue MAP: the no-key verbs
    if (verb === 'push' || verb === 'enqueue') {
      if (rest[next] !== 'value') throw new CliError('Error: did not find value', 255);
      const [value] = parseBytes(rest, next + 1, m.valueSize, 'value');
      try { m.update(new Uint8Array(0), value, 0); } catch (e) { if (e instanceof NetError) throw new CliError(`Error: update failed: ${e.message}`, exitOf(e)); throw e; }
      return;
    }
    if (verb === 'peek' || verb === 'pop' || verb === 'dequeue') {
      let v: Uint8Array | undefined;
      try {
        v = (verb === 'peek' ? m.lookup(new Uint8Array(0), new Uint8Array(m.valueSize)) : m.lookupAndDelete(new Uint8Array(0))) as Uint8Array | undefined;
      } catch (e) {
        if (e instanceof NetError) throw new CliError(`Error: ${verb === 'peek' ? 'lookup' : 'pop'} failed: ${e.message}`, exitOf(e));
        throw e;
      }
      if (v === undefined) {
        // (bpftool prints "empty map" on stdout, not as an error)
        if (verb !== 'peek') ctx.out.push('Error: empty map');
        else if (json) print(null);
        else ctx.out.push('key:', '', '', 'Not found');
        throw new CliError('', 254);
      }
      if (json) return print({ key: [], value: jsonBytes(v) });
      ctx.out.push(`value: ${hexBytes(v)}`);
      return;
    }
    if (keyless && rest[next] === 'key') throw new CliError('Error: unnecessary key', 255);
    if (rest[next] !== 'key') throw new CliError('Error: did not find key', 255);
    const [key, after] = parseBytes(rest, next + 1, m.keySize, 'key');
    if (verb === 'lookup') {
      let v: Uint8Array | Uint8Array[] | undefined;
      try { v = lookup(key); } catch (e) { if (e instanceof NetError) throw new CliError(`Error: lookup failed: ${e.message}`, exitOf(e)); throw e; }
      if (v === undefined) {
        // bpftool: the key and "Not found" (JSON: null), exit -ENOENT
        if (json) print(null);
        else ctx.out.push('key:', hexBytes(key), '', 'Not found');
        throw new CliError('', 254);
      }
      if (json) return print(elemJson(key, v));
      if (formatted) ctx.out.push(jsonWrite(formatted(key, v, true), true));
      else ctx.out.push(...elemText(key, v));
      return;
    }
    if (verb === 'update') {
      if (rest[after] !== 'value') throw new CliError('Error: did not find value', 255);
      // nkemu's own: `value cgroup PATH` puts a cgroup in a cgroup array (bpftool reads its
      // value as bytes, an fd number in its own process; nkemu has no fds to name).
      const cgroup = m.type === 'cgroup_array' && rest[after + 1] === 'cgroup' ? cgroupPath(rest[after + 2]) : undefined;
      const [value, end] = cgroup !== undefined ? [new Uint8Array(0), after + 3] : parseBytes(rest, after + 1, m.valueSize, 'value');
      const flag = rest[end] === 'noexist' ? 1 : rest[end] === 'exist' ? 2 : 0;
      // (bpftool exits with the negative errno's low byte: 239 for EEXIST, 254 for ENOENT)
      try {
        if (cgroup !== undefined) m.setCgroup(new DataView(key.buffer).getUint32(0, true), cgroup, flag);
        else m.update(key, value, flag);
      } catch (e) { if (e instanceof NetError) throw new CliError(`Error: update failed: ${e.message}`, 256 - e.code); throw e; }
      return;
    }
    if (verb === 'delete') {
      try { m.delete(key); } catch (e) { if (e instanceof NetError) throw new CliError(`Error: delete failed: ${e.message}`, 256 - e.code); throw e; }
      return;
    }
    throw new CliError(`Error: nkemu's bpftool does not implement '${obj} ${verb}'`, 255);
  }
  if (obj === 'net' && (verb === 'attach' || verb === 'detach')) {
    // (do_attach and do_detach return -EINVAL for a wrong word: bpftool exits 234; a refusal
    // of the kernel's exits with its own errno's low byte)
    try {
      netAttach(ctx, verb, rest);
    } catch (e) {
      if (e instanceof CliError && !(e instanceof Refused)) throw new CliError(e.message, 234);
      throw e;
    }
    return;
  }
  if (obj === 'net') {
    if (verb === 'show' || verb === 'list' || verb === undefined) {
      // (bpftool net show [dev DEV]: every device of the namespace, or the one named)
      let only: NetDevice | undefined;
      // (anything but no words or `dev NAME`, `dev` as a prefix, is the usage text)
      if (rest.length !== 0 && (rest.length !== 2 || !'dev'.startsWith(rest[0]!) || !rest[0])) return usage(ctx, json, 'net', false, args[0]);
      if (rest.length) {
        only = emu.netns(ctx.ns).find(rest[1]!);
        if (!only) throw new CliError(`Error: invalid devname ${rest[1]}`, 255);
      }
      const devs = emu.links(ctx.ns).filter((d) => !only || d === only);
      // XDP as its netlink dump shows it (IFLA_XDP): nkemu's XDP is native, "driver" mode.
      const xdp = devs.filter((d) => d.nic?.xdp).map((d) => ({ devname: d.name, ifindex: d.ifindex, mode: 'driver', id: d.nic!.xdp!.id }));
      const tc: Record<string, unknown>[] = [];
      for (const d of devs) {
        if (!d.netkit?.primary || d.netkit.pairing === 1) continue;
        for (const type of ['netkit_primary', 'netkit_peer'] as const) {
          let q;
          try { q = emu.progQuery(ctx.ns, { ifindex: d.ifindex, attachType: type }); } catch { continue; }
          q.progIds.forEach((id, k) => {
            const p = emu.bpf.prog(id);
            tc.push({ devname: d.name, ifindex: d.ifindex, kind: type.replace('_', '/'), name: p?.name ?? '', prog_id: id, ...(q.linkIds[k] ? { link_id: q.linkIds[k] } : {}) });
          });
        }
      }
      // (bpftool 7.1's sections: netfilter came with 7.3; flow_dissector is the namespace's, none here)
      if (json) return print([{ xdp, tc, flow_dissector: [] }]);
      ctx.out.push('xdp:');
      for (const e of xdp) ctx.out.push(`${e.devname}(${e.ifindex}) ${e.mode} id ${e.id}`);
      ctx.out.push('', 'tc:');
      for (const e of tc) ctx.out.push(`${e.devname}(${e.ifindex}) ${e.kind} ${e.name} prog_id ${e.prog_id}${e.link_id ? ` link_id ${e.link_id}` : ''} `);
      ctx.out.push('', 'flow_dissector:', '');
      return;
    }
    throw new CliError(`Error: nkemu's bpftool does not implement '${obj} ${verb}'`, 255);
  }
  if (obj === 'link' && (verb === 'show' || verb === 'list' || verb === undefined)) {
    const links = [...emu.bpf.links.values()];
    if (json) return print(links.map((l) => ({ id: l.id, type: l.type, prog_id: l.prog.id, ifindex: l.ifindex, attach_type: l.attachType })));
    for (const l of links) ctx.out.push(`${l.id}: ${l.type}  prog ${l.prog.id}`, `\tifindex ${l.ifindex}  attach_type ${l.attachType}`);
    return;
  }
  throw new CliError(`Error: nkemu's bpftool does not implement '${obj} ${verb}'`, 255);
}

const XDP_MODES = ['xdp', 'xdpgeneric', 'xdpdrv', 'xdpoffload'];

/** The kernel's refusal of an attach or detach: bpftool exits with its errno, not -EINVAL's. */
class Refused extends CliError {}

/**
 * `net attach TYPE PROG dev DEV [overwrite]` / `net detach TYPE dev DEV`: XDP as bpftool 7.1
 * sets it (IFLA_XDP, XDP_FLAGS_UPDATE_IF_NOEXIST unless `overwrite`), and nkemu's netkit
 * extension. nkemu's XDP is native only: `xdp` and `xdpdrv` attach it; `xdpgeneric` and
 * `xdpoffload` are refused (EOPNOTSUPP, EINVAL as a device without offload does).
 */
function netAttach(ctx: Ctx, verb: 'attach' | 'detach', rest: string[]): void {
  const { emu } = ctx;
  const need = verb === 'attach' ? 5 : 3;
  if (rest.length < need) throw new CliError(`Error: '${verb}' needs at least ${need} arguments, ${rest.length} found`, 255);
  if (XDP_MODES.includes(rest[0]!)) {
    const mode = rest[0]!;
    const { prog, dev, next } = attachArgs(emu, ctx.ns, verb, rest);
    let overwrite = false;
    if (verb === 'attach' && rest[next] !== undefined) {
      if (rest[next] !== 'overwrite') throw new CliError(`Error: expected 'overwrite', got: '${rest[next]}'?`, 255);
      overwrite = true;
    }
    const failed = (errno: Errno, extack?: string): never => {
      const code = (256 - errnoNumber(errno)) & 0xff;
      throw new Refused(`${extack ? `libbpf: Kernel error message: ${extack}\n` : ''}Error: interface ${mode} ${verb} failed: ${strerror(errno)}`, code);
    };
    // (no generic program can be there to detach: nothing to do, as for an empty slot)
    if (mode === 'xdpgeneric') { if (verb === 'detach') return; failed('EOPNOTSUPP'); }
    if (mode === 'xdpoffload') failed('EINVAL');
    // (dev_xdp_attach: a program already there and no overwrite)
    if (verb === 'attach' && !overwrite && dev.nic?.xdp) failed('EBUSY', 'XDP program already attached');
    try {
      emu.setXdp(ctx.ns, dev.ifindex, prog);
    } catch (e) {
      if (e instanceof NetError) failed(e.errno, e.extack);
      throw e;
    }
    return;
  }
  const type = ATTACH[rest[0] ?? ''];
  if (!type) throw new CliError(`Error: invalid net attach/detach type: ${rest[0] ?? ''}`, 255);
  const args = attachArgs(emu, ctx.ns, verb, rest);
  const dev = args.dev;
  let prog = args.prog;
  const i = args.next;
  let flags = 0;
  let relative: BpfProgram | undefined;
  let replace: BpfProgram | undefined;
  if (rest[i] === 'before' || rest[i] === 'after' || rest[i] === 'replace') {
    const how = rest[i]!;
    const [p] = progRef(emu, rest, i + 1);
    if (how === 'replace') { flags |= BPF_F_REPLACE; replace = p; } else { flags |= how === 'before' ? BPF_F_BEFORE : BPF_F_AFTER; relative = p; }
  } else if (verb === 'detach' && rest[i] !== undefined) {
    [prog] = progRef(emu, rest, i);
  }
  try {
    if (verb === 'attach') emu.progAttach(ctx.ns, { ifindex: dev.ifindex, attachType: type, prog: prog!, flags, relative, replace });
    else emu.progDetach(ctx.ns, { ifindex: dev.ifindex, attachType: type, prog, flags, relative });
  } catch (e) {
    if (e instanceof NetError) throw new Refused(`Error: ${verb === 'attach' ? 'interface attach' : 'interface detach'} failed: ${strerror(e.errno)}`, (256 - e.code) & 0xff);
    throw e;
  }
}

/** The map pinned at `path` on the emulated bpffs, if any (for tools that take `--map PATH`). */
export function pinnedMap(emu: Emulator, path: string): BpfMap | undefined {
  const e = bpffs(emu).get(path);
  return e?.kind === 'map' ? e.map : undefined;
}
