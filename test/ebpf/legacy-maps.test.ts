/**
 * iproute2's legacy `maps` section (struct bpf_elf_map: pinning, map-in-map by id), loaded
 * by nkemu's `ip link set DEV xdp obj F.o` against the kernel loading the same objects with
 * iproute2's legacy ELF loader (test/fixtures/loader-maps/). Each scenario loads objects on
 * devices and runs their programs (the verdicts show the maps' state), dumps and shows
 * pinned maps, and has some objects refused; nkemu's results must be the kernel's.
 *
 * The kernel's results are recorded in test/fixtures/loader-maps/kernel.json, so the nkemu
 * side runs anywhere. The live part redoes them on this machine's kernel (root, bpftool,
 * and an iproute2 built without libbpf: Debian's `ip` uses libbpf 1.x, which refuses any
 * `maps` section; scripts/build-iproute2-legacy.sh makes one) and
 * compares them with nkemu's directly; NKEMU_RECORD=1 rewrites the record.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha1 } from '@noble/hashes/legacy.js';
import { afterAll, describe, expect, it } from 'vitest';
import { runCommand } from '../../src/cli/main.js';
import { Emulator } from '../../src/emulator.js';
import { LoadError } from '../../src/ebpf/load-error.js';

const DIR = new URL('../fixtures/loader-maps/', import.meta.url).pathname;
const RECORD = join(DIR, 'kernel.json');
const GLOBALS = '/sys/fs/bpf/tc/globals';
const hex = (b: Uint8Array | number[]): string => Buffer.from(b).toString('hex');

/** A field of one map's struct bpf_elf_map in an object's `maps` section, set to a value. */
interface Patch { map: string; field: 'id' | 'pinning' | 'inner_id' | 'inner_idx'; value: number }
const FIELD = { id: 5, pinning: 6, inner_id: 7, inner_idx: 8 } as const;

type Step =
  /**
   * `ip link set DEV xdpgeneric obj OBJ.o sec xdp` (nkemu: `xdp`), the object maybe patched;
   * on the kernel side iproute2 built without libbpf, or (`libbpf`) Debian's, with libbpf.
   */
  | { load: string; dev: string; patch?: Patch[]; libbpf?: boolean }
  /** BPF_PROG_TEST_RUN of DEV's XDP program on a 60-byte packet starting with these bytes. */
  | { run: string; packet: number[] }
  /** `bpftool -j map dump pinned PATH` (maps of maps: the keys only, inner map ids differ). */
  | { dump: string; keysOnly?: boolean }
  /** `bpftool -j map show pinned PATH` (id and memlock left out). */
  | { show: string };

type Result =
  | { code: number; stderr?: string }
  | { retval: number }
  | { entries: { key: string; value?: string }[] }
  | { map: Record<string, unknown> };

const SCENARIOS: Record<string, Step[]> = {
  // PIN_GLOBAL_NS: pinned at tc/globals; a second load of the object takes the pinned map.
  pin_global: [
    { load: 'pin_global', dev: 'x1' },
    { run: 'x1', packet: [0] }, { run: 'x1', packet: [0] }, { run: 'x1', packet: [5] }, { run: 'x1', packet: [3] },
    { dump: `${GLOBALS}/nklm_global` }, { show: `${GLOBALS}/nklm_global` },
    { load: 'pin_global', dev: 'x2' },
    { run: 'x2', packet: [0] }, { run: 'x1', packet: [4] },
    { dump: `${GLOBALS}/nklm_global` },
  ],
  // Two objects share a pinned map; a third declaring it otherwise is refused.
  shared: [
    { load: 'share_writer', dev: 'x1' }, { load: 'share_reader', dev: 'x2' },
    { run: 'x1', packet: [3, 42] }, { run: 'x2', packet: [3] }, { run: 'x2', packet: [4] }, { run: 'x1', packet: [12, 7] }, { run: 'x2', packet: [4] },
    { load: 'share_mismatch', dev: 'x3' },
    { dump: `${GLOBALS}/nklm_shared` }, { show: `${GLOBALS}/nklm_shared` },
  ],
  // ARRAY_OF_MAPS: the template (id 1) at slot 0, the other id-1 map at its inner_idx 2.
  array_of_maps: [
    { load: 'array_of_maps', dev: 'x1' },
    { run: 'x1', packet: [0] }, { run: 'x1', packet: [0] }, { run: 'x1', packet: [1] }, { run: 'x1', packet: [2] }, { run: 'x1', packet: [3] }, { run: 'x1', packet: [6] },
    { dump: `${GLOBALS}/nklm_in0` }, { dump: `${GLOBALS}/nklm_outer`, keysOnly: true }, { show: `${GLOBALS}/nklm_outer` },
  ],
  // HASH_OF_MAPS: the template (inner_idx -1) nowhere, the other id-7 map under key 5.
  hash_of_maps: [
    { load: 'hash_of_maps', dev: 'x1' },
    { run: 'x1', packet: [5, 9] }, { run: 'x1', packet: [5, 9] }, { run: 'x1', packet: [5, 1] }, { run: 'x1', packet: [0, 9] }, { run: 'x1', packet: [7, 0] },
    { dump: `${GLOBALS}/nklm_houter`, keysOnly: true }, { show: `${GLOBALS}/nklm_houter` },
  ],
  // libbpf's pinning of `.maps` maps by name, through iproute2 built with libbpf: at its
  // tc/globals, taken by a second load, refused for another definition.
  btf_pin: [
    { load: 'btf_pin', dev: 'x1', libbpf: true }, { load: 'btf_pin', dev: 'x2', libbpf: true },
    { run: 'x1', packet: [1] }, { run: 'x2', packet: [1] }, { run: 'x2', packet: [2] },
    { load: 'btf_pin_mismatch', dev: 'x3', libbpf: true },
    { dump: `${GLOBALS}/nklm_btfpin` }, { show: `${GLOBALS}/nklm_btfpin` },
  ],
  // Map-in-map definitions iproute2 refuses.
  map_in_map_refused: [
    { load: 'array_of_maps', dev: 'x1', patch: [{ map: 'nklm_outer', field: 'inner_id', value: 0 }] },
    { load: 'array_of_maps', dev: 'x2', patch: [{ map: 'nklm_outer', field: 'inner_id', value: 9 }] },
    { load: 'array_of_maps', dev: 'x3', patch: [{ map: 'nklm_in2', field: 'inner_idx', value: 9 }] },
    { load: 'hash_of_maps', dev: 'x4', patch: [{ map: 'nklm_hin', field: 'id', value: 0 }, { map: 'nklm_htmpl', field: 'inner_idx', value: 2 }] },
    { run: 'x4', packet: [2, 1] }, { run: 'x4', packet: [5, 1] },
  ],
};

/** Pins the scenarios make (removed before and after each on the kernel side). */
const PINS = ['nklm_global', 'nklm_shared', 'nklm_in0', 'nklm_outer', 'nklm_houter', 'nklm_btfpin'].map((n) => `${GLOBALS}/${n}`);

/** The object's bytes with the patches applied to its `maps` section (by symbol). */
function objectBytes(name: string, patches: Patch[] = []): Uint8Array {
  const b = new Uint8Array(readFileSync(join(DIR, `${name}.o`)));
  if (patches.length === 0) return b;
  const dv = new DataView(b.buffer);
  const shoff = Number(dv.getBigUint64(0x28, true)), shentsize = dv.getUint16(0x3a, true), shnum = dv.getUint16(0x3c, true);
  const sec = (i: number) => ({ name: dv.getUint32(shoff + i * shentsize, true), type: dv.getUint32(shoff + i * shentsize + 4, true), offset: Number(dv.getBigUint64(shoff + i * shentsize + 24, true)), size: Number(dv.getBigUint64(shoff + i * shentsize + 32, true)), link: dv.getUint32(shoff + i * shentsize + 40, true) });
  const shstr = sec(dv.getUint16(0x3e, true));
  const cstr = (at: number): string => Buffer.from(b.subarray(at, b.indexOf(0, at))).toString();
  const secs = Array.from({ length: shnum }, (_, i) => ({ i, ...sec(i) }));
  const maps = secs.find((s) => cstr(shstr.offset + s.name) === 'maps')!;
  const symtab = secs.find((s) => s.type === 2)!;
  const strtab = secs[symtab.link]!;
  for (const p of patches) {
    let found = false;
    for (let at = symtab.offset; at < symtab.offset + symtab.size; at += 24) {
      if (dv.getUint16(at + 6, true) !== maps.i || cstr(strtab.offset + dv.getUint32(at, true)) !== p.map) continue;
      dv.setUint32(maps.offset + Number(dv.getBigUint64(at + 8, true)) + FIELD[p.field] * 4, p.value >>> 0, true);
      found = true;
    }
    if (!found) throw new Error(`${name}.o has no map ${p.map}`);
  }
  return b;
}

/** Error text with the objects' directories left out (libbpf names the object by its path). */
const relative = (text: string, tmp: string): string => text.replaceAll(DIR, '').replaceAll(`${tmp}/`, '');

/** The object to load: the fixture itself, or a patched copy in `tmp`. */
function objectFile(tmp: string, s: { load: string; patch?: Patch[] }): string {
  if (!s.patch) return join(DIR, `${s.load}.o`);
  const file = join(tmp, `${s.load}.o`);
  writeFileSync(file, objectBytes(s.load, s.patch));
  return file;
}

const packetOf = (bytes: number[]): Uint8Array => { const p = new Uint8Array(60); p.set(bytes); return p; };

interface Dumped { key: string[]; value?: string[] | number }

function entries(rows: Dumped[], keysOnly: boolean): { key: string; value?: string }[] {
  const h = (x: string[]): string => x.map((v) => v.replace(/^0x/, '').padStart(2, '0')).join('');
  return rows.map((r) => (keysOnly ? { key: h(r.key) } : { key: h(r.key), value: Array.isArray(r.value) ? h(r.value) : String(r.value) }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

/** A map's `show` without what differs from system to system (ids, memlock). */
function shown(m: Record<string, unknown>): Record<string, unknown> {
  const { id: _id, bytes_memlock: _memlock, btf_id: btfId, ...rest } = m;
  return btfId === undefined ? rest : { ...rest, btf: true };
}

/** The scenario on nkemu: its `ip` and `bpftool`, a NIC a device. */
async function nkemuScenario(steps: Step[]): Promise<Result[]> {
  const emu = await Emulator.create({});
  const tmp = mkdtempSync(join(tmpdir(), 'nkemu-legacy-'));
  try {
    for (const dev of new Set(steps.flatMap((s) => ('load' in s ? [s.dev] : [])))) emu.addNic({ name: dev });
    const out: Result[] = [];
    for (const s of steps) {
      if ('load' in s) {
        const file = objectFile(tmp, s);
        const r = await runCommand(emu, ['ip', 'link', 'set', 'dev', s.dev, 'xdp', 'obj', file, 'sec', 'xdp']);
        out.push(r.code === 0 ? { code: 0 } : { code: r.code, stderr: relative(r.stderr.trim(), tmp) });
      } else if ('run' in s) {
        const link = JSON.parse((await runCommand(emu, ['ip', '-j', 'link', 'show', 'dev', s.run])).stdout) as { xdp?: { prog: { id: number } } }[];
        const prog = emu.bpf.prog(link[0]!.xdp!.prog.id)!;
        out.push({ retval: emu.testRun(prog, { data: packetOf(s.packet) }).retval >>> 0 });
      } else if ('dump' in s) {
        const r = await runCommand(emu, ['bpftool', '-j', 'map', 'dump', 'pinned', s.dump]);
        out.push(r.code === 0 ? { entries: entries(JSON.parse(r.stdout) as Dumped[], !!s.keysOnly) } : { code: r.code, stderr: r.stdout.trim() || r.stderr.trim() });
      } else {
        const r = await runCommand(emu, ['bpftool', '-j', 'map', 'show', 'pinned', s.show]);
        out.push(r.code === 0 ? { map: shown(JSON.parse(r.stdout) as Record<string, unknown>) } : { code: r.code, stderr: r.stdout.trim() || r.stderr.trim() });
      }
    }
    return out;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    await emu.close();
  }
}

// --- the kernel side ---------------------------------------------------------------------

const LEGACY_IP = `${process.env.NKEMU_IPROUTE2_LEGACY ?? '/var/tmp/nkemu-iproute2-legacy'}/ip`;

const run = (cmd: string, args: string[]): string => execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

function liveUnavailable(): string | undefined {
  if (process.platform !== 'linux' || process.getuid?.() !== 0) return 'not root on Linux';
  try {
    run('bpftool', ['version']);
    run('ip', ['-V']);
    run('nsenter', ['--version']);
  } catch {
    return 'bpftool, ip or nsenter missing';
  }
  if (!existsSync(LEGACY_IP)) return `no iproute2 built without libbpf at ${LEGACY_IP} (scripts/build-iproute2-legacy.sh; or set NKEMU_IPROUTE2_LEGACY to its directory)`;
  if (/libbpf/.test(run(LEGACY_IP, ['-V']))) return `${LEGACY_IP} is built with libbpf`;
  if (!/libbpf 1\./.test(run('ip', ['-V']))) return 'the ip on PATH is not built with libbpf 1.x';
  return undefined;
}

function cleanPins(): void {
  for (const p of PINS) rmSync(p, { force: true });
}

/** The scenario on this machine's kernel: a throwaway namespace, a veth a device, pins under /sys/fs/bpf/tc. */
function kernelScenario(steps: Step[]): Result[] {
  const ns = `nklm-${process.pid}`;
  const tmp = mkdtempSync(join(tmpdir(), 'nkemu-legacy-k-'));
  cleanPins();
  run('ip', ['netns', 'add', ns]);
  try {
    const devs = [...new Set(steps.flatMap((s) => ('load' in s ? [s.dev] : [])))];
    devs.forEach((d, i) => run('ip', ['-n', ns, 'link', 'add', d, 'type', 'veth', 'peer', 'name', `p${i}`]));
    const out: Result[] = [];
    for (const s of steps) {
      if ('load' in s) {
        const file = objectFile(tmp, s);
        // (nsenter, not `ip -n`: ip -n remounts /sys in a mount namespace of its own, so
        // its pins would go to a bpffs nobody else sees)
        try {
          run('nsenter', [`--net=/var/run/netns/${ns}`, s.libbpf ? 'ip' : LEGACY_IP, 'link', 'set', 'dev', s.dev, 'xdpgeneric', 'obj', file, 'sec', 'xdp']);
          out.push({ code: 0 });
        } catch (e) {
          const err = e as { status: number; stderr: string };
          out.push({ code: err.status, stderr: relative(err.stderr.trim(), tmp) });
        }
      } else if ('run' in s) {
        const link = JSON.parse(run('ip', ['-n', ns, '-j', 'link', 'show', 'dev', s.run])) as { xdp?: { prog: { id: number } } }[];
        writeFileSync(join(tmp, 'in'), packetOf(s.packet));
        const r = JSON.parse(run('bpftool', ['-j', 'prog', 'run', 'id', String(link[0]!.xdp!.prog.id), 'data_in', join(tmp, 'in'), 'data_out', join(tmp, 'out'), 'repeat', '1'])) as { retval: number };
        out.push({ retval: r.retval >>> 0 });
      } else {
        const args = 'dump' in s ? ['-j', 'map', 'dump', 'pinned', s.dump] : ['-j', 'map', 'show', 'pinned', s.show];
        let text: string;
        try {
          text = run('bpftool', args);
        } catch (e) {
          const err = e as { status: number; stdout: string; stderr: string };
          out.push({ code: err.status, stderr: err.stdout.trim() || err.stderr.trim() });
          continue;
        }
        out.push('dump' in s ? { entries: entries(JSON.parse(text) as Dumped[], !!s.keysOnly) } : { map: shown(JSON.parse(text) as Record<string, unknown>) });
      }
    }
    return out;
  } finally {
    run('ip', ['netns', 'del', ns]);
    cleanPins();
    rmSync(tmp, { recursive: true, force: true });
  }
}

/** PIN_OBJECT_NS on the kernel: a load of pin_object.o, what iproute2 says. */
function kernelPinObject(): Result {
  return kernelScenario([{ load: 'pin_object', dev: 'x1' }])[0]!;
}

/** bpftool's libbpf pinning btf_pin.o's map by name, and refusing pinning 2. */
function kernelBpftool(): Recorded['bpftool'] {
  const progs = '/sys/fs/bpf/nklm_progs', pin = '/sys/fs/bpf/nklm_btfpin', undo = '/sys/fs/bpf/nklm_undo';
  const clean = (): void => { for (const p of [progs, pin, undo]) rmSync(p, { recursive: true, force: true }); };
  clean();
  try {
    run('bpftool', ['prog', 'loadall', join(DIR, 'btf_pin.o'), progs]);
    const pinned = existsSync(pin);
    rmSync(progs, { recursive: true, force: true });
    let invalid = '';
    try {
      run('bpftool', ['prog', 'loadall', join(DIR, 'btf_pin_invalid.o'), progs]);
    } catch (e) {
      invalid = (e as { stderr: string }).stderr.split('\n').filter((l) => l.startsWith('libbpf: ') || l.startsWith('Error: ')).join('\n');
    }
    try { run('bpftool', ['prog', 'loadall', join(DIR, 'btf_pin_refused.o'), progs]); } catch { /* (refused: the point) */ }
    return { pinned, invalid, refusedLeavesPin: existsSync(undo) };
  } finally {
    clean();
  }
}

interface Recorded {
  kernel: string;
  iproute2: string;
  /** What Debian's iproute2 (built with libbpf 1.x) says to a legacy `maps` section. */
  libbpfIp: { version: string; stderr: string };
  /** iproute2's PIN_OBJECT_NS load on the recording kernel. */
  pinObject: Result;
  /**
   * bpftool (libbpf) loading btf_pin.o: whether it pinned /sys/fs/bpf/nklm_btfpin; what it
   * says to btf_pin_invalid.o; whether btf_pin_refused.o, refused, left its map pinned.
   */
  bpftool: { pinned: boolean; invalid: string; refusedLeavesPin: boolean };
  scenarios: Record<string, Result[]>;
}

// (missing only while a first recording is made)
const recorded = (existsSync(RECORD) ? JSON.parse(readFileSync(RECORD, 'utf8')) : { scenarios: {} }) as Recorded;

describe(`legacy maps sections, nkemu against the kernel's recording (${recorded.kernel}, ${recorded.iproute2})`, () => {
  it.each(Object.keys(SCENARIOS))('%s', async (name) => {
    expect(await nkemuScenario(SCENARIOS[name]!)).toEqual(recorded.scenarios[name]);
  });

  it('the record holds every scenario', () => {
    expect(Object.keys(recorded.scenarios).sort()).toEqual(Object.keys(SCENARIOS).sort());
  });
});

describe('legacy maps sections: what the kernel could not check here', () => {
  let emu: Emulator;
  afterAll(async () => { await emu?.close(); });

  it('PIN_OBJECT_NS pins under /sys/fs/bpf/tc/<SHA-1 of the object>/ and a second load of the object reuses it (the recording kernel has no AF_ALG, which iproute2 hashes with)', async () => {
    expect(recorded.pinObject).toEqual({ code: 255, stderr: 'Missing kernel AF_ALG support for PIN_OBJECT_NS!\nError loading maps into kernel!\nError fetching ELF ancillary data!' });
    const steps: Step[] = [{ load: 'pin_object', dev: 'x1' }, { run: 'x1', packet: [] }, { run: 'x1', packet: [] }, { load: 'pin_object', dev: 'x2' }, { run: 'x2', packet: [] }];
    const uid = hex(sha1(readFileSync(join(DIR, 'pin_object.o'))));
    const path = `/sys/fs/bpf/tc/${uid}/nklm_objmap`;
    const got = await nkemuScenario([...steps, { dump: path }, { dump: path.replace('/tc/', '/xdp/') }]);
    // (pinned counter × 16 + the unpinned one: the second object has a new unpinned map)
    expect(got).toEqual([{ code: 0 }, { retval: 17 }, { retval: 34 }, { code: 0 }, { retval: 49 },
      { entries: [{ key: '00000000', value: '0300000000000000' }] }, { entries: [{ key: '00000000', value: '0300000000000000' }] }]);
  });

  it('custom pinning ids go under the subpath iproute2\'s bpf_pinning gives them, and are not pinned without one', async () => {
    emu = await Emulator.create({});
    // (pin_global.o with its map's pinning 40 instead of PIN_GLOBAL_NS)
    const custom = objectBytes('pin_global', [{ map: 'nklm_global', field: 'pinning', value: 40 }]);
    const a = emu.loadObject(custom, { pinning: { 40: 'nklm/custom' } });
    expect(emu.bpf.fs.get('/sys/fs/bpf/nklm/custom/nklm_global')).toEqual({ kind: 'map', map: a.maps.get('nklm_global') });
    emu.loadObject(custom);
    expect([...emu.bpf.fs.entries()].map(([p]) => p)).toEqual(['/sys/fs/bpf/nklm/custom/nklm_global']);
  });

  it('bpftool pins a `.maps` map by name under /sys/fs/bpf, as its libbpf does, and refuses pinning 2 with its line', async () => {
    const e = await Emulator.create({});
    try {
      const sh = (line: string[]) => runCommand(e, ['bpftool', ...line]);
      expect((await sh(['prog', 'loadall', join(DIR, 'btf_pin.o'), '/sys/fs/bpf/nklm_progs'])).code).toBe(0);
      expect(recorded.bpftool.pinned).toBe(true);
      const show = await sh(['-j', 'map', 'show', 'pinned', '/sys/fs/bpf/nklm_btfpin']);
      expect(shown(JSON.parse(show.stdout) as Record<string, unknown>)).toEqual((recorded.scenarios.btf_pin!.at(-1) as { map: Record<string, unknown> }).map);
      const bad = await sh(['prog', 'loadall', join(DIR, 'btf_pin_invalid.o'), '/sys/fs/bpf/nklm_progs2']);
      // (libbpf's line, after nkemu's section prefix)
      const [line, error] = recorded.bpftool.invalid.split('\n');
      expect(bad.stderr.trim().split('\n')).toEqual([line!.replace('libbpf: ', "libbpf: section '.maps': "), error]);
      const refused = await sh(['prog', 'loadall', join(DIR, 'btf_pin_refused.o'), '/sys/fs/bpf/nklm_progs3']);
      expect(refused.code).toBe(255);
      expect(e.bpf.fs.has('/sys/fs/bpf/nklm_undo')).toBe(recorded.bpftool.refusedLeavesPin);
    } finally {
      await e.close();
    }
  });

  it('the API refuses with iproute2\'s lines, as a LoadError', async () => {
    emu ??= await Emulator.create({});
    emu.loadObject(objectBytes('share_writer'));
    let err: unknown;
    try { emu.loadObject(objectBytes('share_mismatch')); } catch (e) { err = e; }
    expect(err).toBeInstanceOf(LoadError);
    expect((err as Error).message).toBe((recorded.scenarios.shared![7] as { stderr: string }).stderr);
  });
});

const noLive = liveUnavailable();
describe('legacy maps sections, live: this kernel with iproute2\'s legacy loader against nkemu', () => {
  it.skipIf(noLive !== undefined)(`every scenario agrees${noLive ? ` (skipped: ${noLive})` : ''}`, async () => {
    const kernel: Record<string, Result[]> = {};
    for (const [name, steps] of Object.entries(SCENARIOS)) {
      kernel[name] = kernelScenario(steps);
      expect(await nkemuScenario(steps), name).toEqual(kernel[name]);
    }
    const libbpfIp = (() => {
      const ns = `nklm-d-${process.pid}`;
      run('ip', ['netns', 'add', ns]);
      try {
        run('ip', ['-n', ns, 'link', 'add', 'x1', 'type', 'veth', 'peer', 'name', 'p1']);
        try {
          run('ip', ['-n', ns, 'link', 'set', 'dev', 'x1', 'xdpgeneric', 'obj', join(DIR, 'pin_global.o'), 'sec', 'xdp']);
          return { version: run('ip', ['-V']).trim(), stderr: '' };
        } catch (e) {
          return { version: run('ip', ['-V']).trim(), stderr: (e as { stderr: string }).stderr.trim() };
        }
      } finally {
        run('ip', ['netns', 'del', ns]);
      }
    })();
    if (!process.env.NKEMU_RECORD && /libbpf 1\./.test(libbpfIp.version)) expect(libbpfIp.stderr).toBe(recorded.libbpfIp.stderr);
    const pinObject = kernelPinObject();
    const bpftool = kernelBpftool();
    if (!process.env.NKEMU_RECORD) expect(bpftool).toEqual(recorded.bpftool);
    if (process.env.NKEMU_RECORD) {
      const rec: Recorded = { kernel: run('uname', ['-r']).trim(), iproute2: `${run(LEGACY_IP, ['-V']).trim()} (built without libbpf)`, libbpfIp, pinObject, bpftool, scenarios: kernel };
      writeFileSync(RECORD, `${JSON.stringify(rec, null, 1)}\n`);
    }
  }, 120_000);
});
