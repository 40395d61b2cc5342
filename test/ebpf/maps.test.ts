import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Emulator } from '../../src/emulator.js';
import { BpfMap } from '../../src/ebpf/maps.js';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { kernelAvailable } from '../helpers/kernel.js';

let emu: Emulator;
beforeEach(async () => {
  emu = await Emulator.create({ workers: 1 });
});
afterEach(async () => {
  await emu.close();
});

const u32 = (v: number): Uint8Array => new Uint8Array(new Uint32Array([v]).buffer);
const u64 = (v: number): Uint8Array => new Uint8Array(new BigUint64Array([BigInt(v)]).buffer);
const errno = (f: () => unknown): string => { try { f(); } catch (e) { return (e as { errno: string }).errno; } return 'ok'; };
const make = (o: Partial<ConstructorParameters<typeof BpfMap>[1]> & { type: ConstructorParameters<typeof BpfMap>[1]['type'] }) =>
  new BpfMap(emu.dp, { name: 'm', keySize: 4, valueSize: 8, maxEntries: 4, ...o });

describe('maps in shared memory (ebpf.md §4)', () => {
  it('creation checks: sizes, array key size, unknown flags, unsupported types', () => {
    expect(errno(() => make({ type: 'array', keySize: 8 }))).toBe('EINVAL');
    expect(errno(() => make({ type: 'hash', valueSize: 0 }))).toBe('EINVAL');
    expect(errno(() => make({ type: 'hash', maxEntries: 0 }))).toBe('EINVAL');
    expect(errno(() => make({ type: 'hash', flags: 1 << 30 }))).toBe('EINVAL');
    expect(errno(() => make({ type: 27 }))).toBe('EINVAL');
    expect(errno(() => make({ type: 'prog_array', valueSize: 8 }))).toBe('EINVAL');
  });

  it('array: zero-filled, BPF_NOEXIST is EEXIST, past the end E2BIG, delete EINVAL', () => {
    const m = make({ type: 'array' });
    expect(m.lookup(u32(3))).toEqual(new Uint8Array(8));
    expect(m.lookup(u32(4))).toBeUndefined();
    m.update(u32(2), u64(42));
    expect(m.lookup(u32(2))).toEqual(u64(42));
    expect(errno(() => m.update(u32(2), u64(1), 1))).toBe('EEXIST');
    expect(errno(() => m.update(u32(4), u64(1)))).toBe('E2BIG');
    expect(errno(() => m.delete(u32(1)))).toBe('EINVAL');
    expect(m.keys()).toHaveLength(4);
  });

  it('hash: NOEXIST/EXIST, full at max_entries (E2BIG), delete frees room, iteration sees live keys', () => {
    const m = make({ type: 'hash', maxEntries: 3 });
    expect(errno(() => m.update(u32(1), u64(1), 2))).toBe('ENOENT');
    m.update(u32(1), u64(10), 1);
    expect(errno(() => m.update(u32(1), u64(11), 1))).toBe('EEXIST');
    m.update(u32(1), u64(12), 2);
    m.update(u32(2), u64(20));
    m.update(u32(3), u64(30));
    expect(errno(() => m.update(u32(4), u64(40)))).toBe('E2BIG');
    m.update(u32(3), u64(31)); // replacing an existing key is fine when full
    m.delete(u32(2));
    expect(errno(() => m.delete(u32(2)))).toBe('ENOENT');
    m.update(u32(4), u64(40));
    expect(m.keys().map((k) => new DataView(k.buffer).getUint32(0, true)).sort()).toEqual([1, 3, 4]);
    expect(m.lookup(u32(1))).toEqual(u64(12));
    expect(m.lookup(u32(2))).toBeUndefined();
    expect(errno(() => m.update(u32(5), u64(1), 4))).toBe('EINVAL');
  });

  it('per-CPU maps keep one value per dataplane thread', () => {
    for (const type of ['percpu_array', 'percpu_hash'] as const) {
      const m = make({ type });
      expect(m.copies).toBe(2);
      m.update(u32(1), [u64(5), u64(6)]);
      expect(m.lookup(u32(1))).toEqual([u64(5), u64(6)]);
      m.update(u32(1), u64(9));
      expect(m.lookup(u32(1))).toEqual([u64(9), u64(9)]);
    }
  });
});

describe('LRU hash and LPM trie', () => {
  it('lru_hash: a full map evicts the least recently used element instead of failing', () => {
    const m = make({ type: 'lru_hash', maxEntries: 3 });
    for (const k of [1, 2, 3]) m.update(u32(k), u64(k));
    m.update(u32(1), u64(1)); // 1 is now more recent than 2
    m.lookup(u32(2)); // (user space's lookups are no use: htab_lru_map_lookup_elem_sys)
    m.update(u32(4), u64(4));
    expect(m.keys().map((k) => new DataView(k.buffer).getUint32(0, true)).sort()).toEqual([1, 3, 4]);
    expect(m.lookup(u32(2))).toBeUndefined();
  });

  it('lpm_trie: longest prefix wins; lookups of any length; ENOSPC when full; prefixlen checked; needs NO_PREALLOC', () => {
    const key = (plen: number, a: number, b: number, c: number, d: number): Uint8Array => new Uint8Array([plen, 0, 0, 0, a, b, c, d]);
    expect(errno(() => make({ type: 'lpm_trie', keySize: 8 }))).toBe('EINVAL');
    const m = make({ type: 'lpm_trie', keySize: 8, valueSize: 4, maxEntries: 3, flags: 1 });
    m.update(key(8, 10, 0, 0, 0), u32(8));
    m.update(key(16, 10, 1, 99, 99), u32(16)); // host bits beyond the prefix do not matter
    m.update(key(0, 0, 0, 0, 0), u32(0));
    expect(m.lookup(key(32, 10, 1, 2, 3))).toEqual(u32(16));
    expect(m.lookup(key(32, 10, 2, 2, 3))).toEqual(u32(8));
    expect(m.lookup(key(32, 192, 168, 0, 1))).toEqual(u32(0));
    expect(m.lookup(key(12, 10, 1, 2, 3))).toEqual(u32(8));
    expect(errno(() => m.update(key(24, 10, 1, 2, 0), u32(24)))).toBe('ENOSPC');
    expect(errno(() => m.update(key(33, 10, 1, 2, 0), u32(24)))).toBe('EINVAL');
    m.delete(key(16, 10, 1, 0, 0));
    expect(m.lookup(key(32, 10, 1, 2, 3))).toEqual(u32(8));
  });
});

describe('ring buffers', () => {
  it('creation checks: no key or value, a power-of-two number of pages', () => {
    expect(errno(() => make({ type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 4096 }))).toBe('ok');
    expect(errno(() => make({ type: 'ringbuf', keySize: 0, valueSize: 0, maxEntries: 3 * 4096 }))).toBe('EINVAL');
    expect(errno(() => make({ type: 'ringbuf', keySize: 4, valueSize: 0, maxEntries: 4096 }))).toBe('EINVAL');
  });

  it('a clang-compiled program reports through output and reserve/submit; discarded records are skipped; full is -EAGAIN', async () => {
    const { readFileSync } = await import('node:fs');
    const obj = emu.loadObject(readFileSync(new URL('../fixtures/bpf/ringbuf.o', import.meta.url)));
    const prog = obj.programs.get('report')!;
    const rb = obj.maps.get('events')!;
    const ip = new Uint8Array(60); ip[12] = 0x08; ip[14] = 0x45;
    const arp = new Uint8Array(42); arp[12] = 0x08; arp[13] = 0x06;
    expect(emu.testRun(prog, { data: ip }).retval).toBe(0);
    expect(emu.testRun(prog, { data: arp }).retval).toBe(0);
    const ev = rb.drain().map((b) => [...new Uint32Array(b.buffer.slice(b.byteOffset, b.byteOffset + 8))]);
    expect(ev).toEqual([[60, 0x800], [120, 0x800], [42, 0x806]]);
    expect(rb.drain()).toEqual([]);
    // 16 bytes per record: 4096 / 16 = 256 records fit; the program then returns SHOT (output -EAGAIN)
    let shot = 0;
    for (let i = 0; i < 200; i++) if (emu.testRun(prog, { data: ip }).retval === 2) shot++;
    expect(shot).toBeGreaterThan(0);
    expect(rb.drain().length).toBe(256);
  });
});

describe('devmap, xskmap and bpf_redirect_map', () => {
  it('an empty slot gives the fallback action, a set one XDP_REDIRECT; xskmap updates need AF_XDP sockets', async () => {
    const { assemble } = await import('../../src/ebpf/assembler.js');
    const dev = make({ type: 'devmap', valueSize: 4 });
    const xsk = make({ type: 'xskmap', valueSize: 4 });
    const prog = emu.loadProgram({ name: 'r', type: 'xdp', maps: [dev.record], insns: assemble(`lddw %r1, ${dev.record}\nmov %r2, 1\nmov %r3, 2\ncall 51\nexit`) });
    const pkt = new Uint8Array(64);
    expect(emu.testRun(prog, { data: pkt }).retval).toBe(2); // XDP_PASS fallback
    dev.update(u32(1), u32(5));
    expect(emu.testRun(prog, { data: pkt }).retval).toBe(4); // XDP_REDIRECT
    expect(errno(() => xsk.update(u32(0), u32(3)))).toBe('EOPNOTSUPP');
    expect(errno(() => make({ type: 'devmap', valueSize: 2 }))).toBe('EINVAL');
  });
});

describe('maps of maps', () => {
  it('array_of_maps: a program looks an inner map up and reads through it; templates are enforced', async () => {
    const { assemble } = await import('../../src/ebpf/assembler.js');
    const inner = { type: 'array' as const, keySize: 4, valueSize: 8, maxEntries: 4 };
    const outer = make({ type: 'array_of_maps', valueSize: 4, maxEntries: 2, inner });
    const a = new BpfMap(emu.dp, { name: 'a', ...inner });
    a.update(u32(3), u64(77));
    // r0 = *(u64 *)lookup(lookup(outer, 1), 3), or 1 when a lookup fails
    const text = `mov %r6, %r1\nstw [%r10-4], 1\nlddw %r1, ${outer.record}\nmov %r2, %r10\nadd %r2, -4\ncall 1\njeq %r0, 0, fail\nmov %r1, %r0\nstw [%r10-8], 3\nmov %r2, %r10\nadd %r2, -8\ncall 1\njeq %r0, 0, fail\nldxdw %r0, [%r0+0]\nexit\nfail:\nmov %r0, 1\nexit`;
    const prog = emu.loadProgram({ name: 'p', type: 'sched_cls', maps: [outer.record], insns: assemble(text) });
    const pkt = new Uint8Array(60);
    expect(emu.testRun(prog, { data: pkt }).retval).toBe(1);
    outer.setInner(u32(1), a);
    const r = emu.testRun(prog, { data: pkt });
    expect(r.fault).toBeNull();
    expect(r.retval).toBe(77);
    const wrong = new BpfMap(emu.dp, { name: 'w', type: 'array', keySize: 4, valueSize: 4, maxEntries: 4 });
    expect(errno(() => outer.setInner(u32(0), wrong))).toBe('EINVAL');
    expect(errno(() => make({ type: 'array_of_maps', valueSize: 4 }))).toBe('EINVAL');
  });
});

describe('perf event arrays', () => {
  const perfAuto = new URL('../fixtures/bpf/perf_auto.o', import.meta.url).pathname;
  it('declared without max_entries: one per CPU (the host and each worker), as libbpf gives one per possible CPU', async () => {
    for (const workers of [0, 2]) {
      const e = await Emulator.create({ workers });
      try {
        expect(e.loadObject(readFileSync(perfAuto)).maps.get('events')!.maxEntries).toBe(workers + 1);
      } finally {
        await e.close();
      }
    }
  });
  it.skipIf(!kernelAvailable())('the kernel loads the same object, with one entry per possible CPU', () => {
    const pin = `/sys/fs/bpf/nkemu-perf-${process.pid}`;
    try {
      execFileSync('bpftool', ['prog', 'loadall', perfAuto, pin], { stdio: 'pipe' });
      const maps = JSON.parse(execFileSync('bpftool', ['-j', 'map', 'show'], { encoding: 'utf8' })) as { name?: string; type: string; max_entries: number }[];
      const possible = readFileSync('/sys/devices/system/cpu/possible', 'utf8').trim().split(',')
        .reduce((n, r) => { const [a, b] = r.split('-').map(Number); return n + (b === undefined ? 1 : b! - a! + 1); }, 0);
      expect(maps.filter((m) => m.name === 'events' && m.type === 'perf_event_array').map((m) => m.max_entries)).toContain(possible);
    } finally {
      execFileSync('rm', ['-rf', pin]);
    }
  });
  it('bpf_perf_event_output: -ENOENT until a perf buffer is open, then samples per CPU; E2BIG past the array', async () => {
    const { assemble } = await import('../../src/ebpf/assembler.js');
    const perf = make({ type: 'perf_event_array', valueSize: 4, maxEntries: 2 });
    // writes the 8 bytes at r10-8 (= packet length) to the current CPU's buffer (flags = BPF_F_CURRENT_CPU)
    const out = (flags: string) => `ldxw %r2, [%r1+0]\nstxdw [%r10-8], %r2\nlddw %r2, ${perf.record}\n${flags}\nmov %r4, %r10\nadd %r4, -8\nmov %r5, 8\ncall 25\nexit`;
    const prog = emu.loadProgram({ name: 'p', type: 'sched_cls', maps: [perf.record], insns: assemble(out('lddw %r3, 0xffffffff')) });
    const pkt = new Uint8Array(60);
    expect(emu.testRun(prog, { data: pkt }).retval).toBe(0xfffffffe); // -ENOENT
    perf.openPerfBuffer(1);
    expect(emu.testRun(prog, { data: pkt }).retval).toBe(0);
    expect(emu.testRun(prog, { data: pkt.subarray(0, 42) }).retval).toBe(0);
    expect(perf.drainPerf().map((s) => [s.cpu, new DataView(s.data.buffer, s.data.byteOffset).getUint32(0, true)])).toEqual([[0, 60], [0, 42]]);
    const far = emu.loadProgram({ name: 'f', type: 'sched_cls', maps: [perf.record], insns: assemble(out('mov %r3, 5')) });
    expect(emu.testRun(far, { data: pkt }).retval).toBe(0xfffffff9); // -E2BIG
  });
});
