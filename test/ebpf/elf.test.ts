import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { LoadError, loadObject, matchSection, type BpfObject } from '../../src/ebpf/elf.js';
import { Pseudo, decode, slots } from '../../src/ebpf/insn.js';

const DIR = new URL('../fixtures/bpf/', import.meta.url).pathname;
const bytesOf = (name: string): Uint8Array => new Uint8Array(readFileSync(DIR + name));
/** Objects whose sections libbpf cannot classify load with the type bpftool's `type` gives them. */
const TYPES: Record<string, string> = { 'old_sections.o': 'xdp' };
const load = (name: string): BpfObject => loadObject(bytesOf(name), { type: TYPES[name.replace(/\.v[12]\.o$/, '.o')] });

/** Minimal independent section-table walk, used to cross-check and to corrupt objects. */
function sections(b: Uint8Array): { name: string; type: number; offset: number; size: number; info: number }[] {
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const shoff = Number(dv.getBigUint64(40, true));
  const n = dv.getUint16(60, true);
  const raw = Array.from({ length: n }, (_, i) => {
    const at = shoff + i * 64;
    return {
      nameOff: dv.getUint32(at, true), type: dv.getUint32(at + 4, true),
      offset: Number(dv.getBigUint64(at + 24, true)), size: Number(dv.getBigUint64(at + 32, true)), info: dv.getUint32(at + 44, true),
    };
  });
  const str = raw[dv.getUint16(62, true)]!;
  return raw.map((s) => {
    let e = str.offset + s.nameOff;
    while (b[e] !== 0) e++;
    return { ...s, name: Buffer.from(b.subarray(str.offset + s.nameOff, e)).toString() };
  });
}

function expectLoadError(bytes: Uint8Array, re: RegExp, section?: string, insn?: number): LoadError {
  try {
    loadObject(bytes);
  } catch (e) {
    expect(e).toBeInstanceOf(LoadError);
    const err = e as LoadError;
    expect(err.message).toMatch(re);
    expect(err.section).toBe(section);
    expect(err.insn).toBe(insn);
    return err;
  }
  throw new Error('loadObject did not throw');
}

/** `llvm-objdump -r` relocation counts of R_BPF_64_64/R_BPF_64_32 per section, or undefined without llvm. */
function objdumpRelocs(name: string): Map<string, { r64: string[]; r32: string[] }> | undefined {
  let out: string;
  try {
    out = execFileSync('llvm-objdump', ['-r', DIR + name], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return undefined;
  }
  const m = new Map<string, { r64: string[]; r32: string[] }>();
  let cur: { r64: string[]; r32: string[] } | undefined;
  for (const line of out.split('\n')) {
    const h = /^RELOCATION RECORDS FOR \[(.*)\]:/.exec(line);
    if (h) { cur = { r64: [], r32: [] }; m.set(h[1]!, cur); continue; }
    const r = /^[0-9a-f]+\s+(R_BPF_64_64|R_BPF_64_32)\s+(\S+)/.exec(line);
    if (r && cur) (r[1] === 'R_BPF_64_64' ? cur.r64 : cur.r32).push(r[2]!);
  }
  return m;
}

describe('fixtures', () => {
  // The -mcpu=v3 objects (NAME.o); NAME.v1.o and NAME.v2.o are the same sources at older ISA levels.
  const fixtures = readdirSync(DIR).filter((f) => /^[a-z0-9_]+\.o$/.test(f)).sort();

  it('every fixture .c has a built .o, and v1/v2 objects that load the same programs', () => {
    const sources = readdirSync(DIR).filter((f) => f.endsWith('.c')).map((f) => f.replace(/\.c$/, '.o')).sort();
    expect(fixtures).toEqual(sources);
    for (const f of fixtures) {
      for (const cpu of ['v1', 'v2']) {
        const older = load(f.replace(/\.o$/, `.${cpu}.o`));
        expect(older.programs.map((p) => p.name), `${f} ${cpu}`).toEqual(load(f).programs.map((p) => p.name));
      }
    }
  });

  it.each(fixtures)('%s loads; GPL; programs are whole slots; map refs cross-check llvm-objdump -r', (name) => {
    const obj = load(name);
    expect(obj.license).toBe('GPL');
    expect(obj.programs.length).toBeGreaterThan(0);
    for (const p of obj.programs) {
      expect(p.insns.length % 8).toBe(0);
      // (the verifier's rule: the last instruction exits or jumps back, check_subprogs)
      expect([0x95, 0x05]).toContain(decode(p.insns, slots(p.insns) - 1).code);
      for (const r of p.relocations) {
        const i = decode(p.insns, r.pc);
        expect(i.code).toBe(0x18);
        expect(i.src).toBe(r.kind === 'map' ? Pseudo.MAP_FD : Pseudo.MAP_VALUE);
        expect(i.imm).toBe(r.map);
        expect(decode(p.insns, r.pc + 1).imm).toBe(r.offset);
        expect(obj.maps[r.map]).toBeDefined();
      }
    }
    const dump = objdumpRelocs(name);
    if (!dump) return;
    // lddw relocations against code are function addresses, not map references.
    const funcNames = new Set(['.text', ...obj.programs.flatMap((p) => p.functions.map((f) => f.name))]);
    const mapRefs = (sec: string): string[] => (dump.get(sec)?.r64 ?? []).filter((t) => !funcNames.has(t));
    for (const sec of new Set(obj.programs.map((p) => p.section))) {
      const inSec = obj.programs.filter((p) => p.section === sec);
      const text = inSec.some((p) => p.functions.length > 1) ? mapRefs('.text').length : 0;
      // The programs of a section share out its lddw relocations (plus their .text copies').
      expect(inSec.reduce((n, p) => n + p.relocations.length, 0)).toBeGreaterThanOrEqual(mapRefs(sec).length);
      if (inSec.length === 1) expect(inSec[0]!.relocations.length).toBe(mapRefs(sec).length + text);
      // Every map-reference target llvm-objdump names is one of our maps or a variable of a global-data map.
      const globals = obj.maps.some((m) => m.kind === 'global');
      for (const target of mapRefs(sec)) {
        expect(obj.maps.some((m) => m.name === target) || globals, `${sec}: ${target}`).toBe(true);
      }
    }
  });
});

describe('program corpus objects (test/fixtures/corpus: -mcpu=v3 only)', () => {
  const CDIR = new URL('../fixtures/corpus/', import.meta.url).pathname;
  const objects = readdirSync(CDIR).filter((f) => /^[a-z0-9_]+\.o$/.test(f)).sort();

  it('every corpus .c has a built .o', () => {
    expect(objects.length).toBeGreaterThan(0);
    expect(objects).toEqual(readdirSync(CDIR).filter((f) => f.endsWith('.c')).map((f) => f.replace(/\.c$/, '.o')).sort());
  });

  it.each(objects)('%s loads; GPL; programs are whole slots; map refs name its maps', (name) => {
    const obj = loadObject(new Uint8Array(readFileSync(CDIR + name)));
    expect(obj.license).toBe('GPL');
    expect(obj.programs.length).toBeGreaterThan(0);
    for (const p of obj.programs) {
      expect(p.insns.length % 8).toBe(0);
      expect(slots(p.insns)).toBeGreaterThan(0);
      for (const r of p.relocations) expect(obj.maps[r.map]).toBeDefined();
    }
  });
});

describe('program sections', () => {
  it('netkit/primary and netkit/peer', () => {
    const obj = load('netkit_drop_port.o');
    expect(obj.programs.map((p) => [p.name, p.section, p.type, p.attachType, p.autoload])).toEqual([
      ['drop_port', 'netkit/primary', 'sched_cls', 'netkit_primary', true],
      ['peer_pass', 'netkit/peer', 'sched_cls', 'netkit_peer', true],
    ]);
    expect(obj.maps).toEqual([]);
    // peer_pass: w0 = 0 (NETKIT_PASS); exit
    expect(Array.from(obj.programs[1]!.insns)).toEqual([0xb4, 0, 0, 0, 0, 0, 0, 0, 0x95, 0, 0, 0, 0, 0, 0, 0]);
  });

  it('tcx/ingress, tcx/egress, tc, classifier, xdp', () => {
    expect(load('globals.o').programs.map((p) => p.attachType)).toEqual(['tcx_ingress', 'tcx_egress']);
    expect(load('tc_counters.o').programs.map((p) => [p.section, p.type, p.attachType])).toEqual([['tc', 'sched_cls', 'none']]);
    expect(load('legacy_maps.o').programs.map((p) => [p.section, p.type])).toEqual([['classifier', 'sched_cls']]);
    expect(load('xdp_xsk.o').programs.map((p) => [p.name, p.type, p.attachType])).toEqual([['xsk_redirect', 'xdp', 'xdp']]);
  });

  it('several programs in one section are split by their symbols', () => {
    const obj = load('tailcall.o');
    expect(obj.programs.map((p) => [p.name, p.section])).toEqual([['stage2', 'tc'], ['stage1', 'tc']]);
    const stage1 = obj.programs[1]!;
    expect(slots(stage1.insns)).toBe(6);
  });

  it('matches section names the way libbpf does', () => {
    expect(matchSection('tc/ingress')).toEqual({ type: 'sched_cls', attachType: 'tcx_ingress' });
    expect(matchSection('tc/egress')).toEqual({ type: 'sched_cls', attachType: 'tcx_egress' });
    expect(matchSection('classifier/anything')).toEqual({ type: 'sched_cls', attachType: 'none' });
    expect(matchSection('?xdp')).toEqual({ type: 'xdp', attachType: 'xdp' });
    expect(matchSection('xdp.frags')).toEqual({ type: 'xdp', attachType: 'xdp' });
    expect(matchSection('xdp/devmap')).toEqual({ type: 'xdp', attachType: 'xdp_devmap' });
    expect(matchSection('xdp.frags/cpumap')).toEqual({ type: 'xdp', attachType: 'xdp_cpumap' });
    expect(matchSection('action')).toEqual({ type: 'sched_act', attachType: 'none' });
    expect(matchSection('tcx')).toBeUndefined();
    expect(matchSection('tcfoo')).toBeUndefined();
    expect(matchSection('netkit/primary2')).toBeUndefined();
  });
});

describe('maps', () => {
  it('BTF .maps: array and hash with flags', () => {
    const obj = load('tc_counters.o');
    const btf = { btfKey: expect.any(Number), btfValue: expect.any(Number) };
    expect(obj.maps).toEqual([
      { name: 'proto_count', type: 2, keySize: 4, valueSize: 8, maxEntries: 256, flags: 0, kind: 'btf', ...btf },
      { name: 'src_bytes', type: 1, keySize: 4, valueSize: 8, maxEntries: 1024, flags: 1, kind: 'btf', ...btf },
    ]);
    // (the __type()s, which bpftool formats a dump by)
    expect(obj.maps.map((m) => [obj.btf!.type(m.btfKey!).name, obj.btf!.type(m.btfValue!).name])).toEqual([['__u32', '__u64'], ['__u32', '__u64']]);
    const p = obj.programs[0]!;
    expect(p.relocations.map((r) => [r.kind, obj.maps[r.map]!.name])).toEqual([
      ['map', 'proto_count'], ['map', 'src_bytes'], ['map', 'src_bytes'],
    ]);
  });

  it('BTF .maps: xskmap and percpu array, in DATASEC order', () => {
    const obj = load('xdp_xsk.o');
    expect(obj.maps.map((m) => [m.name, m.type, m.keySize, m.valueSize, m.maxEntries])).toEqual([
      ['redirected', 6, 4, 8, 1],
      ['xsks', 17, 4, 4, 64],
    ]);
  });

  it('map-in-map inner template and prog_array static slots from .rel.maps', () => {
    const obj = load('tailcall.o');
    const outer = obj.maps.find((m) => m.name === 'outer')!;
    expect(outer).toMatchObject({ type: 12, keySize: 4, valueSize: 4, maxEntries: 2 });
    expect(outer.innerMap).toMatchObject({ type: 2, keySize: 4, valueSize: 4, maxEntries: 8 });
    const jump = obj.maps.find((m) => m.name === 'jump')!;
    expect(jump).toMatchObject({ type: 3, keySize: 4, valueSize: 4, maxEntries: 4, initValues: [{ slot: 2, name: 'stage2' }] });
  });

  it('legacy maps section (struct bpf_map_def)', () => {
    const obj = load('legacy_maps.o');
    expect(obj.maps).toEqual([
      { name: 'pkt_count', type: 2, keySize: 4, valueSize: 8, maxEntries: 4, flags: 0, kind: 'legacy' },
      { name: 'mark_by_ifindex', type: 1, keySize: 4, valueSize: 4, maxEntries: 128, flags: 0, kind: 'legacy' },
    ]);
    expect(obj.programs[0]!.relocations.map((r) => r.map)).toEqual([0, 1]);
  });

  it('.rodata/.data/.bss become one-entry arrays with the section as value', () => {
    const obj = load('globals.o');
    const byName = Object.fromEntries(obj.maps.map((m) => [m.name, m]));
    const u32s = (b: Uint8Array): number[] => Array.from(new Uint32Array(b.slice().buffer));
    expect(byName['.rodata']).toMatchObject({ type: 2, keySize: 4, valueSize: 8, maxEntries: 1, flags: 0x80 | 0x400, kind: 'global' });
    expect(u32s(byName['.rodata']!.initial!)).toEqual([0x2a, 60]); // mark_value, min_len
    expect(byName['.data']).toMatchObject({ valueSize: 8, flags: 0x400 });
    expect(u32s(byName['.data']!.initial!)).toEqual([2, 3]); // verdict_for_short = TC_ACT_SHOT, step
    expect(byName['.bss']).toMatchObject({ valueSize: 16, flags: 0x400 });
    expect(Array.from(byName['.bss']!.initial!)).toEqual(new Array(16).fill(0)); // seen, marked

    // Variable symbols: offset = st_value. Order follows the lddw's in mark_long.
    const at = (r: { map: number; offset: number }): string => `${obj.maps[r.map]!.name}+${r.offset}`;
    expect(obj.programs[0]!.relocations.map((r) => [r.kind, at(r)])).toEqual([
      ['map_value', '.data+4'], // step
      ['map_value', '.bss+0'], // seen
      ['map_value', '.rodata+4'], // min_len
      ['map_value', '.data+0'], // verdict_for_short
      ['map_value', '.rodata+0'], // mark_value
      ['map_value', '.bss+8'], // marked
    ]);
    expect(obj.programs[1]!.relocations.map(at)).toEqual(['.bss+0']);
  });
});

describe('bpf-to-bpf calls', () => {
  const obj = load('subprog.o');
  const text = (() => {
    const b = bytesOf('subprog.o');
    const s = sections(b).find((x) => x.name === '.text')!;
    return b.subarray(s.offset, s.offset + s.size);
  })();

  /** Targets of every bpf-to-bpf call in a linked program. */
  const calls = (insns: Uint8Array): [number, number][] => {
    const out: [number, number][] = [];
    for (let pc = 0; pc < slots(insns); pc++) {
      const i = decode(insns, pc);
      if (i.code === 0x85 && i.src === 1) out.push([pc, pc + 1 + i.imm]);
    }
    return out;
  };

  it('appends reached .text functions once each and fixes call offsets', () => {
    const main = obj.programs.find((p) => p.name === 'cls_main')!;
    // cls_main (9 slots) calls global classify (relocation, imm -1) and static mix (relocation
    // against .text, imm 6); classify calls mix with a plain pc-relative call (no relocation).
    expect(main.functions).toEqual([{ name: 'cls_main', start: 0 }, { name: 'classify', start: 9 }, { name: 'mix', start: 16 }]);
    expect(slots(main.insns)).toBe(9 + 7 + 6);
    expect(calls(main.insns)).toEqual([[1, 9], [5, 16], [13, 16]]);
    // The appended code is the .text code apart from the fixed immediates.
    expect(Array.from(main.insns.subarray(16 * 8))).toEqual(Array.from(text.subarray(7 * 8, 13 * 8)));
  });

  it('each program gets its own copy, with only what it reaches', () => {
    const other = obj.programs.find((p) => p.name === 'cls_other')!;
    expect(other.functions).toEqual([{ name: 'cls_other', start: 0 }, { name: 'mix', start: 7 }]);
    expect(calls(other.insns)).toEqual([[3, 7]]);
  });

  it('resolves a callback address (lddw src_reg 4) and appends the callback', () => {
    const loop = obj.programs.find((p) => p.name === 'loop_sum')!;
    expect(loop.section).toBe('tc');
    expect(loop.functions.map((f) => f.name)).toEqual(['loop_sum', 'add_index']);
    const lddws = [] as [number, number][];
    for (let pc = 0; pc < slots(loop.insns); pc++) {
      const i = decode(loop.insns, pc);
      if (i.code === 0x18 && i.src === Pseudo.FUNC) lddws.push([pc, pc + 1 + i.imm]);
    }
    expect(lddws).toEqual([[6, loop.functions[1]!.start]]);
    expect(loop.relocations).toEqual([]);
    // The callback's code is the last function of .text.
    expect(Array.from(loop.insns.subarray(loop.functions[1]!.start * 8))).toEqual(Array.from(text.subarray(13 * 8)));
  });

  it('leaves programs without calls untouched', () => {
    const b = bytesOf('csum_loop.o');
    const s = sections(b).find((x) => x.name === 'tc')!;
    // Two programs share the section (fix_csum, sum_payload): together they are its bytes.
    const progs = load('csum_loop.o').programs.filter((p) => p.section === 'tc');
    expect(progs.map((p) => p.name)).toEqual(['fix_csum', 'sum_payload']);
    expect(progs.flatMap((p) => Array.from(p.insns))).toEqual(Array.from(b.subarray(s.offset, s.offset + s.size)));
  });
});

describe('CO-RE', () => {
  it('patches field offsets of a local __sk_buff to the uapi layout', () => {
    const p = load('core_access.o').programs[0]!;
    const mem = [] as [string, number][];
    for (let pc = 0; pc < slots(p.insns); pc++) {
      const i = decode(p.insns, pc);
      if (i.code === 0x61) mem.push(['ldx', i.off]);
      if (i.code === 0x63) mem.push(['stx', i.off]);
    }
    // vlan_tci (local 16 → 24), cb[3] (32 → 60), len (0), mark (4 → 8), protocol (12 → 16), priority (8 → 32).
    expect(mem).toEqual([['ldx', 24], ['stx', 60], ['ldx', 0], ['stx', 8], ['ldx', 16], ['stx', 32]]);
    // field_exists(vlan_tci) = 1, field_exists(not_in_uapi) = 0, field_size(priority) = 4.
    const movs = [] as number[];
    for (let pc = 0; pc < slots(p.insns); pc++) {
      const i = decode(p.insns, pc);
      if (i.code === 0xb7) movs.push(i.imm);
    }
    expect(movs).toEqual([1, 0, 4]);
  });

  it('a type the emulator does not model has no target: existence 0, accesses poisoned as libbpf poisons them', () => {
    const b = bytesOf('core_access.o').slice();
    const s = sections(b).find((x) => x.name === '.BTF')!;
    const at = Buffer.from(b.subarray(s.offset, s.offset + s.size)).indexOf('__sk_buff\0');
    b.set(Buffer.from('sk_buff__'), s.offset + at);
    const p = loadObject(b).programs[0]!;
    // field_exists(vlan_tci) and (not_in_uapi) are 0; field_size(priority) and every access poisoned.
    const poisoned = [...p.corePoison!.keys()];
    for (const pc of poisoned) expect(decode(p.insns, pc)).toMatchObject({ code: 0x85, dst: 0, src: 0, off: 0, imm: 0xbad2310 });
    expect(poisoned.length).toBe(7);
    expect([...p.corePoison!.values()]).toContain('<byte_off> [2] struct sk_buff__.vlan_tci (0:4 @ offset 16)');
    expect(decode(p.insns, 1)).toMatchObject({ code: 0xb7, imm: 0 });
  });
});

describe('errors', () => {
  it('corrupted objects only ever raise LoadError (seeded byte flips and truncations)', () => {
    let seed = 12345;
    const rnd = (n: number): number => ((seed = (Math.imul(seed, 1103515245) + 12345) >>> 0) >>> 8) % n;
    for (const name of ['globals.o', 'subprog.o', 'tailcall.o', 'core_access.o', 'legacy_maps.o']) {
      const b = bytesOf(name);
      for (let n = 0; n < 300; n++) {
        const c = b.slice();
        for (let k = 1 + rnd(4); k > 0; k--) c[rnd(c.length)] = rnd(256);
        const input = rnd(5) === 0 ? c.subarray(0, rnd(c.length)) : c;
        try {
          loadObject(input);
        } catch (e) {
          expect(e, `${name} #${n}`).toBeInstanceOf(LoadError);
        }
      }
    }
  });

  it('function symbol outside its section', () => {
    const b = bytesOf('netkit_drop_port.o').slice();
    const symtab = sections(b).find((x) => x.type === 2)!;
    const strtab = sections(b).find((x) => x.name === '.strtab')!;
    const dv = new DataView(b.buffer);
    for (let at = symtab.offset; at < symtab.offset + symtab.size; at += 24) {
      const nameAt = strtab.offset + dv.getUint32(at, true);
      if (Buffer.from(b.subarray(nameAt, nameAt + 10)).toString() === 'peer_pass\0') dv.setBigUint64(at + 16, 4096n, true);
    }
    expectLoadError(b, /function 'peer_pass' \(bytes 0\+4096\) is not a whole run of instructions inside the section/, 'netkit/peer');
  });

  it('truncated ELF', () => {
    const b = bytesOf('netkit_drop_port.o');
    expectLoadError(b.subarray(0, 40), /not an ELF object: 40 bytes, shorter than the 64-byte ELF64 header/);
    expectLoadError(b.subarray(0, 4096), /section header table .* is truncated or missing|extends past the end of the file/);
  });

  it('not ELF, wrong class, wrong machine, not relocatable', () => {
    const b = bytesOf('netkit_drop_port.o');
    const patched = (at: number, v: number): Uint8Array => { const c = b.slice(); c[at] = v; return c; };
    expectLoadError(patched(0, 0), /not an ELF object: bad magic/);
    expectLoadError(patched(4, 1), /ELF class 1 is not supported/);
    expectLoadError(patched(5, 2), /want little-endian/);
    expectLoadError(patched(18, 62), /ELF machine 62 is not BPF \(want EM_BPF = 247\)/);
    expectLoadError(patched(16, 2), /ELF type 2 is not a relocatable object/);
    expect(() => loadObject(patched(18, 0))).not.toThrow(); // EM_NONE accepted, as ubpf does
  });

  it('unknown program section', () => {
    const b = bytesOf('netkit_drop_port.o').slice();
    const str = sections(b)[new DataView(b.buffer).getUint16(62, true)]!;
    const at = Buffer.from(b.subarray(str.offset, str.offset + str.size)).indexOf('netkit/peer\0');
    b.set(Buffer.from('netkit/xxxx'), str.offset + at);
    // libbpf's words (the section is in them)
    expectLoadError(b, /^failed to guess program type from ELF section 'netkit\/xxxx'$/);
  });

  it('a program type set for the object (bpftool\'s `type TYPE`): every section takes it; an unknown one is libbpf\'s error', () => {
    expect(() => loadObject(bytesOf('old_sections.o'))).toThrow(/^failed to guess program type from ELF section 'xdp_sock'$/);
    expect(loadObject(bytesOf('old_sections.o'), { type: 'xdp' }).programs.map((p) => [p.name, p.type])).toEqual([['xdp_sock_prog', 'xdp'], ['patch_ports', 'xdp']]);
    expect(loadObject(bytesOf('netkit_drop_port.o'), { type: 'classifier' }).programs.every((p) => p.type === 'sched_cls' && p.attachType === 'none')).toBe(true);
    expect(() => loadObject(bytesOf('old_sections.o'), { type: 'nonsense' })).toThrow(/^failed to guess program type from ELF section 'nonsense\/'$/);
  });

  /** Finds relocation `k` of `.rel<sec>` in `file`: the copy and the entry's byte position. */
  const relEntry = (file: string, sec: string, k: number): { b: Uint8Array; at: number } => {
    const b = bytesOf(file).slice();
    const s = sections(b).find((x) => x.name === `.rel${sec}`)!;
    return { b, at: s.offset + k * 16 };
  };

  it('unsupported relocation type', () => {
    const { b, at } = relEntry('globals.o', 'tcx/ingress', 1); // seen, at slot 3
    b[at + 8] = 2;
    expectLoadError(b, /relocation type 2 \(R_BPF_64_ABS64\) is not supported in a code section/, 'tcx/ingress', 3);
  });

  it('relocation on an instruction that is neither lddw nor call', () => {
    const { b, at } = relEntry('tc_counters.o', 'tc', 0);
    new DataView(b.buffer).setBigUint64(at, 8n, true); // slot 1
    expectLoadError(b, /relocation on opcode 0x[0-9a-f]+, which is neither lddw nor call/, 'tc', 1);
  });

  it('extern symbol', () => {
    const b = bytesOf('globals.o').slice();
    const symtab = sections(b).find((x) => x.type === 2)!;
    const strtab = sections(b).find((x) => x.name === '.strtab')!;
    const dv = new DataView(b.buffer);
    for (let at = symtab.offset; at < symtab.offset + symtab.size; at += 24) {
      const nameAt = strtab.offset + dv.getUint32(at, true);
      if (Buffer.from(b.subarray(nameAt, nameAt + 5)).toString() === 'step\0') dv.setUint16(at + 6, 0, true);
    }
    expectLoadError(b, /extern symbol 'step' \(ksym or kconfig\) is not supported/, 'tcx/ingress', 0);
  });

  it('unsupported map type', () => {
    const b = bytesOf('legacy_maps.o').slice();
    const s = sections(b).find((x) => x.name === 'maps')!;
    b[s.offset] = 7; // BPF_MAP_TYPE_STACK_TRACE
    expectLoadError(b, /map 'pkt_count': map type 7 is not supported by the emulator/, 'maps');
  });
});
