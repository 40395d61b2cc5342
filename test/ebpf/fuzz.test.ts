import { readFileSync, readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Dataplane } from '../../src/dataplane.js';
import { prng } from '../../src/emulator.js';
import { Emulator } from '../../src/emulator.js';
import { LoadError } from '../../src/ebpf/elf.js';
import { NetError } from '../../src/errors.js';
import { Vm } from '../../src/ebpf/vm.js';
import { assemble } from '../../src/ebpf/assembler.js';
import { randomProgram } from '../helpers/random-prog.js';
import * as A from '../../src/abi.generated.js';

/** Cases per test: a few thousand in CI, more with NKEMU_FUZZ=N (`npm run fuzz`). */
const N = Number(process.env.NKEMU_FUZZ ?? 3000);

let dp: Dataplane;
let vm: Vm;
beforeAll(async () => {
  dp = await Dataplane.create({});
  vm = new Vm(dp);
});
afterAll(() => vm.close());

function fnv(b: Uint8Array): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < b.length; i++) h = Math.imul(h ^ b[i]!, 0x01000193);
  return h >>> 0;
}

describe('seeded fuzzing', () => {
  it(`${N} random programs never trap and never write outside their regions`, () => {
    const rnd = prng(0xbeef);
    const mem = dp.alloc(256);
    const prog = dp.alloc(64 * 8);
    // Everything but the program's own memory (the region, the stack, the run record) must stay put.
    const own = new Set<number>();
    for (const [a, n] of [[mem, 256], [vm.stack, 4096], [vm.rec, A.VM_RECORD_SIZE], [prog, 512]] as const) for (let i = 0; i < n; i++) own.add(a + i);
    const watch = (): number => {
      const b = dp.bytes();
      const copy = b.slice(1 << 20, (1 << 20) + (4 << 20));
      for (const a of own) if (a >= 1 << 20 && a < (1 << 20) + (4 << 20)) copy[a - (1 << 20)] = 0;
      return fnv(copy);
    };
    const before = watch();
    const faults: Record<string, number> = {};
    for (let c = 0; c < N; c++) {
      const b = randomProgram(rnd);
      const n = b.length / 8;
      dp.bytes().set(b, prog);
      const r = vm.run(prog, n, { args: [mem, 256, vm.stack + 4000, 0, mem + 128], regions: [{ addr: mem, len: 256, writable: true }], budget: 10_000 });
      faults[r.fault ?? 'none'] = (faults[r.fault ?? 'none'] ?? 0) + 1;
    }
    expect(watch()).toBe(before);
    expect(faults.none).toBeGreaterThan(N / 20);
    expect(faults.read! + faults.write!).toBeGreaterThan(N / 20);
  });

  it(`${N} mutated ELF objects only ever raise LoadError or NetError at load`, async () => {
    const emu = await Emulator.create({});
    try {
      const dir = new URL('../fixtures/bpf/', import.meta.url).pathname;
      const objs = readdirSync(dir).filter((f) => /^[a-z_]+\.o$/.test(f)).map((f) => new Uint8Array(readFileSync(dir + f)));
      const rnd = prng(7);
      let loaded = 0;
      for (let c = 0; c < N; c++) {
        const b = objs[c % objs.length]!.slice();
        const flips = 1 + Math.floor(rnd() * 4);
        for (let k = 0; k < flips; k++) b[Math.floor(rnd() * b.length)] = Math.floor(rnd() * 256);
        try {
          emu.loadObject(b);
          loaded++;
        } catch (e) {
          if (!(e instanceof LoadError) && !(e instanceof NetError)) throw e;
        }
      }
      expect(loaded).toBeGreaterThan(0);
    } finally {
      await emu.close();
    }
  });
});

describe('addresses near 2^64', () => {
  // ea + size wraps to a small number: the access must fault, not reach a trapping load.
  const cases: [string, string][] = [
    ['mov %r1, -2\nldxw %r0, [%r1]\nexit', 'read'],
    ['mov %r1, -1\nldxb %r0, [%r1]\nexit', 'read'],
    ['lddw %r1, 0xfffffffffffffffc\nldxdw %r0, [%r1+0]\nexit', 'read'],
    ['mov %r1, -2\nstw [%r1], 1\nexit', 'write'],
    ['mov %r1, -4\nmov %r2, 1\nstxdw [%r1+0], %r2\nexit', 'write'],
    ['mov %r1, -8\nmov %r2, 1\nlock add [%r1+4], %r2\nexit', 'write'],
  ];
  for (const [src, fault] of cases) {
    it(`${src.split('\n').slice(-2, -1)[0]} faults with '${fault}'`, () => {
      const p = assemble(src);
      const at = vm.place(p);
      try {
        expect(vm.run(at, p.length / 8, { regions: [{ addr: at, len: p.length, writable: true }] }).fault).toBe(fault);
      } finally {
        vm.release(at, p);
      }
    });
  }
});
