/**
 * The kernel's limits (issue 17 item 10): up to 64 maps per program (MAX_USED_MAPS), each
 * with values a region the program may address; maps as large as the kernel creates them,
 * elements sized round_up(value_size, 8) (kernel/bpf/arraymap.c), the memory growing
 * toward the wasm32 limit and ENOMEM past what it can hold.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { BpfMap } from '../../src/ebpf/maps.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({});
});
afterEach(async () => {
  await emu.close();
});

const u32 = (v: number): Uint8Array => new Uint8Array(new Uint32Array([v]).buffer);
const u64 = (v: number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(v)]).buffer);
const pkt = new Uint8Array(60);
const caught = (f: () => unknown): { errno?: string; message?: string; log?: string } => {
  try { f(); } catch (e) { return e as { errno: string; message: string }; }
  return {};
};

/** n arrays (u32 → u64, 2 entries), element 0 of map i holding i + 1. */
function arrays(n: number): BpfMap[] {
  return Array.from({ length: n }, (_, i) => {
    const m = new BpfMap(emu.dp, { name: `a${i}`, type: 'array', keySize: 4, valueSize: 8, maxEntries: 2 });
    m.update(u32(0), u64(i + 1));
    return m;
  });
}

/** r0 = the sum of element 0 of every map, read through its lddw'd value address; element 1 of the last gets r0. */
function sumProgram(maps: BpfMap[]): Uint8Array {
  const body = maps.map((m) => `lddw %r1, ${m.values}\nldxdw %r2, [%r1+0]\nadd %r0, %r2`).join('\n');
  return assemble(`mov %r0, 0\n${body}\nlddw %r1, ${maps.at(-1)!.values}\nstxdw [%r1+8], %r0\nexit`);
}

describe('maps per program (MAX_USED_MAPS 64)', () => {
  it('64 maps, every one a region: reads and writes reach each on both engines (compiled code checks 8 inline, the rest by bisection)', () => {
    const maps = arrays(64);
    // (given in reverse: the program record sorts its table)
    const regions = [...maps].reverse().map((m) => ({ addr: m.values, len: m.valuesSize, writable: true }));
    const prog = emu.loadProgram({ name: 'sum64', type: 'sched_cls', insns: sumProgram(maps), maps: maps.map((m) => m.record), regions });
    expect(prog.jit.slot).not.toBe(0);
    for (const interpreter of [false, true]) {
      const r = emu.testRun(prog, { data: pkt, interpreter });
      expect([r.fault, r.retval]).toEqual([null, (64 * 65) / 2]);
      expect(maps.at(-1)!.lookup(u32(1))).toEqual(u64((64 * 65) / 2));
      maps.at(-1)!.update(u32(1), u64(0));
    }
    // one byte past a region, or into a region not the program's: a fault, on both engines
    const other = arrays(1)[0]!;
    const stray = emu.loadProgram({
      name: 'stray', type: 'sched_cls', maps: maps.map((m) => m.record), regions, verify: false,
      insns: assemble(`lddw %r1, ${other.values}\nldxdw %r0, [%r1+0]\nexit`),
    });
    const edge = emu.loadProgram({
      name: 'edge', type: 'sched_cls', maps: maps.map((m) => m.record), regions, verify: false,
      insns: assemble(`lddw %r1, ${maps[40]!.values}\nldxdw %r0, [%r1+9]\nexit`),
    });
    for (const interpreter of [false, true]) {
      expect(emu.testRun(stray, { data: pkt, interpreter }).fault).toBe('read');
      expect(emu.testRun(edge, { data: pkt, interpreter }).fault).toBe('read');
    }
  });

  it('a tail call into a 64-map program swaps in its region table and maps (and repeated runs put the caller\'s back)', () => {
    const maps = arrays(64);
    const regions = maps.map((m) => ({ addr: m.values, len: m.valuesSize, writable: true }));
    const target = emu.loadProgram({ name: 'sum64', type: 'sched_cls', insns: sumProgram(maps), maps: maps.map((m) => m.record), regions });
    const jmp = new BpfMap(emu.dp, { name: 'jmp', type: 'prog_array', keySize: 4, valueSize: 4, maxEntries: 1 });
    const own = arrays(1)[0]!;
    own.update(u32(0), u64(0));
    // counts its runs in its own map, then tail-calls the 64-map program
    const caller = emu.loadProgram({
      name: 'caller', type: 'sched_cls', maps: [jmp.record, own.record], regions: [{ addr: own.values, len: own.valuesSize, writable: true }],
      insns: assemble(`lddw %r2, ${own.values}\nldxdw %r3, [%r2+0]\nadd %r3, 1\nstxdw [%r2+0], %r3\nlddw %r2, ${jmp.record}\nmov %r3, 0\ncall 12\nmov %r0, 99\nexit`),
    });
    emu.progArraySet(jmp, 0, target);
    for (const interpreter of [false, true]) {
      own.update(u32(0), u64(0));
      const r = emu.testRun(caller, { data: pkt, interpreter, repeat: 5 });
      expect([r.fault, r.retval]).toEqual([null, (64 * 65) / 2]);
      expect(own.lookup(u32(0))).toEqual(u64(5));
    }
  });

  it('65: E2BIG with the verifier\'s line (objects: the too_many_maps fixture)', () => {
    const maps = arrays(65);
    const e = caught(() => emu.loadProgram({ name: 'sum65', type: 'sched_cls', insns: sumProgram(maps), maps: maps.map((m) => m.record), regions: maps.map((m) => ({ addr: m.values, len: m.valuesSize, writable: true })) }));
    expect(e.errno).toBe('E2BIG');
    expect(e.log).toBe("prog 'sum65': BPF program load failed: Argument list too long\nThe total number of maps per program has reached the limit of 64");
  });

  it('overlapping regions are refused (EINVAL): the table is bisected', () => {
    const [m] = arrays(1);
    const e = caught(() => emu.loadProgram({ name: 'o', type: 'sched_cls', insns: assemble('mov %r0, 0\nexit'), regions: [{ addr: m!.values, len: 16, writable: true }, { addr: m!.values + 8, len: 8, writable: false }] }));
    expect(e.errno).toBe('EINVAL');
  });
});

describe('map sizes (kernel/bpf/arraymap.c: elements of round_up(value_size, 8))', () => {
  it('elements take their value size rounded up to 8 bytes', () => {
    for (const [valueSize, stride] of [[1, 8], [4, 8], [8, 8], [12, 16], [20, 24], [64, 64]] as const) {
      const before = emu.dp.liveBytes;
      const m = new BpfMap(emu.dp, { name: 'a', type: 'array', keySize: 4, valueSize, maxEntries: 1000 });
      expect(m.valuesSize, `value size ${valueSize}`).toBe(1000 * stride);
      // (the map record and a scratch buffer besides the values)
      expect(emu.dp.liveBytes - before).toBeGreaterThanOrEqual(1000 * stride);
      expect(emu.dp.liveBytes - before).toBeLessThan(1000 * stride + 1024);
    }
  });

  it("katran's ring: 33,554,944 u32s (268,439,552 bytes, as the kernel takes) created in well under seconds; its far end reads and writes", () => {
    const entries = 512 * 65537;
    const before = emu.dp.liveBytes;
    const t0 = performance.now();
    const ring = new BpfMap(emu.dp, { name: 'ch_rings', type: 'array', keySize: 4, valueSize: 4, maxEntries: entries });
    const ms = performance.now() - t0;
    expect(ring.valuesSize).toBe(268_439_552);
    expect(emu.dp.liveBytes - before).toBeGreaterThanOrEqual(268_439_552);
    expect(emu.dp.liveBytes - before).toBeLessThan(268_439_552 + 4096);
    expect(ms).toBeLessThan(5000);
    expect(ring.lookup(u32(entries - 1))).toEqual(u32(0));
    ring.update(u32(entries - 1), u32(0xabcdef));
    expect(ring.lookup(u32(entries - 1))).toEqual(u32(0xabcdef));
    expect(caught(() => ring.update(u32(entries), u32(1))).errno).toBe('E2BIG');
    // a program reads it at the far end (the map's lookup, then the element as a region)
    const prog = emu.loadProgram({
      name: 'far', type: 'sched_cls', maps: [ring.record], regions: [{ addr: ring.values, len: ring.valuesSize, writable: true }],
      insns: assemble(`mov %r2, ${entries - 1}\nstxw [%r10-4], %r2\nlddw %r1, ${ring.record}\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, +2\nldxw %r0, [%r0+0]\nexit\nmov %r0, 1\nexit`),
    });
    for (const interpreter of [false, true]) expect(emu.testRun(prog, { data: pkt, interpreter }).retval).toBe(0xabcdef);
    ring.close();
  });

  it('past what the memory can hold: ENOMEM naming the bytes, nothing taken', async () => {
    const small = await Emulator.create({ maxMemory: 128 << 20 });
    try {
      const before = small.dp.liveBytes;
      const e = caught(() => new BpfMap(small.dp, { name: 'big', type: 'array', keySize: 4, valueSize: 4, maxEntries: 16 << 20 }));
      expect(e.errno).toBe('ENOMEM');
      expect(e.message).toMatch(/134217728 bytes needed|shared memory/);
      expect(small.dp.liveBytes).toBe(before);
    } finally {
      await small.close();
    }
    // past the wasm32 address space (4 GiB)
    const e = caught(() => new BpfMap(emu.dp, { name: 'huge', type: 'array', keySize: 4, valueSize: 8, maxEntries: 2 ** 31 }));
    expect(e.errno).toBe('ENOMEM');
    expect(e.message).toMatch(/17179869184 bytes of values, more than the 4 GiB a wasm32 memory holds/);
  });
});
